//! The process probe: a process by name, pid file or pid is running (and under a memory limit).

use obsctl_core::check::{ProcessProbe, ProcessTarget};
use obsctl_core::quantity::format_size;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use super::{ProbeOutcome, blocking};

pub(super) async fn probe(p: ProcessProbe) -> ProbeOutcome {
    blocking(move || look(&p)).await
}

fn look(p: &ProcessProbe) -> ProbeOutcome {
    let mut sys = System::new();
    let refresh = ProcessRefreshKind::nothing().with_memory();
    let found: Vec<(u32, u64)> = match &p.target {
        ProcessTarget::Name(name) => {
            sys.refresh_processes_specifics(ProcessesToUpdate::All, true, refresh);
            sys.processes()
                .values()
                .filter(|proc_| proc_.name().to_string_lossy() == name.as_str() && proc_.thread_kind().is_none())
                .map(|proc_| (proc_.pid().as_u32(), proc_.memory()))
                .collect()
        }
        ProcessTarget::PidFile(path) => {
            let pid = match std::fs::read_to_string(path) {
                Ok(text) => match text.trim().parse::<u32>() {
                    Ok(pid) => pid,
                    Err(_) => return ProbeOutcome::fail(format!("pid file {path} does not hold a pid")),
                },
                Err(e) => return ProbeOutcome::fail(format!("pid file {path}: {e}")),
            };
            by_pid(&mut sys, pid, refresh)
        }
        ProcessTarget::Pid(pid) => by_pid(&mut sys, *pid, refresh),
    };
    let label = match &p.target {
        ProcessTarget::Name(n) => format!("process {n:?}"),
        ProcessTarget::PidFile(f) => format!("process of {f}"),
        ProcessTarget::Pid(pid) => format!("pid {pid}"),
    };
    let Some(&(pid, rss)) = found.iter().max_by_key(|(_, rss)| *rss) else {
        return ProbeOutcome::fail(format!("{label} is not running"));
    };
    match p.max_rss {
        Some(max) if rss > max => ProbeOutcome::fail(format!("{label} (pid {pid}) uses {} (max {})", format_size(rss), format_size(max))),
        _ => ProbeOutcome::pass(format!("{label} running as pid {pid}, {}", format_size(rss))),
    }
}

fn by_pid(sys: &mut System, pid: u32, refresh: ProcessRefreshKind) -> Vec<(u32, u64)> {
    let pid = Pid::from_u32(pid);
    sys.refresh_processes_specifics(ProcessesToUpdate::Some(&[pid]), true, refresh);
    sys.process(pid).map(|p| vec![(pid.as_u32(), p.memory())]).unwrap_or_default()
}
