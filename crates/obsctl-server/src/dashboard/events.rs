//! `GET /ui/events`: the Server-Sent Events stream each open page listens to. Messages are
//! rendered once by `Live` and only forwarded here; a browser that falls behind is told to
//! refresh its lists rather than slowing the others down.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use tokio_stream::Stream;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use super::session::Viewer;
use crate::AppState;

pub async fn view_events_get(
    State(s): State<AppState>,
    _viewer: Viewer,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = BroadcastStream::new(s.ui.live.subscribe()).map(|push| {
        Ok(match push {
            Ok(push) => Event::default().event(push.event).data(&*push.data),
            // Fell behind: whatever was missed, the lists reload.
            Err(_) => Event::default().event("incidents").data("missed"),
        })
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
