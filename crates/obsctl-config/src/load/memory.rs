//! Incident memory's settings: `[memory] instance`, `[agent.memory]` (when a remembered fix is
//! proven, and what evidence from other instances counts for) and `[memory.sync]` (pushing this
//! instance's episodes to a central obsctl and pulling the others'; on a central,
//! `[[memory.peer]]`, the edges and their sync tokens). The original system's
//! variables work too: `MEMORY_SYNC_ENABLED` (true/false) switches sync, `MEMORY_SYNC_URL` and
//! `MEMORY_SYNC_TOKEN` fill what the file leaves out.

use std::time::Duration;

use super::Validator;
use crate::raw::{RawConfig, RawMemory, S};
use crate::{MemoryConfig, MemoryPeer, MemorySyncConfig};
use obsctl_core::secret::Secret;

impl Validator<'_, '_> {
    /// `[memory] instance`: 1 to 64 letters, digits, `-`, `_` or `.`.
    pub(super) fn memory_instance(&mut self, raw: &RawConfig) -> Option<String> {
        let spanned = raw.memory.instance.as_ref()?;
        let name = spanned.get_ref();
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            self.p.at(
                Some(spanned.span()),
                "memory.instance",
                "use 1 to 64 letters, digits, '-', '_' or '.', e.g. \"edge-paris\"",
            );
        }
        valid.then(|| name.to_string())
    }

    /// `[[memory.peer]]`: each edge's instance name (unique) and its token (16 characters at least).
    pub(super) fn memory_peers(&mut self, raw: &RawConfig) -> Vec<MemoryPeer> {
        let mut peers: Vec<MemoryPeer> = Vec::new();
        for (i, p) in raw.memory.peers.iter().enumerate() {
            let (instance, token) = (p.instance.get_ref(), p.token.get_ref());
            if peers.iter().any(|known| &known.instance == instance) {
                self.p.at(Some(p.instance.span()), format!("memory.peer[{i}].instance"), "a second peer has this name");
            } else if token.chars().count() < 16 {
                self.p.at(
                    Some(p.token.span()),
                    format!("memory.peer[{i}].token"),
                    "use at least 16 characters, e.g. `openssl rand -hex 24`",
                );
            } else {
                peers.push(MemoryPeer { instance: instance.clone(), token: Secret::new(token.clone()) });
            }
        }
        peers
    }

    pub(super) fn agent_memory(&mut self, m: &RawMemory) -> MemoryConfig {
        MemoryConfig {
            min_success: self.share(m.min_success.as_ref(), "agent.memory.min_success", "e.g. 0.8", 0.8),
            min_attempts: m.min_attempts.unwrap_or(2).max(1),
            shared_evidence: self.share(
                m.shared_evidence.as_ref(),
                "agent.memory.shared_evidence",
                "0 counts this instance's evidence only, e.g. 0.5",
                0.5,
            ),
        }
    }

    /// A share between 0 and 1, or `default` (with the problem noted) when it is outside.
    fn share(&mut self, value: Option<&S<f64>>, field: &str, hint: &str, default: f64) -> f64 {
        match value {
            Some(v) if !(0.0..=1.0).contains(v.get_ref()) => {
                self.p.at(Some(v.span()), field, format!("must be between 0 and 1; {hint}"));
                default
            }
            Some(v) => *v.get_ref(),
            None => default,
        }
    }

    pub(super) fn memory_sync(&mut self, raw: &RawConfig) -> Option<MemorySyncConfig> {
        let r = raw.memory.sync.as_ref();
        let enabled = match self.env_var("MEMORY_SYNC_ENABLED") {
            Some(v) if matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes") => Some(true),
            Some(v) if matches!(v.to_ascii_lowercase().as_str(), "0" | "false" | "no") => Some(false),
            Some(v) => {
                self.p.at(None, "MEMORY_SYNC_ENABLED", format!("{v:?}: use true or false"));
                None
            }
            None => None,
        };
        let enabled = enabled.or(r.and_then(|r| r.enabled)).unwrap_or(r.is_some());
        if !enabled {
            return None;
        }
        let url =
            r.and_then(|r| r.url.as_ref().map(|u| u.get_ref().clone())).or_else(|| self.env_var("MEMORY_SYNC_URL"));
        let Some(url) = url else {
            self.p.at(
                None,
                "memory.sync.url",
                "memory sync is enabled but has no central: set [memory.sync] url = \"https://central:5555\" (or MEMORY_SYNC_URL)",
            );
            return None;
        };
        let span = r.and_then(|r| r.url.as_ref().map(|u| u.span()));
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            self.p.at(span, "memory.sync.url", format!("{url:?} is not an http(s) URL; e.g. \"https://central:5555\""));
        } else if url.starts_with("http://") && !loopback_url(&url) && !r.and_then(|r| r.allow_http).unwrap_or(false) {
            self.p.at(
                span,
                "memory.sync.url",
                format!(
                    "{url:?} would send the sync token and every episode across the network in clear; use https://, \
                     a loopback address (e.g. a tunnel), or set [memory.sync] allow_http = true on a network you trust"
                ),
            );
        }
        let token = r
            .and_then(|r| r.token.as_ref().map(|t| t.get_ref().clone()))
            .or_else(|| self.env_var("MEMORY_SYNC_TOKEN"))
            .filter(|t| !t.is_empty())
            .map(Secret::new);
        let interval =
            self.duration(r.and_then(|r| r.interval.as_ref()), "memory.sync.interval", Duration::from_secs(60));
        Some(MemorySyncConfig {
            url: url.trim_end_matches('/').to_string(),
            token,
            interval: interval.max(Duration::from_secs(1)),
        })
    }
}

/// Whether an `http://` URL's host is this machine (`localhost`, `127.0.0.0/8`, `[::1]`).
fn loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::{LoadOptions, load};

    fn load_with(text: &str, env: &[(&str, &str)]) -> Result<crate::Config, String> {
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        load(text, &env, &LoadOptions { file: "obsctl.toml", known_tools: &[] }).map_err(|e| e.to_string())
    }

    #[test]
    fn the_file_or_the_original_variables_turn_it_on() {
        let c = load_with("[memory.sync]\nurl = \"https://central:5555/\"\ntoken = \"t\"\ninterval = \"30s\"\n", &[])
            .unwrap();
        let sync = c.memory_sync.clone().unwrap();
        assert_eq!((sync.url.as_str(), sync.interval.as_secs()), ("https://central:5555", 30));
        assert!(c.secrets().iter().any(|s| s.expose() == "t"), "the token is a secret");
        let c =
            load_with("", &[("MEMORY_SYNC_ENABLED", "true"), ("MEMORY_SYNC_URL", "http://127.0.0.1:5555")]).unwrap();
        assert_eq!(c.memory_sync.unwrap().url, "http://127.0.0.1:5555");
        let off = load_with("[memory.sync]\nurl = \"http://c:5555\"\n", &[("MEMORY_SYNC_ENABLED", "false")]).unwrap();
        assert!(off.memory_sync.is_none());
        assert!(load_with("", &[]).unwrap().memory_sync.is_none());
    }

    #[test]
    fn mistakes_name_the_field_and_the_fix() {
        let err = load_with("", &[("MEMORY_SYNC_ENABLED", "true")]).unwrap_err();
        assert!(err.contains("memory.sync.url") && err.contains("MEMORY_SYNC_URL"), "{err}");
        let err = load_with("[memory.sync]\nurl = \"central:5555\"\n", &[]).unwrap_err();
        assert!(err.contains(":2: memory.sync.url") && err.contains("not an http(s) URL"), "{err}");
        // Issue 26, finding 4: the token and episodes in clear beyond this machine.
        let err = load_with("[memory.sync]\nurl = \"http://central:5555\"\n", &[]).unwrap_err();
        assert!(err.contains(":2: memory.sync.url") && err.contains("in clear") && err.contains("allow_http"), "{err}");
        for fine in ["http://localhost:5555", "http://[::1]:5555", "https://central:5555"] {
            assert!(load_with(&format!("[memory.sync]\nurl = \"{fine}\"\n"), &[]).is_ok(), "{fine}");
        }
        assert!(load_with("[memory.sync]\nurl = \"http://central:5555\"\nallow_http = true\n", &[]).is_ok());
        let err = load_with("", &[("MEMORY_SYNC_ENABLED", "maybe")]).unwrap_err();
        assert!(err.contains("MEMORY_SYNC_ENABLED"), "{err}");
        let err = load_with("[memory]\ninstance = \"edge paris\"\n", &[]).unwrap_err();
        assert!(err.contains(":2: memory.instance"), "{err}");
        let err = load_with("[agent.memory]\nshared_evidence = 2.0\n", &[]).unwrap_err();
        assert!(err.contains("agent.memory.shared_evidence"), "{err}");
    }
}
