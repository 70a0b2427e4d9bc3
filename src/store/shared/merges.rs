//! The whole file (export) and reversible merges: a merge snapshots both
//! files, moves every attached row to the survivor and hides the merged
//! file; an unmerge puts everything back as it was.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use uuid::Uuid;

use super::audit::commit_journaled;
use super::duplicates::{pair_ids, write_keys_in, write_pair_status};
use super::{SqlStore, found, rows};
use crate::domain::duplicates::PairStatus;
use crate::domain::identity::Vigilance;
use crate::domain::tenant::Tenant;
use crate::domain::usager::UsagerData;
use crate::store::quality::{
    ColumnKind, EXPORT_TABLES, JournalOf, MOVABLE, MergeSnapshot, UsagerSnapshot,
};
use crate::store::sql::{Exec, Row, Tx};
use crate::store::{
    DuplicateStore, MergeRecord, MergeStore, MovedObjects, StoreError, StoreResult,
};

/// Every mutable column of a file; `$1` the file, `$2` the structure.
const SNAPSHOT_SQL: &str = "SELECT anonymous, alias, birth_name, first_names, used_name,
    used_first_name, birth_date, birth_year, sex, birth_place_code, phone, email, address,
    search_key, identity_status, vigilance, ins_matricule, merged_into, collision,
    collision_note, created_at, updated_at FROM usagers WHERE id = $1 AND structure_id = $2";

const RESTORE_SQL: &str = "UPDATE usagers SET anonymous = $1, alias = $2, birth_name = $3,
    first_names = $4, used_name = $5, used_first_name = $6, birth_date = $7, birth_year = $8,
    sex = $9, birth_place_code = $10, phone = $11, email = $12, address = $13, search_key = $14,
    identity_status = $15, vigilance = $16, ins_matricule = $17, merged_into = $18,
    collision = $19, collision_note = $20, updated_at = $21
    WHERE id = $22 AND structure_id = $23";

fn snapshot(r: &Row) -> StoreResult<UsagerSnapshot> {
    let c = rows::usager_columns(r)?;
    Ok(UsagerSnapshot {
        anonymous: c.anonymous,
        alias: c.alias,
        birth_name: c.birth_name,
        first_names: c.first_names,
        used_name: c.used_name,
        used_first_name: c.used_first_name,
        birth_date: c.birth_date,
        birth_year: c.birth_year.map(i64::from),
        sex: c.sex,
        birth_place_code: c.birth_place_code,
        phone: c.phone,
        email: c.email,
        address: c.address,
        search_key: r.get("search_key")?,
        identity_status: r.get("identity_status")?,
        vigilance: r.get("vigilance")?,
        ins_matricule: r.get("ins_matricule")?,
        merged_into: r.get("merged_into")?,
        collision: r.get("collision")?,
        collision_note: r.get("collision_note")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

pub(super) fn merge_record(r: &Row) -> StoreResult<MergeRecord> {
    let snap: MergeSnapshot = rows::json(r, "snapshot")?;
    Ok(MergeRecord {
        id: r.get("id")?,
        survivor_id: r.get("survivor_id")?,
        merged_id: r.get("merged_id")?,
        at: r.get("at")?,
        by_label: r.get("by_label")?,
        moved: snap.moved,
        undone_at: r.get("undone_at")?,
        undone_by: r.get("undone_by")?,
    })
}

/// One column of an attached row, as JSON.
fn column(r: &Row, name: &str, kind: ColumnKind) -> StoreResult<serde_json::Value> {
    Ok(match kind {
        ColumnKind::Uuid => json!(r.get::<Option<Uuid>>(name)?),
        ColumnKind::Text => json!(r.get::<Option<String>>(name)?),
        ColumnKind::Date => json!(r.get::<Option<NaiveDate>>(name)?),
        ColumnKind::Time => json!(
            r.get::<Option<DateTime<Utc>>>(name)?
                .map(|d| d.to_rfc3339())
        ),
        ColumnKind::Int4 => json!(r.get::<Option<i32>>(name)?),
        ColumnKind::Int8 => json!(r.get::<Option<i64>>(name)?),
    })
}

async fn read_snapshot<'c>(on: impl Exec<'c>, t: &Tenant, id: Uuid) -> StoreResult<UsagerSnapshot> {
    on.query(SNAPSHOT_SQL)
        .bind(id)
        .bind(t.structure_id)
        .optional(snapshot)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Writes a whole file row back from a snapshot.
async fn restore(tx: &mut Tx, t: &Tenant, id: Uuid, s: &UsagerSnapshot) -> StoreResult<()> {
    tx.query(RESTORE_SQL)
        .bind(s.anonymous)
        .bind(&s.alias)
        .bind(&s.birth_name)
        .bind(&s.first_names)
        .bind(&s.used_name)
        .bind(&s.used_first_name)
        .bind(s.birth_date)
        .bind(s.birth_year.map(|y| y as i32))
        .bind(&s.sex)
        .bind(&s.birth_place_code)
        .bind(&s.phone)
        .bind(&s.email)
        .bind(&s.address)
        .bind(&s.search_key)
        .bind(&s.identity_status)
        .bind(&s.vigilance)
        .bind(&s.ins_matricule)
        .bind(s.merged_into)
        .bind(&s.collision)
        .bind(&s.collision_note)
        .bind(s.updated_at)
        .bind(id)
        .bind(t.structure_id)
        .execute()
        .await
        .and_then(found)?;
    super::search::reindex(tx, id).await
}

/// Write-locks both files first (row locks on PostgreSQL, the write lock on
/// SQLite), so that two merges touching them run one after the other and
/// each reads what the other wrote. Both versions are bumped: a form read
/// before the merge (or its undoing) is stale.
async fn lock_pair(tx: &mut Tx, t: &Tenant, a: Uuid, b: Uuid) -> StoreResult<()> {
    tx.query("UPDATE usagers SET version = version + 1 WHERE structure_id = $1 AND id IN ($2, $3)")
        .bind(t.structure_id)
        .bind(a)
        .bind(b)
        .execute()
        .await?;
    Ok(())
}

/// Which attached rows a read sees.
#[derive(Clone, Copy)]
enum Seen {
    /// Every row (what a merge moves).
    All,
    /// Notes only of the classes the tenant reads (what a person is shown).
    Readable,
}

/// The ids of the rows of `table` attached to a file.
async fn attached<'c>(
    on: impl Exec<'c>,
    t: &Tenant,
    table: &str,
    usager_id: Uuid,
    seen: Seen,
) -> StoreResult<Vec<Uuid>> {
    let (filter, classes) = match seen {
        Seen::All => (String::new(), Vec::new()),
        Seen::Readable => readable_notes(t, table),
    };
    let mut query = on
        .query(format!(
            "SELECT x.id FROM {table} x WHERE x.structure_id = $1 AND x.usager_id = $2{filter}
             ORDER BY x.id"
        ))
        .bind(t.structure_id)
        .bind(usager_id);
    for class in classes {
        query = query.bind(class);
    }
    query.scalars().await
}

/// `AND x.confidentiality IN (…)` for the classes the tenant reads, from `$3`
/// (notes and documents; other tables: nothing), and the classes to bind.
fn readable_notes(t: &Tenant, table: &str) -> (String, Vec<&'static str>) {
    if !matches!(table, "notes" | "documents") {
        return (String::new(), Vec::new());
    }
    let classes: Vec<&'static str> = t.readable_classes().iter().map(|c| c.code()).collect();
    (
        format!(
            " AND x.confidentiality IN ({})",
            super::file::class_placeholders(classes.len())
        ),
        classes,
    )
}

#[async_trait]
impl MergeStore for SqlStore {
    async fn export_usager(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        insi_xml: bool,
    ) -> StoreResult<serde_json::Value> {
        let file = read_snapshot(&self.db, t, usager_id).await?;
        let mut out = serde_json::Map::new();
        out.insert("id".into(), json!(usager_id));
        out.insert(
            "dossier".into(),
            serde_json::to_value(file).expect("snapshot serialises"),
        );
        for (name, table, columns) in EXPORT_TABLES {
            // The exchanges' XML holds INS values INSi returned, maybe since
            // invalidated: for the roles that qualify identities only.
            let columns: Vec<_> = columns
                .iter()
                .filter(|(c, _)| insi_xml || !c.ends_with("_xml"))
                .collect();
            let list: Vec<String> = columns.iter().map(|(c, _)| format!("x.{c}")).collect();
            let (filter, classes) = readable_notes(t, table);
            let mut query = self
                .db
                .query(format!(
                    "SELECT {} FROM {table} x WHERE x.structure_id = $1 AND x.usager_id = $2{filter}
                     ORDER BY x.id",
                    list.join(", ")
                ))
                .bind(t.structure_id)
                .bind(usager_id);
            for class in classes {
                query = query.bind(class);
            }
            let items = query
                .all(|r| {
                    let mut obj = serde_json::Map::new();
                    for (c, kind) in columns.iter() {
                        obj.insert((*c).to_string(), column(r, c, *kind)?);
                    }
                    Ok(serde_json::Value::Object(obj))
                })
                .await?;
            out.insert((*name).to_string(), serde_json::Value::Array(items));
        }
        Ok(serde_json::Value::Object(out))
    }

    async fn merge_preview(&self, t: &Tenant, merged_id: Uuid) -> StoreResult<MovedObjects> {
        let mut moved = MovedObjects::default();
        for (kind, table) in MOVABLE {
            // A note or a document the reader may not read is not counted
            // either: its existence says something (a medical follow-up).
            let ids = attached(&self.db, t, table, merged_id, Seen::Readable).await?;
            if !ids.is_empty() {
                moved.by_kind.insert((*kind).to_string(), ids);
            }
        }
        Ok(moved)
    }

    async fn merge_usagers(
        &self,
        t: &Tenant,
        survivor_id: Uuid,
        merged_id: Uuid,
        survivor: &(UsagerData, Vigilance),
        journal: JournalOf<'_, MergeRecord>,
    ) -> StoreResult<MergeRecord> {
        if survivor_id == merged_id {
            return Err(StoreError::Conflict(
                "un dossier ne se fusionne pas avec lui-même".into(),
            ));
        }
        let mut tx = self.db.begin_write().await?;
        lock_pair(&mut tx, t, survivor_id, merged_id).await?;
        let mut snaps = Vec::with_capacity(2);
        for id in [survivor_id, merged_id] {
            let s = read_snapshot(&mut tx, t, id).await?;
            if s.merged_into.is_some() {
                return Err(StoreError::Conflict(
                    "ce dossier a déjà été fusionné".into(),
                ));
            }
            snaps.push(s);
        }
        let (first, second) = pair_ids(survivor_id, merged_id);
        let pair_status: Option<String> = tx
            .query(
                "SELECT status FROM duplicate_pairs
                 WHERE structure_id = $1 AND first_id = $2 AND second_id = $3",
            )
            .bind(t.structure_id)
            .bind(first)
            .bind(second)
            .scalar_optional()
            .await?;
        let mut moved = MovedObjects::default();
        for (kind, table) in MOVABLE {
            let ids = attached(&mut tx, t, table, merged_id, Seen::All).await?;
            tx.query(format!(
                "UPDATE {table} SET usager_id = $1 WHERE structure_id = $2 AND usager_id = $3"
            ))
            .bind(survivor_id)
            .bind(t.structure_id)
            .bind(merged_id)
            .execute()
            .await?;
            if !ids.is_empty() {
                moved.by_kind.insert((*kind).to_string(), ids);
            }
        }
        let now = Utc::now();
        // The survivor's new identity, written as a full row from its snapshot.
        let mut new_survivor = snaps[0].clone();
        new_survivor.apply(&survivor.0, &survivor.1, now);
        restore(&mut tx, t, survivor_id, &new_survivor).await?;
        let mut hidden = snaps[1].clone();
        hidden.merged_into = Some(survivor_id);
        hidden.updated_at = now;
        restore(&mut tx, t, merged_id, &hidden).await?;
        tx.query("DELETE FROM identity_keys WHERE usager_id = $1 AND structure_id = $2")
            .bind(merged_id)
            .bind(t.structure_id)
            .execute()
            .await?;
        tx.query(
            "INSERT INTO duplicate_pairs (structure_id, first_id, second_id, score, reasons,
                 status, found_at, decided_by, decided_at)
             VALUES ($1, $2, $3, 100, '', $4, $5, $6, $5)
             ON CONFLICT (structure_id, first_id, second_id)
             DO UPDATE SET status = $4, decided_by = $6, decided_at = $5",
        )
        .bind(t.structure_id)
        .bind(first)
        .bind(second)
        .bind(PairStatus::Fusionne.code())
        .bind(now)
        .bind(&t.actor_label)
        .execute()
        .await?;
        let snapshot = MergeSnapshot {
            survivor: snaps[0].clone(),
            merged: snaps[1].clone(),
            moved: moved.clone(),
            pair_status,
        };
        let id = Uuid::new_v4();
        tx.query(
            "INSERT INTO merges (id, structure_id, survivor_id, merged_id, at, by_label, snapshot)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(t.structure_id)
        .bind(survivor_id)
        .bind(merged_id)
        .bind(now)
        .bind(&t.actor_label)
        .bind(serde_json::to_string(&snapshot).expect("snapshot serialises"))
        .execute()
        .await?;
        let record = MergeRecord {
            id,
            survivor_id,
            merged_id,
            at: now,
            by_label: t.actor_label.clone(),
            moved,
            undone_at: None,
            undone_by: None,
        };
        write_keys_in(&mut tx, t.structure_id, survivor_id, &survivor.0.identity).await?;
        commit_journaled(tx, t, &journal(&record)).await?;
        Ok(record)
    }

    async fn unmerge(
        &self,
        t: &Tenant,
        merge_id: Uuid,
        journal: JournalOf<'_, MergeRecord>,
    ) -> StoreResult<MergeRecord> {
        const ALREADY_UNDONE: &str = "cette fusion a déjà été annulée";
        let mut tx = self.db.begin_write().await?;
        let (record, snap) = tx
            .query("SELECT * FROM merges WHERE id = $1 AND structure_id = $2")
            .bind(merge_id)
            .bind(t.structure_id)
            .optional(|r| {
                Ok((
                    merge_record(r)?,
                    rows::json::<MergeSnapshot>(r, "snapshot")?,
                ))
            })
            .await?
            .ok_or(StoreError::NotFound)?;
        lock_pair(&mut tx, t, record.survivor_id, record.merged_id).await?;
        if record.undone_at.is_some() {
            return Err(StoreError::Conflict(ALREADY_UNDONE.into()));
        }
        let later: i64 = tx
            .query(
                "SELECT COUNT(*) FROM merges
                 WHERE structure_id = $1 AND undone_at IS NULL AND at > $2
                   AND (survivor_id IN ($3, $4) OR merged_id IN ($3, $4))",
            )
            .bind(t.structure_id)
            .bind(record.at)
            .bind(record.survivor_id)
            .bind(record.merged_id)
            .scalar()
            .await?;
        if later > 0 {
            return Err(StoreError::Conflict(
                "une fusion plus récente concerne ces dossiers : annulez-la d'abord".into(),
            ));
        }
        for (kind, table) in MOVABLE {
            for id in snap.moved.by_kind.get(*kind).into_iter().flatten() {
                tx.query(format!(
                    "UPDATE {table} SET usager_id = $1 WHERE id = $2 AND structure_id = $3"
                ))
                .bind(record.merged_id)
                .bind(*id)
                .bind(t.structure_id)
                .execute()
                .await?;
            }
        }
        restore(&mut tx, t, record.survivor_id, &snap.survivor).await?;
        restore(&mut tx, t, record.merged_id, &snap.merged).await?;
        let (first, second) = pair_ids(record.survivor_id, record.merged_id);
        match &snap.pair_status {
            Some(status) => {
                write_pair_status(&mut tx, t, (first, second), status).await?;
            }
            None => {
                tx.query(
                    "DELETE FROM duplicate_pairs
                     WHERE structure_id = $1 AND first_id = $2 AND second_id = $3",
                )
                .bind(t.structure_id)
                .bind(first)
                .bind(second)
                .execute()
                .await?;
            }
        }
        let now = Utc::now();
        let undone = tx
            .query(
                "UPDATE merges SET undone_at = $1, undone_by = $2
                 WHERE id = $3 AND structure_id = $4 AND undone_at IS NULL",
            )
            .bind(now)
            .bind(&t.actor_label)
            .bind(merge_id)
            .bind(t.structure_id)
            .execute()
            .await?;
        if undone != 1 {
            return Err(StoreError::Conflict(ALREADY_UNDONE.into()));
        }
        let record = MergeRecord {
            undone_at: Some(now),
            undone_by: Some(t.actor_label.clone()),
            ..record
        };
        commit_journaled(tx, t, &journal(&record)).await?;
        for id in [record.survivor_id, record.merged_id] {
            self.write_identity_keys(t, id).await?;
        }
        Ok(record)
    }

    async fn merges_of(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<MergeRecord>> {
        self.db
            .query(
                "SELECT * FROM merges WHERE structure_id = $1 AND (survivor_id = $2 OR merged_id = $2)
                 ORDER BY at DESC",
            )
            .bind(t.structure_id)
            .bind(usager_id)
            .all(merge_record)
            .await
    }
}
