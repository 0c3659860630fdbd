//! Service cards: each service's state (ok, failing, flapping, silenced, suppressed by a
//! dependency, unknown) with its last check, latency sparkline and open incidents. The overview
//! renders all of them; the live hub re-renders one when it changes.

use std::collections::HashMap;

use askama::Template;
use obsctl_core::Timestamp;
use obsctl_core::incident::{Incident, IncidentStatus, Silence};
use obsctl_core::state::CheckStatus;
use obsctl_store::IncidentFilter;

use super::charts;
use super::when::{ago, short};
use crate::AppState;

pub struct Card {
    pub name: String,
    /// A CSS class and label: ok, failing, flapping, silenced, suppressed, unknown.
    pub state: &'static str,
    pub last_check: String,
    pub latency: String,
    pub spark: std::sync::Arc<str>,
    pub open_incidents: usize,
    /// "down 4 min" while failing with an open incident, else empty.
    pub down: String,
}

/// One card, swapped in place by htmx when it arrives over SSE.
#[derive(Template)]
#[template(path = "_card.html")]
pub struct CardFragment<'a> {
    pub card: &'a Card,
    pub oob: bool,
}

/// What every card needs that is not in memory: open incidents and active silences.
pub struct Context {
    statuses: HashMap<String, CheckStatus>,
    open: HashMap<String, Vec<Incident>>,
    silences: Vec<Silence>,
    now: Timestamp,
}

impl Context {
    pub async fn load(state: &AppState, service: Option<&str>) -> obsctl_store::Result<Self> {
        let filter = IncidentFilter {
            status: Some(IncidentStatus::Open),
            service: service.map(str::to_owned),
            limit: 10_000,
            ..Default::default()
        };
        let mut open: HashMap<String, Vec<Incident>> = HashMap::new();
        for i in state.store.list_incidents(&filter).await? {
            open.entry(i.service.clone()).or_default().push(i);
        }
        let now = Timestamp::now();
        let silences = state.store.silences(Some(now)).await?;
        // One service (a live card) reads only its own checks' states, not a copy of every one.
        let statuses = match service {
            Some(name) => state
                .config
                .checks
                .iter()
                .filter(|c| c.service == name)
                .map(|c| (c.id.clone(), state.monitor.status(&c.id)))
                .collect(),
            None => state.monitor.statuses(),
        };
        Ok(Context { statuses, open, silences, now })
    }
}

impl Context {
    /// Every open incident.
    pub fn open_incidents(&self) -> impl Iterator<Item = &Incident> {
        self.open.values().flatten()
    }
}

/// Each service's check ids.
pub fn checks_by_service(state: &AppState) -> HashMap<&str, Vec<&str>> {
    let mut by_service: HashMap<&str, Vec<&str>> = HashMap::new();
    for c in &state.config.checks {
        by_service.entry(c.service.as_str()).or_default().push(c.id.as_str());
    }
    by_service
}

/// Every configured service's card, worst first, then by name.
pub fn all(state: &AppState, ctx: &Context) -> Vec<Card> {
    let by_service = checks_by_service(state);
    let mut cards: Vec<Card> = state
        .config
        .services
        .iter()
        .map(|s| card(state, ctx, &s.name, by_service.get(s.name.as_str()).map(Vec::as_slice).unwrap_or(&[])))
        .collect();
    cards.sort_by(|a, b| rank(b.state).cmp(&rank(a.state)).then_with(|| a.name.cmp(&b.name)));
    cards
}

/// One service's card as an out-of-band fragment, or `None` for an unknown service.
pub async fn one(state: &AppState, service: &str) -> anyhow::Result<Option<String>> {
    if state.config.service(service).is_none() {
        return Ok(None);
    }
    let ctx = Context::load(state, Some(service)).await?;
    let checks: Vec<&str> =
        state.config.checks.iter().filter(|c| c.service == service).map(|c| c.id.as_str()).collect();
    let card = card(state, &ctx, service, &checks);
    Ok(Some(CardFragment { card: &card, oob: true }.render()?.replace('\n', " ")))
}

pub fn card(state: &AppState, ctx: &Context, service: &str, checks: &[&str]) -> Card {
    let worst = checks
        .iter()
        .map(|id| ctx.statuses.get(*id).copied().unwrap_or(CheckStatus::Unknown))
        .max_by_key(|s| s.severity())
        .unwrap_or(CheckStatus::Unknown);
    let open = ctx.open.get(service).map(Vec::as_slice).unwrap_or(&[]);
    let silenced = ctx.silences.iter().any(|s| s.service.as_deref().is_none_or(|x| x == service) && s.kind.is_none());
    let suppressed = !open.is_empty() && open.iter().all(|i| i.upstream_incident.is_some());
    let state_name = match worst {
        _ if silenced => "silenced",
        CheckStatus::Failing | CheckStatus::Flapping if suppressed => "suppressed",
        other => other.as_str(),
    };
    let recent = state.ui.live.summary(checks);
    let down = match (state_name, open.iter().map(|i| i.opened_at).min()) {
        ("failing" | "flapping" | "suppressed", Some(since)) => match ctx.now.since(since) {
            d if d.as_secs() == 0 => "down just now".into(),
            d => format!("down {}", short(d)),
        },
        _ => String::new(),
    };
    Card {
        name: service.to_string(),
        state: state_name,
        last_check: recent.last_at.map(|at| ago(ctx.now, at)).unwrap_or_else(|| "not yet".into()),
        latency: recent.last_latency_ms.map(|ms| format!("{} ms", charts::round(ms))).unwrap_or_default(),
        spark: recent.spark,
        open_incidents: open.len(),
        down,
    }
}

/// Every state a card can show, worst first.
pub const STATES: [&str; 6] = ["ok", "failing", "flapping", "suppressed", "unknown", "silenced"];

fn rank(state: &str) -> u8 {
    match state {
        "failing" => 5,
        "flapping" => 4,
        "suppressed" => 3,
        "unknown" => 2,
        "silenced" => 1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fragment SSE sends: swapped out of band by id, state as class and data attribute.
    #[test]
    fn a_card_renders_as_an_out_of_band_fragment() {
        let card = Card {
            name: "api".into(),
            state: "failing",
            last_check: "3 s ago".into(),
            latency: "12.5 ms".into(),
            spark: "<svg/>".into(),
            open_incidents: 2,
            down: "down 4 min".into(),
        };
        let html = CardFragment { card: &card, oob: true }.render().unwrap().replace('\n', "");
        assert_eq!(
            html,
            r#"<a data-nav id="svc-api" class="card st-failing" href="/ui/services/api" hx-swap-oob="true" data-state="failing"><span class="name">api</span><span class="badge">failing</span><span class="meta">3 s ago · 12.5 ms</span><svg/><span class="alarm"><b>down 4 min</b> · 2 open</span></a>"#
        );
        let escaped = Card { name: "<x>".into(), ..card };
        assert!(CardFragment { card: &escaped, oob: false }.render().unwrap().contains("&#60;x&#62;"));
    }
}
