//! Planners turn an incident into a plan; the chain asks each in order (runbooks first; memory
//! and LLM planners join later behind the same trait).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use obsctl_core::config::{Runbook, Step};
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
    pub cooldown: Duration,
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
            cooldown: r.cooldown,
        }))
    }
}

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
