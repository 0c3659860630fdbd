//! `obsctl agent periodic-check`: run every check once (one failure is enough), then plan and
//! act on every open incident, printing what happened.

use std::path::Path;

use obsctl_core::incident::IncidentStatus;
use obsctl_core::policy::Mode;
use obsctl_store::{ActionFilter, IncidentFilter};

use super::handoff;
use crate::runtime::Runtime;

pub async fn run(config: Option<&Path>, issue: Option<String>, dry_run: bool, json: bool) -> anyhow::Result<u8> {
    let mut config = crate::settings::load_or_host(config)?;
    let mut kinds: Vec<&str> = config.checks.iter().map(|c| c.probe.incident_kind()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let known = kinds.join(", ");
    config.checks.retain(|c| issue.as_deref().is_none_or(|k| c.probe.incident_kind() == k));
    if config.checks.is_empty() {
        anyhow::bail!("no check raises incident kind {:?}; the checks here raise: {known}", issue.unwrap_or_default());
    }
    for c in &mut config.checks {
        c.fail_after = 1;
        c.recover_after = 1;
    }
    // A dry run changes nothing: not the store (it runs on a scratch copy, so no observation,
    // incident or action of it is left for the next `serve`), not the services (none is started).
    let scratch = if dry_run { Some(scratch_copy(&mut config).await?) } else { None };
    let ceiling = if dry_run { Mode::DryRun } else { Mode::Auto };
    let mut rt = Runtime::build(config, ceiling).await?;
    if let Some(holder) = handoff::serve_holder(&rt).await? {
        let code = serve_view(&rt, &holder, json).await;
        rt.stop().await;
        return code;
    }
    if !dry_run {
        rt.supervisor.start_all().await?;
    }
    rt.connect_tools().await;
    rt.agent.recover().await?;
    let mut failing = Vec::new();
    for c in rt.config.checks.clone() {
        if let Some((obs, _)) = rt.monitor.run_check(&c.id).await
            && !obs.ok
        {
            failing.push((c.id.clone(), obs.detail));
        }
    }
    let open = rt
        .store
        .list_incidents(&IncidentFilter { status: Some(IncidentStatus::Open), limit: 1000, ..Default::default() })
        .await?;
    let open: Vec<_> = open.into_iter().filter(|i| rt.config.check(&i.check_id).is_some()).collect();
    let mut reports = Vec::new();
    for incident in &open {
        reports.push(rt.agent.handle_incident(&incident.id).await?);
    }
    let still_open = rt
        .store
        .list_incidents(&IncidentFilter { status: Some(IncidentStatus::Open), limit: 1000, ..Default::default() })
        .await?;
    let unresolved = still_open.iter().filter(|i| rt.config.check(&i.check_id).is_some()).count();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"dry_run": dry_run, "failing": failing, "reports": reports, "unresolved": unresolved})
            )?
        );
    } else {
        println!(
            "{} checks run, {} failing{}",
            rt.config.checks.len(),
            failing.len(),
            if dry_run { " (dry run on a copy of the store: nothing executed, nothing kept)" } else { "" }
        );
        for (id, detail) in &failing {
            println!("  FAIL {id}: {detail}");
        }
        for r in &reports {
            let plan =
                r.plan.as_ref().map(|p| p.provenance.clone()).unwrap_or_else(|| r.skipped.clone().unwrap_or_default());
            println!("incident {}: {plan}", r.incident_id);
            for a in &r.actions {
                let result = a.result.as_ref().map(|v| v.to_string()).unwrap_or_default();
                println!(
                    "  {} {} [{}] {} {}",
                    a.tool,
                    a.args,
                    a.state.as_str(),
                    a.reason,
                    result.chars().take(300).collect::<String>()
                );
            }
            if let Some(o) = r.outcome {
                println!("  outcome: {}", o.as_str());
            }
        }
        println!("{unresolved} incident(s) still open");
    }
    rt.stop().await;
    drop(scratch);
    Ok(u8::from(unresolved > 0 && !dry_run || (dry_run && !failing.is_empty())))
}

/// Points `config` at a scratch SQLite copy of its store (taken through a backup archive, so
/// any backend copies the same way) in a temporary folder, removed when the guard drops. A
/// `serve` holding the real store's lease is still seen: the copy carries the lease.
async fn scratch_copy(config: &mut obsctl_config::Config) -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("dry-run.db").display());
    // A SQLite store not made yet stays unmade: the copy starts empty.
    let exists = config.store.url.strip_prefix("sqlite://").is_none_or(|file| std::path::Path::new(file).exists());
    if exists {
        let archive = dir.path().join("store.jsonl.gz");
        let password = config.store.password.as_ref().map(|p| p.expose());
        let real = obsctl_store::open(&config.store.url, password).await?;
        let backend = obsctl_store::backend_of(&config.store.url);
        obsctl_store::backup::take(real.as_ref(), &archive, backend, None, Box::new(|_, _| {})).await?;
        real.close().await;
        let copy = obsctl_store::open(&url, None).await?;
        obsctl_store::backup::restore(copy.as_ref(), &archive, Box::new(|_, _| {})).await?;
        copy.close().await;
    }
    config.store.url = url;
    config.store.password = None;
    config.memory_index = dir.path().join("memory-index");
    Ok(dir)
}

/// Beside a running `serve`, a second pass would race it (a second copy of supervised services,
/// its running actions taken for interrupted ones): show what it sees instead, exit 1 if open.
async fn serve_view(rt: &Runtime, holder: &str, json: bool) -> anyhow::Result<u8> {
    let open = rt
        .store
        .list_incidents(&IncidentFilter { status: Some(IncidentStatus::Open), limit: 1000, ..Default::default() })
        .await?;
    let open: Vec<_> = open.into_iter().filter(|i| rt.config.check(&i.check_id).is_some()).collect();
    let mut views = Vec::new();
    for incident in open {
        let filter = ActionFilter { incident_id: Some(incident.id.clone()), limit: 5, ..Default::default() };
        let actions = rt.store.list_actions(&filter).await?;
        views.push((incident, actions));
    }
    if json {
        let open: Vec<_> = views.iter().map(|(i, a)| serde_json::json!({"incident": i, "actions": a})).collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"handed_to": holder, "open": open}))?);
    } else {
        println!("{holder} holds the agent lease on this store: it runs the checks and acts; not racing it.");
        println!("what it sees now:");
        for (incident, actions) in &views {
            println!("incident {} {} ({})", incident.id, incident.fingerprint, incident.title);
            for a in actions {
                println!("  {} [{}] {}", a.tool, a.state.as_str(), a.reason);
            }
        }
        println!("{} incident(s) open", views.len());
    }
    Ok(u8::from(!views.is_empty()))
}
