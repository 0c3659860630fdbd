//! Overview: every service as a card (state, last check, latency sparkline, open incidents),
//! worst first, kept live by SSE card swaps; counts on top, each a filter kept in the URL.

use askama::Template;
use axum::extract::{Query, State};
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
    filter: Filter,
    /// How many services there are before the filter.
    total: usize,
}

/// What the overview shows, kept in the URL (`?state=failing&q=api`) so it survives a reload.
#[derive(serde::Deserialize, serde::Serialize, Default)]
pub struct Filter {
    #[serde(default)]
    state: String,
    #[serde(default)]
    q: String,
}

impl Filter {
    fn keeps(&self, card: &Card) -> bool {
        (self.state.is_empty() || card.state == self.state)
            && (self.q.is_empty() || card.name.to_lowercase().contains(&self.q.trim().to_lowercase()))
    }

    fn active(&self) -> bool {
        !self.state.is_empty() || !self.q.trim().is_empty()
    }

    /// The filter as a query string, for the grid's refresh.
    fn query(&self) -> String {
        serde_urlencoded::to_string(self).unwrap_or_default()
    }

    /// The link a state's count leads to: that state alone, or back to all when it is chosen.
    fn state_link(&self, state: &str) -> String {
        let state = if self.state == state { "" } else { state };
        let next = Filter { state: state.into(), q: self.q.clone() };
        format!("/ui/overview?{}", next.query())
    }
}

/// The grid, and the counts above it swapped out of band.
#[derive(Template)]
#[template(path = "_grid.html")]
struct Grid {
    counts: Vec<(&'static str, usize)>,
    pending: usize,
    cards: Vec<Card>,
    oob: bool,
    filter: Filter,
    total: usize,
}

/// The cards the filter keeps, how many services there are in each state (all of them) and
/// how many steps wait for approval.
async fn build(
    s: &AppState,
    filter: &Filter,
) -> obsctl_store::Result<(Vec<Card>, Vec<(&'static str, usize)>, usize, usize)> {
    let ctx = Context::load(s, None).await?;
    let mut cards = cards::all(s, &ctx);
    // Every state, even at zero, so a count can change in the browser when a card does.
    let counts = cards::STATES.map(|state| (state, cards.iter().filter(|c| c.state == state).count()));
    let total = cards.len();
    if filter.active() {
        cards.retain(|c| filter.keeps(c));
    }
    Ok((cards, counts.to_vec(), total, pending_count(s).await?))
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

pub async fn view_overview_get(
    State(s): State<AppState>,
    Viewer(session): Viewer,
    Query(filter): Query<Filter>,
) -> Response {
    match build(&s, &filter).await {
        Ok((cards, counts, total, pending)) => render(&OverviewPage {
            chrome: Chrome::new(&s, &session, "Overview"),
            counts,
            pending,
            cards,
            oob: false,
            filter,
            total,
        }),
        Err(e) => failed(e),
    }
}

/// The grid alone, refreshed every 30 s for the sparklines and counts (states arrive over SSE
/// at once).
pub async fn view_overview_grid_get(
    State(s): State<AppState>,
    _viewer: Viewer,
    Query(filter): Query<Filter>,
) -> Response {
    match build(&s, &filter).await {
        Ok((cards, counts, total, pending)) => render(&Grid { counts, pending, cards, oob: true, filter, total }),
        Err(e) => failed(e),
    }
}
