//! The observation write path: probes send results here and they reach the store in batches.

use std::sync::Arc;
use std::time::Duration;

use obsctl_core::check::Observation;
use obsctl_store::Store;
use tokio::sync::{mpsc, oneshot};

pub(crate) enum Message {
    Observation(Observation),
    Flush(oneshot::Sender<()>),
}

/// Where observations go: cheap to clone, never blocks a probe for long.
#[derive(Clone)]
pub struct ObservationSink {
    tx: mpsc::Sender<Message>,
}

impl ObservationSink {
    /// Queues one observation for the next batch.
    pub async fn send(&self, o: Observation) {
        if self.tx.send(Message::Observation(o)).await.is_err() {
            tracing::warn!("observation writer has stopped; result dropped");
        }
    }

    /// Waits until everything sent so far is committed.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Message::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// Collects observations and commits them in one transaction per batch.
pub struct ObservationBatcher {
    rx: mpsc::Receiver<Message>,
    store: Arc<dyn Store>,
    keep_per_check: u32,
    max_batch: usize,
    max_delay: Duration,
}

impl ObservationBatcher {
    pub fn new(store: Arc<dyn Store>, keep_per_check: u32) -> (Self, ObservationSink) {
        let (tx, rx) = mpsc::channel(16_384);
        let batcher = Self { rx, store, keep_per_check, max_batch: 1000, max_delay: Duration::from_millis(200) };
        (batcher, ObservationSink { tx })
    }

    /// Runs until every sink is dropped, committing what is left.
    pub async fn run(mut self) {
        let mut batch = Vec::with_capacity(self.max_batch);
        loop {
            let first = match self.rx.recv().await {
                Some(m) => m,
                None => break,
            };
            let mut waiters = Vec::new();
            let deadline = tokio::time::Instant::now() + self.max_delay;
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Message::Observation(o) => batch.push(o),
                    Message::Flush(ack) => {
                        waiters.push(ack);
                        break;
                    }
                }
                if batch.len() >= self.max_batch {
                    break;
                }
                next = tokio::time::timeout_at(deadline, self.rx.recv()).await.ok().flatten();
            }
            self.commit(&mut batch).await;
            for w in waiters {
                let _ = w.send(());
            }
        }
        self.commit(&mut batch).await;
    }

    async fn commit(&self, batch: &mut Vec<Observation>) {
        if batch.is_empty() {
            return;
        }
        let started = std::time::Instant::now();
        if let Err(error) = self.store.record_observations(batch, self.keep_per_check).await {
            tracing::error!(%error, count = batch.len(), "could not store observations");
        }
        obsctl_core::metrics::metrics().store_write("observations", started.elapsed());
        batch.clear();
    }
}
