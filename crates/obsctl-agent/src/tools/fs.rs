//! `fs.usage` and `fs.cleanup`: folder sizes and file cleanup, confined to the allowed roots.
//! Symlinks are never followed; only regular files are ever deleted.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use obsctl_core::quantity::{format_size, parse_duration, parse_size};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Annotations, Tool, ToolError, ToolResult, ToolSpec, parse_args};
use crate::gate::Permit;

/// The canonical form of `path` and of the allowed root it lies in, else a refusal. A root
/// that is `/` or a system folder (after resolving links) never counts.
pub(crate) fn confine(path: &str, roots: &[PathBuf]) -> Result<(PathBuf, PathBuf), ToolError> {
    let canonical = Path::new(path).canonicalize().map_err(|e| ToolError::Failed(format!("{path}: {e}")))?;
    let root = roots
        .iter()
        .filter_map(|r| r.canonicalize().ok())
        .filter(|r| !obsctl_config::is_system_folder(r))
        .find(|r| canonical.starts_with(r));
    match root {
        Some(root) => Ok((canonical, root)),
        None => Err(ToolError::Refused(format!(
            "{path} is outside the allowed roots (fs.allowed_roots; system folders never count)"
        ))),
    }
}

async fn blocking(f: impl FnOnce() -> ToolResult + Send + 'static) -> ToolResult {
    tokio::task::spawn_blocking(f).await.map_err(|e| ToolError::Failed(format!("task failed: {e}")))?
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageArgs {
    /// A folder inside the allowed roots.
    pub path: String,
}

pub struct Usage {
    roots: Vec<PathBuf>,
    spec: ToolSpec,
}

impl Usage {
    pub fn new(roots: Vec<PathBuf>) -> Self {
        let annotations = Annotations {
            read_only_hint: true,
            destructive_hint: false,
            idempotent_hint: true,
            open_world_hint: false,
        };
        Self {
            roots,
            spec: ToolSpec::new::<UsageArgs>(
                "fs.usage",
                "Size of a folder and the free space of its filesystem.",
                annotations,
                false,
            ),
        }
    }
}

#[async_trait]
impl Tool for Usage {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, args: &Value, _permit: &Permit) -> ToolResult {
        let a: UsageArgs = parse_args(args)?;
        let (path, _) = confine(&a.path, &self.roots)?;
        blocking(move || {
            let (bytes, complete) = obsctl_host::folder_size(&path);
            let fs = obsctl_host::filesystem_of(&path);
            Ok(json!({
                "path": path,
                "bytes": bytes,
                "size": format_size(bytes),
                "complete": complete,
                "filesystem": fs.map(|f| json!({"mount": f.mount, "total": f.total, "available": f.available, "used_percent": f.used_percent()})),
            }))
        })
        .await
    }
}

#[derive(Deserialize, JsonSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct CleanupArgs {
    /// The folder to clean, inside the allowed roots.
    pub root: String,
    /// Files to consider, relative to `root` (default `**/*`).
    #[serde(default)]
    pub glob: Option<String>,
    /// Only files last modified longer ago than this, e.g. `1h`.
    #[serde(default)]
    pub older_than: Option<String>,
    /// Stop once the folder holds at most this much, e.g. `50MB`.
    #[serde(default)]
    pub target_size: Option<String>,
    /// Stop once the filesystem has at least this much free, e.g. `5GB`.
    #[serde(default)]
    pub target_free: Option<String>,
}

pub struct Cleanup {
    roots: Vec<PathBuf>,
    spec: ToolSpec,
}

impl Cleanup {
    pub fn new(roots: Vec<PathBuf>) -> Self {
        let annotations = Annotations {
            read_only_hint: false,
            destructive_hint: true,
            idempotent_hint: true,
            open_world_hint: false,
        };
        let description = "Delete files matching a glob (oldest first, optionally older than a duration) inside an allowed root, until the folder is under a target size or the filesystem has a target free space. Never follows symlinks.";
        Self { roots, spec: ToolSpec::new::<CleanupArgs>("fs.cleanup", description, annotations, true) }
    }

    async fn plan(&self, args: &Value) -> Result<Selection, ToolError> {
        let a: CleanupArgs = parse_args(args)?;
        let (root, allowed) = confine(&a.root, &self.roots)?;
        let glob = globset::Glob::new(a.glob.as_deref().unwrap_or("**/*"))
            .map_err(|e| ToolError::InvalidArgs(format!("glob: {e}")))?
            .compile_matcher();
        let older_than = a
            .older_than
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(|e| ToolError::InvalidArgs(format!("older_than: {e}")))?;
        let target_size = a
            .target_size
            .as_deref()
            .map(parse_size)
            .transpose()
            .map_err(|e| ToolError::InvalidArgs(format!("target_size: {e}")))?;
        let target_free = a
            .target_free
            .as_deref()
            .map(parse_size)
            .transpose()
            .map_err(|e| ToolError::InvalidArgs(format!("target_free: {e}")))?;
        tokio::task::spawn_blocking(move || {
            let mut selection = select(&root, &glob, older_than, target_size, target_free);
            selection.allowed_root = allowed;
            selection
        })
        .await
        .map_err(|e| ToolError::Failed(format!("task failed: {e}")))
    }
}

/// How many files (and failures) a cleanup report lists by name.
const LISTED: usize = 100;

/// The files a cleanup would delete, in order, and why it stops there.
struct Selection {
    root: PathBuf,
    /// The allowed root that holds `root`: deletion walks from it by handles.
    allowed_root: PathBuf,
    files: Vec<(PathBuf, u64)>,
    folder_bytes: u64,
    note: String,
}

impl Selection {
    fn bytes(&self) -> u64 {
        self.files.iter().map(|(_, n)| n).sum()
    }

    /// What the journal, the timeline and the approval queue show: the totals, and the first
    /// `LISTED` files and failures (a cleanup may select a million files).
    fn report(&self, deleted: bool, failures: &[String]) -> Value {
        json!({
            "root": self.root,
            "deleted": deleted,
            "files": self.files.iter().take(LISTED).map(|(p, n)| json!({"path": p, "bytes": n})).collect::<Vec<_>>(),
            "files_not_listed": self.files.len().saturating_sub(LISTED),
            "count": self.files.len(),
            "bytes": self.bytes(),
            "size": format_size(self.bytes()),
            "folder_bytes_before": self.folder_bytes,
            "note": self.note,
            "failures": failures.iter().take(LISTED).collect::<Vec<_>>(),
            "failure_count": failures.len(),
        })
    }
}

fn select(
    root: &Path,
    glob: &globset::GlobMatcher,
    older_than: Option<Duration>,
    target_size: Option<u64>,
    target_free: Option<u64>,
) -> Selection {
    let (files, complete) = obsctl_host::walk_files(root);
    let folder_bytes: u64 = files.iter().map(|f| f.len).sum();
    let cutoff = older_than.and_then(|d| SystemTime::now().checked_sub(d));
    let mut candidates: Vec<_> = files
        .into_iter()
        .filter(|f| f.path.strip_prefix(root).is_ok_and(|rel| glob.is_match(rel)))
        .filter(|f| match (cutoff, f.modified) {
            (Some(cutoff), Some(m)) => m < cutoff,
            (Some(_), None) => false,
            (None, _) => true,
        })
        .collect();
    candidates.sort_by_key(|f| f.modified);
    let free = target_free.and_then(|_| obsctl_host::filesystem_of(root)).map(|fs| fs.available);
    let mut picked = Vec::new();
    let (mut size, mut avail) = (folder_bytes, free.unwrap_or(0));
    for f in candidates {
        let size_done = target_size.is_some_and(|t| size <= t);
        let free_done = target_free.is_some_and(|t| avail >= t);
        if (target_size.is_some() || target_free.is_some())
            && (target_size.is_none() || size_done)
            && (target_free.is_none() || free_done)
        {
            break;
        }
        size = size.saturating_sub(f.len);
        avail = avail.saturating_add(f.len);
        picked.push((f.path, f.len));
    }
    let mut note = match (target_size, target_free) {
        (None, None) => "every matching file".to_string(),
        _ => format!(
            "until folder <= {} / free >= {}",
            target_size.map(format_size).unwrap_or("-".into()),
            target_free.map(format_size).unwrap_or("-".into())
        ),
    };
    if !complete {
        note.push_str(&format!("; only the first {} entries were examined", obsctl_host::MAX_ENTRIES));
    }
    Selection { root: root.to_path_buf(), allowed_root: root.to_path_buf(), files: picked, folder_bytes, note }
}

#[async_trait]
impl Tool for Cleanup {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn validate(&self, args: &Value) -> Result<(), ToolError> {
        let a: CleanupArgs = parse_args(args)?;
        match confine(&a.root, &self.roots) {
            // A root that does not exist yet may by the time it runs; outside the roots never.
            Err(e @ ToolError::Refused(_)) => Err(e),
            _ => Ok(()),
        }
    }

    fn achieved(&self, result: &Value) -> Option<String> {
        let count = result["count"].as_u64()?;
        let size = result["size"].as_str().unwrap_or("");
        let failed = result["failure_count"].as_u64().unwrap_or(0);
        let failures = if failed > 0 { format!("; {failed} could not be deleted") } else { String::new() };
        Some(match count {
            0 => "deleted nothing: no file matched".to_string(),
            n => format!("deleted {} ({size}){failures}", obsctl_core::quantity::counted(n as usize, "file")),
        })
    }

    fn changed_nothing(&self, result: &Value) -> bool {
        result["count"].as_u64() == Some(0)
    }

    async fn call(&self, args: &Value, _permit: &Permit) -> ToolResult {
        let selection = self.plan(args).await?;
        blocking(move || {
            let mut failures = Vec::new();
            for (path, _) in &selection.files {
                // Deleted through directory handles from the allowed root: a folder swapped for
                // a symlink since the selection fails here instead of leading outside.
                let outcome = match path.strip_prefix(&selection.allowed_root) {
                    Ok(relative) => obsctl_host::delete_file_below(&selection.allowed_root, relative),
                    Err(_) => Err(std::io::Error::other("outside the allowed root")),
                };
                if let Err(e) = outcome {
                    failures.push(format!("{}: {e}; skipped", path.display()));
                }
            }
            if !failures.is_empty() && failures.len() == selection.files.len() {
                let shown: Vec<&str> = failures.iter().take(5).map(String::as_str).collect();
                return Err(ToolError::Failed(format!(
                    "could not delete any of {} files: {}",
                    failures.len(),
                    shown.join("; ")
                )));
            }
            Ok(selection.report(true, &failures))
        })
        .await
    }

    async fn dry_run(&self, args: &Value) -> Option<ToolResult> {
        Some(self.plan(args).await.map(|s| s.report(false, &[])))
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_big_cleanup_reports_totals_and_lists_only_the_first_files() {
        let root = tempfile::tempdir().unwrap();
        for i in 0..250 {
            std::fs::write(root.path().join(format!("f{i}")), b"x").unwrap();
        }
        let tool = Cleanup::new(vec![root.path().to_path_buf()]);
        let args = json!({"root": root.path()});
        let report = tool.call(&args, &Permit::for_tests("fs.cleanup", &args)).await.unwrap();
        assert_eq!(report["count"], 250);
        assert_eq!(report["files"].as_array().unwrap().len(), LISTED);
        assert_eq!(report["files_not_listed"], 150);
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
    }

    /// A writer inside the root keeps swapping a folder for a symlink to a folder outside it
    /// while cleanups run: nothing outside the root may ever be deleted.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_folder_swapped_for_a_symlink_never_leads_a_cleanup_outside_the_root() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let (sub, parked) = (root.path().join("sub"), root.path().join("parked"));
        let tool = Cleanup::new(vec![root.path().to_path_buf()]);
        let args = json!({"root": root.path()});
        for round in 0..20 {
            std::fs::create_dir_all(&sub).unwrap();
            for i in 0..200 {
                std::fs::write(sub.join(format!("f{i}")), b"inside").unwrap();
                std::fs::write(outside.path().join(format!("f{i}")), b"outside").unwrap();
            }
            let stop = Arc::new(AtomicBool::new(false));
            let swapper = {
                let (stop, sub, parked, target) =
                    (stop.clone(), sub.clone(), parked.clone(), outside.path().to_path_buf());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        if std::fs::rename(&sub, &parked).is_ok() {
                            let _ = std::os::unix::fs::symlink(&target, &sub);
                            std::thread::yield_now();
                            let _ = std::fs::remove_file(&sub);
                            let _ = std::fs::rename(&parked, &sub);
                        }
                    }
                })
            };
            let _ = tool.call(&args, &Permit::for_tests("fs.cleanup", &args)).await;
            stop.store(true, Ordering::Relaxed);
            swapper.join().unwrap();
            let left = (0..200).filter(|i| outside.path().join(format!("f{i}")).exists()).count();
            assert_eq!(left, 200, "round {round}: {} files outside the root were deleted", 200 - left);
        }
    }
}
