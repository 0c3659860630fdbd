//! An endpoint URL taken apart as far as the rules need: scheme, host, port (given or the
//! scheme's) and path. Anything else is an error in words.

/// A parsed `http(s)://host[:port][/path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: String,
    pub host: String,
    /// The port written in the URL, if any.
    pub port: Option<u16>,
    pub path: String,
}

impl Endpoint {
    /// Parses `text`, or says what is wrong with it.
    pub fn parse(text: &str) -> Result<Endpoint, String> {
        if text.chars().any(char::is_whitespace) {
            return Err("contains a space".into());
        }
        let (scheme, rest) = text.split_once("://").ok_or("has no scheme; write http:// or https:// first")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!("has the scheme {scheme:?}; OTLP over HTTP and gRPC both take http:// or https://"));
        }
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']').ok_or("has an unclosed [ in its host")?;
                (format!("[{host}]"), after.strip_prefix(':'))
            }
            None => match authority.rsplit_once(':') {
                Some((host, port)) => (host.to_string(), Some(port)),
                None => (authority.to_string(), None),
            },
        };
        if host.is_empty() || host == "[]" {
            return Err("has no host".into());
        }
        let port = match port {
            None => None,
            Some(p) => {
                Some(p.parse::<u16>().ok().filter(|p| *p > 0).ok_or(format!("has the port {p:?}, not 1 to 65535"))?)
            }
        };
        Ok(Endpoint { scheme, host, port, path: path.to_string() })
    }

    /// The port used: the written one, or the scheme's (80, 443).
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(if self.scheme == "https" { 443 } else { 80 })
    }
}

/// `%20` and the like decoded; a malformed escape is kept as it is.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_or_say_why_not() {
        let e = Endpoint::parse("http://collector:4318/v1/traces").unwrap();
        assert_eq!((e.host.as_str(), e.port, e.path.as_str()), ("collector", Some(4318), "/v1/traces"));
        assert_eq!(Endpoint::parse("https://[::1]").unwrap().effective_port(), 443);
        assert_eq!(Endpoint::parse("HTTP://u:p@h:1").unwrap().scheme, "http");
        for (bad, why) in [
            ("collector:4317", "no scheme"),
            ("grpc://c:4317", "scheme \"grpc\""),
            ("http://:4318", "no host"),
            ("http://c:99999", "not 1 to 65535"),
            ("http://c :4318", "space"),
        ] {
            assert!(Endpoint::parse(bad).unwrap_err().contains(why), "{bad}");
        }
    }
}
