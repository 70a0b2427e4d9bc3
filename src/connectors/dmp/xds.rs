//! The XDS.b metadata of a deposit (ITI-41 ProvideAndRegisterDocumentSet-b,
//! DMP transaction TD2.1): a submission set holding one document entry (the
//! CDA R2 N1), its `HasMember` association and, for a new version, the
//! `RPLC` association to the entry it replaces. Field by field from
//! research/dmp-mss.md §2 and the DMP package's TD2.1 example; every value
//! is escaped by the XML writer.

use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use quick_xml::Writer;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use sha1::Digest;

use super::vihf::patient_id;
use crate::domain::ins::Ins;
use crate::domain::terminology::Code;

pub const NS_XDSB: &str = "urn:ihe:iti:xds-b:2007";
pub const NS_LCM: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0";
pub const NS_RIM: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0";

/// The identifiers of the XDS metadata (IHE ITI TF-3 §4.2.5; the table of
/// research/dmp-mss.md, checked against it by the tests).
pub mod scheme {
    pub const SUBMISSION_SET_NODE: &str = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd";
    pub const SUBMISSION_AUTHOR: &str = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d";
    pub const CONTENT_TYPE: &str = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500";
    pub const SUBMISSION_PATIENT_ID: &str = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446";
    pub const SOURCE_ID: &str = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832";
    pub const SUBMISSION_UNIQUE_ID: &str = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8";
    pub const STABLE_DOCUMENT: &str = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1";
    pub const DOCUMENT_AUTHOR: &str = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d";
    pub const CLASS_CODE: &str = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a";
    pub const CONFIDENTIALITY: &str = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f";
    pub const FORMAT_CODE: &str = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d";
    pub const FACILITY_TYPE: &str = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1";
    pub const PRACTICE_SETTING: &str = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead";
    pub const TYPE_CODE: &str = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983";
    pub const DOCUMENT_PATIENT_ID: &str = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427";
    pub const DOCUMENT_UNIQUE_ID: &str = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab";
    pub const HAS_MEMBER: &str = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember";
    pub const REPLACES: &str = "urn:ihe:iti:2007:AssociationType:RPLC";
    pub const SIGNS: &str = "urn:ihe:iti:2007:AssociationType:signs";
    pub const EVENT_CODE: &str = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4";
}

/// The author of the document and of the submission.
#[derive(Debug, Clone)]
pub struct Author<'a> {
    pub idnps: &'a str,
    pub family: &'a str,
    pub given: &'a str,
    pub specialty: Option<Code>,
    pub institution: &'a str,
    /// IDNST (`1` + FINESS).
    pub idnst: &'a str,
}

impl Author<'_> {
    /// XCN: `IDNPS^NOM^PRENOM^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS`.
    pub fn person(&self) -> String {
        format!(
            "{}^{}^{}^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS",
            self.idnps, self.family, self.given
        )
    }

    /// XON: `NOM^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^IDNST`.
    fn institution(&self) -> String {
        format!(
            "{}^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^{}",
            self.institution, self.idnst
        )
    }
}

/// The patient's traits as `sourcePatientInfo` gives them.
#[derive(Debug, Clone)]
pub struct PatientInfo<'a> {
    pub family: &'a str,
    pub given: &'a str,
    pub birth_date: NaiveDate,
    /// `M`, `F` or `U`.
    pub sex: &'a str,
}

/// One deposit: a submission set with one CDA document.
#[derive(Debug, Clone)]
pub struct Submission<'a> {
    /// A new OID per attempt (the submission set's uniqueId).
    pub submission_id: String,
    /// Escale's OID (sourceId).
    pub source_id: &'a str,
    pub submitted_at: DateTime<Utc>,
    pub patient: &'a Ins,
    pub patient_info: PatientInfo<'a>,
    pub author: Author<'a>,
    /// JDV_J59 (e.g. `19` Traitement et cure ambulatoire for a CSAPA).
    pub content_type: Code,
    /// The CDA's `id@root`: stable across retries, so a retried deposit is
    /// the same document for the DMP.
    pub document_id: String,
    pub title: &'a str,
    pub created_at: DateTime<Utc>,
    pub service_start: DateTime<Utc>,
    pub type_code: Code,
    pub class_code: Code,
    /// `N`, then the DMP flags the author chose (MASQUE_PS, …).
    pub confidentiality: Vec<Code>,
    pub facility_type: Code,
    pub practice_setting: Code,
    /// The entryUUID of the version this one replaces (found by TD3.1).
    pub replaces: Option<&'a str>,
    /// The CDA R2 N1 itself.
    pub cda: &'a [u8],
    /// The XAdES signature document of the submission set (`xades`) and
    /// its uniqueId: the DMP takes no deposit without one.
    pub signature: Option<(String, &'a [u8])>,
}

/// The formatCode of a CDA R2 N1 with a PDF body (ASS_A12).
pub fn pdf_format() -> Code {
    Code::new(
        "urn:ihe:iti:xds-sd:pdf:2008",
        "1.3.6.1.4.1.19376.1.2.3",
        "Document à corps non structuré en Pdf/A-1",
    )
}

const DOCUMENT: &str = "Document01";
const SIGNATURE: &str = "Signature01";
const SUBMISSION: &str = "SubmissionSet01";

fn hl7_time(t: DateTime<Utc>) -> String {
    t.format("%Y%m%d%H%M%S").to_string()
}

/// The `ProvideAndRegisterDocumentSetRequest`, the CDA inline in base64
/// (as the schema types it).
pub fn provide_and_register(s: &Submission<'_>) -> String {
    render(s, None)
}

/// The same for MTOM: each document's place taken by an `xop:Include` of
/// its part (`cid` for the CDA, [`signature_cid`] of it for the signature
/// document); the bytes travel in those parts.
pub fn provide_and_register_xop(s: &Submission<'_>, cid: &str) -> String {
    render(s, Some(cid))
}

/// The part holding the signature document, next to the CDA's `cid`.
pub fn signature_cid(cid: &str) -> String {
    format!("signature.{cid}")
}

pub const NS_XOP: &str = "http://www.w3.org/2004/08/xop/include";

/// What IHE XDM (ITI-32, documents sent by mail) adds to the metadata: the
/// CDA's file name next to `METADATA.XML` and the recipients.
pub struct XdmMetadata<'a> {
    /// Each document's 8.3 upper-case name, e.g. `DOC0001.XML`, in order.
    pub uris: &'a [String],
    /// Each recipient's address (`intendedRecipient`, XTN form).
    pub recipients: &'a [String],
}

/// `METADATA.XML` of an XDM archive: the same submission set and document
/// entries as a deposit (one per document, the set's attributes from the
/// first), as an `lcm:SubmitObjectsRequest` (no signature document, no
/// SOAP), with each file's URI and the recipients.
pub fn xdm_metadata(docs: &[Submission<'_>], xdm: &XdmMetadata<'_>) -> String {
    let mut w = Writer::new(Vec::new());
    let written = (|| {
        w.write_event(Event::Start(
            BytesStart::new("lcm:SubmitObjectsRequest")
                .with_attributes([("xmlns:lcm", NS_LCM), ("xmlns:rim", NS_RIM)]),
        ))?;
        registry_objects(&mut w, docs, Some(xdm))?;
        end(&mut w, "lcm:SubmitObjectsRequest")
    })();
    written.expect("écriture XML en mémoire");
    String::from_utf8(w.into_inner()).expect("quick-xml écrit de l'UTF-8")
}

fn render(s: &Submission<'_>, xop: Option<&str>) -> String {
    let mut w = Writer::new(Vec::new());
    write(&mut w, s, xop).expect("écriture XML en mémoire");
    String::from_utf8(w.into_inner()).expect("quick-xml écrit de l'UTF-8")
}

type W = Writer<Vec<u8>>;
type Io = std::io::Result<()>;

fn write(w: &mut W, s: &Submission<'_>, xop: Option<&str>) -> Io {
    w.write_event(Event::Start(
        BytesStart::new("xdsb:ProvideAndRegisterDocumentSetRequest").with_attributes([
            ("xmlns:xdsb", NS_XDSB),
            ("xmlns:lcm", NS_LCM),
            ("xmlns:rim", NS_RIM),
        ]),
    ))?;
    start(w, "lcm:SubmitObjectsRequest", &[])?;
    registry_objects(w, std::slice::from_ref(s), None)?;
    end(w, "lcm:SubmitObjectsRequest")?;
    document(w, DOCUMENT, s.cda, xop.map(str::to_string))?;
    if let Some((_, bytes)) = &s.signature {
        document(w, SIGNATURE, bytes, xop.map(signature_cid))?;
    }
    end(w, "xdsb:ProvideAndRegisterDocumentSetRequest")
}

/// The `rim:RegistryObjectList`: document entry, signature entry (a deposit
/// only), submission set and their associations.
/// The id of the `n`th document (from 1) and of its classifications: the
/// first keeps the names a deposit has always used.
fn local(id: &str, n: usize) -> String {
    if n == 1 {
        id.to_string()
    } else {
        format!("{id}-{n}")
    }
}

fn document_object(n: usize) -> String {
    format!("Document{n:02}")
}

fn registry_objects(w: &mut W, docs: &[Submission<'_>], xdm: Option<&XdmMetadata<'_>>) -> Io {
    let Some(s) = docs.first() else {
        return Ok(());
    };
    start(w, "rim:RegistryObjectList", &[])?;
    for (i, d) in docs.iter().enumerate() {
        let uri = xdm.and_then(|x| x.uris.get(i)).map(String::as_str);
        document_entry(w, d, i + 1, uri)?;
    }
    let signature = s.signature.as_ref().filter(|_| xdm.is_none());
    if let Some((id, bytes)) = signature {
        signature_entry(w, s, id, bytes)?;
    }
    submission_set(w, s, xdm.map(|x| x.recipients).unwrap_or_default())?;
    empty(
        w,
        "rim:Classification",
        &[
            ("id", "cl-submission"),
            ("classifiedObject", SUBMISSION),
            ("classificationNode", scheme::SUBMISSION_SET_NODE),
        ],
    )?;
    for n in 1..=docs.len() {
        start(
            w,
            "rim:Association",
            &[
                ("id", local("as-member", n).as_str()),
                ("associationType", scheme::HAS_MEMBER),
                ("sourceObject", SUBMISSION),
                ("targetObject", document_object(n).as_str()),
            ],
        )?;
        slot(w, "SubmissionSetStatus", &["Original"])?;
        end(w, "rim:Association")?;
    }
    if signature.is_some() {
        start(
            w,
            "rim:Association",
            &[
                ("id", "as-member-signature"),
                ("associationType", scheme::HAS_MEMBER),
                ("sourceObject", SUBMISSION),
                ("targetObject", SIGNATURE),
            ],
        )?;
        slot(w, "SubmissionSetStatus", &["Original"])?;
        end(w, "rim:Association")?;
        empty(
            w,
            "rim:Association",
            &[
                ("id", "as-signs"),
                ("associationType", scheme::SIGNS),
                ("sourceObject", SIGNATURE),
                ("targetObject", SUBMISSION),
            ],
        )?;
    }
    for (i, d) in docs.iter().enumerate() {
        if let Some(previous) = d.replaces {
            empty(
                w,
                "rim:Association",
                &[
                    ("id", local("as-replace", i + 1).as_str()),
                    ("associationType", scheme::REPLACES),
                    ("sourceObject", document_object(i + 1).as_str()),
                    ("targetObject", previous),
                ],
            )?;
        }
    }
    end(w, "rim:RegistryObjectList")
}

/// One `xdsb:Document`: its bytes in base64, or an `xop:Include` of its part.
fn document(w: &mut W, id: &str, bytes: &[u8], cid: Option<String>) -> Io {
    start(w, "xdsb:Document", &[("id", id)])?;
    match cid {
        Some(cid) => empty(
            w,
            "xop:Include",
            &[("xmlns:xop", NS_XOP), ("href", &format!("cid:{cid}"))],
        )?,
        None => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
            w.write_event(Event::Text(BytesText::new(&b64)))?;
        }
    }
    end(w, "xdsb:Document")
}

/// The signature document's entry, its codes as the DMP package's TD2.1
/// example gives them (IHE DSG: « Digital Signature », ASTM E1762, hidden
/// from professionals and from the patient, purpose « Source »).
fn signature_entry(w: &mut W, s: &Submission<'_>, unique_id: &str, bytes: &[u8]) -> Io {
    start(
        w,
        "rim:ExtrinsicObject",
        &[
            ("id", SIGNATURE),
            ("mimeType", "text/xml"),
            ("objectType", scheme::STABLE_DOCUMENT),
        ],
    )?;
    let patient = patient_id(s.patient);
    slot(w, "creationTime", &[&hl7_time(s.submitted_at)])?;
    slot(w, "hash", &[&hex::encode(sha1::Sha1::digest(bytes))])?;
    slot(w, "languageCode", &["art"])?;
    slot(w, "legalAuthenticator", &[&s.author.person()])?;
    slot(w, "serviceStartTime", &[&hl7_time(s.submitted_at)])?;
    slot(w, "serviceStopTime", &[&hl7_time(s.submitted_at)])?;
    slot(w, "size", &[&bytes.len().to_string()])?;
    slot(w, "sourcePatientId", &[&patient])?;
    name(w, "Source")?;
    author(
        w,
        "cl-sig-author",
        SIGNATURE,
        scheme::DOCUMENT_AUTHOR,
        &s.author,
    )?;
    let c = Code::new;
    coded(
        w,
        "cl-sig-class",
        SIGNATURE,
        scheme::CLASS_CODE,
        &c(
            "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1",
            "URN",
            "Digital Signature",
        ),
    )?;
    coded(
        w,
        "cl-sig-type",
        SIGNATURE,
        scheme::TYPE_CODE,
        &c("E1762", "ASTM", "Full Document"),
    )?;
    for (i, (code, system, label)) in [
        ("N", "2.16.840.1.113883.5.25", "Normal"),
        (
            "MASQUE_PS",
            "1.2.250.1.213.1.1.4.13",
            "Masqué aux professionnels de santé",
        ),
        (
            "INVISIBLE_PATIENT",
            "1.2.250.1.213.1.1.4.13",
            "Non visible par le patient",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        coded(
            w,
            &format!("cl-sig-conf-{i}"),
            SIGNATURE,
            scheme::CONFIDENTIALITY,
            &c(code, system, label),
        )?;
    }
    coded(
        w,
        "cl-sig-format",
        SIGNATURE,
        scheme::FORMAT_CODE,
        &c(
            "http://www.w3.org/2000/09/xmldsig#",
            "URN",
            "Default Signature Style",
        ),
    )?;
    coded(
        w,
        "cl-sig-facility",
        SIGNATURE,
        scheme::FACILITY_TYPE,
        &s.facility_type,
    )?;
    coded(
        w,
        "cl-sig-practice",
        SIGNATURE,
        scheme::PRACTICE_SETTING,
        &s.practice_setting,
    )?;
    coded(
        w,
        "cl-sig-event",
        SIGNATURE,
        scheme::EVENT_CODE,
        &c("1.2.840.10065.1.12.1.14", "1.2.840.10065.1.12", "Source"),
    )?;
    external_id(
        w,
        "ei-sig-patient",
        SIGNATURE,
        scheme::DOCUMENT_PATIENT_ID,
        &patient,
        "XDSDocumentEntry.patientId",
    )?;
    external_id(
        w,
        "ei-sig-unique",
        SIGNATURE,
        scheme::DOCUMENT_UNIQUE_ID,
        unique_id,
        "XDSDocumentEntry.uniqueId",
    )?;
    end(w, "rim:ExtrinsicObject")
}

fn document_entry(w: &mut W, s: &Submission<'_>, n: usize, uri: Option<&str>) -> Io {
    let object = document_object(n);
    let id = |name: &str| local(name, n);
    start(
        w,
        "rim:ExtrinsicObject",
        &[
            ("id", object.as_str()),
            ("mimeType", "text/xml"),
            ("objectType", scheme::STABLE_DOCUMENT),
        ],
    )?;
    let patient = patient_id(s.patient);
    let info = &s.patient_info;
    slot(w, "creationTime", &[&hl7_time(s.created_at)])?;
    slot(w, "hash", &[&hex::encode(sha1::Sha1::digest(s.cda))])?;
    slot(w, "languageCode", &["fr-FR"])?;
    slot(w, "legalAuthenticator", &[&s.author.person()])?;
    slot(w, "serviceStartTime", &[&hl7_time(s.service_start)])?;
    slot(w, "size", &[&s.cda.len().to_string()])?;
    if let Some(uri) = uri {
        slot(w, "URI", &[uri])?;
    }
    // No local patient identifier is sent: the INS is the source id too.
    slot(w, "sourcePatientId", &[&patient])?;
    slot(
        w,
        "sourcePatientInfo",
        &[
            &format!("PID-5|{}^{}^^^^^L", info.family, info.given),
            &format!("PID-7|{}", info.birth_date.format("%Y%m%d")),
            &format!("PID-8|{}", info.sex),
        ],
    )?;
    name(w, s.title)?;
    author(
        w,
        &id("cl-doc-author"),
        &object,
        scheme::DOCUMENT_AUTHOR,
        &s.author,
    )?;
    coded(
        w,
        &id("cl-class"),
        &object,
        scheme::CLASS_CODE,
        &s.class_code,
    )?;
    for (i, c) in s.confidentiality.iter().enumerate() {
        coded(
            w,
            &id(&format!("cl-conf-{i}")),
            &object,
            scheme::CONFIDENTIALITY,
            c,
        )?;
    }
    coded(
        w,
        &id("cl-format"),
        &object,
        scheme::FORMAT_CODE,
        &pdf_format(),
    )?;
    coded(
        w,
        &id("cl-facility"),
        &object,
        scheme::FACILITY_TYPE,
        &s.facility_type,
    )?;
    coded(
        w,
        &id("cl-practice"),
        &object,
        scheme::PRACTICE_SETTING,
        &s.practice_setting,
    )?;
    coded(w, &id("cl-type"), &object, scheme::TYPE_CODE, &s.type_code)?;
    external_id(
        w,
        &id("ei-doc-patient"),
        &object,
        scheme::DOCUMENT_PATIENT_ID,
        &patient,
        "XDSDocumentEntry.patientId",
    )?;
    external_id(
        w,
        &id("ei-doc-unique"),
        &object,
        scheme::DOCUMENT_UNIQUE_ID,
        &s.document_id,
        "XDSDocumentEntry.uniqueId",
    )?;
    end(w, "rim:ExtrinsicObject")
}

fn submission_set(w: &mut W, s: &Submission<'_>, recipients: &[String]) -> Io {
    start(w, "rim:RegistryPackage", &[("id", SUBMISSION)])?;
    slot(w, "submissionTime", &[&hl7_time(s.submitted_at)])?;
    if !recipients.is_empty() {
        let xtn: Vec<String> = recipients
            .iter()
            .map(|a| format!("|^^Internet^{a}"))
            .collect();
        let xtn: Vec<&str> = xtn.iter().map(String::as_str).collect();
        slot(w, "intendedRecipient", &xtn)?;
    }
    name(w, s.title)?;
    author(
        w,
        "cl-set-author",
        SUBMISSION,
        scheme::SUBMISSION_AUTHOR,
        &s.author,
    )?;
    coded(
        w,
        "cl-content",
        SUBMISSION,
        scheme::CONTENT_TYPE,
        &s.content_type,
    )?;
    external_id(
        w,
        "ei-set-patient",
        SUBMISSION,
        scheme::SUBMISSION_PATIENT_ID,
        &patient_id(s.patient),
        "XDSSubmissionSet.patientId",
    )?;
    external_id(
        w,
        "ei-set-source",
        SUBMISSION,
        scheme::SOURCE_ID,
        s.source_id,
        "XDSSubmissionSet.sourceId",
    )?;
    external_id(
        w,
        "ei-set-unique",
        SUBMISSION,
        scheme::SUBMISSION_UNIQUE_ID,
        &s.submission_id,
        "XDSSubmissionSet.uniqueId",
    )?;
    end(w, "rim:RegistryPackage")
}

fn author(w: &mut W, id: &str, object: &str, scheme: &str, a: &Author<'_>) -> Io {
    start(
        w,
        "rim:Classification",
        &[
            ("id", id),
            ("classificationScheme", scheme),
            ("classifiedObject", object),
            ("nodeRepresentation", ""),
        ],
    )?;
    slot(w, "authorPerson", &[&a.person()])?;
    slot(w, "authorInstitution", &[&a.institution()])?;
    if let Some(c) = &a.specialty {
        slot(
            w,
            "authorSpecialty",
            &[&format!("{}^{}^{}", c.code, c.label, c.system)],
        )?;
    }
    end(w, "rim:Classification")
}

fn coded(w: &mut W, id: &str, object: &str, scheme: &str, c: &Code) -> Io {
    start(
        w,
        "rim:Classification",
        &[
            ("id", id),
            ("classificationScheme", scheme),
            ("classifiedObject", object),
            ("nodeRepresentation", &c.code),
        ],
    )?;
    slot(w, "codingScheme", &[&c.system])?;
    name(w, &c.label)?;
    end(w, "rim:Classification")
}

fn external_id(w: &mut W, id: &str, object: &str, scheme: &str, value: &str, label: &str) -> Io {
    start(
        w,
        "rim:ExternalIdentifier",
        &[
            ("id", id),
            ("identificationScheme", scheme),
            ("registryObject", object),
            ("value", value),
        ],
    )?;
    name(w, label)?;
    end(w, "rim:ExternalIdentifier")
}

fn slot(w: &mut W, name: &str, values: &[&str]) -> Io {
    start(w, "rim:Slot", &[("name", name)])?;
    start(w, "rim:ValueList", &[])?;
    for v in values {
        w.create_element("rim:Value")
            .write_text_content(BytesText::new(v))?;
    }
    end(w, "rim:ValueList")?;
    end(w, "rim:Slot")
}

fn name(w: &mut W, value: &str) -> Io {
    start(w, "rim:Name", &[])?;
    empty(
        w,
        "rim:LocalizedString",
        &[
            ("charset", "UTF-8"),
            ("value", value),
            ("xml:lang", "fr-FR"),
        ],
    )?;
    end(w, "rim:Name")
}

fn start(w: &mut W, name: &str, attributes: &[(&str, &str)]) -> Io {
    w.write_event(Event::Start(
        BytesStart::new(name).with_attributes(attributes.iter().copied()),
    ))
}

fn end(w: &mut W, name: &str) -> Io {
    w.write_event(Event::End(BytesEnd::new(name)))
}

fn empty(w: &mut W, name: &str, attributes: &[(&str, &str)]) -> Io {
    w.write_event(Event::Empty(
        BytesStart::new(name).with_attributes(attributes.iter().copied()),
    ))
}
