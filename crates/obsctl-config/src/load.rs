//! The pure loader: text + environment → validated `Config`, or every problem at once.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::checks::build_check;
use super::error::{ConfigErrors, Problems};
use super::interpolate::interpolate;
use super::raw::{RawAllowEntry, RawConfig, S};
use super::*;
use obsctl_core::quantity::parse_duration;

mod access;
mod alerts;
mod dependencies;
mod docker;
mod llm;
mod mcp_servers;
mod memory;
mod otlp;
mod read;
mod runbooks;
pub(crate) use runbooks::misspelt_kind;
mod telemetry;

/// What the loader needs besides the text and the environment.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions<'a> {
    /// The file name, for messages; relative store paths resolve against its folder.
    pub file: &'a str,
    /// Registered tool names, so a runbook naming an unknown tool is caught before start.
    pub known_tools: &'a [&'a str],
}

pub(crate) const CURRENT_VERSION: i64 = 1;

/// Loads a config. Precedence: defaults < file < `OBSCTL_*` variables in `env`.
pub fn load(text: &str, env: &HashMap<String, String>, opts: &LoadOptions<'_>) -> Result<Config, ConfigErrors> {
    let mut problems = Problems::new(opts.file, text);
    let mut interpolated_secrets = Vec::new();
    let written = text.parse::<toml::Table>();
    let text = interpolate(text, env, &mut problems, &mut interpolated_secrets);
    let Some(raw) = read::raw(&text, &mut problems) else {
        return Err(problems.finish().err().unwrap_or(ConfigErrors(Vec::new())));
    };
    let mut v = Validator { p: problems, env, external: Vec::new() };
    let mut config = v.config(raw, opts);
    config.interpolated_secrets = interpolated_secrets.into_iter().map(Secret::new).collect();
    config.file = opts.file.to_string();
    config.written = Written(written.or_else(|_| text.parse()).unwrap_or_default());
    config.index_checks();
    v.p.finish().map(|()| config)
}

struct Validator<'a, 'e> {
    p: Problems<'a>,
    env: &'e HashMap<String, String>,
    /// Names of the external MCP servers: `<name>.<tool>` is a tool known only once connected.
    external: Vec<String>,
}

impl Validator<'_, '_> {
    /// Whether `tool` names a builtin tool or one of a configured external server.
    fn known_tool(&self, tool: &str, opts: &LoadOptions<'_>) -> bool {
        opts.known_tools.is_empty()
            || opts.known_tools.contains(&tool)
            || tool
                .split_once('.')
                .is_some_and(|(server, name)| !name.is_empty() && self.external.iter().any(|e| e == server))
    }

    fn duration(&mut self, value: Option<&S<String>>, field: &str, default: Duration) -> Duration {
        let Some(v) = value else { return default };
        match parse_duration(v.get_ref()) {
            Ok(d) => d,
            Err(e) => {
                self.p.at(Some(v.span()), field, e);
                default
            }
        }
    }

    fn mode(&mut self, value: Option<&S<String>>, field: &str) -> Option<Mode> {
        let v = value?;
        let mode = Mode::parse(v.get_ref());
        if mode.is_none() {
            self.p.at(
                Some(v.span()),
                field,
                format!("{:?} is not a mode; use observe, dry-run, approve or auto", v.get_ref()),
            );
        }
        mode
    }

    fn env_var(&self, name: &str) -> Option<String> {
        self.env.get(name).filter(|v| !v.is_empty()).cloned()
    }

    fn config(&mut self, raw: RawConfig, opts: &LoadOptions<'_>) -> Config {
        if let Some(v) = &raw.version
            && *v.get_ref() != CURRENT_VERSION
        {
            self.p.at(
                Some(v.span()),
                "version",
                format!("version {} is not supported; this obsctl reads version = {CURRENT_VERSION}", v.get_ref()),
            );
        }
        let base_dir = Path::new(opts.file).parent().map(Path::to_path_buf).unwrap_or_default();

        let listen = self.env_var("OBSCTL_SERVER_LISTEN").unwrap_or_else(|| {
            raw.server.listen.as_ref().map(|l| l.get_ref().clone()).unwrap_or_else(|| "127.0.0.1:5555".into())
        });
        if listen.parse::<std::net::SocketAddr>().is_err() {
            let span = raw.server.listen.as_ref().map(|l| l.span());
            self.p.at(
                span,
                "server.listen",
                format!("{listen:?} is not an address; write host:port, e.g. \"127.0.0.1:5555\""),
            );
        }
        let token = self.api_token(&raw);
        let mcp = self.mcp(&raw);
        let mcp_servers = self.mcp_servers(&raw);
        let llm = self.llm(&raw);
        let alerts = self.alerts(&raw);
        let telemetry = self.telemetry(&raw);
        let otlp = self.otlp();
        let docker = self.docker();
        self.external = mcp_servers.iter().map(|s| s.name.clone()).collect();

        let store = self.store(&raw, &base_dir);
        let graph = self.graph(&raw);
        let memory_index = match (&raw.memory.index, store.url.strip_prefix("sqlite://")) {
            (Some(dir), _) => resolve(&base_dir, dir),
            (None, Some(db)) => {
                Path::new(db).parent().map(|d| d.join("memory-index")).unwrap_or_else(|| "memory-index".into())
            }
            (None, None) => base_dir.join("data").join("memory-index"),
        };
        let memory_instance = self.memory_instance(&raw);
        let memory_sync = self.memory_sync(&raw);
        let memory_peers = self.memory_peers(&raw);
        let agent = self.agent(&raw, opts);
        let scheduler = SchedulerConfig {
            max_concurrency: raw.scheduler.max_concurrency.unwrap_or(512).max(1),
            history_per_check: raw.scheduler.history_per_check.unwrap_or(1000).max(10),
        };
        let notify = NotifyConfig {
            ntfy: raw.notify.ntfy.as_ref().map(|n| NtfyConfig {
                url: n.url.as_ref().map(|u| u.get_ref().clone()).unwrap_or_else(|| "https://ntfy.sh".into()),
                topic: Secret::new(n.topic.get_ref().clone()),
                token: n.token.clone().filter(|t| !t.is_empty()).map(Secret::new),
            }),
            webhook: raw.notify.webhook.as_ref().map(|w| WebhookConfig { url: Secret::new(w.url.get_ref().clone()) }),
        };
        let fs =
            FsConfig { allowed_roots: raw.fs.allowed_roots.iter().map(|r| resolve(&base_dir, r.get_ref())).collect() };
        for (i, (root, raw_root)) in fs.allowed_roots.iter().zip(&raw.fs.allowed_roots).enumerate() {
            if is_system_folder(root) {
                self.p.at(
                    Some(raw_root.span()),
                    format!("fs.allowed_roots[{i}]"),
                    format!(
                        "{:?} is a system folder; name the folder to clean, e.g. \"/var/tmp/uploads\"",
                        root.display().to_string()
                    ),
                );
            }
        }
        let commands = CommandsConfig {
            enabled: self.env_var("ENABLE_UNIX_TOOLS").is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes")),
            allow: raw
                .commands
                .allow
                .iter()
                .map(|entry| match entry {
                    RawAllowEntry::Argv(argv) => argv.clone(),
                    RawAllowEntry::Line(line) => line.split_whitespace().map(str::to_string).collect(),
                })
                .collect(),
            env: raw.commands.env.iter().map(|(k, v)| (k.clone(), Secret::new(v.clone()))).collect(),
        };

        let (services, mut checks) = self.services(&raw, &base_dir, &commands);
        self.top_level_checks(&raw, &services, &commands, &mut checks);
        self.receiver_readers(&telemetry, &checks);
        let runbooks = self.runbooks(&raw, &services, &alerts, opts);
        self.dependency_cycles(&raw, &services);

        Config {
            source: opts.file.to_string(),
            server: ServerConfig {
                listen,
                token,
                allowed_hosts: raw.server.allowed_hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
                users: self.dashboard_users(&raw),
                status_page: self.status_page(&raw, &services),
            },
            mcp,
            mcp_servers,
            llm,
            alerts,
            telemetry,
            otlp,
            docker,
            store,
            graph,
            memory_index,
            memory_instance,
            memory_sync,
            memory_peers,
            agent,
            scheduler,
            notify,
            fs,
            commands,
            services,
            checks,
            runbooks,
            interpolated_secrets: Vec::new(),
            file: String::new(),
            written: Written::default(),
            check_index: Default::default(),
        }
    }

    fn agent(&mut self, raw: &RawConfig, opts: &LoadOptions<'_>) -> AgentConfig {
        let a = &raw.agent;
        let env_mode = self.env_var("OBSCTL_AGENT_MODE");
        let mode = match env_mode.as_deref().map(Mode::parse) {
            Some(Some(m)) => m,
            Some(None) => {
                self.p.at(None, "OBSCTL_AGENT_MODE", "is not a mode; use observe, dry-run, approve or auto");
                Mode::Approve
            }
            None => self.mode(a.mode.as_ref(), "agent.mode").unwrap_or(Mode::Approve),
        };
        if let Some(tools) = &a.allow_tools {
            for t in tools {
                if !self.known_tool(t.get_ref(), opts) {
                    self.p.at(Some(t.span()), "agent.allow_tools", unknown_tool(t.get_ref(), opts.known_tools));
                }
            }
        }
        AgentConfig {
            mode,
            max_mode: self.mode(a.max_mode.as_ref(), "agent.max_mode").unwrap_or(Mode::Auto),
            max_actions_per_hour: a.max_actions_per_hour.unwrap_or(20),
            max_actions_per_service_per_hour: a.max_actions_per_service_per_hour.unwrap_or(5),
            breaker_failures: a.breaker_failures.unwrap_or(3),
            allow_tools: a.allow_tools.as_ref().map(|t| t.iter().map(|s| s.get_ref().clone()).collect()),
            verify: VerifyConfig {
                attempts: a.verify.attempts.unwrap_or(6).max(1),
                backoff: self.duration(a.verify.backoff.as_ref(), "agent.verify.backoff", Duration::from_secs(1)),
                max_backoff: self.duration(
                    a.verify.max_backoff.as_ref(),
                    "agent.verify.max_backoff",
                    Duration::from_secs(10),
                ),
            },
            memory: self.agent_memory(&a.memory),
            reopen_within: self.duration(
                a.reopen_within.as_ref(),
                "agent.reopen_within",
                obsctl_core::incident::DEFAULT_REOPEN_WITHIN,
            ),
            default_cooldown: self.duration(a.cooldown.as_ref(), "agent.cooldown", Duration::from_secs(60)),
        }
    }

    fn services(
        &mut self,
        raw: &RawConfig,
        base_dir: &Path,
        commands: &CommandsConfig,
    ) -> (Vec<ServiceConfig>, Vec<obsctl_core::check::CheckSpec>) {
        let mut seen = HashSet::new();
        let mut services = Vec::new();
        let mut checks = Vec::new();
        let names: HashSet<&str> = raw.services.iter().map(|s| s.name.get_ref().as_str()).collect();
        for (i, s) in raw.services.iter().enumerate() {
            let name = s.name.get_ref();
            let field = format!("service[{i}].name");
            if !valid_name(name) {
                self.p.at(
                    Some(s.name.span()),
                    &field,
                    format!("{name:?} is not a valid name; use letters, digits, '-' and '_'"),
                );
            }
            if !seen.insert(name.as_str()) {
                self.p.at(
                    Some(s.name.span()),
                    &field,
                    format!("service {name:?} is defined twice; give each service a unique name"),
                );
            }
            for d in &s.depends_on {
                if !names.contains(d.get_ref().as_str()) {
                    self.p.at(
                        Some(d.span()),
                        format!("service[{i}].depends_on"),
                        format!(
                            "unknown service {:?}; define it with [[service]] name = {:?} or remove it",
                            d.get_ref(),
                            d.get_ref()
                        ),
                    );
                }
            }
            if let Some(p) = &s.process
                && p.run.get_ref().is_empty()
            {
                self.p.at(
                    Some(p.run.span()),
                    format!("service[{i}].process.run"),
                    "is empty; give the program and its arguments, e.g. [\"./api\", \"--port\", \"8080\"]",
                );
            }
            if let Some(r) = &s.restart_command
                && r.get_ref().is_empty()
            {
                self.p.at(
                    Some(r.span()),
                    format!("service[{i}].restart_command"),
                    "is empty; give the program and its arguments",
                );
            }
            if let Some(t) = s.telemetry_token.as_ref().filter(|t| t.get_ref().chars().count() < 16) {
                self.p.at(
                    Some(t.span()),
                    format!("service[{i}].telemetry_token"),
                    "use at least 16 characters, e.g. `openssl rand -hex 24`",
                );
            }
            let mut check_names = HashSet::new();
            for (j, c) in s.checks.iter().enumerate() {
                let path = format!("service[{i}].check[{j}]");
                if let Some(svc) = &c.service {
                    self.p.at(
                        Some(svc.span()),
                        format!("{path}.service"),
                        "a check inside [[service]] belongs to it already; remove `service`",
                    );
                }
                if let Some(spec) = build_check(&mut self.p, c, name, &path, commands) {
                    if !check_names.insert(spec.name.clone()) {
                        self.p.at(
                            Some(c.kind.span()),
                            &path,
                            format!("service {name:?} has two checks named {:?}; set a distinct `name`", spec.name),
                        );
                    }
                    checks.push(spec);
                }
            }
            for spec in checks.iter_mut().filter(|c| &c.service == name) {
                if let obsctl_core::check::Probe::Http(h) = &mut spec.probe
                    && let Some(f) = &h.ca_file
                {
                    h.ca_file = Some(resolve(base_dir, f).display().to_string());
                }
            }
            services.push(ServiceConfig {
                name: name.clone(),
                depends_on: s.depends_on.iter().map(|d| d.get_ref().clone()).collect(),
                labels: s.labels.clone(),
                process: s.process.as_ref().map(|p| SupervisedProcess {
                    run: p.run.get_ref().clone(),
                    cwd: p.cwd.as_ref().map(|c| resolve(base_dir, c)),
                    env: p.env.iter().map(|(k, v)| (k.clone(), Secret::new(v.clone()))).collect(),
                }),
                restart_command: s.restart_command.as_ref().map(|r| r.get_ref().clone()),
                telemetry_token: s.telemetry_token.as_ref().map(|t| Secret::new(t.get_ref().clone())),
            });
        }
        (services, checks)
    }

    fn top_level_checks(
        &mut self,
        raw: &RawConfig,
        services: &[ServiceConfig],
        commands: &CommandsConfig,
        checks: &mut Vec<obsctl_core::check::CheckSpec>,
    ) {
        for (j, c) in raw.checks.iter().enumerate() {
            let path = format!("check[{j}]");
            let Some(svc) = &c.service else {
                self.p.at(
                    Some(c.kind.span()),
                    format!("{path}.service"),
                    "a top-level [[check]] needs `service = \"name\"`, or move it under its [[service]]",
                );
                continue;
            };
            if !services.iter().any(|s| &s.name == svc.get_ref()) {
                self.p.at(
                    Some(svc.span()),
                    format!("{path}.service"),
                    format!(
                        "unknown service {:?}; define it with [[service]] name = {:?}",
                        svc.get_ref(),
                        svc.get_ref()
                    ),
                );
                continue;
            }
            if let Some(spec) = build_check(&mut self.p, c, svc.get_ref(), &path, commands) {
                if checks.iter().any(|k| k.id == spec.id) {
                    self.p.at(
                        Some(c.kind.span()),
                        &path,
                        format!("check id {:?} is used twice; set a distinct `name`", spec.id),
                    );
                }
                checks.push(spec);
            }
        }
    }
}

pub(super) fn unknown_tool(tool: &str, known: &[&str]) -> String {
    format!("unknown tool {tool:?}; known tools: {}", known.join(", "))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

fn resolve(base: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() { p.to_path_buf() } else { base.join(p) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOOLS: &[&str] = &["fs.cleanup", "process.restart", "notify.ntfy"];

    fn load_text(text: &str) -> Result<Config, ConfigErrors> {
        load(text, &HashMap::new(), &LoadOptions { file: "obsctl.toml", known_tools: TOOLS })
    }

    /// Asserts that loading `text` fails with exactly these (line, field, message part) problems.
    fn check_errors(text: &str, expected: &[(usize, &str, &str)]) {
        let errors = load_text(text).expect_err("config should be rejected").0;
        let got: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), expected.len(), "{got:#?}");
        for (e, (line, field, part)) in errors.iter().zip(expected) {
            assert_eq!(e.line, Some(*line), "{e}");
            assert_eq!(e.field, *field, "{e}");
            assert!(e.message.contains(part), "{e} lacks {part:?}");
        }
    }

    #[test]
    fn starter_config_loads() {
        let c = load(
            template::STARTER_TOML,
            &HashMap::new(),
            &LoadOptions { file: "/etc/obsctl/obsctl.toml", known_tools: TOOLS },
        )
        .unwrap();
        assert_eq!(c.checks.len(), 2);
        assert_eq!(c.checks[0].id, "web/health");
        assert_eq!(c.store.url, "sqlite:///etc/obsctl/data/obsctl.db");
        assert_eq!(c.runbooks[0].mode, Some(Mode::Auto));
        assert!(c.server.token.is_none());
    }

    #[test]
    fn the_status_page_is_off_unless_configured_and_names_only_known_services() {
        let service = "[[service]]\nname = \"api\"\n[[service]]\nname = \"db\"\n";
        assert!(load_text(service).unwrap().server.status_page.is_none());
        let all = load_text(&format!("{service}[dashboard.status_page]\n")).unwrap().server.status_page.unwrap();
        assert_eq!(
            (all.title.as_str(), all.services.as_slice()),
            ("Service status", &["api".to_string(), "db".into()][..])
        );
        let chosen = format!("{service}[dashboard.status_page]\ntitle = \"Acme\"\nservices = [\"db\"]\n");
        let chosen = load_text(&chosen).unwrap().server.status_page.unwrap();
        assert_eq!((chosen.title.as_str(), chosen.services.as_slice()), ("Acme", &["db".to_string()][..]));
        check_errors(
            &format!("{service}[dashboard.status_page]\nservices = [\"api\", \"ghost\"]\n"),
            &[(6, "dashboard.status_page.services[1]", "\"ghost\" is not a configured service")],
        );
    }

    #[test]
    fn container_checks_refuse_what_docker_would() {
        let text = r#"
[[service]]
name = "shop"
  [[service.check]]
  name = "a"
  kind = "docker"
  container = "web; rm -rf /"
  [[service.check]]
  name = "b"
  kind = "docker"
  container = "web"
  label = "team=shop"
  [[service.check]]
  name = "c"
  kind = "docker_run"
  image = "busybox"
  run = ["true"]
  mounts = ["relative:/data", "/etc:/etc:rwx"]
  cpus = 0
  memory = "1MB"
  [[service.check]]
  name = "d"
  kind = "docker_run"
  run = ["true"]
"#;
        check_errors(
            text,
            &[
                (7, "service[0].check[0].container", "cannot be a container name"),
                (10, "service[0].check[1].container", "exactly one of"),
                (18, "service[0].check[2].mounts", "\"relative:/data\" is not a mount"),
                (18, "service[0].check[2].mounts", "\"/etc:/etc:rwx\" is not a mount"),
                (19, "service[0].check[2].cpus", "between 0.01 and 64"),
                (20, "service[0].check[2].memory", "below the 6MB"),
                (23, "service[0].check[3].image", "is required"),
            ],
        );
        let env = HashMap::from([("DOCKER_HOST".to_string(), "docker.example:2375".to_string())]);
        let minimal = "[[service]]\nname = \"s\"\n";
        let err = load(minimal, &env, &LoadOptions { file: "t.toml", known_tools: &[] }).unwrap_err();
        assert!(err.to_string().contains("DOCKER_HOST: \"docker.example:2375\" is not an engine address"), "{err}");
        let env = HashMap::from([
            ("DOCKER_HOST".to_string(), "tcp://docker.example:2376".to_string()),
            ("DOCKER_TLS_VERIFY".to_string(), "1".to_string()),
            ("DOCKER_CERT_PATH".to_string(), "/certs".to_string()),
        ]);
        let c = load(minimal, &env, &LoadOptions { file: "t.toml", known_tools: &[] }).unwrap();
        assert_eq!(c.docker.tls.map(|t| t.key), Some(std::path::PathBuf::from("/certs/key.pem")));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = r#"
[[service]]
name = "api"
depends_on = ["ghost"]
  [[service.check]]
  kind = "http"
  url = "http://x/health"
  interval = "10"
  [[service.check]]
  name = "t"
  kind = "tcp"
  url = "http://x"
[[runbook]]
name = "r"
when = { service = "nope", incident = "http-down" }
steps = [{ tool = "docker.restart" }]
mode = "yolo"
"#;
        check_errors(
            text,
            &[
                (4, "service[0].depends_on", "unknown service \"ghost\""),
                (8, "service[0].check[0].interval", "needs a unit, e.g. \"10s\""),
                (12, "service[0].check[1].url", "is not a field of a tcp check"),
                (11, "service[0].check[1].address", "is required"),
                (15, "runbook[0].when.service", "unknown service \"nope\""),
                (16, "runbook[0].steps[0].tool", "unknown tool \"docker.restart\""),
                (17, "runbook[0].mode", "is not a mode"),
            ]
            .into_iter()
            .collect::<Vec<_>>()
            .tap_sort(),
        );
    }

    trait TapSort {
        fn tap_sort(self) -> Self;
    }
    impl TapSort for Vec<(usize, &'static str, &'static str)> {
        fn tap_sort(mut self) -> Self {
            self.sort_by_key(|e| e.0);
            self
        }
    }

    /// Issue 27, finding 3: a file with an unknown key, a number for a duration and a duration
    /// without a unit took seven runs of `config check` to clear, in raw parser words.
    #[test]
    fn every_problem_of_the_file_in_one_run_in_its_own_words() {
        let text = "[server]\nlisen = \"127.0.0.1:1\"\n[[service]]\nname = \"api\"\n  [[service.check]]\n  kind = \"http\"\n  url = \"http://x\"\n  timeout = 2\n  interval = \"10\"\n  colour = \"red\"\n";
        let err = load_text(text).unwrap_err();
        let lines: Vec<Option<usize>> = err.0.iter().map(|e| e.line).collect();
        assert_eq!(lines, [Some(2), Some(8), Some(9), Some(10)], "{err}");
        let said = err.to_string();
        assert!(said.contains(":2: lisen: unknown key \"lisen\"; did you mean \"listen\"?"), "{said}");
        assert!(said.contains(":8: timeout: is integer `2` where a string is expected: write it in quotes"), "{said}");
        assert!(said.contains(":9: ") && said.contains("interval"), "{said}");
        assert!(said.contains(":10: colour: unknown key \"colour\"; remove it"), "{said}");
        // An unquoted address: a fix, not "invalid float, expected nothing".
        let err = load_text("[server]\nlisten = 127.0.0.1:80\n").unwrap_err().to_string();
        assert!(
            err.contains(":2: listen: 127.0.0.1:80 is not a number") && err.contains("listen = \"127.0.0.1:80\""),
            "{err}"
        );
    }

    #[test]
    fn unknown_fields_and_syntax_name_the_line() {
        check_errors(
            "version = 1\n[server]\nlisten = \"127.0.0.1:1\"\nlisen = \"x\"\n",
            &[(4, "lisen", "unknown key")],
        );
        check_errors("[[service]\nname = 1\n", &[(1, "syntax", "")]);
        check_errors("version = 2\n", &[(1, "version", "not supported")]);
    }

    #[test]
    fn dependency_cycles_are_caught() {
        let text = "[[service]]\nname = \"a\"\ndepends_on = [\"b\"]\n[[service]]\nname = \"b\"\ndepends_on = [\"a\"]\n";
        check_errors(text, &[(2, "service[0].depends_on", "dependency cycle a -> b -> a")]);
    }

    #[test]
    fn command_checks_must_be_allow_listed() {
        let text = "[commands]\nallow = [\"true\"]\n[[service]]\nname = \"a\"\n  [[service.check]]\n  kind = \"command\"\n  run = [\"rm\", \"-rf\", \"/\"]\n";
        check_errors(text, &[(7, "service[0].check[0].run", "is not allow-listed")]);
        let ok = text.replace("[\"rm\", \"-rf\", \"/\"]", "[\"true\"]");
        assert!(load_text(&ok).is_ok());
    }

    #[test]
    fn top_level_checks_name_their_service() {
        let text = "[[service]]\nname = \"a\"\n[[check]]\nservice = \"b\"\nkind = \"tcp\"\naddress = \"127.0.0.1:1\"\n";
        check_errors(text, &[(4, "check[0].service", "unknown service \"b\"")]);
        let c = load_text(&text.replace("\"b\"", "\"a\"")).unwrap();
        assert_eq!(c.checks[0].id, "a/tcp");
    }

    #[test]
    fn environment_overrides_the_file() {
        let env = HashMap::from([
            ("OBSCTL_AGENT_MODE".to_string(), "auto".to_string()),
            ("OBSCTL_API_TOKEN".to_string(), "s3cret-token-0123".to_string()),
            ("ENABLE_UNIX_TOOLS".to_string(), "true".to_string()),
        ]);
        let c =
            load("[agent]\nmode = \"observe\"\n", &env, &LoadOptions { file: "x.toml", known_tools: TOOLS }).unwrap();
        assert_eq!(c.agent.mode, Mode::Auto);
        assert_eq!(c.server.token.as_ref().map(|t| t.expose()), Some("s3cret-token-0123"));
        assert!(c.commands.enabled);
        assert!(!format!("{c:?}").contains("s3cret-token-0123"));
    }

    #[test]
    fn system_folders_are_never_cleanup_roots() {
        check_errors(
            "[fs]\nallowed_roots = [\"/tmp/ok\", \"/\", \"/etc/\"]\n",
            &[(2, "fs.allowed_roots[1]", "is a system folder"), (2, "fs.allowed_roots[2]", "is a system folder")],
        );
    }

    #[test]
    fn a_short_api_token_is_refused_with_the_fix() {
        check_errors(
            "[server]\ntoken = \"short\"\n",
            &[(2, "server.token", "the API token has 5 characters; use at least 16")],
        );
    }

    #[test]
    fn the_mcp_gateway_has_a_default_address_a_switch_and_a_checked_token() {
        let c = load_text("").unwrap();
        assert_eq!(c.mcp.listen.as_deref(), Some("127.0.0.1:8433"));
        assert!(c.mcp.token.is_none());
        let c = load_text("[mcp]\nlisten = \"off\"\ntoken = \"mcp-token-0123456789\"\n").unwrap();
        assert_eq!(c.mcp.listen, None);
        assert!(c.secrets().iter().any(|s| s.expose() == "mcp-token-0123456789"));
        check_errors(
            "[mcp]\nlisten = \"8433\"\ntoken = \"short\"\n",
            &[(2, "mcp.listen", "is not an address"), (3, "mcp.token", "the MCP token has 5 characters")],
        );
        let env = HashMap::from([("OBSCTL_MCP_LISTEN".to_string(), "127.0.0.1:0".to_string())]);
        let c = load("", &env, &LoadOptions { file: "x.toml", known_tools: TOOLS }).unwrap();
        assert_eq!(c.mcp.listen.as_deref(), Some("127.0.0.1:0"));
    }

    #[test]
    fn checks_are_found_by_id_even_after_the_list_changes() {
        let text = "[[service]]\nname = \"a\"\n  [[service.check]]\n  name = \"x\"\n  kind = \"tcp\"\n  address = \"127.0.0.1:1\"\n  [[service.check]]\n  name = \"y\"\n  kind = \"tcp\"\n  address = \"127.0.0.1:2\"\n";
        let mut c = load_text(text).unwrap();
        assert_eq!(c.check("a/y").map(|s| s.name.as_str()), Some("y"));
        assert!(c.check("a/z").is_none());
        c.checks.remove(0);
        assert_eq!(c.check("a/y").map(|s| s.name.as_str()), Some("y"));
        assert!(c.check("a/x").is_none());
        c.index_checks();
        assert_eq!(c.check("a/y").map(|s| s.name.as_str()), Some("y"));
    }

    #[test]
    fn hostile_input_never_panics() {
        for text in [
            "",
            "\u{0}",
            "[[[",
            "service = 5",
            "[[service]]\nname = \"\"\n",
            "x = \"${",
            "[agent]\nverify = 3\n",
            &"[".repeat(10_000),
        ] {
            let _ = load_text(text);
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// Fragments of real configs, so generated text gets past the TOML parser often.
        const FRAGMENTS: [&str; 16] = [
            "version = 1\n",
            "[server]\nlisten = \"127.0.0.1:5555\"\n",
            "token = \"${OBSCTL_API_TOKEN:-}\"\n",
            "[agent]\nmode = \"auto\"\n",
            "[[service]]\nname = \"api\"\n",
            "  [[service.check]]\n  kind = \"http\"\n",
            "  url = \"http://127.0.0.1:8080/health\"\n",
            "  interval = \"10\"\n",
            "[[runbook]]\nname = \"r\"\n",
            "steps = [{ tool = \"fs.cleanup\", args = { root = \"/\" } }]\n",
            "[fs]\nallowed_roots = [\"/etc\"]\n",
            "[commands]\nallow = [[\"sh\", \"-c\", \"x\"], \"true\"]\n",
            "depends_on = [\"api\"]\n",
            "${UNSET}",
            "\"",
            "[",
        ];

        proptest! {
            #[test]
            fn loading_never_panics_and_errors_name_the_file(text in any::<String>()) {
                if let Err(e) = load(&text, &HashMap::new(), &LoadOptions { file: "p.toml", known_tools: TOOLS }) {
                    prop_assert!(!e.0.is_empty() && e.0.iter().all(|p| p.file == "p.toml"));
                }
            }

            #[test]
            fn configs_made_of_real_fragments_load_or_explain(parts in proptest::collection::vec(0..FRAGMENTS.len(), 0..24)) {
                let text: String = parts.iter().map(|&i| FRAGMENTS[i]).collect();
                if let Err(e) = load(&text, &HashMap::new(), &LoadOptions { file: "p.toml", known_tools: TOOLS }) {
                    prop_assert!(e.0.iter().all(|p| p.file == "p.toml" && !p.message.is_empty()), "{e}");
                }
            }
        }
    }
}
