//! Import of the Annuaire Santé open-data files into the local copy
//! (`store::directory`): `PS_LibreAcces_Personne_activite_<horodatage>.txt`
//! (one line per professional × activity) and
//! `Extraction_Correspondance_MSSante_<horodatage>.txt` (one line per mailbox).
//!
//! Both are UTF-8, `|`-separated, with one header line; columns are found by
//! header name (they changed over time), the kind of file by its header. The
//! file is streamed line by line and written in batches: memory stays bounded
//! whatever its size. A bad line is counted, kept (the first ones) with its
//! number and reason, and skipped; the import goes on.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::domain::directory::{Coded, Mailbox, MailboxKind, Situation, Workplace, code_label};
use crate::domain::identifiers::{NationalId, NationalIdError};
use crate::domain::search::fold;
use crate::domain::structure::Finess;
use crate::store::StoreError;
use crate::store::directory::{
    ActivityRecord, DirectoryFileKind, DirectoryStore, ImportEnd, MailboxRecord, PersonRecord,
};

mod header;
mod lines;
mod mailboxes;
mod persons;

use header::*;
use lines::*;
use mailboxes::*;
use persons::*;

/// Persons per store transaction (a few thousand rows with their activities).
pub const PERSONS_PER_BATCH: usize = 2_000;
/// Mailboxes per store transaction.
pub const MAILBOXES_PER_BATCH: usize = 5_000;
/// Bad lines kept with their reason (all are counted).
pub const BAD_LINES_KEPT: usize = 50;
/// A longer line is refused without being held in memory.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// How often (in lines) the progress callback is called.
const PROGRESS_EVERY: u64 = 4_096;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("impossible de lire {file} : {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file} : fichier vide, sans ligne d'en-tête")]
    Empty { file: String },
    #[error(
        "{file} : en-tête non reconnu ({reason}) ; sont importés les fichiers PS_LibreAcces_Personne_activite et Extraction_Correspondance_MSSante de l'Annuaire Santé"
    )]
    UnknownHeader { file: String, reason: String },
    #[error("{file} : base de données : {source}")]
    Store {
        file: String,
        #[source]
        source: StoreError,
    },
}

/// Where an import stands, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Lines read, header included.
    pub lines: u64,
    pub bytes: u64,
    /// The file's size, when known.
    pub total_bytes: Option<u64>,
}

/// A line that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based; the header is line 1.
    pub line: u64,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportSummary {
    pub kind: DirectoryFileKind,
    pub file_name: String,
    /// Data lines read (header and blank lines excluded, bad lines included).
    pub rows_read: u64,
    /// Persons, activity lines and mailboxes given to the store.
    pub persons: u64,
    pub situations: u64,
    pub mailboxes: u64,
    /// Rows inserted, changed or deleted (0 when the same file is imported again).
    pub rows_written: u64,
    /// Persons or mailboxes removed because this full file no longer lists them.
    pub removed: u64,
    /// Why the removal of absent entries was not done, when it was not.
    pub purge_skipped: Option<String>,
    pub bad_lines: u64,
    /// The first [`BAD_LINES_KEPT`] bad lines.
    pub bad_line_samples: Vec<BadLine>,
    pub duration: Duration,
}

impl ImportSummary {
    pub fn rows_per_second(&self) -> f64 {
        let secs = self.duration.as_secs_f64();
        if secs > 0.0 {
            self.rows_read as f64 / secs
        } else {
            self.rows_read as f64
        }
    }

    /// The one-paragraph French report: « 498 765 lignes lues, 3 lignes
    /// ignorées : ligne 17 (…), … ; 12 345 lignes/s ».
    pub fn french(&self) -> String {
        const LISTED: usize = 5;
        let mut s = format!(
            "{} : {} {}, {} {}",
            self.file_name,
            thousands(self.rows_read),
            plural(self.rows_read, "ligne lue", "lignes lues"),
            thousands(self.bad_lines),
            plural(self.bad_lines, "ligne ignorée", "lignes ignorées"),
        );
        if !self.bad_line_samples.is_empty() {
            let listed: Vec<String> = self
                .bad_line_samples
                .iter()
                .take(LISTED)
                .map(|b| format!("ligne {} ({})", b.line, b.reason))
                .collect();
            s.push_str(" : ");
            s.push_str(&listed.join(", "));
            if self.bad_lines > LISTED as u64 {
                s.push_str(", …");
            }
        }
        match self.kind {
            DirectoryFileKind::PersonActivity => s.push_str(&format!(
                " ; {} {}, {} {}",
                thousands(self.persons),
                plural(self.persons, "professionnel", "professionnels"),
                thousands(self.situations),
                plural(self.situations, "activité", "activités"),
            )),
            DirectoryFileKind::Mailboxes => s.push_str(&format!(
                " ; {} {}",
                thousands(self.mailboxes),
                plural(self.mailboxes, "BAL MSSanté", "BAL MSSanté"),
            )),
        }
        s.push_str(&format!(
            " ; {} {} en base, {} {}",
            thousands(self.rows_written),
            plural(self.rows_written, "ligne écrite", "lignes écrites"),
            thousands(self.removed),
            plural(self.removed, "absent supprimé", "absents supprimés"),
        ));
        if let Some(why) = &self.purge_skipped {
            s.push_str(&format!(" ({why})"));
        }
        s.push_str(&format!(
            " ; {} lignes/s ({} s)",
            thousands(self.rows_per_second().round() as u64),
            format!("{:.1}", self.duration.as_secs_f64()).replace('.', ",")
        ));
        s
    }
}

/// French agreement: singular for 0 and 1.
pub fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n <= 1 { one } else { many }
}

/// `1234567` → `1 234 567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// Imports one file; `progress` is called every few thousand lines and at the end.
pub async fn import_file(
    store: &dyn DirectoryStore,
    path: &Path,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<ImportSummary, ImportError> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let read_error = |source| ImportError::Read {
        file: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let total = file.metadata().map_err(read_error)?.len();
    let reader = BufReader::with_capacity(256 * 1024, file);
    import_reader(store, reader, &file_name, Some(total), progress).await
}

/// Imports from any buffered reader (`file_name` names it in the log and messages).
pub async fn import_reader<R: BufRead + Send>(
    store: &dyn DirectoryStore,
    mut reader: R,
    file_name: &str,
    total_bytes: Option<u64>,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    let mut lines = LineReader::new(file_name);
    let header = match lines.next(&mut reader)?.map(|(line, ..)| line) {
        None => {
            return Err(ImportError::Empty {
                file: file_name.to_string(),
            });
        }
        Some(Line::TooLong) => {
            return Err(unknown(file_name, "ligne d'en-tête trop longue"));
        }
        Some(Line::Text(h)) => match std::str::from_utf8(h) {
            Ok(h) => Header::parse(h),
            Err(_) => return Err(unknown(file_name, "ligne d'en-tête non UTF-8")),
        },
    };
    let kind = header
        .kind()
        .map_err(|reason| unknown(file_name, &reason))?;
    let mut parser = match kind {
        DirectoryFileKind::PersonActivity => {
            Parser::Persons(PersonParser::new(&header).map_err(|r| unknown(file_name, &r))?)
        }
        DirectoryFileKind::Mailboxes => {
            Parser::Mailboxes(MailboxParser::new(&header).map_err(|r| unknown(file_name, &r))?)
        }
    };
    let store_error = |source| ImportError::Store {
        file: file_name.to_string(),
        source,
    };
    let before = store.directory_counts().await.map_err(store_error)?;
    let import = store
        .start_directory_import(kind, file_name)
        .await
        .map_err(store_error)?;
    let mut run = Run {
        store,
        import,
        summary: ImportSummary {
            kind,
            file_name: file_name.to_string(),
            rows_read: 0,
            persons: 0,
            situations: 0,
            mailboxes: 0,
            rows_written: 0,
            removed: 0,
            purge_skipped: None,
            bad_lines: 0,
            bad_line_samples: Vec::new(),
            duration: Duration::ZERO,
        },
    };
    let outcome = run
        .lines(
            &mut reader,
            &mut lines,
            &header,
            &mut parser,
            total_bytes,
            progress,
        )
        .await;
    let listed = match kind {
        DirectoryFileKind::PersonActivity => (run.summary.persons, before.persons),
        DirectoryFileKind::Mailboxes => (run.summary.mailboxes, before.mailboxes),
    };
    // A truncated download would otherwise empty the local copy: absent
    // entries are removed only when the new file lists at least half as many.
    let purge = outcome.is_ok() && listed.0.saturating_mul(2) >= listed.1.max(0) as u64;
    if outcome.is_ok() && !purge {
        run.summary.purge_skipped = Some(format!(
            "absents conservés : le fichier en liste {} contre {} en base, fichier partiel ?",
            thousands(listed.0),
            thousands(listed.1.max(0) as u64)
        ));
    }
    let end = ImportEnd {
        succeeded: outcome.is_ok(),
        rows_read: run.summary.rows_read as i64,
        rows_written: run.summary.rows_written as i64,
        bad_lines: run.summary.bad_lines as i64,
        purge,
    };
    let finished = store.finish_directory_import(import, &end).await;
    outcome?;
    run.summary.removed = finished.map_err(store_error)?;
    run.summary.duration = started.elapsed();
    progress(Progress {
        lines: lines.number,
        bytes: lines.bytes,
        total_bytes,
    });
    Ok(run.summary)
}

fn unknown(file: &str, reason: &str) -> ImportError {
    ImportError::UnknownHeader {
        file: file.to_string(),
        reason: reason.to_string(),
    }
}

struct Run<'s> {
    store: &'s dyn DirectoryStore,
    import: uuid::Uuid,
    summary: ImportSummary,
}

enum Parser {
    Persons(PersonParser),
    Mailboxes(MailboxParser),
}

impl Run<'_> {
    async fn lines<R: BufRead + Send>(
        &mut self,
        reader: &mut R,
        lines: &mut LineReader,
        header: &Header,
        parser: &mut Parser,
        total_bytes: Option<u64>,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<(), ImportError> {
        let mut current: Option<PersonRecord> = None;
        let mut persons: Vec<PersonRecord> = Vec::with_capacity(PERSONS_PER_BATCH);
        let mut boxes: Vec<MailboxRecord> = Vec::with_capacity(MAILBOXES_PER_BATCH);
        while let Some((line, number, bytes)) = lines.next(reader)? {
            if number.is_multiple_of(PROGRESS_EVERY) {
                progress(Progress {
                    lines: number,
                    bytes,
                    total_bytes,
                });
            }
            let text = match line {
                Line::TooLong => {
                    self.summary.rows_read += 1;
                    self.bad(
                        number,
                        format!("ligne trop longue (plus de {MAX_LINE_BYTES} octets)"),
                    );
                    continue;
                }
                Line::Text(bytes) => match std::str::from_utf8(bytes) {
                    Ok(t) => t,
                    Err(e) => {
                        self.summary.rows_read += 1;
                        self.bad(
                            number,
                            format!("caractères non UTF-8 à l'octet {}", e.valid_up_to() + 1),
                        );
                        continue;
                    }
                },
            };
            if text.trim().is_empty() {
                continue;
            }
            self.summary.rows_read += 1;
            let fields: Vec<&str> = text.split('|').collect();
            if let Err(reason) = header.check_count(&fields) {
                self.bad(number, reason);
                continue;
            }
            match parser {
                Parser::Persons(p) => {
                    let (person, activity) = match p.parse(&fields) {
                        Ok(parsed) => parsed,
                        Err(reason) => {
                            self.bad(number, reason);
                            continue;
                        }
                    };
                    match current.as_mut() {
                        Some(c) if c.id_nat_ps == person.id_nat_ps => c.activities.push(activity),
                        _ => {
                            let mut next = person;
                            next.activities.push(activity);
                            if let Some(done) = current.replace(next) {
                                persons.push(done);
                                if persons.len() >= PERSONS_PER_BATCH {
                                    self.write_persons(&mut persons).await?;
                                }
                            }
                        }
                    }
                }
                Parser::Mailboxes(m) => match m.parse(&fields) {
                    Ok(b) => {
                        boxes.push(b);
                        if boxes.len() >= MAILBOXES_PER_BATCH {
                            self.write_mailboxes(&mut boxes).await?;
                        }
                    }
                    Err(reason) => self.bad(number, reason),
                },
            }
        }
        persons.extend(current);
        self.write_persons(&mut persons).await?;
        self.write_mailboxes(&mut boxes).await
    }

    fn bad(&mut self, line: u64, reason: String) {
        self.summary.bad_lines += 1;
        if self.summary.bad_line_samples.len() < BAD_LINES_KEPT {
            self.summary.bad_line_samples.push(BadLine { line, reason });
        }
    }

    async fn write_persons(&mut self, persons: &mut Vec<PersonRecord>) -> Result<(), ImportError> {
        if persons.is_empty() {
            return Ok(());
        }
        let written = self
            .store
            .upsert_directory_persons(self.import, persons)
            .await
            .map_err(|source| self.store_error(source))?;
        self.summary.rows_written += written;
        self.summary.persons += persons.len() as u64;
        self.summary.situations += persons
            .iter()
            .map(|p| p.activities.len() as u64)
            .sum::<u64>();
        persons.clear();
        Ok(())
    }

    async fn write_mailboxes(&mut self, boxes: &mut Vec<MailboxRecord>) -> Result<(), ImportError> {
        if boxes.is_empty() {
            return Ok(());
        }
        let written = self
            .store
            .upsert_directory_mailboxes(self.import, boxes)
            .await
            .map_err(|source| self.store_error(source))?;
        self.summary.rows_written += written;
        self.summary.mailboxes += boxes.len() as u64;
        boxes.clear();
        Ok(())
    }

    fn store_error(&self, source: StoreError) -> ImportError {
        ImportError::Store {
            file: self.summary.file_name.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_french() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1 000");
        assert_eq!(thousands(498_765), "498 765");
        assert_eq!(thousands(12_345_678), "12 345 678");
    }

    #[test]
    fn identifiers_are_checked_against_each_other() {
        assert_eq!(
            person_ids(Some("8"), Some("10000001916"), Some("810000001916")),
            Ok(("810000001916".into(), Some("10000001916".into())))
        );
        assert!(person_ids(Some("8"), Some("1234"), Some("81234")).is_err());
        assert!(person_ids(Some("8"), Some("10000001916"), Some("810000005479")).is_err());
        assert_eq!(
            person_ids(None, None, Some("810000001916")).map(|p| p.1),
            Ok(Some("10000001916".into()))
        );
        assert_eq!(
            person_ids(Some("0"), Some("0B0193488"), None).map(|p| p.0),
            Ok("00B0193488".into())
        );
        assert!(person_ids(None, None, None).is_err());
        assert!(person_ids(None, None, Some("8 1;")).is_err());
    }

    #[test]
    fn structure_finess_forms() {
        assert_eq!(
            structure_finess(Some("1"), "640000014").as_deref(),
            Some("640000014")
        );
        assert_eq!(
            structure_finess(Some("1"), "1640000014").as_deref(),
            Some("640000014")
        );
        assert_eq!(
            structure_finess(None, "1640000014").as_deref(),
            Some("640000014")
        );
        assert_eq!(structure_finess(Some("3"), "33980699630001"), None);
        assert_eq!(structure_finess(None, "640000014"), None);
    }

    #[test]
    fn column_count() {
        let h = Header::parse("a|b|c|");
        assert!(h.check_count(&["1", "2", "3", ""]).is_ok());
        assert!(h.check_count(&["1", "2", "3"]).is_ok());
        assert_eq!(
            h.check_count(&["1", ""]),
            Err("1 colonne au lieu de 3".into())
        );
        assert_eq!(
            h.check_count(&["1", "2", "3", "4", ""]),
            Err("4 colonnes au lieu de 3".into())
        );
        let h = Header::parse("a|b|c");
        assert!(h.check_count(&["1", "2", ""]).is_ok());
        assert!(h.check_count(&["1", "2", "3", "4"]).is_err());
    }
}
