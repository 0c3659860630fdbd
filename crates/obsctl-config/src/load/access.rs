//! Where obsctl keeps its data and who may get in: the store and graph URLs (passwords moved
//! out of them into secrets), the API and MCP tokens, the dashboard's logins and what its public
//! status page shows.

use std::path::Path;
use std::time::Duration;

use super::super::raw::{RawConfig, S};
use super::Validator;
use crate::*;

/// The shortest API token accepted.
pub const MIN_TOKEN_CHARS: usize = 16;

impl Validator<'_, '_> {
    /// `[store] url` or `OBSCTL_STORE_URL`: SQLite (relative paths beside the config file) or
    /// Postgres (password from the URL or `MEMORI_DB_PASSWORD`).
    pub(super) fn store(&mut self, raw: &RawConfig, base_dir: &Path) -> StoreConfig {
        let url = self
            .env_var("OBSCTL_STORE_URL")
            .or_else(|| raw.store.url.as_ref().map(|u| u.get_ref().clone()))
            .unwrap_or_else(|| "sqlite://data/obsctl.db".into());
        let mut password = None;
        let url = match url.strip_prefix("sqlite://") {
            Some(path) if !Path::new(path).is_absolute() && !path.starts_with(":memory:") => {
                format!("sqlite://{}", base_dir.join(path).display())
            }
            Some(_) => url,
            None if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                let (url, inline) = split_password(&url);
                password = inline.or_else(|| self.env_var("MEMORI_DB_PASSWORD")).map(Secret::new);
                url
            }
            None => {
                let span = raw.store.url.as_ref().map(|u| u.span());
                self.p.at(
                    span,
                    "store.url",
                    "is not a supported store; use sqlite://path/to/obsctl.db or postgres://user@host/db",
                );
                url
            }
        };
        StoreConfig { url, password }
    }

    /// `[graph] url = "bolt://[user[:password]@]host:port[/database]"`, or `OBSCTL_GRAPH_URL`.
    pub(super) fn graph(&mut self, raw: &RawConfig) -> Option<BoltConfig> {
        let g = &raw.graph;
        let url = self.env_var("OBSCTL_GRAPH_URL").or_else(|| g.url.as_ref().map(|u| u.get_ref().clone()))?;
        let span = g.url.as_ref().map(|u| u.span());
        if !url.starts_with("bolt://") {
            let fix = if url.starts_with("neo4j") || url.starts_with("bolt+") {
                "routing and TLS to the graph server are not supported yet; use bolt://host:7687 on a trusted network"
            } else {
                "is not a Bolt address; use bolt://host:7687 (or leave [graph] out for the embedded graph)"
            };
            self.p.at(span, "graph.url", format!("{url:?}: {fix}"));
            return None;
        }
        let (url, inline_password) = split_password(&url);
        let rest = &url["bolt://".len()..];
        let (authority, database) = match rest.split_once('/') {
            Some((a, db)) if !db.is_empty() => (a, Some(db.to_string())),
            Some((a, _)) => (a, None),
            None => (rest, None),
        };
        let (user, address) = match authority.rsplit_once('@') {
            Some((user, address)) => (user.to_string(), address.to_string()),
            None => ("neo4j".to_string(), authority.to_string()),
        };
        let address = if address.contains(':') { address } else { format!("{address}:7687") };
        if address.starts_with(':') {
            self.p.at(span, "graph.url", format!("{url:?} names no host; write bolt://host:7687"));
            return None;
        }
        Some(BoltConfig {
            address,
            user,
            password: inline_password
                .or_else(|| self.env_var("NEO4J_PASSWORD"))
                .filter(|p| !p.is_empty())
                .map(Secret::new),
            database,
            timeout: self.duration(g.timeout.as_ref(), "graph.timeout", Duration::from_secs(5)),
            sync_interval: self.duration(g.sync_interval.as_ref(), "graph.sync_interval", Duration::from_secs(2)),
        })
    }

    /// The API token, from `OBSCTL_API_TOKEN` or `[server] token`; a short one is refused,
    /// since it guards every endpoint and tools that act on the host.
    pub(super) fn api_token(&mut self, raw: &RawConfig) -> Option<Secret> {
        self.token("OBSCTL_API_TOKEN", raw.server.token.as_ref(), "server.token", "API")
    }

    /// `[mcp]`: the gateway's address (`"off"` switches it off) and token.
    pub(super) fn mcp(&mut self, raw: &RawConfig) -> McpConfig {
        let listen = self.env_var("OBSCTL_MCP_LISTEN").unwrap_or_else(|| {
            raw.mcp.listen.as_ref().map(|l| l.get_ref().clone()).unwrap_or_else(|| McpConfig::DEFAULT_LISTEN.into())
        });
        let listen = match listen.as_str() {
            "off" => None,
            addr if addr.parse::<std::net::SocketAddr>().is_ok() => Some(listen),
            _ => {
                let span = raw.mcp.listen.as_ref().map(|l| l.span());
                self.p.at(
                    span,
                    "mcp.listen",
                    format!("{listen:?} is not an address; write host:port, e.g. \"127.0.0.1:8433\", or \"off\""),
                );
                None
            }
        };
        McpConfig { listen, token: self.mcp_token(raw) }
    }

    /// The MCP gateway's token, from `OBSCTL_MCP_TOKEN` or `[mcp] token`, held to the same length.
    pub(super) fn mcp_token(&mut self, raw: &RawConfig) -> Option<Secret> {
        self.token("OBSCTL_MCP_TOKEN", raw.mcp.token.as_ref(), "mcp.token", "MCP")
    }

    /// A bearer token from `var` or the config `field`; empty means none.
    pub(super) fn token(&mut self, var: &str, raw: Option<&S<String>>, field: &str, what: &str) -> Option<Secret> {
        let (token, span) = match self.env_var(var) {
            Some(t) => (t, None),
            None => (raw?.get_ref().clone(), raw.map(|t| t.span())),
        };
        if token.is_empty() {
            return None;
        }
        if token.chars().count() < MIN_TOKEN_CHARS {
            self.p.at(
                span,
                field,
                format!(
                    "the {what} token has {} characters; use at least {MIN_TOKEN_CHARS}, e.g. the output of `openssl rand -hex 32`",
                    token.chars().count()
                ),
            );
        }
        Some(Secret::new(token))
    }

    /// `[[dashboard.user]]` entries, plus `admin` (an operator) from `OBSCTL_DASHBOARD_PASSWORD_HASH`.
    /// `[dashboard.status_page]`: on when present; its services must be configured ones.
    pub(super) fn status_page(&mut self, raw: &RawConfig, services: &[ServiceConfig]) -> Option<StatusPageConfig> {
        let page = raw.dashboard.status_page.as_ref()?;
        let chosen = match &page.services {
            None => services.iter().map(|s| s.name.clone()).collect(),
            Some(list) => {
                let mut chosen = Vec::new();
                for (i, name) in list.iter().enumerate() {
                    if services.iter().all(|s| &s.name != name.get_ref()) {
                        self.p.at(
                            Some(name.span()),
                            format!("dashboard.status_page.services[{i}]"),
                            format!("{:?} is not a configured service; name one of the [[service]] entries, or leave `services` out to show them all", name.get_ref()),
                        );
                    } else if !chosen.contains(name.get_ref()) {
                        chosen.push(name.get_ref().clone());
                    }
                }
                chosen
            }
        };
        let title = page.title.as_ref().map(|t| t.get_ref().trim().to_string()).filter(|t| !t.is_empty());
        Some(StatusPageConfig {
            title: title.unwrap_or_else(|| "Service status".into()),
            services: chosen,
            show_titles: page.show_titles.unwrap_or(false),
        })
    }

    pub(super) fn dashboard_users(&mut self, raw: &RawConfig) -> Vec<DashboardUser> {
        let mut users = Vec::new();
        for (i, u) in raw.dashboard.users.iter().enumerate() {
            let field = |f: &str| format!("dashboard.user[{i}].{f}");
            let role = match u.role.as_ref().map(|r| r.get_ref().as_str()) {
                None | Some("viewer") => Role::Viewer,
                Some("operator") => Role::Operator,
                Some(other) => {
                    let span = u.role.as_ref().map(|r| r.span());
                    self.p.at(span, field("role"), format!("{other:?} is not a role; use viewer or operator"));
                    Role::Viewer
                }
            };
            if !u.password_hash.get_ref().starts_with("$argon2") {
                self.p.at(
                    Some(u.password_hash.span()),
                    field("password_hash"),
                    "is not an argon2 hash; make one with `obsctl dashboard hash-password`",
                );
            }
            if users.iter().any(|x: &DashboardUser| &x.name == u.name.get_ref()) {
                self.p.at(Some(u.name.span()), field("name"), format!("{:?} is listed twice", u.name.get_ref()));
            }
            users.push(DashboardUser {
                name: u.name.get_ref().clone(),
                password_hash: Secret::new(u.password_hash.get_ref().clone()),
                role,
            });
        }
        match self.env_var("OBSCTL_DASHBOARD_PASSWORD_HASH").filter(|h| !h.is_empty()) {
            Some(hash) if hash.starts_with("$argon2") => {
                users.retain(|u| u.name != "admin");
                users.push(DashboardUser {
                    name: "admin".into(),
                    password_hash: Secret::new(hash),
                    role: Role::Operator,
                });
            }
            Some(_) => self.p.at(
                None,
                "OBSCTL_DASHBOARD_PASSWORD_HASH",
                "is not an argon2 hash; make one with `obsctl dashboard hash-password`",
            ),
            None => {}
        }
        users
    }
}

/// Moves the password out of `scheme://user:password@host/…`, returning the URL without it.
fn split_password(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_string(), None);
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return (url.to_string(), None);
    };
    match rest[..at].split_once(':') {
        Some((user, password)) => (format!("{scheme}://{user}{}", &rest[at..]), Some(password.to_string())),
        None => (url.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use crate::{LoadOptions, load};

    const TOOLS: &[&str] = &[];

    #[test]
    fn graph_urls_name_host_user_database_and_keep_the_password_out() {
        let env = HashMap::from([("NEO4J_PASSWORD".to_string(), "neo-pw".to_string())]);
        let opts = LoadOptions { file: "x.toml", known_tools: TOOLS };
        assert!(load("", &env, &opts).unwrap().graph.is_none(), "the embedded graph is the default");
        let full =
            load("[graph]\nurl = \"bolt://ops:s3cr3t@graph.internal:7688/fixes\"\ntimeout = \"2s\"\n", &env, &opts)
                .unwrap()
                .graph
                .unwrap();
        assert_eq!((full.address.as_str(), full.user.as_str()), ("graph.internal:7688", "ops"));
        assert_eq!(
            (full.database.as_deref(), full.password.as_ref().map(|p| p.expose())),
            (Some("fixes"), Some("s3cr3t"))
        );
        assert_eq!(full.timeout, Duration::from_secs(2));
        assert!(!format!("{full:?}").contains("s3cr3t"));
        let short = load("[graph]\nurl = \"bolt://neo\"\n", &env, &opts).unwrap().graph.unwrap();
        assert_eq!((short.address.as_str(), short.user.as_str(), short.database), ("neo:7687", "neo4j", None));
        assert_eq!(short.password.as_ref().map(|p| p.expose()), Some("neo-pw"));
        for (url, says) in
            [("neo4j://x", "routing and TLS"), ("http://x", "not a Bolt address"), ("bolt://:7687", "no host")]
        {
            let err = load(&format!("[graph]\nurl = {url:?}\n"), &env, &opts).unwrap_err();
            assert!(err.0[0].message.contains(says) && err.to_string().contains("x.toml:2"), "{err}");
        }
    }

    #[test]
    fn postgres_passwords_leave_the_url() {
        let env = HashMap::from([("MEMORI_DB_PASSWORD".to_string(), "from-env-pw".to_string())]);
        let opts = LoadOptions { file: "x.toml", known_tools: TOOLS };
        let inline =
            load("[store]\nurl = \"postgres://obs:s3cr3t@db:5432/obsctl?sslmode=disable\"\n", &env, &opts).unwrap();
        assert_eq!(inline.store.url, "postgres://obs@db:5432/obsctl?sslmode=disable");
        assert_eq!(inline.store.password.as_ref().map(|p| p.expose()), Some("s3cr3t"));
        let from_env = load("[store]\nurl = \"postgresql://obs@db/obsctl\"\n", &env, &opts).unwrap();
        assert_eq!(from_env.store.password.as_ref().map(|p| p.expose()), Some("from-env-pw"));
        assert!(!format!("{inline:?}").contains("s3cr3t"));
        let bad = load("[store]\nurl = \"mysql://x\"\n", &env, &opts).unwrap_err();
        assert!(bad.0[0].message.contains("postgres://"), "{bad}");
    }
}
