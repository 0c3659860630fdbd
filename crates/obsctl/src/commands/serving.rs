//! `obsctl health --serving`: whether the `serve` this config describes answers on its API
//! (`/healthz`), for container health checks and scripts; exit 1 if it does not.

use std::path::Path;
use std::time::Duration;

pub async fn run(config: Option<&Path>) -> anyhow::Result<u8> {
    let config = crate::settings::load_or_host(config)?;
    let url = format!("http://{}/healthz", reachable(&config.server.listen));
    let answer = obsctl_host::http_client().timeout(Duration::from_secs(3)).build()?.get(&url).send().await;
    match answer {
        Ok(answer) if answer.status().is_success() => {
            println!("serving: {url} answered {}", answer.status().as_u16());
            Ok(0)
        }
        Ok(answer) => {
            println!("not serving: {url} answered {}", answer.status());
            Ok(1)
        }
        Err(error) => {
            println!("not serving: {url}: {}", obsctl_host::describe_error(&error));
            Ok(1)
        }
    }
}

/// Where to reach a listener bound to `listen`: a wildcard address is reached on loopback.
fn reachable(listen: &str) -> String {
    match listen.rsplit_once(':') {
        Some(("0.0.0.0", port)) => format!("127.0.0.1:{port}"),
        Some(("[::]", port)) => format!("[::1]:{port}"),
        _ => listen.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_wildcard_listener_is_reached_on_loopback() {
        assert_eq!(super::reachable("0.0.0.0:5555"), "127.0.0.1:5555");
        assert_eq!(super::reachable("[::]:5555"), "[::1]:5555");
        assert_eq!(super::reachable("10.0.0.7:5555"), "10.0.0.7:5555");
    }
}
