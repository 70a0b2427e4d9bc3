//! The DMP sandbox's registry: what was deposited, for whom, with which
//! visibility, and its status; and the answers it gives (shaped like the
//! DMP package's example responses).

use chrono::{DateTime, Utc};

use crate::connectors::dmp::requests::{STATUS_APPROVED, escape};
use crate::connectors::dmp::xds::scheme;

/// `urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated`: a replaced version.
pub const STATUS_DEPRECATED: &str = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated";

/// One document entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `urn:uuid:…`, given by the registry.
    pub entry_uuid: String,
    pub unique_id: String,
    /// `INS^^^&OID&ISO^NH`.
    pub patient_id: String,
    pub title: String,
    pub type_code: String,
    /// Codes besides « N » (MASQUE_PS, INVISIBLE_PATIENT…).
    pub confidentiality: Vec<String>,
    /// healthcareFacilityTypeCode, practiceSettingCode, the set's contentTypeCode.
    pub structure_codes: [String; 3],
    pub status: String,
    /// IDNST of the depositing structure.
    pub structure: String,
    pub submitted_at: DateTime<Utc>,
    pub size: usize,
}

impl Entry {
    /// Shown in the user's Mon espace santé (approved, not INVISIBLE_PATIENT).
    pub fn visible_to_patient(&self) -> bool {
        self.status == STATUS_APPROVED
            && !self
                .confidentiality
                .iter()
                .any(|c| c == "INVISIBLE_PATIENT")
    }
}

fn envelope(action: &str, relates_to: &str, body: &str) -> String {
    format!(
        concat!(
            r#"<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Header>"#,
            r#"<Action xmlns="http://www.w3.org/2005/08/addressing">{action}</Action>"#,
            r#"<MessageID xmlns="http://www.w3.org/2005/08/addressing">urn:uuid:{id}</MessageID>"#,
            r#"<To xmlns="http://www.w3.org/2005/08/addressing">http://www.w3.org/2005/08/addressing/anonymous</To>"#,
            r#"<RelatesTo xmlns="http://www.w3.org/2005/08/addressing">{relates}</RelatesTo>"#,
            r#"</soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"#
        ),
        action = action,
        id = uuid::Uuid::new_v4(),
        relates = escape(relates_to),
        body = body,
    )
}

const RS: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0";

/// `RegistryResponse` Success.
pub fn success(action: &str, relates_to: &str) -> String {
    envelope(
        action,
        relates_to,
        &format!(
            r#"<ns2:RegistryResponse xmlns:ns2="{RS}" status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"/>"#
        ),
    )
}

/// `RegistryResponse` Failure with one error.
pub fn failure(action: &str, relates_to: &str, code: &str, context: &str) -> String {
    envelope(
        action,
        relates_to,
        &format!(
            concat!(
                r#"<ns2:RegistryResponse xmlns:ns2="{rs}" status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure">"#,
                r#"<ns2:RegistryErrorList><ns2:RegistryError errorCode="{code}" codeContext="{context}" location="" severity="urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"/></ns2:RegistryErrorList>"#,
                r#"</ns2:RegistryResponse>"#
            ),
            rs = RS,
            code = escape(code),
            context = escape(context),
        ),
    )
}

/// A SOAP 1.2 fault (`Sender` or `Receiver`) with a DMP subcode.
pub fn fault(code: &str, subcode: &str, reason: &str) -> String {
    format!(
        concat!(
            r#"<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><soap:Fault>"#,
            r#"<soap:Code><soap:Value>soap:{code}</soap:Value><soap:Subcode><soap:Value>{subcode}</soap:Value></soap:Subcode></soap:Code>"#,
            r#"<soap:Reason><soap:Text xml:lang="fr">{reason}</soap:Text></soap:Reason>"#,
            r#"</soap:Fault></soap:Body></soap:Envelope>"#
        ),
        code = code,
        subcode = escape(subcode),
        reason = escape(reason),
    )
}

/// `AdhocQueryResponse` listing `entries`.
pub fn search(action: &str, relates_to: &str, entries: &[&Entry]) -> String {
    let mut objects = String::new();
    for e in entries {
        objects.push_str(&format!(
            concat!(
                r#"<ns4:ExtrinsicObject id="{id}" lid="{id}" mimeType="text/xml" objectType="{stable}" status="{status}">"#,
                r#"<ns4:Slot name="size"><ns4:ValueList><ns4:Value>{size}</ns4:Value></ns4:ValueList></ns4:Slot>"#,
                r#"<ns4:Name><ns4:LocalizedString charset="UTF8" value="{title}"/></ns4:Name>"#,
                r#"<ns4:Classification classificationScheme="{type_scheme}" classifiedObject="{id}" id="{id}-type" nodeRepresentation="{type_code}"/>"#,
                r#"<ns4:ExternalIdentifier id="{id}-patient" identificationScheme="{patient_scheme}" registryObject="{id}" value="{patient}"/>"#,
                r#"<ns4:ExternalIdentifier id="{id}-unique" identificationScheme="{unique_scheme}" registryObject="{id}" value="{unique}"/>"#,
                r#"</ns4:ExtrinsicObject>"#
            ),
            id = escape(&e.entry_uuid),
            stable = scheme::STABLE_DOCUMENT,
            status = escape(&e.status),
            size = e.size,
            title = escape(&e.title),
            type_scheme = scheme::TYPE_CODE,
            type_code = escape(&e.type_code),
            patient_scheme = scheme::DOCUMENT_PATIENT_ID,
            patient = escape(&e.patient_id),
            unique_scheme = scheme::DOCUMENT_UNIQUE_ID,
            unique = escape(&e.unique_id),
        ));
    }
    envelope(
        action,
        relates_to,
        &format!(
            concat!(
                r#"<ns3:AdhocQueryResponse xmlns:ns3="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" xmlns:ns4="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0" startIndex="0" status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success" totalResultCount="{n}">"#,
                r#"<ns4:RegistryObjectList>{objects}</ns4:RegistryObjectList></ns3:AdhocQueryResponse>"#
            ),
            n = entries.len(),
            objects = objects,
        ),
    )
}

/// `PRPA_IN201308UV02`: the DMP exists (or not), is open, the structure is
/// authorised.
pub fn existence(
    action: &str,
    relates_to: &str,
    ins_root: &str,
    ins: &str,
    exists: bool,
) -> String {
    envelope(
        action,
        relates_to,
        &format!(
            concat!(
                r#"<PRPA_IN201308UV02 xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ITSVersion="XML_1.0">"#,
                r#"<id root="{id}"/><interactionId extension="PRPA_IN201308UV02" root="2.16.840.1.113883.1.6"/>"#,
                r#"<attentionLine><keyWordText code="AUTORISATION" codeSystem="1.2.250.1.213.4.1.2.6.1"/><value code="VALIDE" codeSystem="1.2.250.1.213.4.1.2.6.2" xsi:type="CV"/></attentionLine>"#,
                r#"<acknowledgement typeCode="AA"><acknowledgementDetail><code code="{detail}"/></acknowledgementDetail></acknowledgement>"#,
                r#"<controlActProcess classCode="CACT" moodCode="EVN"><subject><registrationEvent><subject1><patient><id root="{root}" extension="{ins}"/></patient></subject1></registrationEvent></subject>"#,
                r#"<queryAck><queryResponseCode code="{code}"/></queryAck></controlActProcess></PRPA_IN201308UV02>"#
            ),
            id = uuid::Uuid::new_v4(),
            detail = if exists { "DMPFound" } else { "DMPNotFound" },
            root = escape(ins_root),
            ins = escape(ins),
            code = if exists { "OK" } else { "NF" },
        ),
    )
}
