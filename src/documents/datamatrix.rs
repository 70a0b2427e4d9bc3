//! Draws the INS DataMatrix (ISO/IEC 16022 ECC200, square) for a payload built
//! by `domain::datamatrix`. The ANS spec (« Format datamatrix INS » v2.2 §3.2)
//! requires the 26-character header in C40 mode: generic encoders that choose
//! ASCII fail the ANS validator (ZXing.Net #403), hence rxing's ForceC40.

use rxing::common::BitMatrix;
use rxing::datamatrix::{DataMatrixWriter, encoder::SymbolShapeHint};
use rxing::{BarcodeFormat, EncodeHints, Writer};

#[derive(Debug, thiserror::Error)]
#[error("DataMatrix INS impossible à dessiner : {0}")]
pub struct SymbolError(String);

/// Quiet zone drawn around the symbol, in modules (ANS §4: at least 1).
pub const QUIET_ZONE: u32 = 2;

/// The symbol's modules, without the quiet zone.
pub fn modules(payload: &str) -> Result<BitMatrix, SymbolError> {
    let hints = EncodeHints {
        ForceC40: Some(true),
        DataMatrixShape: Some(SymbolShapeHint::FORCE_SQUARE),
        ..EncodeHints::default()
    };
    DataMatrixWriter
        .encode_with_hints(payload, &BarcodeFormat::DATA_MATRIX, 0, 0, &hints)
        .map_err(|e| SymbolError(e.to_string()))
}

/// A greyscale PNG, `scale` pixels per module (at least 4 for printing).
pub fn png(payload: &str, scale: u32) -> Result<Vec<u8>, SymbolError> {
    let m = modules(payload)?;
    let scale = scale.max(1);
    let q = QUIET_ZONE;
    let (w, h) = ((m.width() + 2 * q) * scale, (m.height() + 2 * q) * scale);
    let dark = |x: u32, y: u32| {
        let (mx, my) = (x / scale, y / scale);
        mx >= q && my >= q && mx - q < m.width() && my - q < m.height() && m.get(mx - q, my - q)
    };
    let mut pixels = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            pixels.push(if dark(x, y) { 0u8 } else { 255u8 });
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(|e| SymbolError(e.to_string()))?;
        writer
            .write_image_data(&pixels)
            .map_err(|e| SymbolError(e.to_string()))?;
    }
    Ok(out)
}

/// An SVG with one rectangle per dark module (no text, no user data).
pub fn svg(payload: &str) -> Result<String, SymbolError> {
    let m = modules(payload)?;
    let q = QUIET_ZONE;
    let mut s = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{pw}" height="{ph}" shape-rendering="crispEdges"><rect width="{w}" height="{h}" fill="#fff"/>"##,
        w = m.width() + 2 * q,
        h = m.height() + 2 * q,
        pw = (m.width() + 2 * q) * 4,
        ph = (m.height() + 2 * q) * 4
    );
    for y in 0..m.height() {
        for x in 0..m.width() {
            if m.get(x, y) {
                s.push_str(&format!(
                    r#"<rect x="{}" y="{}" width="1" height="1"/>"#,
                    x + q,
                    y + q
                ));
            }
        }
    }
    s.push_str("</svg>");
    Ok(s)
}
