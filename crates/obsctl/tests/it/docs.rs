//! The documentation's links lead somewhere: every relative link of the README, `docs/` and the
//! other top-level documents names a file that exists and, with a `#fragment`, a heading in it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces as dashes.
fn anchor(heading: &str) -> String {
    let kept: String =
        heading.trim().to_lowercase().chars().filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' ')).collect();
    kept.replace(' ', "-")
}

/// The anchors of a Markdown file's headings (not of `#` lines inside code blocks).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut code = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("```") {
            code = !code;
        } else if !code
            && let Some(heading) = line.trim_start_matches('#').strip_prefix(' ').filter(|_| line.starts_with('#'))
        {
            out.insert(anchor(heading));
        }
    }
    out
}

/// The `](target)` links of a Markdown text.
fn links(text: &str) -> Vec<String> {
    text.split("](").skip(1).filter_map(|rest| rest.split_once(')').map(|(link, _)| link.to_string())).collect()
}

#[test]
fn every_relative_link_in_the_documentation_resolves() {
    let root = repo();
    let mut files: Vec<PathBuf> =
        ["README.md", "SECURITY.md", "CONTRIBUTING.md", "ARCHITECTURE.md", "BENCHMARKS.md", "RELIABILITY.md"]
            .iter()
            .map(|f| root.join(f))
            .collect();
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let mut broken = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for link in links(&text).into_iter().filter(|l| !l.contains("://") && !l.contains(' ')) {
            let (path, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target = if path.is_empty() { file.clone() } else { file.parent().unwrap().join(path) };
            let Ok(target_text) = std::fs::read(&target) else {
                broken.push(format!("{}: {link} (no such file)", file.display()));
                continue;
            };
            if !fragment.is_empty() && !anchors(&String::from_utf8_lossy(&target_text)).contains(fragment) {
                broken.push(format!("{}: {link} (no such heading)", file.display()));
            }
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");
    assert!(files.len() > 10, "the documentation was found: {files:?}");
}

#[test]
fn the_readme_stays_a_first_page() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(lines <= 260, "the README has {lines} lines; the reference belongs in docs/");
    // The two commands of a fresh machine, the second being what CI runs.
    assert!(readme.contains("cargo run --release -- demo") && readme.contains("\nscripts/test "));
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    assert!(ci.contains("exec scripts/test"), "{ci}");
}
