//! What the DMP sandbox checks in a request, as strictly as the DMP:
//! SOAP 1.2, the WS-Addressing action of the service called, the VIHF (its
//! signature, a certificate of the test PKI made for signing — never the
//! AUTH one —, its attributes), and the search, status change and test of
//! existence bodies. A deposit's own checks are in [`super::deposit`].

use std::collections::HashMap;

use rustls::pki_types::{CertificateDer, UnixTime};

use crate::connectors::certificate::key_usage;
use crate::connectors::dmp::c14n;
use crate::connectors::dmp::requests::{self, action};
use crate::connectors::dmp::soap::{NS_SOAP12, NS_WSA};
use crate::connectors::dmp::vihf::NS_SAML2;
use crate::connectors::dmp::xmldsig;
use crate::connectors::xml::{self, Element};

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

pub(super) fn sender(subcode: &str, reason: impl Into<String>) -> Refusal {
    Refusal::Fault {
        code: "Sender",
        subcode: subcode.to_string(),
        reason: reason.into(),
    }
}

pub(super) fn registry(code: &str, context: impl Into<String>) -> Refusal {
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
pub(super) fn classification<'a>(entry: &'a Element, scheme_id: &str) -> Vec<&'a Element> {
    entry
        .children_named("Classification")
        .filter(|c| c.attribute("classificationScheme") == Some(scheme_id))
        .collect()
}

pub(super) fn slot(entry: &Element, name: &str) -> Option<String> {
    entry
        .children_named("Slot")
        .find(|s| s.attribute("name") == Some(name))
        .and_then(|s| s.find("Value"))
        .map(|v| v.trimmed_text().to_string())
}

pub(super) fn external_id(entry: &Element, scheme_id: &str) -> Option<String> {
    entry
        .children_named("ExternalIdentifier")
        .find(|i| i.attribute("identificationScheme") == Some(scheme_id))
        .and_then(|i| i.attribute("value"))
        .map(str::to_string)
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
