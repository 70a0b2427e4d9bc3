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
        "ihe_xdm.zip",
        "mss-message-patient.eml",
        "mss-message-pro.eml",
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

/// Reads a message with Python's `email` package (an independent parser):
/// its headers, and each part's content type, file name and SHA-256.
const READ_EML: &str = r#"
import email, email.policy, hashlib, json, sys
m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.default)
parts = [{'type': p.get_content_type(), 'name': p.get_filename(),
          'sha256': hashlib.sha256(p.get_payload(decode=True) or b'').hexdigest(),
          'text': p.get_content() if p.get_content_maintype() == 'text' else None}
         for p in m.walk() if not p.is_multipart()]
print(json.dumps({'headers': {k: str(v) for k, v in m.items()}, 'parts': parts}))
"#;

/// Tests an archive and lists it with Python's `zipfile` (another
/// implementation than the one that wrote it).
const READ_ZIP: &str = r#"
import hashlib, json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
print(json.dumps({i.filename: hashlib.sha256(z.read(i)).hexdigest() for i in z.infolist()}))
"#;

fn python(script: &str, file: &Path) -> Option<serde_json::Value> {
    let python = tool("python3", "python3")?;
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes))
}

#[test]
fn mss_samples_carry_the_document_its_archive_and_the_headers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let o = escale(None, &["samples", "--out", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let cda = std::fs::read(dir.join("cda-r2-n1.xml")).unwrap();
    let pdf = std::fs::read(dir.join("document.pdf")).unwrap();

    // The archive: its four files, 8.3 upper-case names, the CDA unchanged,
    // METADATA.XML valid against ebRS lcm.xsd with the file's URI, size and
    // SHA-1.
    let zip_bytes = std::fs::read(dir.join("ihe_xdm.zip")).unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&zip_bytes)).unwrap();
    let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "IHE_XDM/SUBSET01/DOC0001.XML",
            "IHE_XDM/SUBSET01/METADATA.XML",
            "INDEX.HTM",
            "README.TXT"
        ]
    );
    let mut read = |name: &str| {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut zip.by_name(name).unwrap(), &mut out).unwrap();
        out
    };
    assert_eq!(read("IHE_XDM/SUBSET01/DOC0001.XML"), cda);
    let metadata = String::from_utf8(read("IHE_XDM/SUBSET01/METADATA.XML")).unwrap();
    assert_schema_valid(
        "spec/dmp-mss/dmp/wsdl-schema/schema/ebRS/lcm.xsd",
        "METADATA",
        &metadata,
    );
    for needle in [
        "<rim:Value>DOC0001.XML</rim:Value>".to_string(),
        format!("<rim:Value>{}</rim:Value>", cda.len()),
        format!(
            "<rim:Value>{}</rim:Value>",
            hex::encode(<sha1::Sha1 as sha1::Digest>::digest(&cda))
        ),
        "|^^Internet^medecin.traitant@test.mssante.fr".to_string(),
    ] {
        assert!(metadata.contains(&needle), "{needle} missing:\n{metadata}");
    }
    assert!(!metadata.contains("Signature01"), "no XAdES entry in XDM");
    let index = String::from_utf8(read("INDEX.HTM")).unwrap();
    assert!(index.contains("IHE_XDM/SUBSET01/DOC0001.XML") && index.contains("ADRTROIS"));
    if let Some(listed) = python(READ_ZIP, &dir.join("ihe_xdm.zip")) {
        assert_eq!(listed["IHE_XDM/SUBSET01/DOC0001.XML"], sha256_hex(&cda));
    }

    // The message to a professional: headers of the socle, the PDF and
    // the archive, the XDM subject.
    let Some(pro) = python(READ_EML, &dir.join("mss-message-pro.eml")) else {
        return;
    };
    let h = &pro["headers"];
    assert_eq!(h["To"], "medecin.traitant@test.mssante.fr");
    assert!(
        h["From"]
            .as_str()
            .unwrap()
            .contains("accueil.csapa-le-phare@escale-demo.mssante.fr")
    );
    assert_eq!(h["X-MSS-NIL"], "ESCALE-BAC-A-SABLE");
    assert_eq!(h["X-MSS-CODECDA"], "88348-8");
    assert_eq!(h["X-MSS-INS"], "O");
    assert!(h.get("X-MSS-MES").is_none(), "a professional may reply");
    assert_eq!(
        h["Disposition-Notification-To"],
        "accueil.csapa-le-phare@escale-demo.mssante.fr"
    );
    assert!(h["Message-ID"].as_str().unwrap().ends_with("@escale>"));
    assert!(
        h["Subject"]
            .as_str()
            .unwrap()
            .starts_with("XDM/1.0/DDM+Lettre de liaison d'entrée ADRTROIS DOMINIQUE 26/02/1997"),
        "{}",
        h["Subject"]
    );
    let parts = pro["parts"].as_array().unwrap();
    assert_eq!(parts[0]["type"], "text/plain");
    assert!(
        parts[0]["text"]
            .as_str()
            .unwrap()
            .contains("lettre de liaison d'entrée")
    );
    let pdf_part = parts
        .iter()
        .find(|p| p["type"] == "application/pdf")
        .unwrap();
    assert_eq!(pdf_part["sha256"], sha256_hex(&pdf));
    let zip_part = parts.iter().find(|p| p["name"] == "IHE_XDM.ZIP").unwrap();
    assert_eq!(
        zip_part["sha256"],
        sha256_hex(&zip_bytes),
        "the archive sample is the pro message's"
    );

    // To the user's Mon espace santé mailbox: their INS, no reply.
    let patient = python(READ_EML, &dir.join("mss-message-patient.eml")).unwrap();
    let h = &patient["headers"];
    assert_eq!(h["To"], "297022A02077878@patient.mssante.fr");
    assert_eq!(h["X-MSS-MES"], "FIN");
    assert_eq!(h["X-MSS-INS"], "O");
    let parts = patient["parts"].as_array().unwrap();
    assert!(parts.iter().any(|p| p["name"] == "IHE_XDM.ZIP"));
}
