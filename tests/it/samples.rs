//! `escale samples --out DIR`: the DMP files, with exactly their names,
//! each checked by the tools a conformance check would use.

use std::path::Path;
use std::process::Command;

use base64::Engine;
use escale::connectors::xml;

use crate::cli::{escale, text};
use crate::common::tools::{assert_schema_valid, assert_schematron_clean, tool};

const DMP_FILES: [&str; 7] = [
    "document.pdf",
    "cda-r2-n1.xml",
    "dmp-td21-provide-and-register.xml",
    "dmp-td21-request.mime",
    "vihf-assertion.xml",
    "vihf-signing-cert.pem",
    "xades-signature.xml",
];

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[tokio::test]
async fn dmp_samples_are_the_pieces_of_one_valid_deposit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let o = escale(None, &["samples", "--out", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut expected: Vec<&str> = DMP_FILES.to_vec();
    expected.extend([
        "fiche-identite.pdf",
        "ins-datamatrix.png",
        "ins-datamatrix.txt",
        "insi-rechercher-traits.xml",
    ]);
    expected.sort();
    assert_eq!(names, expected, "exactly these files, no key left behind");

    // The PDF/A letter of the qualified demo user, its banner's symbol
    // being the INS DataMatrix sample.
    let pdf = std::fs::read(dir.join("document.pdf")).unwrap();
    escale::domain::document::check_pdf(&pdf).unwrap();
    assert!(pdf.starts_with(b"%PDF-1.7"));
    let payload = std::fs::read(dir.join("ins-datamatrix.txt")).unwrap();
    check_pdf_banner(&dir.join("document.pdf"), &payload);

    // The CDA wraps those bytes and passes the schema and the schematron.
    let cda = read(&dir, "cda-r2-n1.xml");
    assert_schema_valid("spec/dmp-mss/cda/xsd/CDA_extended.xsd", "cda-r2-n1", &cda);
    assert_schematron_clean(&[("cda-r2-n1", &cda)]);
    let root = xml::parse(&cda).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let text_b64: String = root
        .find("nonXMLBody")
        .and_then(|b| b.find("text"))
        .unwrap()
        .trimmed_text()
        .split_whitespace()
        .collect();
    assert_eq!(b64.decode(text_b64).unwrap(), pdf, "the PDF in nonXMLBody");
    assert!(
        cda.contains("297022A020778"),
        "the INS of the qualified user"
    );

    // The request inline: ITI-41's schema, the CDA as base64.
    let inline = read(&dir, "dmp-td21-provide-and-register.xml");
    assert_schema_valid(
        "spec/dmp-mss/dmp/wsdl-schema/schema/IHE/XDS.b_DocumentRepository.xsd",
        "dmp-td21-provide-and-register",
        &inline,
    );
    assert!(inline.contains(&b64.encode(cda.as_bytes())), "CDA inline");
    assert!(inline.contains("297022A02077878^^^&amp;1.2.250.1.213.1.4.8&amp;ISO^NH"));

    // The MTOM package: its headers, the envelope with the VIHF and an
    // xop:Include, the CDA and the XAdES document as parts.
    let mime = std::fs::read(dir.join("dmp-td21-request.mime")).unwrap();
    let split = mime
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers, then a blank line");
    let headers = std::str::from_utf8(&mime[..split]).unwrap();
    assert!(headers.starts_with("MIME-Version: 1.0\r\n"), "{headers}");
    let boundary = headers
        .split("boundary=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a boundary")
        .to_string();
    let body = bytes::Bytes::from(mime[split + 4..].to_vec());
    let mut parts = multer::Multipart::new(
        futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) }),
        boundary,
    );
    let mut read_parts = Vec::new();
    while let Some(field) = parts.next_field().await.unwrap() {
        let kind = field.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        read_parts.push((kind, field.bytes().await.unwrap().to_vec()));
    }
    assert_eq!(read_parts.len(), 3, "envelope, CDA, XAdES");
    assert!(read_parts[0].0.starts_with("application/xop+xml"));
    let envelope = std::str::from_utf8(&read_parts[0].1).unwrap();
    assert!(envelope.contains("xop:Include") || envelope.contains(":Include "));
    let vihf = read(&dir, "vihf-assertion.xml");
    assert!(
        envelope.contains(&vihf),
        "the VIHF sample is the envelope's"
    );
    assert!(
        read_parts.iter().any(|(_, b)| b == cda.as_bytes()),
        "the CDA's bytes as a part"
    );
    let xades = read(&dir, "xades-signature.xml");
    assert!(
        read_parts.iter().any(|(_, b)| b == xades.as_bytes()),
        "the XAdES document as a part"
    );
    let digest = b64.encode(<sha2::Sha256 as sha2::Digest>::digest(cda.as_bytes()));
    assert!(
        xades.contains(&digest),
        "the XAdES manifest holds the CDA's digest"
    );

    // The VIHF verifies with the certificate given, and not once changed.
    let cert = read(&dir, "vihf-signing-cert.pem");
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
    let Some(xmlsec1) = tool("xmlsec1", "xmlsec1") else {
        return;
    };
    let (ok, said) = verify_with_cert(xmlsec1, &vihf, &dir.join("vihf-signing-cert.pem"));
    assert!(ok, "xmlsec1 refused the VIHF sample: {said}");
    let changed = vihf.replacen("Claire Martin", "Claire Martine", 1);
    assert_ne!(changed, vihf);
    let (ok, _) = verify_with_cert(xmlsec1, &changed, &dir.join("vihf-signing-cert.pem"));
    assert!(!ok, "a changed attribute breaks the signature");
}

/// `xmlsec1 --verify` with the key of `cert` (the sample's certificate,
/// whose test CA is not written).
fn verify_with_cert(xmlsec1: &str, xml: &str, cert: &Path) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vihf.xml");
    std::fs::write(&file, xml).unwrap();
    let out = Command::new(xmlsec1)
        .args([
            "--verify",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "--insecure",
            "--pubkey-cert-pem",
        ])
        .arg(cert)
        .arg(&file)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The banner's symbol decodes to the INS DataMatrix payload.
fn check_pdf_banner(pdf: &Path, payload: &[u8]) {
    let (Some(ppm), Some(dmtx)) = (
        crate::datamatrix::poppler("pdftoppm"),
        crate::datamatrix::dmtxread(),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(ppm)
        .args([
            "-r", "150", "-x", "800", "-y", "0", "-W", "440", "-H", "420",
        ])
        .args(["-png", "-singlefile"])
        .arg(pdf)
        .arg(dir.path().join("page"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let (decoded, _) = crate::datamatrix::decode(dmtx, &dir.path().join("page.png"));
    assert_eq!(decoded, payload);
}
