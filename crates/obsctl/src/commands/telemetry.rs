//! `obsctl telemetry check` (an app's telemetry settings through the rules of
//! `obsctl_core::telemetry`, from its environment or an `.env` file; with `--flow`, a canary
//! proves the telemetry arrives; with `--report`, the result goes to the control plane),
//! `telemetry rules` and `telemetry init` (the app template).

mod flow;
mod init;
mod online;
mod report;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use obsctl_core::quantity::counted;
use obsctl_core::telemetry::{self, Report, Settings, Severity};
use serde_json::json;

pub use init::init;

/// The largest `.env` file read (a settings file, not data).
const MAX_ENV_FILE: u64 = 1 << 20;

/// What `telemetry check` was asked to do.
pub struct CheckArgs {
    pub env: Option<PathBuf>,
    pub json: bool,
    /// Send a canary and look for it, for at most this long.
    pub flow: Option<Duration>,
    /// Check the LangSmith and Logfire credentials against their services.
    pub online: bool,
    /// Post the result: to this URL, or (empty) to `OBS_CONTROL_URL`.
    pub report: Option<String>,
}

/// Exit 0 when no rule finds an error (and the canary arrived), 1 when one does, 2 when the
/// settings cannot be read or the report cannot be delivered.
pub async fn check(args: CheckArgs) -> anyhow::Result<u8> {
    let (source, settings) = read(args.env.as_deref())?;
    let mut findings = telemetry::check(&settings);
    if args.online {
        findings.extend(online::check(&settings).await?);
        findings.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.code.cmp(b.code)));
    }
    let service = settings
        .service_name()
        .or_else(|| settings.get("SERVICE_NAME").map(str::to_string))
        .unwrap_or_else(|| "unknown_service".into());
    let flow = match args.flow {
        Some(wait) => Some(flow::prove(&settings, &service, wait).await?),
        None => None,
    };
    let report = Report::new(service, source, &findings, flow);
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print(&report);
    }
    if let Some(url) = &args.report {
        let control = Some(url.as_str()).filter(|u| !u.is_empty()).or(settings.get("OBS_CONTROL_URL"));
        let Some(control) = control else {
            anyhow::bail!(
                "--report needs the control plane's URL: give it (--report http://obsctl:5555) or set OBS_CONTROL_URL"
            );
        };
        let said = report::post(control, settings.get("OBS_CONTROL_TOKEN"), &report).await?;
        eprintln!("{said}");
    }
    Ok(u8::from(!report.ok))
}

/// The settings: an `.env` file read strictly, or the variables of the environment it reads.
fn read(env: Option<&Path>) -> anyhow::Result<(String, Settings)> {
    let Some(path) = env else {
        let vars = std::env::vars().filter(|(k, _)| telemetry::reads(k));
        return Ok(("the environment".to_string(), Settings::new(vars)));
    };
    let size = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?.len();
    anyhow::ensure!(size <= MAX_ENV_FILE, "{} is {size} bytes; an .env file is at most 1 MB", path.display());
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {} as text", path.display()))?;
    let vars = obsctl_core::dotenv::parse(&text)
        .map_err(|errors| anyhow::anyhow!("{} cannot be read:\n  {}", path.display(), errors.join("\n  ")))?;
    Ok((path.display().to_string(), Settings::new(vars)))
}

fn print(report: &Report) {
    for f in &report.findings {
        println!("{} {:<7} {}: {}\n        fix: {}", f.code, f.severity.as_str(), f.variable, f.message, f.fix);
    }
    if let Some(flow) = &report.flow {
        println!("canary {} sent to {}", flow.canary, flow.endpoint);
        for hop in &flow.hops {
            let mark = if hop.ok { "ok  " } else { "LOST" };
            println!("  {mark} {:<7} at {:<8} {}", hop.signal, hop.at, hop.detail);
        }
    }
    let (service, source) = (&report.service, &report.source);
    let flowed =
        report.flow.as_ref().map_or("", |f| if f.ok() { "; the canary arrived" } else { "; the canary was lost" });
    if report.findings.is_empty() {
        println!("{service}: the telemetry settings in {source} pass every rule{flowed}");
    } else {
        let errors = report.findings.iter().filter(|f| f.severity == Severity::Error).count();
        println!(
            "{service}: {}, {} in {source}{flowed} (`obsctl telemetry rules` explains each code)",
            counted(errors, "error"),
            counted(report.findings.len() - errors, "warning")
        );
    }
}

pub fn rules(json: bool) -> anyhow::Result<u8> {
    if json {
        let rules: Vec<_> = telemetry::rules()
            .iter()
            .map(|r| json!({"code": r.code, "title": r.title, "why": r.why, "fix": r.fix}))
            .collect();
        println!("{}", json!(rules));
    } else {
        for r in telemetry::rules() {
            println!("{}  {}\n  why: {}\n  fix: {}\n", r.code, r.title, r.why, r.fix);
        }
    }
    Ok(0)
}
