//! Row → domain type mapping, shared by every SQL backend through `DbRow`.

use obsctl_core::Timestamp;
use obsctl_core::action::{Action, ActionState, AuditRecord, Outcome};
use obsctl_core::incident::{Incident, IncidentEvent, IncidentStatus, Silence};
use obsctl_core::policy::Mode;
use obsctl_core::timeline::EntryKind;
use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::{Result, StoreError};

/// The column reads the mappers need; every backend's row type provides them (the Bolt
/// graph's records too).
pub(crate) trait DbRow {
    fn text(&self, col: &str) -> Result<String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    fn int(&self, col: &str) -> Result<i64>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>>;
}

/// Reads by position, for a SQL row without column names (`SELECT COUNT(*)`, a backup's rows).
pub(crate) trait ColumnAt {
    fn opt_int_at(&self, index: usize) -> Result<Option<i64>>;
    fn opt_text_at(&self, index: usize) -> Result<Option<String>>;
    fn int_at(&self, index: usize) -> Result<i64> {
        self.opt_int_at(index)?.ok_or_else(|| StoreError::Backend(format!("column {index} is NULL")))
    }
}

/// Every row of a database that decodes the schema's integers and texts.
impl<R: Row> DbRow for R
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'c> &'c str: ColumnIndex<R>,
{
    fn text(&self, col: &str) -> Result<String> {
        Ok(self.try_get(col)?)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        Ok(self.try_get(col)?)
    }
    fn int(&self, col: &str) -> Result<i64> {
        Ok(self.try_get(col)?)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        Ok(self.try_get(col)?)
    }
}

impl<R: Row> ColumnAt for R
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    usize: ColumnIndex<R>,
{
    fn opt_int_at(&self, index: usize) -> Result<Option<i64>> {
        Ok(self.try_get(index)?)
    }
    fn opt_text_at(&self, index: usize) -> Result<Option<String>> {
        Ok(self.try_get(index)?)
    }
}

fn json(text: Option<String>) -> Result<Option<serde_json::Value>> {
    Ok(match text {
        Some(t) => Some(serde_json::from_str(&t)?),
        None => None,
    })
}

fn bad(what: &str, value: &str) -> StoreError {
    StoreError::Backend(format!("stored {what} {value:?} is not recognised"))
}

/// The `ok` column holds an observation's outcome: 0 failed, 1 passed, 2 could not look (its
/// engine was unreachable: `Observation::unknown`). No migration: the column is an integer.
const OUTCOME_PASSED: i64 = 1;
const OUTCOME_UNKNOWN: i64 = 2;

/// The `ok` column's value for `o`.
pub(crate) fn outcome(o: &obsctl_core::check::Observation) -> i64 {
    match (o.ok, o.unknown) {
        (true, _) => OUTCOME_PASSED,
        (false, true) => OUTCOME_UNKNOWN,
        (false, false) => 0,
    }
}

/// A rollup row's sums (`runs`, `passes`, `unknowns`, `latency_sum_us`).
pub(crate) fn tally(r: &impl DbRow) -> Result<obsctl_core::rollup::Tally> {
    let n = |col: &str| r.int(col).map(|v| v.max(0) as u64);
    Ok(obsctl_core::rollup::Tally {
        runs: n("runs")?,
        passes: n("passes")?,
        unknowns: n("unknowns")?,
        latency_sum_us: n("latency_sum_us")?,
    })
}

/// A rollup row with its check id, span and start.
pub(crate) fn span_tally(r: &impl DbRow) -> Result<obsctl_core::rollup::SpanTally> {
    Ok(obsctl_core::rollup::SpanTally {
        check_id: r.text("id")?,
        span_ms: r.int("span_ms")?,
        start: obsctl_core::Timestamp(r.int("start_ms")?),
        tally: tally(r)?,
    })
}

pub(crate) fn observation(r: &impl DbRow) -> Result<obsctl_core::check::Observation> {
    Ok(obsctl_core::check::Observation {
        check_id: r.text("check_id")?,
        at: Timestamp(r.int("at")?),
        ok: r.int("ok")? == OUTCOME_PASSED,
        latency_us: r.int("latency_us")? as u64,
        detail: r.text("detail")?,
        unknown: r.int("ok")? == OUTCOME_UNKNOWN,
        incident_kind: None,
    })
}

/// The optional `outcome` column of an action.
fn opt_outcome(r: &impl DbRow) -> Result<Option<Outcome>> {
    r.opt_text("outcome")?.map(|o| Outcome::parse(&o).ok_or_else(|| bad("outcome", &o))).transpose()
}

pub(crate) fn episode(r: &impl DbRow) -> Result<obsctl_core::memory::Episode> {
    let outcome = r.text("outcome")?;
    Ok(obsctl_core::memory::Episode {
        id: r.text("id")?,
        incident_id: r.text("incident_id")?,
        fingerprint: r.text("fingerprint")?,
        cluster: r.text("cluster")?,
        service: r.text("service")?,
        kind: r.text("kind")?,
        labels: serde_json::from_str(&r.text("labels")?)?,
        text: r.text("text")?,
        actions: serde_json::from_str(&r.text("actions")?)?,
        outcome: obsctl_core::memory::EpisodeOutcome::parse(&outcome)
            .ok_or_else(|| bad("episode outcome", &outcome))?,
        opened_at: Timestamp(r.int("opened_at")?),
        ended_at: Timestamp(r.int("ended_at")?),
        time_to_recover_ms: r.int("time_to_recover_ms")?,
        content_hash: r.text("content_hash")?,
        origin: r.text("origin")?,
        source: r.text("source")?,
    })
}

pub(crate) fn stored_episode(r: &impl DbRow) -> Result<crate::StoredEpisode> {
    Ok(crate::StoredEpisode { stored_at: Timestamp(r.int("stored_at")?), episode: episode(r)? })
}

pub(crate) fn sync_state(r: &impl DbRow) -> Result<obsctl_core::memory::sync::SyncState> {
    use obsctl_core::memory::sync::Cursor;
    Ok(obsctl_core::memory::sync::SyncState {
        peer: r.text("peer")?,
        pushed_to: Cursor { stored_at: r.int("pushed_at")?, id: r.text("pushed_id")? },
        pulled_to: Cursor { stored_at: r.int("pulled_at")?, id: r.text("pulled_id")? },
        pushed: r.int("pushed")? as u64,
        pulled: r.int("pulled")? as u64,
        last_attempt: r.opt_int("last_attempt")?.map(Timestamp),
        last_success: r.opt_int("last_success")?.map(Timestamp),
        last_error: r.opt_text("last_error")?,
    })
}

pub(crate) fn replica(r: &impl DbRow) -> Result<obsctl_core::cluster::Replica> {
    Ok(obsctl_core::cluster::Replica {
        id: r.text("id")?,
        host: r.text("host")?,
        pid: r.int("pid")? as u32,
        listen: r.text("listen")?,
        started_at: Timestamp(r.int("started_at")?),
        heartbeat_at: Timestamp(r.int("heartbeat_at")?),
        checks: r.int("checks")? as u32,
        clock_offset_ms: r.int("clock_offset_ms")?,
        active_from: Timestamp(r.int("active_from")?),
    })
}

pub(crate) fn ledger(r: &impl DbRow) -> Result<obsctl_core::memory::LedgerEntry> {
    Ok(obsctl_core::memory::LedgerEntry {
        cluster: r.text("cluster")?,
        action_key: r.text("action_key")?,
        steps: serde_json::from_str(&r.text("steps")?)?,
        attempts: r.int("attempts")? as u32,
        successes: r.int("successes")? as u32,
        failures: r.int("failures")? as u32,
        median_ttr_ms: r.opt_int("median_ttr_ms")?,
        ttr_samples_ms: serde_json::from_str(&r.text("ttr_samples_ms")?)?,
        last_used: Timestamp(r.int("last_used")?),
        episodes: serde_json::from_str(&r.text("episodes")?)?,
        remote_attempts: r.int("remote_attempts")? as u32,
        remote_successes: r.int("remote_successes")? as u32,
    })
}

/// Best success rate first, then most attempts, then most recent.
pub(crate) fn rank_ledger(entries: &mut [obsctl_core::memory::LedgerEntry]) {
    entries.sort_by(|a, b| {
        b.success_rate()
            .total_cmp(&a.success_rate())
            .then(b.attempts.cmp(&a.attempts))
            .then(b.last_used.cmp(&a.last_used))
    });
}

pub(crate) fn fix_record(r: &impl DbRow) -> Result<obsctl_core::graph::FixRecord> {
    Ok(obsctl_core::graph::FixRecord {
        incident_id: r.text("incident_id")?,
        kind: r.text("kind")?,
        opened_at: Timestamp(r.int("opened_at")?),
        action_id: r.text("action_id")?,
        tool: r.text("tool")?,
        args: json(Some(r.text("args")?))?.unwrap_or_default(),
        state: r.text("state")?,
        outcome: opt_outcome(r)?,
        at: Timestamp(r.int("at")?),
    })
}

pub(crate) fn reached(r: &impl DbRow) -> Result<obsctl_core::graph::Reached> {
    Ok(obsctl_core::graph::Reached { service: r.text("service")?, depth: r.int("depth")? as u32 })
}

pub(crate) fn upstream(r: &impl DbRow) -> Result<obsctl_core::graph::UpstreamFailure> {
    Ok(obsctl_core::graph::UpstreamFailure {
        service: r.text("service")?,
        depth: r.int("depth")? as u32,
        incident_id: r.text("incident_id")?,
        kind: r.text("kind")?,
    })
}

pub(crate) fn incident(r: &impl DbRow) -> Result<Incident> {
    let status: String = r.text("status")?;
    Ok(Incident {
        id: r.text("id")?,
        fingerprint: r.text("fingerprint")?,
        service: r.text("service")?,
        check_id: r.text("check_id")?,
        kind: r.text("kind")?,
        status: IncidentStatus::parse(&status).ok_or_else(|| bad("incident status", &status))?,
        title: r.text("title")?,
        detail: r.text("detail")?,
        opened_at: Timestamp(r.int("opened_at")?),
        updated_at: Timestamp(r.int("updated_at")?),
        resolved_at: r.opt_int("resolved_at")?.map(Timestamp),
        occurrences: r.int("occurrences")? as u32,
        reopen_count: r.int("reopen_count")? as u32,
        upstream_incident: r.opt_text("upstream_incident")?,
        resolution: r.opt_text("resolution")?,
    })
}

pub(crate) fn event(r: &impl DbRow) -> Result<IncidentEvent> {
    Ok(IncidentEvent {
        id: r.int("id")?,
        incident_id: r.text("incident_id")?,
        at: Timestamp(r.int("at")?),
        kind: EntryKind::parse(&r.text("kind")?),
        message: r.text("message")?,
        data: json(r.opt_text("data")?)?.unwrap_or_default(),
    })
}

pub(crate) fn action(r: &impl DbRow) -> Result<Action> {
    let state: String = r.text("state")?;
    let mode: String = r.text("mode")?;
    Ok(Action {
        id: r.text("id")?,
        idempotency_key: r.text("idempotency_key")?,
        incident_id: r.text("incident_id")?,
        service: r.text("service")?,
        fingerprint: r.text("fingerprint")?,
        plan_id: r.text("plan_id")?,
        planner: r.text("planner")?,
        runbook: r.opt_text("runbook")?,
        step: r.int("step")? as u32,
        tool: r.text("tool")?,
        args: json(r.opt_text("args")?)?.unwrap_or_default(),
        read_only: r.int("read_only")? != 0,
        mode: Mode::parse(&mode).ok_or_else(|| bad("mode", &mode))?,
        state: ActionState::parse(&state).ok_or_else(|| bad("action state", &state))?,
        reason: r.text("reason")?,
        result: json(r.opt_text("result")?)?,
        outcome: opt_outcome(r)?,
        created_at: Timestamp(r.int("created_at")?),
        updated_at: Timestamp(r.int("updated_at")?),
        decided_by: r.opt_text("decided_by")?,
        gate: r.opt_text("gate")?,
    })
}

pub(crate) fn audit(r: &impl DbRow) -> Result<AuditRecord> {
    Ok(AuditRecord {
        id: r.int("id")?,
        at: Timestamp(r.int("at")?),
        actor: r.text("actor")?,
        action: r.text("action")?,
        subject: r.text("subject")?,
        decision: r.text("decision")?,
        reason: r.text("reason")?,
        data: json(r.opt_text("data")?)?.unwrap_or_default(),
    })
}

pub(crate) fn silence(r: &impl DbRow) -> Result<Silence> {
    Ok(Silence {
        id: r.text("id")?,
        service: r.opt_text("service")?,
        kind: r.opt_text("kind")?,
        starts_at: Timestamp(r.int("starts_at")?),
        ends_at: Timestamp(r.int("ends_at")?),
        reason: r.text("reason")?,
        created_by: r.text("created_by")?,
    })
}

fn alert_source(text: &str) -> Result<obsctl_core::alert::AlertSource> {
    obsctl_core::alert::AlertSource::parse(text).ok_or_else(|| bad("alert source", text))
}

pub(crate) fn alert(r: &impl DbRow) -> Result<obsctl_core::alert::AlertRecord> {
    use obsctl_core::alert::{Alert, AlertRecord, AlertStatus};
    let status = r.text("status")?;
    Ok(AlertRecord {
        alert: Alert {
            source: alert_source(&r.text("source")?)?,
            fingerprint: r.text("fingerprint")?,
            status: AlertStatus::parse(&status).ok_or_else(|| bad("alert status", &status))?,
            labels: serde_json::from_str(&r.text("labels")?)?,
            annotations: serde_json::from_str(&r.text("annotations")?)?,
            starts_at: r.opt_int("starts_at")?.map(Timestamp),
            ends_at: r.opt_int("ends_at")?.map(Timestamp),
            source_url: r.opt_text("source_url")?,
        },
        service: r.text("service")?,
        kind: r.text("kind")?,
        incident_id: r.opt_text("incident_id")?,
        first_seen: Timestamp(r.int("first_seen")?),
        last_seen: Timestamp(r.int("last_seen")?),
        deliveries: r.int("deliveries")? as u32,
    })
}

pub(crate) fn alert_delivery(r: &impl DbRow) -> Result<obsctl_core::alert::AlertDelivery> {
    Ok(obsctl_core::alert::AlertDelivery {
        source: alert_source(&r.text("source")?)?,
        received_at: Timestamp(r.int("received_at")?),
        receiver: r.text("receiver")?,
        group_key: r.text("group_key")?,
        alerts: r.int("alerts")? as u32,
        truncated: r.int("truncated")? as u32,
    })
}

pub(crate) fn telemetry_report(r: &impl DbRow) -> Result<obsctl_core::telemetry::Report> {
    Ok(serde_json::from_str(&r.text("report")?)?)
}
