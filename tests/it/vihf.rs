//! The DMP's VIHF assertion (issue 13): written in exclusive canonical form
//! and signed RSA-SHA256 with the structure's SIGN certificate, verified by
//! an independent implementation (`xmlsec1 --verify`, Debian package
//! xmlsec1) alone and inside a SOAP header; a changed byte breaks it; the
//! TLS (AUTH, ECDSA here) key cannot sign it.

use std::process::Command;

use chrono::{TimeZone, Utc};
use uuid::Uuid;

use escale::connectors::dmp::vihf::{self, AuthenticationMode, Software, Vihf};
use escale::connectors::dmp::xmldsig::{SignError, Signer};
use escale::connectors::xml;
use escale::domain::ins::{Ins, InsOid, Matricule};
use escale::domain::terminology::Code;
use escale::sandbox::pki::TestPki;

fn xmlsec1() -> Option<&'static str> {
    crate::common::tools::tool("xmlsec1", "xmlsec1")
}

/// `xmlsec1 --verify` of the assertion's signature, trusting the test CA.
fn verifies(bin: &str, xml: &str, ca: &str) -> (bool, String) {
    crate::common::tools::xmlsec1_verifies(
        bin,
        xml,
        ca,
        &[
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
        ],
    )
}

#[test]
fn the_vihf_is_signed_with_the_sign_certificate_and_xmlsec1_verifies_it() {
    let pki = TestPki::generate().unwrap();
    let sign = pki.signing_cert("ESCALE-DMP-SIGN", "1640000014").unwrap();
    let signer = Signer::from_pem(&sign.cert_pem, &sign.key_pem).unwrap();
    // The TLS certificate's key (ECDSA, as the test PKI makes them) is not a
    // signing key for the DMP.
    let auth = pki.client_cert("ESCALE-DMP-AUTH", "1640000014").unwrap();
    assert!(matches!(
        Signer::from_pem(&auth.cert_pem, &auth.key_pem),
        Err(SignError::Key)
    ));

    let ins = Ins {
        matricule: Matricule::from_insi("2751263220749", "74").unwrap().0,
        oid: InsOid::NirTest,
    };
    let software = Software {
        id: "escale".into(),
        name: "Escale <DUI> & co".into(),
        version: "0.1.0".into(),
        homologation: "HOMOLOGATION-TEST".into(),
    };
    let v = Vihf {
        id: Uuid::from_u128(42),
        issued_at: Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap(),
        issuer: "CN=ESCALE-DMP-SIGN,OU=1640000014,O=STRUCTURE DE TEST ESCALE,C=FR",
        professional_id: "810000000017",
        professional_name: "Claire BERNARD",
        roles: vec![
            Code {
                code: "10".into(),
                system: "1.2.250.1.71.1.2.7".into(),
                label: "Médecin".into(),
            },
            Code {
                code: "SM26".into(),
                system: "1.2.250.1.71.4.2.5".into(),
                label: "Qualifié en Médecine Générale (SM)".into(),
            },
        ],
        structure_id: "1640000014",
        sector: "SA41",
        mode: AuthenticationMode::IndirecteRenforcee,
        patient: Some(&ins),
        software: &software,
    };
    let signed = vihf::assertion(&v, &signer).unwrap().canonical();

    // What it says.
    let root = xml::parse(&signed).unwrap();
    assert!(root.is(vihf::NS_SAML2, "Assertion"));
    assert_eq!(
        root.attribute("ID"),
        Some("_00000000-0000-0000-0000-00000000002a")
    );
    assert_eq!(root.children[1].name, "Signature", "right after the issuer");
    assert_eq!(root.find("NameID").unwrap().trimmed_text(), "810000000017");
    let attribute = |name: &str| {
        root.find("AttributeStatement")
            .unwrap()
            .children
            .iter()
            .find(|a| a.attribute("Name") == Some(name))
            .unwrap_or_else(|| panic!("{name}"))
    };
    let roles = attribute("urn:oasis:names:tc:xacml:2.0:subject:role");
    assert_eq!(roles.children.len(), 2, "two values of one attribute");
    assert_eq!(
        attribute("urn:oasis:names:tc:xacml:2.0:resource:resource-id")
            .child_text("AttributeValue")
            .as_deref(),
        Some("275126322074974^^^&1.2.250.1.213.1.4.10&ISO^NH")
    );
    assert_eq!(
        attribute("Authentification_Mode")
            .child_text("AttributeValue")
            .as_deref(),
        Some("INDIRECTE_RENFORCEE")
    );
    assert_eq!(
        attribute("LPS_Nom").child_text("AttributeValue").as_deref(),
        Some("Escale <DUI> & co")
    );

    let Some(bin) = xmlsec1() else { return };
    let (ok, err) = verifies(bin, &signed, pki.ca_pem());
    assert!(ok, "xmlsec1 refused the VIHF: {err}\n{signed}");
    // Inside a SOAP header, among other namespaces (exclusive
    // canonicalisation: the context does not change the digest).
    let envelope = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" xmlns:saml2="urn:autre" xmlns="urn:defaut">
  <soap:Header>
    <wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">{signed}</wsse:Security>
  </soap:Header>
  <soap:Body/>
</soap:Envelope>"#
    );
    let (ok, err) = verifies(bin, &envelope, pki.ca_pem());
    assert!(ok, "xmlsec1 refused the VIHF in its envelope: {err}");
    // One value changed: the signature no longer holds.
    let forged = signed.replace("Claire BERNARD", "Claire BERNARDE");
    assert_ne!(forged, signed);
    let (ok, _) = verifies(bin, &forged, pki.ca_pem());
    assert!(!ok, "a changed assertion must not verify");
    // Signed by a certificate of another CA: not trusted.
    let other = TestPki::generate().unwrap();
    let (ok, _) = verifies(bin, &signed, other.ca_pem());
    assert!(!ok, "a signature under another CA must not verify");
}

/// The deposit's XAdES signature document: xmlsec1 verifies its two
/// references (the manifest, the signed properties) under the test CA; the
/// manifest names the submission set and the document, whose digest is the
/// SHA-256 of its bytes; the signing certificate is named by issuer and
/// serial; a changed manifest breaks it.
#[test]
fn the_submission_set_signature_verifies() {
    use base64::Engine;
    use escale::connectors::dmp::xades;
    use sha2::Digest;

    let pki = TestPki::generate().unwrap();
    let sign = pki.signing_cert("ESCALE-DMP-SIGN", "1640000014").unwrap();
    let signer = Signer::from_pem(&sign.cert_pem, &sign.key_pem).unwrap();
    let cda = b"<ClinicalDocument>&amp;</ClinicalDocument>".to_vec();
    let at = Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap();
    let xml = xades::signature_document(
        &signer,
        Uuid::from_u128(9),
        at,
        "2.25.100",
        &[("2.25.4660", cda.as_slice())],
    )
    .unwrap();
    let root = xml::parse(&xml).unwrap();
    let manifest = root.find("Manifest").unwrap();
    let uris: Vec<&str> = manifest
        .children
        .iter()
        .filter_map(|r| r.attribute("URI"))
        .collect();
    assert_eq!(uris, ["urn:oid:2.25.100", "urn:oid:2.25.4660"]);
    assert_eq!(
        manifest.children[1].child_text("DigestValue").unwrap(),
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&cda))
    );
    assert_eq!(
        root.find("SignatureProperty").unwrap().trimmed_text(),
        xades::PURPOSE_SOURCE
    );
    let issuer = root
        .find("X509IssuerName")
        .unwrap()
        .trimmed_text()
        .to_string();
    assert!(
        issuer.contains("CN=TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"),
        "{issuer}"
    );
    // As openssl reads the certificate (RFC 2253 string, serial).
    let dir = tempfile::tempdir().unwrap();
    let cert_file = dir.path().join("sign.pem");
    std::fs::write(&cert_file, &sign.cert_pem).unwrap();
    if let Ok(out) = Command::new("openssl")
        .args([
            "x509", "-noout", "-issuer", "-serial", "-nameopt", "RFC2253", "-in",
        ])
        .arg(&cert_file)
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("issuer={issuer}")),
            "{text} / {issuer}"
        );
        let hex_serial = text
            .lines()
            .find_map(|l| l.strip_prefix("serial="))
            .unwrap()
            .trim()
            .to_string();
        let serial = root
            .find("X509SerialNumber")
            .unwrap()
            .trimmed_text()
            .to_string();
        // The decimal serial read back in hexadecimal.
        let mut value: Vec<u8> = Vec::new();
        for d in serial.bytes().map(|b| b - b'0') {
            let mut carry = u32::from(d);
            for byte in value.iter_mut().rev() {
                let v = u32::from(*byte) * 10 + carry;
                *byte = (v & 0xFF) as u8;
                carry = v >> 8;
            }
            while carry > 0 {
                value.insert(0, (carry & 0xFF) as u8);
                carry >>= 8;
            }
        }
        assert_eq!(
            hex::encode_upper(&value).trim_start_matches('0'),
            hex_serial.trim_start_matches('0')
        );
    }
    assert_eq!(
        root.find("SigningTime").unwrap().trimmed_text(),
        "2026-12-05T09:00:00Z"
    );

    let Some(bin) = xmlsec1() else { return };
    let check = |_name: &str, xml: &str, ca: &str| {
        crate::common::tools::xmlsec1_verifies(
            bin,
            xml,
            ca,
            &[
                // The manifest's own references name the documents by OID
                // (the DMP resolves them); its digest, in SignedInfo, is
                // checked.
                "--ignore-manifests",
                "--id-attr:Id",
                "http://www.w3.org/2000/09/xmldsig#:Manifest",
                "--id-attr:Id",
                "http://uri.etsi.org/01903/v1.1.1#:SignedProperties",
            ],
        )
    };
    let (ok, err) = check("xades.xml", &xml, pki.ca_pem());
    assert!(ok, "xmlsec1 refused the signature document: {err}\n{xml}");
    let forged = xml.replace("urn:oid:2.25.4660", "urn:oid:2.25.4661");
    let (ok, _) = check("forged.xml", &forged, pki.ca_pem());
    assert!(!ok, "a changed manifest must not verify");
    let forged = xml.replace("2026-12-05T09:00:00Z", "2026-12-06T09:00:00Z");
    let (ok, _) = check("forged-time.xml", &forged, pki.ca_pem());
    assert!(!ok, "a changed signing time must not verify");
}
