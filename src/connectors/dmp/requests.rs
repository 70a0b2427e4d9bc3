//! The bodies of the DMP calls other than the deposit (which is `xds`):
//! TD0.2 test of existence (HL7v3 `PRPA_IN201307UV02`), TD3.1 search
//! (ITI-18 FindDocuments) and TD3.3 status change (ITI-57
//! UpdateAvailabilityStatus), shaped like the DMP package's examples.
//! Every value is escaped.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::vihf::patient_id;
use super::xds::{NS_LCM, NS_RIM, scheme};
use crate::domain::ins::Ins;

/// The services, after the base URL (`…/si-dmp-server/v2/services`).
pub const PATIENTS: &str = "patients";
pub const REPOSITORY: &str = "repository";
pub const REGISTRY: &str = "registry";

pub mod action {
    pub const TEST_EXISTENCE: &str = "urn:hl7-org:v3:PRPA_IN201307UV02";
    pub const TEST_EXISTENCE_RESPONSE: &str = "urn:hl7-org:v3:PRPA_IN201308UV02";
    pub const DEPOSIT: &str = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b";
    pub const DEPOSIT_RESPONSE: &str = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse";
    pub const SEARCH: &str = "urn:ihe:iti:2007:RegistryStoredQuery";
    pub const SEARCH_RESPONSE: &str = "urn:ihe:iti:2007:RegistryStoredQueryResponse";
    pub const UPDATE: &str = "urn:ihe:iti:2010:UpdateDocumentSet";
    pub const UPDATE_RESPONSE: &str = "urn:ihe:iti:2010:UpdateDocumentSet-Response";
}

/// The service path of each request action (the sandbox checks the pair).
pub fn service_of(action: &str) -> Option<&'static str> {
    match action {
        action::TEST_EXISTENCE => Some(PATIENTS),
        action::DEPOSIT => Some(REPOSITORY),
        action::SEARCH | action::UPDATE => Some(REGISTRY),
        _ => None,
    }
}

/// The stored query FindDocuments (ITI-18).
pub const FIND_DOCUMENTS: &str = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d";
/// UpdateAvailabilityStatus association (ITI-57).
pub const UPDATE_AVAILABILITY: &str = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus";
pub const STATUS_APPROVED: &str = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved";
/// CI-SIS statuses of TD3.3c / TD3.3d.
pub const STATUS_DELETED: &str = "urn:asip:ci-sis:2010:StatusType:Deleted";
pub const STATUS_ARCHIVED: &str = "urn:asip:ci-sis:2010:StatusType:Archived";
/// The DMP's device id (receiver of HL7v3 messages) and the reason code of TD0.2.
pub const DMP_DEVICE: &str = "1.2.250.1.213.4.1.1.1";
pub const TEST_EXISTENCE_REASON: &str = "TEST_EXST";
pub const TEST_EXISTENCE_REASON_SYSTEM: &str = "1.2.250.1.213.1.1.4.11";

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn hl7_time(t: DateTime<Utc>) -> String {
    t.format("%Y%m%d%H%M%S").to_string()
}

/// TD0.2: does this patient have a DMP, open, and may the structure feed it?
pub fn test_existence(ins: &Ins, sender_oid: &str, id: Uuid, at: DateTime<Utc>) -> String {
    format!(
        concat!(
            r#"<PRPA_IN201307UV02 xmlns="urn:hl7-org:v3" ITSVersion="XML_1.0">"#,
            r#"<id root="{sender}" extension="{id}"/>"#,
            r#"<creationTime value="{at}"/>"#,
            r#"<interactionId root="2.16.840.1.113883.1.6" extension="PRPA_IN201307UV02"/>"#,
            r#"<processingCode code="P"/><processingModeCode code="T"/><acceptAckCode code="AL"/>"#,
            r#"<receiver typeCode="RCV"><device classCode="DEV" determinerCode="INSTANCE"><id root="{dmp}"/><softwareName>DMP</softwareName></device></receiver>"#,
            r#"<sender typeCode="SND"><device classCode="DEV" determinerCode="INSTANCE"><id root="{sender}"/><softwareName>Escale</softwareName></device></sender>"#,
            r#"<controlActProcess classCode="CACT" moodCode="EVN">"#,
            r#"<reasonCode code="{reason}" codeSystem="{reason_system}" displayName="Test d'existence de dossier"/>"#,
            r#"<queryByParameter><queryId root="{sender}" extension="{id}"/><statusCode code="new"/>"#,
            r#"<parameterList><patientIdentifier><value root="{oid}" extension="{ins}"/><semanticsText>Patient.id</semanticsText></patientIdentifier></parameterList>"#,
            r#"</queryByParameter></controlActProcess></PRPA_IN201307UV02>"#
        ),
        sender = escape(sender_oid),
        id = id,
        at = hl7_time(at),
        dmp = DMP_DEVICE,
        reason = TEST_EXISTENCE_REASON,
        reason_system = TEST_EXISTENCE_REASON_SYSTEM,
        oid = ins.oid.oid(),
        ins = ins.matricule.as_string(),
    )
}

/// TD3.1: the patient's approved documents (FindDocuments).
pub fn find_documents(ins: &Ins) -> String {
    format!(
        concat!(
            r#"<query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" xmlns:rim="{rim}">"#,
            r#"<query:ResponseOption returnComposedObjects="true" returnType="LeafClass"/>"#,
            r#"<rim:AdhocQuery id="{query}">"#,
            r#"<rim:Slot name="$XDSDocumentEntryPatientId"><rim:ValueList><rim:Value>'{patient}'</rim:Value></rim:ValueList></rim:Slot>"#,
            r#"<rim:Slot name="$XDSDocumentEntryStatus"><rim:ValueList><rim:Value>('{approved}')</rim:Value></rim:ValueList></rim:Slot>"#,
            r#"</rim:AdhocQuery></query:AdhocQueryRequest>"#
        ),
        rim = NS_RIM,
        query = FIND_DOCUMENTS,
        patient = escape(&patient_id(ins)),
        approved = STATUS_APPROVED,
    )
}

/// TD3.3c/d: moves one registry entry (`entry_uuid`, as TD3.1 gave it, never
/// a uniqueId) from `from` to `to`.
pub struct StatusChange<'a> {
    pub ins: &'a Ins,
    pub entry_uuid: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub submission_id: &'a str,
    pub source_id: &'a str,
    pub at: DateTime<Utc>,
    /// The author as XDS writes a person (`IDNPS^NOM^Prénom^^^^^^&OID&ISO^D^^^IDNPS`).
    pub author: &'a str,
}

pub fn update_status(c: &StatusChange<'_>) -> String {
    let slot = |name: &str, value: &str| {
        format!(
            r#"<rim:Slot name="{}"><rim:ValueList><rim:Value>{}</rim:Value></rim:ValueList></rim:Slot>"#,
            escape(name),
            escape(value)
        )
    };
    let patient = patient_id(c.ins);
    format!(
        concat!(
            r#"<lcm:SubmitObjectsRequest xmlns:lcm="{lcm}" xmlns:rim="{rim}"><rim:RegistryObjectList>"#,
            r#"<rim:RegistryPackage id="SubmissionSet01">{time}"#,
            r#"<rim:Classification classificationScheme="{author_scheme}" classifiedObject="SubmissionSet01" id="cl-author" nodeRepresentation="">{author}</rim:Classification>"#,
            r#"<rim:ExternalIdentifier id="ei-patient" registryObject="SubmissionSet01" identificationScheme="{patient_scheme}" value="{patient}"><rim:Name><rim:LocalizedString value="XDSSubmissionSet.patientId"/></rim:Name></rim:ExternalIdentifier>"#,
            r#"<rim:ExternalIdentifier id="ei-source" registryObject="SubmissionSet01" identificationScheme="{source_scheme}" value="{source}"><rim:Name><rim:LocalizedString value="XDSSubmissionSet.sourceId"/></rim:Name></rim:ExternalIdentifier>"#,
            r#"<rim:ExternalIdentifier id="ei-unique" registryObject="SubmissionSet01" identificationScheme="{unique_scheme}" value="{unique}"><rim:Name><rim:LocalizedString value="XDSSubmissionSet.uniqueId"/></rim:Name></rim:ExternalIdentifier>"#,
            r#"</rim:RegistryPackage>"#,
            r#"<rim:Classification id="cl-submission" classifiedObject="SubmissionSet01" classificationNode="{node}"/>"#,
            r#"<rim:Association id="association1" associationType="{assoc}" sourceObject="SubmissionSet01" targetObject="{target}">{from}{to}</rim:Association>"#,
            r#"</rim:RegistryObjectList></lcm:SubmitObjectsRequest>"#
        ),
        lcm = NS_LCM,
        rim = NS_RIM,
        time = slot("submissionTime", &hl7_time(c.at)),
        author_scheme = scheme::SUBMISSION_AUTHOR,
        author = slot("authorPerson", c.author),
        patient_scheme = scheme::SUBMISSION_PATIENT_ID,
        patient = escape(&patient),
        source_scheme = scheme::SOURCE_ID,
        source = escape(c.source_id),
        unique_scheme = scheme::SUBMISSION_UNIQUE_ID,
        unique = escape(c.submission_id),
        node = scheme::SUBMISSION_SET_NODE,
        assoc = UPDATE_AVAILABILITY,
        target = escape(c.entry_uuid),
        from = slot("OriginalStatus", c.from),
        to = slot("NewStatus", c.to),
    )
}
