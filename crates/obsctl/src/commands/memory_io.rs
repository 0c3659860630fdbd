//! `obsctl memory export|import`: episodes as JSON lines out, episode files and Markdown
//! postmortems in, idempotently, with every bad line or file reported by name and line.

use std::io::Write;
use std::path::{Path, PathBuf};

use obsctl_core::Timestamp;
use obsctl_core::memory::{Episode, exchange, postmortem};
use obsctl_core::secret::redact;
use obsctl_store::Upserted;

use crate::runtime::Runtime;

/// Writes every episode that ended at or after `since` to stdout, in id order.
pub async fn export(rt: &Runtime, since: Option<Timestamp>) -> anyhow::Result<u8> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut after: Option<String> = None;
    loop {
        let page = rt.store.episodes_after(after.as_deref(), 1000).await?;
        for e in page.iter().filter(|e| since.is_none_or(|t| e.ended_at >= t)) {
            writeln!(out, "{}", exchange::to_line(e))?;
        }
        match page.last() {
            Some(last) if page.len() == 1000 => after = Some(last.id.clone()),
            _ => break,
        }
    }
    out.flush()?;
    Ok(0)
}

/// `--since`: RFC 3339, or a duration back from now (`30d`).
pub fn parse_since(text: &str) -> anyhow::Result<Timestamp> {
    if let Some(t) = Timestamp::parse_rfc3339(text) {
        return Ok(t);
    }
    let ago = obsctl_core::quantity::parse_duration(text).map_err(|_| {
        anyhow::anyhow!("--since {text:?}: use RFC 3339 (2026-01-31T00:00:00Z) or a duration ago (30d)")
    })?;
    Ok(Timestamp::now().minus(ago))
}

/// One file to read and the name its episodes are known by (its path below the folder given).
struct Source {
    path: PathBuf,
    name: String,
}

fn is_postmortem(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "md" || e == "markdown")
}

/// The files an argument names: itself, or the episode files and postmortems below a folder.
fn sources(arg: &Path, problems: &mut Vec<String>) -> Vec<Source> {
    if arg.is_file() {
        let name = arg.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        return vec![Source { path: arg.to_path_buf(), name }];
    }
    let mut found = Vec::new();
    let mut folders = vec![arg.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) => {
                problems.push(format!("{}: cannot read: {e}", folder.display()));
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if is_postmortem(&path) || path.extension().is_some_and(|e| e == "jsonl" || e == "ndjson") {
                let name = path.strip_prefix(arg).unwrap_or(&path).to_string_lossy().replace('\\', "/");
                found.push(Source { path, name });
            }
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// Reads one file's episodes; bad lines (or a bad postmortem) go to `problems` as `file:line: why`.
fn read(source: &Source, origin: &str, problems: &mut Vec<String>) -> Vec<Episode> {
    let shown = source.path.display();
    let text = match std::fs::read_to_string(&source.path) {
        Ok(text) => text,
        Err(e) => {
            problems.push(format!("{shown}: cannot read: {e}"));
            return Vec::new();
        }
    };
    if is_postmortem(&source.path) {
        return match postmortem::parse(&text, &source.name, origin) {
            Ok(e) => vec![e],
            Err(why) => {
                problems.push(format!("{shown}: {why}"));
                Vec::new()
            }
        };
    }
    let mut episodes = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        match exchange::from_line(line) {
            Ok(mut e) => {
                if e.origin.is_empty() {
                    e.origin = origin.to_string();
                }
                // A line may say where it came from, but not that this deployment verified it:
                // one claiming to be this instance's own incident is an import like any other.
                if e.source.is_empty() || e.verified_here(origin) {
                    e.source = format!("import:{}", source.name);
                }
                episodes.push(e);
            }
            Err(why) => problems.push(format!("{shown}:{}: {why}", n + 1)),
        }
    }
    episodes
}

/// Imports files and folders; exits 1 when anything was skipped (or, with `strict`, refused).
pub async fn import(rt: &Runtime, files: &[PathBuf], strict: bool) -> anyhow::Result<u8> {
    let origin = rt.agent.origin();
    let mut problems = Vec::new();
    let mut episodes: Vec<Episode> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for arg in files {
        if !arg.exists() {
            problems.push(format!("{}: no such file or folder", arg.display()));
            continue;
        }
        for source in sources(arg, &mut problems) {
            for e in read(&source, &origin, &mut problems) {
                if let Some(first) = seen.insert(e.id.clone(), source.path.display().to_string()) {
                    problems.push(format!(
                        "{}: episode {} is also in {first}; the first is kept",
                        source.path.display(),
                        e.id
                    ));
                    continue;
                }
                episodes.push(e);
            }
        }
    }
    for p in &problems {
        eprintln!("{p}");
    }
    if strict && !problems.is_empty() {
        eprintln!("nothing imported: {} problem(s) above (--strict)", problems.len());
        return Ok(1);
    }
    // A postmortem may quote a credential this instance knows: memory never holds one.
    let secrets = rt.config.secrets();
    for e in &mut episodes {
        let redacted = redact(&e.text, &secrets);
        if redacted != e.text {
            e.text = redacted;
            e.content_hash = e.compute_hash();
        }
    }
    let (mut added, mut replaced, mut unchanged) = (0, 0, 0);
    for e in &episodes {
        match rt.store.upsert_episode(e, &origin).await? {
            Upserted::Added => added += 1,
            Upserted::Replaced => replaced += 1,
            Upserted::Unchanged => unchanged += 1,
        }
    }
    let indexed = match rt.agent.recall() {
        Some(index) if added + replaced > 0 => index.catch_up(rt.store.as_ref()).await?,
        _ => 0,
    };
    println!("imported {added} new, {replaced} replaced, {unchanged} already known; {} skipped", problems.len());
    if added + replaced > indexed {
        println!("the running serve indexes them for recall within seconds (it holds the index)");
    }
    Ok(u8::from(!problems.is_empty()))
}
