//! Overview: every service as a card (state, last check, latency sparkline, open incidents),
//! worst first, kept live by SSE card swaps; counts on top.

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
    oob: bool,
}

/// The grid, and the counts above it swapped out of band.
#[derive(Template)]
#[template(path = "_grid.html")]
struct Grid {
    counts: Vec<(&'static str, usize)>,
    pending: usize,
    cards: Vec<Card>,
    oob: bool,
}

/// Every card, and how many are in each state and wait for approval.
async fn build(s: &AppState) -> obsctl_store::Result<(Vec<Card>, Vec<(&'static str, usize)>, usize)> {
    let ctx = Context::load(s, None).await?;
    let cards = cards::all(s, &ctx);
    // Every state, even at zero, so a count can change in the browser when a card does.
    let counts = cards::STATES.map(|state| (state, cards.iter().filter(|c| c.state == state).count()));
    Ok((cards, counts.to_vec(), pending_count(s).await?))
}

/// How many steps wait for approval.
async fn pending_count(s: &AppState) -> obsctl_store::Result<usize> {
    let filter = ActionFilter { states: vec![ActionState::PendingApproval], limit: 10_000, ..Default::default() };
    Ok(s.store.list_actions(&filter).await?.len())
}

/// The pending-approval count alone, swapped out of band (the live view pushes it when an
/// action changes).
#[derive(Template)]
#[template(path = "_pending.html")]
struct PendingCount {
    pending: usize,
    oob: bool,
}

/// `PendingCount` rendered now.
pub async fn pending_fragment(s: &AppState) -> obsctl_store::Result<String> {
    let pending = pending_count(s).await?;
    Ok(PendingCount { pending, oob: true }.render().unwrap_or_default())
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
    match build(&s).await {
        Ok((cards, counts, pending)) => {
            render(&OverviewPage { chrome: Chrome::new(&s, &session, "Overview"), counts, pending, cards, oob: false })
        }
        Err(e) => failed(e),
    }
}

/// The grid alone, refreshed every 30 s for the sparklines and counts (states arrive over SSE
/// at once).
pub async fn view_overview_grid_get(State(s): State<AppState>, _viewer: Viewer) -> Response {
    match build(&s).await {
        Ok((cards, counts, pending)) => render(&Grid { counts, pending, cards, oob: true }),
        Err(e) => failed(e),
    }
}
