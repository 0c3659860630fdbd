//! `obsctl dashboard`: opens the running dashboard in the default browser, or prints its URL
//! when there is no browser (or with `--print`); `dashboard hash-password` makes a login hash.

use std::io::BufRead;
use std::path::Path;
use std::process::Stdio;

pub async fn open(config: Option<&Path>, print: bool) -> anyhow::Result<u8> {
    let config = crate::settings::load_or_host(config)?;
    let listen = &config.server.listen;
    let host = match listen.rsplit_once(':') {
        Some(("0.0.0.0" | "[::]" | "", port)) => format!("127.0.0.1:{port}"),
        _ => listen.clone(),
    };
    let url = format!("http://{host}/ui");
    let running = obsctl_host::http_client()
        .build()?
        .get(format!("http://{host}/healthz"))
        .timeout(std::time::Duration::from_secs(2))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    if !running {
        eprintln!("nothing answers at {url}: start it with `obsctl serve` (or `obsctl demo --keep-running`)");
        return Ok(1);
    }
    if print || !open_in_browser(&url) {
        println!("{url}");
    } else {
        eprintln!("opened {url}");
    }
    Ok(0)
}

/// Hands the URL to the desktop's opener; false when there is none (a server, an SSH session).
fn open_in_browser(url: &str) -> bool {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    let graphical = cfg!(target_os = "macos")
        || std::env::var_os("DISPLAY").is_some()
        || std::env::var_os("WAYLAND_DISPLAY").is_some();
    graphical
        && std::process::Command::new(opener)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

pub fn hash_password() -> anyhow::Result<u8> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\n', '\r']);
    anyhow::ensure!(!password.is_empty(), "type the password on stdin, e.g. `obsctl dashboard hash-password < file`");
    println!("{}", obsctl_server::dashboard::hash_password(password)?);
    Ok(0)
}
