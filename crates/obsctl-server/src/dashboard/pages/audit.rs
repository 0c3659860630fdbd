//! The audit log: every gate decision and every human control, newest first.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use obsctl_core::action::AuditRecord;

use crate::AppState;
use crate::dashboard::session::Viewer;
use crate::dashboard::when::Readable;
use crate::dashboard::{Chrome, failed, render};

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    records: Vec<AuditRecord>,
}

pub async fn view_audit_get(State(s): State<AppState>, Viewer(session): Viewer) -> Response {
    match s.store.audit_log(500).await {
        Ok(records) => render(&AuditPage { chrome: Chrome::new(&s, &session, "Audit"), records }),
        Err(e) => failed(e),
    }
}
