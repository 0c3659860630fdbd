//! Host probes: memory use and load average per core.

use super::{ProbeOutcome, blocking};

pub(super) async fn memory(max_used_percent: f64) -> ProbeOutcome {
    blocking(move || {
        let (used_bytes, total) = obsctl_host::memory();
        let total = total.max(1);
        let used = 100.0 * used_bytes as f64 / total as f64;
        let detail = format!("{used:.1}% of {} memory used", obsctl_core::quantity::format_size(total));
        if used > max_used_percent {
            ProbeOutcome::fail(format!("{detail} (max {max_used_percent}%)"))
        } else {
            ProbeOutcome::pass(detail)
        }
    })
    .await
}

pub(super) async fn load(max_per_core: f64) -> ProbeOutcome {
    blocking(move || {
        let (one, cores) = obsctl_host::load();
        let cores = cores as f64;
        let per_core = one / cores;
        let detail = format!("load {one:.2} on {cores} cores ({per_core:.2} per core)");
        if per_core > max_per_core {
            ProbeOutcome::fail(format!("{detail}, max {max_per_core}"))
        } else {
            ProbeOutcome::pass(detail)
        }
    })
    .await
}
