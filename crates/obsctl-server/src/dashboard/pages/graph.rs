//! The graph page: the service graph as a picture (`graph_picture.rs`), coloured by the cards'
//! states, with root-cause candidates and blast radius marked for every failing service or for
//! the one chosen in the URL (`?focus=api`), and the same in words.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;

use crate::AppState;
use crate::dashboard::cards::{self, Context};
use crate::dashboard::graph_picture::{Marks, Node, draw, marks};
use crate::dashboard::session::Viewer;
use crate::dashboard::{Chrome, failed, render};

#[derive(Template)]
#[template(path = "graph.html")]
struct GraphPage {
    chrome: Chrome,
    picture: String,
    marks: Marks,
    focus: String,
    services: Vec<String>,
    failing: usize,
}

#[derive(serde::Deserialize)]
pub struct Focus {
    #[serde(default)]
    focus: String,
}

pub async fn view_graph_get(State(s): State<AppState>, Viewer(session): Viewer, Query(f): Query<Focus>) -> Response {
    let ctx = match Context::load(&s, None).await {
        Ok(ctx) => ctx,
        Err(e) => return failed(e),
    };
    let states: std::collections::HashMap<String, &'static str> =
        cards::all(&s, &ctx).into_iter().map(|c| (c.name, c.state)).collect();
    let nodes: Vec<Node<'_>> = s
        .config
        .services
        .iter()
        .map(|svc| Node {
            name: &svc.name,
            state: states.get(&svc.name).copied().unwrap_or("unknown"),
            depends_on: &svc.depends_on,
        })
        .collect();
    let focus = f.focus.trim().to_string();
    let marks = marks(&nodes, Some(focus.as_str()).filter(|f| !f.is_empty()));
    let failing = nodes.iter().filter(|n| matches!(n.state, "failing" | "flapping" | "suppressed")).count();
    render(&GraphPage {
        chrome: Chrome::new(&s, &session, "Graph"),
        picture: draw(&nodes, &marks),
        marks,
        focus,
        services: s.config.services.iter().map(|x| x.name.clone()).collect(),
        failing,
    })
}
