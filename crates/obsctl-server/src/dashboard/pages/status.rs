//! The public status page (`/status`, opt-in with `[dashboard.status_page]`): the chosen
//! services' state, uptime over 24 h / 7 d / 30 d with a bar of the last 30 days, and their
//! ongoing incidents (the affected service; titles only where the operator opts in), for anyone
//! without logging in. Nothing else is shown: no
//! details, checks, addresses or controls. Uptime comes from the kept snapshot (`uptime.rs`), and
//! the page itself is rendered at most once every 5 s and kept (`kept.rs`).

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use obsctl_core::Timestamp;
use obsctl_core::incident::Incident;
use obsctl_core::rollup::{DAY_MS, Tally, WINDOWS};

use crate::AppState;
use crate::dashboard::cards::{self, Context};
use crate::dashboard::failed;
use crate::dashboard::uptime::{BAR_DAYS, Snapshot, bar, percent};
use crate::dashboard::when::Readable;

struct Row {
    name: String,
    /// The state's class (`ok`, `flapping`, `failing`, …) and its words (operational, degraded, down, …).
    state: &'static str,
    words: &'static str,
    uptimes: Vec<(&'static str, String)>,
    bar: String,
}

/// An ongoing incident as the public sees it: the operator's words (the service) unless the
/// operator opted in to titles, which may carry a sender's words.
struct Ongoing {
    headline: String,
    service: String,
    opened_at: Timestamp,
}

impl Ongoing {
    fn of(i: &Incident, show_titles: bool) -> Self {
        let headline =
            if show_titles { i.title.clone() } else { format!("{} is affected; we are looking into it", i.service) };
        Self { headline, service: i.service.clone(), opened_at: i.opened_at }
    }
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage {
    title: String,
    headline: &'static str,
    tone: &'static str,
    rows: Vec<Row>,
    incidents: Vec<Ongoing>,
    read_at: Timestamp,
    windows: [(&'static str, i64); 3],
}

/// A card's state as the public reads it, and the state class it is coloured by.
fn words(state: &str) -> (&'static str, &'static str) {
    match state {
        "ok" => ("operational", "ok"),
        "flapping" => ("degraded", "flapping"),
        "failing" | "suppressed" => ("down", "failing"),
        "silenced" => ("maintenance", "silenced"),
        _ => ("no data yet", "unknown"),
    }
}

/// How long a rendered status page is served before the next is rendered (in the background).
const PAGE_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(5);

pub async fn view_status_get(State(s): State<AppState>) -> Response {
    if s.config.server.status_page.is_none() {
        return (StatusCode::NOT_FOUND, "no status page here: it is published with [dashboard.status_page]")
            .into_response();
    }
    // Anyone may ask, as often as they like: the page is rendered at most once every 5 s.
    let state = s.clone();
    let page = s.ui.status_page.get(PAGE_FRESH_FOR, "status page", move || async move { page(&state).await }).await;
    match page {
        Ok(html) => {
            let headers =
                [(header::CACHE_CONTROL, "public, max-age=5"), (header::CONTENT_TYPE, "text/html; charset=utf-8")];
            (headers, html.as_ref().clone()).into_response()
        }
        Err(e) => failed(e),
    }
}

/// Reads the uptime snapshot once at start when a status page is published, so its first
/// visitor does not wait for every check's sums (seconds at 10,000 services).
pub async fn warm(s: AppState) {
    if s.config.server.status_page.is_some()
        && let Err(error) = Snapshot::kept(&s.ui.uptimes, &s.store).await
    {
        tracing::warn!(%error, "could not read the status page's uptime; its first view will try again");
    }
}

/// The page as it stands now.
async fn page(s: &AppState) -> Result<axum::body::Bytes, String> {
    let Some(page) = s.config.server.status_page.as_ref() else {
        return Err("no status page is configured".into());
    };
    let ctx = Context::load(s, None).await.map_err(|e| e.to_string())?;
    let snapshot = Snapshot::kept(&s.ui.uptimes, &s.store).await.map_err(|e| e.to_string())?;
    let by_service = cards::checks_by_service(s);
    let today = obsctl_core::rollup::span_start(snapshot.read_at, DAY_MS);
    let rows: Vec<Row> = page
        .services
        .iter()
        .map(|name| {
            let checks = by_service.get(name.as_str()).map(Vec::as_slice).unwrap_or(&[]);
            let card = cards::card(s, &ctx, name, checks);
            let (windows, days) = snapshot.of(checks);
            let first = today.millis() - (BAR_DAYS as i64 - 1) * DAY_MS;
            let days: Vec<(Timestamp, Tally)> =
                days.into_iter().enumerate().map(|(i, t)| (Timestamp(first + i as i64 * DAY_MS), t)).collect();
            let (words, state) = words(card.state);
            Row {
                name: name.clone(),
                state,
                words,
                uptimes: WINDOWS.iter().zip(&windows).map(|((label, _), t)| (*label, percent(t))).collect(),
                bar: bar(&days, DAY_MS),
            }
        })
        .collect();
    let down = rows.iter().filter(|r| r.words == "down").count();
    let degraded = rows.iter().filter(|r| r.words == "degraded").count();
    let (headline, tone) = match (down, degraded) {
        (0, 0) => ("All systems operational", "ok"),
        (0, _) => ("Some systems are degraded", "flapping"),
        (d, _) if d == rows.len() => ("Major outage", "failing"),
        _ => ("Partial outage", "failing"),
    };
    let shown: std::collections::HashSet<&str> = page.services.iter().map(String::as_str).collect();
    let mut incidents: Vec<Ongoing> = ctx
        .open_incidents()
        .filter(|i| shown.contains(i.service.as_str()) && i.upstream_incident.is_none())
        .map(|i| Ongoing::of(i, page.show_titles))
        .collect();
    incidents.sort_by_key(|i| std::cmp::Reverse(i.opened_at));
    let page = StatusPage {
        title: page.title.clone(),
        headline,
        tone,
        rows,
        incidents,
        read_at: snapshot.read_at,
        windows: WINDOWS,
    };
    page.render().map(axum::body::Bytes::from).map_err(|e| e.to_string())
}
