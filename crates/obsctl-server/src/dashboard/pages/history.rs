//! Fix history: recent actions and their outcomes, and the fix-efficacy ledger's success rates
//! per incident cluster and fix.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use std::collections::HashMap;
use std::time::Duration;

use obsctl_core::action::Action;
use obsctl_core::incident::Incident;
use obsctl_core::memory::LedgerEntry;
use obsctl_store::ActionFilter;

use crate::AppState;
use crate::dashboard::session::Viewer;
use crate::dashboard::when::{Readable, duration};
use crate::dashboard::{Chrome, failed, render};

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    chrome: Chrome,
    ledger: Vec<LedgerEntry>,
    actions: Vec<Action>,
    /// The incidents of those actions, by id.
    incidents: HashMap<String, Incident>,
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

    /// The incident an action was for, in words: its title and whether it is still open.
    fn incident(&self, a: &Action) -> (String, &'static str) {
        match self.incidents.get(&a.incident_id) {
            Some(i) => (i.title.clone(), i.status.as_str()),
            None => (a.incident_id.clone(), "unknown"),
        }
    }

    fn ttr(&self, e: &LedgerEntry) -> String {
        e.median_ttr_ms.map(|ms| duration(Duration::from_millis(ms.max(0) as u64))).unwrap_or_else(|| "-".into())
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
    let mut incidents = HashMap::new();
    for a in &actions {
        if !incidents.contains_key(&a.incident_id)
            && let Ok(incident) = s.store.incident(&a.incident_id).await
        {
            incidents.insert(a.incident_id.clone(), incident);
        }
    }
    render(&HistoryPage { chrome: Chrome::new(&s, &session, "Fix history"), ledger, actions, incidents })
}
