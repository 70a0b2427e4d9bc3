//! The local copy of the Annuaire Santé open-data files: bulk upserts of
//! persons, activities and mailboxes, the import log, and the searches.

use async_trait::async_trait;
use chrono::Utc;
use std::collections::HashMap;
use uuid::Uuid;

use super::SqlStore;
use crate::domain::directory::{
    Coded, DirectoryPerson, DirectoryQuery, Mailbox, MailboxKind, Situation, Workplace, code_label,
};
use crate::domain::identifiers::NationalId;
use crate::domain::search::fold;
use crate::store::directory::{
    ActivityRecord, DirectoryCounts, DirectoryFileKind, DirectoryImport, DirectoryStore, ImportEnd,
    MailboxRecord, PersonRecord, ROWS_PER_STATEMENT, last_per_address, merge_same_person,
    prefix_range,
};
use crate::store::sql::{Row, Tuple, Tx};
use crate::store::{Backend, StoreError, StoreResult};

const PERSON_COLUMNS: &[&str] = &[
    "rpps",
    "civility",
    "last_name",
    "first_name",
    "last_key",
    "first_key",
    "situation_count",
];
const SITUATION_COLUMNS: &[&str] = &[
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
const MAILBOX_COLUMNS: &[&str] = &[
    "kind",
    "id_nat_ps",
    "structure_id",
    "finess",
    "structure_name",
    "service",
];

const PERSON_SELECT: &str =
    "SELECT id_nat_ps, rpps, civility, last_name, first_name FROM directory_persons ";

/// Multi-row `INSERT … ON CONFLICT (key) DO UPDATE`, a statement per
/// [`ROWS_PER_STATEMENT`] rows; `bind` binds the key then `columns` of a row.
/// A row is rewritten only when a column changed, so re-importing the same
/// file writes nothing and counts nothing. Returns the rows inserted or changed.
async fn upsert<T>(
    tx: &mut Tx,
    table: &str,
    key: &str,
    columns: &[&str],
    rows: &[T],
    bind: impl for<'c> Fn(Tuple<'c>, &T) -> Tuple<'c>,
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
        written += tx
            .query(head.clone())
            .push_values(chunk, &bind)
            .push(&tail)
            .execute()
            .await?;
    }
    Ok(written)
}

/// Records the keys an import listed (what a purge keeps).
async fn mark_seen<'k>(
    tx: &mut Tx,
    import: Uuid,
    keys: impl Iterator<Item = &'k str>,
) -> StoreResult<()> {
    let keys: Vec<&str> = keys.collect();
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        tx.query("INSERT INTO directory_import_seen (import_id, key) ")
            .push_values(chunk, |row, k| row.bind(import).bind(*k))
            .push(" ON CONFLICT DO NOTHING")
            .execute()
            .await?;
    }
    Ok(())
}

/// A text column, empty read as absent.
fn opt(r: &Row, column: &str) -> StoreResult<Option<String>> {
    Ok(r.get::<Option<String>>(column)?.filter(|v| !v.is_empty()))
}

/// A code and its label; the label falls back to the known list, then the code.
fn coded(code: Option<String>, label: Option<String>) -> Option<Coded> {
    let code = code?;
    let label = label
        .or_else(|| code_label(&code).map(str::to_string))
        .unwrap_or_else(|| code.clone());
    Some(Coded { code, label })
}

fn import(r: &Row) -> StoreResult<Option<DirectoryImport>> {
    let Some(kind) = DirectoryFileKind::from_code(&r.get::<String>("file_kind")?) else {
        return Ok(None);
    };
    Ok(Some(DirectoryImport {
        id: r.get("id")?,
        kind,
        file_name: r.get("file_name")?,
        started_at: r.get("started_at")?,
        finished_at: r.get("finished_at")?,
        status: r.get("status")?,
        rows_read: r.get("rows_read")?,
        rows_written: r.get("rows_written")?,
        bad_lines: r.get("bad_lines")?,
        removed: r.get("removed")?,
    }))
}

fn person(r: &Row) -> StoreResult<DirectoryPerson> {
    Ok(DirectoryPerson {
        id_nat_ps: r.get("id_nat_ps")?,
        rpps: opt(r, "rpps")?,
        civility: opt(r, "civility")?,
        last_name: r.get("last_name")?,
        first_name: r.get("first_name")?,
        ..Default::default()
    })
}

/// A mailbox of a known kind (others are skipped).
fn mailbox(r: &Row) -> StoreResult<Option<Mailbox>> {
    let Some(kind) = MailboxKind::from_code(&r.get::<String>("kind")?) else {
        return Ok(None);
    };
    Ok(Some(Mailbox {
        address: r.get("address")?,
        kind,
        description: opt(r, "service")?,
    }))
}

/// Adds a situation line to its person: its profession, and its practice.
fn add_situation(person: &mut DirectoryPerson, r: &Row) -> StoreResult<()> {
    if let Some(p) = coded(opt(r, "profession_code")?, opt(r, "profession_label")?)
        && !person.professions.iter().any(|x| x.code == p.code)
    {
        person.professions.push(p);
    }
    let s = Situation {
        role: coded(opt(r, "role_code")?, opt(r, "role_label")?),
        mode: opt(r, "mode")?,
        sector: opt(r, "sector")?,
        workplace: Workplace {
            name: opt(r, "workplace_name")?.unwrap_or_default(),
            finess: opt(r, "site_finess")?,
            finess_legal: opt(r, "legal_finess")?,
            id_nat_struct: opt(r, "id_nat_struct")?,
            postal_code: opt(r, "postal_code")?,
            city: opt(r, "city")?,
        },
    };
    // A line with a profession but no practice (retired, not yet
    // registered anywhere) gives a profession, not a situation.
    if s != Situation::default() {
        person.situations.push(s);
    }
    Ok(())
}

impl SqlStore {
    /// The persons found (already ordered) with their activities and boxes.
    async fn with_situations(
        &self,
        mut people: Vec<DirectoryPerson>,
    ) -> StoreResult<Vec<DirectoryPerson>> {
        if people.is_empty() {
            return Ok(people);
        }
        let index: HashMap<String, usize> = people
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id_nat_ps.clone(), i))
            .collect();
        let ids = || {
            people
                .iter()
                .map(|p| p.id_nat_ps.clone())
                .collect::<Vec<_>>()
        };
        let situations = self
            .db
            .query(format!(
                "SELECT id_nat_ps, {} FROM directory_situations WHERE id_nat_ps IN (",
                SITUATION_COLUMNS.join(", ")
            ))
            .push_list(ids())
            .push(") ORDER BY id_nat_ps, seq")
            .fetch_all()
            .await?;
        let boxes = self
            .db
            .query(
                "SELECT address, kind, service, id_nat_ps FROM directory_mailboxes
                 WHERE id_nat_ps IN (",
            )
            .push_list(ids())
            .push(") ORDER BY address")
            .fetch_all()
            .await?;
        for r in &situations {
            if let Some(&i) = index.get(&r.get::<String>("id_nat_ps")?) {
                add_situation(&mut people[i], r)?;
            }
        }
        for r in &boxes {
            if let (Some(&i), Some(b)) = (index.get(&r.get::<String>("id_nat_ps")?), mailbox(r)?) {
                people[i].mailboxes.push(b);
            }
        }
        Ok(people)
    }

    /// Persons by name prefix (see [`DirectoryStore::search_directory`]).
    async fn persons_by_name(
        &self,
        last_name: &str,
        first_name: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<DirectoryPerson>> {
        let last = fold(last_name);
        let Some((low, high)) = prefix_range(&last) else {
            return Ok(Vec::new());
        };
        let q = self
            .db
            .query(format!(
                "{PERSON_SELECT} WHERE last_key >= $1 AND last_key < $2"
            ))
            .bind(low)
            .bind(high);
        let q = match first_name.map(fold).filter(|f| !f.is_empty()) {
            None => q,
            Some(first) => {
                // « LE GALL Marie » typed as « Le Gall »: the whole text may
                // also be the start of the name.
                let (Some((first_low, first_high)), Some((whole_low, whole_high))) = (
                    prefix_range(&first),
                    prefix_range(&format!("{last} {first}")),
                ) else {
                    return Ok(Vec::new());
                };
                // A later first name: a position, not a `LIKE`, which SQLite
                // would compile again at each run (see `Query::and_contains`).
                let contains = match self.db.backend() {
                    Backend::Sqlite => "instr",
                    Backend::Postgres => "strpos",
                };
                q.push(&format!(
                    " AND ((first_key >= $3 AND first_key < $4) OR {contains}(first_key, $5) > 0
                      OR (last_key || ' ' || first_key >= $6 AND last_key || ' ' || first_key < $7))",
                ))
                .bind(first_low)
                .bind(first_high)
                .bind(format!(" {first}"))
                .bind(whole_low)
                .bind(whole_high)
            }
        };
        q.push(" ORDER BY last_key, first_key, id_nat_ps")
            .limit(limit)
            .all(person)
            .await
    }
}

#[async_trait]
impl DirectoryStore for SqlStore {
    async fn start_directory_import(
        &self,
        kind: DirectoryFileKind,
        file_name: &str,
    ) -> StoreResult<Uuid> {
        let now = Utc::now();
        let mut tx = self.db.begin_write().await?;
        // An import interrupted a day ago (process killed) will not finish:
        // close it and drop what it had listed.
        tx.query(
            "UPDATE directory_imports SET status = 'echec', finished_at = $1
             WHERE status = 'en_cours' AND started_at < $2",
        )
        .bind(now)
        .bind(now - chrono::Duration::days(1))
        .execute()
        .await?;
        tx.query(
            "DELETE FROM directory_import_seen WHERE import_id IN
             (SELECT id FROM directory_imports WHERE status <> 'en_cours')",
        )
        .execute()
        .await?;
        let id = Uuid::new_v4();
        tx.query(
            "INSERT INTO directory_imports (id, file_kind, file_name, started_at, status)
             VALUES ($1, $2, $3, $4, 'en_cours')",
        )
        .bind(id)
        .bind(kind.code())
        .bind(file_name)
        .bind(now)
        .execute()
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn upsert_directory_persons(
        &self,
        import: Uuid,
        persons: &[PersonRecord],
    ) -> StoreResult<u64> {
        let persons = merge_same_person(persons);
        if persons.is_empty() {
            return Ok(0);
        }
        let mut tx = self.db.begin_write().await?;
        let mut written = upsert(
            &mut tx,
            "directory_persons",
            "id_nat_ps",
            PERSON_COLUMNS,
            &persons,
            |row, p| {
                row.bind(p.id_nat_ps.as_str())
                    .bind(p.rpps.as_deref())
                    .bind(p.civility.as_deref())
                    .bind(p.last_name.as_str())
                    .bind(p.first_name.as_str())
                    .bind(fold(&p.last_name))
                    .bind(fold(&p.first_name))
                    .bind(p.activities.len() as i64)
            },
        )
        .await?;

        let activities: Vec<(&str, i64, &ActivityRecord)> = persons
            .iter()
            .flat_map(|p| {
                p.activities
                    .iter()
                    .enumerate()
                    .map(move |(i, a)| (p.id_nat_ps.as_str(), i as i64, a))
            })
            .collect();
        written += upsert(
            &mut tx,
            "directory_situations",
            "id_nat_ps, seq",
            SITUATION_COLUMNS,
            &activities,
            |row, (id, seq, a)| {
                let s = &a.situation;
                let w = &s.workplace;
                row.bind(*id)
                    .bind(*seq)
                    .bind(a.profession.as_ref().map(|p| p.code.as_str()))
                    .bind(a.profession.as_ref().map(|p| p.label.as_str()))
                    .bind(s.role.as_ref().map(|r| r.code.as_str()))
                    .bind(s.role.as_ref().map(|r| r.label.as_str()))
                    .bind(s.mode.as_deref())
                    .bind(s.sector.as_deref())
                    .bind(w.finess.as_deref())
                    .bind(w.finess_legal.as_deref())
                    .bind(w.id_nat_struct.as_deref())
                    .bind(Some(w.name.as_str()).filter(|n| !n.is_empty()))
                    .bind(w.postal_code.as_deref())
                    .bind(w.city.as_deref())
            },
        )
        .await?;

        // Activities past the person's new count (the file lists fewer now).
        for chunk in persons.chunks(ROWS_PER_STATEMENT) {
            written += tx
                .query("DELETE FROM directory_situations WHERE id_nat_ps IN (")
                .push_list(chunk.iter().map(|p| p.id_nat_ps.as_str()))
                .push(
                    ") AND seq >= (SELECT p.situation_count FROM directory_persons p
                       WHERE p.id_nat_ps = directory_situations.id_nat_ps)",
                )
                .execute()
                .await?;
        }
        mark_seen(
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
        let boxes = last_per_address(boxes);
        if boxes.is_empty() {
            return Ok(0);
        }
        let mut tx = self.db.begin_write().await?;
        let written = upsert(
            &mut tx,
            "directory_mailboxes",
            "address",
            MAILBOX_COLUMNS,
            &boxes,
            |row, m| {
                row.bind(m.mailbox.address.as_str())
                    .bind(m.mailbox.kind.code())
                    .bind(m.id_nat_ps.as_deref())
                    .bind(m.structure_id.as_deref())
                    .bind(m.finess.as_deref())
                    .bind(m.structure_name.as_deref())
                    .bind(m.mailbox.description.as_deref())
            },
        )
        .await?;
        mark_seen(
            &mut tx,
            import,
            boxes.iter().map(|m| m.mailbox.address.as_str()),
        )
        .await?;
        tx.commit().await?;
        Ok(written)
    }

    async fn finish_directory_import(&self, import: Uuid, end: &ImportEnd) -> StoreResult<u64> {
        let mut tx = self.db.begin_write().await?;
        let kind: Option<String> = tx
            .query("SELECT file_kind FROM directory_imports WHERE id = $1")
            .bind(import)
            .scalar_optional()
            .await?;
        let Some(kind) = kind.as_deref().and_then(DirectoryFileKind::from_code) else {
            return Err(StoreError::NotFound);
        };
        let mut removed = 0;
        if end.purge && end.succeeded {
            let sql = match kind {
                DirectoryFileKind::PersonActivity => {
                    "DELETE FROM directory_persons WHERE NOT EXISTS (
                         SELECT 1 FROM directory_import_seen s
                         WHERE s.import_id = $1 AND s.key = directory_persons.id_nat_ps)"
                }
                DirectoryFileKind::Mailboxes => {
                    "DELETE FROM directory_mailboxes WHERE NOT EXISTS (
                         SELECT 1 FROM directory_import_seen s
                         WHERE s.import_id = $1 AND s.key = directory_mailboxes.address)"
                }
            };
            removed = tx.query(sql).bind(import).execute().await?;
        }
        tx.query("DELETE FROM directory_import_seen WHERE import_id = $1")
            .bind(import)
            .execute()
            .await?;
        tx.query(
            "UPDATE directory_imports SET finished_at = $1, status = $2, rows_read = $3,
                 rows_written = $4, bad_lines = $5, removed = $6
             WHERE id = $7",
        )
        .bind(Utc::now())
        .bind(if end.succeeded { "termine" } else { "echec" })
        .bind(end.rows_read)
        .bind(end.rows_written)
        .bind(end.bad_lines)
        .bind(removed as i64)
        .bind(import)
        .execute()
        .await?;
        tx.commit().await?;
        Ok(removed)
    }

    async fn search_directory(
        &self,
        q: &DirectoryQuery,
        limit: i64,
    ) -> StoreResult<Vec<DirectoryPerson>> {
        let limit = limit.clamp(1, 500);
        let people = match q {
            DirectoryQuery::Name {
                last_name,
                first_name,
            } => {
                self.persons_by_name(last_name, first_name.as_deref(), limit)
                    .await?
            }
            DirectoryQuery::Identifier(raw) => {
                let raw: String = raw
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect::<String>()
                    .to_ascii_uppercase();
                let parsed = NationalId::parse(&raw).ok();
                let id_nat = parsed.as_ref().map(|n| n.id_nat_ps());
                let rpps = match &parsed {
                    Some(NationalId::Rpps(n)) => Some(n.clone()),
                    _ => None,
                };
                self.db
                    .query(format!(
                        "{PERSON_SELECT} WHERE id_nat_ps = $1 OR id_nat_ps = $2 OR rpps = $3
                         ORDER BY last_key, first_key, id_nat_ps"
                    ))
                    .bind(raw.as_str())
                    .bind(id_nat.unwrap_or_else(|| raw.clone()))
                    .bind(rpps.unwrap_or_else(|| raw.clone()))
                    .limit(limit)
                    .all(person)
                    .await?
            }
        };
        self.with_situations(people).await
    }

    async fn directory_organization_mailboxes(&self, finess: &str) -> StoreResult<Vec<Mailbox>> {
        let boxes = self
            .db
            .query(
                "SELECT address, kind, service FROM directory_mailboxes
                 WHERE finess = $1 AND kind <> 'PER' ORDER BY address",
            )
            .bind(finess.trim().to_ascii_uppercase())
            .all(mailbox)
            .await?;
        Ok(boxes.into_iter().flatten().collect())
    }

    async fn directory_known_mailboxes(&self, addresses: &[String]) -> StoreResult<Vec<String>> {
        if addresses.is_empty() {
            return Ok(Vec::new());
        }
        let known = self
            .db
            .query("SELECT address FROM directory_mailboxes WHERE address IN (")
            .push_list(addresses.iter().map(String::as_str))
            .push(")")
            .all(|r| r.get::<String>("address"))
            .await?;
        Ok(known.into_iter().map(|a| a.to_ascii_lowercase()).collect())
    }

    async fn directory_copy_present(&self) -> StoreResult<bool> {
        let present = self
            .db
            .query(
                "SELECT 1 AS present WHERE EXISTS (SELECT 1 FROM directory_persons)
                    OR EXISTS (SELECT 1 FROM directory_mailboxes)",
            )
            .fetch_optional()
            .await?;
        Ok(present.is_some())
    }

    async fn directory_counts(&self) -> StoreResult<DirectoryCounts> {
        let r = self
            .db
            .query(
                "SELECT (SELECT COUNT(*) FROM directory_persons) AS persons,
                        (SELECT COUNT(*) FROM directory_situations) AS situations,
                        (SELECT COUNT(*) FROM directory_mailboxes) AS mailboxes",
            )
            .fetch_one()
            .await?;
        let mut counts = DirectoryCounts {
            persons: r.get("persons")?,
            situations: r.get("situations")?,
            mailboxes: r.get("mailboxes")?,
            last_imports: Vec::new(),
        };
        for kind in [
            DirectoryFileKind::PersonActivity,
            DirectoryFileKind::Mailboxes,
        ] {
            let last = self
                .db
                .query(
                    "SELECT id, file_kind, file_name, started_at, finished_at, status, rows_read,
                            rows_written, bad_lines, removed
                     FROM directory_imports WHERE file_kind = $1 AND status = 'termine'
                     ORDER BY started_at DESC LIMIT 1",
                )
                .bind(kind.code())
                .optional(import)
                .await?;
            if let Some(i) = last.flatten() {
                counts.last_imports.push(i);
            }
        }
        counts
            .last_imports
            .sort_by_key(|i| std::cmp::Reverse(i.started_at));
        Ok(counts)
    }
}
