//! The process probe: a process by name, pid file or pid is running (and under a memory limit).

use obsctl_core::check::{ProcessProbe, ProcessTarget};
use obsctl_core::quantity::format_size;

use super::{ProbeOutcome, blocking};

pub(super) async fn probe(p: ProcessProbe) -> ProbeOutcome {
    blocking(move || look(&p)).await
}

fn look(p: &ProcessProbe) -> ProbeOutcome {
    let found: Vec<(u32, u64)> = match &p.target {
        ProcessTarget::Name(name) => obsctl_host::processes_named(name),
        ProcessTarget::PidFile(path) => {
            let pid = match std::fs::read_to_string(path) {
                Ok(text) => match text.trim().parse::<u32>() {
                    Ok(pid) => pid,
                    Err(_) => {
                        return ProbeOutcome::fail(format!("pid file {path} does not hold a pid"));
                    }
                },
                Err(e) => return ProbeOutcome::fail(format!("pid file {path}: {e}")),
            };
            by_pid(pid)
        }
        ProcessTarget::Pid(pid) => by_pid(*pid),
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
        Some(max) if rss > max => {
            ProbeOutcome::fail(format!("{label} (pid {pid}) uses {} (max {})", format_size(rss), format_size(max)))
        }
        _ => ProbeOutcome::pass(format!("{label} running as pid {pid}, {}", format_size(rss))),
    }
}

fn by_pid(pid: u32) -> Vec<(u32, u64)> {
    obsctl_host::process_rss(pid).map(|rss| vec![(pid, rss)]).unwrap_or_default()
}
