//! Records the commit the binary is built from (`obsctl version`): `OBSCTL_BUILD_COMMIT` when
//! set (an image built without `.git`), else `git rev-parse`, with `-dirty` for uncommitted
//! changes; `unknown` when neither is there.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=OBSCTL_BUILD_COMMIT");
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/index");
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{head}");
        }
    }
    let commit = std::env::var("OBSCTL_BUILD_COMMIT").ok().filter(|c| !c.is_empty()).or_else(|| {
        let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
        let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
        Some(if dirty { format!("{commit}-dirty") } else { commit })
    });
    println!("cargo:rustc-env=OBSCTL_COMMIT={}", commit.unwrap_or_else(|| "unknown".into()));
}
