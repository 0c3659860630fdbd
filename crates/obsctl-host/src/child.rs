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
