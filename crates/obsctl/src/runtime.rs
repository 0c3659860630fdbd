//! Wiring: builds the store, monitor, tools, agent and their tasks from a config, and stops
//! them in order.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use obsctl_agent::leadership::LEASE_TTL;
use obsctl_agent::mcp_client::McpServers;
use obsctl_agent::memory_sync::MemorySync;
use obsctl_agent::tools::process::Supervisor;
use obsctl_agent::trace_export::{ExportTask, TraceExporter};
use obsctl_agent::{Agent, CheckRunner, Leadership, ToolRegistry};
use obsctl_config::Config;
use obsctl_core::check::Probe;
use obsctl_core::event::Event;
use obsctl_core::policy::Mode;
use obsctl_core::state::CheckStatus;
use obsctl_engine::alerts::AlertIntake;
use obsctl_engine::batcher::ObservationBatcher;
use obsctl_engine::cluster::Membership;
use obsctl_engine::containers::ContainerWatch;
use obsctl_engine::otlp::Arrivals;
use obsctl_engine::scheduler::{LatenessStats, Scheduler};
use obsctl_engine::telemetry_reports::ReportIntake;
use obsctl_engine::{Monitor, ProbeContext};
use obsctl_store::{BoltGraph, GraphMirror, GraphStore, RecallIndex, Store};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinSet;

/// How long `stop` waits for the loops to finish.
const STOP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Lets the agent verify through the monitor, so verification runs feed the incident manager.
/// An alert's incident is verified by its source: ok once the alert no longer fires; a
/// telemetry incident by the app's reports: ok once the latest passes.
struct MonitorRunner {
    monitor: Arc<Monitor>,
    alerts: Arc<AlertIntake>,
    reports: Arc<ReportIntake>,
}

impl MonitorRunner {
    /// The status of a check that no run of ours decides (an alert's, a report's).
    fn reported(&self, check_id: &str) -> Option<CheckStatus> {
        if obsctl_core::alert::parse_check_id(check_id).is_some() {
            return Some(self.alerts.status(check_id));
        }
        obsctl_core::telemetry::report::parse_check_id(check_id).map(|_| self.reports.status(check_id))
    }
}

#[async_trait]
impl CheckRunner for MonitorRunner {
    async fn run_check(&self, check_id: &str) -> Option<(bool, CheckStatus)> {
        if let Some(status) = self.reported(check_id) {
            return Some((status == CheckStatus::Ok, status));
        }
        self.monitor.run_check(check_id).await.map(|(obs, status)| (obs.ok, status))
    }

    fn status(&self, check_id: &str) -> CheckStatus {
        self.reported(check_id).unwrap_or_else(|| self.monitor.status(check_id))
    }
}

/// How often `serve`'s recall index looks for episodes another process wrote.
const RECALL_FOLLOW_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

pub struct Runtime {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    /// The fix-history graph: the store itself, or a Bolt mirror of it.
    pub graph: Arc<dyn GraphStore>,
    pub mirror: Option<Arc<GraphMirror>>,
    pub monitor: Arc<Monitor>,
    /// Alerts from Alertmanager, Grafana and generic events.
    pub alerts: Arc<AlertIntake>,
    /// What applications send to the OTLP receiver.
    pub arrivals: Arc<Arrivals>,
    /// Applications' telemetry reports.
    pub reports: Arc<ReportIntake>,
    pub agent: Arc<Agent>,
    pub registry: Arc<ToolRegistry>,
    pub supervisor: Arc<Supervisor>,
    /// External MCP servers, connected by `connect_tools`.
    pub mcp_servers: Arc<McpServers>,
    /// Memory sync with a central, when `[memory.sync]` is on.
    pub memory_sync: Option<Arc<MemorySync>>,
    tools_connected: bool,
    pub ui: Arc<obsctl_server::dashboard::Ui>,
    pub bus: broadcast::Sender<Event>,
    shutdown: watch::Sender<bool>,
    lateness: Option<Arc<LatenessStats>>,
    tasks: JoinSet<()>,
    batcher: Option<tokio::task::JoinHandle<()>>,
    /// The OTLP trace sender, stopped after the agent so its last traces go out.
    traces: Option<ExportTask>,
}

impl Runtime {
    /// Opens the store and builds every part; starts only the observation writer.
    /// `ceiling` caps every action's mode (`--dry-run` passes `DryRun`).
    pub async fn build(config: Config, ceiling: Mode) -> anyhow::Result<Self> {
        let config = Arc::new(config);
        let password = config.store.password.as_ref().map(|p| p.expose());
        let store = obsctl_store::open(&config.store.url, password)
            .await
            .map_err(|e| anyhow::anyhow!("store {}: {e}", config.store.url))?;
        let edges: Vec<(String, String)> =
            config.services.iter().flat_map(|s| s.depends_on.iter().map(|d| (s.name.clone(), d.clone()))).collect();
        let mirror =
            config.graph.as_ref().map(|g| Arc::new(GraphMirror::new(store.clone(), BoltGraph::new(g.clone()))));
        let graph: Arc<dyn GraphStore> = match &mirror {
            Some(m) => m.clone(),
            None => store.clone(),
        };
        graph.set_dependencies(&edges).await?;
        let (bus, _) = broadcast::channel(4096);
        let (batcher, sink) = ObservationBatcher::new(store.clone(), config.scheduler.history_per_check);
        let batcher = tokio::spawn(batcher.run());
        let probes = ProbeContext::for_config(&config)?;
        let arrivals = probes.arrivals.clone();
        let docker = probes.docker.clone();
        let monitor = Arc::new(Monitor::new(config.clone(), store.clone(), probes, sink, bus.clone()).await?);
        let log_dir =
            config.store.url.strip_prefix("sqlite://").and_then(|p| PathBuf::from(p).parent().map(|d| d.join("logs")));
        let supervisor = Arc::new(Supervisor::new(&config, log_dir));
        let registry = Arc::new(ToolRegistry::builtin(&config, supervisor.clone(), &docker)?);
        let problems = runbook_problems(&config, &registry);
        anyhow::ensure!(problems.is_empty(), "{}", problems.join("\n"));
        let secrets = config.secrets().into_iter().cloned().collect();
        let mcp_servers = Arc::new(McpServers::new(config.mcp_servers.clone(), registry.clone(), secrets));
        let alerts = Arc::new(AlertIntake::open(config.clone(), store.clone(), bus.clone()).await?);
        let reports = Arc::new(ReportIntake::open(config.clone(), store.clone(), bus.clone()).await?);
        let runner =
            Arc::new(MonitorRunner { monitor: monitor.clone(), alerts: alerts.clone(), reports: reports.clone() });
        let mut agent = Agent::new(config.clone(), store.clone(), registry.clone(), runner, bus.clone(), ceiling);
        match RecallIndex::open_or_rebuild(&config.memory_index, store.as_ref()).await {
            Ok(index) => agent = agent.with_recall(Arc::new(index)),
            Err(error) => tracing::warn!(%error, dir = %config.memory_index.display(), "running without recall"),
        }
        let mut traces = None;
        if let Some(otlp) = config.otlp.clone() {
            let (exporter, task) = TraceExporter::start(otlp)?;
            agent = agent.with_traces(exporter);
            traces = Some(task);
        }
        let agent = Arc::new(agent);
        let memory_sync = match &config.memory_sync {
            Some(sync) => {
                Some(Arc::new(MemorySync::new(store.clone(), sync.clone(), agent.origin(), agent.recall().cloned())?))
            }
            None => None,
        };
        let (shutdown, _) = watch::channel(false);
        Ok(Self {
            config,
            store,
            graph,
            mirror,
            monitor,
            alerts,
            arrivals,
            reports,
            agent,
            registry,
            supervisor,
            mcp_servers,
            memory_sync,
            tools_connected: false,
            ui: Arc::default(),
            bus,
            shutdown,
            lateness: None,
            tasks: JoinSet::new(),
            batcher: Some(batcher),
            traces,
        })
    }

    /// Starts supervised services, the scheduler and the agent loop. The agent acts only while
    /// this process holds the store's agent lease (taken here when free, renewed in the
    /// background), so two `serve`s on one store never both act. Starting a started runtime
    /// does nothing (`demo --keep-running` serves the runtime its scenario started; a second
    /// start would have taken a second lease beside its own and run every loop twice).
    pub async fn start(&mut self) -> anyhow::Result<()> {
        if self.lateness.is_some() {
            return Ok(());
        }
        let leadership = Arc::new(Leadership::new(self.store.clone(), LEASE_TTL));
        if !leadership.tick().await {
            let other = obsctl_agent::live_holder(self.store.as_ref()).await?.unwrap_or_default();
            if let Some(file) = self.config.store.url.strip_prefix("sqlite://") {
                // SQLite serves one replica: a second would run every check again beside it.
                anyhow::bail!(
                    "another obsctl serve ({other}) runs on the SQLite store {file}; SQLite serves one replica: stop \
                     that one, or move the store to Postgres to run several (obsctl backup, then obsctl restore FILE \
                     --store postgres://…)"
                );
            }
            tracing::warn!(holder = %other, "another obsctl holds the agent lease on this store: checking and serving, not acting, until it stops");
        }
        self.agent.lead_with(leadership.clone());
        self.tasks.spawn(leadership.run(self.shutdown.subscribe()));
        self.supervisor.start_all().await?;
        self.tasks.spawn(self.supervisor.clone().run_reaper(self.shutdown.subscribe()));
        self.watch_containers().await;
        self.connect_tools().await;
        let mut scheduler = Scheduler::new(self.monitor.clone(), self.shutdown.subscribe());
        if obsctl_store::backend_of(&self.config.store.url) == "postgres" {
            // Replicas on one Postgres share the checks.
            let membership = Arc::new(Membership::new(self.store.clone(), &self.config.server.listen));
            membership.beat().await;
            self.tasks.spawn(membership.clone().run(self.monitor.clone(), self.shutdown.subscribe()));
            // ... and tell each other of incidents and actions as they change.
            let relay = obsctl_engine::relay::run(
                self.store.clone(),
                self.bus.clone(),
                membership.id().to_string(),
                self.shutdown.subscribe(),
            );
            self.tasks.spawn(relay);
            scheduler = scheduler.with_ownership(membership);
        }
        self.lateness = Some(scheduler.stats());
        self.tasks.spawn(scheduler.run());
        self.tasks.spawn(self.agent.clone().run(self.shutdown.subscribe()));
        let live = self.ui.live.clone();
        self.tasks.spawn(live.run(self.app_state(), self.bus.subscribe(), self.shutdown.subscribe()));
        let resources = self.ui.resources.clone();
        self.tasks.spawn(resources.run(obsctl_server::dashboard::RESOURCE_INTERVAL, self.shutdown.subscribe()));
        self.tasks.spawn(obsctl_server::dashboard::warm_status_page(self.app_state()));
        if let (Some(mirror), Some(g)) = (&self.mirror, &self.config.graph) {
            self.tasks.spawn(mirror.clone().run(g.sync_interval, self.shutdown.subscribe()));
        }
        if let Some(sync) = &self.memory_sync {
            self.tasks.spawn(sync.clone().run(self.shutdown.subscribe()));
        }
        if let Some(index) = self.agent.recall() {
            let follow = index.clone().follow(self.store.clone(), RECALL_FOLLOW_INTERVAL, self.shutdown.subscribe());
            self.tasks.spawn(follow);
        }
        Ok(())
    }

    /// Sweeps throwaway containers an earlier run left (killed mid-check) and follows the
    /// engine's events, when any check looks at containers. No engine: a warning, and the
    /// container checks say `unknown` until one answers.
    async fn watch_containers(&mut self) {
        let uses_engine = self.config.checks.iter().any(|c| matches!(c.probe, Probe::Docker(_) | Probe::DockerRun(_)));
        if !uses_engine {
            return;
        }
        let ctx = self.monitor.probes();
        match ctx.docker.sweep_throwaways(&ctx.owner).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "removed throwaway containers an earlier run left"),
            Err(error) => {
                tracing::warn!(%error, "container engine: checks that need it report unknown until it answers")
            }
        }
        if let Some(watch) = ContainerWatch::new(ctx.docker.clone(), self.monitor.clone()) {
            self.tasks.spawn(watch.run(self.shutdown.subscribe()));
        }
    }

    /// Connects the external MCP servers and keeps them connected until `stop`, after waiting
    /// for each first attempt (their tools are in the registry once they answer). Only what
    /// acts needs them: `serve`, `mcp`, `periodic-check`, `actions propose` and `approve --now`.
    pub async fn connect_tools(&mut self) {
        if self.tools_connected || self.config.mcp_servers.is_empty() {
            return;
        }
        self.tools_connected = true;
        self.tasks.spawn(self.mcp_servers.clone().run(self.shutdown.subscribe()));
        self.mcp_servers.ready().await;
    }

    /// What the HTTP surface needs, shared by `serve` and the tests.
    pub fn app_state(&self) -> obsctl_server::AppState {
        obsctl_server::AppState {
            config: self.config.clone(),
            store: self.store.clone(),
            graph: self.graph.clone(),
            mirror: self.mirror.clone(),
            monitor: self.monitor.clone(),
            alerts: self.alerts.clone(),
            arrivals: self.arrivals.clone(),
            reports: self.reports.clone(),
            ui: self.ui.clone(),
            agent: self.agent.clone(),
            registry: self.registry.clone(),
            mcp_servers: self.mcp_servers.clone(),
            memory_sync: self.memory_sync.clone(),
        }
    }

    /// Brings the Bolt mirror up to date before a one-shot command reads the graph; when the
    /// server is unreachable the answer comes from the embedded graph, with a warning.
    pub async fn sync_graph(&self) {
        if let Some(mirror) = &self.mirror
            && let Err(error) = mirror.sync().await
        {
            eprintln!(
                "warning: graph server {} unreachable ({error}); answering from the embedded graph",
                mirror.status().address
            );
        }
    }

    /// The scheduler's start-lateness statistics, once started.
    pub fn lateness(&self) -> Option<Arc<LatenessStats>> {
        self.lateness.clone()
    }

    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Stops the loops, the supervised services and the writer, committing what is pending.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        // Bounded: a loop stuck in a slow call must not hold the process open.
        let drained =
            tokio::time::timeout(STOP_TIMEOUT, async { while self.tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(after = ?STOP_TIMEOUT, "some tasks did not stop in time; abandoning them");
            self.tasks.abort_all();
        }
        self.supervisor.stop_all().await;
        if let Some(traces) = self.traces.take() {
            traces.finish(STOP_TIMEOUT).await;
        }
        self.monitor.flush().await;
        drop(self.agent);
        drop(self.monitor);
        if let Some(b) = self.batcher.take() {
            b.abort();
        }
        self.store.close().await;
    }
}

/// Every runbook step that could never run, one line each (file, runbook, step, tool, why):
/// `serve` refuses to start with any, and `config check` lists them with the rest.
pub fn runbook_problems(config: &Config, registry: &ToolRegistry) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, r) in config.runbooks.iter().enumerate() {
        for (j, step) in r.steps.iter().enumerate() {
            if let Err(why) = registry.check_step(step) {
                problems.push(format!(
                    "{}: runbook[{i}] {:?} step {} ({}): {why}; fix its args (GET /api/tools lists each tool's)",
                    config.file,
                    r.name,
                    j + 1,
                    step.tool
                ));
            }
        }
    }
    problems
}
