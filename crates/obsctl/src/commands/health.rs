//! `obsctl health`: every check once, concurrently, as a table or JSON; exit 1 on any failure.

use std::path::Path;
use std::sync::Arc;

use obsctl_core::quantity::counted;
use obsctl_engine::ProbeContext;
use obsctl_engine::probes;

use crate::render::table;

pub async fn run(config: Option<&Path>, json: bool) -> anyhow::Result<u8> {
    let config = crate::settings::load_or_host(config)?;
    let ctx = ProbeContext::for_config(&config)?;
    let permits = Arc::new(tokio::sync::Semaphore::new(config.scheduler.max_concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, spec) in config.checks.iter().cloned().enumerate() {
        let ctx = ctx.clone();
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (i, probes::run(&spec, &ctx).await)
        });
    }
    let mut results = Vec::new();
    while let Some(r) = tasks.join_next().await {
        results.push(r?);
    }
    results.sort_by_key(|(i, _)| *i);
    // A check that could not look (no container engine) is unknown: reported, not a failure.
    let failed = results.iter().filter(|(_, o)| !o.ok && !o.unknown).count();
    let unknown = results.iter().filter(|(_, o)| o.unknown).count();
    if json {
        let body: Vec<_> = results.iter().map(|(i, o)| serde_json::json!({"check": config.checks[*i].id, "kind": config.checks[*i].probe.kind(), "observation": o})).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"ok": failed == 0, "failed": failed, "unknown": unknown, "checks": body})
            )?
        );
    } else {
        let rows: Vec<Vec<String>> = results
            .iter()
            .map(|(i, o)| {
                let c = &config.checks[*i];
                vec![
                    c.id.clone(),
                    c.probe.kind().into(),
                    match (o.ok, o.unknown) {
                        (true, _) => "ok".into(),
                        (false, true) => "unknown".into(),
                        (false, false) => "FAIL".into(),
                    },
                    format!("{:.1}ms", o.latency_us as f64 / 1000.0),
                    o.detail.clone(),
                ]
            })
            .collect();
        print!("{}", table(&["CHECK", "KIND", "STATUS", "LATENCY", "DETAIL"], &rows));
        match unknown {
            0 => println!("{}, {failed} failing", counted(results.len(), "check")),
            n => println!("{}, {failed} failing, {n} unknown", counted(results.len(), "check")),
        }
    }
    Ok(u8::from(failed > 0))
}
