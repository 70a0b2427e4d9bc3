//! What the DMP sandbox checks in a request, as strictly as the DMP:
//! SOAP 1.2, the WS-Addressing action of the service called, the VIHF (its
//! signature, a certificate of the test PKI made for signing — never the
//! AUTH one —, its attributes), and for a deposit the XDS metadata (codes
//! from the tables Escale and the DMP share, hash and size of the CDA, the
//! patient of the VIHF), the CDA's header, the XAdES signature document.

use std::collections::HashMap;

use base64::Engine;
use rustls::pki_types::{CertificateDer, UnixTime};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::connectors::certificate::key_usage;
use crate::connectors::dmp::c14n;
use crate::connectors::dmp::requests::{self, action};
use crate::connectors::dmp::soap::{NS_SOAP12, NS_WSA};
use crate::connectors::dmp::vihf::NS_SAML2;
use crate::connectors::dmp::xds::{self, NS_RIM, NS_XDSB, scheme};
use crate::connectors::dmp::xmldsig::{self, NS_DS};
use crate::connectors::xml::{self, Element};
use crate::domain::document::document_type;

/// Why a request is refused: a SOAP fault, or a registry error (for what a
/// registry judges: metadata, identifiers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Fault {
        code: &'static str,
        subcode: String,
        reason: String,
    },
    Registry {
        code: String,
        context: String,
    },
}

fn sender(subcode: &str, reason: impl Into<String>) -> Refusal {
    Refusal::Fault {
        code: "Sender",
        subcode: subcode.to_string(),
        reason: reason.into(),
    }
}

fn registry(code: &str, context: impl Into<String>) -> Refusal {
    Refusal::Registry {
        code: code.to_string(),
        context: context.into(),
    }
}

/// What the VIHF says (once verified).
#[derive(Debug, Clone, Default)]
pub struct VihfFacts {
    pub structure: String,
    pub sector: String,
    pub professional: String,
    /// `resource-id`: the patient whose DMP is reached.
    pub patient: Option<String>,
}

/// A request as read: its action and message id, the VIHF's facts and the
/// operation's element.
#[derive(Debug, Clone)]
pub struct Received {
    pub action: String,
    pub message_id: String,
    pub vihf: VihfFacts,
    pub operation: Element,
}

/// The envelope and its VIHF. `envelope` is the root part's text.
pub fn read(service: &str, envelope: &str, ca_der: &[u8]) -> Result<Received, Refusal> {
    let root = xml::parse(envelope).map_err(|e| sender("XMLMalforme", e))?;
    if !root.is(NS_SOAP12, "Envelope") {
        return Err(Refusal::Fault {
            code: "VersionMismatch",
            subcode: "SOAP12".into(),
            reason: "enveloppe SOAP 1.2 attendue".into(),
        });
    }
    let header = root
        .child("Header")
        .ok_or_else(|| sender("EnteteAbsente", "en-tête SOAP absent"))?;
    let wsa = |name: &str| {
        header
            .children
            .iter()
            .find(|c| c.is(NS_WSA, name))
            .map(|c| c.trimmed_text().to_string())
    };
    let action = wsa("Action").ok_or_else(|| sender("ActionAbsente", "wsa:Action absent"))?;
    if requests::service_of(&action) != Some(service) {
        return Err(sender(
            "ActionNonSupportee",
            format!("l'action {action} n'est pas servie par le service {service}"),
        ));
    }
    let message_id =
        wsa("MessageID").ok_or_else(|| sender("MessageIDAbsent", "wsa:MessageID absent"))?;
    if !message_id.starts_with("urn:uuid:") {
        return Err(sender(
            "MessageIDInvalide",
            "wsa:MessageID urn:uuid: attendu",
        ));
    }
    let operation = root
        .child("Body")
        .and_then(|b| b.children.first())
        .cloned()
        .ok_or_else(|| sender("CorpsVide", "corps SOAP vide"))?;
    let vihf = check_vihf(envelope, ca_der, service)?;
    Ok(Received {
        action,
        message_id,
        vihf,
        operation,
    })
}

fn invalid_certificate(why: &str) -> Refusal {
    // The DMP's own words (research/dmp-mss.md §7.1).
    sender(
        "DMPInvalidCertificate",
        format!("Le certificat ayant signé le VIHF est invalide : {why}"),
    )
}

/// The VIHF: signed by a SIGN certificate of the PKI, with every attribute
/// the DMP requires.
fn check_vihf(envelope: &str, ca_der: &[u8], service: &str) -> Result<VihfFacts, Refusal> {
    let tree = c14n::Element::parse(envelope).map_err(|e| sender("XMLMalforme", e))?;
    let assertion = tree.descendant(NS_SAML2, "Assertion").ok_or_else(|| {
        sender(
            "DMPVIHFAbsent",
            "aucun VIHF (saml2:Assertion) dans wsse:Security",
        )
    })?;
    let cert = xmldsig::verify_enveloped(assertion).map_err(|e| {
        sender(
            "DMPInvalidSignature",
            format!("signature du VIHF refusée : {e}"),
        )
    })?;
    let der = CertificateDer::from(cert.as_slice());
    let end_entity = webpki::EndEntityCert::try_from(&der)
        .map_err(|_| invalid_certificate("certificat illisible"))?;
    let ca = CertificateDer::from(ca_der);
    let anchor = webpki::anchor_from_trusted_cert(&ca)
        .map_err(|_| invalid_certificate("autorité de test illisible"))?;
    end_entity
        .verify_for_usage(
            &[
                webpki::ring::ECDSA_P256_SHA256,
                webpki::ring::ECDSA_P384_SHA384,
                webpki::ring::RSA_PKCS1_2048_8192_SHA256,
            ],
            &[anchor],
            &[],
            UnixTime::now(),
            webpki::KeyUsage::client_auth(),
            None,
            None,
        )
        .map_err(|e| invalid_certificate(&format!("non émis par l'IGC de confiance ({e})")))?;
    match key_usage(&cert) {
        Ok(Some(u)) if u.non_repudiation => {}
        _ => return Err(invalid_certificate("Not a valid signature certificate")),
    }

    let parsed = xml::parse(&assertion.canonical()).map_err(|e| sender("XMLMalforme", e))?;
    let attributes: HashMap<String, &Element> = parsed
        .find("AttributeStatement")
        .map(|s| {
            s.children_named("Attribute")
                .filter_map(|a| a.attribute("Name").map(|n| (n.to_string(), a)))
                .collect()
        })
        .unwrap_or_default();
    let value = |name: &str| -> Result<String, Refusal> {
        attributes
            .get(name)
            .and_then(|a| a.child("AttributeValue"))
            .map(|v| v.trimmed_text().to_string())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                sender(
                    "DMPVIHFInvalide",
                    format!("attribut VIHF « {name} » absent"),
                )
            })
    };
    let version = value("VIHF_Version")?;
    if version != "3.0" && version != "4.0" {
        return Err(sender(
            "DMPVIHFInvalide",
            format!("VIHF_Version {version} inconnue"),
        ));
    }
    let structure = value("Identifiant_Structure")?;
    let sector = value("Secteur_Activite")?;
    let Some(code) = sector.strip_suffix("^1.2.250.1.71.4.2.4") else {
        return Err(sender(
            "DMPVIHFInvalide",
            "Secteur_Activite : code^1.2.250.1.71.4.2.4 attendu",
        ));
    };
    if !SECTORS.contains(&code) {
        return Err(sender(
            "DMPVIHFInvalide",
            format!("Secteur_Activite {code} hors du jeu de valeurs JDV_J61"),
        ));
    }
    let professional = value("urn:oasis:names:tc:xspa:1.0:subject:subject-id")?;
    let roles = attributes
        .get("urn:oasis:names:tc:xacml:2.0:subject:role")
        .map(|a| a.children_named("AttributeValue").count())
        .unwrap_or(0);
    if roles == 0 {
        return Err(sender("DMPVIHFInvalide", "attribut VIHF « role » absent"));
    }
    if !attributes.contains_key("urn:oasis:names:tc:xspa:1.0:subject:purposeofuse") {
        return Err(sender(
            "DMPVIHFInvalide",
            "attribut VIHF « purposeofuse » absent",
        ));
    }
    let mode = attributes
        .get("Authentification_Mode")
        .or_else(|| attributes.get("Authentification_mode"))
        .and_then(|a| a.child("AttributeValue"))
        .map(|v| v.trimmed_text().to_string())
        .unwrap_or_default();
    if !["INDIRECTE", "INDIRECTE_RENFORCEE", "DIRECTE"].contains(&mode.as_str()) {
        return Err(sender(
            "DMPVIHFInvalide",
            "Authentification_Mode absent ou inconnu",
        ));
    }
    if value("Ressource_URN")? != "urn:dmp" {
        return Err(sender("DMPVIHFInvalide", "Ressource_URN urn:dmp attendu"));
    }
    for name in [
        "LPS_ID",
        "LPS_Nom",
        "LPS_Version",
        "LPS_ID_HOMOLOGATION_DMP",
    ] {
        value(name)?;
    }
    let patient = value("urn:oasis:names:tc:xacml:2.0:resource:resource-id").ok();
    if patient.is_none() && service != requests::PATIENTS {
        return Err(sender(
            "DMPVIHFInvalide",
            "attribut VIHF « resource-id » (patient) absent",
        ));
    }
    Ok(VihfFacts {
        structure,
        sector: code.to_string(),
        professional,
        patient,
    })
}

/// JDV_J61 (HealthcareFacilityTypeCode-DMP), the sectors a medico-social
/// structure or a health centre declares (subset).
const SECTORS: [&str; 8] = [
    "SA01", "SA05", "SA07", "SA08", "SA19", "SA24", "SA41", "SA50",
];
/// JDV_J02 facility types and JDV_J04 practice settings the sandbox knows (subset).
const FACILITY_TYPES: [&str; 4] = ["SA05", "SA07", "SA41", "SA50"];
const PRACTICE_SETTINGS: [&str; 2] = ["ESSMS", "AMBULATOIRE"];
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
    pub replaces: Option<String>,
    pub size: usize,
}

fn classification<'a>(entry: &'a Element, scheme_id: &str) -> Vec<&'a Element> {
    entry
        .children_named("Classification")
        .filter(|c| c.attribute("classificationScheme") == Some(scheme_id))
        .collect()
}

fn slot(entry: &Element, name: &str) -> Option<String> {
    entry
        .children_named("Slot")
        .find(|s| s.attribute("name") == Some(name))
        .and_then(|s| s.find("Value"))
        .map(|v| v.trimmed_text().to_string())
}

fn external_id(entry: &Element, scheme_id: &str) -> Option<String> {
    entry
        .children_named("ExternalIdentifier")
        .find(|i| i.attribute("identificationScheme") == Some(scheme_id))
        .and_then(|i| i.attribute("value"))
        .map(str::to_string)
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
    let submission_unique = list
        .children_named("RegistryPackage")
        .find_map(|p| external_id(p, scheme::SUBMISSION_UNIQUE_ID))
        .ok_or_else(|| registry("XDSRegistryMetadataError", "uniqueId du lot absent"))?;
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
    let cert = b64
        .decode(
            doc.descendant(NS_DS, "X509Certificate")
                .map(|c| c.text_content().split_whitespace().collect::<String>())
                .unwrap_or_default(),
        )
        .map_err(|_| bad("certificat illisible"))?;
    let value = b64
        .decode(
            doc.element(NS_DS, "SignatureValue")
                .map(|c| c.text_content().split_whitespace().collect::<String>())
                .unwrap_or_default(),
        )
        .map_err(|_| bad("SignatureValue illisible"))?;
    let der = CertificateDer::from(cert.as_slice());
    webpki::EndEntityCert::try_from(&der)
        .map_err(|_| bad("certificat illisible"))?
        .verify_signature(
            webpki::ring::RSA_PKCS1_2048_8192_SHA256,
            signed_info.canonical().as_bytes(),
            &value,
        )
        .map_err(|_| bad("signature invalide"))?;
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

/// TD3.1: FindDocuments for the VIHF's patient.
pub fn check_search(r: &Received) -> Result<String, Refusal> {
    let op = &r.operation;
    let query = op
        .find("AdhocQuery")
        .ok_or_else(|| sender("OperationInconnue", "AdhocQuery attendue"))?;
    if query.attribute("id") != Some(requests::FIND_DOCUMENTS) {
        return Err(registry(
            "XDSUnknownStoredQuery",
            "requête stockée non servie par le bac à sable (FindDocuments seulement)",
        ));
    }
    let patient = slot(query, "$XDSDocumentEntryPatientId")
        .map(|v| v.trim_matches('\'').to_string())
        .ok_or_else(|| {
            registry(
                "XDSStoredQueryParamNumber",
                "$XDSDocumentEntryPatientId absent",
            )
        })?;
    if r.vihf.patient.as_deref() != Some(patient.as_str()) {
        return Err(registry(
            "XDSPatientIdDoesNotMatch",
            "le patient recherché n'est pas celui du VIHF",
        ));
    }
    Ok(patient)
}

/// TD3.3: the entry and its new status.
pub struct StatusUpdate {
    pub entry_uuid: String,
    pub from: String,
    pub to: String,
}

pub fn check_update(r: &Received) -> Result<StatusUpdate, Refusal> {
    let list = r
        .operation
        .find("RegistryObjectList")
        .ok_or_else(|| registry("XDSRegistryMetadataError", "RegistryObjectList absente"))?;
    let association = list
        .children_named("Association")
        .find(|a| a.attribute("associationType") == Some(requests::UPDATE_AVAILABILITY))
        .ok_or_else(|| {
            registry(
                "XDSRegistryMetadataError",
                "association UpdateAvailabilityStatus absente",
            )
        })?;
    let entry_uuid = association
        .attribute("targetObject")
        .unwrap_or_default()
        .to_string();
    if !entry_uuid.starts_with("urn:uuid:") {
        return Err(registry(
            "XDSDocumentUniqueIdError",
            "un entryUUID (urn:uuid:…) est attendu, pas un uniqueId",
        ));
    }
    let from = slot(association, "OriginalStatus").unwrap_or_default();
    let to = slot(association, "NewStatus").unwrap_or_default();
    if to != requests::STATUS_DELETED && to != requests::STATUS_ARCHIVED {
        return Err(registry(
            "XDSRegistryMetadataError",
            format!("NewStatus {to} inconnu"),
        ));
    }
    Ok(StatusUpdate {
        entry_uuid,
        from,
        to,
    })
}

/// TD0.2: the patient asked about (root, extension).
pub fn check_existence(r: &Received) -> Result<(String, String), Refusal> {
    let op = &r.operation;
    if op.name != "PRPA_IN201307UV02" {
        return Err(sender("OperationInconnue", "PRPA_IN201307UV02 attendu"));
    }
    let reason = op.find("reasonCode").and_then(|c| c.attribute("code"));
    if reason != Some(requests::TEST_EXISTENCE_REASON) {
        return Err(sender("DMPRequeteInvalide", "reasonCode TEST_EXST attendu"));
    }
    let value = op
        .find("patientIdentifier")
        .and_then(|p| p.child("value"))
        .ok_or_else(|| sender("DMPRequeteInvalide", "patientIdentifier absent"))?;
    Ok((
        value.attribute("root").unwrap_or_default().to_string(),
        value.attribute("extension").unwrap_or_default().to_string(),
    ))
}

/// The request's action, the response's.
pub fn response_action(request: &str) -> &'static str {
    match request {
        action::DEPOSIT => action::DEPOSIT_RESPONSE,
        action::SEARCH => action::SEARCH_RESPONSE,
        action::UPDATE => action::UPDATE_RESPONSE,
        _ => action::TEST_EXISTENCE_RESPONSE,
    }
}
