//! Group commit of audit entries: one writer task per store; the entries that
//! arrive together are written in one transaction, and each caller gets its
//! record back only once that transaction is committed (a file is shown only
//! after its trace is durable). Both backends use it: the chain head is a
//! serialisation point, and one commit (one WAL flush) per batch instead of
//! one per entry is what lets a busy structure open files quickly.

use std::future::Future;
use tokio::sync::{mpsc, oneshot};

use super::{AuditChain, AuditEvent, StoreError, StoreResult};
use crate::domain::audit::AuditRecord;

type Job = (
    AuditChain,
    AuditEvent,
    oneshot::Sender<Result<AuditRecord, String>>,
);

/// Entries written per transaction at most.
const BATCH: usize = 256;

#[derive(Clone)]
pub struct AuditWriter {
    tx: mpsc::Sender<Job>,
}

impl AuditWriter {
    /// Starts the writer; `write` appends a batch, in order, in one
    /// transaction, and returns the records in the same order.
    pub fn spawn<P, F, Fut>(pool: P, write: F) -> AuditWriter
    where
        P: Clone + Send + Sync + 'static,
        F: Fn(P, Vec<(AuditChain, AuditEvent)>) -> Fut + Send + 'static,
        Fut: Future<Output = StoreResult<Vec<AuditRecord>>> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<Job>(4 * BATCH);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                let (events, replies): (Vec<_>, Vec<_>) = batch
                    .into_iter()
                    .map(|(c, e, reply)| ((c, e), reply))
                    .unzip();
                match write(pool.clone(), events).await {
                    Ok(records) => {
                        for (reply, rec) in replies.into_iter().zip(records) {
                            let _ = reply.send(Ok(rec));
                        }
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        for reply in replies {
                            let _ = reply.send(Err(msg.clone()));
                        }
                    }
                }
            }
        });
        AuditWriter { tx }
    }

    pub async fn append(&self, chain: AuditChain, e: &AuditEvent) -> StoreResult<AuditRecord> {
        let (reply, answer) = oneshot::channel();
        let lost = || StoreError::Database(sqlx::Error::PoolClosed);
        self.tx
            .send((chain, e.clone(), reply))
            .await
            .map_err(|_| lost())?;
        answer
            .await
            .map_err(|_| lost())?
            .map_err(|m| StoreError::Database(sqlx::Error::Protocol(m)))
    }
}
