//! The identity sheet (« fiche d'identité ») as a PDF/A-2b file: the traits,
//! the status, and for a qualified identity the matricule INS with its type
//! and the DataMatrix captioned « INS à scanner » (Guide INS EXI DIF 02).
//!
//! PDF/A-2b because a printed or archived sheet must render the same way
//! everywhere: the font (DejaVu Sans, from its registry crate) is embedded,
//! colours are CalGray (device-independent, so no output intent is needed),
//! XMP metadata declares the conformance. The symbol is drawn as vector
//! squares, sharp at any print resolution.

use chrono::{DateTime, Utc};
use pdf_writer::Content;

use crate::documents::pdfa::{self, A4, PdfError, text};
use crate::domain::identity::Vigilance;
use crate::domain::usager::Identity;
use crate::domain::{datamatrix, sharing};

/// One labelled line of the sheet.
pub struct Line {
    pub label: String,
    pub value: String,
}

pub struct Sheet {
    pub structure: String,
    pub status: String,
    pub lines: Vec<Line>,
    /// The INS DataMatrix payload: only for a qualified identity.
    pub datamatrix: Option<String>,
    pub notice: Option<String>,
    pub printed_by: String,
    pub printed_at: DateTime<Utc>,
}

/// The sheet of a file with traits (`None` for an alias: an anonymous file
/// has no identity to print). The INS and its DataMatrix appear only when
/// the sharing gate says the identity is qualified.
pub fn for_file(
    identity: &Identity,
    vigilance: &Vigilance,
    structure: &str,
    printed_by: &str,
    printed_at: DateTime<Utc>,
) -> Option<Sheet> {
    let Identity::Traits {
        birth_name,
        first_names,
        used_name,
        used_first_name,
        birth_date,
        sex,
        birth_place_code,
    } = identity
    else {
        return None;
    };
    let line = |label: &str, value: String| Line {
        label: label.into(),
        value,
    };
    let mut lines = vec![
        line("Nom de naissance", birth_name.clone()),
        line("Prénom(s) de naissance", first_names.clone()),
        line(
            "Date de naissance",
            birth_date.format("%d/%m/%Y").to_string(),
        ),
        line("Sexe", sex.label().into()),
        line(
            "Lieu de naissance (INSEE)",
            birth_place_code.clone().unwrap_or_else(|| "—".into()),
        ),
    ];
    if let Some(u) = used_name {
        lines.push(line("Nom utilisé", u.clone()));
    }
    if let Some(u) = used_first_name {
        lines.push(line("Prénom utilisé", u.clone()));
    }
    let (datamatrix, notice) = match sharing::shareable(identity, vigilance) {
        Ok(shared) => {
            lines.push(line("Matricule INS", shared.ins.display()));
            lines.push(line("OID", shared.ins.oid.oid().into()));
            (Some(datamatrix::payload(&shared)), None)
        }
        Err(why) => (None, Some(format!("Pas d'INS sur cette fiche : {why}."))),
    };
    Some(Sheet {
        structure: structure.into(),
        status: vigilance.status().label().into(),
        lines,
        datamatrix,
        notice,
        printed_by: printed_by.into(),
        printed_at,
    })
}

/// Renders the sheet.
pub fn render(sheet: &Sheet) -> Result<Vec<u8>, PdfError> {
    let content = page_content(sheet)?;
    pdfa::write(
        "Fiche d'identité",
        &sheet.printed_at,
        &format!("{}{}", sheet.printed_at, sheet.printed_by),
        &[content],
    )
}

fn page_content(sheet: &Sheet) -> Result<Vec<u8>, PdfError> {
    let mut c = Content::new();
    pdfa::start_page(&mut c);
    let left = 56.0;
    let mut y = A4.1 - 72.0;
    text(&mut c, left, y, 20.0, "Fiche d'identité");
    y -= 22.0;
    text(&mut c, left, y, 11.0, &sheet.structure);
    y -= 30.0;
    text(&mut c, left, y, 12.0, &format!("Statut : {}", sheet.status));
    y -= 28.0;
    for line in &sheet.lines {
        text(&mut c, left, y, 10.0, &line.label);
        text(&mut c, left + 170.0, y, 12.0, &line.value);
        y -= 20.0;
    }
    if let Some(n) = &sheet.notice {
        y -= 10.0;
        text(&mut c, left, y, 10.0, n);
    }
    if let Some(payload) = &sheet.datamatrix {
        // 1.1 mm per module: well above the scanners' minimum (ANS §4).
        let top = y - 30.0;
        let side = pdfa::datamatrix(&mut c, payload, left, top, 3.2)?;
        text(&mut c, left, top - side - 16.0, 11.0, "INS à scanner");
    }
    text(
        &mut c,
        left,
        40.0,
        8.0,
        &format!(
            "Imprimée le {} par {} — document confidentiel (données de santé)",
            sheet.printed_at.format("%d/%m/%Y %H:%M UTC"),
            sheet.printed_by
        ),
    );
    Ok(c.finish().into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_pdf_with_an_embedded_font_and_xmp() {
        let pdf = render(&Sheet {
            structure: "CSAPA <b>Test</b>".into(),
            status: "Identité qualifiée".into(),
            lines: vec![Line {
                label: "Nom de naissance".into(),
                value: "ADRUN".into(),
            }],
            datamatrix: Some("IS0100000000000000000000001234".into()),
            notice: None,
            printed_by: "Léa".into(),
            printed_at: Utc::now(),
        })
        .unwrap();
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.starts_with("%PDF-1.7"));
        assert!(text.contains("/FontFile2") && text.contains("/TrueType"));
        assert!(text.contains("pdfaid:part>2"));
        assert!(text.contains("/CalGray"));
    }
}
