//! The one way obsctl builds an outgoing HTTP client. reqwest takes rustls' process-wide crypto
//! provider, so it is installed here, once, before any client is built (ring: no C toolchain
//! beyond cc, and the only provider `deny.toml` allows).

use std::sync::Once;

/// A client builder with the crypto provider in place and obsctl's user agent; no proxy from
/// the environment (a check must reach what it names). Callers add their own timeouts.
pub fn http_client() -> reqwest::ClientBuilder {
    static PROVIDER: Once = Once::new();
    PROVIDER.call_once(|| {
        // Another install first (an embedding program's) is fine: any provider will do.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder().no_proxy().user_agent(concat!("obsctl/", env!("CARGO_PKG_VERSION")))
}

/// At most `max` bytes of a response's body, and whether there was more (the rest is never
/// read into memory). A body cut by the transport is an error.
pub async fn read_capped(mut resp: reqwest::Response, max: usize) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = max.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if chunk.len() > room {
            return Ok((body, true));
        }
    }
    Ok((body, false))
}

/// A short reason for a transport error, without the URL repeated.
pub fn describe_error(e: &reqwest::Error) -> String {
    let mut msg = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else if e.is_body() || e.is_decode() {
        "bad response body".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg = format!("{msg}: {s}");
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    #[test]
    fn clients_build_without_any_other_setup() {
        assert!(super::http_client().build().is_ok());
        assert!(super::http_client().build().is_ok());
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
