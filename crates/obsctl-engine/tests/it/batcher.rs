//! The observation writer commits in batches and loses nothing it acknowledged.

use std::sync::Arc;

use obsctl_core::Timestamp;
use obsctl_core::check::Observation;
use obsctl_engine::batcher::ObservationBatcher;
use obsctl_store::{SqliteStore, Store};

#[tokio::test]
async fn everything_sent_before_a_flush_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&format!("sqlite://{}/o.db", dir.path().display())).await.unwrap());
    let (batcher, sink) = ObservationBatcher::new(store.clone(), 10_000);
    tokio::spawn(batcher.run());
    let checks = 20;
    let per_check = 250;
    for i in 0..per_check {
        for c in 0..checks {
            sink.send(Observation {
                check_id: format!("s/c{c}"),
                at: Timestamp(i),
                ok: true,
                latency_us: 1,
                detail: String::new(),
                unknown: false,
                incident_kind: None,
            })
            .await;
        }
    }
    sink.flush().await;
    for c in 0..checks {
        assert_eq!(store.recent_observations(&format!("s/c{c}"), 10_000).await.unwrap().len(), per_check as usize);
    }
}
