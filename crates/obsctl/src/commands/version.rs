//! `obsctl version` and `obsctl completions`.

use clap::CommandFactory;

use crate::cli::Cli;

pub fn version(json: bool) -> anyhow::Result<u8> {
    let (release, commit) = (env!("CARGO_PKG_VERSION"), env!("OBSCTL_COMMIT"));
    let target = format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS);
    if json {
        println!("{}", serde_json::json!({"version": release, "commit": commit, "target": target}));
    } else {
        println!("obsctl {release}\ncommit {commit}\ntarget {target}");
    }
    Ok(0)
}

/// Writes the shell's completion script; a reader that stops early (`| head`) ends it quietly
/// instead of a panic on the closed pipe.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<u8> {
    use std::io::Write;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "obsctl", &mut script);
    match std::io::stdout().lock().write_all(&script) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        other => other.map(|()| 0).map_err(Into::into),
    }
}
