//! The action journal, every action written before it runs, and the audit log.

use async_trait::async_trait;
use obsctl_core::Timestamp;
use obsctl_core::action::{Action, ActionState, AuditRecord, ESCALATION_PLANNER};

use super::statement::Statement;
use super::{Dialect, SqlStore, sql};
use crate::error::{found, touched};
use crate::filters::limit_or_default;
use crate::rows::DbRow;
use crate::{ActionFilter, ActionJournal, Result, StoreError, rows};

/// The states an action's tool ran (or is running) in.
const RAN: &str = "state IN ('running', 'succeeded', 'failed')";

/// Binds an `Action` in the column order of the insert: id … read_only, gate (21 values).
fn bind_action<D: Dialect>(q: Statement<D>, a: &Action) -> Statement<D> {
    q.bind(&a.id)
        .bind(&a.idempotency_key)
        .bind(&a.incident_id)
        .bind(&a.service)
        .bind(&a.fingerprint)
        .bind(&a.plan_id)
        .bind(&a.planner)
        .bind(&a.runbook)
        .bind(i64::from(a.step))
        .bind(&a.tool)
        .bind(a.args.to_string())
        .bind(a.mode.as_str())
        .bind(a.state.as_str())
        .bind(&a.reason)
        .bind(a.result.as_ref().map(|r| r.to_string()))
        .bind(a.outcome.map(|o| o.as_str()))
        .bind(a.created_at.millis())
        .bind(a.updated_at.millis())
        .bind(&a.decided_by)
        .bind(a.read_only)
        .bind(&a.gate)
}

/// `(1, the states)` to match any of `states`, `(0, none)` for any state at all.
fn state_filter(states: &[ActionState]) -> (bool, Vec<&'static str>) {
    (!states.is_empty(), states.iter().map(|s| s.as_str()).collect())
}

#[async_trait]
impl<D: Dialect> ActionJournal for SqlStore<D> {
    async fn insert_action(&self, a: &Action) -> Result<()> {
        let insert = sql::<D>(
            "INSERT INTO actions (id, idempotency_key, incident_id, service, fingerprint, plan_id, planner, runbook, \
             step, tool, args, mode, state, reason, result, outcome, created_at, updated_at, decided_by, read_only, gate) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
        );
        bind_action(insert, a).execute(&self.writer).await?;
        Ok(())
    }

    async fn update_action(&self, a: &Action) -> Result<()> {
        let done = sql::<D>(
            "UPDATE actions SET state = $1, reason = $2, result = $3, outcome = $4, updated_at = $5, decided_by = $6 \
             WHERE id = $7",
        )
        .bind(a.state.as_str())
        .bind(&a.reason)
        .bind(a.result.as_ref().map(|r| r.to_string()))
        .bind(a.outcome.map(|o| o.as_str()))
        .bind(a.updated_at.millis())
        .bind(&a.decided_by)
        .bind(&a.id)
        .execute(&self.writer)
        .await?;
        touched(done, "action", &a.id)
    }

    async fn transition_action(
        &self,
        id: &str,
        from: ActionState,
        to: ActionState,
        reason: &str,
        by: &str,
    ) -> Result<Action> {
        let done = sql::<D>(
            "UPDATE actions SET state = $1, reason = $2, decided_by = $3, updated_at = $4 WHERE id = $5 AND state = $6",
        )
        .bind(to.as_str())
        .bind(reason)
        .bind(by)
        .bind(Timestamp::now().millis())
        .bind(id)
        .bind(from.as_str())
        .execute(&self.writer)
        .await?;
        let row = sql::<D>("SELECT * FROM actions WHERE id = $1").bind(id).fetch_one(&self.writer).await;
        let action = rows::action(&found(row, "action", id)?)?;
        if done == 0 {
            return Err(StoreError::Conflict(format!(
                "action {id} is {}, not {}",
                action.state.as_str(),
                from.as_str()
            )));
        }
        Ok(action)
    }

    async fn transition_plan(
        &self,
        plan_id: &str,
        from: &[ActionState],
        after_step: Option<u32>,
        to: ActionState,
        reason: &str,
        by: &str,
    ) -> Result<Vec<Action>> {
        let (_, from) = state_filter(from);
        let moved = sql::<D>(format!(
            "UPDATE actions SET state = $1, reason = $2, decided_by = $3, updated_at = $4 \
             WHERE plan_id = $5 AND {} AND (CAST($7 AS BIGINT) IS NULL OR step > $7) RETURNING *",
            D::in_list("state", "$6")
        ))
        .bind(to.as_str())
        .bind(reason)
        .bind(by)
        .bind(Timestamp::now().millis())
        .bind(plan_id)
        .bind(from.as_slice())
        .bind(after_step.map(i64::from))
        .fetch_all(&self.writer)
        .await?;
        let mut moved = moved.iter().map(rows::action).collect::<Result<Vec<_>>>()?;
        moved.sort_by_key(|a| a.step);
        Ok(moved)
    }

    async fn action(&self, id: &str) -> Result<Action> {
        let row = sql::<D>("SELECT * FROM actions WHERE id = $1").bind(id).fetch_one(&self.reader).await;
        rows::action(&found(row, "action", id)?)
    }

    async fn list_actions(&self, f: &ActionFilter) -> Result<Vec<Action>> {
        let (some_states, states) = state_filter(&f.states);
        let rows = sql::<D>(format!(
            "SELECT * FROM actions WHERE ($1 = 0 OR {}) AND (CAST($3 AS TEXT) IS NULL OR incident_id = $3) \
             ORDER BY created_at DESC, {} DESC LIMIT $4",
            D::in_list("state", "$2"),
            D::INSERTION_ORDER
        ))
        .bind(some_states)
        .bind(states.as_slice())
        .bind(&f.incident_id)
        .bind(limit_or_default(f.limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(rows::action).collect()
    }

    async fn count_executed_since(&self, service: Option<&str>, since: Timestamp) -> Result<u32> {
        let n = sql::<D>(format!(
            "SELECT COUNT(*) FROM actions WHERE {RAN} AND planner != $3 AND read_only = 0 AND created_at >= $1 \
             AND (CAST($2 AS TEXT) IS NULL OR service = $2) AND NOT {}",
            D::changed_nothing("result")
        ))
        .bind(since.millis())
        .bind(service)
        .bind(ESCALATION_PLANNER)
        .int(&self.writer)
        .await?;
        Ok(n as u32)
    }

    async fn last_runbook_run(&self, runbook: &str, service: &str) -> Result<Option<Timestamp>> {
        let at = sql::<D>(format!(
            "SELECT MAX(created_at) FROM actions WHERE runbook = $1 AND service = $2 AND read_only = 0 AND {RAN}"
        ))
        .bind(runbook)
        .bind(service)
        .opt_int(&self.writer)
        .await?;
        Ok(at.map(Timestamp))
    }

    async fn consecutive_failed_fixes(&self, fingerprint: &str) -> Result<u32> {
        let plans = sql::<D>(format!(
            "SELECT plan_id, CAST(MAX(CASE WHEN outcome = 'fixed' THEN 1 ELSE 0 END) AS BIGINT) AS fixed FROM actions \
             WHERE fingerprint = $1 AND outcome IS NOT NULL GROUP BY plan_id \
             ORDER BY MAX(updated_at) DESC, MAX({}) DESC LIMIT 100",
            D::INSERTION_ORDER
        ))
        .bind(fingerprint)
        .fetch_all(&self.writer)
        .await?;
        // Per plan, whether any step was verified fixed; counted back to the last fix.
        let mut failed = 0;
        for plan in &plans {
            if plan.int("fixed")? != 0 {
                break;
            }
            failed += 1;
        }
        Ok(failed)
    }

    async fn append_audit(&self, r: &AuditRecord) -> Result<i64> {
        sql::<D>(
            "INSERT INTO audit (at, actor, action, subject, decision, reason, data) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(r.at.millis())
        .bind(&r.actor)
        .bind(&r.action)
        .bind(&r.subject)
        .bind(&r.decision)
        .bind(&r.reason)
        .bind(r.data.to_string())
        .int(&self.writer)
        .await
    }

    async fn audit_log(&self, limit: u32) -> Result<Vec<AuditRecord>> {
        let rows = sql::<D>("SELECT * FROM audit ORDER BY id DESC LIMIT $1")
            .bind(limit_or_default(limit))
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(rows::audit).collect()
    }
}
