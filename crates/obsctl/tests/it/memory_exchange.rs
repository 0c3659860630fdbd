//! Memory in and out as a person uses it: a postmortem folder imported with the binary,
//! searched, imported again (nothing added), exported and imported elsewhere byte for byte;
//! bad files reported by name and line, or the whole import refused with --strict; an import
//! beside a running `serve` is recalled by it without a reindex.

use std::path::Path;

use crate::support::{config_file, eventually, free_port, head, obsctl_in, printed, serve_in};

/// A data folder with a config naming this instance.
fn instance(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let body = head("observe").replace("[memory]\n", &format!("[memory]\ninstance = \"{name}\"\n"));
    config_file(&body, "http://127.0.0.1:9", dir.path());
    dir
}

const DISK: &str = "---\ntitle: Checkout database ran out of disk\nsummary: WAL segments filled the volume of the checkout primary; writes failed for 40 minutes.\nservice: checkout\ntags: [postgres, disk]\ncategories: [disk-full]\nstart: 2024-03-01 14:05\nend: 2024-03-01 14:45\n---\nArchiving had been failing since a credentials rotation.\n";
const DNS: &str = "---\ntitle: Resolver outage\nsummary: CoreDNS pods were evicted under memory pressure and lookups timed out cluster-wide.\nproduct: platform\nkeywords: dns, kubernetes\n---\nThe node pool was resized.\n";

/// Two postmortems, one with front matter that is not YAML, and an episode file with one line
/// that is not an episode.
fn postmortems(root: &Path) {
    std::fs::create_dir_all(root.join("2024")).unwrap();
    std::fs::write(root.join("2024/checkout-disk.md"), DISK).unwrap();
    std::fs::write(root.join("dns.md"), DNS).unwrap();
    std::fs::write(root.join("broken.md"), "---\ntitle: [unclosed\n---\nbody\n").unwrap();
    std::fs::write(root.join("notes.txt"), "not read: neither Markdown nor JSON lines").unwrap();
}

fn search(dir: &Path, q: &str) -> Vec<serde_json::Value> {
    let out = obsctl_in(dir).args(["memory", "search", q, "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", printed(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_postmortem_folder_becomes_searchable_memory_and_travels_byte_for_byte() {
    let edge = instance("edge-a");
    let folder = tempfile::tempdir().unwrap();
    postmortems(folder.path());
    let bad_lines = folder.path().join("more.jsonl");
    std::fs::write(&bad_lines, "{\"id\": \"x\"}\n").unwrap();

    // --strict: one bad file refuses everything.
    let strict = obsctl_in(edge.path()).args(["memory", "import", "--strict"]).arg(folder.path()).output().unwrap();
    assert_eq!(strict.status.code(), Some(1), "{}", printed(&strict));
    assert!(printed(&strict).contains("nothing imported"), "{}", printed(&strict));
    assert!(search(edge.path(), "WAL segments filled the volume").is_empty());

    // Without it: the good ones are imported, each bad one named with its line.
    let out = obsctl_in(edge.path()).args(["memory", "import"]).arg(folder.path()).output().unwrap();
    let said = printed(&out);
    assert_eq!(out.status.code(), Some(1), "something was skipped: {said}");
    assert!(said.contains("imported 2 new, 0 replaced, 0 already known; 2 skipped"), "{said}");
    assert!(said.contains("broken.md: front matter is not YAML"), "{said}");
    assert!(said.contains(&format!("{}:1: not an episode", bad_lines.display())), "{said}");

    // Found by its summary, with where it came from.
    let hits = search(edge.path(), "the checkout primary volume filled with WAL; writes failing");
    assert_eq!(hits[0]["episode_id"], "pm-2024/checkout-disk", "{hits:#?}");
    assert_eq!(hits[0]["origin"], "edge-a");
    let dns = search(edge.path(), "dns lookups timing out after coredns eviction");
    assert_eq!(dns[0]["episode_id"], "pm-dns");

    // Again: nothing new. An edited postmortem replaces its episode and is found by its new words.
    std::fs::remove_file(folder.path().join("broken.md")).unwrap();
    std::fs::remove_file(&bad_lines).unwrap();
    let again = obsctl_in(edge.path()).args(["memory", "import"]).arg(folder.path()).output().unwrap();
    assert!(printed(&again).contains("imported 0 new, 0 replaced, 2 already known; 0 skipped"), "{}", printed(&again));
    assert!(again.status.success());
    std::fs::write(
        folder.path().join("dns.md"),
        DNS.replace("The node pool was resized.", "Negative caching in nodelocaldns hid the recovery."),
    )
    .unwrap();
    let edited = obsctl_in(edge.path()).args(["memory", "import"]).arg(folder.path()).output().unwrap();
    assert!(printed(&edited).contains("imported 0 new, 1 replaced, 1 already known"), "{}", printed(&edited));
    assert_eq!(search(edge.path(), "nodelocaldns negative caching")[0]["episode_id"], "pm-dns");

    // export → import elsewhere → export: the same bytes; the origin stays edge-a.
    let first = obsctl_in(edge.path()).args(["memory", "export"]).output().unwrap();
    assert!(first.status.success(), "{}", printed(&first));
    assert_eq!(String::from_utf8_lossy(&first.stdout).lines().count(), 2);
    let file = folder.path().join("episodes.jsonl");
    std::fs::write(&file, &first.stdout).unwrap();
    let central = instance("central");
    let imported = obsctl_in(central.path()).args(["memory", "import"]).arg(&file).output().unwrap();
    assert!(imported.status.success(), "{}", printed(&imported));
    let second = obsctl_in(central.path()).args(["memory", "export"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&second.stdout), String::from_utf8_lossy(&first.stdout));
    assert_eq!(search(central.path(), "WAL segments filled the volume")[0]["origin"], "edge-a");

    // --since keeps the dated episode that ended after it, and drops the undated one.
    let since = obsctl_in(edge.path()).args(["memory", "export", "--since", "2024-01-01T00:00:00Z"]).output().unwrap();
    let lines = String::from_utf8_lossy(&since.stdout).lines().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("pm-2024/checkout-disk"));
    let bad = obsctl_in(edge.path()).args(["memory", "export", "--since", "last tuesday"]).output().unwrap();
    assert!(!bad.status.success());
    assert!(printed(&bad).contains("--since \"last tuesday\""), "{}", printed(&bad));
}

#[tokio::test]
async fn an_import_beside_a_running_serve_is_recalled_without_a_reindex() {
    let edge = instance("edge-a");
    let port = free_port();
    let _serve = serve_in(edge.path(), port);
    let client = obsctl_host::http_client().build().unwrap();
    let recall = |q: &'static str| {
        let client = client.clone();
        async move {
            let url = format!("http://127.0.0.1:{port}/api/memory/search?q={q}");
            let answer = client.get(url).send().await.ok()?;
            let hits: Vec<serde_json::Value> = answer.json().await.ok()?;
            Some(hits)
        }
    };
    eventually(30, "serve to answer", || recall("anything")).await;

    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("dns.md"), DNS).unwrap();
    let out = obsctl_in(edge.path()).args(["memory", "import"]).arg(folder.path()).output().unwrap();
    assert!(out.status.success(), "{}", printed(&out));
    assert!(printed(&out).contains("the running serve indexes them"), "{}", printed(&out));
    let hits = eventually(10, "serve to recall the imported postmortem", || async {
        recall("coredns evicted lookups timed out").await.filter(|h| !h.is_empty())
    })
    .await;
    assert_eq!(hits[0]["episode_id"], "pm-dns");
    // The CLI beside serve reads the index serve wrote.
    assert_eq!(search(edge.path(), "coredns evicted")[0]["episode_id"], "pm-dns");
}

/// A postmortem that quotes a credential this instance knows is remembered without it.
#[test]
fn an_imported_postmortem_never_holds_a_known_secret() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!("{}[server]\ntoken = \"s3cret-token-from-the-config\"\n", head("observe"));
    config_file(&body, "http://127.0.0.1:9", dir.path());
    let folder = tempfile::tempdir().unwrap();
    let leak =
        "---\ntitle: Token leaked in logs\nservice: api\n---\nThe header carried s3cret-token-from-the-config.\n";
    std::fs::write(folder.path().join("leak.md"), leak).unwrap();
    assert!(obsctl_in(dir.path()).args(["memory", "import"]).arg(folder.path()).status().unwrap().success());
    let shown = obsctl_in(dir.path()).args(["memory", "show", "pm-leak"]).output().unwrap();
    let text = printed(&shown);
    assert!(text.contains("The header carried ***."), "{text}");
    assert!(!text.contains("s3cret-token-from-the-config"), "{text}");
}
