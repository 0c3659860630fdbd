//! Overview: every service as a card (state, last check, latency sparkline, open incidents),
//! worst first, kept live by SSE card swaps; counts on top.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use obsctl_core::action::ActionState;
use obsctl_store::ActionFilter;

use crate::AppState;
use crate::dashboard::cards::{self, Card, CardFragment, Context};
use crate::dashboard::session::Viewer;
use crate::dashboard::{Chrome, failed, render};

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    chrome: Chrome,
    counts: Vec<(&'static str, usize)>,
    pending: usize,
    cards: Vec<Card>,
}

#[derive(Template)]
#[template(path = "_grid.html")]
struct Grid {
    cards: Vec<Card>,
}

impl Grid {
    fn fragment<'a>(&self, card: &'a Card) -> CardFragment<'a> {
        CardFragment { card, oob: false }
    }
}

impl OverviewPage {
    fn fragment<'a>(&self, card: &'a Card) -> CardFragment<'a> {
        CardFragment { card, oob: false }
    }
}

pub async fn view_overview_get(State(s): State<AppState>, Viewer(session): Viewer) -> Response {
    let ctx = match Context::load(&s, None).await {
        Ok(ctx) => ctx,
        Err(e) => return failed(e),
    };
    let cards = cards::all(&s, &ctx);
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for c in &cards {
        *counts.entry(c.state).or_default() += 1;
    }
    let pending = s
        .store
        .list_actions(&ActionFilter { states: vec![ActionState::PendingApproval], limit: 10_000, ..Default::default() })
        .await
        .map(|a| a.len())
        .unwrap_or_default();
    let page = OverviewPage {
        chrome: Chrome::new(&s, &session, "Overview"),
        counts: counts.into_iter().collect(),
        pending,
        cards,
    };
    render(&page)
}

/// The grid alone, refreshed every 30 s for the sparklines (states arrive over SSE at once).
pub async fn view_overview_grid_get(State(s): State<AppState>, _viewer: Viewer) -> Response {
    match Context::load(&s, None).await {
        Ok(ctx) => render(&Grid { cards: cards::all(&s, &ctx) }),
        Err(e) => failed(e),
    }
}
