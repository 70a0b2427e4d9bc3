//! A document written from a template, as PDF/A-2b: on every page the
//! identity banner (the INS traits, and for a qualified identity the INS and
//! its DataMatrix, from the sharing gate as on the identity sheet), then the
//! title and the text, wrapped and paginated.

use chrono::{DateTime, Utc};
use pdf_writer::Content;

use crate::documents::pdfa::{self, A4, Metrics, PdfError, text};
use crate::domain::identity::Vigilance;
use crate::domain::usager::Identity;
use crate::domain::{datamatrix, sharing};

/// What identifies the user at the top of every page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banner {
    pub structure: String,
    pub lines: Vec<(String, String)>,
    /// The INS DataMatrix payload: only for a qualified identity.
    pub datamatrix: Option<String>,
    /// Why no INS is printed, when none is.
    pub notice: Option<String>,
}

/// The banner of a file: the traits as the file holds them, the INS only
/// through the sharing gate; an alias for an anonymous user, never more.
pub fn banner(identity: &Identity, vigilance: &Vigilance, structure: &str) -> Banner {
    let line = |l: &str, v: String| (l.to_string(), v);
    match identity {
        Identity::Anonymous { alias, .. } => Banner {
            structure: structure.into(),
            lines: vec![line("Pseudonyme", alias.clone())],
            datamatrix: None,
            notice: Some("Accueil anonyme : aucune identité n'est imprimée.".into()),
        },
        Identity::Traits {
            birth_name,
            first_names,
            used_name,
            birth_date,
            sex,
            birth_place_code,
            ..
        } => {
            let mut lines = vec![
                line("Nom de naissance", birth_name.clone()),
                line("Prénom(s)", first_names.clone()),
                line("Né(e) le", birth_date.format("%d/%m/%Y").to_string()),
                line("Sexe", sex.label().into()),
                line(
                    "Lieu de naissance",
                    birth_place_code.clone().unwrap_or_else(|| "—".into()),
                ),
            ];
            if let Some(u) = used_name {
                lines.push(line("Nom utilisé", u.clone()));
            }
            let (datamatrix, notice) = match sharing::shareable(identity, vigilance) {
                Ok(shared) => {
                    lines.push(line("INS", shared.ins.display()));
                    (Some(datamatrix::payload(&shared)), None)
                }
                Err(why) => (None, Some(format!("Pas d'INS : {why}."))),
            };
            Banner {
                structure: structure.into(),
                lines,
                datamatrix,
                notice,
            }
        }
    }
}

/// A document to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letter {
    pub title: String,
    pub banner: Banner,
    /// Paragraphs separated by blank lines; single line breaks are kept.
    pub text: String,
    pub made_by: String,
    pub made_at: DateTime<Utc>,
}

const LEFT: f32 = 56.0;
const RIGHT: f32 = A4.0 - 56.0;
const BODY_SIZE: f32 = 11.0;
const LEADING: f32 = 15.0;
const BANNER_TOP: f32 = A4.1 - 40.0;
/// The banner's height: its lines or its symbol, whichever is taller.
const BANNER_HEIGHT: f32 = 130.0;
const BOTTOM: f32 = 70.0;
/// 0.88 mm per module: a reception scanner reads it from the printed page.
const MODULE: f32 = 2.5;

/// Renders the letter.
pub fn render(letter: &Letter) -> Result<Vec<u8>, PdfError> {
    let m = Metrics::load()?;
    let width = RIGHT - LEFT;
    let mut lines: Vec<String> = Vec::new();
    for (i, paragraph) in letter.text.split("\n\n").enumerate() {
        if i > 0 {
            lines.push(String::new());
        }
        for line in paragraph.lines() {
            lines.extend(m.wrap(line, BODY_SIZE, width));
        }
    }
    let first_top = BANNER_TOP - BANNER_HEIGHT - 40.0;
    let per_page = |top: f32| ((top - BOTTOM) / LEADING).floor() as usize;
    let mut pages: Vec<&[String]> = Vec::new();
    let mut rest = lines.as_slice();
    let mut top = first_top;
    loop {
        let n = per_page(top).min(rest.len());
        pages.push(&rest[..n]);
        rest = &rest[n..];
        if rest.is_empty() {
            break;
        }
        top = BANNER_TOP - BANNER_HEIGHT - 16.0;
    }
    let count = pages.len();
    let contents = pages
        .iter()
        .enumerate()
        .map(|(i, page)| page_content(letter, i, count, page))
        .collect::<Result<Vec<_>, _>>()?;
    pdfa::write(
        &letter.title,
        &letter.made_at,
        &format!("{}{}{}", letter.made_at, letter.made_by, letter.title),
        &contents,
    )
}

fn page_content(
    letter: &Letter,
    index: usize,
    count: usize,
    lines: &[String],
) -> Result<Vec<u8>, PdfError> {
    let mut c = Content::new();
    pdfa::start_page(&mut c);
    let b = &letter.banner;
    // The banner: structure, traits, then the symbol on the right.
    let mut y = BANNER_TOP;
    text(&mut c, LEFT, y, 10.0, &b.structure);
    y -= 16.0;
    for (label, value) in &b.lines {
        text(&mut c, LEFT, y, 8.0, label);
        text(&mut c, LEFT + 95.0, y, 9.5, value);
        y -= 12.5;
    }
    if let Some(n) = &b.notice {
        text(&mut c, LEFT, y - 2.0, 8.0, n);
    }
    if let Some(payload) = &b.datamatrix {
        let top = BANNER_TOP + 8.0;
        let side = pdfa::datamatrix(&mut c, payload, RIGHT - 110.0, top, MODULE)?;
        text(
            &mut c,
            RIGHT - 110.0,
            top - side - 10.0,
            8.0,
            "INS à scanner",
        );
    }
    // A rule under the banner.
    let rule = BANNER_TOP - BANNER_HEIGHT;
    c.rect(LEFT, rule, RIGHT - LEFT, 0.6);
    c.fill_nonzero();
    let mut y = rule - 16.0;
    if index == 0 {
        y -= 8.0;
        text(&mut c, LEFT, y, 15.0, &letter.title);
        y -= 16.0;
    }
    for line in lines {
        y -= LEADING;
        if !line.is_empty() {
            text(&mut c, LEFT, y, BODY_SIZE, line);
        }
    }
    text(
        &mut c,
        LEFT,
        36.0,
        7.5,
        &format!(
            "{} — page {}/{} — rédigé par {} le {} — document confidentiel (données de santé)",
            letter.title,
            index + 1,
            count,
            letter.made_by,
            letter.made_at.format("%d/%m/%Y")
        ),
    );
    Ok(c.finish().into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn traits() -> Identity {
        Identity::Traits {
            birth_name: "ADRUN".into(),
            first_names: "ZOE".into(),
            used_name: Some("MARTIN".into()),
            used_first_name: None,
            birth_date: NaiveDate::from_ymd_opt(1975, 12, 31).unwrap(),
            sex: crate::domain::usager::Sex::F,
            birth_place_code: Some("63220".into()),
        }
    }

    #[test]
    fn an_unqualified_or_anonymous_banner_has_no_ins() {
        let b = banner(&traits(), &Vigilance::provisional(), "CSAPA");
        assert!(b.datamatrix.is_none());
        assert!(b.notice.as_deref().unwrap().starts_with("Pas d'INS"));
        assert!(
            b.lines
                .iter()
                .any(|(l, v)| l == "Nom utilisé" && v == "MARTIN")
        );
        let alias = Identity::Anonymous {
            alias: "Papillon".into(),
            sex: None,
            birth_year: None,
        };
        let b = banner(&alias, &Vigilance::provisional(), "CSAPA");
        assert_eq!(
            b.lines,
            vec![("Pseudonyme".to_string(), "Papillon".to_string())]
        );
        assert!(b.datamatrix.is_none());
    }

    #[test]
    fn a_long_text_runs_over_several_pages() {
        let letter = Letter {
            title: "Courrier".into(),
            banner: banner(&traits(), &Vigilance::provisional(), "CSAPA <Test>"),
            text: (0..120)
                .map(|i| format!("Paragraphe {i} : œuvre, élan, « guillemets »."))
                .collect::<Vec<_>>()
                .join("\n\n"),
            made_by: "Claire Bernard".into(),
            made_at: Utc::now(),
        };
        let pdf = render(&letter).unwrap();
        let s = String::from_utf8_lossy(&pdf);
        assert!(s.starts_with("%PDF-1.7"));
        let count: usize = s
            .split("/Count ")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        // 239 lines: 37 on the first page (the title), 39 on the others.
        assert_eq!(count, 7);
        assert!(s.contains("pdfaid:part>2"));
    }
}
