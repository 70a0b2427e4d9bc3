//! The audit journal: append-only, hash-chained per structure. Reads (a file
//! opened, an export…) are appended in batches by the group-commit writer
//! (`group_commit.rs`); a change appends its entries inside its own write
//! transaction ([`append_in_tx`]), so that it is kept with its trace or not
//! at all. Both take the chain head inside their transaction (SQLite: under
//! `BEGIN IMMEDIATE`; PostgreSQL: the locked `audit_heads` row), so they
//! serialise on it and the chain stays whole.

use async_trait::async_trait;
use std::collections::HashMap;

use super::{SqlStore, rows};
use crate::domain::audit::AuditRecord;
use crate::domain::tenant::Tenant;
use crate::store::sql::{Db, Tx};
use crate::store::{
    AuditChain, AuditEvent, AuditFilter, AuditStore, Backend, StoreResult, postgres, sqlite,
};

/// Appends a batch, in order, in one transaction. Each chain's head is read
/// (and on PostgreSQL locked) first, inside the transaction, chains in a
/// fixed order.
pub(super) async fn write_batch(
    db: Db,
    batch: Vec<(AuditChain, AuditEvent)>,
) -> StoreResult<Vec<AuditRecord>> {
    let mut tx = db.begin_write().await?;
    let mut chains: Vec<String> = batch.iter().map(|(c, _)| c.key()).collect();
    chains.sort();
    chains.dedup();
    let mut heads: HashMap<String, (i64, String)> = HashMap::with_capacity(chains.len());
    for chain in chains {
        let head = match tx.backend() {
            Backend::Sqlite => sqlite::audit_head(&mut tx, &chain).await?,
            Backend::Postgres => postgres::lock_audit_head(&mut tx, &chain).await?,
        };
        heads.insert(chain, head);
    }
    let mut rows = Vec::with_capacity(batch.len());
    for (chain, e) in &batch {
        let key = chain.key();
        let head = heads
            .get_mut(&key)
            .expect("every chain's head was read above");
        let rec = next_entry(head, e);
        rows.push((key, rec));
    }
    insert_entries(&mut tx, &rows).await?;
    let records = rows.into_iter().map(|(_, rec)| rec).collect();
    if tx.backend() == Backend::Postgres {
        postgres::save_audit_heads(&mut tx, &heads).await?;
    }
    tx.commit().await?;
    Ok(records)
}

/// Appends `events` to `chain` inside `tx`, the change's own transaction,
/// which the caller commits. `tx` must come from [`Db::begin_write`]: on
/// SQLite the head is read under the write lock taken at `BEGIN IMMEDIATE`;
/// on PostgreSQL it is locked (`FOR UPDATE`) until the change commits.
/// Appended last, after the change, so that the head is held only briefly.
pub(super) async fn append_in_tx(
    tx: &mut Tx,
    chain: AuditChain,
    events: &[AuditEvent],
) -> StoreResult<Vec<AuditRecord>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let key = chain.key();
    let mut head = match tx.backend() {
        Backend::Sqlite => sqlite::audit_head(tx, &key).await?,
        Backend::Postgres => postgres::lock_audit_head(tx, &key).await?,
    };
    let rows: Vec<(String, AuditRecord)> = events
        .iter()
        .map(|e| (key.clone(), next_entry(&mut head, e)))
        .collect();
    insert_entries(tx, &rows).await?;
    let records = rows.into_iter().map(|(_, rec)| rec).collect();
    if tx.backend() == Backend::Postgres {
        postgres::save_audit_heads(tx, &HashMap::from([(key, head)])).await?;
    }
    Ok(records)
}

/// Appends the change's journal to the tenant's structure chain, then
/// commits the change and its trace together.
pub(super) async fn commit_journaled(
    mut tx: Tx,
    t: &Tenant,
    journal: &[AuditEvent],
) -> StoreResult<()> {
    append_in_tx(&mut tx, AuditChain::Structure(t.structure_id), journal).await?;
    tx.commit().await
}

/// Appends an instance-level change's journal, chain by chain in a fixed
/// order (as the group-commit writer locks them), then commits.
pub(super) async fn commit_journaled_chains(
    mut tx: Tx,
    journal: &[(AuditChain, AuditEvent)],
) -> StoreResult<()> {
    let mut chains: Vec<AuditChain> = journal.iter().map(|(c, _)| *c).collect();
    chains.sort_by_key(|c| c.key());
    chains.dedup();
    for chain in chains {
        let events: Vec<AuditEvent> = journal
            .iter()
            .filter(|(c, _)| *c == chain)
            .map(|(_, e)| e.clone())
            .collect();
        append_in_tx(&mut tx, chain, &events).await?;
    }
    tx.commit().await
}

/// The entry after `head` (the chain's last seq and hash); `head` moves to it.
fn next_entry(head: &mut (i64, String), e: &AuditEvent) -> AuditRecord {
    let rec = rows::new_audit_record(head.0 + 1, std::mem::take(&mut head.1), e);
    *head = (rec.seq, rec.hash.clone());
    rec
}

/// Entries per `INSERT` (ten values each: well under both backends' limits).
const INSERT_ROWS: usize = 256;

/// Inserts the entries (chain key, record), a few hundred per statement: a
/// batch of the group commit is one statement, not one per file opened.
async fn insert_entries(tx: &mut Tx, entries: &[(String, AuditRecord)]) -> StoreResult<()> {
    for chunk in entries.chunks(INSERT_ROWS) {
        tx.query(
            "INSERT INTO audit_entries (chain, seq, at, actor_id, actor_label, action, usager_id,
                 details, prev_hash, hash) ",
        )
        .push_values(chunk, |row, (key, rec)| {
            row.bind(key.as_str())
                .bind(rec.seq)
                .bind(rec.at)
                .bind(rec.actor_id)
                .bind(rec.actor_label.as_str())
                .bind(rec.action.as_str())
                .bind(rec.usager_id)
                .bind(rec.details.as_str())
                .bind(rec.prev_hash.as_str())
                .bind(rec.hash.as_str())
        })
        .execute()
        .await?;
    }
    Ok(())
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn append_audit(&self, chain: AuditChain, e: &AuditEvent) -> StoreResult<AuditRecord> {
        self.audit.append(chain, e).await
    }

    async fn audit_entries(&self, t: &Tenant, f: &AuditFilter) -> StoreResult<Vec<AuditRecord>> {
        // Only the filters given are written: each shape gets its own plan.
        let mut q = self
            .db
            .query("SELECT * FROM audit_entries WHERE chain = $1")
            .bind(AuditChain::Structure(t.structure_id).key());
        if let Some(action) = &f.action {
            q = q.push(" AND action = ").push_bind(action);
        }
        if let Some(actor) = f.actor_id {
            q = q.push(" AND actor_id = ").push_bind(actor);
        }
        if let Some(usager) = f.usager_id {
            q = q.push(" AND usager_id = ").push_bind(usager);
        }
        if let Some(from) = f.from {
            q = q.push(" AND at >= ").push_bind(rows::day_start(from));
        }
        if let Some(to) = f.to {
            q = q.push(" AND at < ").push_bind(rows::day_end(to));
        }
        if let Some(before) = f.before_seq {
            q = q.push(" AND seq < ").push_bind(before);
        }
        q.push(" ORDER BY seq DESC")
            .limit(f.limit.clamp(1, 500))
            .all(rows::audit_record)
            .await
    }

    async fn audit_chain(
        &self,
        chain: AuditChain,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<AuditRecord>> {
        self.db
            .query("SELECT * FROM audit_entries WHERE chain = $1 AND seq > $2 ORDER BY seq")
            .bind(chain.key())
            .bind(after_seq)
            .limit(limit)
            .all(rows::audit_record)
            .await
    }

    async fn audit_chains(&self) -> StoreResult<Vec<AuditChain>> {
        let keys: Vec<String> = self
            .db
            .query("SELECT DISTINCT chain FROM audit_entries ORDER BY chain")
            .scalars()
            .await?;
        Ok(keys
            .iter()
            .filter_map(|k| AuditChain::from_key(k))
            .collect())
    }
}
