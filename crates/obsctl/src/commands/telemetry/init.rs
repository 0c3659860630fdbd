//! `obsctl telemetry init`: the app template, written into an app's folder: a `.env.example`
//! with every variable the telemetry check reads, a collector sidecar config that forwards to
//! the observability stack and to obsctl, and a CI job that runs the check. Nothing existing is
//! overwritten unless asked.

use std::path::Path;

use anyhow::Context;

/// The template's files: (path in the app, contents with `{service}` to fill).
const FILES: [(&str, &str); 3] =
    [(".env.example", ENV_EXAMPLE), ("otel-collector.yaml", COLLECTOR), (".github/workflows/telemetry.yml", CI_JOB)];

const ENV_EXAMPLE: &str = r#"# {service}'s telemetry settings. Copy to .env and fill in; `obsctl telemetry check --env .env`
# checks them (`obsctl telemetry rules` explains every rule).
SERVICE_NAME={service}
OTEL_SERVICE_NAME={service}
OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=production,service.version=0.1.0
# The collector sidecar (otel-collector.yaml): OTLP/HTTP on 4318.
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318
OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
OTEL_TRACES_SAMPLER=parentbased_traceidratio
OTEL_TRACES_SAMPLER_ARG=1.0
# The control plane: where `obsctl telemetry check --report` posts and the canary is looked for;
# the token is its [telemetry] token.
OBS_CONTROL_URL=http://127.0.0.1:5555
OBS_CONTROL_TOKEN=
# LangSmith, for an app that traces LLM calls there:
# LANGSMITH_TRACING=true
# LANGSMITH_API_KEY=lsv2_pt_...
# Logfire:
# LOGFIRE_TOKEN=pylf_v1_...
"#;

const COLLECTOR: &str = r#"# An OpenTelemetry Collector beside {service}: it takes the app's OTLP on loopback and
# forwards every signal to the observability stack and to obsctl's receiver, which records
# when each arrived (for freshness checks and `obsctl telemetry check --flow`).
# Run: otelcol-contrib --config otel-collector.yaml, with OTEL_STACK_ENDPOINT (the stack's
# OTLP/HTTP endpoint), OBS_CONTROL_URL and OBS_CONTROL_TOKEN set.
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:4318
      grpc:
        endpoint: 127.0.0.1:4317
processors:
  memory_limiter:
    check_interval: 1s
    limit_percentage: 80
    spike_limit_percentage: 20
  batch: {}
exporters:
  otlphttp/stack:
    endpoint: ${env:OTEL_STACK_ENDPOINT}
  otlphttp/obsctl:
    endpoint: ${env:OBS_CONTROL_URL}
    headers:
      Authorization: Bearer ${env:OBS_CONTROL_TOKEN}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [otlphttp/stack, otlphttp/obsctl]
    logs:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [otlphttp/stack, otlphttp/obsctl]
    metrics:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [otlphttp/stack, otlphttp/obsctl]
"#;

const CI_JOB: &str = r#"# {service}'s telemetry settings checked on every change: exit 1 (a rule found an error) fails
# the job. Needs obsctl on the runner's PATH.
name: telemetry
on: [push, pull_request]
jobs:
  telemetry-check:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: obsctl telemetry check
        run: obsctl telemetry check --env .env.example
"#;

/// Writes the template for `service` into `dir`; refuses to overwrite unless `force`.
pub fn init(dir: &Path, service: Option<&str>, force: bool) -> anyhow::Result<u8> {
    let name = match service {
        Some(s) => s.to_string(),
        None => dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "my-app".into()),
    };
    anyhow::ensure!(
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
        "{name:?} is not a service name; use letters, digits, '-', '_' or '.', e.g. --service checkout"
    );
    let existing: Vec<&str> = FILES.iter().map(|(p, _)| *p).filter(|p| dir.join(p).exists()).collect();
    anyhow::ensure!(
        force || existing.is_empty(),
        "{} already exists in {}; pass --force to overwrite",
        existing.join(", "),
        dir.display()
    );
    for (path, text) in FILES {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&file, text.replace("{service}", &name))
            .with_context(|| format!("cannot write {}", file.display()))?;
        println!("wrote {}", file.display());
    }
    println!("next: cp .env.example .env, fill it in, then obsctl telemetry check --env .env --flow --report");
    Ok(0)
}
