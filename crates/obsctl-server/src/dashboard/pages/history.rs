//! Fix history: recent actions and their outcomes, and the fix-efficacy ledger's success rates
//! per incident cluster and fix.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use obsctl_core::action::Action;
use obsctl_core::memory::LedgerEntry;
use obsctl_store::ActionFilter;

use crate::AppState;
use crate::dashboard::session::Viewer;
use crate::dashboard::{Chrome, failed, render};

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    chrome: Chrome,
    ledger: Vec<LedgerEntry>,
    actions: Vec<Action>,
}

impl HistoryPage {
    fn steps(&self, e: &LedgerEntry) -> String {
        e.steps.iter().map(|s| s.tool.as_str()).collect::<Vec<_>>().join(" → ")
    }

    fn rate(&self, e: &LedgerEntry) -> String {
        if e.attempts == 0 {
            "-".into()
        } else {
            format!("{:.0}%", 100.0 * f64::from(e.successes) / f64::from(e.attempts))
        }
    }

    fn ttr(&self, e: &LedgerEntry) -> String {
        e.median_ttr_ms.map(|ms| format!("{:.1} s", ms as f64 / 1000.0)).unwrap_or_else(|| "-".into())
    }
}

pub async fn view_history_get(State(s): State<AppState>, Viewer(session): Viewer) -> Response {
    let ledger = match s.store.ledger(None).await {
        Ok(l) => l,
        Err(e) => return failed(e),
    };
    let actions = match s.store.list_actions(&ActionFilter { limit: 200, ..Default::default() }).await {
        Ok(a) => a,
        Err(e) => return failed(e),
    };
    render(&HistoryPage { chrome: Chrome::new(&s, &session, "Fix history"), ledger, actions })
}
