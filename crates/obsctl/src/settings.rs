//! Finding and loading the configuration: the file, `.env` beside it, the process environment,
//! and the built-in host watch used when there is no config at all.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use obsctl_config::{Config, LoadOptions, load};

/// The process environment with `.env` (beside the config, else in the working folder) under
/// it, read by the project's one `.env` reader; a line it cannot read is an error naming the
/// file and the line.
pub fn environment(config_dir: &Path) -> anyhow::Result<HashMap<String, String>> {
    let mut env = HashMap::new();
    for candidate in [config_dir.join(".env"), PathBuf::from(".env")] {
        if let Ok(text) = std::fs::read_to_string(&candidate) {
            let vars = obsctl_core::dotenv::parse(&text).map_err(|errors| {
                anyhow::anyhow!("{} cannot be read:\n  {}", candidate.display(), errors.join("\n  "))
            })?;
            env.extend(vars);
            break;
        }
    }
    env.extend(std::env::vars());
    Ok(env)
}

/// Loads `path`, printing every problem; `Ok(None)` when no path was given and ./obsctl.toml is absent.
pub fn load_file(path: Option<&Path>) -> anyhow::Result<Option<Config>> {
    let (path, explicit) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => (PathBuf::from("obsctl.toml"), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read config {}", path.display())),
    };
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let env = environment(&dir)?;
    let file = path.display().to_string();
    let opts = LoadOptions { file: &file, known_tools: obsctl_agent::tools::BUILTIN_TOOLS };
    load(&text, &env, &opts).map(Some).map_err(|errors| anyhow::anyhow!("{errors}"))
}

/// The config to run with: the file, or (with none) a watch of this host.
pub fn load_or_host(path: Option<&Path>) -> anyhow::Result<Config> {
    if let Some(config) = load_file(path)? {
        return Ok(config);
    }
    tracing::warn!("no obsctl.toml here: watching this host; run `obsctl init` to write a config with your services");
    let text = host_config();
    let env = environment(Path::new("."))?;
    load(&text, &env, &LoadOptions { file: "obsctl.toml", known_tools: obsctl_agent::tools::BUILTIN_TOOLS })
        .map_err(|errors| anyhow::anyhow!("built-in host config is invalid (a bug): {errors}"))
}

/// A config that watches this host: every mounted disk, memory, load, and obsctl itself.
fn host_config() -> String {
    let mut text = String::from("version = 1\n[[service]]\nname = \"host\"\n");
    let mut seen = std::collections::HashSet::new();
    for fs in obsctl_host::filesystems() {
        let mount = fs.mount.display().to_string();
        let slug: String = mount
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .trim_matches('-')
            .to_string();
        let name = if slug.is_empty() { "disk-root".to_string() } else { format!("disk-{slug}") };
        if fs.total == 0 || !seen.insert(name.clone()) {
            continue;
        }
        let path = mount.replace('\\', "\\\\").replace('"', "\\\"");
        text.push_str(&format!("  [[service.check]]\n  name = \"{name}\"\n  kind = \"disk\"\n  path = \"{path}\"\n  max_used_percent = 90\n  interval = \"60s\"\n"));
    }
    text.push_str("  [[service.check]]\n  name = \"memory\"\n  kind = \"memory\"\n  max_used_percent = 95\n  interval = \"30s\"\n");
    text.push_str(
        "  [[service.check]]\n  name = \"load\"\n  kind = \"load\"\n  max_per_core = 4.0\n  interval = \"30s\"\n",
    );
    text.push_str(&format!(
        "  [[service.check]]\n  name = \"obsctl\"\n  kind = \"process\"\n  pid = {}\n  max_rss = \"1GB\"\n  interval = \"30s\"\n",
        std::process::id()
    ));
    text
}
