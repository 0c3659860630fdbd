//! Static files served from the binary: vendored htmx and its SSE extension, and the stylesheet.
//! Names carry versions (the stylesheet's, a hash of its bytes), so they are cached for a year.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use std::sync::LazyLock;

const STYLE: &[u8] = include_bytes!("../../assets/style.css");

const FILES: [(&str, &str, &[u8]); 2] = [
    ("htmx-2.0.8.min.js", "text/javascript", include_bytes!("../../assets/vendor/htmx-2.0.8.min.js")),
    ("htmx-ext-sse-2.2.4.min.js", "text/javascript", include_bytes!("../../assets/vendor/htmx-ext-sse-2.2.4.min.js")),
];

/// The stylesheet's name, `style-<hash of its bytes>.css`: a new stylesheet is a new name, so
/// a browser never keeps last version's for a year.
pub fn stylesheet() -> &'static str {
    static NAME: LazyLock<String> = LazyLock::new(|| {
        format!(
            "style-{:08x}.css",
            obsctl_core::hash::fnv1a(obsctl_core::hash::FNV_OFFSET, STYLE.iter().copied()) as u32
        )
    });
    &NAME
}

pub async fn view_asset_get(Path(name): Path<String>) -> Response {
    let style = (stylesheet(), "text/css", STYLE);
    match FILES.iter().chain([&style]).find(|(n, _, _)| *n == name) {
        Some((_, mime, body)) => {
            ([(header::CONTENT_TYPE, *mime), (header::CACHE_CONTROL, "public, max-age=31536000, immutable")], *body)
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
