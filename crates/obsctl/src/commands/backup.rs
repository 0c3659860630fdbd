//! `obsctl backup`, `restore` and `reset`: a consistent archive of a running instance, restored
//! into an empty store of either backend, and starting over with a backup first.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use obsctl_config::Config;
use obsctl_core::Timestamp;
use obsctl_store::backup::archive::{ConfigFile, Progress, TableSum};
use obsctl_store::{RecallIndex, Store};

async fn open(url: &str, password: Option<&str>) -> anyhow::Result<Arc<dyn Store>> {
    obsctl_store::open(url, password).await.map_err(|e| anyhow::anyhow!("store {url}: {e}"))
}

/// Where backups go by default: `backups/` in the data folder (beside the SQLite file), or in
/// the working folder for Postgres.
fn default_file(config: &Config) -> PathBuf {
    let folder = config
        .store
        .url
        .strip_prefix("sqlite://")
        .and_then(|db| Path::new(db).parent().map(Path::to_path_buf))
        .unwrap_or_default()
        .join("backups");
    let stamp = Timestamp::now().rfc3339().replace([':', '-'], "");
    folder.join(format!("obsctl-backup-{stamp}.jsonl.gz"))
}

/// A progress line on a terminal (stderr), nothing otherwise.
fn progress(what: &'static str) -> Progress {
    if !std::io::stderr().is_terminal() {
        return Box::new(|_, _| {});
    }
    Box::new(move |done, total| {
        let share = if total == 0 { 100 } else { done * 100 / total.max(done) };
        eprint!("\r{what} {share:>3}% ({done} of {total} rows)");
        if done >= total {
            eprintln!();
        }
    })
}

/// The archive's size in words people read (`10.2 KB`, not `0.0 MB`).
fn size(path: &Path) -> String {
    obsctl_core::quantity::format_size(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0))
}

/// Takes a backup of the configured store into `out` (or the default file); returns it.
async fn take(config: &Config, out: Option<PathBuf>) -> anyhow::Result<(PathBuf, Vec<TableSum>)> {
    let file = out.unwrap_or_else(|| default_file(config));
    if let Some(folder) = file.parent().filter(|f| !f.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)?;
    }
    let store = open(&config.store.url, config.store.password.as_ref().map(|p| p.expose())).await?;
    let archived = ConfigFile::read(Path::new(&config.file));
    let backend = obsctl_store::backend_of(&config.store.url);
    let sums = obsctl_store::backup::take(store.as_ref(), &file, backend, archived, progress("backup")).await;
    store.close().await;
    Ok((file, sums?))
}

pub async fn backup(config: Option<&Path>, out: Option<PathBuf>) -> anyhow::Result<u8> {
    let settings = crate::settings::load_or_host(config)?;
    let started = Instant::now();
    let (file, sums) = take(&settings, out).await?;
    let rows: u64 = sums.iter().map(|s| s.rows).sum();
    let tables: Vec<String> = sums.iter().filter(|s| s.rows > 0).map(|s| format!("{} {}", s.rows, s.name)).collect();
    println!(
        "backup: {rows} rows in {} tables, {} in {:.1}s → {}",
        sums.len(),
        size(&file),
        started.elapsed().as_secs_f64(),
        file.display()
    );
    println!("  {}", if tables.is_empty() { "(empty store)".to_string() } else { tables.join(", ") });
    Ok(0)
}

pub async fn restore(
    config: Option<&Path>,
    file: &Path,
    store_url: Option<String>,
    config_out: Option<PathBuf>,
) -> anyhow::Result<u8> {
    let settings = crate::settings::load_or_host(config)?;
    let (url, password) = match &store_url {
        Some(url) => (url.clone(), None),
        None => (settings.store.url.clone(), settings.store.password.as_ref().map(|p| p.expose().to_string())),
    };
    let store = open(&url, password.as_deref()).await?;
    if let Some(holder) = obsctl_agent::live_holder(store.as_ref()).await? {
        anyhow::bail!("{holder} is running on {url}: stop it before restoring into its store");
    }
    let started = Instant::now();
    let summary = obsctl_store::backup::restore(store.as_ref(), file, progress("restore"))
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}; nothing was restored", file.display()))?;
    println!(
        "restored {} rows from {} (taken {} by obsctl {} on {}) into {url} in {:.1}s",
        summary.rows(),
        file.display(),
        summary.header.created_at,
        summary.header.obsctl,
        summary.header.backend,
        started.elapsed().as_secs_f64()
    );
    if url == settings.store.url {
        let _ = std::fs::remove_dir_all(&settings.memory_index);
        let index = RecallIndex::open_or_rebuild(&settings.memory_index, store.as_ref()).await?;
        println!("rebuilt the recall index: {} episodes", index.len());
    } else {
        println!("the recall index of an instance on {url} is rebuilt when it starts");
    }
    match (config_out, &summary.config) {
        (Some(path), Some(c)) => {
            std::fs::write(&path, &c.text)?;
            println!("wrote the archived config ({}) to {}", c.file, path.display());
        }
        (Some(_), None) => println!("the archive holds no config"),
        (None, Some(c)) => {
            println!("the archive holds the config it ran with ({}): --config-out FILE writes it", c.file)
        }
        (None, None) => {}
    }
    store.close().await;
    Ok(0)
}

/// Asks on the terminal; anything but `reset` declines.
fn confirmed(url: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("reset deletes everything in {url}: pass --yes when not on a terminal");
    }
    print!(
        "This deletes every incident, action, observation and episode in {url} (the config stays).\nType reset to go on: "
    );
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "reset")
}

pub async fn reset(config: Option<&Path>, yes: bool, no_backup: bool) -> anyhow::Result<u8> {
    let settings = crate::settings::load_or_host(config)?;
    let url = settings.store.url.clone();
    let store = open(&url, settings.store.password.as_ref().map(|p| p.expose())).await?;
    if let Some(holder) = obsctl_agent::live_holder(store.as_ref()).await? {
        anyhow::bail!("{holder} is running on this store: stop it before a reset");
    }
    if !yes && !confirmed(&url)? {
        println!("nothing deleted");
        return Ok(1);
    }
    if !no_backup {
        let (file, sums) = take(&settings, None).await?;
        println!("backup first: {} rows → {}", sums.iter().map(|s| s.rows).sum::<u64>(), file.display());
    }
    store.clear().await?;
    let _ = std::fs::remove_dir_all(&settings.memory_index);
    store.close().await;
    println!("reset {url}: every table is empty; the config is unchanged");
    Ok(0)
}
