//! The bind lists for each write, shared by every SQL backend (their SQL differs only in
//! placeholder syntax; the values and their order are the same). Macros, because each
//! backend's query type is different.

/// Binds an `Incident` in the column order of the insert: id … resolution (15 values).
macro_rules! bind_incident_insert {
    ($q:expr, $i:expr) => {
        $q.bind(&$i.id)
            .bind(&$i.fingerprint)
            .bind(&$i.service)
            .bind(&$i.check_id)
            .bind(&$i.kind)
            .bind($i.status.as_str())
            .bind(&$i.title)
            .bind(&$i.detail)
            .bind($i.opened_at.millis())
            .bind($i.updated_at.millis())
            .bind($i.resolved_at.map(Timestamp::millis))
            .bind(i64::from($i.occurrences))
            .bind(i64::from($i.reopen_count))
            .bind(&$i.upstream_incident)
            .bind(&$i.resolution)
    };
}

/// Binds an `Incident` for the update: status … resolution, then id (10 values).
macro_rules! bind_incident_update {
    ($q:expr, $i:expr) => {
        $q.bind($i.status.as_str())
            .bind(&$i.title)
            .bind(&$i.detail)
            .bind($i.updated_at.millis())
            .bind($i.resolved_at.map(Timestamp::millis))
            .bind(i64::from($i.occurrences))
            .bind(i64::from($i.reopen_count))
            .bind(&$i.upstream_incident)
            .bind(&$i.resolution)
            .bind(&$i.id)
    };
}

/// Binds an `Action` in the column order of the insert: id … decided_by (19 values).
macro_rules! bind_action_insert {
    ($q:expr, $a:expr) => {
        $q.bind(&$a.id)
            .bind(&$a.idempotency_key)
            .bind(&$a.incident_id)
            .bind(&$a.service)
            .bind(&$a.fingerprint)
            .bind(&$a.plan_id)
            .bind(&$a.planner)
            .bind(&$a.runbook)
            .bind(i64::from($a.step))
            .bind(&$a.tool)
            .bind($a.args.to_string())
            .bind($a.mode.as_str())
            .bind($a.state.as_str())
            .bind(&$a.reason)
            .bind($a.result.as_ref().map(|r| r.to_string()))
            .bind($a.outcome.map(|o| o.as_str()))
            .bind($a.created_at.millis())
            .bind($a.updated_at.millis())
            .bind(&$a.decided_by)
    };
}

/// Binds an `Action` for the update: state, reason, result, outcome, updated_at, decided_by, id.
macro_rules! bind_action_update {
    ($q:expr, $a:expr) => {
        $q.bind($a.state.as_str())
            .bind(&$a.reason)
            .bind($a.result.as_ref().map(|r| r.to_string()))
            .bind($a.outcome.map(|o| o.as_str()))
            .bind($a.updated_at.millis())
            .bind(&$a.decided_by)
            .bind(&$a.id)
    };
}

/// Binds an `AuditRecord`: at, actor, action, subject, decision, reason, data.
macro_rules! bind_audit_insert {
    ($q:expr, $r:expr) => {
        $q.bind($r.at.millis())
            .bind(&$r.actor)
            .bind(&$r.action)
            .bind(&$r.subject)
            .bind(&$r.decision)
            .bind(&$r.reason)
            .bind($r.data.to_string())
    };
}

/// Binds a `Silence`: id, service, kind, starts_at, ends_at, reason, created_by.
macro_rules! bind_silence_insert {
    ($q:expr, $s:expr) => {
        $q.bind(&$s.id)
            .bind(&$s.service)
            .bind(&$s.kind)
            .bind($s.starts_at.millis())
            .bind($s.ends_at.millis())
            .bind(&$s.reason)
            .bind(&$s.created_by)
    };
}
