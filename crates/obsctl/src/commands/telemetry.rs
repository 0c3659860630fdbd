//! `obsctl telemetry check` (an app's telemetry settings through the rules of
//! `obsctl_core::telemetry`, from its environment or an `.env` file) and `telemetry rules`.

use std::path::Path;

use anyhow::Context;
use obsctl_core::quantity::counted;
use obsctl_core::telemetry::{self, Settings, Severity, env_file};
use serde_json::json;

/// The largest `.env` file read (a settings file, not data).
const MAX_ENV_FILE: u64 = 1 << 20;

pub fn check(env: Option<&Path>, json: bool) -> anyhow::Result<u8> {
    let (source, vars) = match env {
        Some(path) => {
            let size = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?.len();
            anyhow::ensure!(size <= MAX_ENV_FILE, "{} is {size} bytes; an .env file is at most 1 MB", path.display());
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {} as text", path.display()))?;
            let vars = env_file::parse(&text)
                .map_err(|errors| anyhow::anyhow!("{} cannot be read:\n  {}", path.display(), errors.join("\n  ")))?;
            (path.display().to_string(), vars)
        }
        None => ("the environment".to_string(), std::env::vars().filter(|(k, _)| telemetry::reads(k)).collect()),
    };
    let settings = Settings::new(vars);
    let findings = telemetry::check(&settings);
    let errors = findings.iter().filter(|f| f.severity == Severity::Error).count();
    let warnings = findings.len() - errors;
    let fix = |code: &str| telemetry::rules().iter().find(|r| r.code == code).map_or("", |r| r.fix);
    if json {
        let findings: Vec<_> = findings
            .iter()
            .map(|f| json!({"code": f.code, "severity": f.severity, "variable": f.variable, "message": f.message, "fix": fix(f.code)}))
            .collect();
        let report = json!({
            "source": source, "service": settings.service_name(), "ok": errors == 0,
            "errors": errors, "warnings": warnings, "findings": findings,
        });
        println!("{report}");
    } else {
        for f in &findings {
            println!(
                "{} {:<7} {}: {}\n        fix: {}",
                f.code,
                f.severity.as_str(),
                f.variable,
                f.message,
                fix(f.code)
            );
        }
        let service = settings.service_name().unwrap_or_else(|| "this app".into());
        if findings.is_empty() {
            println!("{service}: the telemetry settings in {source} pass every rule");
        } else {
            println!(
                "{service}: {}, {} in {source} (`obsctl telemetry rules` explains each code)",
                counted(errors, "error"),
                counted(warnings, "warning")
            );
        }
    }
    Ok(u8::from(errors > 0))
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
