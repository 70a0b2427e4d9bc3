// Included by `sqlite.rs` and `postgres.rs` (see `directory.rs`): each
// defines `ThisStore` and `ThisRow` first. The SQL below is accepted by both
// dialects (SQLite ≥ 3.39 for IS DISTINCT FROM).

use crate::domain::directory::{
    Coded as DCoded, DirectoryPerson as DPerson, DirectoryQuery as DQuery, Mailbox as DMailbox,
    MailboxKind as DMailboxKind, Situation as DSituation, Workplace as DWorkplace,
};
use crate::store::directory::{
    DirectoryCounts, DirectoryFileKind, DirectoryImport, DirectoryStore, ImportEnd, MailboxRecord,
    PersonRecord, ROWS_PER_STATEMENT,
};

type DDb = <ThisRow as sqlx::Row>::Database;
use crate::domain::search::fold;

const D_PERSON_COLUMNS: &[&str] = &[
    "rpps",
    "civility",
    "last_name",
    "first_name",
    "last_key",
    "first_key",
    "situation_count",
];
const D_SITUATION_COLUMNS: &[&str] = &[
    "profession_code",
    "profession_label",
    "role_code",
    "role_label",
    "mode",
    "sector",
    "site_finess",
    "legal_finess",
    "id_nat_struct",
    "workplace_name",
    "postal_code",
    "city",
];
const D_MAILBOX_COLUMNS: &[&str] = &[
    "kind",
    "id_nat_ps",
    "structure_id",
    "finess",
    "structure_name",
    "service",
];

/// Multi-row `INSERT … ON CONFLICT (key) DO UPDATE`, a statement per
/// [`ROWS_PER_STATEMENT`] rows; `bind` pushes the key then `columns` of a row.
/// A row is rewritten only when a column changed, so re-importing the same
/// file writes nothing and counts nothing. Returns the rows inserted or changed.
async fn d_upsert<T>(
    tx: &mut sqlx::Transaction<'_, DDb>,
    table: &str,
    key: &str,
    columns: &[&str],
    rows: &[T],
    bind: impl Fn(sqlx::query_builder::Separated<'_, DDb, &'static str>, &T),
) -> StoreResult<u64> {
    let set: Vec<String> = columns
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let changed: Vec<String> = columns
        .iter()
        .map(|c| format!("{table}.{c} IS DISTINCT FROM excluded.{c}"))
        .collect();
    let head = format!("INSERT INTO {table} ({key}, {}) ", columns.join(", "));
    let tail = format!(
        " ON CONFLICT ({key}) DO UPDATE SET {} WHERE {}",
        set.join(", "),
        changed.join(" OR ")
    );
    let mut written = 0;
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut q = sqlx::QueryBuilder::<DDb>::new(head.as_str());
        q.push_values(chunk, &bind);
        q.push(tail.as_str());
        written += q.build().execute(&mut **tx).await?.rows_affected();
    }
    Ok(written)
}

async fn d_mark_seen<'k>(
    tx: &mut sqlx::Transaction<'_, DDb>,
    import: Uuid,
    keys: impl Iterator<Item = &'k str>,
) -> StoreResult<()> {
    let keys: Vec<&str> = keys.collect();
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        let mut q =
            sqlx::QueryBuilder::<DDb>::new("INSERT INTO directory_import_seen (import_id, key) ");
        q.push_values(chunk, |mut b, k| {
            b.push_bind(import).push_bind(*k);
        });
        q.push(" ON CONFLICT DO NOTHING");
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// `$n, $n+1, …`: one bound parameter per value, for an `IN (…)` list.
fn d_bind_list<'v>(q: &mut sqlx::QueryBuilder<DDb>, values: impl Iterator<Item = &'v str>) {
    let mut list = q.separated(", ");
    for v in values {
        list.push_bind(v);
    }
}

fn d_opt(r: &ThisRow, column: &str) -> StoreResult<Option<String>> {
    Ok(r.try_get::<Option<String>, _>(column)?
        .filter(|v| !v.is_empty()))
}

/// A code and its label; the label falls back to the known list, then the code.
fn d_coded(code: Option<String>, label: Option<String>) -> Option<DCoded> {
    let code = code?;
    let label = label
        .or_else(|| crate::domain::directory::code_label(&code).map(str::to_string))
        .unwrap_or_else(|| code.clone());
    Some(DCoded { code, label })
}

fn d_import(r: &ThisRow) -> StoreResult<Option<DirectoryImport>> {
    let kind: String = r.try_get("file_kind")?;
    let Some(kind) = DirectoryFileKind::from_code(&kind) else {
        return Ok(None);
    };
    Ok(Some(DirectoryImport {
        id: r.try_get("id")?,
        kind,
        file_name: r.try_get("file_name")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        status: r.try_get("status")?,
        rows_read: r.try_get("rows_read")?,
        rows_written: r.try_get("rows_written")?,
        bad_lines: r.try_get("bad_lines")?,
        removed: r.try_get("removed")?,
    }))
}

const D_PERSON_SELECT: &str =
    "SELECT id_nat_ps, rpps, civility, last_name, first_name FROM directory_persons ";

impl ThisStore {
    /// The persons of `rows` (already ordered) with their activities and boxes.
    async fn d_people(&self, rows: Vec<ThisRow>) -> StoreResult<Vec<DPerson>> {
        let mut people: Vec<DPerson> = Vec::with_capacity(rows.len());
        for r in &rows {
            people.push(DPerson {
                id_nat_ps: r.try_get("id_nat_ps")?,
                rpps: d_opt(r, "rpps")?,
                civility: d_opt(r, "civility")?,
                last_name: r.try_get("last_name")?,
                first_name: r.try_get("first_name")?,
                ..Default::default()
            });
        }
        if people.is_empty() {
            return Ok(people);
        }
        let index: HashMap<String, usize> = people
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id_nat_ps.clone(), i))
            .collect();
        let mut q = sqlx::QueryBuilder::<DDb>::new(format!(
            "SELECT id_nat_ps, {} FROM directory_situations WHERE id_nat_ps IN (",
            D_SITUATION_COLUMNS.join(", ")
        ));
        d_bind_list(&mut q, people.iter().map(|p| p.id_nat_ps.as_str()));
        q.push(") ORDER BY id_nat_ps, seq");
        for r in q.build().fetch_all(&self.pool).await? {
            let id: String = r.try_get("id_nat_ps")?;
            let Some(&i) = index.get(&id) else { continue };
            let person = &mut people[i];
            if let Some(p) = d_coded(
                d_opt(&r, "profession_code")?,
                d_opt(&r, "profession_label")?,
            ) && !person.professions.iter().any(|x| x.code == p.code)
            {
                person.professions.push(p);
            }
            let s = DSituation {
                role: d_coded(d_opt(&r, "role_code")?, d_opt(&r, "role_label")?),
                mode: d_opt(&r, "mode")?,
                sector: d_opt(&r, "sector")?,
                workplace: DWorkplace {
                    name: d_opt(&r, "workplace_name")?.unwrap_or_default(),
                    finess: d_opt(&r, "site_finess")?,
                    finess_legal: d_opt(&r, "legal_finess")?,
                    id_nat_struct: d_opt(&r, "id_nat_struct")?,
                    postal_code: d_opt(&r, "postal_code")?,
                    city: d_opt(&r, "city")?,
                },
            };
            // A line with a profession but no practice (retired, not yet
            // registered anywhere) gives a profession, not a situation.
            if s != DSituation::default() {
                person.situations.push(s);
            }
        }

        let mut q = sqlx::QueryBuilder::<DDb>::new(
            "SELECT address, kind, service, id_nat_ps FROM directory_mailboxes WHERE id_nat_ps IN (",
        );
        d_bind_list(&mut q, people.iter().map(|p| p.id_nat_ps.as_str()));
        q.push(") ORDER BY address");
        for r in q.build().fetch_all(&self.pool).await? {
            let id: String = r.try_get("id_nat_ps")?;
            let kind: String = r.try_get("kind")?;
            if let (Some(&i), Some(kind)) = (index.get(&id), DMailboxKind::from_code(&kind)) {
                people[i].mailboxes.push(DMailbox {
                    address: r.try_get("address")?,
                    kind,
                    description: d_opt(&r, "service")?,
                });
            }
        }
        Ok(people)
    }
}

#[async_trait]
impl DirectoryStore for ThisStore {
    async fn start_directory_import(
        &self,
        kind: DirectoryFileKind,
        file_name: &str,
    ) -> StoreResult<Uuid> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        // An import interrupted a day ago (process killed) will not finish:
        // close it and drop what it had listed.
        sqlx::query(
            "UPDATE directory_imports SET status = 'echec', finished_at = $1
             WHERE status = 'en_cours' AND started_at < $2",
        )
        .bind(now)
        .bind(now - chrono::Duration::days(1))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM directory_import_seen WHERE import_id IN
             (SELECT id FROM directory_imports WHERE status <> 'en_cours')",
        )
        .execute(&mut *tx)
        .await?;
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO directory_imports (id, file_kind, file_name, started_at, status)
             VALUES ($1, $2, $3, $4, 'en_cours')",
        )
        .bind(id)
        .bind(kind.code())
        .bind(file_name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn upsert_directory_persons(
        &self,
        import: Uuid,
        persons: &[PersonRecord],
    ) -> StoreResult<u64> {
        let persons = crate::store::directory::merge_same_person(persons);
        if persons.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;
        let mut written = d_upsert(
            &mut tx,
            "directory_persons",
            "id_nat_ps",
            D_PERSON_COLUMNS,
            &persons,
            |mut b, p| {
                b.push_bind(p.id_nat_ps.as_str())
                    .push_bind(p.rpps.as_deref())
                    .push_bind(p.civility.as_deref())
                    .push_bind(p.last_name.as_str())
                    .push_bind(p.first_name.as_str())
                    .push_bind(fold(&p.last_name))
                    .push_bind(fold(&p.first_name))
                    .push_bind(p.activities.len() as i64);
            },
        )
        .await?;

        let activities: Vec<(&str, i64, &crate::store::directory::ActivityRecord)> = persons
            .iter()
            .flat_map(|p| {
                p.activities
                    .iter()
                    .enumerate()
                    .map(move |(i, a)| (p.id_nat_ps.as_str(), i as i64, a))
            })
            .collect();
        written += d_upsert(
            &mut tx,
            "directory_situations",
            "id_nat_ps, seq",
            D_SITUATION_COLUMNS,
            &activities,
            |mut b, (id, seq, a)| {
                let s = &a.situation;
                let w = &s.workplace;
                b.push_bind(*id)
                    .push_bind(*seq)
                    .push_bind(a.profession.as_ref().map(|p| p.code.as_str()))
                    .push_bind(a.profession.as_ref().map(|p| p.label.as_str()))
                    .push_bind(s.role.as_ref().map(|r| r.code.as_str()))
                    .push_bind(s.role.as_ref().map(|r| r.label.as_str()))
                    .push_bind(s.mode.as_deref())
                    .push_bind(s.sector.as_deref())
                    .push_bind(w.finess.as_deref())
                    .push_bind(w.finess_legal.as_deref())
                    .push_bind(w.id_nat_struct.as_deref())
                    .push_bind(Some(w.name.as_str()).filter(|n| !n.is_empty()))
                    .push_bind(w.postal_code.as_deref())
                    .push_bind(w.city.as_deref());
            },
        )
        .await?;

        // Activities past the person's new count (the file lists fewer now).
        for chunk in persons.chunks(ROWS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::<DDb>::new(
                "DELETE FROM directory_situations WHERE id_nat_ps IN (",
            );
            d_bind_list(&mut q, chunk.iter().map(|p| p.id_nat_ps.as_str()));
            q.push(
                ") AND seq >= (SELECT p.situation_count FROM directory_persons p
                   WHERE p.id_nat_ps = directory_situations.id_nat_ps)",
            );
            written += q.build().execute(&mut *tx).await?.rows_affected();
        }
        d_mark_seen(
            &mut tx,
            import,
            persons.iter().map(|p| p.id_nat_ps.as_str()),
        )
        .await?;
        tx.commit().await?;
        Ok(written)
    }

    async fn upsert_directory_mailboxes(
        &self,
        import: Uuid,
        boxes: &[MailboxRecord],
    ) -> StoreResult<u64> {
        let boxes = crate::store::directory::last_per_address(boxes);
        if boxes.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;
        let written = d_upsert(
            &mut tx,
            "directory_mailboxes",
            "address",
            D_MAILBOX_COLUMNS,
            &boxes,
            |mut b, m| {
                b.push_bind(m.mailbox.address.as_str())
                    .push_bind(m.mailbox.kind.code())
                    .push_bind(m.id_nat_ps.as_deref())
                    .push_bind(m.structure_id.as_deref())
                    .push_bind(m.finess.as_deref())
                    .push_bind(m.structure_name.as_deref())
                    .push_bind(m.mailbox.description.as_deref());
            },
        )
        .await?;
        d_mark_seen(
            &mut tx,
            import,
            boxes.iter().map(|m| m.mailbox.address.as_str()),
        )
        .await?;
        tx.commit().await?;
        Ok(written)
    }

    async fn finish_directory_import(&self, import: Uuid, end: &ImportEnd) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        let kind: Option<String> =
            sqlx::query_scalar("SELECT file_kind FROM directory_imports WHERE id = $1")
                .bind(import)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(kind) = kind.as_deref().and_then(DirectoryFileKind::from_code) else {
            return Err(StoreError::NotFound);
        };
        let mut removed = 0;
        if end.purge && end.succeeded {
            let sql = match kind {
                DirectoryFileKind::PersonActivity => {
                    "DELETE FROM directory_persons WHERE NOT EXISTS (SELECT 1 FROM directory_import_seen s
                     WHERE s.import_id = $1 AND s.key = directory_persons.id_nat_ps)"
                }
                DirectoryFileKind::Mailboxes => {
                    "DELETE FROM directory_mailboxes WHERE NOT EXISTS (SELECT 1 FROM directory_import_seen s
                     WHERE s.import_id = $1 AND s.key = directory_mailboxes.address)"
                }
            };
            removed = sqlx::query(sql)
                .bind(import)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        sqlx::query("DELETE FROM directory_import_seen WHERE import_id = $1")
            .bind(import)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE directory_imports SET finished_at = $2, status = $3, rows_read = $4,
             rows_written = $5, bad_lines = $6, removed = $7 WHERE id = $1",
        )
        .bind(import)
        .bind(Utc::now())
        .bind(if end.succeeded { "termine" } else { "echec" })
        .bind(end.rows_read)
        .bind(end.rows_written)
        .bind(end.bad_lines)
        .bind(removed as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(removed)
    }

    async fn search_directory(&self, q: &DQuery, limit: i64) -> StoreResult<Vec<DPerson>> {
        let limit = limit.clamp(1, 500);
        let rows = match q {
            DQuery::Name {
                last_name,
                first_name,
            } => {
                let last = fold(last_name);
                let Some((low, high)) = crate::store::directory::prefix_range(&last) else {
                    return Ok(Vec::new());
                };
                let first = first_name.as_deref().map(fold).filter(|f| !f.is_empty());
                match first {
                    None => {
                        sqlx::query(sqlx::AssertSqlSafe(format!(
                            "{D_PERSON_SELECT} WHERE last_key >= $1 AND last_key < $2
                             ORDER BY last_key, first_key, id_nat_ps LIMIT $3"
                        )))
                        .bind(low)
                        .bind(high)
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?
                    }
                    Some(first) => {
                        let Some((first_low, first_high)) =
                            crate::store::directory::prefix_range(&first)
                        else {
                            return Ok(Vec::new());
                        };
                        // « LE GALL Marie » typed as « Le Gall »: the whole
                        // text may also be the start of the name.
                        let Some((whole_low, whole_high)) =
                            crate::store::directory::prefix_range(&format!("{last} {first}"))
                        else {
                            return Ok(Vec::new());
                        };
                        sqlx::query(sqlx::AssertSqlSafe(format!(
                            "{D_PERSON_SELECT} WHERE last_key >= $1 AND last_key < $2
                             AND ((first_key >= $3 AND first_key < $4) OR first_key LIKE $5
                                  OR (last_key || ' ' || first_key >= $6 AND last_key || ' ' || first_key < $7))
                             ORDER BY last_key, first_key, id_nat_ps LIMIT $8"
                        )))
                        .bind(low)
                        .bind(high)
                        .bind(first_low)
                        .bind(first_high)
                        // Folded text has no LIKE wildcard: a later first name.
                        .bind(format!("% {first}%"))
                        .bind(whole_low)
                        .bind(whole_high)
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?
                    }
                }
            }
            DQuery::Identifier(raw) => {
                let raw: String = raw
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect::<String>()
                    .to_ascii_uppercase();
                let parsed = crate::domain::identifiers::NationalId::parse(&raw).ok();
                let id_nat = parsed.as_ref().map(|n| n.id_nat_ps());
                let rpps = match &parsed {
                    Some(crate::domain::identifiers::NationalId::Rpps(n)) => Some(n.clone()),
                    _ => None,
                };
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "{D_PERSON_SELECT} WHERE id_nat_ps = $1 OR id_nat_ps = $2 OR rpps = $3
                     ORDER BY last_key, first_key, id_nat_ps LIMIT $4"
                )))
                .bind(raw.as_str())
                .bind(id_nat.unwrap_or_else(|| raw.clone()))
                .bind(rpps.unwrap_or_else(|| raw.clone()))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
        };
        self.d_people(rows).await
    }

    async fn directory_organization_mailboxes(&self, finess: &str) -> StoreResult<Vec<DMailbox>> {
        let rows = sqlx::query(
            "SELECT address, kind, service FROM directory_mailboxes
             WHERE finess = $1 AND kind <> 'PER' ORDER BY address",
        )
        .bind(finess.trim().to_ascii_uppercase())
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let kind: String = r.try_get("kind")?;
            if let Some(kind) = DMailboxKind::from_code(&kind) {
                out.push(DMailbox {
                    address: r.try_get("address")?,
                    kind,
                    description: d_opt(r, "service")?,
                });
            }
        }
        Ok(out)
    }

    async fn directory_copy_present(&self) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT 1 AS present WHERE EXISTS (SELECT 1 FROM directory_persons)
                OR EXISTS (SELECT 1 FROM directory_mailboxes)",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    async fn directory_counts(&self) -> StoreResult<DirectoryCounts> {
        let r = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM directory_persons) AS persons,
                    (SELECT COUNT(*) FROM directory_situations) AS situations,
                    (SELECT COUNT(*) FROM directory_mailboxes) AS mailboxes",
        )
        .fetch_one(&self.pool)
        .await?;
        let mut counts = DirectoryCounts {
            persons: r.try_get("persons")?,
            situations: r.try_get("situations")?,
            mailboxes: r.try_get("mailboxes")?,
            last_imports: Vec::new(),
        };
        for kind in [
            DirectoryFileKind::PersonActivity,
            DirectoryFileKind::Mailboxes,
        ] {
            let row = sqlx::query(
                "SELECT id, file_kind, file_name, started_at, finished_at, status, rows_read,
                        rows_written, bad_lines, removed
                 FROM directory_imports WHERE file_kind = $1 AND status = 'termine'
                 ORDER BY started_at DESC LIMIT 1",
            )
            .bind(kind.code())
            .fetch_optional(&self.pool)
            .await?;
            if let Some(i) = row.as_ref().map(d_import).transpose()?.flatten() {
                counts.last_imports.push(i);
            }
        }
        counts
            .last_imports
            .sort_by_key(|i| std::cmp::Reverse(i.started_at));
        Ok(counts)
    }
}
