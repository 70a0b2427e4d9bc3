//! Potential duplicates: blocking keys, candidate pairs, collisions.

use async_trait::async_trait;
use chrono::Utc;
use uuid::Uuid;

use super::audit::commit_journaled;
use super::rows::{self, listed_column_list, select_usagers};
use super::{SqlStore, found};
use crate::domain::duplicates::{self as dup, Collision, Match, PairStatus};
use crate::domain::tenant::Tenant;
use crate::domain::usager::Identity;
use crate::store::sql::{Exec, Row, Tx};
use crate::store::{
    DuplicatePair, DuplicateStore, Journal, Listed, StoreError, StoreResult, Usager, UsagerStore,
};

/// The tenant's candidate pairs (`$1`: the structure) between live files,
/// and those that led to a merge.
pub(super) const PAIRS_SQL: &str = "SELECT p.first_id, p.second_id, p.score, p.reasons, p.status,
            p.found_at, p.decided_by
     FROM duplicate_pairs p
     JOIN usagers a ON a.id = p.first_id JOIN usagers b ON b.id = p.second_id
     WHERE p.structure_id = $1
       AND ((a.merged_into IS NULL AND b.merged_into IS NULL) OR p.status = 'fusionne')";

/// A pair as stored; the names are filled in from the files.
pub(super) fn pair(r: &Row) -> StoreResult<DuplicatePair> {
    Ok(DuplicatePair {
        first_id: r.get("first_id")?,
        second_id: r.get("second_id")?,
        first_name: String::new(),
        second_name: String::new(),
        score: r.get::<i64>("score")?.clamp(0, 100) as u8,
        reasons: dup::reasons_from_csv(&r.get::<String>("reasons")?),
        status: rows::parse_code_with(&r.get::<String>("status")?, PairStatus::parse)?,
        found_at: r.get("found_at")?,
        decided_by: r.get("decided_by")?,
    })
}

/// The pairs with their files' display names (`names`: by id).
pub(super) fn named(
    pairs: Vec<DuplicatePair>,
    names: &std::collections::HashMap<Uuid, String>,
) -> Vec<DuplicatePair> {
    let name = |id| names.get(&id).cloned().unwrap_or_default();
    pairs
        .into_iter()
        .map(|p| DuplicatePair {
            first_name: name(p.first_id),
            second_name: name(p.second_id),
            ..p
        })
        .collect()
}

/// A pair is stored once, smaller id first.
pub(super) fn pair_ids(a: Uuid, b: Uuid) -> (Uuid, Uuid) {
    if a < b { (a, b) } else { (b, a) }
}

/// Records a decision on a pair (by the tenant's actor, now); the rows changed.
pub(super) async fn write_pair_status<'c>(
    on: impl Exec<'c>,
    t: &Tenant,
    (a, b): (Uuid, Uuid),
    status: &str,
) -> StoreResult<u64> {
    let (first, second) = pair_ids(a, b);
    on.query(
        "UPDATE duplicate_pairs SET status = $1, decided_by = $2, decided_at = $3
         WHERE structure_id = $4 AND first_id = $5 AND second_id = $6",
    )
    .bind(status)
    .bind(&t.actor_label)
    .bind(Utc::now())
    .bind(t.structure_id)
    .bind(first)
    .bind(second)
    .execute()
    .await
}

impl SqlStore {
    /// Replaces the blocking keys of a file (none for an alias or a merged file).
    pub(super) async fn write_keys(
        &self,
        structure_id: Uuid,
        usager_id: Uuid,
        identity: &Identity,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        write_keys_in(&mut tx, structure_id, usager_id, identity).await?;
        tx.commit().await
    }
}

/// The blocking keys of a file, rewritten inside the caller's transaction.
pub(super) async fn write_keys_in(
    tx: &mut Tx,
    structure_id: Uuid,
    usager_id: Uuid,
    identity: &Identity,
) -> StoreResult<()> {
    let keys = dup::blocking_keys(identity);
    // By the file alone (its index): with the structure too, SQLite walked
    // the structure's keys (the primary key's first column) on every write,
    // a cost that grew with the structure (issue 12). The caller wrote the
    // tenant's file in this transaction: its keys are the tenant's.
    tx.query("DELETE FROM identity_keys WHERE usager_id = $1")
        .bind(usager_id)
        .execute()
        .await?;
    if !keys.is_empty() {
        tx.query("INSERT INTO identity_keys (structure_id, key, usager_id) ")
            .push_values(&keys, |row, key| {
                row.bind(structure_id).bind(key).bind(usager_id)
            })
            .push(" ON CONFLICT DO NOTHING")
            .execute()
            .await?;
    }
    Ok(())
}

#[async_trait]
impl DuplicateStore for SqlStore {
    async fn write_identity_keys(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<()> {
        let u = self
            .get_usager(t, usager_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let identity = if u.merged_into.is_some() {
            // A merged file is never proposed again.
            Identity::Anonymous {
                alias: String::new(),
                sex: None,
                birth_year: None,
            }
        } else {
            u.data.identity
        };
        self.write_keys(t.structure_id, usager_id, &identity).await
    }

    async fn backfill_identity_keys(&self) -> StoreResult<u64> {
        // Identities qualified before the INS had its own column.
        let qualified = self
            .db
            .query(
                "SELECT id, vigilance FROM usagers
                 WHERE ins_matricule IS NULL AND anonymous = $1 AND vigilance LIKE '%matricule%'",
            )
            .bind(false)
            .all(|r| Ok((r.get::<Uuid>("id")?, r.get::<String>("vigilance")?)))
            .await?;
        for (id, vigilance) in qualified {
            let v = rows::vigilance_from(&vigilance, false)?;
            if let Some(m) = rows::ins_matricule(&v) {
                self.db
                    .query("UPDATE usagers SET ins_matricule = $1 WHERE id = $2")
                    .bind(m)
                    .bind(id)
                    .execute()
                    .await?;
            }
        }
        let mut n = 0;
        loop {
            let files = self
                .db
                .query(select_usagers!(
                    "WHERE anonymous = $1 AND merged_into IS NULL
                     AND NOT EXISTS (SELECT 1 FROM identity_keys k WHERE k.usager_id = usagers.id)
                     LIMIT 500"
                ))
                .bind(false)
                .all(rows::usager)
                .await?;
            if files.is_empty() {
                return Ok(n);
            }
            for u in &files {
                self.write_keys(u.structure_id, u.id, &u.data.identity)
                    .await?;
                n += 1;
            }
        }
    }

    async fn duplicate_block(
        &self,
        t: &Tenant,
        keys: &[String],
        exclude: Option<Uuid>,
    ) -> StoreResult<Vec<Listed>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // The key subquery runs first (its LIMIT keeps the planner from
        // flattening it), through the primary key of `identity_keys`. Only
        // the identity is read: the block grows with the structure (the
        // files born the same day, the homonyms: a dozen at 100,000 files),
        // and whole files, read and decoded, made it the one step of a
        // creation whose cost grew with it (issue 12).
        self.db
            .query(concat!(
                "SELECT ",
                listed_column_list!(),
                " FROM (SELECT DISTINCT usager_id FROM identity_keys
                        WHERE structure_id = $1 AND key IN ("
            ))
            .bind(t.structure_id)
            .push_list(keys)
            .push(&format!(
                ") LIMIT {}) k
                 JOIN usagers ON usagers.id = k.usager_id
                 WHERE structure_id = $1 AND merged_into IS NULL AND anonymous = ",
                dup::MAX_BLOCK
            ))
            .push_bind(false)
            .push(" AND id <> ")
            .push_bind(exclude.unwrap_or(Uuid::nil()))
            .all(rows::listed)
            .await
    }

    async fn usagers_by_ids(&self, t: &Tenant, ids: &[Uuid]) -> StoreResult<Vec<Usager>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.db
            .query(select_usagers!("WHERE structure_id = $1 AND id IN ("))
            .bind(t.structure_id)
            .push_list(ids)
            .push(")")
            .all(rows::usager)
            .await
    }

    async fn usagers_with_ins(&self, t: &Tenant, matricule: &str) -> StoreResult<Vec<Usager>> {
        self.db
            .query(select_usagers!(
                "WHERE structure_id = $1 AND ins_matricule = $2 AND merged_into IS NULL"
            ))
            .bind(t.structure_id)
            .bind(matricule)
            .all(rows::usager)
            .await
    }

    async fn upsert_duplicate_pair(
        &self,
        t: &Tenant,
        a: Uuid,
        b: Uuid,
        m: &Match,
    ) -> StoreResult<()> {
        let (first, second) = pair_ids(a, b);
        self.db
            .query(
                "INSERT INTO duplicate_pairs (structure_id, first_id, second_id, score, reasons,
                     status, found_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (structure_id, first_id, second_id)
                 DO UPDATE SET score = excluded.score, reasons = excluded.reasons
                 WHERE duplicate_pairs.status = $6",
            )
            .bind(t.structure_id)
            .bind(first)
            .bind(second)
            .bind(i64::from(m.score))
            .bind(dup::reasons_csv(&m.reasons))
            .bind(PairStatus::Ouvert.code())
            .bind(Utc::now())
            .execute()
            .await?;
        Ok(())
    }

    async fn duplicate_pairs(
        &self,
        t: &Tenant,
        status: Option<PairStatus>,
        usager: Option<Uuid>,
        limit: i64,
    ) -> StoreResult<Vec<DuplicatePair>> {
        let mut q = self.db.query(PAIRS_SQL).bind(t.structure_id);
        if let Some(status) = status {
            q = q.push(" AND p.status = ").push_bind(status.code());
        }
        if let Some(usager) = usager {
            q = q
                .push(" AND (p.first_id = ")
                .push_bind(usager)
                .push(" OR p.second_id = ")
                .push_bind(usager)
                .push(")");
        }
        let pairs = q
            .push(" ORDER BY p.score DESC, p.found_at")
            .limit(limit.clamp(1, 1000))
            .all(pair)
            .await?;
        let ids = pairs
            .iter()
            .flat_map(|p| [p.first_id, p.second_id])
            .collect();
        let names = self.usager_names(t, ids).await?;
        Ok(named(pairs, &names))
    }

    async fn set_pair_status(
        &self,
        t: &Tenant,
        a: Uuid,
        b: Uuid,
        status: PairStatus,
        journal: Journal<'_>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        write_pair_status(&mut tx, t, (a, b), status.code())
            .await
            .and_then(found)?;
        commit_journaled(tx, t, journal).await
    }

    async fn identity_ids(
        &self,
        t: &Tenant,
        statuses: &[&str],
        after: Option<Uuid>,
        limit: i64,
    ) -> StoreResult<Vec<Uuid>> {
        let mut q = self
            .db
            .query(
                "SELECT id FROM usagers
                 WHERE structure_id = $1 AND anonymous = $2 AND merged_into IS NULL AND id > $3",
            )
            .bind(t.structure_id)
            .bind(false)
            .bind(after.unwrap_or(Uuid::nil()));
        if !statuses.is_empty() {
            q = q
                .push(" AND identity_status IN (")
                .push_list(statuses)
                .push(")");
        }
        q.push(" ORDER BY id")
            .limit(limit.clamp(1, 10_000))
            .scalars()
            .await
    }

    async fn set_collision(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        collision: Option<Collision>,
        note: Option<&str>,
        journal: Journal<'_>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        tx.query(
            "UPDATE usagers SET collision = $1, collision_note = $2, version = version + 1
                 WHERE id = $3 AND structure_id = $4 AND anonymous = $5",
        )
        .bind(collision.map(|c| c.code()))
        .bind(note)
        .bind(usager_id)
        .bind(t.structure_id)
        .bind(false)
        .execute()
        .await
        .and_then(found)?;
        commit_journaled(tx, t, journal).await
    }
}
