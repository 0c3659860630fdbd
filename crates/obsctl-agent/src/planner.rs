//! Planners turn an incident into a plan; the chain asks each in order (runbooks first; memory
//! and LLM planners join later behind the same trait).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use obsctl_config::{AgentConfig, Runbook, Step};
use obsctl_core::memory::{LedgerEntry, cluster};
use obsctl_store::Store;

use crate::tools::ToolRegistry;
use obsctl_core::incident::Incident;
use obsctl_core::policy::Mode;
use serde::Serialize;

/// An ordered list of tool calls, with where it came from and how sure the planner is.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub planner: &'static str,
    pub runbook: Option<String>,
    /// Why this plan, in a sentence a person can check.
    pub provenance: String,
    /// 0..=1.
    pub confidence: f64,
    pub steps: Vec<Step>,
    pub mode: Option<Mode>,
    /// The highest mode it may run in, whatever the config allows: `auto` for a runbook, a
    /// person's proposal and a fix this deployment verified; `approve` for a plan whose only
    /// support is evidence obsctl did not verify here (imported, synced) or a model's.
    pub max_mode: Mode,
    pub cooldown: Duration,
    /// Episodes that support the plan (memory plans).
    pub evidence: Vec<String>,
    /// A person's override of the budgets, in their words (`by …: why`): only a person's
    /// own proposal carries one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_override: Option<String>,
}

/// What a planner sees.
pub struct PlanContext<'a> {
    pub incident: &'a Incident,
    /// The check's labels merged over the service's.
    pub labels: &'a BTreeMap<String, String>,
}

#[async_trait]
pub trait Planner: Send + Sync {
    fn name(&self) -> &'static str;
    async fn plan(&self, ctx: &PlanContext<'_>) -> anyhow::Result<Option<Plan>>;
}

/// Plans from the first runbook whose matcher fits the incident.
pub struct RunbookPlanner {
    runbooks: Vec<Runbook>,
}

impl RunbookPlanner {
    pub fn new(runbooks: Vec<Runbook>) -> Self {
        Self { runbooks }
    }
}

#[async_trait]
impl Planner for RunbookPlanner {
    fn name(&self) -> &'static str {
        "runbook"
    }

    async fn plan(&self, ctx: &PlanContext<'_>) -> anyhow::Result<Option<Plan>> {
        let i = ctx.incident;
        Ok(self.runbooks.iter().find(|r| r.when.matches(&i.kind, &i.service, ctx.labels)).map(|r| Plan {
            planner: "runbook",
            runbook: Some(r.name.clone()),
            provenance: format!("runbook {:?} matches {} on {}", r.name, i.kind, i.service),
            confidence: 1.0,
            steps: r.steps.clone(),
            mode: r.mode,
            max_mode: Mode::Auto,
            cooldown: r.cooldown,
            evidence: Vec::new(),
            budget_override: None,
        }))
    }
}

/// Proposes the fix that memory has proven for this kind of incident: the best ledger entry of
/// the incident's cluster with at least `min_attempts` attempts and a success rate of at least
/// `min_success`, which changes something (a plan of read-only tools cannot fix anything). It
/// may run by itself only when this deployment's own verified outcomes prove it.
pub struct MemoryPlanner {
    store: Arc<dyn Store>,
    registry: Arc<ToolRegistry>,
    min_success: f64,
    min_attempts: u32,
    /// What an attempt learned on another instance counts for (0: this instance's only).
    shared_evidence: f64,
    cooldown: Duration,
    /// This instance's origin: what makes an episode "verified here".
    origin: String,
}

impl MemoryPlanner {
    pub fn new(store: Arc<dyn Store>, registry: Arc<ToolRegistry>, config: &AgentConfig, origin: String) -> Self {
        let m = &config.memory;
        Self {
            store,
            registry,
            min_success: m.min_success,
            min_attempts: m.min_attempts,
            shared_evidence: m.shared_evidence,
            cooldown: config.default_cooldown,
            origin,
        }
    }

    /// Whether the entry's own episodes (the newest, as many as it lists) prove it by what this
    /// deployment verified: read from the episodes themselves, not from the entry's counts, so
    /// a ledger folded before a rule changed cannot make a fix automatic. Conservative: an
    /// entry with more episodes than it lists may be judged on fewer than it has.
    async fn proven_here(&self, entry: &LedgerEntry) -> anyhow::Result<bool> {
        let (mut attempts, mut successes) = (0u32, 0u32);
        for id in &entry.episodes {
            let Ok(episode) = self.store.episode(id).await else { continue };
            if !episode.verified_here(&self.origin) {
                continue;
            }
            for a in episode.actions.iter().filter(|a| a.learn && a.action_key == entry.action_key) {
                attempts += 1;
                successes += u32::from(a.outcome == obsctl_core::action::Outcome::Fixed);
            }
        }
        Ok(attempts >= self.min_attempts && f64::from(successes) >= self.min_success * f64::from(attempts))
    }

    fn mutates(&self, e: &LedgerEntry) -> bool {
        e.steps.iter().any(|s| self.registry.get(&s.tool).is_some_and(|t| !t.spec().annotations.read_only_hint))
    }
}

#[async_trait]
impl Planner for MemoryPlanner {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn plan(&self, ctx: &PlanContext<'_>) -> anyhow::Result<Option<Plan>> {
        let cluster = cluster(&ctx.incident.kind, &ctx.incident.service);
        let ledger = self.store.ledger(Some(&cluster)).await?;
        // Evidence learned elsewhere counts by its weight; the best weighted rate wins.
        let qualifies =
            |(attempts, rate): (f64, f64)| attempts >= f64::from(self.min_attempts) && rate >= self.min_success;
        let mut proven: Vec<(f64, f64, LedgerEntry)> = ledger
            .into_iter()
            .map(|e| {
                let (attempts, rate) = e.weighted(self.shared_evidence);
                (attempts, rate, e)
            })
            .filter(|(attempts, rate, e)| {
                qualifies((*attempts, *rate))
                    && self.mutates(e)
                    && !e.steps.iter().any(|s| s.args.to_string().contains(REDACTED))
            })
            .collect();
        proven.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.total_cmp(&a.0)));
        let Some((_, rate, best)) = proven.into_iter().next() else {
            return Ok(None);
        };
        // Only what this deployment verified may make a fix automatic: a fix proven only with
        // evidence from elsewhere (imported postmortems, episode files, other instances) is
        // proposed to a person.
        let verified_here = qualifies(best.weighted(0.0)) && self.proven_here(&best).await?;
        let elsewhere = match (best.remote_attempts, verified_here) {
            (0, _) => String::new(),
            (n, true) => format!(" ({n} of them not verified here, each counted as {})", self.shared_evidence),
            (n, false) => format!(
                " ({n} of them not verified here, each counted as {}; a person approves it until this deployment has verified it)",
                self.shared_evidence
            ),
        };
        let tools: Vec<&str> = best.steps.iter().map(|s| s.tool.as_str()).collect();
        let ttr =
            best.median_ttr_ms.map(|ms| format!(", median recovery {:.1}s", ms as f64 / 1000.0)).unwrap_or_default();
        let shown: Vec<&str> = best.episodes.iter().take(3).map(String::as_str).collect();
        Ok(Some(Plan {
            planner: "memory",
            runbook: None,
            provenance: format!(
                "memory: {} fixed {}/{} similar incidents{elsewhere} ({cluster}){ttr}; evidence {}",
                tools.join(" → "),
                best.successes,
                best.attempts,
                shown.join(", ")
            ),
            confidence: rate,
            steps: best.steps.iter().map(|s| Step { tool: s.tool.clone(), args: s.args.clone() }).collect(),
            mode: None,
            max_mode: if verified_here { Mode::Auto } else { Mode::Approve },
            cooldown: self.cooldown,
            evidence: best.episodes.clone(),
            budget_override: None,
        }))
    }
}

/// What redaction leaves in place of a secret: a fix remembered with one cannot be replayed
/// (memory never holds secrets; such fixes belong in a runbook).
const REDACTED: &str = "***";

/// Asks each planner in order; the first plan wins.
pub struct PlannerChain {
    planners: Vec<Box<dyn Planner>>,
}

impl PlannerChain {
    pub fn new(planners: Vec<Box<dyn Planner>>) -> Self {
        Self { planners }
    }

    pub async fn plan(&self, ctx: &PlanContext<'_>) -> anyhow::Result<Option<Plan>> {
        for p in &self.planners {
            if let Some(plan) = p.plan(ctx).await? {
                return Ok(Some(plan));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests;
