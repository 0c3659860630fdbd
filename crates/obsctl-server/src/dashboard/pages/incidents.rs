//! Incidents: a filtered list that reloads when incidents change (SSE), and an incident's page
//! with its full timeline (signals, recall, plan and provenance, gate decisions, actions,
//! verification, outcome), its actions, and resolve-by-hand.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use obsctl_core::action::{Action, ActionState};
use obsctl_core::incident::{Incident, IncidentEvent, IncidentStatus};
use obsctl_core::timeline::{AlertEntry, data_of};
use obsctl_store::{ActionFilter, IncidentFilter};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::dashboard::session::Viewer;
use crate::dashboard::when::{Lasting, Readable};
use crate::dashboard::{Chrome, failed, render};

#[derive(Deserialize, Serialize, Default)]
pub struct Filters {
    #[serde(default)]
    status: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    kind: String,
}

impl Filters {
    /// The filters as a query string, for the list's reloads.
    fn query(&self) -> String {
        serde_urlencoded::to_string(self).unwrap_or_default()
    }

    fn store_filter(&self) -> IncidentFilter {
        IncidentFilter {
            status: IncidentStatus::parse(&self.status),
            service: Some(self.service.clone()).filter(|s| !s.is_empty()),
            kind: Some(self.kind.clone()).filter(|s| !s.is_empty()),
            limit: 200,
        }
    }
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct IncidentsPage {
    chrome: Chrome,
    filters: Filters,
    query: String,
    services: Vec<String>,
    incidents: Vec<Incident>,
}

#[derive(Template)]
#[template(path = "_incident_rows.html")]
struct IncidentRows {
    incidents: Vec<Incident>,
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    chrome: Chrome,
    incident: Incident,
    events: Vec<IncidentEvent>,
    actions: Vec<Action>,
}

impl IncidentPage {
    /// An event's structured data, when it has any, for the reader who wants the detail.
    /// For an alert's incident: its source and the link back to it (http(s) only, so a
    /// sender cannot plant a `javascript:` link).
    fn source(&self) -> Option<(&'static str, String)> {
        let (source, _) = obsctl_core::alert::parse_check_id(&self.incident.check_id)?;
        let url = self.events.iter().find_map(|e| data_of::<AlertEntry>(&e.data)?.source_url);
        Some((
            source.as_str(),
            url.filter(|u| u.starts_with("http://") || u.starts_with("https://")).unwrap_or_default(),
        ))
    }

    /// Why a step stands as it does, in words: the person who decided and their reason, or
    /// the gate's (the agent's own decisions are the gate's: "mode approve: waiting for a
    /// person" is no approval).
    fn why(&self, a: &Action) -> String {
        let reason = a.reason.trim();
        match a.decided_by.as_deref().filter(|by| *by != "agent") {
            Some(by) => {
                let who = by.strip_prefix("ui:").or_else(|| by.strip_prefix("api:")).unwrap_or(by);
                let verb = match a.state {
                    ActionState::Rejected => "rejected",
                    ActionState::Cancelled => "cancelled",
                    _ => "approved",
                };
                if reason.is_empty() { format!("{verb} by {who}") } else { format!("{verb} by {who}: {reason}") }
            }
            None if reason.is_empty() => a.gate.clone().unwrap_or_default().replace('_', " "),
            None => reason.to_string(),
        }
    }

    fn data(&self, e: &IncidentEvent) -> String {
        if e.data.is_null() || e.data.as_object().is_some_and(|o| o.is_empty()) {
            String::new()
        } else {
            serde_json::to_string(&e.data).unwrap_or_default()
        }
    }
}

pub async fn view_incidents_get(
    State(s): State<AppState>,
    Viewer(session): Viewer,
    Query(f): Query<Filters>,
) -> Response {
    match s.store.list_incidents(&f.store_filter()).await {
        Ok(incidents) => render(&IncidentsPage {
            chrome: Chrome::new(&s, &session, "Incidents"),
            query: f.query(),
            services: s.config.services.iter().map(|x| x.name.clone()).collect(),
            filters: f,
            incidents,
        }),
        Err(e) => failed(e),
    }
}

pub async fn view_incidents_list_get(State(s): State<AppState>, _viewer: Viewer, Query(f): Query<Filters>) -> Response {
    match s.store.list_incidents(&f.store_filter()).await {
        Ok(incidents) => render(&IncidentRows { incidents }),
        Err(e) => failed(e),
    }
}

pub async fn view_incident_get(State(s): State<AppState>, Viewer(session): Viewer, Path(id): Path<String>) -> Response {
    let incident = match s.store.incident(&id).await {
        Ok(i) => i,
        Err(obsctl_store::StoreError::NotFound(_)) => {
            return (StatusCode::NOT_FOUND, format!("no incident {id}")).into_response();
        }
        Err(e) => return failed(e),
    };
    let events = match s.store.events(&id).await {
        Ok(e) => e,
        Err(e) => return failed(e),
    };
    let filter = ActionFilter { incident_id: Some(id.clone()), limit: 200, ..Default::default() };
    let actions = match s.store.list_actions(&filter).await {
        Ok(a) => a,
        Err(e) => return failed(e),
    };
    render(&IncidentPage { chrome: Chrome::new(&s, &session, "Incidents"), incident, events, actions })
}
