//! The DMP's VIHF assertion (issue 13): written in exclusive canonical form
//! and signed RSA-SHA256 with the structure's SIGN certificate, verified by
//! an independent implementation (`xmlsec1 --verify`, Debian package
//! xmlsec1) alone and inside a SOAP header; a changed byte breaks it; the
//! TLS (AUTH, ECDSA here) key cannot sign it.

use std::process::Command;

use chrono::{TimeZone, Utc};
use uuid::Uuid;

use escale::connectors::dmp::vihf::{self, AuthenticationMode, Coded, Software, Vihf};
use escale::connectors::dmp::xmldsig::{SignError, Signer};
use escale::connectors::xml;
use escale::domain::ins::{Ins, InsOid, Matricule};
use escale::sandbox::pki::TestPki;

fn xmlsec1() -> Option<&'static str> {
    if Command::new("xmlsec1").arg("--version").output().is_ok() {
        return Some("xmlsec1");
    }
    if std::env::var_os("CI").is_some() {
        panic!("xmlsec1 not found (Debian package xmlsec1)");
    }
    eprintln!("xmlsec1 not found (apt-get install xmlsec1) — this check did not run");
    None
}

/// `xmlsec1 --verify` of the assertion's signature, trusting the test CA.
fn verifies(bin: &str, dir: &std::path::Path, name: &str, xml: &str, ca: &str) -> (bool, String) {
    let file = dir.join(name);
    std::fs::write(&file, xml).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    let out = Command::new(bin)
        .arg("--verify")
        .arg("--id-attr:ID")
        .arg("urn:oasis:names:tc:SAML:2.0:assertion:Assertion")
        .arg("--trusted-pem")
        .arg(&ca_file)
        .arg(&file)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
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
            Coded {
                code: "10".into(),
                system: "1.2.250.1.71.1.2.7".into(),
                label: "Médecin".into(),
            },
            Coded {
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
    let dir = tempfile::tempdir().unwrap();
    let (ok, err) = verifies(bin, dir.path(), "vihf.xml", &signed, pki.ca_pem());
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
    let (ok, err) = verifies(bin, dir.path(), "envelope.xml", &envelope, pki.ca_pem());
    assert!(ok, "xmlsec1 refused the VIHF in its envelope: {err}");
    // One value changed: the signature no longer holds.
    let forged = signed.replace("Claire BERNARD", "Claire BERNARDE");
    assert_ne!(forged, signed);
    let (ok, _) = verifies(bin, dir.path(), "forged.xml", &forged, pki.ca_pem());
    assert!(!ok, "a changed assertion must not verify");
    // Signed by a certificate of another CA: not trusted.
    let other = TestPki::generate().unwrap();
    let (ok, _) = verifies(bin, dir.path(), "other-ca.xml", &signed, other.ca_pem());
    assert!(!ok, "a signature under another CA must not verify");
}
