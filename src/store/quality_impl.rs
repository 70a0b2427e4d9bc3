// Included by `sqlite.rs` and `postgres.rs` (see `quality.rs`): each defines
// `ThisStore`, `ThisRow`, `Int4` (the type of 32-bit integer columns) and
// `MONTH_SQL` (an SQL expression giving `YYYY-MM` of the column `at`) first.
// The SQL below is accepted by both dialects.

use crate::domain::duplicates::{
    self as dup, Collision as QCollision, Match as QMatch, PairStatus as QPairStatus,
};
use crate::store::quality::{
    ColumnKind, EXPORT_TABLES, MOVABLE, NewProcedure, QualityStore, UsagerSnapshot,
};

fn q_usager_sql(tail: &str) -> String {
    format!("SELECT {} FROM usagers {tail}", rows::USAGER_COLUMNS)
}

fn q_placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[allow(clippy::unnecessary_cast)] // `Int4` is i64 on SQLite, i32 on PostgreSQL
fn q_snapshot(r: &ThisRow) -> StoreResult<UsagerSnapshot> {
    Ok(UsagerSnapshot {
        anonymous: r.try_get("anonymous")?,
        alias: r.try_get("alias")?,
        birth_name: r.try_get("birth_name")?,
        first_names: r.try_get("first_names")?,
        used_name: r.try_get("used_name")?,
        used_first_name: r.try_get("used_first_name")?,
        birth_date: r.try_get("birth_date")?,
        birth_year: r
            .try_get::<Option<Int4>, _>("birth_year")?
            .map(|y| y as i64), // i32 on PostgreSQL
        sex: r.try_get("sex")?,
        birth_place_code: r.try_get("birth_place_code")?,
        phone: r.try_get("phone")?,
        email: r.try_get("email")?,
        address: r.try_get("address")?,
        search_key: r.try_get("search_key")?,
        identity_status: r.try_get("identity_status")?,
        vigilance: r.try_get("vigilance")?,
        ins_matricule: r.try_get("ins_matricule")?,
        merged_into: r.try_get("merged_into")?,
        collision: r.try_get("collision")?,
        collision_note: r.try_get("collision_note")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

const Q_SNAPSHOT_SQL: &str = "SELECT anonymous, alias, birth_name, first_names, used_name, used_first_name, birth_date, birth_year,
    sex, birth_place_code, phone, email, address, search_key, identity_status, vigilance, ins_matricule, merged_into,
    collision, collision_note, created_at, updated_at FROM usagers WHERE id = $1 AND structure_id = $2";

const Q_RESTORE_SQL: &str = "UPDATE usagers SET anonymous = $1, alias = $2, birth_name = $3, first_names = $4, used_name = $5,
    used_first_name = $6, birth_date = $7, birth_year = $8, sex = $9, birth_place_code = $10, phone = $11, email = $12,
    address = $13, search_key = $14, identity_status = $15, vigilance = $16, ins_matricule = $17, merged_into = $18,
    collision = $19, collision_note = $20, updated_at = $21 WHERE id = $22 AND structure_id = $23";

#[allow(clippy::unnecessary_cast)] // `Int4` is i64 on SQLite, i32 on PostgreSQL
async fn q_restore<'e, E>(ex: E, t: &Tenant, id: Uuid, s: &UsagerSnapshot) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = <ThisRow as sqlx::Row>::Database>,
{
    let r = sqlx::query(Q_RESTORE_SQL)
        .bind(s.anonymous)
        .bind(&s.alias)
        .bind(&s.birth_name)
        .bind(&s.first_names)
        .bind(&s.used_name)
        .bind(&s.used_first_name)
        .bind(s.birth_date)
        .bind(s.birth_year.map(|y| y as Int4))
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
        .execute(ex)
        .await?;
    if r.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

fn q_column(r: &ThisRow, name: &str, kind: ColumnKind) -> StoreResult<serde_json::Value> {
    use serde_json::json;
    Ok(match kind {
        ColumnKind::Uuid => json!(r.try_get::<Option<Uuid>, _>(name)?),
        ColumnKind::Text => json!(r.try_get::<Option<String>, _>(name)?),
        ColumnKind::Date => json!(r.try_get::<Option<NaiveDate>, _>(name)?),
        ColumnKind::Time => json!(
            r.try_get::<Option<DateTime<Utc>>, _>(name)?
                .map(|d| d.to_rfc3339())
        ),
        ColumnKind::Int4 => json!(r.try_get::<Option<Int4>, _>(name)?),
        ColumnKind::Int8 => json!(r.try_get::<Option<i64>, _>(name)?),
    })
}

async fn q_lock_pair(
    tx: &mut sqlx::Transaction<'_, <ThisRow as sqlx::Row>::Database>,
    t: &Tenant,
    a: Uuid,
    b: Uuid,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE usagers SET updated_at = updated_at WHERE structure_id = $1 AND id IN ($2, $3)",
    )
    .bind(t.structure_id)
    .bind(a)
    .bind(b)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn q_pair_ids(a: Uuid, b: Uuid) -> (Uuid, Uuid) {
    if a < b { (a, b) } else { (b, a) }
}

fn q_job(r: &ThisRow) -> StoreResult<Job> {
    Ok(Job {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        state: r.try_get("state")?,
        total: r.try_get("total")?,
        done: r.try_get("done")?,
        report: r.try_get("report")?,
        started_by: r.try_get("started_by")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

fn q_merge(r: &ThisRow) -> StoreResult<MergeRecord> {
    let snapshot: String = r.try_get("snapshot")?;
    let snap: crate::store::quality::MergeSnapshot = serde_json::from_str(&snapshot)
        .map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))?;
    Ok(MergeRecord {
        id: r.try_get("id")?,
        survivor_id: r.try_get("survivor_id")?,
        merged_id: r.try_get("merged_id")?,
        at: r.try_get("at")?,
        by_label: r.try_get("by_label")?,
        moved: snap.moved,
        undone_at: r.try_get("undone_at")?,
        undone_by: r.try_get("undone_by")?,
    })
}

fn q_procedure(r: &ThisRow) -> StoreResult<Procedure> {
    Ok(Procedure {
        version: r.try_get("version")?,
        body: r.try_get("body")?,
        guidance_01: r.try_get("guidance_01")?,
        guidance_02: r.try_get("guidance_02")?,
        author: r.try_get("author")?,
        at: r.try_get("at")?,
    })
}

impl ThisStore {
    async fn q_usagers_by_ids(&self, t: &Tenant, ids: &[Uuid]) -> StoreResult<Vec<Usager>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = q_usager_sql(&format!(
            "WHERE structure_id = $1 AND id IN ({})",
            q_placeholders(2, ids.len())
        ));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(t.structure_id);
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(usager_from_row)
            .collect()
    }

    /// Display names of files, for lists that show pairs or tasks.
    async fn q_names(
        &self,
        t: &Tenant,
        mut ids: Vec<Uuid>,
    ) -> StoreResult<std::collections::HashMap<Uuid, String>> {
        ids.sort();
        ids.dedup();
        Ok(self
            .q_usagers_by_ids(t, &ids)
            .await?
            .into_iter()
            .map(|u| (u.id, u.data.identity.display_name()))
            .collect())
    }

    async fn q_keys_for(
        &self,
        structure_id: Uuid,
        usager_id: Uuid,
        identity: &crate::domain::usager::Identity,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM identity_keys WHERE usager_id = $1 AND structure_id = $2")
            .bind(usager_id)
            .bind(structure_id)
            .execute(&mut *tx)
            .await?;
        for key in dup::blocking_keys(identity) {
            sqlx::query(
                "INSERT INTO identity_keys (structure_id, key, usager_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(structure_id)
            .bind(key)
            .bind(usager_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn q_moved(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<MovedObjects> {
        let mut moved = MovedObjects::default();
        for (kind, table) in MOVABLE {
            let sql = format!(
                "SELECT id FROM {table} WHERE structure_id = $1 AND usager_id = $2 ORDER BY id"
            );
            let ids: Vec<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(t.structure_id)
                .bind(usager_id)
                .fetch_all(&self.pool)
                .await?;
            if !ids.is_empty() {
                moved.by_kind.insert((*kind).to_string(), ids);
            }
        }
        Ok(moved)
    }
}

#[async_trait]
impl QualityStore for ThisStore {
    async fn write_identity_keys(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<()> {
        let u = self
            .get_usager(t, usager_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let identity = if u.merged_into.is_some() {
            // A merged file is never proposed again.
            crate::domain::usager::Identity::Anonymous {
                alias: String::new(),
                sex: None,
                birth_year: None,
            }
        } else {
            u.data.identity.clone()
        };
        self.q_keys_for(t.structure_id, usager_id, &identity).await
    }

    async fn backfill_identity_keys(&self) -> StoreResult<u64> {
        // Identities qualified before the INS had its own column.
        let rows = sqlx::query(
            "SELECT id, vigilance FROM usagers WHERE ins_matricule IS NULL AND anonymous = $1 AND vigilance LIKE '%matricule%'",
        )
        .bind(false)
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            let id: Uuid = r.try_get("id")?;
            let v = rows::vigilance_from(&r.try_get::<String, _>("vigilance")?, false)?;
            if let Some(m) = rows::ins_matricule(&v) {
                sqlx::query("UPDATE usagers SET ins_matricule = $1 WHERE id = $2")
                    .bind(m)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
            }
        }
        let sql = q_usager_sql(
            "WHERE anonymous = $1 AND merged_into IS NULL AND NOT EXISTS (SELECT 1 FROM identity_keys k WHERE k.usager_id = usagers.id) LIMIT 500",
        );
        let mut n = 0;
        loop {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(false)
                .fetch_all(&self.pool)
                .await?;
            if rows.is_empty() {
                return Ok(n);
            }
            for r in &rows {
                let u = usager_from_row(r)?;
                self.q_keys_for(u.structure_id, u.id, &u.data.identity)
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
    ) -> StoreResult<Vec<Usager>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // The key subquery runs first (its LIMIT keeps the planner from
        // flattening it), through the primary key of `identity_keys`.
        let sql = format!(
            "SELECT {} FROM (SELECT DISTINCT usager_id FROM identity_keys
                 WHERE structure_id = $1 AND key IN ({}) LIMIT {}) k
             JOIN usagers ON usagers.id = k.usager_id
             WHERE structure_id = $1 AND merged_into IS NULL AND anonymous = $2 AND id <> $3",
            rows::USAGER_COLUMNS,
            q_placeholders(4, keys.len()),
            dup::MAX_BLOCK
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(t.structure_id)
            .bind(false)
            .bind(exclude.unwrap_or(Uuid::nil()));
        for k in keys {
            q = q.bind(k);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(usager_from_row)
            .collect()
    }

    async fn usagers_with_ins(&self, t: &Tenant, matricule: &str) -> StoreResult<Vec<Usager>> {
        let sql =
            q_usager_sql("WHERE structure_id = $1 AND ins_matricule = $2 AND merged_into IS NULL");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(t.structure_id)
            .bind(matricule)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(usager_from_row)
            .collect()
    }

    async fn upsert_duplicate_pair(
        &self,
        t: &Tenant,
        a: Uuid,
        b: Uuid,
        m: &QMatch,
    ) -> StoreResult<()> {
        let (first, second) = q_pair_ids(a, b);
        sqlx::query(
            "INSERT INTO duplicate_pairs (structure_id, first_id, second_id, score, reasons, status, found_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (structure_id, first_id, second_id) DO UPDATE SET score = excluded.score, reasons = excluded.reasons
             WHERE duplicate_pairs.status = $6",
        )
        .bind(t.structure_id)
        .bind(first)
        .bind(second)
        .bind(i64::from(m.score))
        .bind(dup::reasons_csv(&m.reasons))
        .bind(QPairStatus::Ouvert.code())
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn duplicate_pairs(
        &self,
        t: &Tenant,
        status: Option<QPairStatus>,
        usager: Option<Uuid>,
        limit: i64,
    ) -> StoreResult<Vec<DuplicatePair>> {
        let rows = sqlx::query(
            "SELECT p.first_id, p.second_id, p.score, p.reasons, p.status, p.found_at, p.decided_by
             FROM duplicate_pairs p
             JOIN usagers a ON a.id = p.first_id JOIN usagers b ON b.id = p.second_id
             WHERE p.structure_id = $1 AND ($2 = '' OR p.status = $2)
               AND ($3 = $4 OR p.first_id = $3 OR p.second_id = $3)
               AND ((a.merged_into IS NULL AND b.merged_into IS NULL) OR p.status = 'fusionne')
             ORDER BY p.score DESC, p.found_at LIMIT $5",
        )
        .bind(t.structure_id)
        .bind(status.map(|s| s.code()).unwrap_or(""))
        .bind(usager.unwrap_or(Uuid::nil()))
        .bind(Uuid::nil())
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.pool)
        .await?;
        let mut ids: Vec<Uuid> = Vec::new();
        for r in &rows {
            ids.push(r.try_get("first_id")?);
            ids.push(r.try_get("second_id")?);
        }
        let names = self.q_names(t, ids).await?;
        rows.iter()
            .map(|r| {
                let first_id: Uuid = r.try_get("first_id")?;
                let second_id: Uuid = r.try_get("second_id")?;
                Ok(DuplicatePair {
                    first_id,
                    second_id,
                    first_name: names.get(&first_id).cloned().unwrap_or_default(),
                    second_name: names.get(&second_id).cloned().unwrap_or_default(),
                    score: r.try_get::<i64, _>("score")?.clamp(0, 100) as u8,
                    reasons: dup::reasons_from_csv(&r.try_get::<String, _>("reasons")?),
                    status: rows::parse_code_with(
                        &r.try_get::<String, _>("status")?,
                        QPairStatus::parse,
                    )?,
                    found_at: r.try_get("found_at")?,
                    decided_by: r.try_get("decided_by")?,
                })
            })
            .collect()
    }

    async fn set_pair_status(
        &self,
        t: &Tenant,
        a: Uuid,
        b: Uuid,
        status: QPairStatus,
    ) -> StoreResult<()> {
        let (first, second) = q_pair_ids(a, b);
        let r = sqlx::query(
            "UPDATE duplicate_pairs SET status = $1, decided_by = $2, decided_at = $3
             WHERE structure_id = $4 AND first_id = $5 AND second_id = $6",
        )
        .bind(status.code())
        .bind(&t.actor_label)
        .bind(Utc::now())
        .bind(t.structure_id)
        .bind(first)
        .bind(second)
        .execute(&self.pool)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn identity_ids(
        &self,
        t: &Tenant,
        statuses: &[&str],
        after: Option<Uuid>,
        limit: i64,
    ) -> StoreResult<Vec<Uuid>> {
        let status_filter = if statuses.is_empty() {
            String::new()
        } else {
            format!(
                "AND identity_status IN ({})",
                q_placeholders(5, statuses.len())
            )
        };
        let sql = format!(
            "SELECT id FROM usagers WHERE structure_id = $1 AND anonymous = $2 AND merged_into IS NULL
             AND id > $3 {status_filter} ORDER BY id LIMIT $4"
        );
        let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(t.structure_id)
            .bind(false)
            .bind(after.unwrap_or(Uuid::nil()))
            .bind(limit.clamp(1, 10_000));
        for s in statuses {
            q = q.bind(*s);
        }
        Ok(q.fetch_all(&self.pool).await?)
    }

    async fn set_collision(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        collision: Option<QCollision>,
        note: Option<&str>,
    ) -> StoreResult<()> {
        let r = sqlx::query(
            "UPDATE usagers SET collision = $1, collision_note = $2 WHERE id = $3 AND structure_id = $4 AND anonymous = $5",
        )
        .bind(collision.map(|c| c.code()))
        .bind(note)
        .bind(usager_id)
        .bind(t.structure_id)
        .bind(false)
        .execute(&self.pool)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn export_usager(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<serde_json::Value> {
        let row = sqlx::query(Q_SNAPSHOT_SQL)
            .bind(usager_id)
            .bind(t.structure_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut out = serde_json::Map::new();
        out.insert("id".into(), serde_json::json!(usager_id));
        out.insert(
            "dossier".into(),
            serde_json::to_value(q_snapshot(&row)?).expect("snapshot serialises"),
        );
        for (name, table, columns) in EXPORT_TABLES {
            let list: Vec<String> = columns.iter().map(|(c, _)| format!("x.{c}")).collect();
            let sql = format!(
                "SELECT {} FROM {table} x WHERE x.structure_id = $1 AND x.usager_id = $2 ORDER BY x.id",
                list.join(", ")
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(t.structure_id)
                .bind(usager_id)
                .fetch_all(&self.pool)
                .await?;
            let mut items = Vec::new();
            for r in &rows {
                let mut obj = serde_json::Map::new();
                for (c, kind) in columns.iter() {
                    obj.insert((*c).to_string(), q_column(r, c, *kind)?);
                }
                items.push(serde_json::Value::Object(obj));
            }
            out.insert((*name).to_string(), serde_json::Value::Array(items));
        }
        Ok(serde_json::Value::Object(out))
    }

    async fn merge_preview(&self, t: &Tenant, merged_id: Uuid) -> StoreResult<MovedObjects> {
        self.q_moved(t, merged_id).await
    }

    async fn merge_usagers(
        &self,
        t: &Tenant,
        survivor_id: Uuid,
        merged_id: Uuid,
        survivor: &(UsagerData, Vigilance),
    ) -> StoreResult<MergeRecord> {
        if survivor_id == merged_id {
            return Err(StoreError::Conflict(
                "un dossier ne se fusionne pas avec lui-même".into(),
            ));
        }
        let mut tx = self.pool.begin().await?;
        // Write-lock both rows first (row locks on PostgreSQL, the write lock
        // on SQLite), so that two merges touching these files run one after
        // the other and each reads what the other wrote.
        q_lock_pair(&mut tx, t, survivor_id, merged_id).await?;
        let mut snaps = Vec::new();
        for id in [survivor_id, merged_id] {
            let row = sqlx::query(Q_SNAPSHOT_SQL)
                .bind(id)
                .bind(t.structure_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            let s = q_snapshot(&row)?;
            if s.merged_into.is_some() {
                return Err(StoreError::Conflict(
                    "ce dossier a déjà été fusionné".into(),
                ));
            }
            snaps.push(s);
        }
        let (first, second) = q_pair_ids(survivor_id, merged_id);
        let pair_status: Option<String> = sqlx::query_scalar(
            "SELECT status FROM duplicate_pairs WHERE structure_id = $1 AND first_id = $2 AND second_id = $3",
        )
        .bind(t.structure_id)
        .bind(first)
        .bind(second)
        .fetch_optional(&mut *tx)
        .await?;
        let mut moved = MovedObjects::default();
        for (kind, table) in MOVABLE {
            let sql = format!(
                "SELECT id FROM {table} WHERE structure_id = $1 AND usager_id = $2 ORDER BY id"
            );
            let ids: Vec<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(t.structure_id)
                .bind(merged_id)
                .fetch_all(&mut *tx)
                .await?;
            let sql = format!(
                "UPDATE {table} SET usager_id = $1 WHERE structure_id = $2 AND usager_id = $3"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(survivor_id)
                .bind(t.structure_id)
                .bind(merged_id)
                .execute(&mut *tx)
                .await?;
            if !ids.is_empty() {
                moved.by_kind.insert((*kind).to_string(), ids);
            }
        }
        let now = Utc::now();
        // The survivor's new identity, written as a full row from its snapshot.
        let mut new_survivor = snaps[0].clone();
        new_survivor.apply(&survivor.0, &survivor.1, now);
        q_restore(&mut *tx, t, survivor_id, &new_survivor).await?;
        let mut hidden = snaps[1].clone();
        hidden.merged_into = Some(survivor_id);
        hidden.updated_at = now;
        q_restore(&mut *tx, t, merged_id, &hidden).await?;
        sqlx::query("DELETE FROM identity_keys WHERE usager_id = $1 AND structure_id = $2")
            .bind(merged_id)
            .bind(t.structure_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO duplicate_pairs (structure_id, first_id, second_id, score, reasons, status, found_at, decided_by, decided_at)
             VALUES ($1, $2, $3, 100, '', $4, $5, $6, $5)
             ON CONFLICT (structure_id, first_id, second_id) DO UPDATE SET status = $4, decided_by = $6, decided_at = $5",
        )
        .bind(t.structure_id)
        .bind(first)
        .bind(second)
        .bind(QPairStatus::Fusionne.code())
        .bind(now)
        .bind(&t.actor_label)
        .execute(&mut *tx)
        .await?;
        let snapshot = crate::store::quality::MergeSnapshot {
            survivor: snaps[0].clone(),
            merged: snaps[1].clone(),
            moved: moved.clone(),
            pair_status,
        };
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO merges (id, structure_id, survivor_id, merged_id, at, by_label, snapshot) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(t.structure_id)
        .bind(survivor_id)
        .bind(merged_id)
        .bind(now)
        .bind(&t.actor_label)
        .bind(serde_json::to_string(&snapshot).expect("snapshot serialises"))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.q_keys_for(t.structure_id, survivor_id, &survivor.0.identity)
            .await?;
        Ok(MergeRecord {
            id,
            survivor_id,
            merged_id,
            at: now,
            by_label: t.actor_label.clone(),
            moved,
            undone_at: None,
            undone_by: None,
        })
    }

    async fn unmerge(&self, t: &Tenant, merge_id: Uuid) -> StoreResult<MergeRecord> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query("SELECT * FROM merges WHERE id = $1 AND structure_id = $2")
            .bind(merge_id)
            .bind(t.structure_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let record = q_merge(&row)?;
        q_lock_pair(&mut tx, t, record.survivor_id, record.merged_id).await?;
        if record.undone_at.is_some() {
            return Err(StoreError::Conflict(
                "cette fusion a déjà été annulée".into(),
            ));
        }
        let later: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM merges WHERE structure_id = $1 AND undone_at IS NULL AND at > $2
             AND (survivor_id IN ($3, $4) OR merged_id IN ($3, $4))",
        )
        .bind(t.structure_id)
        .bind(record.at)
        .bind(record.survivor_id)
        .bind(record.merged_id)
        .fetch_one(&mut *tx)
        .await?;
        if later > 0 {
            return Err(StoreError::Conflict(
                "une fusion plus récente concerne ces dossiers : annulez-la d'abord".into(),
            ));
        }
        let snapshot: String = row.try_get("snapshot")?;
        let snap: crate::store::quality::MergeSnapshot = serde_json::from_str(&snapshot)
            .map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))?;
        for (kind, table) in MOVABLE {
            for id in snap.moved.by_kind.get(*kind).into_iter().flatten() {
                let sql = format!(
                    "UPDATE {table} SET usager_id = $1 WHERE id = $2 AND structure_id = $3"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(record.merged_id)
                    .bind(*id)
                    .bind(t.structure_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        q_restore(&mut *tx, t, record.survivor_id, &snap.survivor).await?;
        q_restore(&mut *tx, t, record.merged_id, &snap.merged).await?;
        let (first, second) = q_pair_ids(record.survivor_id, record.merged_id);
        match &snap.pair_status {
            Some(status) => {
                sqlx::query(
                    "UPDATE duplicate_pairs SET status = $1, decided_by = $2, decided_at = $3
                     WHERE structure_id = $4 AND first_id = $5 AND second_id = $6",
                )
                .bind(status)
                .bind(&t.actor_label)
                .bind(Utc::now())
                .bind(t.structure_id)
                .bind(first)
                .bind(second)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM duplicate_pairs WHERE structure_id = $1 AND first_id = $2 AND second_id = $3")
                    .bind(t.structure_id)
                    .bind(first)
                    .bind(second)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let now = Utc::now();
        let undone = sqlx::query(
            "UPDATE merges SET undone_at = $1, undone_by = $2 WHERE id = $3 AND structure_id = $4 AND undone_at IS NULL",
        )
        .bind(now)
        .bind(&t.actor_label)
        .bind(merge_id)
        .bind(t.structure_id)
        .execute(&mut *tx)
        .await?;
        if undone.rows_affected() != 1 {
            return Err(StoreError::Conflict(
                "cette fusion a déjà été annulée".into(),
            ));
        }
        tx.commit().await?;
        for id in [record.survivor_id, record.merged_id] {
            self.write_identity_keys(t, id).await?;
        }
        Ok(MergeRecord {
            undone_at: Some(now),
            undone_by: Some(t.actor_label.clone()),
            ..record
        })
    }

    async fn merges_of(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<MergeRecord>> {
        sqlx::query(
            "SELECT * FROM merges WHERE structure_id = $1 AND (survivor_id = $2 OR merged_id = $2) ORDER BY at DESC",
        )
        .bind(t.structure_id)
        .bind(usager_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(q_merge)
        .collect()
    }

    async fn set_identity_policy(&self, t: &Tenant, p: &IdentityPolicy) -> StoreResult<()> {
        sqlx::query("UPDATE structures SET identity_policy = $1 WHERE id = $2")
            .bind(p.to_json())
            .bind(t.structure_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn publish_procedure(&self, t: &Tenant, p: &NewProcedure) -> StoreResult<Procedure> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        let last: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(version) FROM identity_procedures WHERE structure_id = $1",
        )
        .bind(t.structure_id)
        .fetch_one(&mut *tx)
        .await?;
        let version = last.unwrap_or(0) + 1;
        sqlx::query(
            "INSERT INTO identity_procedures (structure_id, version, body, guidance_01, guidance_02, author, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(t.structure_id)
        .bind(version)
        .bind(&p.body)
        .bind(&p.guidance_01)
        .bind(&p.guidance_02)
        .bind(&t.actor_label)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Procedure {
            version,
            body: p.body.clone(),
            guidance_01: p.guidance_01.clone(),
            guidance_02: p.guidance_02.clone(),
            author: t.actor_label.clone(),
            at: now,
        })
    }

    async fn current_procedure(&self, t: &Tenant) -> StoreResult<Option<Procedure>> {
        sqlx::query("SELECT * FROM identity_procedures WHERE structure_id = $1 ORDER BY version DESC LIMIT 1")
            .bind(t.structure_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(q_procedure)
            .transpose()
    }

    async fn acknowledge_procedure(&self, t: &Tenant, version: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO procedure_acks (structure_id, version, professional_id, at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (structure_id, version, professional_id) DO NOTHING",
        )
        .bind(t.structure_id)
        .bind(version)
        .bind(t.professional_id)
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn has_acknowledged(&self, t: &Tenant, version: i64) -> StoreResult<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM procedure_acks WHERE structure_id = $1 AND version = $2 AND professional_id = $3",
        )
        .bind(t.structure_id)
        .bind(version)
        .bind(t.professional_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    async fn procedure_readers(&self, t: &Tenant, version: i64) -> StoreResult<ProcedureReaders> {
        let rows = sqlx::query(
            "SELECT DISTINCT p.id, p.first_name, p.last_name, a.at
             FROM memberships m JOIN professionals p ON p.id = m.professional_id AND p.active = $3
             LEFT JOIN procedure_acks a ON a.structure_id = m.structure_id AND a.professional_id = p.id AND a.version = $2
             WHERE m.structure_id = $1 ORDER BY p.last_name, p.first_name",
        )
        .bind(t.structure_id)
        .bind(version)
        .bind(true)
        .fetch_all(&self.pool)
        .await?;
        let mut readers = ProcedureReaders::default();
        for r in &rows {
            let name = format!(
                "{} {}",
                r.try_get::<String, _>("first_name")?,
                r.try_get::<String, _>("last_name")?
            );
            match r.try_get::<Option<DateTime<Utc>>, _>("at")? {
                Some(at) => readers.acknowledged.push((name, at)),
                None => readers.pending.push(name),
            }
        }
        Ok(readers)
    }

    async fn add_identity_task(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        kind: &str,
        message: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO identity_tasks (id, structure_id, usager_id, kind, message, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(Uuid::new_v4())
        .bind(t.structure_id)
        .bind(usager_id)
        .bind(kind)
        .bind(message)
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn open_identity_tasks(&self, t: &Tenant) -> StoreResult<Vec<IdentityTask>> {
        let rows = sqlx::query(
            "SELECT id, usager_id, kind, message, created_at FROM identity_tasks
             WHERE structure_id = $1 AND done_at IS NULL ORDER BY created_at LIMIT 500",
        )
        .bind(t.structure_id)
        .fetch_all(&self.pool)
        .await?;
        let ids: Vec<Uuid> = rows
            .iter()
            .map(|r| r.try_get("usager_id"))
            .collect::<Result<_, _>>()?;
        let names = self.q_names(t, ids).await?;
        rows.iter()
            .map(|r| {
                let usager_id: Uuid = r.try_get("usager_id")?;
                Ok(IdentityTask {
                    id: r.try_get("id")?,
                    usager_id,
                    usager_name: names.get(&usager_id).cloned().unwrap_or_default(),
                    kind: r.try_get("kind")?,
                    message: r.try_get("message")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn close_identity_task(&self, t: &Tenant, id: Uuid) -> StoreResult<()> {
        let r = sqlx::query(
            "UPDATE identity_tasks SET done_at = $1, done_by = $2 WHERE id = $3 AND structure_id = $4 AND done_at IS NULL",
        )
        .bind(Utc::now())
        .bind(&t.actor_label)
        .bind(id)
        .bind(t.structure_id)
        .execute(&self.pool)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn create_job(&self, t: &Tenant, kind: &str, total: i64) -> StoreResult<Job> {
        let job = Job {
            id: Uuid::new_v4(),
            kind: kind.to_string(),
            state: "en_cours".into(),
            total,
            done: 0,
            report: "{}".into(),
            started_by: t.actor_label.clone(),
            started_at: Utc::now(),
            finished_at: None,
        };
        sqlx::query(
            "INSERT INTO jobs (id, structure_id, kind, state, total, done, report, started_by, started_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(job.id)
        .bind(t.structure_id)
        .bind(&job.kind)
        .bind(&job.state)
        .bind(job.total)
        .bind(job.done)
        .bind(&job.report)
        .bind(&job.started_by)
        .bind(job.started_at)
        .execute(&self.pool)
        .await?;
        Ok(job)
    }

    async fn job_progress(&self, t: &Tenant, id: Uuid, done: i64, report: &str) -> StoreResult<()> {
        sqlx::query("UPDATE jobs SET done = $1, report = $2 WHERE id = $3 AND structure_id = $4")
            .bind(done)
            .bind(report)
            .bind(id)
            .bind(t.structure_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn finish_job(&self, t: &Tenant, id: Uuid, state: &str, report: &str) -> StoreResult<()> {
        sqlx::query("UPDATE jobs SET state = $1, report = $2, finished_at = $3, done = total WHERE id = $4 AND structure_id = $5")
            .bind(state)
            .bind(report)
            .bind(Utc::now())
            .bind(id)
            .bind(t.structure_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn job(&self, t: &Tenant, id: Uuid) -> StoreResult<Option<Job>> {
        sqlx::query("SELECT * FROM jobs WHERE id = $1 AND structure_id = $2")
            .bind(id)
            .bind(t.structure_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(q_job)
            .transpose()
    }

    async fn recent_jobs(&self, t: &Tenant, kind: &str, limit: i64) -> StoreResult<Vec<Job>> {
        sqlx::query("SELECT * FROM jobs WHERE structure_id = $1 AND kind = $2 ORDER BY started_at DESC LIMIT $3")
            .bind(t.structure_id)
            .bind(kind)
            .bind(limit.clamp(1, 100))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(q_job)
            .collect()
    }

    async fn identity_counts(&self, t: &Tenant) -> StoreResult<IdentityCounts> {
        let pairs = |sql: &'static str| {
            sqlx::query(sql)
                .bind(t.structure_id)
                .bind(false)
                .fetch_all(&self.pool)
        };
        let read = |rows: Vec<ThisRow>| -> StoreResult<Vec<(String, i64)>> {
            rows.iter()
                .map(|r| Ok((r.try_get::<String, _>("k")?, r.try_get::<i64, _>("n")?)))
                .collect()
        };
        let by_status = read(pairs(
            "SELECT identity_status AS k, COUNT(*) AS n FROM usagers
             WHERE structure_id = $1 AND anonymous = $2 AND merged_into IS NULL GROUP BY identity_status ORDER BY identity_status",
        ).await?)?;
        let collisions = read(pairs(
            "SELECT collision AS k, COUNT(*) AS n FROM usagers
             WHERE structure_id = $1 AND anonymous = $2 AND merged_into IS NULL AND collision IS NOT NULL GROUP BY collision ORDER BY collision",
        ).await?)?;
        let pair_counts = read(pairs(
            "SELECT status AS k, COUNT(*) AS n FROM duplicate_pairs WHERE structure_id = $1 AND $2 = $2 GROUP BY status ORDER BY status",
        ).await?)?;
        let vigilances: Vec<String> = sqlx::query_scalar(
            "SELECT vigilance FROM usagers WHERE structure_id = $1 AND anonymous = $2 AND merged_into IS NULL
             AND vigilance LIKE '%true%'",
        )
        .bind(t.structure_id)
        .bind(false)
        .fetch_all(&self.pool)
        .await?;
        let mut homonyms = 0;
        let mut doubtful = 0;
        for v in &vigilances {
            let a = rows::vigilance_from(v, false)?.attributes();
            homonyms += i64::from(a.homa);
            doubtful += i64::from(a.dout);
        }
        let anonymous: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM usagers WHERE structure_id = $1 AND anonymous = $2 AND merged_into IS NULL",
        )
        .bind(t.structure_id)
        .bind(true)
        .fetch_one(&self.pool)
        .await?;
        let open_tasks: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM identity_tasks WHERE structure_id = $1 AND done_at IS NULL",
        )
        .bind(t.structure_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(IdentityCounts {
            by_status,
            anonymous,
            homonyms,
            doubtful,
            collisions,
            pairs: pair_counts,
            open_tasks,
        })
    }

    async fn insi_months(&self, t: &Tenant, months: i64) -> StoreResult<Vec<InsiMonth>> {
        let since = Utc::now() - chrono::Duration::days(31 * months.clamp(1, 36));
        let sql = format!(
            "SELECT {MONTH_SQL} AS month, substr(outcome, 1, 2) AS outcome, COUNT(*) AS n FROM insi_calls
             WHERE structure_id = $1 AND at >= $2 GROUP BY {MONTH_SQL}, substr(outcome, 1, 2) ORDER BY 1, 2"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(t.structure_id)
            .bind(since)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(InsiMonth {
                    month: r.try_get("month")?,
                    outcome: r.try_get("outcome")?,
                    count: r.try_get("n")?,
                })
            })
            .collect()
    }
}
