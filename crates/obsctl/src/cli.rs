//! The command line: every command and flag.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "obsctl",
    version = crate::VERSION,
    about = "An autonomous observability control plane: check, decide, act, verify, remember."
)]
pub struct Cli {
    /// Config file (default: ./obsctl.toml, or OBSCTL_CONFIG).
    #[arg(long, short = 'c', global = true, env = "OBSCTL_CONFIG")]
    pub config: Option<PathBuf>,
    /// More log output: each -v one level more (commands log warnings by default, `serve` what
    /// it does: -v is info for a command and debug for serve).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less log output (warnings and errors only).
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the whole loop on a demo service that breaks twice; exits 0 when both fixes verify.
    Demo(DemoArgs),
    /// Write a commented obsctl.toml and .env.example.
    Init {
        /// Folder to write into.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Validate a config file and print every problem.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Scheduler, agent and JSON API until interrupted.
    Serve {
        /// Address for the API (overrides [server] listen).
        #[arg(long)]
        listen: Option<String>,
        /// Address for the MCP gateway (overrides [mcp] listen; `off` switches it off).
        #[arg(long)]
        mcp_listen: Option<String>,
    },
    /// The MCP gateway on stdin/stdout, for assistants that start obsctl themselves; `mcp
    /// servers` shows the external MCP servers and their tools.
    Mcp {
        #[command(subcommand)]
        cmd: Option<McpCommand>,
    },
    /// Run every check once and print a table; exits 1 if any fails.
    Health {
        #[arg(long, conflicts_with = "serving")]
        json: bool,
        /// Instead: whether this config's `serve` answers on its API (a container's health
        /// check); exits 1 if not.
        #[arg(long)]
        serving: bool,
    },
    /// One pass of check → decide → act, like the original obs_agent.py.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Incidents: list them, show one's timeline, resolve one by hand.
    #[command(subcommand)]
    Incidents(IncidentsCommand),
    /// Actions: list them, approve or reject a plan, propose a fix of your own.
    #[command(subcommand)]
    Actions(ActionsCommand),
    /// Silences and maintenance windows.
    #[command(subcommand)]
    Silence(SilenceCommand),
    /// Incident memory: the fix-efficacy ledger and remembered episodes.
    #[command(subcommand)]
    Memory(MemoryCommand),
    /// The fix-history graph: history, root-cause candidates, blast radius, similar fixes.
    #[command(subcommand)]
    Graph(GraphCommand),
    /// A consistent backup of the store (while obsctl runs) and the config, in one archive:
    /// gzip-compressed JSON lines with every table's count and SHA-256.
    Backup {
        /// The archive to write (default: backups/obsctl-backup-<time>.jsonl.gz in the data folder).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Restore a backup into an empty store (the configured one, or --store): verified in full
    /// before anything is written. A SQLite backup restored into Postgres moves between backends.
    Restore {
        file: std::path::PathBuf,
        /// The store to restore into, e.g. postgres://obsctl@db/obsctl (default: the config's).
        #[arg(long)]
        store: Option<String>,
        /// Also write the config the archive holds to this file.
        #[arg(long)]
        config_out: Option<std::path::PathBuf>,
    },
    /// Delete everything in the store (incidents, actions, observations, memory); the config
    /// stays. Asks first, and takes a backup first.
    Reset {
        /// Do not ask.
        #[arg(long)]
        yes: bool,
        /// Do not take a backup first.
        #[arg(long)]
        no_backup: bool,
    },
    /// An application's telemetry settings, checked as a linter checks code (rules TEL001…).
    #[command(subcommand)]
    Telemetry(TelemetryCommand),
    /// The version and the commit this binary was built from.
    Version {
        #[arg(long)]
        json: bool,
    },
    /// A shell completion script on stdout, e.g. `obsctl completions bash > /etc/bash_completion.d/obsctl`.
    Completions { shell: clap_complete::Shell },
    /// Open the running dashboard in the default browser (or print its URL).
    Dashboard {
        #[command(subcommand)]
        cmd: Option<DashboardCommand>,
        /// Print the URL instead of opening a browser.
        #[arg(long)]
        print: bool,
    },
    /// The service the demo breaks and fixes (internal).
    #[command(hide = true)]
    DemoService {
        #[arg(long)]
        port: u16,
        /// Once this file appears (if it was absent at start), /health answers 500 until a restart.
        #[arg(long)]
        poison: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum McpCommand {
    /// Connect every [[mcp_server]] once and show whether it is up and which tools it gives.
    Servers {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum DashboardCommand {
    /// Read a password from stdin and print its argon2 hash for [[dashboard.user]] password_hash.
    HashPassword,
}

#[derive(Args)]
pub struct DemoArgs {
    /// Leave `serve` (and its API) running afterwards.
    #[arg(long)]
    pub keep_running: bool,
    /// API address when --keep-running.
    #[arg(long, default_value = "127.0.0.1:5555")]
    pub listen: String,
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Check a config file (default: the --config file).
    Check { file: Option<PathBuf> },
}

#[derive(Subcommand)]
pub enum AgentCommand {
    /// Run every check once (failing on the first failure), then plan and act on what failed.
    PeriodicCheck {
        /// Only checks that raise this incident kind, e.g. disk-full.
        #[arg(long)]
        issue: Option<String>,
        /// Never execute: run each tool's dry-run instead.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum IncidentsCommand {
    List {
        /// open or resolved.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        service: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Resolve an incident by hand.
    Resolve {
        id: String,
        #[arg(long)]
        note: String,
    },
}

#[derive(Subcommand)]
pub enum ActionsCommand {
    List {
        /// Only actions waiting for approval.
        #[arg(long)]
        pending: bool,
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending action (and the rest of its plan); `obsctl serve` executes it.
    Approve {
        id: String,
        #[arg(long, default_value = "")]
        reason: String,
        /// Execute now in this process instead of leaving it to `obsctl serve`.
        #[arg(long)]
        now: bool,
    },
    Reject {
        id: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Propose a one-step fix for an open incident; it passes the gate like the agent's own.
    Propose {
        incident: String,
        #[arg(long)]
        tool: String,
        /// The tool's arguments as JSON, e.g. '{"service": "api"}'.
        #[arg(long, default_value = "{}")]
        args: String,
        #[arg(long, default_value = "")]
        reason: String,
        /// Let memory learn this as a fix for similar incidents (it may then be proposed, and
        /// in `auto` mode run, without a person); without it, this is a one-off.
        #[arg(long)]
        remember: bool,
        /// Act past a spent action budget, knowingly, saying why (budgets hold the agent back,
        /// not you); audited and written on the incident's timeline.
        #[arg(long, value_name = "WHY")]
        override_budget: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum GraphCommand {
    /// Actions taken on a service's incidents and their outcomes, newest first.
    History {
        service: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Failing services an incident's service depends on (transitively): root-cause candidates.
    Upstream {
        incident: String,
        #[arg(long)]
        json: bool,
    },
    /// Services that depend on a service, transitively.
    BlastRadius {
        service: String,
        #[arg(long)]
        json: bool,
    },
    /// Fixes that resolved incidents like this one.
    SimilarFixes {
        incident: String,
        #[arg(long)]
        json: bool,
    },
    /// Copies the journal's changes to the Bolt graph server now ([graph] url); exit 1 when
    /// it is unreachable.
    Sync {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum MemoryCommand {
    /// The fix-efficacy ledger: per incident cluster and fix, attempts, successes, median recovery.
    Stats {
        /// Only this cluster, `kind@service` (e.g. disk-full@api).
        #[arg(long)]
        cluster: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One remembered episode.
    Show { id: String },
    /// Past episodes similar to a description, best first, each score explained.
    Search {
        text: String,
        /// Only episodes of this service.
        #[arg(long)]
        service: Option<String>,
        /// Only episodes of this incident kind, e.g. disk-full.
        #[arg(long)]
        kind: Option<String>,
        /// Rank episodes sharing this label higher: `key=value` (repeatable); a postmortem's
        /// tags are `tag:<name>=true`.
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
        #[arg(long, default_value_t = 10)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the recall index from the store.
    Reindex,
    /// Push this instance's new episodes to the central ([memory.sync] url) and pull the
    /// others' now; exit 1 when the central cannot be reached or answers wrong.
    Sync {
        #[arg(long)]
        json: bool,
    },
    /// Write episodes as JSON lines (schema obsctl.episode/1) to stdout, in id order.
    Export {
        /// Only episodes that ended at or after this time (RFC 3339, or a duration ago: 30d).
        #[arg(long)]
        since: Option<String>,
    },
    /// Import episode files (JSON lines from `export`) and Markdown postmortems with YAML front
    /// matter; a folder is read for *.md, *.markdown, *.jsonl and *.ndjson. Importing again adds
    /// nothing; an edited postmortem replaces its episode.
    Import {
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// Refuse the whole import when any line or file is bad (default: report and skip it).
        #[arg(long)]
        strict: bool,
    },
}

#[derive(Subcommand)]
pub enum SilenceCommand {
    Add {
        #[arg(long)]
        service: Option<String>,
        /// Incident kind, e.g. disk-full.
        #[arg(long)]
        kind: Option<String>,
        /// e.g. 2h.
        #[arg(long = "for")]
        duration: String,
        /// RFC 3339 start, for a maintenance window.
        #[arg(long)]
        starts_at: Option<String>,
        #[arg(long)]
        reason: String,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    Rm {
        id: String,
    },
}

#[derive(Subcommand)]
pub enum TelemetryCommand {
    /// Check an app's telemetry settings (its environment, or an .env file); exits 1 when a rule
    /// finds an error or the canary is lost, 2 when the file cannot be read or the report not sent.
    Check {
        /// Read the settings from this .env file instead of the environment.
        #[arg(long)]
        env: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Prove the telemetry arrives: send a canary span, log record and metric to the OTLP
        /// endpoint and look for it at obsctl (OBS_CONTROL_URL).
        #[arg(long)]
        flow: bool,
        /// How long to look for the canary.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        flow_timeout: std::time::Duration,
        /// Post the result to the control plane: this URL, or OBS_CONTROL_URL when none is given
        /// (bearer token: OBS_CONTROL_TOKEN).
        #[arg(long, num_args = 0..=1, default_missing_value = "", value_name = "URL")]
        report: Option<String>,
        /// Also check the LangSmith key and the Logfire token against their services.
        #[arg(long)]
        online: bool,
    },
    /// Every rule: what it checks, why it matters and how to fix what it finds.
    Rules {
        #[arg(long)]
        json: bool,
    },
    /// Write the app template into a folder: .env.example, a collector sidecar config
    /// (otel-collector.yaml) and a CI job that runs the check.
    Init {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The service's name (default: the folder's name).
        #[arg(long)]
        service: Option<String>,
        /// Overwrite files that exist.
        #[arg(long)]
        force: bool,
    },
}
