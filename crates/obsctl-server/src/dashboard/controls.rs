//! The dashboard's controls: run a check now, approve or reject a pending plan, resolve an
//! incident by hand, silence a service or kind (now, or later as a maintenance window). Each one
//! calls the same agent method as the API and the CLI, so it passes the same gate and lands in
//! the audit log as `ui:<user>`. All need an operator session and the CSRF header.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::response::Response;
use obsctl_core::Timestamp;
use obsctl_core::quantity::parse_duration;
use serde::Deserialize;

use super::pages::approvals;
use super::render;
use super::session::Operator;
use crate::AppState;

#[derive(Deserialize)]
pub struct Reason {
    #[serde(default)]
    reason: String,
}

#[derive(Deserialize)]
pub struct Note {
    #[serde(default)]
    note: String,
}

#[derive(Deserialize)]
pub struct SilenceForm {
    #[serde(default)]
    service: String,
    #[serde(default)]
    kind: String,
    duration: String,
    /// `datetime-local` from the form (`2026-11-28T22:00`, UTC) or RFC 3339; empty means now.
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    reason: String,
}

fn by(op: &Operator) -> String {
    format!("ui:{}", op.0.user)
}

/// A short message where the control's result goes; errors are marked for the reader.
#[derive(Template)]
#[template(
    source = r#"<span class="{% if ok %}ok{% else %}error{% endif %}" role="status">{{ text }}</span>"#,
    ext = "html"
)]
struct Message {
    ok: bool,
    text: String,
}

fn message(ok: bool, text: impl std::fmt::Display) -> Response {
    render(&Message { ok, text: text.to_string() })
}

pub async fn view_run_check_post(
    State(s): State<AppState>,
    op: Operator,
    Path((service, name)): Path<(String, String)>,
) -> Response {
    let id = format!("{service}/{name}");
    tracing::info!(check = id, by = by(&op), "check run from the dashboard");
    match s.monitor.run_check(&id).await {
        Some((obs, status)) => message(
            obs.ok,
            format!(
                "{} in {:.1} ms: {} (now {})",
                if obs.ok { "ok" } else { "failed" },
                obs.latency_us as f64 / 1000.0,
                obs.detail,
                status.as_str()
            ),
        ),
        None => message(false, format!("no check {id}")),
    }
}

pub async fn view_approve_post(
    State(s): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
    Form(form): Form<Reason>,
) -> Response {
    match s.agent.approve(&id, &by(&op), form.reason.trim()).await {
        Ok(_) => approvals::list(&s, &op.0, None).await,
        Err(e) => approvals::list(&s, &op.0, Some(format!("not approved: {e}"))).await,
    }
}

pub async fn view_reject_post(
    State(s): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
    Form(form): Form<Reason>,
) -> Response {
    if form.reason.trim().is_empty() {
        return approvals::list(&s, &op.0, Some("say why it is rejected".into())).await;
    }
    match s.agent.reject(&id, &by(&op), form.reason.trim()).await {
        Ok(_) => approvals::list(&s, &op.0, None).await,
        Err(e) => approvals::list(&s, &op.0, Some(format!("not rejected: {e}"))).await,
    }
}

pub async fn view_resolve_post(
    State(s): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
    Form(form): Form<Note>,
) -> Response {
    match s.agent.resolve_by_hand(&id, &by(&op), form.note.trim()).await {
        Ok(()) => {
            let mut resp = message(true, "resolved");
            resp.headers_mut().insert("HX-Refresh", HeaderValue::from_static("true"));
            resp
        }
        Err(e) => message(false, format!("not resolved: {e}")),
    }
}

pub async fn view_silence_post(State(s): State<AppState>, op: Operator, Form(form): Form<SilenceForm>) -> Response {
    let duration = match parse_duration(form.duration.trim()) {
        Ok(d) => d,
        Err(e) => return message(false, format!("duration {e}")),
    };
    let starts_at = match form.starts_at.trim() {
        "" => None,
        t => match Timestamp::parse_rfc3339(t).or_else(|| Timestamp::parse_rfc3339(&format!("{t}:00Z"))) {
            Some(at) => Some(at),
            None => return message(false, format!("start {t:?} is not a time, e.g. 2026-11-28T22:00")),
        },
    };
    let service = Some(form.service.trim().to_string()).filter(|x| !x.is_empty());
    let kind = Some(form.kind.trim().to_string()).filter(|x| !x.is_empty());
    match s.agent.silence(service, kind, starts_at, duration, form.reason.trim(), &by(&op)).await {
        Ok(silence) => message(true, format!("silenced until {} ({})", silence.ends_at, silence.id)),
        Err(e) => message(false, format!("not silenced: {e}")),
    }
}
