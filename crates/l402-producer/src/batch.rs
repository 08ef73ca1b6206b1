//! Challenges recorded in batches: anonymous 402s of paid routes and
//! l402kit's `POST /api/invoice` do not queue one write each on the store
//! (SQLite has a single writer). Each request hands its record to a bounded
//! queue and waits for the transaction that writes it, so a challenge is
//! still recorded before it is sent, and a store failure still answers 503;
//! one task writes whatever has queued up, up to the queue's capacity, in one
//! transaction ("group commit").
//!
//! Bounded: at most `capacity` records wait in the queue and `capacity` are
//! being written. When it is full, a request waits up to the enqueue timeout
//! for room (back-pressure), then answers 503 `store_busy` with
//! `Retry-After` and nothing recorded; the refusals are counted
//! ([`Batcher::refused`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use l402_store::{ChallengeRecord, ProducerStore, StoreError};
use tokio::sync::{mpsc, oneshot};

type Ack = oneshot::Sender<Result<(), Arc<StoreError>>>;

/// Why a record was not written.
#[derive(Debug, Clone)]
pub(crate) enum BatchError {
    /// The queue stayed full for the whole enqueue timeout.
    Busy,
    /// The transaction failed (or the writer stopped).
    Store(Arc<StoreError>),
}

#[derive(Debug)]
pub(crate) struct Batcher {
    tx: mpsc::Sender<(ChallengeRecord, Ack)>,
    enqueue_timeout: Duration,
    refused: AtomicU64,
}

impl Batcher {
    /// Starts the writer task (needs a Tokio runtime).
    pub(crate) fn start(
        store: Arc<dyn ProducerStore>,
        handle: &tokio::runtime::Handle,
        capacity: usize,
        enqueue_timeout: Duration,
    ) -> Self {
        let capacity = capacity.max(1);
        let (tx, rx) = mpsc::channel(capacity);
        handle.spawn(write_batches(store, rx, capacity));
        Batcher {
            tx,
            enqueue_timeout,
            refused: AtomicU64::new(0),
        }
    }

    /// Records `record` in the next batch; returns once it is written.
    pub(crate) async fn record(&self, record: ChallengeRecord) -> Result<(), BatchError> {
        let (ack, done) = oneshot::channel();
        match tokio::time::timeout(self.enqueue_timeout, self.tx.send((record, ack))).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                return Err(BatchError::Store(Arc::new(StoreError::Open(
                    "the record writer stopped".into(),
                ))));
            }
            Err(_) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(BatchError::Busy);
            }
        }
        match done.await {
            Ok(result) => result.map_err(BatchError::Store),
            Err(_) => Err(BatchError::Store(Arc::new(StoreError::Open(
                "the record writer stopped".into(),
            )))),
        }
    }

    /// How many records were refused because the queue was full.
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

async fn write_batches(
    store: Arc<dyn ProducerStore>,
    mut rx: mpsc::Receiver<(ChallengeRecord, Ack)>,
    max_batch: usize,
) {
    let mut records = Vec::with_capacity(max_batch);
    let mut acks = Vec::with_capacity(max_batch);
    while let Some((record, ack)) = rx.recv().await {
        records.push(record);
        acks.push(ack);
        while records.len() < max_batch {
            match rx.try_recv() {
                Ok((record, ack)) => {
                    records.push(record);
                    acks.push(ack);
                }
                Err(_) => break,
            }
        }
        let result = store.record_challenges(&records).await.map_err(Arc::new);
        if let Err(e) = &result {
            tracing::error!(error = %e, n = records.len(), "producer: cannot record challenges");
        }
        for ack in acks.drain(..) {
            let _ = ack.send(result.clone());
        }
        records.clear();
    }
}
