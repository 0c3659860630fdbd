//! Children that do not outlive obsctl: a process obsctl starts (a supervised service) is sent
//! SIGTERM by the kernel when obsctl dies, however it dies (`kill -9` included), so no orphan
//! keeps holding a port while the next obsctl starts a second copy.

/// Makes `cmd`'s child receive SIGTERM when the thread that starts it (a runtime worker, which
/// lives as long as obsctl) ends. Linux only; elsewhere nothing changes.
pub fn die_with_parent(cmd: &mut std::process::Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let death_signal = || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))
                .map_err(std::io::Error::from)
        };
        // SAFETY: the closure runs in the forked child before exec and only calls prctl(2),
        // which is async-signal-safe; it touches no memory shared with the parent.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(death_signal);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// Makes `cmd`'s child the leader of a process group of its own, so a stop reaches what it
/// starts too (a shell's children), and sends it SIGTERM when obsctl dies (`die_with_parent`;
/// the kernel signals only the child itself: what it started is found by `group_members`).
pub fn own_group_dying_with_parent(cmd: &mut std::process::Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    die_with_parent(cmd);
}

/// Sends SIGTERM (or, with `kill`, SIGKILL) to every process of group `pgid`; a group that is
/// gone is no error.
pub fn signal_group(pgid: u32, kill: bool) {
    #[cfg(unix)]
    if let Some(pid) = i32::try_from(pgid).ok().and_then(rustix::process::Pid::from_raw) {
        let signal = if kill { rustix::process::Signal::KILL } else { rustix::process::Signal::TERM };
        let _ = rustix::process::kill_process_group(pid, signal);
    }
}

/// The processes still running in the group that a child led, known by the leader's stamp
/// (`process_stamp` when it started): on this machine's boot and pid namespace, in group
/// `pgid`, started no earlier than the leader. A group's id is not given to another process
/// while any member lives, so these are what that child left, whoever started it. Empty where
/// nothing can be told (another boot, no `/proc`).
pub fn group_members(pgid: u32, leader_stamp: &str) -> Vec<u32> {
    let Some(mine) = crate::process_stamp(std::process::id()) else { return Vec::new() };
    let (Some((here, _)), Some((there, start))) = (mine.rsplit_once('-'), leader_stamp.rsplit_once('-')) else {
        return Vec::new();
    };
    let (true, Ok(start)) = (here == there, start.parse::<u64>()) else { return Vec::new() };
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| in_group_since(*pid, pgid, start))
        .collect()
}

/// Whether process `pid` runs (is no zombie) in group `pgid` and started at or after `start`
/// (clock ticks since boot).
fn in_group_since(pid: u32, pgid: u32, start: u64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // After the command name's last ')': state, ppid, pgrp, … start time is the 20th.
    let Some((_, rest)) = stat.rsplit_once(')') else { return false };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let running = fields.first().is_some_and(|s| !matches!(*s, "Z" | "X"));
    let group = fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid);
    let since = fields.get(19).and_then(|t| t.parse::<u64>().ok()).is_some_and(|t| t >= start);
    running && group && since
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_group_is_found_by_its_leaders_stamp_and_signalled_whole() {
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", "sleep 30 & sleep 30 & wait"]);
        own_group_dying_with_parent(&mut cmd);
        let mut leader = cmd.spawn().unwrap();
        let stamp = crate::process_stamp(leader.id()).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while group_members(leader.id(), &stamp).len() < 3 {
            assert!(std::time::Instant::now() < deadline, "the shell and its two children");
            std::thread::yield_now();
        }
        // Another boot or namespace tells nothing; a stamp from after the leader started, neither.
        assert!(group_members(leader.id(), "000000000000-1-0").is_empty());
        let (context, start) = stamp.rsplit_once('-').unwrap();
        let later = format!("{context}-{}", start.parse::<u64>().unwrap() + 1_000_000);
        assert!(group_members(leader.id(), &later).is_empty());
        signal_group(leader.id(), false);
        leader.wait().unwrap();
        while !group_members(leader.id(), &stamp).is_empty() {
            assert!(std::time::Instant::now() < deadline, "SIGTERM reaches the whole group");
            std::thread::yield_now();
        }
    }
}
