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

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<u8> {
    clap_complete::generate(shell, &mut Cli::command(), "obsctl", &mut std::io::stdout());
    Ok(0)
}
