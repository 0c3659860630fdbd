//! A stamp that tells one process apart from every other on this machine and over time: the
//! kernel's boot, the pid namespace, the pid and the process's start time. A pid alone is not
//! enough: a process in a container (another pid namespace, often the same host name) or one
//! started later with a reused pid would pass for it.

/// `<boot id>-<pid namespace>-<start time>` of process `pid` as seen from this process, or
/// `None` where it cannot be read (no such process, or no `/proc`).
pub fn process_stamp(pid: u32) -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let boot: String = boot.trim().chars().filter(char::is_ascii_hexdigit).take(12).collect();
    let namespace = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let namespace: String = namespace.to_string_lossy().chars().filter(char::is_ascii_digit).collect();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22 (start time, in clock ticks since boot); the command name before it may hold
    // spaces and parentheses, so fields are counted after its last ')'.
    let start = stat.rsplit_once(')')?.1.split_whitespace().nth(19)?;
    (!boot.is_empty() && !namespace.is_empty()).then(|| format!("{boot}-{namespace}-{start}"))
}

/// Whether the process that `stamp` (of `pid`) was taken from has ended: this machine's boot and
/// pid namespace are the stamp's, and pid `pid` is gone or is another process now. Where the
/// stamp is of another boot or namespace, nothing can be told: `false`.
pub fn stamped_process_ended(pid: u32, stamp: &str) -> bool {
    let Some(mine) = process_stamp(std::process::id()) else { return false };
    let (Some((my_context, _)), Some((context, _))) = (mine.rsplit_once('-'), stamp.rsplit_once('-')) else {
        return false;
    };
    context == my_context && process_stamp(pid).as_deref() != Some(stamp)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_stamp_tells_a_live_process_from_an_ended_or_foreign_one() {
        let me = std::process::id();
        let stamp = process_stamp(me).unwrap();
        assert_eq!(stamp.split('-').count(), 3, "{stamp}");
        assert!(!stamped_process_ended(me, &stamp), "this process runs");
        // A child that ran and ended: its stamp no longer matches.
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let child_stamp = process_stamp(child.id()).unwrap();
        assert!(!stamped_process_ended(child.id(), &child_stamp));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(stamped_process_ended(child.id(), &child_stamp), "an ended process counts as ended");
        // The same pid with another start time (a reused pid): ended.
        let (context, _) = stamp.rsplit_once('-').unwrap();
        assert!(stamped_process_ended(me, &format!("{context}-1")));
        // Another pid namespace or boot: cannot tell, so not ended.
        assert!(!stamped_process_ended(child.id(), "000000000000-1-5"));
    }
}
