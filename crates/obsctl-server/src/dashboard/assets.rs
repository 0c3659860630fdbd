//! Static files served from the binary: vendored htmx and its SSE extension, and the stylesheet.
//! Names carry versions, so they are cached for a year.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const FILES: [(&str, &str, &[u8]); 3] = [
    ("htmx-2.0.8.min.js", "text/javascript", include_bytes!("../../assets/vendor/htmx-2.0.8.min.js")),
    ("htmx-ext-sse-2.2.4.min.js", "text/javascript", include_bytes!("../../assets/vendor/htmx-ext-sse-2.2.4.min.js")),
    ("style-1.css", "text/css", include_bytes!("../../assets/style.css")),
];

pub async fn view_asset_get(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, mime, body)) => {
            ([(header::CONTENT_TYPE, *mime), (header::CACHE_CONTROL, "public, max-age=31536000, immutable")], *body)
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
