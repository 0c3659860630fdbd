//! The disk probe: used percent and free bytes of the filesystem holding a path, and the total
//! size of the files below it.

use std::path::{Path, PathBuf};

use obsctl_core::check::DiskProbe;
use obsctl_core::quantity::format_size;

use super::{ProbeOutcome, blocking};

/// Stop counting a folder's size after this many entries, so a huge tree cannot stall the probe.
const MAX_ENTRIES: usize = 1_000_000;

pub(super) async fn probe(p: DiskProbe) -> ProbeOutcome {
    blocking(move || measure(&p)).await
}

fn measure(p: &DiskProbe) -> ProbeOutcome {
    let path = Path::new(&p.path);
    if !path.exists() {
        return ProbeOutcome::fail(format!("{} does not exist", p.path));
    }
    let mut seen = Vec::new();
    let mut problems = Vec::new();
    if p.max_used_percent.is_some() || p.min_free.is_some() {
        match filesystem_of(path) {
            Some(fs) => {
                let used_pct = if fs.total == 0 { 0.0 } else { 100.0 * (fs.total - fs.available) as f64 / fs.total as f64 };
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
        let (size, complete) = folder_size(path);
        let more = if complete { "" } else { "+" };
        seen.push(format!("{}{more} in {}", format_size(size), p.path));
        if size > max {
            problems.push(format!("{}{more} in {} (max {})", format_size(size), p.path, format_size(max)));
        }
    }
    if problems.is_empty() { ProbeOutcome::pass(seen.join("; ")) } else { ProbeOutcome::fail(problems.join("; ")) }
}

pub(crate) struct Filesystem {
    pub mount: PathBuf,
    pub total: u64,
    pub available: u64,
}

/// The mounted filesystem with the longest mount point that contains `path`.
pub(crate) fn filesystem_of(path: &Path) -> Option<Filesystem> {
    let path = path.canonicalize().ok()?;
    let disks = sysinfo::Disks::new_with_refreshed_list();
    disks
        .list()
        .iter()
        .filter(|d| path.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len())
        .map(|d| Filesystem { mount: d.mount_point().to_path_buf(), total: d.total_space(), available: d.available_space() })
}

/// Bytes of the regular files below `root`, never following symlinks; false when cut short.
pub(crate) fn folder_size(root: &Path) -> (u64, bool) {
    let mut total = 0u64;
    let mut stack = vec![root.to_path_buf()];
    let mut entries = 0usize;
    while let Some(dir) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else { continue };
        for entry in read.flatten() {
            entries += 1;
            if entries > MAX_ENTRIES {
                return (total, false);
            }
            let Ok(meta) = entry.path().symlink_metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                total += meta.len();
            }
        }
    }
    (total, true)
}
