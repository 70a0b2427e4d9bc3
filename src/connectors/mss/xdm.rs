//! The `IHE_XDM.ZIP` attached to a message carrying a document (IHE XDM,
//! ITI-32 « zip over e-mail »): `README.TXT` and `INDEX.HTM` at the root,
//! then `IHE_XDM/SUBSET01/METADATA.XML` (the submission set and document
//! entry, with the file's URI, size and SHA-1) and the CDA R2 N1 next to
//! it as `DOC0001.XML`. ISO-9660 8.3 upper-case names (research/dmp-mss.md
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
/// The CDA's file name (ANS InteropStudio's `DEFAULT_CDA_NAME`).
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

/// The archive of one document (`s.cda`) for `recipients`.
pub fn archive(
    s: &Submission<'_>,
    recipients: &[String],
    producer: &Producer<'_>,
) -> Result<Vec<u8>, XdmError> {
    let metadata = xds::xdm_metadata(
        s,
        &XdmMetadata {
            uri: DOCUMENT_NAME,
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
    let files: [(String, Vec<u8>); 4] = [
        ("README.TXT".into(), readme(producer, at).into_bytes()),
        ("INDEX.HTM".into(), index(s, producer).into_bytes()),
        (format!("{SUBSET}/METADATA.XML"), metadata.into_bytes()),
        (format!("{SUBSET}/{DOCUMENT_NAME}"), s.cda.to_vec()),
    ];
    for (name, bytes) in files {
        zip.start_file(name, options).map_err(err)?;
        zip.write_all(&bytes).map_err(io)?;
    }
    Ok(zip.finish().map_err(err)?.into_inner())
}

/// Plain ASCII-safe text, CRLF, as the profile's media readme.
fn readme(p: &Producer<'_>, at: DateTime<Utc>) -> String {
    [
        "Archive IHE XDM (ITI-32) - document de sante au format CDA R2".to_string(),
        String::new(),
        format!("Logiciel : {} {}", p.software, p.version),
        format!("Structure emettrice : {}", p.structure),
        format!("Messagerie : {}", p.mailbox),
        format!("Cree le : {}", at.format("%Y-%m-%d %H:%M:%S UTC")),
        String::new(),
        format!("Contenu : INDEX.HTM, {SUBSET}/METADATA.XML, {SUBSET}/{DOCUMENT_NAME}"),
        String::new(),
    ]
    .join("\r\n")
}

/// The human entry point: what the archive holds, a link to the document.
fn index(s: &Submission<'_>, p: &Producer<'_>) -> String {
    let e = |t: &str| escape(t).into_owned();
    format!(
        concat!(
            "<!DOCTYPE html>\r\n<html lang=\"fr\"><head><meta charset=\"utf-8\">",
            "<title>{title}</title></head><body>\r\n",
            "<h1>{title}</h1>\r\n",
            "<p>Patient : {family} {given} (INS {ins}).</p>\r\n",
            "<p>Auteur : {author_given} {author_family}, {structure}.</p>\r\n",
            "<ul><li><a href=\"{subset}/{doc}\">{doc}</a> : document CDA R2 ({type_label})</li>",
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
        subset = SUBSET,
        doc = DOCUMENT_NAME,
        type_label = e(&s.type_code.label),
    )
}
