//! A file's page in one statement: the file's row, and each of its lists as
//! a JSON array in a column of that row (see [`rows::json_rows`]). Opening a
//! file is the commonest request of the day; nine statements were nine round
//! trips to the database (a thread hop each on SQLite, a network exchange on
//! PostgreSQL), one is one.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use uuid::Uuid;

use super::rows::{self, json_rows, usager_column_list};
use super::{SqlStore, care, documents, duplicates, merges, vigilance};
use crate::domain::tenant::Tenant;
use crate::store::sql::Row;
use crate::store::{Backend, FILE_PAIRS, FileContents, StoreResult};

const EPISODE_COLUMNS: &[&str] = &[
    "id",
    "usager_id",
    "kind",
    "start_date",
    "end_date",
    "referent_id",
    "first_name",
    "last_name",
    "created_at",
];
const ACTIVITY_COLUMNS: &[&str] = &[
    "id",
    "usager_id",
    "kind",
    "date",
    "duration_minutes",
    "participants",
    "comment",
    "created_by",
    "created_at",
];
const NOTE_COLUMNS: &[&str] = &[
    "id",
    "usager_id",
    "confidentiality",
    "body",
    "author_id",
    "first_name",
    "last_name",
    "created_at",
];
const DOCUMENT_COLUMNS: &[&str] = &[
    "id",
    "usager_id",
    "set_id",
    "version",
    "type_code",
    "title",
    "document_date",
    "confidentiality",
    "author_id",
    "media_type",
    "size_bytes",
    "sha256",
    "created_at",
    "superseded_at",
    "first_name",
    "last_name",
];
const DMP_CONSENT_COLUMNS: &[&str] = &["kind", "at", "first_name", "last_name"];
const INSI_CALL_COLUMNS: &[&str] = &[
    "id",
    "usager_id",
    "at",
    "operator",
    "step",
    "outcome",
    "duration_ms",
    "request_xml",
    "response_xml",
];
const LIFT_COLUMNS: &[&str] = &[
    "anonymous_id",
    "requested_on",
    "recorded_by",
    "real_id",
    "decided_by",
    "decided_at",
];
const PAIR_COLUMNS: &[&str] = &[
    "first_id",
    "second_id",
    "score",
    "reasons",
    "status",
    "found_at",
    "decided_by",
];
const MERGE_COLUMNS: &[&str] = &[
    "id",
    "survivor_id",
    "merged_id",
    "at",
    "by_label",
    "snapshot",
    "undone_at",
    "undone_by",
];

/// The pairs of the file `$2`, as the quality store lists them.
fn pairs_sql() -> String {
    format!(
        "{} AND (p.first_id = $2 OR p.second_id = $2) ORDER BY p.score DESC, p.found_at LIMIT {FILE_PAIRS}",
        duplicates::PAIRS_SQL
    )
}

/// The file `$2` and the files it is paired with, for the pairs' names.
const PAIR_FILES_SQL: &str = concat!(
    "SELECT ",
    usager_column_list!(),
    " FROM usagers WHERE structure_id = $1 AND (id = $2
         OR id IN (SELECT second_id FROM duplicate_pairs WHERE structure_id = $1 AND first_id = $2)
         OR id IN (SELECT first_id FROM duplicate_pairs WHERE structure_id = $1 AND second_id = $2))"
);

/// `$3, $4, …`: the note classes the tenant may read (`NULL`, which
/// matches nothing, when it may read none), as in `CareStore::notes`.
pub(super) fn class_placeholders(count: usize) -> String {
    if count == 0 {
        return "NULL".to_string();
    }
    (3..3 + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statement for a backend and a number of readable note classes:
/// built once per process (it is a few kilobytes of text).
fn statement(backend: Backend, classes: usize) -> Cow<'static, str> {
    static BUILT: [[OnceLock<String>; 8]; 2] = [const { [const { OnceLock::new() }; 8] }; 2];
    let by_backend = match backend {
        Backend::Sqlite => &BUILT[0],
        Backend::Postgres => &BUILT[1],
    };
    match by_backend.get(classes) {
        Some(cell) => Cow::Borrowed(cell.get_or_init(|| build_statement(backend, classes))),
        None => Cow::Owned(build_statement(backend, classes)),
    }
}

fn build_statement(backend: Backend, classes: usize) -> String {
    let list = |columns: &[&str], from: &str, order: &str| json_rows(backend, columns, from, order);
    let usager_columns: Vec<&str> = rows::usager_columns_each().collect();
    // The placeholders first appear in order: $1 and $2 in the episodes, then the classes.
    format!(
        "SELECT {}, {} AS episodes, {} AS activities, {} AS notes, {} AS documents,
                    {} AS dmp_consent, {} AS insi_calls, {} AS lifts, {} AS pairs, {} AS pair_files, {} AS merges
             FROM usagers WHERE structure_id = $1 AND id = $2",
        usager_column_list!(),
        list(
            EPISODE_COLUMNS,
            care::EPISODES_SQL,
            "q.start_date DESC, q.created_at DESC"
        ),
        list(
            ACTIVITY_COLUMNS,
            care::ACTIVITIES_SQL,
            "q.date DESC, q.created_at DESC"
        ),
        list(
            NOTE_COLUMNS,
            &format!(
                "{} AND x.confidentiality IN ({})",
                care::NOTES_SQL,
                class_placeholders(classes)
            ),
            "q.created_at DESC"
        ),
        // The same classes ($3, …) as the notes.
        list(
            DOCUMENT_COLUMNS,
            &format!(
                "{}{}",
                documents::DOCUMENTS_SQL,
                documents::readable(classes)
            ),
            "q.document_date DESC, q.set_id, q.version DESC"
        ),
        list(DMP_CONSENT_COLUMNS, documents::DMP_CONSENT_SQL, "q.at"),
        list(
            INSI_CALL_COLUMNS,
            "SELECT * FROM insi_calls WHERE structure_id = $1 AND usager_id = $2",
            "q.at, q.id"
        ),
        list(
            LIFT_COLUMNS,
            "SELECT * FROM anonymity_lifts
                 WHERE structure_id = $1 AND (anonymous_id = $2 OR real_id = $2)",
            "q.requested_on"
        ),
        list(PAIR_COLUMNS, &pairs_sql(), "q.score DESC, q.found_at"),
        list(&usager_columns, PAIR_FILES_SQL, "q.id"),
        list(
            MERGE_COLUMNS,
            "SELECT * FROM merges
                 WHERE structure_id = $1 AND (survivor_id = $2 OR merged_id = $2)",
            "q.at DESC"
        ),
    )
}

impl SqlStore {
    pub(super) async fn read_file_contents(
        &self,
        t: &Tenant,
        id: Uuid,
    ) -> StoreResult<Option<FileContents>> {
        let classes = t.readable_classes();
        let sql = statement(self.db.backend(), classes.len());
        let mut query = self.db.query(sql).bind(t.structure_id).bind(id);
        for class in &classes {
            query = query.bind(class.code());
        }
        query.optional(contents).await
    }
}

/// The rows of one list column, each read by `read`.
fn each<T>(r: &Row, column: &str, read: fn(&Row) -> StoreResult<T>) -> StoreResult<Vec<T>> {
    r.json_rows(column)?.iter().map(read).collect()
}

fn contents(r: &Row) -> StoreResult<FileContents> {
    let names: HashMap<Uuid, String> = each(r, "pair_files", rows::usager)?
        .into_iter()
        .map(|u| (u.id, u.data.identity.display_name()))
        .collect();
    let pairs = each(r, "pairs", duplicates::pair)?;
    Ok(FileContents {
        usager: rows::usager(r)?,
        episodes: each(r, "episodes", care::episode)?,
        activities: each(r, "activities", care::activity)?,
        notes: each(r, "notes", care::note)?,
        documents: each(r, "documents", documents::document)?,
        dmp_consent: each(r, "dmp_consent", documents::consent_record)?,
        insi_calls: each(r, "insi_calls", vigilance::insi_call)?,
        anonymity_lift: each(r, "lifts", vigilance::anonymity_lift)?
            .into_iter()
            .next(),
        pairs: duplicates::named(pairs, &names),
        merges: each(r, "merges", merges::merge_record)?,
    })
}
