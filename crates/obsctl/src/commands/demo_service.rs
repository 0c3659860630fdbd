//! The service `obsctl demo` supervises: /health answers 200 "ok" until a poison file appears
//! that was not there when the process started; then 500, as a stuck worker would, until the
//! process is restarted.

use std::path::PathBuf;

use axum::http::StatusCode;

pub async fn run(port: u16, poison: PathBuf) -> anyhow::Result<u8> {
    let poisoned_at_start = poison.exists();
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(move || {
            let poison = poison.clone();
            async move {
                let stuck = !poisoned_at_start && poison.exists();
                if stuck {
                    (StatusCode::INTERNAL_SERVER_ERROR, "stuck: worker pool exhausted")
                } else {
                    (StatusCode::OK, "ok")
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(0)
}
