//! The XDS.b metadata of a DMP deposit (issue 13): valid against the DMP
//! package's ITI-41 schema (`xmllint --schema`), every identifier the one of
//! the IHE table (`terminology/xds_metadata_identifiers.csv`), the hash and
//! size those of the CDA, values escaped.

use chrono::{NaiveDate, TimeZone, Utc};

use escale::connectors::dmp::xds::{self, Author, PatientInfo, Submission, scheme};
use escale::connectors::xml;
use escale::domain::ins::{Ins, InsOid, Matricule};
use escale::domain::terminology::Code;

fn coded(code: &str, system: &str, label: &str) -> Code {
    Code::new(code, system, label)
}

#[test]
fn a_deposit_s_metadata_follows_the_iti_41_schema() {
    let ins = Ins {
        matricule: Matricule::from_insi("2751263220749", "74").unwrap().0,
        oid: InsOid::NirTest,
    };
    let cda = b"<ClinicalDocument/> & more".to_vec();
    let at = Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap();
    let s = Submission {
        submission_id: "2.25.1234".into(),
        source_id: "2.25.99",
        submitted_at: at,
        patient: &ins,
        patient_info: PatientInfo {
            family: "ADRUN",
            given: "ZOE",
            birth_date: NaiveDate::from_ymd_opt(1975, 12, 31).unwrap(),
            sex: "F",
        },
        author: Author {
            idnps: "810000000017",
            family: "BERNARD",
            given: "CLAIRE",
            specialty: Some(coded("G15_10", "1.2.250.1.213.1.1.4.5", "Médecin")),
            institution: "CSAPA Les Embruns & <Cie>",
            idnst: "1640000014",
        },
        content_type: coded("19", "1.2.250.1.213.2.2", "Traitement et cure ambulatoire"),
        document_id: "2.25.4660".into(),
        title: "Lettre \"d'entrée\" <b>",
        created_at: at,
        service_start: at,
        type_code: coded(
            "88348-8",
            "2.16.840.1.113883.6.1",
            "Lettre de liaison d'entrée en structure sociale ou médico-sociale",
        ),
        class_code: coded("11", "1.2.250.1.213.1.1.4.1", "Synthèse"),
        confidentiality: vec![
            coded("N", "2.16.840.1.113883.5.25", "Normal"),
            coded(
                "MASQUE_PS",
                "1.2.250.1.213.1.1.4.13",
                "Masqué aux professionnels de santé",
            ),
        ],
        facility_type: coded(
            "SA41",
            "1.2.250.1.71.4.2.4",
            "Autre établissement du domaine social ou médico-social",
        ),
        practice_setting: coded(
            "ESSMS",
            "1.2.250.1.213.1.1.4.9",
            "Etablissement ou Service Social ou Médico-Social",
        ),
        replaces: Some("urn:uuid:7f3c1a7e-0000-4000-8000-000000000001"),
        cda: &cda,
        signature: Some(("2.25.4661".into(), b"<ds:Signature/>".as_slice())),
    };
    let body = xds::provide_and_register(&s);
    let root = xml::parse(&body).unwrap();
    assert!(root.is(xds::NS_XDSB, "ProvideAndRegisterDocumentSetRequest"));
    let entry = root.find("ExtrinsicObject").unwrap();
    let slot = |name: &str| -> Vec<String> {
        entry
            .children_named("Slot")
            .find(|s| s.attribute("name") == Some(name))
            .unwrap_or_else(|| panic!("slot {name}"))
            .find("ValueList")
            .unwrap()
            .children
            .iter()
            .map(|v| v.trimmed_text().to_string())
            .collect()
    };
    {
        use sha1::Digest;
        assert_eq!(slot("hash"), [hex::encode(sha1::Sha1::digest(&cda))]);
    }
    assert_eq!(slot("size"), [cda.len().to_string()]);
    assert_eq!(
        slot("sourcePatientId"),
        ["275126322074974^^^&1.2.250.1.213.1.4.10&ISO^NH".to_string()]
    );
    let confidentiality: Vec<&str> = entry
        .children_named("Classification")
        .filter(|c| c.attribute("classificationScheme") == Some(scheme::CONFIDENTIALITY))
        .filter_map(|c| c.attribute("nodeRepresentation"))
        .collect();
    assert_eq!(confidentiality, ["N", "MASQUE_PS"]);
    let replace = root
        .find("RegistryObjectList")
        .unwrap()
        .children_named("Association")
        .find(|a| a.attribute("associationType") == Some(scheme::REPLACES))
        .unwrap();
    assert_eq!(replace.attribute("sourceObject"), Some("Document01"));
    // The signature document: its entry, HasMember, and « signs » the set.
    let associations: Vec<(&str, &str, &str)> = root
        .find("RegistryObjectList")
        .unwrap()
        .children_named("Association")
        .map(|a| {
            (
                a.attribute("associationType").unwrap(),
                a.attribute("sourceObject").unwrap(),
                a.attribute("targetObject").unwrap(),
            )
        })
        .collect();
    assert!(associations.contains(&(scheme::SIGNS, "Signature01", "SubmissionSet01")));
    assert!(associations.contains(&(scheme::HAS_MEMBER, "SubmissionSet01", "Signature01")));
    assert_eq!(root.children_named("Document").count(), 2);
    assert!(body.contains("CSAPA Les Embruns &amp; &lt;Cie&gt;"));

    // Every identifier is the IHE table's.
    if let Some(table) =
        crate::common::tools::shared("spec/dmp-mss/terminology/xds_metadata_identifiers.csv")
    {
        let text = std::fs::read_to_string(table).unwrap();
        for id in [
            scheme::SUBMISSION_SET_NODE,
            scheme::SUBMISSION_AUTHOR,
            scheme::CONTENT_TYPE,
            scheme::SUBMISSION_PATIENT_ID,
            scheme::SOURCE_ID,
            scheme::SUBMISSION_UNIQUE_ID,
            scheme::STABLE_DOCUMENT,
            scheme::DOCUMENT_AUTHOR,
            scheme::CLASS_CODE,
            scheme::CONFIDENTIALITY,
            scheme::FORMAT_CODE,
            scheme::FACILITY_TYPE,
            scheme::PRACTICE_SETTING,
            scheme::TYPE_CODE,
            scheme::DOCUMENT_PATIENT_ID,
            scheme::DOCUMENT_UNIQUE_ID,
            scheme::HAS_MEMBER,
            scheme::REPLACES,
            scheme::SIGNS,
            scheme::EVENT_CODE,
        ] {
            assert!(
                text.contains(&format!(",{id},")),
                "{id} not in the IHE table"
            );
        }
    }

    // The DMP package's ITI-41 schema.
    crate::common::tools::assert_schema_valid(
        "spec/dmp-mss/dmp/wsdl-schema/schema/IHE/XDS.b_DocumentRepository.xsd",
        "iti41",
        &body,
    );
}

/// A whole TD2.1 request: the CDA of `documents::cda` in its own MTOM part,
/// the envelope with WS-Addressing and the signed VIHF; read back with an
/// independent multipart parser (multer): the parts, their ids and the
/// bytes are what was packed, and xmlsec1 verifies the VIHF inside the
/// root part as sent.
#[tokio::test]
async fn a_deposit_request_is_packed_in_mtom_with_its_vihf() {
    use escale::connectors::dmp::soap::{self, Part};
    use escale::connectors::dmp::vihf::{self, AuthenticationMode, Software, Vihf};
    use escale::connectors::dmp::xmldsig::Signer;
    use futures_util::stream;

    let ins = Ins {
        matricule: Matricule::from_insi("2751263220749", "74").unwrap().0,
        oid: InsOid::NirTest,
    };
    let at = Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap();
    // Bytes that look like MIME to a careless reader.
    let cda = b"<ClinicalDocument>\r\n--not-the-boundary\r\nContent-ID: <x>\r\n\r\n\x00\xff</ClinicalDocument>".to_vec();
    let pki = escale::sandbox::pki::TestPki::generate().unwrap();
    let sign = pki.signing_cert("ESCALE-DMP-SIGN", "1640000014").unwrap();
    let signer = Signer::from_pem(&sign.cert_pem, &sign.key_pem).unwrap();
    let software = Software {
        id: "escale".into(),
        name: "Escale".into(),
        version: "0.1.0".into(),
        homologation: "HOMOLOGATION-TEST".into(),
    };
    let assertion = vihf::assertion(
        &Vihf {
            id: uuid::Uuid::new_v4(),
            issued_at: at,
            issuer: "CN=ESCALE-DMP-SIGN,OU=1640000014",
            professional_id: "810000000017",
            professional_name: "Claire BERNARD",
            roles: vec![coded("10", "1.2.250.1.71.1.2.7", "Médecin")],
            structure_id: "1640000014",
            sector: "SA41",
            mode: AuthenticationMode::IndirecteRenforcee,
            patient: Some(&ins),
            software: &software,
        },
        &signer,
    )
    .unwrap()
    .canonical();
    let submission = Submission {
        submission_id: "2.25.1".into(),
        source_id: "2.25.2",
        submitted_at: at,
        patient: &ins,
        patient_info: PatientInfo {
            family: "ADRUN",
            given: "ZOE",
            birth_date: NaiveDate::from_ymd_opt(1975, 12, 31).unwrap(),
            sex: "F",
        },
        author: Author {
            idnps: "810000000017",
            family: "BERNARD",
            given: "CLAIRE",
            specialty: None,
            institution: "CSAPA",
            idnst: "1640000014",
        },
        content_type: coded("19", "1.2.250.1.213.2.2", "Traitement et cure ambulatoire"),
        document_id: "2.25.3".into(),
        title: "Lettre",
        created_at: at,
        service_start: at,
        type_code: coded(
            "88348-8",
            "2.16.840.1.113883.6.1",
            "Lettre de liaison d'entrée",
        ),
        class_code: coded("11", "1.2.250.1.213.1.1.4.1", "Synthèse"),
        confidentiality: vec![coded("N", "2.16.840.1.113883.5.25", "Normal")],
        facility_type: coded("SA41", "1.2.250.1.71.4.2.4", "Autre"),
        practice_setting: coded("ESSMS", "1.2.250.1.213.1.1.4.9", "ESSMS"),
        replaces: None,
        cda: &cda,
        signature: None,
    };
    let cid = "document01@escale";
    let body = xds::provide_and_register_xop(&submission, cid);
    // Put back inline, it is the schema-valid request of the test above.
    let include = format!(
        r#"<xop:Include xmlns:xop="{}" href="cid:{cid}"/>"#,
        xds::NS_XOP
    );
    assert!(body.contains(&include), "{body}");
    use base64::Engine;
    assert_eq!(
        body.replace(
            &include,
            &base64::engine::general_purpose::STANDARD.encode(&cda)
        ),
        xds::provide_and_register(&submission)
    );
    let action = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b";
    let envelope = soap::envelope(
        action,
        "https://dmp.test/si-dmp-server/v2/services/repository",
        uuid::Uuid::from_u128(7),
        &assertion,
        &body,
    );
    let package = soap::mtom(
        &envelope,
        action,
        &[Part {
            content_id: cid,
            content_type: "text/xml",
            bytes: &cda,
        }],
    )
    .unwrap();
    assert!(
        package
            .content_type
            .starts_with("multipart/related; type=\"application/xop+xml\"")
    );

    // (multer's own parse_boundary takes form-data only.)
    let boundary = package
        .content_type
        .split("boundary=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let body_bytes = bytes::Bytes::from(package.body.clone());
    let mut parts = multer::Multipart::new(
        stream::once(async move { Ok::<_, std::convert::Infallible>(body_bytes) }),
        boundary,
    );
    let mut read = Vec::new();
    while let Some(field) = parts.next_field().await.unwrap() {
        let id = field.headers()["content-id"].to_str().unwrap().to_string();
        let kind = field.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        read.push((id, kind, field.bytes().await.unwrap().to_vec()));
    }
    assert_eq!(read.len(), 2);
    assert_eq!(read[0].0, format!("<{}>", soap::ROOT_ID));
    assert!(read[0].1.starts_with("application/xop+xml"));
    assert_eq!(read[0].2, envelope.as_bytes());
    assert_eq!(read[1].0, format!("<{cid}>"));
    assert_eq!(read[1].2, cda, "the CDA's bytes, unchanged");
    let root = xml::parse(std::str::from_utf8(&read[0].2).unwrap()).unwrap();
    assert_eq!(root.find("Action").unwrap().trimmed_text(), action);
    assert!(root.find("Assertion").is_some());

    // The VIHF as it travels verifies.
    let Some(xmlsec1) = crate::common::tools::tool("xmlsec1", "xmlsec1") else {
        return;
    };
    let (ok, err) = crate::common::tools::xmlsec1_verifies(
        xmlsec1,
        std::str::from_utf8(&read[0].2).unwrap(),
        pki.ca_pem(),
        &[
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
        ],
    );
    assert!(ok, "{err}");
}
