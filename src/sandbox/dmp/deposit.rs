//! What the DMP sandbox checks in a deposit (TD2.1): the XDS metadata
//! (codes from the tables Escale and the DMP share, hash and size of the
//! CDA, the patient of the VIHF, uniqueId not an entryUUID), the CDA's
//! header and the XAdES signature document of the submission set.

use std::collections::HashMap;

use base64::Engine;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::checks::{Received, Refusal, classification, external_id, registry, sender, slot};
use crate::connectors::dmp::c14n;
use crate::connectors::dmp::xds::{self, NS_RIM, NS_XDSB, scheme};
use crate::connectors::dmp::xmldsig::{self, NS_DS};
use crate::connectors::xml::{self, Element};
use crate::domain::document::document_type;

/// JDV_J61 facility types, JDV_J04 practice settings and JDV_J59 content
/// types (TRE_R209) the sandbox knows (subsets).
const FACILITY_TYPES: [&str; 10] = [
    "SA01", "SA03", "SA04", "SA05", "SA07", "SA21", "SA28", "SA41", "SA43", "SA50",
];
const PRACTICE_SETTINGS: [&str; 3] = ["ESSMS", "AMBULATOIRE", "ETABLISSEMENT"];
const CONTENT_TYPES: [&str; 34] = [
    "03", "04", "07", "08", "09", "11", "13", "14", "15", "16", "17", "18", "19", "20", "21", "22",
    "25", "26", "27", "28", "33", "37", "40", "42", "43", "44", "45", "46", "47", "48", "50", "52",
    "60", "97",
];
const CONFIDENTIALITY: [&str; 4] = [
    "N",
    "MASQUE_PS",
    "INVISIBLE_PATIENT",
    "INVISIBLE_REPRESENTANTS_LEGAUX",
];

/// A deposit accepted by the checks: the entry to register and the entry it replaces.
#[derive(Debug, Clone)]
pub struct Deposit {
    pub unique_id: String,
    pub patient_id: String,
    pub title: String,
    pub type_code: String,
    pub confidentiality: Vec<String>,
    /// healthcareFacilityTypeCode, practiceSettingCode, the set's contentTypeCode.
    pub structure_codes: [String; 3],
    pub replaces: Option<String>,
    pub size: usize,
}

/// TD2.1: the metadata, the documents of the MTOM parts, the CDA header and
/// the XAdES signature. `parts` by Content-ID (without angle brackets).
pub fn check_deposit(r: &Received, parts: &HashMap<String, Vec<u8>>) -> Result<Deposit, Refusal> {
    let op = &r.operation;
    if !op.is(NS_XDSB, "ProvideAndRegisterDocumentSetRequest") {
        return Err(sender(
            "OperationInconnue",
            "ProvideAndRegisterDocumentSetRequest attendu",
        ));
    }
    // Each xdsb:Document: its bytes, from its xop:Include (MTOM).
    let mut documents: HashMap<String, Vec<u8>> = HashMap::new();
    for d in op.children_named("Document") {
        let id = d.attribute("id").unwrap_or_default().to_string();
        let bytes = match d.child("Include") {
            Some(include) => {
                let href = include.attribute("href").unwrap_or_default();
                let cid = href.strip_prefix("cid:").unwrap_or(href);
                parts.get(cid).cloned().ok_or_else(|| {
                    registry("XDSMissingDocument", format!("partie MIME {cid} absente"))
                })?
            }
            None => base64::engine::general_purpose::STANDARD
                .decode(d.trimmed_text())
                .map_err(|_| registry("XDSMissingDocument", format!("document {id} illisible")))?,
        };
        documents.insert(id, bytes);
    }
    let list = op
        .find("RegistryObjectList")
        .ok_or_else(|| registry("XDSRegistryMetadataError", "RegistryObjectList absente"))?;
    let entries: Vec<&Element> = list
        .children_named("ExtrinsicObject")
        .filter(|e| e.is(NS_RIM, "ExtrinsicObject"))
        .collect();
    let is_signature = |e: &&Element| {
        classification(e, scheme::CLASS_CODE).iter().any(|c| {
            c.attribute("nodeRepresentation") == Some("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1")
        })
    };
    let (signatures, cdas): (Vec<&Element>, Vec<&Element>) =
        entries.into_iter().partition(is_signature);
    let [entry] = cdas.as_slice() else {
        return Err(registry(
            "XDSRegistryMetadataError",
            "un document CDA par dépôt attendu",
        ));
    };
    let [signature] = signatures.as_slice() else {
        return Err(registry(
            "XDSRegistryMetadataError",
            "document de signature XAdES (Signature01) absent",
        ));
    };
    let entry_id = entry.attribute("id").unwrap_or_default();
    let cda = documents
        .get(entry_id)
        .ok_or_else(|| registry("XDSMissingDocument", format!("document {entry_id} absent")))?;

    // Codes against the tables.
    let code_of = |scheme_id: &str, what: &str| -> Result<String, Refusal> {
        classification(entry, scheme_id)
            .first()
            .and_then(|c| c.attribute("nodeRepresentation"))
            .map(str::to_string)
            .ok_or_else(|| registry("XDSRegistryMetadataError", format!("{what} absent")))
    };
    let type_code = code_of(scheme::TYPE_CODE, "typeCode")?;
    let Some(doc_type) = document_type(&type_code).filter(|t| t.dmp) else {
        return Err(registry(
            "XDSRegistryMetadataError",
            format!("typeCode {type_code} absent du jeu de valeurs du DMP (JDV_J66)"),
        ));
    };
    let class_code = code_of(scheme::CLASS_CODE, "classCode")?;
    if class_code != doc_type.class_code {
        return Err(registry(
            "XDSRegistryMetadataError",
            format!("classCode {class_code} incohérent avec le typeCode {type_code}"),
        ));
    }
    let format = code_of(scheme::FORMAT_CODE, "formatCode")?;
    if format != xds::pdf_format().code {
        return Err(registry(
            "XDSRegistryMetadataError",
            format!("formatCode {format} inattendu pour un CDA à corps PDF"),
        ));
    }
    let facility = code_of(scheme::FACILITY_TYPE, "healthcareFacilityTypeCode")?;
    if !FACILITY_TYPES.contains(&facility.as_str()) {
        return Err(registry(
            "XDSRegistryMetadataError",
            format!("healthcareFacilityTypeCode {facility} hors JDV_J02"),
        ));
    }
    let practice = code_of(scheme::PRACTICE_SETTING, "practiceSettingCode")?;
    if !PRACTICE_SETTINGS.contains(&practice.as_str()) {
        return Err(registry(
            "XDSRegistryMetadataError",
            format!("practiceSettingCode {practice} hors JDV_J04"),
        ));
    }
    let confidentiality: Vec<String> = classification(entry, scheme::CONFIDENTIALITY)
        .iter()
        .filter_map(|c| c.attribute("nodeRepresentation"))
        .map(str::to_string)
        .collect();
    if !confidentiality.iter().any(|c| c == "N")
        || confidentiality
            .iter()
            .any(|c| !CONFIDENTIALITY.contains(&c.as_str()))
    {
        return Err(registry(
            "XDSRegistryMetadataError",
            "confidentialityCode : N et, au choix, MASQUE_PS / INVISIBLE_PATIENT / INVISIBLE_REPRESENTANTS_LEGAUX",
        ));
    }

    // Hash, size, identifiers, patient.
    if slot(entry, "hash").as_deref() != Some(&hex::encode(<Sha1 as sha1::Digest>::digest(cda))) {
        return Err(registry(
            "XDSRepositoryMetadataError",
            "hash différent du document reçu",
        ));
    }
    if slot(entry, "size").as_deref() != Some(&cda.len().to_string()) {
        return Err(registry(
            "XDSRepositoryMetadataError",
            "size différente du document reçu",
        ));
    }
    let patient_id = external_id(entry, scheme::DOCUMENT_PATIENT_ID)
        .ok_or_else(|| registry("XDSRegistryMetadataError", "patientId absent"))?;
    if r.vihf.patient.as_deref() != Some(patient_id.as_str()) {
        return Err(registry(
            "XDSPatientIdDoesNotMatch",
            "le patientId du document n'est pas le patient du VIHF",
        ));
    }
    let unique_id = external_id(entry, scheme::DOCUMENT_UNIQUE_ID)
        .ok_or_else(|| registry("XDSRegistryMetadataError", "uniqueId absent"))?;
    if unique_id.starts_with("urn:uuid:") {
        return Err(registry(
            "XDSDocumentUniqueIdError",
            "uniqueId attendu (OID), pas un entryUUID",
        ));
    }
    check_cda(cda, &unique_id, &patient_id)?;

    // The XAdES signature: over the submission set and this CDA.
    let package = list
        .children_named("RegistryPackage")
        .next()
        .ok_or_else(|| registry("XDSRegistryMetadataError", "lot de soumission absent"))?;
    let submission_unique = external_id(package, scheme::SUBMISSION_UNIQUE_ID)
        .ok_or_else(|| registry("XDSRegistryMetadataError", "uniqueId du lot absent"))?;
    let content = classification(package, scheme::CONTENT_TYPE)
        .first()
        .and_then(|c| c.attribute("nodeRepresentation"))
        .unwrap_or_default()
        .to_string();
    if !CONTENT_TYPES.contains(&content.as_str()) {
        return Err(registry(
            "XDSRegistryMetadataError",
            format!("contentTypeCode « {content} » du lot hors JDV_J59"),
        ));
    }
    let signature_bytes = documents
        .get(signature.attribute("id").unwrap_or_default())
        .ok_or_else(|| registry("XDSMissingDocument", "document de signature absent"))?;
    check_xades(signature_bytes, &submission_unique, &unique_id, cda)?;

    let replaces = list
        .children_named("Association")
        .find(|a| a.attribute("associationType") == Some(scheme::REPLACES))
        .map(|a| a.attribute("targetObject").unwrap_or_default().to_string());
    let title = entry
        .child("Name")
        .and_then(|n| n.child("LocalizedString"))
        .and_then(|l| l.attribute("value"))
        .unwrap_or_default()
        .to_string();
    Ok(Deposit {
        unique_id,
        patient_id,
        title,
        type_code,
        confidentiality: confidentiality.into_iter().filter(|c| c != "N").collect(),
        structure_codes: [facility, practice, content],
        replaces,
        size: cda.len(),
    })
}

/// The CDA's header as the DMP reads it: the CI-SIS templates, its id the
/// uniqueId, the patient the metadata's.
fn check_cda(cda: &[u8], unique_id: &str, patient_id: &str) -> Result<(), Refusal> {
    let bad = |why: String| registry("XDSRepositoryMetadataError", format!("CDA refusé : {why}"));
    let text = std::str::from_utf8(cda).map_err(|_| bad("pas de l'UTF-8".into()))?;
    let doc = xml::parse(text).map_err(bad)?;
    if !doc.is("urn:hl7-org:v3", "ClinicalDocument") {
        return Err(bad("ClinicalDocument HL7 v3 attendu".into()));
    }
    let templates: Vec<&str> = doc
        .children_named("templateId")
        .filter_map(|t| t.attribute("root"))
        .collect();
    for required in ["2.16.840.1.113883.2.8.2.1", "1.2.250.1.213.1.1.1.1"] {
        if !templates.contains(&required) {
            return Err(bad(format!("templateId {required} absent")));
        }
    }
    if doc.child("id").and_then(|i| i.attribute("root")) != Some(unique_id) {
        return Err(bad("id du CDA différent du uniqueId".into()));
    }
    let ins_ok = doc
        .find("patientRole")
        .map(|p| {
            p.children_named("id").any(|id| {
                let root = id.attribute("root").unwrap_or_default();
                let ext = id.attribute("extension").unwrap_or_default();
                patient_id == format!("{ext}^^^&{root}&ISO^NH")
            })
        })
        .unwrap_or(false);
    if !ins_ok {
        return Err(bad("l'INS du CDA n'est pas le patientId".into()));
    }
    if doc.find("nonXMLBody").is_none() {
        return Err(bad("corps non structuré (nonXMLBody) absent".into()));
    }
    Ok(())
}

/// The XAdES document: its SignedInfo references (manifest, signed
/// properties) digest, its signature verifies, its manifest's digest of the
/// CDA is that of the bytes received.
fn check_xades(
    signature: &[u8],
    submission_unique: &str,
    unique_id: &str,
    cda: &[u8],
) -> Result<(), Refusal> {
    let bad = |why: &str| {
        registry(
            "XDSRegistryMetadataError",
            format!("signature XAdES du lot refusée : {why}"),
        )
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let text = std::str::from_utf8(signature).map_err(|_| bad("pas de l'UTF-8"))?;
    let doc = c14n::Element::parse(text).map_err(|e| bad(&e))?;
    let signed_info = doc
        .element(NS_DS, "SignedInfo")
        .ok_or_else(|| bad("SignedInfo absent"))?;
    for reference in signed_info
        .elements()
        .filter(|e| e.local_name() == "Reference")
    {
        let uri = reference.attribute("URI").unwrap_or_default();
        let id = uri
            .strip_prefix('#')
            .ok_or_else(|| bad("référence non locale"))?;
        let target = doc
            .with_attribute("Id", id)
            .ok_or_else(|| bad("cible de référence introuvable"))?;
        let digest = reference
            .element(NS_DS, "DigestValue")
            .map(|d| d.text_content())
            .unwrap_or_default();
        if b64.encode(Sha256::digest(target.canonical().as_bytes())) != digest.trim() {
            return Err(bad("empreinte d'une référence différente"));
        }
    }
    xmldsig::signature_value(&doc).map_err(|e| bad(&e))?;
    let manifest = doc
        .with_attribute("Id", "IHEManifest")
        .ok_or_else(|| bad("manifeste IHEManifest absent"))?;
    let references: HashMap<String, String> = manifest
        .elements()
        .filter(|e| e.local_name() == "Reference")
        .map(|r| {
            (
                r.attribute("URI").unwrap_or_default().to_string(),
                r.element(NS_DS, "DigestValue")
                    .map(|d| d.text_content().trim().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    if !references.contains_key(&format!("urn:oid:{submission_unique}")) {
        return Err(bad("le lot n'est pas dans le manifeste"));
    }
    if references.get(&format!("urn:oid:{unique_id}")) != Some(&b64.encode(Sha256::digest(cda))) {
        return Err(bad("empreinte du document différente dans le manifeste"));
    }
    Ok(())
}
