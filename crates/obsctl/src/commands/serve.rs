//! `obsctl serve`: scheduler, agent, the JSON API, the dashboard and the MCP gateway until
//! Ctrl-C or SIGTERM.

use std::path::Path;

use anyhow::Context;
use obsctl_core::policy::Mode;

use crate::runtime::Runtime;

pub async fn run(config: Option<&Path>, listen: Option<String>, mcp_listen: Option<String>) -> anyhow::Result<u8> {
    let mut signals = StopSignals::listen();
    let mut config = crate::settings::load_or_host(config)?;
    if let Some(l) = listen {
        config.server.listen = l;
    }
    match mcp_listen.as_deref() {
        None => {}
        Some("off") => config.mcp.listen = None,
        Some(addr) => {
            addr.parse::<std::net::SocketAddr>()
                .map_err(|_| anyhow::anyhow!("--mcp-listen {addr:?} is not host:port (or off)"))?;
            config.mcp.listen = Some(addr.to_string());
        }
    }
    let mut rt = Runtime::build(config, Mode::Auto).await?;
    serve_until_signal(&mut rt, &mut signals, || {}).await?;
    rt.stop().await;
    Ok(0)
}

/// Starts the loops and the API, and waits for Ctrl-C / SIGTERM (shared with `demo --keep-running`).
/// Serves until SIGINT or SIGTERM; `listening` runs once the dashboard and API accept connections.
pub async fn serve_until_signal(
    rt: &mut Runtime,
    signals: &mut StopSignals,
    listening: impl FnOnce(),
) -> anyhow::Result<()> {
    let addr = rt.config.server.listen.clone();
    refuse_open_exposure(&addr, rt.config.server.has_credentials())?;
    let listener = tokio::net::TcpListener::bind(&addr).await.with_context(|| {
        format!("cannot listen on {addr}; is another obsctl running? set [server] listen or --listen")
    })?;
    let gateway = match &rt.config.mcp.listen {
        // The HTTP gateway lets clients act, so it opens only with a credential; without one,
        // `serve` goes on without it and says how to open it (stdio `obsctl mcp` needs none:
        // its parent started it).
        Some(addr) if obsctl_server::mcp::gateway_credentials(&rt.app_state()).is_empty() => {
            tracing::warn!(
                "MCP gateway off: it opens only with a token; set OBSCTL_MCP_TOKEN (or OBSCTL_API_TOKEN) to serve \
                 http://{addr}/mcp, or use `obsctl mcp` over stdio"
            );
            None
        }
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
                format!("cannot listen on {addr} for the MCP gateway; set [mcp] listen, --mcp-listen, or off")
            })?;
            Some(listener)
        }
        None => None,
    };
    rt.start().await?;
    if let Some(listener) = gateway {
        let mut stop = rt.shutdown_signal();
        tracing::info!(mcp = %format!("http://{}/mcp", listener.local_addr()?), "MCP gateway serving");
        tokio::spawn(obsctl_server::mcp::serve_http(rt.app_state(), listener, async move {
            let _ = stop.changed().await;
        }));
    }
    let app = obsctl_server::router(rt.app_state());
    tracing::info!(
        dashboard = %format!("http://{addr}/ui"),
        api = %format!("http://{addr}/api/status"),
        checks = rt.config.checks.len(),
        mode = rt.config.agent.mode.as_str(),
        auth = rt.config.server.token.is_some(),
        "obsctl serving"
    );
    if rt.config.server.token.is_none() {
        tracing::warn!("no API token set: mutating endpoints answer 403; set OBSCTL_API_TOKEN to enable them");
    }
    let mut stop = rt.shutdown_signal();
    // The server stops gracefully when `Runtime::stop` signals shutdown.
    tokio::spawn(obsctl_server::serve(listener, app, async move {
        let _ = stop.changed().await;
    }));
    listening();
    signals.wait().await;
    tracing::info!("shutting down");
    Ok(())
}

/// Listening beyond loopback with no way to log in would publish the dashboard and API to the
/// network with no owner: refuse, and say how to fix it.
pub fn refuse_open_exposure(addr: &str, has_credentials: bool) -> anyhow::Result<()> {
    anyhow::ensure!(
        is_loopback(addr) || has_credentials,
        "refusing to listen on {addr} without credentials: anyone on the network could read the dashboard; \
         set OBSCTL_API_TOKEN, add a [[dashboard.user]] (`obsctl dashboard hash-password` makes its hash), \
         or listen on 127.0.0.1"
    );
    Ok(())
}

fn is_loopback(addr: &str) -> bool {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).trim_matches(['[', ']']);
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The signals `serve` answers, listened to from its first moment: SIGINT and SIGTERM stop it
/// gracefully, its supervised services with it; SIGHUP (a closed terminal, a reload by habit) is
/// logged and never fatal. One that comes during start-up waits until serving can stop, instead
/// of ending the process on the spot with its services' processes left running.
pub struct StopSignals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    hangup: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    pub fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
                hangup: signal(SignalKind::hangup()).ok(),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Returns at SIGINT or SIGTERM (at once for one that came since `listen`).
    async fn wait(&mut self) {
        #[cfg(unix)]
        loop {
            tokio::select! {
                () = next(&mut self.interrupt) => return,
                () = next(&mut self.terminate) => return,
                () = next(&mut self.hangup) => tracing::warn!(
                    "SIGHUP: serving on (a config reload is not implemented yet; restart to apply a changed config)"
                ),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The next delivery of `signal`; never, when it could not be listened to.
#[cfg(unix)]
async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
    let heard = match signal {
        Some(s) => s.recv().await.is_some(),
        None => false,
    };
    if !heard {
        std::future::pending::<()>().await;
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::StopSignals;

    /// A SIGTERM that comes during start-up (after `listen`, before serving waits) does not end
    /// the process; the wait answers it at once, so serve stops its services gracefully.
    #[tokio::test]
    async fn a_stop_signal_during_start_up_is_kept_until_serving_waits() {
        let mut signals = StopSignals::listen();
        for signal in ["-HUP", "-TERM"] {
            let sent = std::process::Command::new("kill").args([signal, &std::process::id().to_string()]).status();
            assert!(sent.unwrap().success());
        }
        let waited = tokio::time::timeout(std::time::Duration::from_secs(10), signals.wait()).await;
        assert!(waited.is_ok(), "the SIGTERM sent before the wait was not kept");
    }
}
