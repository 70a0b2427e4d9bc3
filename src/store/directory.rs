//! The local copy of the Annuaire Santé open-data files: professionals, their
//! activities and MSSanté mailboxes, searched without calling the API. Public
//! reference data shared by the instance: no tenant. Implemented once for
//! both backends in `shared/directory.rs`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreResult;
use crate::domain::directory::{Coded, DirectoryPerson, DirectoryQuery, Mailbox, Situation};

/// Rows per multi-row statement: 13 columns × 1,000 stays under SQLite's
/// 32,766 bound parameters (PostgreSQL allows 65,535).
pub const ROWS_PER_STATEMENT: usize = 1_000;

/// The kind of an open-data file, as recorded in the import log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DirectoryFileKind {
    /// `PS_LibreAcces_Personne_activite_<horodatage>.txt`.
    PersonActivity,
    /// `Extraction_Correspondance_MSSante_<horodatage>.txt`.
    Mailboxes,
}

impl DirectoryFileKind {
    pub fn code(self) -> &'static str {
        match self {
            DirectoryFileKind::PersonActivity => "ps_libreacces",
            DirectoryFileKind::Mailboxes => "mssante",
        }
    }
    pub fn from_code(code: &str) -> Option<DirectoryFileKind> {
        match code {
            "ps_libreacces" => Some(DirectoryFileKind::PersonActivity),
            "mssante" => Some(DirectoryFileKind::Mailboxes),
            _ => None,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            DirectoryFileKind::PersonActivity => "professionnels et activités (PS_LibreAcces)",
            DirectoryFileKind::Mailboxes => "boîtes MSSanté (Extraction_Correspondance_MSSante)",
        }
    }
}

/// One activity line of a person: a profession and a practice situation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ActivityRecord {
    pub profession: Option<Coded>,
    pub situation: Situation,
}

/// A professional as one file gives them, with every activity line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersonRecord {
    pub id_nat_ps: String,
    pub rpps: Option<String>,
    pub civility: Option<String>,
    pub last_name: String,
    pub first_name: String,
    pub activities: Vec<ActivityRecord>,
}

/// An MSSanté mailbox line: the box and whom it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxRecord {
    pub mailbox: Mailbox,
    /// The owner of a personal (PER) box.
    pub id_nat_ps: Option<String>,
    /// `Identification Structure` as published.
    pub structure_id: Option<String>,
    /// The structure's FINESS when its identifier is one.
    pub finess: Option<String>,
    pub structure_name: Option<String>,
}

/// How an import ended, for its log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportEnd {
    pub succeeded: bool,
    pub rows_read: i64,
    pub rows_written: i64,
    pub bad_lines: i64,
    /// Remove what this (full) file no longer lists. Only after a complete read.
    pub purge: bool,
}

/// One entry of the import log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryImport {
    pub id: Uuid,
    pub kind: DirectoryFileKind,
    pub file_name: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `en_cours`, `termine`, `echec`.
    pub status: String,
    pub rows_read: i64,
    pub rows_written: i64,
    pub bad_lines: i64,
    pub removed: i64,
}

/// What the local copy holds: "is there one?" and the status line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirectoryCounts {
    pub persons: i64,
    pub situations: i64,
    pub mailboxes: i64,
    /// The latest successful import of each kind, newest first.
    pub last_imports: Vec<DirectoryImport>,
}

impl DirectoryCounts {
    pub fn is_present(&self) -> bool {
        self.persons > 0 || self.mailboxes > 0
    }
    /// When the copy was last refreshed (any kind).
    pub fn last_import_at(&self) -> Option<DateTime<Utc>> {
        self.last_imports.iter().filter_map(|i| i.finished_at).max()
    }
}

#[async_trait]
pub trait DirectoryStore: Send + Sync {
    /// Opens a log entry (`en_cours`) for a file about to be read.
    async fn start_directory_import(
        &self,
        kind: DirectoryFileKind,
        file_name: &str,
    ) -> StoreResult<Uuid>;
    /// Inserts or updates persons and replaces their activities, in one
    /// transaction; unchanged rows are not rewritten. A person given twice
    /// gets the activities of both. Returns the rows inserted, changed or deleted.
    async fn upsert_directory_persons(
        &self,
        import: Uuid,
        persons: &[PersonRecord],
    ) -> StoreResult<u64>;
    /// Inserts or updates mailboxes (keyed on the lower-cased address; the
    /// last line given for an address wins), in one transaction.
    async fn upsert_directory_mailboxes(
        &self,
        import: Uuid,
        boxes: &[MailboxRecord],
    ) -> StoreResult<u64>;
    /// Closes the log entry; with `purge`, deletes the persons (with their
    /// activities) or mailboxes of this kind the import did not list.
    /// Returns how many were deleted.
    async fn finish_directory_import(&self, import: Uuid, end: &ImportEnd) -> StoreResult<u64>;

    /// By name prefix (folded last name, optional first name) or identifier
    /// (RPPS, idNat_PS, ADELI), ordered by name, at most `limit` persons.
    async fn search_directory(
        &self,
        q: &DirectoryQuery,
        limit: i64,
    ) -> StoreResult<Vec<DirectoryPerson>>;
    /// The non-personal (ORG, APP, CAB) mailboxes of a structure's FINESS.
    async fn directory_organization_mailboxes(&self, finess: &str) -> StoreResult<Vec<Mailbox>>;
    /// Which of these (lower-case) addresses the local copy of the
    /// Annuaire's MSSanté list holds.
    async fn directory_known_mailboxes(&self, addresses: &[String]) -> StoreResult<Vec<String>>;
    async fn directory_counts(&self) -> StoreResult<DirectoryCounts>;
    /// Whether a local copy was imported (one indexed probe, for every search).
    async fn directory_copy_present(&self) -> StoreResult<bool>;
}

/// The persons of a batch with one entry per idNat_PS (first position kept,
/// activities appended): a multi-row upsert may not touch a row twice.
pub fn merge_same_person(persons: &[PersonRecord]) -> std::borrow::Cow<'_, [PersonRecord]> {
    let mut seen = std::collections::HashSet::with_capacity(persons.len());
    if persons.iter().all(|p| seen.insert(p.id_nat_ps.as_str())) {
        return std::borrow::Cow::Borrowed(persons);
    }
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut merged: Vec<PersonRecord> = Vec::with_capacity(persons.len());
    for p in persons {
        match index.get(p.id_nat_ps.as_str()) {
            Some(&i) => merged[i].activities.extend(p.activities.iter().cloned()),
            None => {
                index.insert(p.id_nat_ps.as_str(), merged.len());
                merged.push(p.clone());
            }
        }
    }
    std::borrow::Cow::Owned(merged)
}

/// The last line of each address (lower-cased), in first-seen order.
pub fn last_per_address(boxes: &[MailboxRecord]) -> Vec<MailboxRecord> {
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut out: Vec<MailboxRecord> = Vec::with_capacity(boxes.len());
    for b in boxes {
        let mut b = b.clone();
        b.mailbox.address = b.mailbox.address.trim().to_lowercase();
        match index.get(&b.mailbox.address) {
            Some(&i) => out[i] = b,
            None => {
                index.insert(b.mailbox.address.clone(), out.len());
                out.push(b);
            }
        }
    }
    out
}

/// The half-open range `[low, high)` of keys starting with `prefix`
/// (folded text: ASCII letters, digits and spaces, so bumping the last byte
/// gives the first key past the prefix in byte order).
pub fn prefix_range(prefix: &str) -> Option<(String, String)> {
    let last = prefix.chars().last()?;
    let mut high = prefix[..prefix.len() - last.len_utf8()].to_string();
    high.push(char::from_u32(last as u32 + 1)?);
    Some((prefix.to_string(), high))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ranges() {
        assert_eq!(
            prefix_range("DUP"),
            Some(("DUP".to_string(), "DUQ".to_string()))
        );
        assert_eq!(
            prefix_range("LE Z"),
            Some(("LE Z".to_string(), "LE [".to_string()))
        );
        assert_eq!(prefix_range(""), None);
    }

    #[test]
    fn same_person_twice_is_merged() {
        let p = |id: &str, n: usize| PersonRecord {
            id_nat_ps: id.into(),
            activities: vec![ActivityRecord::default(); n],
            ..Default::default()
        };
        let batch = [p("8A", 1), p("8B", 1)];
        assert!(matches!(
            merge_same_person(&batch),
            std::borrow::Cow::Borrowed(_)
        ));
        let batch = [p("8A", 1), p("8B", 1), p("8A", 2)];
        let merged = merge_same_person(&batch);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].activities.len(), 3);
    }
}
