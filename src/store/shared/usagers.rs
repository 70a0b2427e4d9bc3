//! User files: the identity (strict traits or alias), contact, search.

use async_trait::async_trait;
use chrono::Utc;
use std::collections::HashMap;
use uuid::Uuid;

use super::SqlStore;
use super::audit::commit_journaled;
use super::duplicates::write_keys_in;
use super::rows::{self, returning_usager, select_usagers};
use super::search;
use crate::domain::tenant::Tenant;
use crate::domain::usager::UsagerData;
use crate::store::sql::Tx;
use crate::store::{
    AuditEvent, Backend, DuplicateStore, FileContents, Journal, Listed, StoreError, StoreResult,
    Usager, UsagerQuery, UsagerStore,
};

/// The insert of a new file, stamped with its search generation (`$21`);
/// SQLite's adds the file's FTS5 row, written by `search::index_new` just
/// before it.
macro_rules! insert_usager {
    ($columns:literal, $values:literal) => {
        concat!(
            "INSERT INTO usagers (id, structure_id, anonymous, alias, birth_name, first_names,
                 used_name, used_first_name, birth_date, birth_year, sex, birth_place_code,
                 phone, email, address, identity_status, vigilance, search_key, created_by,
                 created_at, updated_at, search_seq",
            $columns,
            ")
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                 $17, $18, $19, $20, $20, $21",
            $values,
            ")",
            returning_usager!()
        )
    };
}

/// Inserts a new file of the tenant's structure, in the search indexes
/// (its keys and journal are the caller's).
async fn insert_usager(tx: &mut Tx, t: &Tenant, data: &UsagerData) -> StoreResult<Usager> {
    let c = rows::UsagerColumns::from_data(data);
    let vigilance = rows::initial_vigilance(data);
    let id = Uuid::new_v4();
    let key = data.identity.search_key();
    let generation = search::index_new(tx, t.structure_id, id, &key).await?;
    let insert = tx
        .query(match tx.backend() {
            Backend::Sqlite => insert_usager!(", search_rowid", ", last_insert_rowid()"),
            Backend::Postgres => insert_usager!("", ""),
        })
        .bind(id)
        .bind(t.structure_id);
    c.bind(insert)
        .bind(vigilance.status().code())
        .bind(rows::vigilance_json(&vigilance))
        .bind(key)
        .bind(t.professional_id)
        .bind(Utc::now())
        .bind(generation)
        .fetch_one()
        .await
        .and_then(|r| rows::usager(&r))
}

#[async_trait]
impl UsagerStore for SqlStore {
    async fn create_usager(
        &self,
        t: &Tenant,
        data: &UsagerData,
        journal: Journal<'_>,
    ) -> StoreResult<Usager> {
        let mut created = self
            .create_usagers(t, std::slice::from_ref(data), journal)
            .await?;
        Ok(created.remove(0))
    }

    async fn create_usagers(
        &self,
        t: &Tenant,
        data: &[UsagerData],
        journal: Journal<'_>,
    ) -> StoreResult<Vec<Usager>> {
        let mut tx = self.db.begin_write().await?;
        let mut created = Vec::with_capacity(data.len());
        let mut entries = Vec::with_capacity(data.len() * journal.len());
        for d in data {
            let u = insert_usager(&mut tx, t, d).await?;
            write_keys_in(&mut tx, t.structure_id, u.id, &u.data.identity).await?;
            entries.extend(journal.iter().map(|e| AuditEvent {
                usager_id: Some(u.id),
                ..e.clone()
            }));
            created.push(u);
        }
        commit_journaled(tx, t, &entries).await?;
        Ok(created)
    }

    async fn update_usager(
        &self,
        t: &Tenant,
        id: Uuid,
        version: i64,
        data: &UsagerData,
        journal: Journal<'_>,
    ) -> StoreResult<Usager> {
        let c = rows::UsagerColumns::from_data(data);
        let mut tx = self.db.begin_write().await?;
        let update = tx.query(concat!(
            "UPDATE usagers SET anonymous = $1, alias = $2, birth_name = $3, first_names = $4,
                 used_name = $5, used_first_name = $6, birth_date = $7, birth_year = $8, sex = $9,
                 birth_place_code = $10, phone = $11, email = $12, address = $13,
                 search_key = $14, updated_at = $15, version = version + 1
             WHERE id = $16 AND structure_id = $17 AND version = $18",
            returning_usager!()
        ));
        let updated = c
            .bind(update)
            .bind(data.identity.search_key())
            .bind(Utc::now())
            .bind(id)
            .bind(t.structure_id)
            .bind(version)
            .optional(rows::usager)
            .await?;
        let Some(u) = updated else {
            return Err(why_unchanged(&mut tx, t, id, version).await);
        };
        search::reindex(&mut tx, u.id).await?;
        write_keys_in(&mut tx, t.structure_id, u.id, &u.data.identity).await?;
        commit_journaled(tx, t, journal).await?;
        Ok(u)
    }

    async fn get_usager(&self, t: &Tenant, id: Uuid) -> StoreResult<Option<Usager>> {
        self.db
            .query(select_usagers!("WHERE id = $1 AND structure_id = $2"))
            .bind(id)
            .bind(t.structure_id)
            .optional(rows::usager)
            .await
    }

    async fn file_contents(&self, t: &Tenant, id: Uuid) -> StoreResult<Option<FileContents>> {
        self.read_file_contents(t, id).await
    }

    async fn search_usagers(&self, t: &Tenant, q: &UsagerQuery) -> StoreResult<Vec<Listed>> {
        search::search(&self.db, &self.search_memory, t, q).await
    }

    async fn count_usagers(&self, t: &Tenant) -> StoreResult<i64> {
        self.db
            .query("SELECT COUNT(*) FROM usagers WHERE structure_id = $1 AND merged_into IS NULL")
            .bind(t.structure_id)
            .scalar()
            .await
    }
}

/// Why a versioned write of a file changed no row: `Stale` when the file
/// is the tenant's but no longer at the version the writer read, else
/// `NotFound` (not the tenant's, or not in the state the write expects).
pub(super) async fn why_unchanged(tx: &mut Tx, t: &Tenant, id: Uuid, version: i64) -> StoreError {
    let current = tx
        .query("SELECT version FROM usagers WHERE id = $1 AND structure_id = $2")
        .bind(id)
        .bind(t.structure_id)
        .scalar_optional::<i64>()
        .await;
    match current {
        Ok(Some(v)) if v != version => StoreError::Stale(id),
        Ok(_) => StoreError::NotFound,
        Err(e) => e,
    }
}

impl SqlStore {
    /// Display names of files, for lists that show pairs or tasks.
    pub(super) async fn usager_names(
        &self,
        t: &Tenant,
        mut ids: Vec<Uuid>,
    ) -> StoreResult<HashMap<Uuid, String>> {
        ids.sort();
        ids.dedup();
        Ok(self
            .usagers_by_ids(t, &ids)
            .await?
            .into_iter()
            .map(|u| (u.id, u.data.identity.display_name()))
            .collect())
    }
}
