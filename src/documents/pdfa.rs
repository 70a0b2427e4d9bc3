//! PDF/A-2b files as Escale writes them (the identity sheet, documents
//! written from a template): A4 pages, DejaVu Sans embedded (from its
//! registry crate) in WinAnsi, CalGray colours (device-independent, so no
//! output intent is needed), XMP metadata declaring the conformance.

use chrono::{DateTime, Utc};
use pdf_writer::types::FontFlags;
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str};

use crate::documents::datamatrix::{self as symbol, QUIET_ZONE, SymbolError};

pub const A4: (f32, f32) = (595.0, 842.0);
const FONT: Name = Name(b"F1");
const GRAY: Name = Name(b"CG");
/// D65 white point of the CalGray space.
const WHITE_POINT: [f32; 3] = [0.9505, 1.0, 1.089];

/// WinAnsi (CP-1252) bytes of a text: Latin-1 plus the few extra letters
/// French needs (Œ œ ’ …); anything else becomes « ? ».
pub(crate) fn winansi(s: &str) -> Vec<u8> {
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
pub(crate) fn winansi_char(code: u8) -> Option<char> {
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
pub enum PdfError {
    #[error(transparent)]
    Symbol(#[from] SymbolError),
    #[error("police de caractères illisible")]
    Font,
}

/// The font's measures, in thousandths of the font size.
pub struct Metrics {
    widths: Vec<f32>,
    ascent: f32,
    descent: f32,
    cap_height: f32,
    bbox: Rect,
}

fn metrics(font: &[u8]) -> Result<Metrics, PdfError> {
    let face = ttf_parser::Face::parse(font, 0).map_err(|_| PdfError::Font)?;
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

impl Metrics {
    /// The font's measures (DejaVu Sans).
    pub fn load() -> Result<Metrics, PdfError> {
        metrics(dejavu::sans::regular())
    }

    /// The width of a text at a size, in points.
    pub fn width(&self, s: &str, size: f32) -> f32 {
        winansi(s)
            .iter()
            .map(|&b| {
                self.widths
                    .get(usize::from(b).wrapping_sub(32))
                    .copied()
                    .unwrap_or(0.0)
            })
            .sum::<f32>()
            * size
            / 1000.0
    }

    /// A paragraph cut into lines no wider than `width` points, at word
    /// boundaries (a word wider than a line is cut where it must).
    pub fn wrap(&self, paragraph: &str, size: f32, width: f32) -> Vec<String> {
        let mut lines = Vec::new();
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            let candidate = if line.is_empty() {
                word.to_string()
            } else {
                format!("{line} {word}")
            };
            if self.width(&candidate, size) <= width {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            let mut rest = word.to_string();
            while self.width(&rest, size) > width {
                let mut cut = rest.len();
                while cut > 1 && self.width(&rest[..cut], size) > width {
                    cut = rest[..cut - 1]
                        .char_indices()
                        .last()
                        .map_or(1, |(i, _)| i.max(1));
                }
                lines.push(rest[..cut].to_string());
                rest = rest[cut..].to_string();
            }
            line = rest;
        }
        if !line.is_empty() {
            lines.push(line);
        }
        lines
    }
}

/// Writes the text at (x, y), in the embedded font.
pub fn text(c: &mut Content, x: f32, y: f32, size: f32, s: &str) {
    c.begin_text();
    c.set_font(FONT, size);
    c.next_line(x, y);
    c.show(Str(&winansi(s)));
    c.end_text();
}

/// Sets black on the page's gray space (call once per page).
pub fn start_page(c: &mut Content) {
    c.set_fill_color_space(GRAY);
    c.set_fill_color([0.0]);
}

/// Draws the DataMatrix of `payload` with its top-left corner at
/// (x0, top), `module` points per module, on a white quiet zone; returns the
/// symbol's side in points.
pub fn datamatrix(
    c: &mut Content,
    payload: &str,
    x0: f32,
    top: f32,
    module: f32,
) -> Result<f32, PdfError> {
    let modules = symbol::modules(payload)?;
    let q = QUIET_ZONE as f32;
    let side = (modules.width() as f32 + 2.0 * q) * module;
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
    Ok(side)
}

/// A PDF/A-2b file of these pages (each a content stream made with [`text`],
/// [`datamatrix`]…), titled `title` in its metadata; `id_seed` makes the
/// file identifier (the same inputs give the same file).
pub fn write(
    title: &str,
    at: &DateTime<Utc>,
    id_seed: &str,
    contents: &[Vec<u8>],
) -> Result<Vec<u8>, PdfError> {
    let font_bytes = dejavu::sans::regular();
    let m = metrics(font_bytes)?;
    let (catalog, pages, font, descriptor, font_file, meta) = (
        Ref::new(1),
        Ref::new(2),
        Ref::new(3),
        Ref::new(4),
        Ref::new(5),
        Ref::new(6),
    );
    // Each page and its content stream after those.
    let page_refs: Vec<(Ref, Ref)> = (0..contents.len() as i32)
        .map(|i| (Ref::new(7 + 2 * i), Ref::new(8 + 2 * i)))
        .collect();
    let mut pdf = Pdf::new();
    pdf.set_version(1, 7);
    let digest = {
        use sha2::Digest;
        sha2::Sha256::digest(id_seed.as_bytes()).to_vec()
    };
    pdf.set_file_id((digest[..16].to_vec(), digest[16..].to_vec()));
    pdf.catalog(catalog).pages(pages).metadata(meta);
    pdf.pages(pages)
        .kids(page_refs.iter().map(|(p, _)| *p))
        .count(contents.len() as i32);
    for (page, content_id) in &page_refs {
        let mut p = pdf.page(*page);
        p.media_box(Rect::new(0.0, 0.0, A4.0, A4.1))
            .parent(pages)
            .contents(*content_id);
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
    let xmp = xmp(title, at);
    pdf.metadata(meta, xmp.as_bytes());
    for ((_, content_id), content) in page_refs.iter().zip(contents) {
        let compressed = miniz_oxide::deflate::compress_to_vec_zlib(content, 6);
        pdf.stream(*content_id, &compressed)
            .filter(Filter::FlateDecode);
    }
    Ok(pdf.finish())
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
    fn lines_are_cut_at_words_and_never_overflow() {
        let m = Metrics::load().unwrap();
        assert!(m.width("WWW", 10.0) > m.width("iii", 10.0));
        let lines = m.wrap("le petit chat est mort de rire", 12.0, 60.0);
        assert!(lines.len() > 1);
        assert_eq!(lines.join(" "), "le petit chat est mort de rire");
        for l in &lines {
            assert!(m.width(l, 12.0) <= 60.0, "{l}");
        }
        let long = "x".repeat(200);
        let cut = m.wrap(&long, 12.0, 100.0);
        assert_eq!(cut.concat(), long);
        assert!(cut.iter().all(|l| m.width(l, 12.0) <= 100.0));
        assert!(m.wrap("   ", 12.0, 100.0).is_empty());
        assert_eq!(m.wrap("Émile Zoé", 12.0, 400.0), vec!["Émile Zoé"]);
    }
}
