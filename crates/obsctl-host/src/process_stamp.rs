//! A stamp that tells one process apart from every other on this machine and over time: the
//! kernel's boot, the pid namespace, the pid and the process's start time. A pid alone is not
//! enough: a process in a container (another pid namespace, often the same host name) or one
//! started later with a reused pid would pass for it.

/// `<boot id>-<pid namespace>-<start time>` of process `pid` as seen from this process, or
/// `None` where it cannot be read (no such process, a zombie, or no `/proc`).
pub fn process_stamp(pid: u32) -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let boot: String = boot.trim().chars().filter(char::is_ascii_hexdigit).take(12).collect();
    let namespace = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let namespace: String = namespace.to_string_lossy().chars().filter(char::is_ascii_digit).collect();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 3 (state) and 22 (start time, in clock ticks since boot); the command name before
    // them may hold spaces and parentheses, so fields are counted after its last ')'. A zombie
    // (exited, not yet reaped) or dead process has no stamp: it runs no more.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    if matches!(fields.next()?, "Z" | "X") {
        return None;
    }
    let start = fields.nth(18)?;
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
        // Killed, not yet reaped (a zombie): ended already.
        let pid = child.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !stamped_process_ended(pid, &child_stamp) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(stamped_process_ended(pid, &child_stamp), "a zombie counts as ended");
        child.wait().unwrap();
        assert!(stamped_process_ended(pid, &child_stamp), "an ended process counts as ended");
        // The same pid with another start time (a reused pid): ended.
        let (context, _) = stamp.rsplit_once('-').unwrap();
        assert!(stamped_process_ended(me, &format!("{context}-1")));
        // Another pid namespace or boot: cannot tell, so not ended.
        assert!(!stamped_process_ended(child.id(), "000000000000-1-5"));
    }
}
