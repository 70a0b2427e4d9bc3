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

// ---- Reading lines ---------------------------------------------------------

enum Line<'b> {
    /// The bytes of a line, without its end (`\n` or `\r\n`).
    Text(&'b [u8]),
    /// Longer than [`MAX_LINE_BYTES`]: skipped without being kept.
    TooLong,
}

/// Reads lines as bytes into one reused buffer (invalid UTF-8 is a bad line,
/// not an error), counting lines and bytes.
struct LineReader {
    file: String,
    buf: Vec<u8>,
    number: u64,
    bytes: u64,
}

impl LineReader {
    fn new(file: &str) -> LineReader {
        LineReader {
            file: file.to_string(),
            buf: Vec::with_capacity(4096),
            number: 0,
            bytes: 0,
        }
    }

    /// The next line, with its number and the bytes read so far.
    fn next<R: BufRead>(
        &mut self,
        reader: &mut R,
    ) -> Result<Option<(Line<'_>, u64, u64)>, ImportError> {
        let io = |source| ImportError::Read {
            file: self.file.clone(),
            source,
        };
        self.buf.clear();
        let n = (&mut *reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut self.buf)
            .map_err(io)?;
        if n == 0 {
            return Ok(None);
        }
        self.bytes += n as u64;
        self.number += 1;
        if self.buf.last() != Some(&b'\n') && n > MAX_LINE_BYTES {
            self.bytes += skip_line(reader).map_err(io)?;
            self.buf.clear();
            return Ok(Some((Line::TooLong, self.number, self.bytes)));
        }
        let mut line = self.buf.as_slice();
        line = line.strip_suffix(b"\n").unwrap_or(line);
        line = line.strip_suffix(b"\r").unwrap_or(line);
        if self.number == 1 {
            line = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
        }
        Ok(Some((Line::Text(line), self.number, self.bytes)))
    }
}

/// Consumes the rest of a line without keeping it; returns the bytes skipped.
fn skip_line<R: BufRead>(reader: &mut R) -> std::io::Result<u64> {
    let mut skipped = 0u64;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(skipped);
        }
        match available.iter().position(|&b| b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(skipped + i as u64 + 1);
            }
            None => {
                let len = available.len();
                reader.consume(len);
                skipped += len as u64;
            }
        }
    }
}

// ---- Header ----------------------------------------------------------------

/// Column positions by folded name (case, accents and punctuation ignored:
/// `Indice répétition voie (coord. Structure)` has changed case over time).
struct Header {
    index: HashMap<String, usize>,
    fields: usize,
    /// The PS_LibreAcces files end every line with `|`.
    trailing_separator: bool,
}

impl Header {
    fn parse(line: &str) -> Header {
        let names: Vec<&str> = line.split('|').collect();
        let mut index = HashMap::new();
        for (i, name) in names.iter().enumerate() {
            let key = fold(name);
            if !key.is_empty() {
                index.entry(key).or_insert(i);
            }
        }
        Header {
            index,
            fields: names.len(),
            trailing_separator: names.last().is_some_and(|n| n.trim().is_empty()),
        }
    }

    fn col(&self, name: &str) -> Option<usize> {
        self.index.get(&fold(name)).copied()
    }

    fn required(&self, name: &str) -> Result<usize, String> {
        self.col(name)
            .ok_or_else(|| format!("colonne « {name} » absente"))
    }

    fn kind(&self) -> Result<DirectoryFileKind, String> {
        if self.col("Type de BAL").is_some() && self.col("Adresse BAL").is_some() {
            return Ok(DirectoryFileKind::Mailboxes);
        }
        if self.col("Identification nationale PP").is_none() {
            return Err("pas de colonne « Identification nationale PP » ni « Adresse BAL »".into());
        }
        if self.col("Code mode exercice").is_none() {
            return Err(
                "pas de colonne « Code mode exercice » : fichier des savoir-faire ou des diplômes ?"
                    .into(),
            );
        }
        Ok(DirectoryFileKind::PersonActivity)
    }

    /// A line has as many fields as the header; a missing trailing `|` is tolerated.
    fn check_count(&self, fields: &[&str]) -> Result<(), String> {
        let n = fields.len();
        if n == self.fields || (self.trailing_separator && n + 1 == self.fields) {
            return Ok(());
        }
        let trailing = |empty: bool| usize::from(self.trailing_separator && empty);
        let got = n - trailing(fields.last().is_some_and(|l| l.is_empty()));
        let expected = self.fields - trailing(true);
        Err(format!(
            "{got} {} au lieu de {expected}",
            plural(got as u64, "colonne", "colonnes")
        ))
    }
}

/// A field, trimmed; `None` when the column is absent or the field empty.
fn field<'a>(fields: &[&'a str], col: Option<usize>) -> Option<&'a str> {
    col.and_then(|i| fields.get(i))
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

fn owned(fields: &[&str], col: Option<usize>) -> Option<String> {
    field(fields, col).map(str::to_string)
}

fn coded(fields: &[&str], code: Option<usize>, label: Option<usize>) -> Option<Coded> {
    let code = field(fields, code)?;
    let label = field(fields, label)
        .or_else(|| code_label(code))
        .unwrap_or(code);
    Some(Coded {
        code: code.to_string(),
        label: label.to_string(),
    })
}

/// The idNat_PS and RPPS of a line, checked against each other
/// (`Type d'identifiant PP` 8 = RPPS, 0 = ADELI; TRE_G08).
fn person_ids(
    id_type: Option<&str>,
    id_pp: Option<&str>,
    id_nat: Option<&str>,
) -> Result<(String, Option<String>), String> {
    let id_nat = match (id_nat, id_type, id_pp) {
        (Some(n), _, _) => n.to_ascii_uppercase(),
        (None, Some(t), Some(pp)) if t == "8" || t == "0" => format!("{t}{pp}"),
        _ => return Err("identification nationale PP absente".into()),
    };
    if id_nat.len() > 32 || !id_nat.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("identification nationale « {id_nat} » invalide"));
    }
    let declared = id_type.or(if id_nat.starts_with('8') && id_nat.len() == 12 {
        Some("8")
    } else {
        None
    });
    match declared {
        Some("8") => {
            let rpps = id_pp.unwrap_or(&id_nat[1..]);
            let Ok(NationalId::Rpps(rpps)) = NationalId::parse(rpps) else {
                return Err(format!(
                    "RPPS « {rpps} » invalide : {}",
                    NationalIdError::Rpps
                ));
            };
            if id_nat != format!("8{rpps}") {
                return Err(format!(
                    "identification nationale « {id_nat} » différente de 8 + RPPS {rpps}"
                ));
            }
            Ok((id_nat, Some(rpps)))
        }
        Some("0") => {
            let adeli = id_pp.unwrap_or(&id_nat[1..]);
            let Ok(NationalId::Adeli(adeli)) = NationalId::parse(adeli) else {
                return Err(format!(
                    "ADELI « {adeli} » invalide : {}",
                    NationalIdError::Adeli
                ));
            };
            if id_nat != format!("0{adeli}") {
                return Err(format!(
                    "identification nationale « {id_nat} » différente de 0 + ADELI {adeli}"
                ));
            }
            Ok((id_nat, None))
        }
        _ => Ok((id_nat, None)),
    }
}

// ---- PS_LibreAcces_Personne_activite -----------------------------------------

struct PersonParser {
    id_type: Option<usize>,
    id_pp: Option<usize>,
    id_nat: usize,
    civility: Option<usize>,
    civility_fallback: Option<usize>,
    last_name: usize,
    first_name: usize,
    profession: (Option<usize>, Option<usize>),
    role: (Option<usize>, Option<usize>),
    mode: Option<usize>,
    sector: Option<usize>,
    site_finess: Option<usize>,
    legal_finess: Option<usize>,
    id_nat_struct: Option<usize>,
    name: Option<usize>,
    sign: Option<usize>,
    postal_code: Option<usize>,
    city: Option<usize>,
}

impl PersonParser {
    fn new(h: &Header) -> Result<PersonParser, String> {
        Ok(PersonParser {
            id_type: h.col("Type d'identifiant PP"),
            id_pp: h.col("Identifiant PP"),
            id_nat: h.required("Identification nationale PP")?,
            civility: h.col("Code civilité d'exercice"),
            civility_fallback: h.col("Code civilité"),
            last_name: h.required("Nom d'exercice")?,
            first_name: h.required("Prénom d'exercice")?,
            profession: (h.col("Code profession"), h.col("Libellé profession")),
            // Absent from the files of 2024 and before.
            role: (h.col("Code fonction"), h.col("Libellé fonction")),
            mode: h.col("Code mode exercice"),
            sector: h.col("Code secteur d'activité"),
            site_finess: h.col("Numéro FINESS site"),
            legal_finess: h.col("Numéro FINESS établissement juridique"),
            id_nat_struct: h.col("Ancien identifiant de la structure"),
            name: h.col("Raison sociale site"),
            sign: h.col("Enseigne commerciale site"),
            postal_code: h.col("Code postal (coord. structure)"),
            city: h.col("Libellé commune (coord. structure)"),
        })
    }

    fn parse(&self, f: &[&str]) -> Result<(PersonRecord, ActivityRecord), String> {
        let (id_nat_ps, rpps) = person_ids(
            field(f, self.id_type),
            field(f, self.id_pp),
            field(f, Some(self.id_nat)),
        )?;
        let last_name = field(f, Some(self.last_name))
            .ok_or_else(|| format!("nom d'exercice vide pour {id_nat_ps}"))?;
        let person = PersonRecord {
            id_nat_ps,
            rpps,
            civility: owned(f, self.civility).or_else(|| owned(f, self.civility_fallback)),
            last_name: last_name.to_string(),
            first_name: owned(f, Some(self.first_name)).unwrap_or_default(),
            activities: Vec::new(),
        };
        let activity = ActivityRecord {
            profession: coded(f, self.profession.0, self.profession.1),
            situation: Situation {
                role: coded(f, self.role.0, self.role.1),
                mode: owned(f, self.mode),
                sector: owned(f, self.sector),
                workplace: Workplace {
                    name: owned(f, self.name)
                        .or_else(|| owned(f, self.sign))
                        .unwrap_or_default(),
                    finess: owned(f, self.site_finess),
                    finess_legal: owned(f, self.legal_finess),
                    id_nat_struct: owned(f, self.id_nat_struct),
                    postal_code: owned(f, self.postal_code),
                    city: owned(f, self.city),
                },
            },
        };
        Ok((person, activity))
    }
}

// ---- Extraction_Correspondance_MSSante ---------------------------------------

struct MailboxParser {
    kind: usize,
    address: usize,
    id_type: Option<usize>,
    id_pp: Option<usize>,
    id_nat: Option<usize>,
    structure_type: Option<usize>,
    structure_id: Option<usize>,
    service: Option<usize>,
    structure_name: Option<usize>,
    structure_sign: Option<usize>,
}

impl MailboxParser {
    fn new(h: &Header) -> Result<MailboxParser, String> {
        Ok(MailboxParser {
            kind: h.required("Type de BAL")?,
            address: h.required("Adresse BAL")?,
            id_type: h.col("Type Identifiant PP"),
            id_pp: h.col("Identifiant PP"),
            id_nat: h.col("Identification nationale PP"),
            structure_type: h.col("Type identifiant structure"),
            structure_id: h.col("Identification Structure"),
            service: h.col("Service de rattachement"),
            structure_name: h.col("Raison Sociale structure BAL"),
            structure_sign: h.col("Enseigne commerciale structure BAL"),
        })
    }

    fn parse(&self, f: &[&str]) -> Result<MailboxRecord, String> {
        let kind_code = field(f, Some(self.kind)).unwrap_or_default();
        let kind = MailboxKind::from_code(kind_code)
            .ok_or_else(|| format!("type de BAL « {kind_code} » inconnu"))?;
        let address = field(f, Some(self.address)).unwrap_or_default();
        if !valid_address(address) {
            return Err(format!("adresse BAL « {address} » invalide"));
        }
        let id_nat_ps = match kind {
            MailboxKind::Personnelle => Some(
                person_ids(
                    field(f, self.id_type),
                    field(f, self.id_pp),
                    field(f, self.id_nat),
                )?
                .0,
            ),
            _ => None,
        };
        let structure_id = owned(f, self.structure_id);
        Ok(MailboxRecord {
            mailbox: Mailbox {
                address: address.to_lowercase(),
                kind,
                description: owned(f, self.service),
            },
            id_nat_ps,
            finess: structure_id
                .as_deref()
                .and_then(|id| structure_finess(field(f, self.structure_type), id)),
            structure_id,
            structure_name: owned(f, self.structure_name).or_else(|| owned(f, self.structure_sign)),
        })
    }
}

fn valid_address(a: &str) -> bool {
    matches!(a.split_once('@'), Some((local, domain))
        if !local.is_empty() && domain.contains('.') && !a.contains(char::is_whitespace))
}

/// The FINESS of a structure identifier: a bare FINESS, or its idNat_Struct
/// form `1` + FINESS (TRE_G07). Which form the extraction uses was not
/// verified on a real file: both are accepted; other types (SIRET…) give none.
fn structure_finess(id_type: Option<&str>, id: &str) -> Option<String> {
    let finess_type = id_type.map(|t| t == "1" || t.to_ascii_uppercase().contains("FINESS"));
    let candidate = match (finess_type, id.len()) {
        (Some(false), _) => return None,
        (Some(true), 9) => id,
        (_, 10) if id.starts_with('1') => &id[1..],
        _ => return None,
    };
    Finess::parse(candidate)
        .ok()
        .map(|f| f.as_str().to_string())
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
