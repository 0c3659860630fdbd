//! Backups: a snapshot of every table restores to the same rows on either backend and across
//! them; an archive that is truncated, tampered with, from a newer obsctl or restored into a
//! store that holds data is refused, the store untouched.

use std::io::{Read, Write};

use obsctl_core::Timestamp;
use obsctl_core::action::{ActionState, AuditRecord, Outcome};
use obsctl_core::alert::{Alert, AlertDelivery, AlertRecord, AlertSource, AlertStatus};
use obsctl_core::incident::Incident;
use obsctl_core::state::CheckStatus;
use obsctl_core::timeline::EntryKind;
use obsctl_store::backup::{self, Cell, SnapshotSink, Table};
use obsctl_store::{OpenedIncident, Store, StoreError};

use crate::conformance::{open_postgres, open_sqlite};
use crate::fixtures::{action, episode, incident, observation, silence};

/// Some of everything a running instance writes, with the characters that break encodings.
async fn fill(s: &dyn Store) {
    s.record_observations(
        &[observation("api/health", 1, true), observation("api/health", 2, false), observation("db/disk", 3, true)],
        100,
    )
    .await
    .unwrap();
    s.save_check_status("api/health", CheckStatus::Failing, Timestamp(2)).await.unwrap();
    let inc = incident("inc-1", "api", 10);
    s.insert_incident(&inc).await.unwrap();
    s.insert_incident(&incident("inc-2", "db", 20)).await.unwrap();
    s.add_event("inc-1", EntryKind::Note, "it's \"quoted\" — ünïcode\nnew line", serde_json::json!({"k": [1, 2]}))
        .await
        .unwrap();
    s.insert_action(&action("act-1", &inc, "plan-1", ActionState::Succeeded)).await.unwrap();
    s.append_audit(&AuditRecord {
        id: 0,
        at: Timestamp(5),
        actor: "agent".into(),
        action: "gate".into(),
        subject: "act-1".into(),
        decision: "execute".into(),
        reason: "mode auto".into(),
        data: serde_json::json!({"i": 1}),
    })
    .await
    .unwrap();
    s.insert_silence(&silence("sil-1")).await.unwrap();
    let report = obsctl_core::telemetry::Report::new("api".into(), ".env".into(), &[], None);
    s.save_telemetry_report(&obsctl_core::telemetry::Report { received_at: Some(Timestamp(7)), ..report })
        .await
        .unwrap();
    s.remember(&episode("ep-1", "http-down@api", "process.restart", Outcome::Fixed, 1000)).await.unwrap();
    s.remember(&episode("ep-2", "http-down@api", "process.restart", Outcome::NotFixed, 2000)).await.unwrap();
    s.set_dependencies(&[("api".into(), "db".into())]).await.unwrap();
    let record = AlertRecord {
        alert: Alert {
            source: AlertSource::Alertmanager,
            fingerprint: "f1".into(),
            status: AlertStatus::Firing,
            labels: [("alertname".to_string(), "Down".to_string())].into(),
            annotations: Default::default(),
            starts_at: Some(Timestamp(10)),
            ends_at: None,
            source_url: None,
        },
        service: "api".into(),
        kind: "Down".into(),
        incident_id: Some("inc-3".into()),
        first_seen: Timestamp(100),
        last_seen: Timestamp(100),
        deliveries: 1,
    };
    let delivery = AlertDelivery {
        source: AlertSource::Alertmanager,
        received_at: Timestamp(100),
        receiver: "obsctl".into(),
        group_key: "{}".into(),
        alerts: 1,
        truncated: 0,
    };
    // An alert's incident has a fingerprint of its own (beside api's open health incident).
    let alerted = Incident { fingerprint: "api/Down/alertmanager:f1".into(), ..incident("inc-3", "api", 100) };
    let opened = OpenedIncident { incident: alerted, events: vec![] };
    s.save_alerts(&delivery, &[record], &[opened]).await.unwrap();
}

/// Every row of every table, as the snapshot reads them, sorted (backends order text apart).
#[derive(Default)]
struct Rows {
    table: &'static str,
    rows: Vec<(&'static str, Vec<Cell>)>,
}

impl SnapshotSink for Rows {
    fn table(&mut self, table: &'static Table, _rows: u64) -> obsctl_store::Result<()> {
        self.table = table.name;
        Ok(())
    }
    fn row(&mut self, cells: Vec<Cell>) -> obsctl_store::Result<()> {
        self.rows.push((self.table, cells));
        Ok(())
    }
}

async fn rows(s: &dyn Store) -> Vec<(String, String)> {
    let mut sink = Rows::default();
    s.snapshot(&mut sink).await.unwrap();
    let mut all: Vec<(String, String)> =
        sink.rows.iter().map(|(t, c)| (t.to_string(), serde_json::to_string(c).unwrap())).collect();
    all.sort();
    all
}

fn quiet() -> backup::archive::Progress {
    Box::new(|_, _| {})
}

async fn round_trip(from: &dyn Store, to: &dyn Store) {
    fill(from).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.jsonl.gz");
    let sums = backup::take(from, &file, "test", None, quiet()).await.unwrap();
    assert_eq!(sums.len(), backup::TABLES.len());
    assert!(!dir.path().join("b.jsonl.gz.partial").exists());
    // Only its owner may read it, whatever the umask (issue 26, finding 11).
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let summary = backup::restore(to, &file, quiet()).await.unwrap();
    assert_eq!(summary.rows(), rows(from).await.len() as u64);
    assert_eq!(rows(to).await, rows(from).await);
    assert_eq!(to.table_counts().await.unwrap(), from.table_counts().await.unwrap());
    // What numbers new rows continues after the restored ones.
    let event = to.add_event("inc-1", EntryKind::Note, "after restore", serde_json::json!({})).await.unwrap();
    assert!(event.id > 1, "{event:?}");
    to.record_observations(&[observation("api/health", 9, true)], 100).await.unwrap();
    assert_eq!(to.recent_observations("api/health", 10).await.unwrap().len(), 3);
    assert_eq!(to.ledger(Some("http-down@api")).await.unwrap()[0].attempts, 2);
}

#[tokio::test]
async fn sqlite_restores_into_sqlite() {
    let ((a, _da), (b, _db)) = (open_sqlite().await, open_sqlite().await);
    round_trip(a.as_ref(), b.as_ref()).await;
}

#[tokio::test]
async fn postgres_restores_into_postgres() {
    let ((a, _sa), (b, _sb)) = (open_postgres().await, open_postgres().await);
    round_trip(a.as_ref(), b.as_ref()).await;
}

/// The documented way to move from the embedded default to Postgres, and back.
#[tokio::test]
async fn sqlite_moves_to_postgres_and_back() {
    let ((a, _da), (b, _sb), (c, _dc)) = (open_sqlite().await, open_postgres().await, open_sqlite().await);
    round_trip(a.as_ref(), b.as_ref()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("back.jsonl.gz");
    backup::take(b.as_ref(), &file, "postgres", None, quiet()).await.unwrap();
    backup::restore(c.as_ref(), &file, quiet()).await.unwrap();
    assert_eq!(rows(c.as_ref()).await, rows(b.as_ref()).await);
}

fn gunzip(path: &std::path::Path) -> String {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap()).read_to_string(&mut text).unwrap();
    text
}

fn gzip(path: &std::path::Path, text: &str) {
    let mut w = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::fast());
    w.write_all(text.as_bytes()).unwrap();
    w.finish().unwrap();
}

async fn refused(archive: &std::path::Path, why: &str) {
    let (target, _d) = open_sqlite().await;
    let err = backup::restore(target.as_ref(), archive, quiet()).await.unwrap_err().to_string();
    assert!(err.contains(why), "{why:?} not in {err:?}");
    assert!(target.table_counts().await.unwrap().iter().all(|(_, n)| *n == 0), "nothing was written");
}

#[tokio::test]
async fn a_bad_archive_is_refused_before_anything_is_written() {
    let (source, _ds) = open_sqlite().await;
    fill(source.as_ref()).await;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.jsonl.gz");
    backup::take(source.as_ref(), &good, "sqlite", None, quiet()).await.unwrap();
    let text = gunzip(&good);
    let case = |name: &str, body: String| {
        let path = dir.path().join(name);
        gzip(&path, &body);
        path
    };

    // A value changed inside a row: its table's checksum no longer matches.
    let tampered = case("tampered", text.replacen("deploy", "DEPLOY", 1));
    refused(&tampered, "tampered or damaged").await;
    // A row removed with its count fixed up: the checksum still catches it.
    let lines: Vec<&str> = text.lines().collect();
    let row = lines.iter().position(|l| l.starts_with("[\"sil-1\"")).unwrap();
    let mut without: Vec<&str> = lines.clone();
    without.remove(row);
    refused(&case("dropped", without.join("\n") + "\n"), "silences").await;
    // The manifest cut off: truncated.
    let cut = lines[..lines.len() - 1].join("\n") + "\n";
    refused(&case("cut", cut), "truncated").await;
    // The gzip stream itself cut in the middle.
    let bytes = std::fs::read(&good).unwrap();
    let half = dir.path().join("half");
    std::fs::write(&half, &bytes[..bytes.len() / 2]).unwrap();
    refused(&half, "backup archive").await;
    // Newer layout or schema.
    refused(&case("newer", text.replacen("\"version\":1", "\"version\":2", 1)), "newer obsctl").await;
    let schema = format!("\"schema\":{}", obsctl_store::SCHEMA_VERSION);
    let newer_schema = format!("\"schema\":{}", obsctl_store::SCHEMA_VERSION + 1);
    refused(&case("schema", text.replacen(&schema, &newer_schema, 1)), "newer store schema").await;
    // A column the catalog does not know; a value of the wrong type.
    refused(&case("column", text.replacen("\"status_at\"", "\"colour\"", 1)), "no column \"colour\"").await;
    refused(&case("type", text.replacen("\"deploy\"", "17", 1)), "is not a Text").await;
    refused(&case("garbage", "hello\n".into()), "not an obsctl backup").await;
    // One endless line after the header (a gzip bomb of 40 MiB that packs to a few KiB): refused
    // at the line cap, never read whole (issue 26, finding 8).
    let header = text.lines().next().unwrap();
    let bomb = case("bomb", format!("{header}\n[{}", "x".repeat(40 << 20)));
    assert!(std::fs::metadata(&bomb).unwrap().len() < 1 << 20);
    refused(&bomb, "a line is over 32 MiB").await;

    // Into a store that holds data: refused, the data untouched.
    let (busy, _db) = open_sqlite().await;
    busy.insert_incident(&incident("inc-9", "web", 1)).await.unwrap();
    let before = rows(busy.as_ref()).await;
    let err = backup::restore(busy.as_ref(), &good, quiet()).await.unwrap_err();
    assert!(matches!(&err, StoreError::Invalid(m) if m.contains("not empty (1 incidents")), "{err}");
    assert_eq!(rows(busy.as_ref()).await, before);
}

/// A snapshot is consistent: rows written while it is taken are either all in it or not.
#[tokio::test]
async fn a_backup_under_write_load_is_a_consistent_snapshot() {
    let (source, _ds) = open_sqlite().await;
    fill(source.as_ref()).await;
    let writer = {
        let source = source.clone();
        tokio::spawn(async move {
            for i in 0..400 {
                let id = format!("inc-load-{i:03}");
                source.insert_incident(&incident(&id, "api", 1000 + i)).await.unwrap();
                source.add_event(&id, EntryKind::Opened, "opened", serde_json::json!({})).await.unwrap();
            }
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("load.jsonl.gz");
    let sums = backup::take(source.as_ref(), &file, "sqlite", None, quiet()).await.unwrap();
    writer.await.unwrap();
    let count = |name: &str| sums.iter().find(|s| s.name == name).unwrap().rows;
    // Each load incident is written before its event: a snapshot never holds an event without
    // its incident (events ≤ incidents among the load rows, plus the one fill event).
    let (incidents, events) = (count("incidents"), count("incident_events"));
    assert!(events <= incidents - 3 + 1, "{incidents} incidents, {events} events");
    let (target, _dt) = open_sqlite().await;
    backup::restore(target.as_ref(), &file, quiet()).await.unwrap();
    assert_eq!(target.table_counts().await.unwrap().iter().find(|(n, _)| *n == "incidents").unwrap().1, incidents);
}
