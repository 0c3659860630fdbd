//! `obsctl init` and `obsctl config check`.

use std::path::Path;

use anyhow::Context;
use obsctl_config::template::{ENV_EXAMPLE, STARTER_TOML};

pub fn init(dir: &Path, force: bool) -> anyhow::Result<u8> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, text) in [("obsctl.toml", STARTER_TOML), (".env.example", ENV_EXAMPLE)] {
        let path = dir.join(name);
        if path.exists() && !force {
            anyhow::bail!("{} exists; pass --force to overwrite it", path.display());
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    println!("next: edit obsctl.toml, then `obsctl config check` and `obsctl health`");
    Ok(0)
}

pub fn check(file: Option<&Path>) -> anyhow::Result<u8> {
    let path = file.unwrap_or(Path::new("obsctl.toml"));
    match crate::settings::load_file(Some(path)) {
        Ok(Some(c)) => {
            use obsctl_core::quantity::counted;
            // Each runbook step against its tool: what `serve` would refuse to start with.
            let supervisor = std::sync::Arc::new(obsctl_agent::tools::process::Supervisor::new(&c, None));
            let docker = obsctl_engine::probes::ProbeContext::for_config(&c)?.docker;
            let registry = obsctl_agent::ToolRegistry::builtin(&c, supervisor, &docker)?;
            let problems = crate::runtime::runbook_problems(&c, &registry);
            if !problems.is_empty() {
                eprintln!("config has {}:", counted(problems.len(), "problem"));
                for p in &problems {
                    eprintln!("  {p}");
                }
                return Ok(1);
            }
            println!(
                "{}: ok: {}, {}, {}, agent mode {}",
                path.display(),
                counted(c.services.len(), "service"),
                counted(c.checks.len(), "check"),
                counted(c.runbooks.len(), "runbook"),
                c.agent.mode.as_str()
            );
            if !c.notify.has_receiver() {
                println!(
                    "note: no [notify] receiver (ntfy or webhook) is configured: an escalation (a failed fix, an open \
                     breaker) reaches nobody; add [notify.ntfy] or [notify.webhook]"
                );
            }
            Ok(0)
        }
        Ok(None) => anyhow::bail!("{} was not found", path.display()),
        Err(e) => {
            eprint!("{e}");
            Ok(1)
        }
    }
}
