//! The `IHE_XDM.ZIP` attached to a message carrying documents (IHE XDM,
//! ITI-32 « zip over e-mail »): `README.TXT` and `INDEX.HTM` at the root,
//! then `IHE_XDM/SUBSET01/METADATA.XML` (the submission set and one document
//! entry per document, with its file's URI, size and SHA-1) and each CDA R2
//! N1 next to it as `DOC0001.XML`, `DOC0002.XML`…. ISO-9660 8.3 upper-case names (research/dmp-mss.md
//! §4.2, §7 pitfall 9). Written with fixed dates: the same input gives the
//! same bytes.

use std::io::{Cursor, Write};

use chrono::{DateTime, Datelike, Timelike, Utc};
use quick_xml::escape::escape;
use thiserror::Error;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::connectors::dmp::xds::{self, Submission, XdmMetadata};

/// The attachment's name, as receivers expect it.
pub const ARCHIVE_NAME: &str = "IHE_XDM.ZIP";
pub const SUBSET: &str = "IHE_XDM/SUBSET01";
/// The first CDA's file name (ANS InteropStudio's `DEFAULT_CDA_NAME`);
/// the next ones are numbered on ([`document_name`]).
pub const DOCUMENT_NAME: &str = "DOC0001.XML";

#[derive(Debug, Error)]
#[error("archive IHE_XDM impossible à écrire : {0}")]
pub struct XdmError(String);

/// Who made the archive (`README.TXT`, as IHE XDM asks).
pub struct Producer<'a> {
    pub software: &'a str,
    pub version: &'a str,
    /// The structure that sends it, and its mailbox.
    pub structure: &'a str,
    pub mailbox: &'a str,
}

/// The name of the `n`th document (from 1) next to `METADATA.XML`.
pub fn document_name(n: usize) -> String {
    format!("DOC{n:04}.XML")
}

/// The archive of the documents (`s.cda` of each, the submission set's
/// attributes from the first) for `recipients`.
pub fn archive(
    docs: &[Submission<'_>],
    recipients: &[String],
    producer: &Producer<'_>,
) -> Result<Vec<u8>, XdmError> {
    let Some(s) = docs.first() else {
        return Err(XdmError("aucun document".into()));
    };
    let uris: Vec<String> = (1..=docs.len()).map(document_name).collect();
    let metadata = xds::xdm_metadata(
        docs,
        &XdmMetadata {
            uris: &uris,
            recipients,
        },
    );
    let err = |e: zip::result::ZipError| XdmError(e.to_string());
    let io = |e: std::io::Error| XdmError(e.to_string());
    let at = s.submitted_at;
    let when = zip::DateTime::from_date_and_time(
        at.year().clamp(1980, 2107) as u16,
        at.month() as u8,
        at.day() as u8,
        at.hour() as u8,
        at.minute() as u8,
        at.second() as u8,
    )
    .map_err(|e| XdmError(e.to_string()))?;
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(when);
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (
            "README.TXT".into(),
            readme(producer, at, &uris).into_bytes(),
        ),
        (
            "INDEX.HTM".into(),
            index(docs, &uris, producer).into_bytes(),
        ),
        (format!("{SUBSET}/METADATA.XML"), metadata.into_bytes()),
    ];
    for (d, uri) in docs.iter().zip(&uris) {
        files.push((format!("{SUBSET}/{uri}"), d.cda.to_vec()));
    }
    for (name, bytes) in files {
        zip.start_file(name, options).map_err(err)?;
        zip.write_all(&bytes).map_err(io)?;
    }
    Ok(zip.finish().map_err(err)?.into_inner())
}

/// Plain ASCII-safe text, CRLF, as the profile's media readme.
fn readme(p: &Producer<'_>, at: DateTime<Utc>, uris: &[String]) -> String {
    let listed: Vec<String> = uris.iter().map(|u| format!("{SUBSET}/{u}")).collect();
    [
        "Archive IHE XDM (ITI-32) - document de sante au format CDA R2".to_string(),
        String::new(),
        format!("Logiciel : {} {}", p.software, p.version),
        format!("Structure emettrice : {}", p.structure),
        format!("Messagerie : {}", p.mailbox),
        format!("Cree le : {}", at.format("%Y-%m-%d %H:%M:%S UTC")),
        String::new(),
        format!(
            "Contenu : INDEX.HTM, {SUBSET}/METADATA.XML, {}",
            listed.join(", ")
        ),
        String::new(),
    ]
    .join("\r\n")
}

/// The human entry point: what the archive holds, a link to each document.
fn index(docs: &[Submission<'_>], uris: &[String], p: &Producer<'_>) -> String {
    let e = |t: &str| escape(t).into_owned();
    let s = &docs[0];
    let items: String = docs
        .iter()
        .zip(uris)
        .map(|(d, uri)| {
            format!(
                "<li><a href=\"{SUBSET}/{uri}\">{uri}</a> : {} (document CDA R2, {})</li>",
                e(d.title),
                e(&d.type_code.label)
            )
        })
        .collect();
    format!(
        concat!(
            "<!DOCTYPE html>\r\n<html lang=\"fr\"><head><meta charset=\"utf-8\">",
            "<title>{title}</title></head><body>\r\n",
            "<h1>{title}</h1>\r\n",
            "<p>Patient : {family} {given} (INS {ins}).</p>\r\n",
            "<p>Auteur : {author_given} {author_family}, {structure}.</p>\r\n",
            "<ul>{items}",
            "<li><a href=\"{subset}/METADATA.XML\">METADATA.XML</a> : métadonnées XDS</li></ul>\r\n",
            "</body></html>\r\n"
        ),
        title = e(s.title),
        family = e(s.patient_info.family),
        given = e(s.patient_info.given),
        ins = e(&s.patient.matricule.as_string()),
        author_given = e(s.author.given),
        author_family = e(s.author.family),
        structure = e(p.structure),
        items = items,
        subset = SUBSET,
    )
}
