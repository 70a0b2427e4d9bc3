//! The INS DataMatrix symbols Escale draws, read back by an independent
//! decoder (libdmtx's `dmtxread`, Debian package dmtx-utils).

use std::path::Path;
use std::process::Command;

/// `dmtxread`'s path, or `None` (said plainly; a failure under CI).
pub fn dmtxread() -> Option<&'static str> {
    if Command::new("dmtxread").arg("--version").output().is_ok() {
        return Some("dmtxread");
    }
    if std::env::var_os("CI").is_some() {
        panic!("dmtxread not found (Debian package dmtx-utils)");
    }
    eprintln!("dmtxread not found (apt-get install dmtx-utils) — this check did not run");
    None
}

/// Decodes a PNG: the message, and whether the first codeword latches C40 (230).
pub fn decode(bin: &str, png: &Path) -> (Vec<u8>, bool) {
    let message = Command::new(bin).arg(png).output().expect("dmtxread");
    assert!(
        message.status.success(),
        "dmtxread failed on {}",
        png.display()
    );
    let codewords = Command::new(bin)
        .arg("-c")
        .arg(png)
        .output()
        .expect("dmtxread -c");
    let first = String::from_utf8_lossy(&codewords.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    (message.stdout, first == "d:230")
}

#[test]
fn every_test_identity_symbol_decodes_to_its_payload_with_a_c40_header() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/spec/ins/datamatrix/examples.json"
    );
    let Ok(text) = std::fs::read_to_string(path) else {
        assert!(std::env::var_os("CI").is_none(), "{path} required under CI");
        eprintln!("{path} not found — this check did not run");
        return;
    };
    let Some(bin) = dmtxread() else { return };
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for e in v["examples"].as_array().unwrap() {
        if e.get("identity").is_none() {
            continue; // third-party vectors with fake matricules
        }
        let payload = e["payload"].as_str().unwrap();
        let file = dir
            .path()
            .join(format!("{}.png", e["id"].as_str().unwrap()));
        std::fs::write(
            &file,
            escale::documents::datamatrix::png(payload, 4).unwrap(),
        )
        .unwrap();
        let (decoded, c40) = decode(bin, &file);
        assert_eq!(String::from_utf8(decoded).unwrap(), payload, "{}", e["id"]);
        assert!(c40, "{}: the header must be C40-encoded", e["id"]);
        checked += 1;
    }
    assert!(checked >= 6);
}

/// A tool of poppler-utils, or `None` (said plainly; a failure under CI).
pub fn poppler(tool: &'static str) -> Option<&'static str> {
    if Command::new(tool).arg("-v").output().is_ok() {
        return Some(tool);
    }
    if std::env::var_os("CI").is_some() {
        panic!("{tool} not found (Debian package poppler-utils)");
    }
    eprintln!("{tool} not found (apt-get install poppler-utils) — this check did not run");
    None
}

/// The identity sheet sample: rendered by poppler, its DataMatrix read back
/// by libdmtx to the exact payload of `ins-datamatrix.txt`, its text holding
/// the INS traits, the matricule with its type and the caption.
#[test]
fn identity_sheet_renders_and_its_datamatrix_decodes() {
    let (Some(bin), Some(ppm), Some(text)) =
        (dmtxread(), poppler("pdftoppm"), poppler("pdftotext"))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    escale::cli::samples(dir.path()).unwrap();
    let pdf = dir.path().join(escale::cli::SAMPLE_IDENTITY_SHEET);
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF-1.7"));
    let out = Command::new(ppm)
        .args(["-r", "150", "-png", "-singlefile"])
        .arg(&pdf)
        .arg(dir.path().join("page"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (decoded, c40) = decode(bin, &dir.path().join("page.png"));
    let expected = std::fs::read(dir.path().join(escale::cli::SAMPLE_DATAMATRIX_TXT)).unwrap();
    assert_eq!(decoded, expected);
    assert!(c40);
    let out = Command::new(text).arg(&pdf).arg("-").output().unwrap();
    let t = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "Fiche d'identité",
        "ADRTROIS",
        "DOMINIQUE",
        "26/02/1997",
        "INS-NIR",
        "INS à scanner",
        "Identité qualifiée",
        "2A020",
    ] {
        assert!(t.contains(needle), "« {needle} » missing from:\n{t}");
    }
    // The font is embedded (PDF/A): pdffonts says so.
    let fonts = Command::new("pdffonts").arg(&pdf).output().unwrap();
    let fonts = String::from_utf8_lossy(&fonts.stdout);
    assert!(
        fonts.contains("DejaVuSans") && fonts.contains("yes"),
        "{fonts}"
    );
}
