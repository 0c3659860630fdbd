//! `[[mcp_server]]`: external MCP servers, each reached over stdio (a command obsctl starts) or
//! streamable HTTP (a URL), with a policy for its tools.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use super::super::raw::{RawConfig, RawMcpServer, S};
use super::Validator;
use crate::*;

/// Names an external server may not take: its tools would shadow the builtin ones.
const RESERVED: &[&str] = &["fs", "http", "notify", "process", "command", "obsctl", "docker"];
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl Validator<'_, '_> {
    pub(super) fn mcp_servers(&mut self, raw: &RawConfig) -> Vec<McpServerConfig> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (i, s) in raw.mcp_servers.iter().enumerate() {
            let path = format!("mcp_server[{i}]");
            let name = s.name.get_ref();
            let well_formed = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !well_formed {
                self.p.at(
                    Some(s.name.span()),
                    format!("{path}.name"),
                    format!("{name:?} is not a server name; use lowercase letters, digits, - and _ (its tools become <name>.<tool>)"),
                );
            } else if RESERVED.contains(&name.as_str()) {
                self.p.at(
                    Some(s.name.span()),
                    format!("{path}.name"),
                    format!("{name:?} is the prefix of obsctl's own tools; pick another name, e.g. \"{name}-mcp\""),
                );
            } else if !seen.insert(name.clone()) {
                self.p.at(Some(s.name.span()), format!("{path}.name"), format!("a second server is named {name:?}"));
            }
            let policy = s.policy.as_ref().and_then(|p| self.policy(p, &format!("{path}.policy")));
            let tools: BTreeMap<String, ToolPolicy> = s
                .tools
                .iter()
                .filter_map(|(tool, p)| Some((tool.clone(), self.policy(p, &format!("{path}.tools.{tool}"))?)))
                .collect();
            let timeout = self.duration(s.timeout.as_ref(), &format!("{path}.timeout"), DEFAULT_TIMEOUT);
            let Some(transport) = self.transport(s, &path) else { continue };
            out.push(McpServerConfig { name: name.clone(), transport, policy, tools, timeout });
        }
        out
    }

    fn transport(&mut self, s: &RawMcpServer, path: &str) -> Option<McpTransport> {
        let secrets =
            |map: &BTreeMap<String, String>| map.iter().map(|(k, v)| (k.clone(), Secret::new(v.clone()))).collect();
        match (&s.command, &s.url) {
            (Some(command), None) => {
                let mut env: BTreeMap<String, Secret> = secrets(&s.env);
                // A server started by a package runner (npx, uvx) needs a home for its cache.
                if let Some(home) = self.env.get("HOME").filter(|_| !env.contains_key("HOME")) {
                    env.insert("HOME".into(), Secret::new(home.clone()));
                }
                Some(McpTransport::Stdio { command: command.get_ref().clone(), args: s.args.clone(), env })
            }
            (None, Some(url)) => {
                let u = url.get_ref();
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    self.p.at(
                        Some(url.span()),
                        format!("{path}.url"),
                        format!("{u:?} is not an http(s) URL; write e.g. \"http://127.0.0.1:3001/mcp\""),
                    );
                    return None;
                }
                Some(McpTransport::Http { url: u.clone(), headers: secrets(&s.headers) })
            }
            (Some(_), Some(url)) => {
                self.p.at(
                    Some(url.span()),
                    format!("{path}.url"),
                    "give either command (stdio) or url (HTTP), not both",
                );
                None
            }
            (None, None) => {
                self.p.at(
                    Some(s.name.span()),
                    path.to_string(),
                    "needs command = \"...\" (a server obsctl starts) or url = \"http://...\" (one that runs)",
                );
                None
            }
        }
    }

    fn policy(&mut self, value: &S<String>, field: &str) -> Option<ToolPolicy> {
        let parsed = ToolPolicy::parse(value.get_ref());
        if parsed.is_none() {
            self.p.at(
                Some(value.span()),
                field,
                format!("{:?} is not a policy; use read, allow, approve or deny", value.get_ref()),
            );
        }
        parsed
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;

    use crate::{LoadOptions, McpTransport, ToolPolicy, load};

    const TOOLS: &[&str] = &["fs.usage", "process.restart"];

    fn try_load(text: &str) -> Result<crate::Config, String> {
        let env = HashMap::from([("HOME".to_string(), "/home/ops".to_string())]);
        load(text, &env, &LoadOptions { file: "m.toml", known_tools: TOOLS }).map_err(|e| e.to_string())
    }

    #[test]
    fn servers_load_with_their_transport_policy_and_secrets() {
        let c = try_load(
            r#"
[[mcp_server]]
name = "files"
command = "npx"
args = ["-y", "@modelcontextprotocol/server-filesystem", "/srv"]
env = { API_KEY = "k-123-secret" }
tools = { read_file = "read", write_file = "approve", move_file = "deny" }
[[mcp_server]]
name = "everything"
url = "http://127.0.0.1:3001/mcp"
headers = { Authorization = "Bearer hdr-secret" }
policy = "allow"
timeout = "5s"
[[runbook]]
name = "read"
when = { incident = "http-down" }
steps = [{ tool = "files.read_file", args = { path = "/srv/a" } }]
"#,
        )
        .unwrap();
        let files = &c.mcp_servers[0];
        let McpTransport::Stdio { command, args, env } = &files.transport else { panic!("{files:?}") };
        assert_eq!((command.as_str(), args.len()), ("npx", 3));
        assert_eq!(env["HOME"].expose(), "/home/ops");
        assert_eq!(files.policy_for("read_file"), ToolPolicy::Read);
        // Unlisted (a tool the server added or renamed): approve, whatever it claims to be.
        assert_eq!(files.policy_for("create_directory"), ToolPolicy::Approve);
        assert_eq!(files.policy_for("move_file"), ToolPolicy::Deny);
        assert_eq!(c.mcp_servers[1].policy_for("anything"), ToolPolicy::Allow);
        assert_eq!(c.mcp_servers[1].timeout, std::time::Duration::from_secs(5));
        let secrets: Vec<&str> = c.secrets().iter().map(|s| s.expose()).collect();
        assert!(secrets.contains(&"k-123-secret") && secrets.contains(&"Bearer hdr-secret"), "{secrets:?}");
        assert!(!format!("{c:?}").contains("hdr-secret"));
    }

    #[test]
    fn bad_servers_are_refused_with_the_fix() {
        let err = try_load(
            r#"
[[mcp_server]]
name = "fs"
command = "x"
[[mcp_server]]
name = "both"
command = "x"
url = "http://h/mcp"
[[mcp_server]]
name = "neither"
[[mcp_server]]
name = "bad-policy"
url = "ftp://h"
policy = "sometimes"
[[runbook]]
name = "r"
when = { incident = "http-down" }
steps = [{ tool = "nobody.tool" }]
"#,
        )
        .unwrap_err();
        for expected in [
            "mcp_server[0].name",
            "prefix of obsctl's own tools",
            "not both",
            "needs command",
            "is not an http(s) URL",
            "is not a policy",
            "unknown tool \"nobody.tool\"",
        ] {
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }
}
