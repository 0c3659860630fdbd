//! Validation of one check: common fields, the kind's own fields, and fields foreign to the kind.

use std::time::Duration;

use super::CommandsConfig;
use super::error::Problems;
use super::raw::{RawCheck, S};
use obsctl_core::check::{CheckSpec, Connection, DiskProbe, HttpProbe, Probe, ProcessProbe, ProcessTarget};
use obsctl_core::quantity::{parse_duration, parse_size};
use obsctl_core::secret::Secret;

mod containers;
mod stack;

const KINDS: &[&str] = &[
    "http",
    "tcp",
    "disk",
    "process",
    "command",
    "memory",
    "load",
    "prometheus",
    "ready",
    "otel_collector",
    "telemetry_freshness",
    "docker",
    "docker_run",
];

/// Fields each kind reads besides the common ones.
fn kind_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "http" => &["url", "method", "headers", "expect", "max_body", "ca_file", "connection"],
        "tcp" => &["address"],
        "disk" => &["path", "max_used_percent", "min_free", "max_size"],
        "process" => &["process", "pid_file", "pid", "max_rss"],
        "command" => &["run"],
        "memory" => &["max_used_percent"],
        "load" => &["max_per_core"],
        "prometheus" => &["url", "headers", "query", "min", "max", "on_empty"],
        "ready" => &["url", "headers", "flavor"],
        "otel_collector" => &["url", "headers", "metrics_url", "max_queue_ratio"],
        "telemetry_freshness" => &["url", "headers", "signal", "query", "within"],
        "docker" => &[
            "container",
            "label",
            "compose_project",
            "compose_services",
            "require_healthy",
            "max_restarts",
            "restart_window",
        ],
        "docker_run" => &["image", "run", "env", "network", "mounts", "cpus", "memory"],
        _ => &[],
    }
}

/// The kind-specific fields present in `c`, with their spans.
fn present_fields(c: &RawCheck) -> Vec<(&'static str, std::ops::Range<usize>)> {
    fn span<T>(v: &Option<S<T>>) -> Option<std::ops::Range<usize>> {
        v.as_ref().map(|s| s.span())
    }
    [
        ("url", span(&c.url)),
        ("method", span(&c.method)),
        ("headers", span(&c.headers)),
        ("expect", span(&c.expect)),
        ("max_body", span(&c.max_body)),
        ("ca_file", span(&c.ca_file)),
        ("connection", span(&c.connection)),
        ("address", span(&c.address)),
        ("path", span(&c.path)),
        ("max_used_percent", span(&c.max_used_percent)),
        ("min_free", span(&c.min_free)),
        ("max_size", span(&c.max_size)),
        ("process", span(&c.process)),
        ("pid_file", span(&c.pid_file)),
        ("pid", span(&c.pid)),
        ("max_rss", span(&c.max_rss)),
        ("run", span(&c.run)),
        ("max_per_core", span(&c.max_per_core)),
        ("query", span(&c.query)),
        ("min", span(&c.min)),
        ("max", span(&c.max)),
        ("on_empty", span(&c.on_empty)),
        ("flavor", span(&c.flavor)),
        ("metrics_url", span(&c.metrics_url)),
        ("max_queue_ratio", span(&c.max_queue_ratio)),
        ("signal", span(&c.signal)),
        ("within", span(&c.within)),
        ("container", span(&c.container)),
        ("label", span(&c.label)),
        ("compose_project", span(&c.compose_project)),
        ("compose_services", span(&c.compose_services)),
        ("require_healthy", span(&c.require_healthy)),
        ("max_restarts", span(&c.max_restarts)),
        ("restart_window", span(&c.restart_window)),
        ("image", span(&c.image)),
        ("env", span(&c.env)),
        ("network", span(&c.network)),
        ("mounts", span(&c.mounts)),
        ("cpus", span(&c.cpus)),
        ("memory", span(&c.memory)),
    ]
    .into_iter()
    .filter_map(|(name, s)| s.map(|s| (name, s)))
    .collect()
}

struct Ctx<'p, 'a> {
    p: &'p mut Problems<'a>,
    path: String,
}

impl Ctx<'_, '_> {
    fn err(&mut self, span: std::ops::Range<usize>, field: &str, message: impl Into<String>) {
        self.p.at(Some(span), format!("{}.{field}", self.path), message);
    }

    fn duration(&mut self, v: Option<&S<String>>, field: &str, default: Duration) -> Duration {
        let Some(v) = v else { return default };
        parse_duration(v.get_ref()).unwrap_or_else(|e| {
            self.err(v.span(), field, e);
            default
        })
    }

    fn size(&mut self, v: Option<&S<String>>, field: &str) -> Option<u64> {
        let v = v?;
        parse_size(v.get_ref()).map_err(|e| self.err(v.span(), field, e)).ok()
    }

    fn required<'v>(
        &mut self,
        v: Option<&'v S<String>>,
        kind_span: std::ops::Range<usize>,
        field: &str,
        example: &str,
    ) -> Option<&'v str> {
        if v.is_none() {
            self.err(kind_span, field, format!("is required for this kind; add e.g. {field} = {example}"));
        }
        v.map(|s| s.get_ref().as_str())
    }
}

pub(crate) fn build_check(
    p: &mut Problems<'_>,
    c: &RawCheck,
    service: &str,
    path: &str,
    commands: &CommandsConfig,
) -> Option<CheckSpec> {
    let kind = c.kind.get_ref().as_str();
    let kspan = c.kind.span();
    let mut x = Ctx { p, path: path.to_string() };
    if !KINDS.contains(&kind) {
        x.err(kspan, "kind", format!("unknown check kind {kind:?}; use one of {}", KINDS.join(", ")));
        return None;
    }
    for (field, span) in present_fields(c) {
        if !kind_fields(kind).contains(&field) {
            x.err(
                span,
                field,
                format!(
                    "is not a field of a {kind} check; remove it (a {kind} check reads: {})",
                    kind_fields(kind).join(", ")
                ),
            );
        }
    }
    let interval = x.duration(c.interval.as_ref(), "interval", Duration::from_secs(30));
    let timeout = x.duration(c.timeout.as_ref(), "timeout", Duration::from_secs(5).min(interval));
    if let Some(t) = &c.timeout
        && timeout > interval
    {
        x.err(t.span(), "timeout", "is longer than the interval; make it shorter so runs do not overlap");
    }
    if interval < Duration::from_millis(100)
        && let Some(i) = &c.interval
    {
        x.err(i.span(), "interval", "is shorter than 100ms; checks that often overload their target");
    }
    let jitter = x.duration(c.jitter.as_ref(), "jitter", interval / 10);
    let flap_window = x.duration(c.flap_window.as_ref(), "flap_window", Duration::from_secs(600));

    let probe = match kind {
        "http" => http(&mut x, c, kspan),
        "tcp" => {
            let address = x.required(c.address.as_ref(), kspan, "address", "\"127.0.0.1:5432\"")?;
            if let (Some(a), false) =
                (&c.address, address.rsplit_once(':').is_some_and(|(_, port)| port.parse::<u16>().is_ok()))
            {
                x.err(a.span(), "address", format!("{address:?} needs a port; write host:port"));
            }
            Some(Probe::Tcp { address: address.to_string() })
        }
        "disk" => disk(&mut x, c, kspan),
        "process" => process(&mut x, c, kspan),
        "command" => {
            let Some(run) = &c.run else {
                x.err(kspan, "run", "is required for this kind; add e.g. run = [\"pg_isready\", \"-q\"]");
                return None;
            };
            if run.get_ref().is_empty() {
                x.err(run.span(), "run", "is empty; give the program and its arguments");
            } else if !commands.allows(run.get_ref()) {
                x.err(
                    run.span(),
                    "run",
                    format!(
                        "{:?} is not allow-listed; add it to [commands] allow = [...] to let it run",
                        run.get_ref()
                    ),
                );
            }
            Some(Probe::Command { run: run.get_ref().clone() })
        }
        "memory" => Some(Probe::Memory { max_used_percent: percent(&mut x, c.max_used_percent.as_ref(), kspan)? }),
        "load" => {
            let Some(m) = &c.max_per_core else {
                x.err(kspan, "max_per_core", "is required for this kind; add e.g. max_per_core = 2.0");
                return None;
            };
            Some(Probe::Load { max_per_core: *m.get_ref() })
        }
        "prometheus" => stack::prometheus(&mut x, c, kspan),
        "ready" => stack::ready(&mut x, c, kspan),
        "otel_collector" => stack::collector(&mut x, c, kspan),
        "telemetry_freshness" => stack::freshness(&mut x, c, kspan, service),
        "docker" => containers::docker(&mut x, c, kspan),
        "docker_run" => containers::docker_run(&mut x, c, kspan),
        _ => None,
    }?;
    let name = c.name.as_ref().map(|n| n.get_ref().clone()).unwrap_or_else(|| kind.to_string());
    Some(CheckSpec {
        id: format!("{service}/{name}"),
        service: service.to_string(),
        name,
        interval,
        timeout,
        jitter,
        fail_after: c.fail_after.unwrap_or(3).max(1),
        recover_after: c.recover_after.unwrap_or(2).max(1),
        flap_threshold: c.flap_threshold.unwrap_or(6),
        flap_window,
        labels: c.labels.clone(),
        probe,
    })
}

fn percent(x: &mut Ctx<'_, '_>, v: Option<&S<f64>>, kspan: std::ops::Range<usize>) -> Option<f64> {
    let Some(v) = v else {
        x.err(kspan, "max_used_percent", "is required for this kind; add e.g. max_used_percent = 90");
        return None;
    };
    if !(0.0..=100.0).contains(v.get_ref()) {
        x.err(v.span(), "max_used_percent", "must be between 0 and 100");
    }
    Some(*v.get_ref())
}

impl Ctx<'_, '_> {
    /// A required http(s) URL field.
    fn url(
        &mut self,
        v: Option<&S<String>>,
        kspan: std::ops::Range<usize>,
        field: &str,
        example: &str,
    ) -> Option<String> {
        let url = self.required(v, kspan, field, example)?.to_string();
        if let Some(u) = v
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            self.err(u.span(), field, format!("{url:?} must start with http:// or https://"));
        }
        Some(url)
    }

    /// The check's headers, as secrets.
    fn headers(&self, c: &RawCheck) -> std::collections::BTreeMap<String, Secret> {
        c.headers
            .as_ref()
            .map(|h| h.get_ref().iter().map(|(k, v)| (k.clone(), Secret::new(v.clone()))).collect())
            .unwrap_or_default()
    }
}

fn http(x: &mut Ctx<'_, '_>, c: &RawCheck, kspan: std::ops::Range<usize>) -> Option<Probe> {
    let url = x.url(c.url.as_ref(), kspan, "url", "\"http://127.0.0.1:8080/health\"")?;
    let method = c.method.as_ref().map(|m| m.get_ref().to_ascii_uppercase()).unwrap_or_else(|| "GET".into());
    if let Some(m) = &c.method
        && !["GET", "HEAD", "POST", "PUT", "OPTIONS"].contains(&method.as_str())
    {
        x.err(m.span(), "method", format!("{method:?} is not supported; use GET, HEAD, POST, PUT or OPTIONS"));
    }
    let max_body = x.size(c.max_body.as_ref(), "max_body").unwrap_or(64 * 1024) as usize;
    let mut probe = HttpProbe {
        url,
        method,
        headers: x.headers(c),
        expect_status: Some(200),
        body_contains: None,
        json_pointer: None,
        latency_under: None,
        cert_days_left_over: None,
        max_body_bytes: max_body,
        ca_file: c.ca_file.as_ref().map(|f| f.get_ref().clone()),
        connection: Connection::Fresh,
    };
    if let Some(v) = &c.connection {
        match Connection::parse(v.get_ref()) {
            Some(connection) => probe.connection = connection,
            None => x.err(
                v.span(),
                "connection",
                format!("{:?} is not a connection policy; use fresh (a new connection each run) or reuse", v.get_ref()),
            ),
        }
    }
    if let Some(f) = &c.ca_file
        && !probe.url.starts_with("https://")
    {
        x.err(f.span(), "ca_file", "needs an https:// url");
    }
    if let Some(e) = &c.expect {
        let e = e.get_ref();
        probe.expect_status = e.status.or(Some(200));
        probe.body_contains = e.body_contains.clone();
        probe.json_pointer =
            e.json.as_ref().map(|j| (j.pointer.clone(), serde_json::to_value(&j.equals).unwrap_or_default()));
        if let Some(j) = &e.json
            && !j.pointer.is_empty()
            && !j.pointer.starts_with('/')
            && let Some(span) = c.expect.as_ref().map(|s| s.span())
        {
            x.err(
                span,
                "expect.json.pointer",
                format!("{:?} is not a JSON pointer; start it with '/', e.g. \"/status\"", j.pointer),
            );
        }
        probe.latency_under =
            e.latency_under.as_ref().map(|l| x.duration(Some(l), "expect.latency_under", Duration::ZERO));
        probe.cert_days_left_over = e.cert_days_left_over;
        if e.cert_days_left_over.is_some()
            && !probe.url.starts_with("https://")
            && let Some(span) = c.expect.as_ref().map(|s| s.span())
        {
            x.err(span, "expect.cert_days_left_over", "needs an https:// url");
        }
    }
    Some(Probe::Http(probe))
}

fn disk(x: &mut Ctx<'_, '_>, c: &RawCheck, kspan: std::ops::Range<usize>) -> Option<Probe> {
    let path = x.required(c.path.as_ref(), kspan.clone(), "path", "\"/var/lib\"")?.to_string();
    let max_used_percent = match &c.max_used_percent {
        Some(v) => Some(percent(x, Some(v), kspan.clone())?),
        None => None,
    };
    let min_free = x.size(c.min_free.as_ref(), "min_free");
    let max_size = x.size(c.max_size.as_ref(), "max_size");
    if max_used_percent.is_none() && min_free.is_none() && max_size.is_none() {
        x.err(
            kspan,
            "max_used_percent",
            "a disk check needs a limit; add max_used_percent = 90, min_free = \"1GB\" or max_size = \"500MB\"",
        );
    }
    Some(Probe::Disk(DiskProbe { path, max_used_percent, min_free, max_size }))
}

fn process(x: &mut Ctx<'_, '_>, c: &RawCheck, kspan: std::ops::Range<usize>) -> Option<Probe> {
    let targets: Vec<ProcessTarget> = [
        c.process.as_ref().map(|n| ProcessTarget::Name(n.get_ref().clone())),
        c.pid_file.as_ref().map(|n| ProcessTarget::PidFile(n.get_ref().clone())),
        c.pid.as_ref().map(|n| ProcessTarget::Pid(*n.get_ref())),
    ]
    .into_iter()
    .flatten()
    .collect();
    if targets.len() != 1 {
        x.err(
            kspan,
            "process",
            "a process check needs exactly one of process = \"name\", pid_file = \"path\" or pid = N",
        );
        return None;
    }
    let max_rss = x.size(c.max_rss.as_ref(), "max_rss");
    targets.into_iter().next().map(|target| Probe::Process(ProcessProbe { target, max_rss }))
}
