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

/// `route!(api, METHOD, path, handler, summary, Response [, query = Q | body = B | auth])`
/// registers the handler and documents it in one step.
macro_rules! route {
    ($api:ident, $method:ident, $path:literal, $handler:path, $summary:literal, $resp:ty $(, $kind:ident $(= $extra:ty)?)?) => {{
        let response = $api.schema::<$resp>();
        #[allow(unused_mut)]
        let mut op = Op { summary: $summary, auth: false, request: None, query: Vec::new(), response, download: None };
        $( route!(@extra $api, op, $kind $(, $extra)?); )?
        $api = $api.route(axum::http::Method::$method, $path, op, $handler);
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
        GET,
        "/api/status",
        read::status,
        "Overall status: services, checks by state, open incidents, pending approvals",
        StatusBody
    );
    route!(api, GET, "/api/services", read::services, "Every service with its worst check state", Vec<ServiceView>);
    route!(api, GET, "/api/checks", read::checks, "Every check with its state and last result", Vec<CheckView>);
    route!(
        api,
        GET,
        "/api/checks/{service}/{name}",
        read::check,
        "One check: recent results and latency percentiles",
        CheckDetail,
        query = HistoryQuery
    );
    route!(api, POST, "/api/checks/{service}/{name}/run", control::run_check, "Run a check now", RunResult, auth);
    route!(
        api,
        GET,
        "/api/incidents",
        read::incidents,
        "Incidents, newest first",
        Vec<Incident>,
        query = IncidentQuery
    );
    route!(
        api,
        GET,
        "/api/incidents/{id}",
        read::incident,
        "One incident with its timeline and actions",
        IncidentDetail
    );
    route!(
        api,
        POST,
        "/api/incidents/{id}/resolve",
        control::resolve,
        "Resolve an incident by hand with a note",
        Incident,
        body = ResolveRequest
    );
    route!(
        api,
        POST,
        "/api/incidents/{id}/propose",
        control::propose,
        "Propose a plan for an open incident; it passes the gate like the agent's own",
        ProposeResponse,
        body = ProposeRequest
    );
    route!(api, GET, "/api/actions", read::actions, "Actions, newest first", Vec<Action>, query = ActionQuery);
    route!(api, GET, "/api/actions/{id}", read::action, "One action", Action);
    route!(
        api,
        POST,
        "/api/actions/{id}/approve",
        control::approve,
        "Approve a pending action and the rest of its plan",
        Vec<Action>,
        body = DecisionRequest
    );
    route!(
        api,
        POST,
        "/api/actions/{id}/reject",
        control::reject,
        "Reject a pending action and the rest of its plan",
        Vec<Action>,
        body = DecisionRequest
    );
    route!(
        api,
        GET,
        "/api/silences",
        read::silences,
        "Silences and maintenance windows",
        Vec<Silence>,
        query = SilenceQuery
    );
    route!(
        api,
        POST,
        "/api/silences",
        control::silence,
        "Silence a service and/or incident kind, now or as a maintenance window",
        Silence,
        body = SilenceRequest
    );
    route!(api, DELETE, "/api/silences/{id}", control::unsilence, "End a silence", Deleted, auth);
    route!(
        api,
        POST,
        "/api/v1/alerts/alertmanager",
        alerts::alertmanager,
        "Alertmanager's webhook (version 4): firing alerts open incidents, resolved ones resolve them",
        obsctl_engine::alerts::IntakeReport,
        body = obsctl_engine::alerts::wire::AlertmanagerNotification
    );
    route!(
        api,
        POST,
        "/api/v1/alerts/grafana",
        alerts::grafana,
        "Grafana-managed alerting's webhook (version 1)",
        obsctl_engine::alerts::IntakeReport,
        body = obsctl_engine::alerts::wire::GrafanaNotification
    );
    route!(
        api,
        POST,
        "/api/v1/alerts/generic",
        alerts::generic,
        "A generic event, or an array of them: something is wrong (firing) or fine again (resolved)",
        obsctl_engine::alerts::IntakeReport,
        body = obsctl_engine::alerts::wire::GenericBody
    );
    route!(
        api,
        GET,
        "/api/alerts",
        alerts::list,
        "Alerts received, by last delivery, newest first; kept whatever their service",
        Vec<obsctl_core::alert::AlertRecord>,
        query = AlertQuery
    );
    route!(
        api,
        GET,
        "/api/alerts/deliveries",
        alerts::deliveries,
        "Webhook requests received, newest first, with the alerts each left out (truncated)",
        Vec<obsctl_core::alert::AlertDelivery>,
        query = LimitQuery
    );
    route!(
        api,
        POST,
        "/api/v1/telemetry-reports",
        telemetry::report,
        "An app's telemetry report (obsctl telemetry check --report): a failing one opens the service's telemetry-misconfigured incident, a passing one resolves it",
        obsctl_engine::telemetry_reports::ReportOutcome,
        body = obsctl_core::telemetry::Report
    );
    route!(
        api,
        GET,
        "/api/v1/telemetry",
        telemetry::health,
        "Each service's telemetry health: what it last sent to the OTLP receiver and its last report",
        Vec<telemetry::ServiceTelemetry>
    );
    route!(
        api,
        GET,
        "/api/v1/telemetry/canaries/{id}",
        telemetry::canary,
        "Where and when the OTLP receiver saw a canary (empty until it arrives)",
        Vec<obsctl_engine::otlp::Sighting>
    );
    route!(api, GET, "/api/audit", read::audit, "The audit log, newest first", Vec<AuditRecord>, query = LimitQuery);
    route!(api, GET, "/api/tools", read::tools, "The tool registry: MCP-shaped specs", Vec<serde_json::Value>);
    route!(
        api,
        GET,
        "/api/mcp/servers",
        read::mcp_servers,
        "External MCP servers: up or down, and the tools each gives",
        Vec<obsctl_agent::mcp_client::ServerStatus>
    );
    route!(
        api,
        GET,
        "/api/graph/services/{name}/history",
        read::fix_history,
        "Actions taken on a service's incidents and their outcomes, newest first",
        Vec<obsctl_core::graph::FixRecord>,
        query = HistoryQuery
    );
    route!(
        api,
        GET,
        "/api/graph/services/{name}/blast-radius",
        read::blast_radius,
        "Services that depend on this one, transitively",
        Vec<obsctl_core::graph::Reached>
    );
    route!(
        api,
        GET,
        "/api/graph/incidents/{id}/upstream",
        read::upstream,
        "Failing upstream dependencies of an incident: root-cause candidates",
        Vec<obsctl_core::graph::UpstreamFailure>
    );
    route!(
        api,
        GET,
        "/api/graph/incidents/{id}/similar-fixes",
        read::similar_fixes,
        "Fixes that resolved incidents like this one",
        Vec<LedgerEntry>
    );
    route!(
        api,
        GET,
        "/api/memory/ledger",
        read::ledger,
        "The fix-efficacy ledger: per incident cluster and fix, attempts, successes, median recovery",
        Vec<LedgerEntry>,
        query = LedgerQuery
    );
    route!(api, GET, "/api/memory/episodes/{id}", read::episode, "One remembered episode", Episode);
    route!(
        api,
        GET,
        "/api/memory/search",
        read::recall,
        "Past episodes similar to a text, best first, each score explained",
        Vec<obsctl_store::RecallHit>,
        query = RecallParams
    );
    route!(
        api,
        GET,
        "/api/cluster",
        cluster::cluster,
        "The replicas on this store: heartbeats, liveness and the checks each runs",
        cluster::ClusterView
    );
    route!(
        api,
        GET,
        "/api/memory/sync",
        sync::status,
        "This instance's memory sync: central, cursors, backlog, last error",
        sync::SyncStatus
    );
    route!(
        api,
        POST,
        "/api/memory/sync/push",
        sync::push,
        "As a central: take an instance's episodes (idempotent by content hash)",
        obsctl_core::memory::sync::PushResult,
        body = obsctl_core::memory::sync::PushRequest
    );
    route!(
        api,
        GET,
        "/api/memory/sync/pull",
        sync::pull,
        "As a central: a page of episodes after a cursor, without the asker's own",
        obsctl_core::memory::sync::PullPage,
        query = sync::PullParams
    );
    route!(
        api,
        GET,
        "/api/backup",
        backup::download,
        "A backup archive of the store and the config (gzip JSON lines); operators only",
        String,
        download
    );
    api
}
