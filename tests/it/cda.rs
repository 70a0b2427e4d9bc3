//! The CDA R2 level 1 generator (issue 13): valid against the CDA schema of
//! the CI-SIS (`xmllint --schema`) and its structuration minimale schematron
//! (Saxon-HE), the header as research/dmp-mss.md §3 lists it, hostile strings
//! escaped, the PDF intact.

use base64::Engine;
use chrono::{NaiveDate, TimeZone, Utc};
use uuid::Uuid;

use escale::connectors::xml;
use escale::documents::cda::{self, Cda, Code, Organization, Professional};
use escale::domain::document::document_type;
use escale::domain::ins::{Ins, InsOid, Matricule};
use escale::domain::sharing::ShareableIdentity;
use escale::domain::usager::Sex;

const HOSTILE: &str = "<b>Lettre</b> & \"suivi\" ]]> d'entrée";
const PDF: &[u8] = b"%PDF-1.7\n\x00\xff binary \n%%EOF\n";
/// The CI-SIS structuration minimale template, one of the three templateIds.
const STRUCT_MIN_TEMPLATE: &str = "1.2.250.1.213.1.1.1.1";

fn sample(ins: &Ins, pdf: &[u8], replaces: Option<Uuid>) -> String {
    let doc_type = document_type("88348-8").unwrap();
    let at = Utc.with_ymd_and_hms(2026, 12, 5, 9, 30, 0).unwrap();
    let author = Professional {
        idnps: "810000000017",
        given: "Claire",
        family: "Bernard <Dr>",
        specialty: Some(Code::new("G15_10", "1.2.250.1.213.1.1.4.5", "Médecin")),
    };
    cda::render(&Cda {
        id: Uuid::from_u128(0x1234),
        set_id: Uuid::from_u128(0x5678),
        version: if replaces.is_some() { 2 } else { 1 },
        replaces,
        doc_type,
        title: HOSTILE,
        effective_time: at,
        service_time: at,
        patient: ShareableIdentity {
            ins,
            birth_name: "ADRUN",
            first_names: "ZOE MARIE",
            birth_date: NaiveDate::from_ymd_opt(1975, 12, 31).unwrap(),
            sex: Sex::F,
            birth_place_code: Some("63220"),
        },
        author: author.clone(),
        legal_authenticator: author,
        structure: Organization {
            finess: "640000014",
            name: "CSAPA Les Embruns & Cie",
            facility_type: Code::new(
                "SA41",
                "1.2.250.1.71.4.2.4",
                "Autre établissement du domaine social ou médico-social",
            ),
            practice_setting: Code::new(
                "ESSMS",
                "1.2.250.1.213.1.1.4.9",
                "Etablissement ou Service Social ou Médico-Social",
            ),
        },
        pdf,
    })
}

fn ins() -> Ins {
    Ins {
        matricule: Matricule::from_insi("2751263220749", "74").unwrap().0,
        oid: InsOid::NirTest,
    }
}

#[test]
fn a_cda_r2_n1_follows_the_schema_and_the_minimal_header() {
    let pdf = PDF;
    let ins = ins();
    let doc = sample(&ins, pdf, None);
    let root = xml::parse(&doc).expect("well-formed");
    assert!(root.is("urn:hl7-org:v3", "ClinicalDocument"));
    let templates: Vec<&str> = root
        .children_named("templateId")
        .filter_map(|t| t.attribute("root"))
        .collect();
    assert_eq!(
        templates,
        [
            "2.16.840.1.113883.2.8.2.1",
            "1.2.250.1.213.1.1.1.1",
            "1.3.6.1.4.1.19376.1.2.20"
        ]
    );
    assert_eq!(root.child_text("title").as_deref(), Some(HOSTILE));
    assert_eq!(
        root.child("id").unwrap().attribute("root"),
        Some(cda::uuid_oid(Uuid::from_u128(0x1234)).as_str())
    );
    assert_eq!(cda::uuid_oid(Uuid::from_u128(0x1234)), "2.25.4660");
    assert_eq!(
        root.child("versionNumber").unwrap().attribute("value"),
        Some("1")
    );
    assert_eq!(
        root.child("code").unwrap().attribute("code"),
        Some("88348-8")
    );
    assert!(root.child("relatedDocument").is_none());
    // The INS, typed by its OID, and every INS trait.
    let patient_role = root.find("patientRole").unwrap();
    let id = patient_role.child("id").unwrap();
    assert_eq!(id.attribute("root"), Some("1.2.250.1.213.1.4.10"));
    assert_eq!(id.attribute("extension"), Some("275126322074974"));
    let name = patient_role.find("name").unwrap();
    let names: Vec<(Option<&str>, String)> = name
        .children
        .iter()
        .map(|n| (n.attribute("qualifier"), n.trimmed_text().to_string()))
        .collect();
    assert_eq!(
        names,
        [
            (Some("BR"), "ADRUN".to_string()),
            (None, "ZOE MARIE".to_string()),
            (Some("BR"), "ZOE".to_string())
        ]
    );
    assert_eq!(
        patient_role.find("birthTime").unwrap().attribute("value"),
        Some("19751231")
    );
    assert_eq!(patient_role.find("county").unwrap().trimmed_text(), "63220");
    assert_eq!(
        patient_role
            .find("administrativeGenderCode")
            .unwrap()
            .attribute("code"),
        Some("F")
    );
    // Structure: custodian, facility type, practice setting.
    assert_eq!(
        root.find("representedCustodianOrganization")
            .unwrap()
            .child_text("name")
            .as_deref(),
        Some("CSAPA Les Embruns & Cie")
    );
    assert_eq!(
        root.find("healthCareFacility")
            .unwrap()
            .child("code")
            .unwrap()
            .attribute("code"),
        Some("SA41")
    );
    assert_eq!(
        root.find("standardIndustryClassCode")
            .unwrap()
            .attribute("code"),
        Some("ESSMS")
    );
    assert_eq!(
        root.find("legalAuthenticator")
            .unwrap()
            .find("id")
            .unwrap()
            .attribute("extension"),
        Some("810000000017")
    );
    // The PDF, byte for byte.
    let text = root.find("nonXMLBody").unwrap().child("text").unwrap();
    assert_eq!(text.attribute("mediaType"), Some("application/pdf"));
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(text.trimmed_text())
        .unwrap();
    assert_eq!(decoded, pdf);
    assert!(!doc.contains("<b>Lettre"), "the title is escaped");

    // A new version names the one it replaces.
    let v2 = sample(&ins, pdf, Some(Uuid::from_u128(0x9999)));
    let root2 = xml::parse(&v2).unwrap();
    assert_eq!(
        root2.child("versionNumber").unwrap().attribute("value"),
        Some("2")
    );
    let related = root2.child("relatedDocument").unwrap();
    assert_eq!(related.attribute("typeCode"), Some("RPLC"));
    assert_eq!(
        related.find("id").unwrap().attribute("root"),
        Some(cda::uuid_oid(Uuid::from_u128(0x9999)).as_str())
    );

    for (name, document) in [("v1", &doc), ("v2", &v2)] {
        assert_schema_valid(name, document);
    }
}

#[test]
fn a_cda_r2_n1_and_its_new_version_pass_the_structuration_minimale_schematron() {
    let ins = ins();
    let v1 = sample(&ins, PDF, None);
    let v2 = sample(&ins, PDF, Some(Uuid::from_u128(0x9999)));
    assert!(v2.contains("typeCode=\"RPLC\""));
    crate::common::tools::assert_schematron_clean(&[("v1", &v1), ("v2 (RPLC)", &v2)]);
}

/// The schematron check is not vacuous: without the structuration minimale
/// templateId, the same document fails it.
#[test]
fn a_cda_without_its_structuration_minimale_template_id_fails_the_schematron() {
    let doc = sample(&ins(), PDF, None);
    let template = format!("<templateId root=\"{STRUCT_MIN_TEMPLATE}\"/>");
    let without = doc.replacen(&template, "", 1);
    assert_ne!(without, doc, "{template} not found in\n{doc}");
    let Some(reports) =
        crate::common::tools::struct_min_failed_asserts(&[("without templateId", &without)])
    else {
        return;
    };
    let failed = &reports[0];
    assert!(!failed.is_empty(), "no failed assert without {template}");
    assert!(
        failed.iter().any(|f| f.text.contains(STRUCT_MIN_TEMPLATE)),
        "no failed assert names {STRUCT_MIN_TEMPLATE}: {failed:#?}"
    );
}

/// `xmllint --schema` against the CI-SIS CDA schema (says so when it cannot run).
fn assert_schema_valid(name: &str, document: &str) {
    crate::common::tools::assert_schema_valid(
        "spec/dmp-mss/cda/xsd/CDA_extended.xsd",
        name,
        document,
    );
}
