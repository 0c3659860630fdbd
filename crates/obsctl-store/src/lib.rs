//! Persistence for obsctl: the `Store` trait and its SQLite and Postgres backends, the
//! fix-history graph (embedded SQL, or mirrored to a Bolt server), the recall index and leases.
//!
//! Architecture invariant: only this crate knows SQL. Callers see domain types from
//! `obsctl-core` and `StoreError`, never a driver type.

pub mod backup;
mod bolt;
mod error;
mod filters;
mod graph_mirror;
mod keys;
mod recall;
mod rows;
mod sql;

use async_trait::async_trait;
use obsctl_core::Timestamp;
use obsctl_core::action::{Action, ActionState, AuditRecord};
use obsctl_core::alert::{AlertDelivery, AlertRecord, AlertSource};
use obsctl_core::check::Observation;
use obsctl_core::graph::{FixRecord, Reached, UpstreamFailure};
use obsctl_core::incident::{Incident, IncidentEvent, IncidentStatus, Silence};
use obsctl_core::memory::{Episode, LedgerEntry};
use obsctl_core::rollup::{HourLatency, SpanTally, Tally};
use obsctl_core::state::CheckStatus;
use obsctl_core::telemetry::Report as TelemetryReport;
use obsctl_core::timeline::EntryKind;
use serde::Serialize;

pub use bolt::{BoltGraph, MirrorCursor};
pub use error::StoreError;
pub use filters::{ActionFilter, AlertFilter, IncidentFilter};
pub use graph_mirror::{GraphMirror, MirrorStatus, SyncReport};
pub use recall::{RecallHit, RecallIndex, RecallQuery, parse_labels};
pub use sql::{PostgresStore, SqlStore, SqliteStore};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The store's schema: how many migrations each backend has (checked when they compile).
pub const SCHEMA_VERSION: i64 = 15;

/// A new globally unique, time-ordered id with a readable prefix, e.g. `inc-0193…`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// The fix-history graph: Service, Incident, Action and Outcome nodes; DEPENDS_ON, AFFECTED,
/// REMEDIATED_BY and RESULTED_IN edges. The SQL backends answer from the journal they already
/// hold, following DEPENDS_ON with recursive CTEs; a Bolt backend writes the same model.
#[async_trait]
pub trait GraphStore: Send + Sync + 'static {
    /// Replaces every DEPENDS_ON edge with these (service, depends_on) pairs.
    async fn set_dependencies(&self, edges: &[(String, String)]) -> Result<()>;
    /// Actions taken on a service's incidents and their outcomes, newest first.
    async fn fix_history(&self, service: &str, limit: u32) -> Result<Vec<FixRecord>>;
    /// Open incidents of the services an incident's service depends on, transitively, nearest
    /// first: the root-cause candidates.
    async fn upstream_failures(&self, incident_id: &str) -> Result<Vec<UpstreamFailure>>;
    /// Services that depend on `service`, transitively, nearest first.
    async fn blast_radius(&self, service: &str) -> Result<Vec<Reached>>;
}

/// The journal's change feed: incidents and actions in the order they last changed, read
/// after a keyset `(updated_at, id)`. The Bolt graph mirror copies the journal with it.
#[async_trait]
pub trait ChangeFeed: Send + Sync + 'static {
    async fn incidents_changed(&self, after: (Timestamp, &str), limit: u32) -> Result<Vec<Incident>>;
    async fn actions_changed(&self, after: (Timestamp, &str), limit: u32) -> Result<Vec<Action>>;
}

/// Fixes that resolved incidents like this one (same kind on the same service), best first.
pub async fn similar_fixes(store: &dyn Store, incident_id: &str) -> Result<Vec<LedgerEntry>> {
    let incident = store.incident(incident_id).await?;
    let cluster = obsctl_core::memory::cluster(&incident.kind, &incident.service);
    Ok(store.ledger(Some(&cluster)).await?.into_iter().filter(|e| e.successes > 0).collect())
}

/// A new incident with its first timeline entries, written together (see `Store::save_alerts`).
#[derive(Debug, Clone)]
pub struct OpenedIncident {
    pub incident: Incident,
    pub events: Vec<NewEvent>,
}

/// A timeline entry to add; the store stamps its id and time.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: EntryKind,
    pub message: String,
    pub data: serde_json::Value,
}

/// What `Store::upsert_episode` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Upserted {
    Added,
    /// The same content was already there (or, for `remember`, the id was).
    Unchanged,
    Replaced,
}

/// A named lease (`Store::try_lease`) as the store sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub holder: String,
    pub until: Timestamp,
    /// `until` is still ahead of the store's clock.
    pub live: bool,
}

/// An episode and when this store last wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEpisode {
    pub stored_at: Timestamp,
    pub episode: Episode,
}

/// What checks saw: observations, their hourly and daily sums, each check's status and target, and the latest telemetry report per service.
#[async_trait]
pub trait CheckHistory: Send + Sync + 'static {
    /// Appends observations in one transaction, keeping at most `keep_per_check` per check, and
    /// adds them to the check's hourly and daily sums (`obsctl_core::rollup`).
    async fn record_observations(&self, batch: &[Observation], keep_per_check: u32) -> Result<()>;
    /// The newest `limit` observations of a check, newest first.
    async fn recent_observations(&self, check_id: &str, limit: u32) -> Result<Vec<Observation>>;
    /// The newest observation of every check.
    async fn latest_observations(&self) -> Result<Vec<Observation>>;
    /// One check's sums per span (`rollup::HOUR_MS` or `DAY_MS`) from `since`, oldest first.
    async fn check_tallies(&self, check_id: &str, span_ms: i64, since: Timestamp) -> Result<Vec<SpanTally>>;
    /// Every check's sums per span from `since`, check by check (in the order checks were first
    /// stored), each oldest first.
    async fn all_tallies(&self, span_ms: i64, since: Timestamp) -> Result<Vec<SpanTally>>;
    /// Every check's sums over spans from `since` added up, by check id.
    async fn tally_totals(&self, span_ms: i64, since: Timestamp) -> Result<Vec<(String, Tally)>>;
    /// One check's latency histograms per hour from `since`, oldest first.
    async fn latency_hours(&self, check_id: &str, since: Timestamp) -> Result<Vec<HourLatency>>;
    async fn save_check_status(&self, check_id: &str, status: CheckStatus, at: Timestamp) -> Result<()>;
    /// Records what each check (id, `Probe::target`) looks at, as a digest. A check whose target changed (its
    /// URL, address, path…) keeps its history, observations and sums, under a new name,
    /// `<id> (until <time>)`, and starts afresh under its id; returns those new names.
    async fn retarget_checks(&self, targets: &[(String, String)], now: Timestamp) -> Result<Vec<String>>;
    async fn check_statuses(&self) -> Result<Vec<(String, CheckStatus, Timestamp)>>;
    /// Keeps `report` as its service's latest telemetry report (it needs `received_at`).
    async fn save_telemetry_report(&self, report: &TelemetryReport) -> Result<()>;
    /// Every service's latest telemetry report, by service.
    async fn telemetry_reports(&self) -> Result<Vec<TelemetryReport>>;
}

/// Incidents, their timelines, and silences.
#[async_trait]
pub trait IncidentLog: Send + Sync + 'static {
    async fn insert_incident(&self, incident: &Incident) -> Result<()>;
    /// Opens `incident` unless an incident of its fingerprint is open, as one step (replicas, or
    /// two requests at once, never open two for one fingerprint): `None` when it was opened,
    /// else the open one, nothing written.
    async fn open_incident(&self, incident: &Incident) -> Result<Option<Incident>>;
    /// Writes the incident only if its stored status is still `expected` (what the caller read),
    /// else `Conflict`: a bump or a recovery can never undo a concurrent resolve by hand.
    async fn update_incident(&self, incident: &Incident, expected: IncidentStatus) -> Result<()>;
    async fn incident(&self, id: &str) -> Result<Incident>;
    async fn latest_incident_by_fingerprint(&self, fingerprint: &str) -> Result<Option<Incident>>;
    /// The latest incident of each of these fingerprints (those that have one), in one query.
    async fn latest_incidents_by_fingerprint(&self, fingerprints: &[String]) -> Result<Vec<Incident>>;
    async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>>;
    async fn add_event(
        &self,
        incident_id: &str,
        kind: EntryKind,
        message: &str,
        data: serde_json::Value,
    ) -> Result<IncidentEvent>;
    async fn events(&self, incident_id: &str) -> Result<Vec<IncidentEvent>>;
    async fn insert_silence(&self, silence: &Silence) -> Result<()>;
    /// All silences, or only those active at the given time.
    async fn silences(&self, active_at: Option<Timestamp>) -> Result<Vec<Silence>>;
    async fn delete_silence(&self, id: &str) -> Result<()>;
}

/// Alerts received by webhook, and the deliveries that brought them.
#[async_trait]
pub trait AlertLog: Send + Sync + 'static {
    /// The stored records of these alerts of one source (those it has).
    async fn alerts_by_fingerprint(&self, source: AlertSource, fingerprints: &[String]) -> Result<Vec<AlertRecord>>;
    /// Records one webhook request and writes its alerts' records, with the incidents it opened
    /// (and their first timeline entries), in one transaction: an alert is never recorded
    /// without its new incident, nor the incident without its alert. A `Conflict`, nothing
    /// written, when one of those incidents' fingerprints has an open incident already.
    async fn save_alerts(
        &self,
        delivery: &AlertDelivery,
        records: &[AlertRecord],
        opened: &[OpenedIncident],
    ) -> Result<()>;
    /// Alerts by last delivery, newest first.
    async fn list_alerts(&self, filter: &AlertFilter) -> Result<Vec<AlertRecord>>;
    /// The newest webhook requests, newest first.
    async fn alert_deliveries(&self, limit: u32) -> Result<Vec<AlertDelivery>>;
}

/// The action journal (every action, journaled before it runs) and the audit log.
#[async_trait]
pub trait ActionJournal: Send + Sync + 'static {
    /// Journals an action. A second action with the same idempotency key is a `Conflict`.
    async fn insert_action(&self, action: &Action) -> Result<()>;
    async fn update_action(&self, action: &Action) -> Result<()>;
    /// Moves an action from `from` to `to` only if it is still in `from` (else `Conflict`).
    async fn transition_action(
        &self,
        id: &str,
        from: ActionState,
        to: ActionState,
        reason: &str,
        by: &str,
    ) -> Result<Action>;
    /// Moves every step of a plan that is in one of `from` (and comes after `after_step`, when
    /// given) to `to`, in one statement: no other writer can see, or leave, half a plan moved.
    /// Returns the moved steps in step order (empty when none was in `from`).
    async fn transition_plan(
        &self,
        plan_id: &str,
        from: &[ActionState],
        after_step: Option<u32>,
        to: ActionState,
        reason: &str,
        by: &str,
    ) -> Result<Vec<Action>>;
    async fn action(&self, id: &str) -> Result<Action>;
    async fn list_actions(&self, filter: &ActionFilter) -> Result<Vec<Action>>;
    /// Actions whose tool ran (or is running) since `since`, for one service or all; a step
    /// whose result says it changed nothing (`"changed_nothing": true`) does not count.
    async fn count_executed_since(&self, service: Option<&str>, since: Timestamp) -> Result<u32>;
    /// When a runbook last executed on a service.
    async fn last_runbook_run(&self, runbook: &str, service: &str) -> Result<Option<Timestamp>>;
    /// Verified plans for this fingerprint that failed, counted back from the newest to the last fix.
    async fn consecutive_failed_fixes(&self, fingerprint: &str) -> Result<u32>;
    async fn append_audit(&self, record: &AuditRecord) -> Result<i64>;
    /// The newest `limit` audit records, newest first.
    async fn audit_log(&self, limit: u32) -> Result<Vec<AuditRecord>>;
}

/// Incident memory: episodes, the fix ledger folded from them, and where sync is with each peer.
#[async_trait]
pub trait Memory: Send + Sync + 'static {
    /// Remembers an episode and folds its attempts into the ledger, in one transaction.
    /// Returns `false`, changing nothing, when this episode was already remembered.
    async fn remember(&self, episode: &Episode) -> Result<bool>;
    /// Remembers an imported or synced episode: new ones as `remember` does; a known id with
    /// other content replaces the stored episode and folds the ledger of its clusters again.
    /// An episode this deployment did not verify (`Episode::verified_here(local_origin)`: its
    /// source is not one of this instance's incidents) counts in the ledger as learned
    /// elsewhere (`remote_attempts`).
    async fn upsert_episode(&self, episode: &Episode, local_origin: &str) -> Result<Upserted>;
    /// Episodes in the order this store last wrote them, after the keyset `(stored_at, id)`:
    /// what the recall index and memory sync follow.
    async fn episodes_stored_after(&self, after: (Timestamp, &str), limit: u32) -> Result<Vec<StoredEpisode>>;
    async fn episode(&self, id: &str) -> Result<Episode>;
    async fn episode_count(&self) -> Result<u64>;
    /// Episodes in id order after `after` (paging for reindexing and sync).
    async fn episodes_after(&self, after: Option<&str>, limit: u32) -> Result<Vec<Episode>>;
    /// Episodes of `origin` written after the keyset `(stored_at, id)`: what sync has yet to push.
    async fn episodes_backlog(&self, after: (Timestamp, &str), origin: &str) -> Result<u64>;
    /// Where this instance is with the central at `peer`.
    async fn sync_state(&self, peer: &str) -> Result<Option<obsctl_core::memory::sync::SyncState>>;
    async fn save_sync_state(&self, state: &obsctl_core::memory::sync::SyncState) -> Result<()>;
    /// Ledger entries of one cluster, or all: best success rate first, then most attempts.
    async fn ledger(&self, cluster: Option<&str>) -> Result<Vec<LedgerEntry>>;
}

/// Whole-store reads and writes for backup, restore and reset.
#[async_trait]
pub trait Backups: Send + Sync + 'static {
    /// Every backup table read in one consistent snapshot while others keep writing: each
    /// table's name and row count, then its rows, in `backup::TABLES` order.
    async fn snapshot(&self, sink: &mut dyn backup::SnapshotSink) -> Result<()>;
    /// Inserts rows of one backup table, its `columns` in the given order (a restore into an
    /// empty store), in one transaction.
    async fn restore_rows(
        &self,
        table: &'static backup::Table,
        columns: &[String],
        rows: &[Vec<backup::Cell>],
    ) -> Result<()>;
    /// After a restore: what numbers new rows (Postgres sequences) moves past the restored ones.
    async fn finish_restore(&self) -> Result<()>;
    /// Rows in each backup table.
    async fn table_counts(&self) -> Result<Vec<(&'static str, u64)>>;
    /// Deletes every row of every table and lease (a reset); the schema stays.
    async fn clear(&self) -> Result<()>;
}

/// Replicas on one store: heartbeats, leases, and what they tell each other.
#[async_trait]
pub trait Cluster: Send + Sync + 'static {
    /// Writes this replica's heartbeat (the store's clock; `me.heartbeat_at` is its own, kept
    /// as its clock offset) and returns the live replicas (a heartbeat within `lease`), by id;
    /// rows silent for an hour are forgotten. A replica new or back from a lapse is active
    /// (runs its share) `grace` from now.
    async fn heartbeat(
        &self,
        me: &obsctl_core::cluster::Replica,
        lease: std::time::Duration,
        grace: std::time::Duration,
    ) -> Result<Vec<obsctl_core::cluster::Replica>>;
    /// Removes a replica that stops: the others take its checks at their next heartbeat.
    async fn leave(&self, id: &str) -> Result<()>;
    /// Every replica that heartbeated in the last hour, by id, and the store's clock now.
    async fn replicas(&self) -> Result<(Vec<obsctl_core::cluster::Replica>, Timestamp)>;
    /// Takes or renews the lease `name` for `holder` for `ttl` from now by the store's clock:
    /// granted when it is free, expired, or already `holder`'s. Returns whether `holder` holds it now.
    async fn try_lease(&self, name: &str, holder: &str, ttl: std::time::Duration) -> Result<bool>;
    /// Who holds the lease `name`, until when, and whether that is still ahead of the store's clock.
    async fn lease(&self, name: &str) -> Result<Option<Lease>>;
    /// Gives the lease up if `holder` has it.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<()>;
    /// Tells the other replicas on this store what changed (`payload`, a short JSON): Postgres
    /// `NOTIFY` on `obsctl_events`. SQLite serves one replica: there is no one to tell.
    async fn notify_replicas(&self, payload: &str) -> Result<()>;
    /// What the other replicas tell, as it comes (Postgres `LISTEN`; a lost connection is made
    /// again, and what was told meanwhile is lost), or `None` on SQLite.
    async fn replica_notices(&self) -> Result<Option<tokio::sync::mpsc::Receiver<String>>>;
}

/// Everything obsctl persists, part by part. Every backend passes the same conformance suite.
#[async_trait]
pub trait Store:
    CheckHistory + IncidentLog + AlertLog + ActionJournal + Memory + Backups + Cluster + GraphStore + ChangeFeed
{
    /// Commits what is pending and closes connections; the store is unusable afterwards.
    async fn close(&self);
}

/// The backend a store URL names: `sqlite` or `postgres`.
pub fn backend_of(url: &str) -> &'static str {
    if url.starts_with("sqlite://") { "sqlite" } else { "postgres" }
}

/// Opens the store a URL names: `sqlite://path` or `postgres://…` (`password` applies to Postgres).
pub async fn open(url: &str, password: Option<&str>) -> Result<std::sync::Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(PostgresStore::open(url, password).await?))
    } else if url.starts_with("sqlite://") {
        Ok(std::sync::Arc::new(SqliteStore::open(url).await?))
    } else {
        Err(StoreError::Backend(format!("unsupported store url {url:?}; use sqlite://path or postgres://host/db")))
    }
}
