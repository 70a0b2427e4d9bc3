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
use pdf_writer::types::FontFlags;
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str};

use crate::documents::datamatrix::{self as symbol, QUIET_ZONE, SymbolError};
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

const A4: (f32, f32) = (595.0, 842.0);
const FONT: Name = Name(b"F1");
const GRAY: Name = Name(b"CG");
/// D65 white point of the CalGray space.
const WHITE_POINT: [f32; 3] = [0.9505, 1.0, 1.089];

/// WinAnsi (CP-1252) bytes of a text: Latin-1 plus the few extra letters
/// French needs (Œ œ ’ …); anything else becomes « ? ».
fn winansi(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            '€' => 0x80,
            '‚' => 0x82,
            '…' => 0x85,
            'Œ' => 0x8C,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '–' => 0x96,
            '—' => 0x97,
            'œ' => 0x9C,
            'Ÿ' => 0x9F,
            c if (c as u32) < 0x80 && !c.is_control() => c as u8,
            c if (0xA0..=0xFF).contains(&(c as u32)) => c as u32 as u8,
            _ => b'?',
        })
        .collect()
}

/// The character a WinAnsi code stands for (for the widths table).
fn winansi_char(code: u8) -> Option<char> {
    Some(match code {
        0x20..=0x7E | 0xA0..=0xFF => code as char,
        0x80 => '€',
        0x82 => '‚',
        0x85 => '…',
        0x8C => 'Œ',
        0x91 => '‘',
        0x92 => '’',
        0x93 => '“',
        0x94 => '”',
        0x96 => '–',
        0x97 => '—',
        0x9C => 'œ',
        0x9F => 'Ÿ',
        _ => return None,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    #[error(transparent)]
    Symbol(#[from] SymbolError),
    #[error("police de caractères illisible")]
    Font,
}

struct Metrics {
    widths: Vec<f32>,
    ascent: f32,
    descent: f32,
    cap_height: f32,
    bbox: Rect,
}

fn metrics(font: &[u8]) -> Result<Metrics, SheetError> {
    let face = ttf_parser::Face::parse(font, 0).map_err(|_| SheetError::Font)?;
    let scale = 1000.0 / f32::from(face.units_per_em());
    let widths = (32u8..=255)
        .map(|code| {
            winansi_char(code)
                .and_then(|c| face.glyph_index(c))
                .and_then(|g| face.glyph_hor_advance(g))
                .map(|w| f32::from(w) * scale)
                .unwrap_or(0.0)
        })
        .collect();
    let b = face.global_bounding_box();
    Ok(Metrics {
        widths,
        ascent: f32::from(face.ascender()) * scale,
        descent: f32::from(face.descender()) * scale,
        cap_height: face.capital_height().map(f32::from).unwrap_or(700.0) * scale,
        bbox: Rect::new(
            f32::from(b.x_min) * scale,
            f32::from(b.y_min) * scale,
            f32::from(b.x_max) * scale,
            f32::from(b.y_max) * scale,
        ),
    })
}

fn xmp(title: &str, at: &DateTime<Utc>) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    format!(
        r#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
<pdfaid:part>2</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance>
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title>
<xmp:CreateDate>{date}</xmp:CreateDate><xmp:CreatorTool>Escale</xmp:CreatorTool><pdf:Producer>Escale</pdf:Producer>
</rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>"#,
        title = escape(title),
        date = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
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
pub fn render(sheet: &Sheet) -> Result<Vec<u8>, SheetError> {
    let font_bytes = dejavu::sans::regular();
    let m = metrics(font_bytes)?;
    let (catalog, pages, page, content_id) = (Ref::new(1), Ref::new(2), Ref::new(3), Ref::new(4));
    let (font, descriptor, font_file, meta) = (Ref::new(5), Ref::new(6), Ref::new(7), Ref::new(8));
    let mut pdf = Pdf::new();
    pdf.set_version(1, 7);
    let title = "Fiche d'identité";
    let digest = {
        use sha2::Digest;
        sha2::Sha256::digest(format!("{}{}", sheet.printed_at, sheet.printed_by)).to_vec()
    };
    pdf.set_file_id((digest[..16].to_vec(), digest[16..].to_vec()));
    pdf.catalog(catalog).pages(pages).metadata(meta);
    pdf.pages(pages).kids([page]).count(1);
    {
        let mut p = pdf.page(page);
        p.media_box(Rect::new(0.0, 0.0, A4.0, A4.1))
            .parent(pages)
            .contents(content_id);
        let mut resources = p.resources();
        resources.fonts().pair(FONT, font);
        resources
            .color_spaces()
            .insert(GRAY)
            .start::<pdf_writer::writers::ColorSpace>()
            .cal_gray(WHITE_POINT, None, Some(2.2));
        resources.finish();
        p.finish();
    }
    {
        let mut f = pdf.indirect(font).dict();
        f.pair(Name(b"Type"), Name(b"Font"))
            .pair(Name(b"Subtype"), Name(b"TrueType"))
            .pair(Name(b"BaseFont"), Name(b"DejaVuSans"))
            .pair(Name(b"FirstChar"), 32)
            .pair(Name(b"LastChar"), 255)
            .pair(Name(b"FontDescriptor"), descriptor)
            .pair(Name(b"Encoding"), Name(b"WinAnsiEncoding"));
        f.insert(Name(b"Widths"))
            .array()
            .items(m.widths.iter().copied());
        f.finish();
    }
    pdf.font_descriptor(descriptor)
        .name(Name(b"DejaVuSans"))
        .flags(FontFlags::NON_SYMBOLIC)
        .bbox(m.bbox)
        .italic_angle(0.0)
        .ascent(m.ascent)
        .descent(m.descent)
        .cap_height(m.cap_height)
        .stem_v(80.0)
        .font_file2(font_file);
    let compressed = miniz_oxide::deflate::compress_to_vec_zlib(font_bytes, 6);
    pdf.stream(font_file, &compressed)
        .filter(Filter::FlateDecode)
        .pair(Name(b"Length1"), font_bytes.len() as i32);
    let xmp = xmp(title, &sheet.printed_at);
    pdf.metadata(meta, xmp.as_bytes());

    let content = page_content(sheet)?;
    let compressed = miniz_oxide::deflate::compress_to_vec_zlib(&content, 6);
    pdf.stream(content_id, &compressed)
        .filter(Filter::FlateDecode);
    Ok(pdf.finish())
}

fn text(c: &mut Content, x: f32, y: f32, size: f32, s: &str) {
    c.begin_text();
    c.set_font(FONT, size);
    c.next_line(x, y);
    c.show(Str(&winansi(s)));
    c.end_text();
}

fn page_content(sheet: &Sheet) -> Result<Vec<u8>, SheetError> {
    let mut c = Content::new();
    c.set_fill_color_space(GRAY);
    c.set_fill_color([0.0]);
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
        let modules = symbol::modules(payload)?;
        // 1.1 mm per module: well above the scanners' minimum (ANS §4).
        let module = 3.2_f32;
        let q = QUIET_ZONE as f32;
        let side = (modules.width() as f32 + 2.0 * q) * module;
        let (x0, top) = (left, y - 30.0);
        // White background with the quiet zone, then the dark modules.
        c.set_fill_color([1.0]);
        c.rect(x0, top - side, side, side);
        c.fill_nonzero();
        c.set_fill_color([0.0]);
        for my in 0..modules.height() {
            for mx in 0..modules.width() {
                if modules.get(mx, my) {
                    let x = x0 + (mx as f32 + q) * module;
                    let yy = top - (my as f32 + q + 1.0) * module;
                    c.rect(x, yy, module, module);
                }
            }
        }
        c.fill_nonzero();
        text(&mut c, x0, top - side - 16.0, 11.0, "INS à scanner");
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
    fn winansi_keeps_french_letters() {
        assert_eq!(winansi("é"), vec![0xE9]);
        assert_eq!(winansi("Œuvre’"), vec![0x8C, b'u', b'v', b'r', b'e', 0x92]);
        assert_eq!(winansi("漢"), vec![b'?']);
        assert_eq!(winansi_char(0x8C), Some('Œ'));
    }

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
