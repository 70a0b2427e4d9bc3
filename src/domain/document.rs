//! Documents of a user file (issue 13): the types a structure may file them
//! under (CI-SIS typeCode, JDV_J07, read from `reference/document_types.csv`),
//! what makes an uploaded file an acceptable PDF, and the fields a
//! professional types.

use std::sync::OnceLock;

use chrono::NaiveDate;
use thiserror::Error;

use super::care::Confidentiality;
use super::text;

/// One document type of the CI-SIS table of XDS typeCodes (JDV_J07).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentType {
    /// The code (LOINC for the types a medico-social structure writes).
    pub code: String,
    /// The OID of the code system.
    pub system: String,
    pub label: String,
    /// May a document of this type be deposited in the DMP (JDV_J66, the
    /// DMP's subset of J07)?
    pub dmp: bool,
    /// Its XDS classCode (TRE_A03, codeSystem 1.2.250.1.213.1.1.4.1). The
    /// DMP derives it from the type (association ASS_X16, not published
    /// where this project could read it): Escale's choice, to check against
    /// it before production (research/dmp-mss.md §9).
    pub class_code: String,
}

/// The types Escale offers, from its data file (a subset of JDV_J07 that a
/// CSAPA, CAARUD, ACT, LHSS or LAM writes; checked against the table).
pub fn document_types() -> &'static [DocumentType] {
    static TYPES: OnceLock<Vec<DocumentType>> = OnceLock::new();
    TYPES.get_or_init(|| parse_types(include_str!("../../reference/document_types.csv")))
}

/// The type of this code, if Escale offers it.
pub fn document_type(code: &str) -> Option<&'static DocumentType> {
    document_types().iter().find(|t| t.code == code.trim())
}

/// `code,codeSystem,displayName,dmp,classCode` lines after a header (`dmp`:
/// `oui` or `non`); the file is Escale's own (no quoted commas), a
/// malformed line is a build mistake.
fn parse_types(text: &str) -> Vec<DocumentType> {
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let [code, system, label, dmp, class_code] = f.as_slice() else {
                panic!("reference/document_types.csv: five columns in « {line} »");
            };
            DocumentType {
                code: code.to_string(),
                system: system.to_string(),
                label: label.to_string(),
                dmp: match *dmp {
                    "oui" => true,
                    "non" => false,
                    other => panic!("reference/document_types.csv: dmp « {other} »"),
                },
                class_code: class_code.to_string(),
            }
        })
        .collect()
}

/// The largest PDF accepted (the DMP takes documents of a few megabytes;
/// a scanned letter is well below).
pub const MAX_PDF_BYTES: usize = 10 * 1024 * 1024;

/// Why an uploaded file is not accepted as a PDF.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PdfRejected {
    #[error("aucun fichier n'a été reçu : choisissez un fichier PDF")]
    Empty,
    #[error("le fichier dépasse {} Mo : réduisez-le (numérisation en 200 dpi, noir et blanc) ou découpez-le", MAX_PDF_BYTES / (1024 * 1024))]
    TooLarge,
    #[error("ce fichier n'est pas un PDF : enregistrez-le au format PDF puis déposez-le à nouveau")]
    NotPdf,
    #[error(
        "ce PDF est incomplet (fin de fichier absente) : déposez à nouveau le fichier d'origine"
    )]
    Truncated,
    #[error("ce PDF est protégé par un mot de passe : déposez une version sans protection")]
    Encrypted,
}

/// A PDF starts with its header (`%PDF-1.x` or `%PDF-2.0`) and ends with
/// `%%EOF` (ISO 32000, 7.5.2 and 7.5.5; a little trailing whitespace or
/// junk is tolerated, as readers do). An encrypted PDF could be neither
/// read by the team nor deposited (the DMP refuses them).
pub fn check_pdf(bytes: &[u8]) -> Result<(), PdfRejected> {
    if bytes.is_empty() {
        return Err(PdfRejected::Empty);
    }
    if bytes.len() > MAX_PDF_BYTES {
        return Err(PdfRejected::TooLarge);
    }
    let header_ok = bytes.starts_with(b"%PDF-1.") || bytes.starts_with(b"%PDF-2.");
    if !header_ok {
        return Err(PdfRejected::NotPdf);
    }
    let tail = &bytes[bytes.len().saturating_sub(1024)..];
    if !contains(tail, b"%%EOF") {
        return Err(PdfRejected::Truncated);
    }
    // The trailer's /Encrypt entry (in the last kilobytes, or in a
    // cross-reference stream's dictionary there).
    let end = &bytes[bytes.len().saturating_sub(64 * 1024)..];
    if contains(end, b"/Encrypt") {
        return Err(PdfRejected::Encrypted);
    }
    Ok(())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The SHA-256 of a document's bytes, in lower-case hexadecimal.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// What a professional fills in for a document (a new one, or a new
/// version of one), checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentFields {
    pub type_code: &'static DocumentType,
    pub title: String,
    pub date: NaiveDate,
    pub confidentiality: Confidentiality,
}

/// The form as typed, kept to be shown again with its errors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentForm {
    pub type_code: String,
    pub title: String,
    pub date: String,
    pub confidentiality: String,
}

/// One message per field in error (field name, message).
pub type FieldErrors = Vec<(&'static str, String)>;

pub const TITLE_MAX: usize = 200;

impl DocumentForm {
    /// Checks every field; `today` bounds the date (a document is not dated
    /// in the future, nor before 1900).
    pub fn check(&self, today: NaiveDate) -> Result<DocumentFields, FieldErrors> {
        let mut errors = FieldErrors::new();
        let type_code = document_type(&self.type_code);
        if type_code.is_none() {
            errors.push((
                "type_code",
                "choisissez le type du document dans la liste".into(),
            ));
        }
        // Inner runs of spaces (a title pasted from a letter) become one.
        let title = self.title.split_whitespace().collect::<Vec<_>>().join(" ");
        let title = match text::single_line(&title, TITLE_MAX) {
            Ok(t) => Some(t),
            Err(text::TextError::Empty) => {
                errors.push(("title", "donnez un titre au document".into()));
                None
            }
            Err(e) => {
                errors.push(("title", format!("titre : {e}")));
                None
            }
        };
        let date = match parse_document_date(&self.date, today) {
            Ok(d) => Some(d),
            Err(e) => {
                errors.push(("date", e.into()));
                None
            }
        };
        let confidentiality = self.confidentiality.parse::<Confidentiality>().ok();
        if confidentiality.is_none() {
            errors.push((
                "confidentiality",
                "choisissez qui peut lire le document".into(),
            ));
        }
        match (type_code, title, date, confidentiality) {
            (Some(type_code), Some(title), Some(date), Some(confidentiality)) => {
                Ok(DocumentFields {
                    type_code,
                    title,
                    date,
                    confidentiality,
                })
            }
            _ => Err(errors),
        }
    }
}

/// The date of a document: `AAAA-MM-JJ` or `JJ/MM/AAAA`, not in the future
/// (a letter is dated when written), not before 1900.
pub fn parse_document_date(input: &str, today: NaiveDate) -> Result<NaiveDate, &'static str> {
    let v = input.trim();
    if v.is_empty() {
        return Err("la date du document est obligatoire");
    }
    let date = super::usager::typed_date(v)
        .ok_or("date invalide : saisissez-la sous la forme JJ/MM/AAAA")?;
    if date > today {
        return Err("la date du document est dans le futur");
    }
    if date < NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid") {
        return Err("la date du document est antérieure à 1900 : vérifiez l'année");
    }
    Ok(date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::spec_table;

    #[test]
    fn the_types_are_those_of_the_ci_sis_table() {
        let codes: Vec<&str> = document_types().iter().map(|t| t.code.as_str()).collect();
        for code in [
            "28653-4", "83981-1", "88348-8", "80788-3", "11488-4", "57833-6", "96349-6",
        ] {
            assert!(codes.contains(&code), "{code} missing");
        }
        let Some(table) =
            spec_table::load("../shared/spec/dmp-mss/terminology/JDV_J07_XdsTypeCode_CISIS.csv")
        else {
            return;
        };
        for t in document_types() {
            let row = table
                .iter()
                .find(|r| r["code"] == t.code)
                .unwrap_or_else(|| panic!("{} is not in JDV_J07", t.code));
            assert_eq!(row["codeSystem"], t.system, "{}", t.code);
            assert_eq!(row["displayName"], t.label, "{}", t.code);
        }
        let Some(classes) =
            spec_table::load("../shared/spec/dmp-mss/terminology/TRE_A03_ClasseDocument.csv")
        else {
            return;
        };
        for t in document_types() {
            assert!(
                classes.iter().any(|r| r["code"] == t.class_code),
                "{}: classCode {} not in TRE_A03",
                t.code,
                t.class_code
            );
        }
    }

    fn pdf(body: &str) -> Vec<u8> {
        format!("%PDF-1.7\n{body}\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n").into_bytes()
    }

    #[test]
    fn a_pdf_is_checked() {
        assert_eq!(check_pdf(&pdf("1 0 obj << >> endobj")), Ok(()));
        assert_eq!(check_pdf(b""), Err(PdfRejected::Empty));
        assert_eq!(check_pdf(b"<html>%%EOF"), Err(PdfRejected::NotPdf));
        assert_eq!(check_pdf(b"PK\x03\x04 %PDF-1.4"), Err(PdfRejected::NotPdf));
        assert_eq!(check_pdf(b"%PDF-1.4\n1 0 obj"), Err(PdfRejected::Truncated));
        assert_eq!(
            check_pdf(&pdf("<< /Encrypt 5 0 R >>")),
            Err(PdfRejected::Encrypted)
        );
        let mut big = pdf("");
        big.resize(MAX_PDF_BYTES + 1, b' ');
        assert_eq!(check_pdf(&big), Err(PdfRejected::TooLarge));
        assert!(PdfRejected::TooLarge.to_string().contains("10 Mo"));
    }

    #[test]
    fn the_form_is_checked_field_by_field() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 5).unwrap();
        let good = DocumentForm {
            type_code: "88348-8".into(),
            title: "  Lettre   d'entrée <b>".into(),
            date: "04/12/2026".into(),
            confidentiality: "sociale".into(),
        };
        let f = good.check(today).unwrap();
        assert_eq!(f.type_code.code, "88348-8");
        assert_eq!(f.title, "Lettre d'entrée <b>");
        assert_eq!(f.confidentiality, Confidentiality::Sociale);

        let bad = DocumentForm {
            type_code: "99999-9".into(),
            title: " ".into(),
            date: "05/12/2027".into(),
            confidentiality: "publique".into(),
        };
        let errors = bad.check(today).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["type_code", "title", "date", "confidentiality"]);
        let long = DocumentForm {
            title: "x".repeat(TITLE_MAX + 1),
            ..good.clone()
        };
        assert_eq!(long.check(today).unwrap_err()[0].0, "title");
        let absurd = DocumentForm {
            date: "31/02/2020".into(),
            ..good
        };
        assert_eq!(absurd.check(today).unwrap_err()[0].0, "date");
    }

    #[test]
    fn sha256_of_bytes() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
