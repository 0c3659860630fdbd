//! Running an external command safely: an exact argv (no shell), a cleared environment plus
//! what the caller names, no stdin, a deadline, and output kept bounded while it is read (only
//! the last `keep` bytes of each stream), so a chatty or hostile command cannot fill memory.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// The `PATH` a command gets unless the caller names another.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug)]
pub struct RunOutput {
    pub status: ExitStatus,
    /// The last bytes of standard output, lossily decoded.
    pub stdout: String,
    pub stderr: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("empty command")]
    Empty,
    #[error("cannot run {program}: {error}")]
    Spawn { program: String, error: std::io::Error },
    #[error("timed out after {0:?}; killed")]
    TimedOut(Duration),
    #[error("reading its output failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads a stream to its end, keeping only its last `keep` bytes.
async fn tail(mut stream: impl AsyncRead + Unpin, keep: usize) -> std::io::Result<Vec<u8>> {
    let mut kept = Vec::with_capacity(keep.min(64 * 1024));
    // On the heap: an array here would sit inside every probe's future (the command probe is
    // one variant of all of them), 16 KB for each of 10,000 scheduled checks.
    let mut buf = vec![0u8; 8192];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(kept);
        }
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > keep {
            kept.drain(..kept.len() - keep);
        }
    }
}

/// Runs `argv` with only `env` (plus `PATH`, unless `env` names it) and waits at most `timeout`.
pub async fn run_bounded(
    argv: &[String],
    env: &[(String, String)],
    timeout: Duration,
    keep: usize,
) -> Result<RunOutput, RunError> {
    let (program, args) = argv.split_first().ok_or(RunError::Empty)?;
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if !env.iter().any(|(k, _)| k == "PATH") {
        command.env("PATH", DEFAULT_PATH);
    }
    command.envs(env.iter().map(|(k, v)| (k, v)));
    let mut child = command.spawn().map_err(|error| RunError::Spawn { program: program.clone(), error })?;
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(RunError::Io(std::io::Error::other("no pipes to the child")));
    };
    let finished = async {
        let (stdout, stderr, status) = tokio::join!(tail(out, keep), tail(err, keep), child.wait());
        Ok::<_, RunError>(RunOutput {
            status: status?,
            stdout: String::from_utf8_lossy(&stdout?).into_owned(),
            stderr: String::from_utf8_lossy(&stderr?).into_owned(),
        })
    };
    match tokio::time::timeout(timeout, finished).await {
        Ok(result) => result,
        Err(_) => Err(RunError::TimedOut(timeout)),
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[tokio::test]
    async fn output_is_bounded_and_the_environment_cleared() {
        // 20 MB of output: only the tail is kept, and the child is never blocked on a full pipe.
        let out = run_bounded(
            &argv(&["sh", "-c", "head -c 20000000 /dev/zero; echo end"]),
            &[],
            Duration::from_secs(20),
            4096,
        )
        .await
        .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), 4096);
        assert!(out.stdout.ends_with("end\n"));
        let env = run_bounded(&argv(&["env"]), &[("ONLY".into(), "this".into())], Duration::from_secs(5), 4096)
            .await
            .unwrap();
        let mut names: Vec<&str> = env.stdout.lines().filter_map(|l| l.split('=').next()).collect();
        names.sort_unstable();
        assert_eq!(names, ["ONLY", "PATH"], "{}", env.stdout);
        let slow = run_bounded(&argv(&["sleep", "5"]), &[], Duration::from_millis(100), 64).await;
        assert!(matches!(slow, Err(RunError::TimedOut(_))), "{slow:?}");
    }
}
