//! Backup, restore and reset as an operator runs them: a backup of a running `serve` under
//! write load restores into SQLite and into Postgres with the same recall answers; a restore
//! into a store that holds data and a reset beside `serve` are refused; a reset asks, backs up
//! first and keeps the config.

use std::path::Path;
use std::process::Stdio;

use crate::support::{
    BUSY_CHECK, Target, config_file, eventually, free_port, fresh_postgres, head, head_with_store, obsctl_in, printed,
    serve_in,
};

const TOKEN: &str = "backup-test-token";

const POSTMORTEM: &str = "---\ntitle: Ledger service lost its Kafka consumer group\nsummary: A rebalance storm after a broker restart stalled settlement for 25 minutes.\nservice: ledger\n---\nConsumers were pinned to one partition.\n";

fn search(dir: &Path, q: &str) -> Vec<String> {
    let out = obsctl_in(dir).args(["memory", "search", q, "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", printed(&out));
    let hits: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    hits.iter().map(|h| h["episode_id"].as_str().unwrap_or_default().to_string()).collect()
}

#[tokio::test]
async fn a_running_instance_is_backed_up_and_restored_on_both_backends() {
    let target = Target::start(true).await;
    let edge = tempfile::tempdir().unwrap();
    let with_token = format!("{}[server]\ntoken = \"{TOKEN}\"\n{BUSY_CHECK}", head("observe"));
    config_file(&with_token, &target.url, edge.path());
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("kafka.md"), POSTMORTEM).unwrap();
    assert!(obsctl_in(edge.path()).args(["memory", "import"]).arg(folder.path()).status().unwrap().success());

    let port = free_port();
    let _serve = serve_in(edge.path(), port);
    let db = format!("sqlite://{}/obsctl.db", edge.path().display());
    let live = obsctl_store::SqliteStore::open(&db).await.unwrap();
    eventually(30, "serve to record observations", || async {
        use obsctl_store::CheckHistory as _;
        (live.recent_observations("api/health", 10).await.unwrap().len() >= 3).then_some(())
    })
    .await;

    // Taken while serve writes: no stop needed.
    let file = edge.path().join("b.jsonl.gz");
    let out = obsctl_in(edge.path()).args(["backup", "--out"]).arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", printed(&out));
    assert!(printed(&out).contains("1 episodes"), "{}", printed(&out));
    assert!(!printed(&out).contains('\r'), "no progress bar when not on a terminal");

    // The same from the API, for the token only (a viewer's session never gets it).
    let http = obsctl_host::http_client().build().unwrap();
    let url = format!("http://127.0.0.1:{port}/api/backup");
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    let download = http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "application/gzip");
    assert!(download.headers()["content-disposition"].to_str().unwrap().contains("obsctl-backup-"));
    let downloaded = edge.path().join("downloaded.jsonl.gz");
    std::fs::write(&downloaded, download.bytes().await.unwrap()).unwrap();
    let summary =
        obsctl_store::backup::archive::ArchiveReader::verify(&downloaded, obsctl_store::SCHEMA_VERSION).unwrap();
    assert_eq!(summary.config.unwrap().text, std::fs::read_to_string(edge.path().join("obsctl.toml")).unwrap());
    assert!(summary.tables.iter().any(|t| t.name == "observations" && t.rows >= 3));

    // Beside serve: reset is refused.
    let reset = obsctl_in(edge.path()).args(["reset", "--yes"]).output().unwrap();
    assert!(!reset.status.success());
    assert!(printed(&reset).contains("stop it before a reset"), "{}", printed(&reset));

    // Into a new SQLite folder: the same recall answer, and the config comes back with it.
    let copy = tempfile::tempdir().unwrap();
    config_file(&format!("{}{BUSY_CHECK}", head("observe")), &target.url, copy.path());
    let written = copy.path().join("restored.toml");
    let restored =
        obsctl_in(copy.path()).args(["restore"]).arg(&file).arg("--config-out").arg(&written).output().unwrap();
    assert!(restored.status.success(), "{}", printed(&restored));
    assert!(printed(&restored).contains("rebuilt the recall index: 1 episodes"), "{}", printed(&restored));
    assert_eq!(
        std::fs::read_to_string(&written).unwrap(),
        std::fs::read_to_string(edge.path().join("obsctl.toml")).unwrap()
    );
    let question = "consumer group rebalance storm after a broker restart";
    assert_eq!(search(copy.path(), question), search(edge.path(), question));
    assert_eq!(search(copy.path(), question)[0], "pm-kafka");

    // Into Postgres: the documented move between backends.
    let pg = fresh_postgres().await;
    let moved = obsctl_in(copy.path()).args(["restore", "--store", &pg]).arg(&file).output().unwrap();
    assert!(moved.status.success(), "{}", printed(&moved));
    let on_pg = tempfile::tempdir().unwrap();
    config_file(&format!("{}{BUSY_CHECK}", head_with_store("observe", &pg)), &target.url, on_pg.path());
    assert_eq!(search(on_pg.path(), question), search(edge.path(), question));

    // Again into a store that holds data: refused, nothing changed.
    let again = obsctl_in(copy.path()).args(["restore"]).arg(&file).output().unwrap();
    assert!(!again.status.success());
    assert!(
        printed(&again).contains("the store is not empty") && printed(&again).contains("nothing was restored"),
        "{}",
        printed(&again)
    );

    // reset: asks (refused without a terminal), backs up first, keeps the config.
    let unasked = obsctl_in(copy.path()).arg("reset").stdin(Stdio::null()).output().unwrap();
    assert!(printed(&unasked).contains("pass --yes"), "{}", printed(&unasked));
    assert_eq!(search(copy.path(), question)[0], "pm-kafka");
    let reset = obsctl_in(copy.path()).args(["reset", "--yes"]).output().unwrap();
    assert!(reset.status.success(), "{}", printed(&reset));
    assert!(printed(&reset).contains("backup first"), "{}", printed(&reset));
    let backups: Vec<_> = std::fs::read_dir(copy.path().join("backups")).unwrap().flatten().collect();
    assert_eq!(backups.len(), 1, "the backup reset took first");
    assert!(search(copy.path(), question).is_empty());
    assert!(copy.path().join("obsctl.toml").exists());
    // What reset backed up restores what was there.
    let back = obsctl_in(copy.path()).args(["restore"]).arg(backups[0].path()).output().unwrap();
    assert!(back.status.success(), "{}", printed(&back));
    assert_eq!(search(copy.path(), question)[0], "pm-kafka");
}
