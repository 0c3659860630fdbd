//! Recall over an index of a few episodes with arbitrary query text, service, kind and labels.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use obsctl_core::Timestamp;
use obsctl_core::memory::{Episode, EpisodeOutcome};
use obsctl_store::{RecallIndex, RecallQuery};

/// A few episodes of different kinds, services and words.
fn episodes() -> Vec<Episode> {
    let texts = [
        ("api", "http-down", "api health failing: status 500 worker pool exhausted"),
        ("db", "tcp-down", "postgres connection refused on 5432"),
        ("web", "disk-full", "disk /var/lib almost full: 97% used"),
        ("api", "http-down", "api latency over 500ms, timeouts upstream"),
    ];
    texts
        .iter()
        .enumerate()
        .map(|(i, (service, kind, text))| Episode {
            id: format!("ep-{i}"),
            incident_id: format!("inc-{i}"),
            fingerprint: format!("{service}/health/{kind}"),
            cluster: format!("{kind}@{service}"),
            service: service.to_string(),
            kind: kind.to_string(),
            labels: [("team".to_string(), "web".to_string())].into(),
            text: text.to_string(),
            actions: Vec::new(),
            outcome: EpisodeOutcome::SelfResolved,
            opened_at: Timestamp(1_000 * i as i64),
            ended_at: Timestamp(1_000 * i as i64 + 500),
            time_to_recover_ms: 500,
            content_hash: String::new(),
            origin: "fuzz".into(),
            source: String::new(),
        })
        .collect()
}

fn index() -> &'static RecallIndex {
    static INDEX: OnceLock<(tempfile::TempDir, RecallIndex)> = OnceLock::new();
    &INDEX
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            let index = RecallIndex::open(dir.path()).expect("index");
            index.add(&episodes()).expect("add");
            (dir, index)
        })
        .1
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.splitn(4, '\0');
    let q = RecallQuery {
        text: parts.next().unwrap_or("").to_string(),
        service: parts.next().map(str::to_string),
        kind: parts.next().map(str::to_string),
        labels: parts.next().map(|l| [("team".to_string(), l.to_string())].into()).unwrap_or_default(),
        strict: data.len() % 2 == 0,
        limit: data.len() % 50,
    };
    if let Ok(hits) = index().search(&q, Timestamp::now()) {
        let limit = if q.limit == 0 { 10 } else { q.limit };
        assert!(hits.len() <= limit, "{} hits for a limit of {limit}", hits.len());
    }
});
