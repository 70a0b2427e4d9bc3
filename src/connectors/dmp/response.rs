//! Reading the DMP's answers: the SOAP 1.2 envelope (possibly the root part
//! of an MTOM package — the DMP answers multipart even for faults, so the
//! body is read as bytes, research/dmp-mss.md §7.5), its fault, and the
//! operation's result: `RegistryResponse` (deposit, status change),
//! `AdhocQueryResponse` (search), `PRPA_IN201308UV02` (test of existence).

use super::error::{DmpError, RegistryError};
use super::requests::{STATUS_APPROVED, STATUS_ARCHIVED, STATUS_DELETED};
use super::xds::scheme;
use crate::connectors::xml::{self, Element};

const SUCCESS: &str = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success";
const PARTIAL: &str = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess";

/// The root part of a `multipart/related` answer, or the body itself.
pub fn soap_part<'a>(content_type: Option<&str>, body: &'a [u8]) -> Result<&'a [u8], DmpError> {
    let Some(ct) = content_type.filter(|c| c.to_ascii_lowercase().starts_with("multipart/")) else {
        return Ok(body);
    };
    let boundary = parameter(ct, "boundary")
        .ok_or_else(|| DmpError::Malformed("réponse multipart sans frontière".into()))?;
    let delimiter = format!("--{boundary}");
    let start = find(body, delimiter.as_bytes())
        .ok_or_else(|| DmpError::Malformed("frontière MIME absente du corps".into()))?;
    let after = &body[start + delimiter.len()..];
    let headers_end = find(after, b"\r\n\r\n")
        .ok_or_else(|| DmpError::Malformed("partie MIME sans en-têtes".into()))?;
    let content = &after[headers_end + 4..];
    let end = find(content, format!("\r\n{delimiter}").as_bytes())
        .ok_or_else(|| DmpError::Malformed("partie MIME non terminée".into()))?;
    Ok(&content[..end])
}

/// A parameter of a header value (`boundary="…"`), quotes removed.
pub fn parameter(header: &str, name: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().trim_matches('"').to_string())
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The body's first element of a SOAP 1.2 envelope, or the fault it carries.
pub fn body(xml_text: &str) -> Result<Element, DmpError> {
    let root = xml::parse(xml_text).map_err(DmpError::Malformed)?;
    if root.name != "Envelope" {
        return Err(DmpError::Malformed("pas d'enveloppe SOAP".into()));
    }
    let body = root
        .child("Body")
        .ok_or_else(|| DmpError::Malformed("enveloppe SOAP sans corps".into()))?;
    let first = body
        .children
        .first()
        .ok_or_else(|| DmpError::Malformed("corps SOAP vide".into()))?;
    if first.name == "Fault" {
        return Err(fault(first));
    }
    Ok(first.clone())
}

fn fault(f: &Element) -> DmpError {
    let code = f.child("Code");
    let value = code
        .and_then(|c| c.child_text("Value"))
        .unwrap_or_else(|| "inconnu".into());
    let subcode = code
        .and_then(|c| c.child("Subcode"))
        .and_then(|s| s.child_text("Value"));
    let reason = f
        .child("Reason")
        .and_then(|r| r.child_text("Text"))
        .unwrap_or_else(|| "sans motif".into());
    DmpError::Fault {
        code: value,
        subcode,
        reason,
    }
}

/// Success, or the registry's errors.
pub fn registry_response(body: &Element) -> Result<(), DmpError> {
    let response = if body.name == "RegistryResponse" {
        body
    } else {
        body.find("RegistryResponse").ok_or_else(|| {
            DmpError::Malformed(format!("RegistryResponse attendu, {} reçu", body.name))
        })?
    };
    let status = response.attribute("status").unwrap_or_default();
    if status == SUCCESS || status == PARTIAL {
        return Ok(());
    }
    Err(DmpError::Registry(registry_errors(response)))
}

fn registry_errors(response: &Element) -> Vec<RegistryError> {
    response
        .find("RegistryErrorList")
        .map(|l| {
            l.children_named("RegistryError")
                .map(|e| RegistryError {
                    code: e.attribute("errorCode").unwrap_or_default().to_string(),
                    context: e.attribute("codeContext").unwrap_or_default().to_string(),
                    severity: e.attribute("severity").unwrap_or_default().to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Where a document stands in the DMP registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryStatus {
    Approved,
    Archived,
    Deleted,
    Other,
}

impl EntryStatus {
    pub fn parse(s: &str) -> EntryStatus {
        match s {
            STATUS_APPROVED => EntryStatus::Approved,
            STATUS_ARCHIVED => EntryStatus::Archived,
            STATUS_DELETED => EntryStatus::Deleted,
            _ => EntryStatus::Other,
        }
    }
}

/// One document entry of a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEntry {
    /// The registry's id (`urn:uuid:…`): what TD3.3 and RPLC point at.
    pub entry_uuid: String,
    /// The document's uniqueId (Escale's stable id of the version).
    pub unique_id: String,
    pub status: EntryStatus,
    pub title: String,
}

/// The entries of an `AdhocQueryResponse`.
pub fn search_response(body: &Element) -> Result<Vec<RegistryEntry>, DmpError> {
    if body.name != "AdhocQueryResponse" {
        return Err(DmpError::Malformed(format!(
            "AdhocQueryResponse attendu, {} reçu",
            body.name
        )));
    }
    let status = body.attribute("status").unwrap_or_default();
    if status != SUCCESS && status != PARTIAL {
        return Err(DmpError::Registry(registry_errors(body)));
    }
    let Some(list) = body.child("RegistryObjectList") else {
        return Ok(Vec::new());
    };
    Ok(list
        .children_named("ExtrinsicObject")
        .map(|e| RegistryEntry {
            entry_uuid: e.attribute("id").unwrap_or_default().to_string(),
            unique_id: e
                .children_named("ExternalIdentifier")
                .find(|i| i.attribute("identificationScheme") == Some(scheme::DOCUMENT_UNIQUE_ID))
                .and_then(|i| i.attribute("value"))
                .unwrap_or_default()
                .to_string(),
            status: EntryStatus::parse(e.attribute("status").unwrap_or_default()),
            title: e
                .child("Name")
                .and_then(|n| n.child("LocalizedString"))
                .and_then(|l| l.attribute("value"))
                .unwrap_or_default()
                .to_string(),
        })
        .collect())
}

/// What TD0.2 says of a patient's DMP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmpStatus {
    pub exists: bool,
    pub closed: bool,
    /// `AUTORISATION` = `VALIDE`: the structure may feed it.
    pub authorised: bool,
}

pub fn existence_response(body: &Element) -> Result<DmpStatus, DmpError> {
    if body.name != "PRPA_IN201308UV02" {
        return Err(DmpError::Malformed(format!(
            "PRPA_IN201308UV02 attendu, {} reçu",
            body.name
        )));
    }
    let detail = body
        .find("acknowledgementDetail")
        .and_then(|d| d.child("code"))
        .and_then(|c| c.attribute("code"))
        .unwrap_or_default();
    let response_code = body
        .find("queryAck")
        .and_then(|q| q.child("queryResponseCode"))
        .and_then(|c| c.attribute("code"))
        .unwrap_or_default();
    let authorised = body.children_named("attentionLine").any(|line| {
        line.child("keyWordText").and_then(|k| k.attribute("code")) == Some("AUTORISATION")
            && line
                .child("value")
                .and_then(|v| v.attribute("code"))
                .is_some_and(|c| c == "VALIDE")
    });
    Ok(DmpStatus {
        exists: response_code == "OK",
        closed: detail == "DMPClosed",
        authorised,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_root_part_of_a_multipart_answer_and_its_fault() {
        let envelope = r#"<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><soap:Fault><soap:Code><soap:Value>soap:Sender</soap:Value><soap:Subcode><soap:Value>DMPInvalidCertificate</soap:Value></soap:Subcode></soap:Code><soap:Reason><soap:Text xml:lang="fr">Le certificat ayant signé le VIHF est invalide</soap:Text></soap:Reason></soap:Fault></soap:Body></soap:Envelope>"#;
        let body =
            format!("--b1\r\nContent-Type: application/xop+xml\r\n\r\n{envelope}\r\n--b1--\r\n");
        let part = soap_part(Some("multipart/related; boundary=\"b1\""), body.as_bytes()).unwrap();
        let err = super::body(std::str::from_utf8(part).unwrap()).unwrap_err();
        assert_eq!(
            err,
            DmpError::Fault {
                code: "soap:Sender".into(),
                subcode: Some("DMPInvalidCertificate".into()),
                reason: "Le certificat ayant signé le VIHF est invalide".into(),
            }
        );
        assert!(!err.is_transient());
        assert!(err.to_string().contains("DMPInvalidCertificate"));
    }

    #[test]
    fn a_registry_failure_lists_its_errors_in_french() {
        let xml = r#"<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><rs:RegistryResponse xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0" status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"><rs:RegistryErrorList><rs:RegistryError errorCode="XDSRegistryMetadataError" codeContext="typeCode 00000-0 inconnu" severity="urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"/></rs:RegistryErrorList></rs:RegistryResponse></soap:Body></soap:Envelope>"#;
        let err = registry_response(&body(xml).unwrap()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("métadonnées du document sont refusées"),
            "{text}"
        );
        assert!(text.contains("typeCode 00000-0 inconnu"), "{text}");
        assert!(!err.is_transient());
    }
}
