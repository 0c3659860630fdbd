//! The JSON API's routes: each registered once, with its documentation, in `routes`.

pub(crate) mod alerts;
pub(crate) mod backup;
pub(crate) mod cluster;
pub(crate) mod control;
pub(crate) mod read;
pub(crate) mod sync;
pub(crate) mod telemetry;
pub(crate) mod views;

use obsctl_core::action::{Action, AuditRecord};
use obsctl_core::incident::{Incident, Silence};
use obsctl_core::memory::{Episode, LedgerEntry};

use crate::openapi::{Api, Op};
use views::*;

/// `route!(api, method, path, handler, summary, Response [, query = Q | body = B | auth])`
/// registers the handler and documents it in one step.
macro_rules! route {
    ($api:ident, $method:literal, $path:literal, $handler:path, $summary:literal, $resp:ty $(, $kind:ident $(= $extra:ty)?)?) => {{
        let response = $api.schema::<$resp>();
        #[allow(unused_mut)]
        let mut op = Op { summary: $summary, auth: false, request: None, query: Vec::new(), response, download: None };
        $( route!(@extra $api, op, $kind $(, $extra)?); )?
        $api = $api.route($method, $path, op, $handler);
    }};
    (@extra $api:ident, $op:ident, query, $q:ty) => { $op.query = $api.query::<$q>(); };
    (@extra $api:ident, $op:ident, body, $b:ty) => { $op.request = Some($api.schema::<$b>()); $op.auth = true; };
    (@extra $api:ident, $op:ident, auth) => { $op.auth = true; };
    (@extra $api:ident, $op:ident, download) => { $op.auth = true; $op.download = Some("application/gzip"); };
}

pub(crate) fn routes() -> Api {
    let mut api = Api::new();
    route!(
        api,
        "get",
        "/api/status",
        read::status,
        "Overall status: services, checks by state, open incidents, pending approvals",
        StatusBody
    );
    route!(api, "get", "/api/services", read::services, "Every service with its worst check state", Vec<ServiceView>);
    route!(api, "get", "/api/checks", read::checks, "Every check with its state and last result", Vec<CheckView>);
    route!(
        api,
        "get",
        "/api/checks/{service}/{name}",
        read::check,
        "One check: recent results and latency percentiles",
        CheckDetail,
        query = HistoryQuery
    );
    route!(api, "post", "/api/checks/{service}/{name}/run", control::run_check, "Run a check now", RunResult, auth);
    route!(
        api,
        "get",
        "/api/incidents",
        read::incidents,
        "Incidents, newest first",
        Vec<Incident>,
        query = IncidentQuery
    );
    route!(
        api,
        "get",
        "/api/incidents/{id}",
        read::incident,
        "One incident with its timeline and actions",
        IncidentDetail
    );
    route!(
        api,
        "post",
        "/api/incidents/{id}/resolve",
        control::resolve,
        "Resolve an incident by hand with a note",
        Incident,
        body = ResolveRequest
    );
    route!(
        api,
        "post",
        "/api/incidents/{id}/propose",
        control::propose,
        "Propose a plan for an open incident; it passes the gate like the agent's own",
        ProposeResponse,
        body = ProposeRequest
    );
    route!(api, "get", "/api/actions", read::actions, "Actions, newest first", Vec<Action>, query = ActionQuery);
    route!(api, "get", "/api/actions/{id}", read::action, "One action", Action);
    route!(
        api,
        "post",
        "/api/actions/{id}/approve",
        control::approve,
        "Approve a pending action and the rest of its plan",
        Vec<Action>,
        body = DecisionRequest
    );
    route!(
        api,
        "post",
        "/api/actions/{id}/reject",
        control::reject,
        "Reject a pending action and the rest of its plan",
        Vec<Action>,
        body = DecisionRequest
    );
    route!(
        api,
        "get",
        "/api/silences",
        read::silences,
        "Silences and maintenance windows",
        Vec<Silence>,
        query = SilenceQuery
    );
    route!(
        api,
        "post",
        "/api/silences",
        control::silence,
        "Silence a service and/or incident kind, now or as a maintenance window",
        Silence,
        body = SilenceRequest
    );
    route!(api, "delete", "/api/silences/{id}", control::unsilence, "End a silence", Deleted, auth);
    route!(
        api,
        "post",
        "/api/v1/alerts/alertmanager",
        alerts::alertmanager,
        "Alertmanager's webhook (version 4): firing alerts open incidents, resolved ones resolve them",
        obsctl_engine::alerts::IntakeReport,
        body = obsctl_engine::alerts::wire::AlertmanagerNotification
    );
    route!(
        api,
        "post",
        "/api/v1/alerts/grafana",
        alerts::grafana,
        "Grafana-managed alerting's webhook (version 1)",
        obsctl_engine::alerts::IntakeReport,
        body = obsctl_engine::alerts::wire::GrafanaNotification
    );
    route!(
        api,
        "post",
        "/api/v1/alerts/generic",
        alerts::generic,
        "A generic event, or an array of them: something is wrong (firing) or fine again (resolved)",
        obsctl_engine::alerts::IntakeReport,
        body = obsctl_engine::alerts::wire::GenericBody
    );
    route!(
        api,
        "get",
        "/api/alerts",
        alerts::list,
        "Alerts received, by last delivery, newest first; kept whatever their service",
        Vec<obsctl_core::alert::AlertRecord>,
        query = AlertQuery
    );
    route!(
        api,
        "get",
        "/api/alerts/deliveries",
        alerts::deliveries,
        "Webhook requests received, newest first, with the alerts each left out (truncated)",
        Vec<obsctl_core::alert::AlertDelivery>,
        query = LimitQuery
    );
    route!(
        api,
        "post",
        "/api/v1/telemetry-reports",
        telemetry::report,
        "An app's telemetry report (obsctl telemetry check --report): a failing one opens the service's telemetry-misconfigured incident, a passing one resolves it",
        obsctl_engine::telemetry_reports::ReportOutcome,
        body = obsctl_core::telemetry::Report
    );
    route!(
        api,
        "get",
        "/api/v1/telemetry",
        telemetry::health,
        "Each service's telemetry health: what it last sent to the OTLP receiver and its last report",
        Vec<telemetry::ServiceTelemetry>
    );
    route!(
        api,
        "get",
        "/api/v1/telemetry/canaries/{id}",
        telemetry::canary,
        "Where and when the OTLP receiver saw a canary (empty until it arrives)",
        Vec<obsctl_engine::otlp::Sighting>
    );
    route!(api, "get", "/api/audit", read::audit, "The audit log, newest first", Vec<AuditRecord>, query = LimitQuery);
    route!(api, "get", "/api/tools", read::tools, "The tool registry: MCP-shaped specs", Vec<serde_json::Value>);
    route!(
        api,
        "get",
        "/api/mcp/servers",
        read::mcp_servers,
        "External MCP servers: up or down, and the tools each gives",
        Vec<obsctl_agent::mcp_client::ServerStatus>
    );
    route!(
        api,
        "get",
        "/api/graph/services/{name}/history",
        read::fix_history,
        "Actions taken on a service's incidents and their outcomes, newest first",
        Vec<obsctl_core::graph::FixRecord>,
        query = HistoryQuery
    );
    route!(
        api,
        "get",
        "/api/graph/services/{name}/blast-radius",
        read::blast_radius,
        "Services that depend on this one, transitively",
        Vec<obsctl_core::graph::Reached>
    );
    route!(
        api,
        "get",
        "/api/graph/incidents/{id}/upstream",
        read::upstream,
        "Failing upstream dependencies of an incident: root-cause candidates",
        Vec<obsctl_core::graph::UpstreamFailure>
    );
    route!(
        api,
        "get",
        "/api/graph/incidents/{id}/similar-fixes",
        read::similar_fixes,
        "Fixes that resolved incidents like this one",
        Vec<LedgerEntry>
    );
    route!(
        api,
        "get",
        "/api/memory/ledger",
        read::ledger,
        "The fix-efficacy ledger: per incident cluster and fix, attempts, successes, median recovery",
        Vec<LedgerEntry>,
        query = LedgerQuery
    );
    route!(api, "get", "/api/memory/episodes/{id}", read::episode, "One remembered episode", Episode);
    route!(
        api,
        "get",
        "/api/memory/search",
        read::recall,
        "Past episodes similar to a text, best first, each score explained",
        Vec<obsctl_store::RecallHit>,
        query = RecallParams
    );
    route!(
        api,
        "get",
        "/api/cluster",
        cluster::cluster,
        "The replicas on this store: heartbeats, liveness and the checks each runs",
        cluster::ClusterView
    );
    route!(
        api,
        "get",
        "/api/memory/sync",
        sync::status,
        "This instance's memory sync: central, cursors, backlog, last error",
        sync::SyncStatus
    );
    route!(
        api,
        "post",
        "/api/memory/sync/push",
        sync::push,
        "As a central: take an instance's episodes (idempotent by content hash)",
        obsctl_core::memory::sync::PushResult,
        body = obsctl_core::memory::sync::PushRequest
    );
    route!(
        api,
        "get",
        "/api/memory/sync/pull",
        sync::pull,
        "As a central: a page of episodes after a cursor, without the asker's own",
        obsctl_core::memory::sync::PullPage,
        query = sync::PullParams
    );
    route!(
        api,
        "get",
        "/api/backup",
        backup::download,
        "A backup archive of the store and the config (gzip JSON lines); operators only",
        String,
        download
    );
    api
}
