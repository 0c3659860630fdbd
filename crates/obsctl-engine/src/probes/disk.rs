//! The disk probe: used percent and free bytes of the filesystem holding a path, and the total
//! size of the files below it.

use std::path::Path;

use obsctl_core::check::DiskProbe;
use obsctl_core::quantity::format_size;

use super::{ProbeOutcome, blocking};

/// The incident kind of a disk check whose path does not exist.
const PATH_MISSING: &str = "path-missing";

pub(super) async fn probe(p: DiskProbe) -> ProbeOutcome {
    blocking(move || measure(&p)).await
}

fn measure(p: &DiskProbe) -> ProbeOutcome {
    let path = Path::new(&p.path);
    if !path.exists() {
        // Its own kind: a missing folder is not a full one, and a cleanup runbook for
        // `disk-full` must not fire on it.
        return ProbeOutcome::fail(format!("{} does not exist", p.path)).kind(PATH_MISSING);
    }
    let mut seen = Vec::new();
    let mut problems = Vec::new();
    if p.max_used_percent.is_some() || p.min_free.is_some() {
        match obsctl_host::filesystem_of(path) {
            Some(fs) => {
                let used_pct = fs.used_percent();
                seen.push(format!("{used_pct:.1}% used, {} free on {}", format_size(fs.available), fs.mount.display()));
                if let Some(max) = p.max_used_percent
                    && used_pct > max
                {
                    problems.push(format!("{used_pct:.1}% used (max {max}%)"));
                }
                if let Some(min) = p.min_free
                    && fs.available < min
                {
                    problems.push(format!("{} free (min {})", format_size(fs.available), format_size(min)));
                }
            }
            None => problems.push(format!("no mounted filesystem found for {}", p.path)),
        }
    }
    if let Some(max) = p.max_size {
        let (size, complete) = obsctl_host::folder_size(path);
        let more = if complete { "" } else { "+" };
        seen.push(format!("{}{more} in {}", format_size(size), p.path));
        if size > max {
            problems.push(format!("{}{more} in {} (max {})", format_size(size), p.path, format_size(max)));
        }
    }
    if problems.is_empty() { ProbeOutcome::pass(seen.join("; ")) } else { ProbeOutcome::fail(problems.join("; ")) }
}
