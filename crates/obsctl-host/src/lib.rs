//! Facts about the host obsctl runs on (filesystems, folder sizes, memory, load), portable
//! through `sysinfo`, shared by the disk probe and the `fs.*` tools, and the ways obsctl
//! reaches out (bounded commands, the HTTP client). Blocking: call from `spawn_blocking`
//! (except `run_bounded`, which is async).

mod child;
mod confined;
pub mod docker;
mod http_client;
mod process_stamp;
mod run;

use std::path::{Path, PathBuf};

pub use child::{die_with_parent, group_members, own_group_dying_with_parent, signal_group};
pub use confined::delete_file_below;
pub use http_client::{describe_error, http_client, read_capped};
pub use process_stamp::{process_stamp, stamped_process_ended};
pub use run::{DEFAULT_PATH, RunError, RunOutput, run_bounded};

/// Stop walking a folder after this many entries, so a huge tree cannot stall a caller.
pub const MAX_ENTRIES: usize = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filesystem {
    pub mount: PathBuf,
    /// Its type as the kernel names it: `ext4`, `overlay`, `tmpfs`…
    pub kind: String,
    pub total: u64,
    pub available: u64,
}

impl Filesystem {
    /// A running container's root, as the container engine mounts it (`overlay` anywhere but
    /// `/`): one per container, not a disk of this host's. obsctl itself in a container has an
    /// overlay at `/`, which is its disk.
    pub fn is_container_layer(&self) -> bool {
        self.kind == "overlay" && self.mount != Path::new("/")
    }

    pub fn used_percent(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            100.0 * (self.total - self.available.min(self.total)) as f64 / self.total as f64
        }
    }
}

/// Every mounted filesystem.
pub fn filesystems() -> Vec<Filesystem> {
    sysinfo::Disks::new_with_refreshed_list()
        .list()
        .iter()
        .map(|d| Filesystem {
            mount: d.mount_point().to_path_buf(),
            kind: d.file_system().to_string_lossy().into_owned(),
            total: d.total_space(),
            available: d.available_space(),
        })
        .collect()
}

/// The mounted filesystem with the longest mount point that contains `path`.
pub fn filesystem_of(path: &Path) -> Option<Filesystem> {
    let path = path.canonicalize().ok()?;
    filesystems().into_iter().filter(|fs| path.starts_with(&fs.mount)).max_by_key(|fs| fs.mount.as_os_str().len())
}

/// A regular file found by `walk_files`.
#[derive(Debug, Clone)]
pub struct FileEntry {
    pub path: PathBuf,
    pub len: u64,
    pub modified: Option<std::time::SystemTime>,
}

/// Regular files below `root`, never following symlinks (a symlink is neither entered nor
/// listed); the bool is false when the walk stopped at `MAX_ENTRIES`.
pub fn walk_files(root: &Path) -> (Vec<FileEntry>, bool) {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    let mut entries = 0usize;
    while let Some(dir) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in read.flatten() {
            entries += 1;
            if entries > MAX_ENTRIES {
                return (files, false);
            }
            let path = entry.path();
            let Ok(meta) = path.symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                files.push(FileEntry { path, len: meta.len(), modified: meta.modified().ok() });
            }
        }
    }
    (files, true)
}

/// Bytes of the regular files below `root`; false when the walk was cut short.
pub fn folder_size(root: &Path) -> (u64, bool) {
    let (files, complete) = walk_files(root);
    (files.iter().map(|f| f.len).sum(), complete)
}

/// Memory in use and in total, in bytes.
pub fn memory() -> (u64, u64) {
    let mut sys = sysinfo::System::new();
    sys.refresh_memory();
    (sys.used_memory(), sys.total_memory())
}

/// The one-minute load average and the number of cores.
pub fn load() -> (f64, usize) {
    (sysinfo::System::load_average().one, std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}

/// Running processes whose name is `name`: (pid, resident bytes). Threads are not listed.
pub fn processes_named(name: &str) -> Vec<(u32, u64)> {
    let mut sys = sysinfo::System::new();
    let refresh = sysinfo::ProcessRefreshKind::nothing().with_memory();
    sys.refresh_processes_specifics(sysinfo::ProcessesToUpdate::All, true, refresh);
    sys.processes()
        .values()
        .filter(|p| p.name().to_string_lossy() == name && p.thread_kind().is_none() && runs(p))
        .map(|p| (p.pid().as_u32(), p.memory()))
        .collect()
}

/// Whether a process runs: a zombie (exited, not yet reaped by its parent) or a dead one does
/// not, though its pid is still listed.
fn runs(p: &sysinfo::Process) -> bool {
    !matches!(p.status(), sysinfo::ProcessStatus::Zombie | sysinfo::ProcessStatus::Dead)
}

/// This machine's host name (`localhost` when it cannot be read).
pub fn host_name() -> String {
    sysinfo::System::host_name().unwrap_or_else(|| "localhost".to_string())
}

/// The resident bytes of a running process, or `None` when there is no such process (or it
/// has exited and waits, a zombie, to be reaped).
pub fn process_rss(pid: u32) -> Option<u64> {
    let mut sys = sysinfo::System::new();
    let pid = sysinfo::Pid::from_u32(pid);
    let refresh = sysinfo::ProcessRefreshKind::nothing().with_memory();
    sys.refresh_processes_specifics(sysinfo::ProcessesToUpdate::Some(&[pid]), true, refresh);
    sys.process(pid).filter(|p| runs(p)).map(|p| p.memory())
}

/// CPU use over time: whole-host and this process's, as percentages of one core times the core
/// count (host) or of one core (process), measured between two calls.
pub struct CpuMeter {
    sys: sysinfo::System,
    me: sysinfo::Pid,
}

impl Default for CpuMeter {
    fn default() -> Self {
        let mut sys = sysinfo::System::new();
        sys.refresh_cpu_usage();
        let me = sysinfo::Pid::from_u32(std::process::id());
        let mut meter = CpuMeter { sys, me };
        meter.refresh_self();
        meter
    }
}

impl CpuMeter {
    fn refresh_self(&mut self) {
        let refresh = sysinfo::ProcessRefreshKind::nothing().with_cpu().with_memory();
        self.sys.refresh_processes_specifics(sysinfo::ProcessesToUpdate::Some(&[self.me]), true, refresh);
    }

    /// (host CPU %, this process's CPU %, this process's resident bytes) since the last call.
    pub fn sample(&mut self) -> (f64, f64, u64) {
        self.sys.refresh_cpu_usage();
        self.refresh_self();
        let own = self.sys.process(self.me);
        (
            f64::from(self.sys.global_cpu_usage()),
            own.map(|p| f64::from(p.cpu_usage())).unwrap_or(0.0),
            own.map(|p| p.memory()).unwrap_or(0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_containers_overlay_is_not_a_disk_of_the_host_but_an_overlay_root_is() {
        let fs =
            |mount: &str, kind: &str| Filesystem { mount: mount.into(), kind: kind.into(), total: 1, available: 1 };
        assert!(fs("/var/lib/docker/overlay2/0ed09aca/merged", "overlay").is_container_layer());
        assert!(!fs("/", "overlay").is_container_layer());
        assert!(!fs("/var/lib/docker", "ext4").is_container_layer());
    }

    /// Issue 27, finding 1: an exited child nobody reaped kept passing a `process` check.
    #[test]
    fn a_zombie_is_not_running() {
        let mut child = std::process::Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
        let pid = child.id();
        // Exited, not reaped: a zombie until `wait`.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap().contains(") Z "), "a zombie now");
        assert_eq!(process_rss(pid), None);
        assert!(processes_named("sh").iter().all(|(p, _)| *p != pid));
        assert_eq!(child.wait().unwrap().code(), Some(3));
    }

    #[test]
    fn walks_without_following_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("big"), vec![0u8; 5000]).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a"), vec![0u8; 100]).unwrap();
        std::fs::write(dir.path().join("b"), vec![0u8; 20]).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        assert_eq!(folder_size(dir.path()), (120, true));
        let fs = filesystem_of(dir.path()).expect("a filesystem holds the temp dir");
        assert!(fs.total > 0 && fs.used_percent() <= 100.0);
        assert!(process_rss(std::process::id()).is_some_and(|rss| rss > 0));
        assert_eq!(process_rss(u32::MAX - 7), None);
    }
}
