//! CDA R2 level 1 (CI-SIS « structuration minimale », non-structured body):
//! the header a DMP or an MSSanté reader relies on, and the PDF in
//! `nonXMLBody` as base64.
//!
//! The patient comes only as a [`ShareableIdentity`] (`domain::sharing`): a
//! CDA carries an INS, so only a qualified identity gets one, with every INS
//! trait (the structMin schematron requires them once an INS OID is there).
//! Every string is written by quick-xml, which escapes it.

use base64::Engine;
use chrono::{DateTime, Utc};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use uuid::Uuid;

use crate::domain::document::DocumentType;
use crate::domain::sharing::ShareableIdentity;
pub use crate::domain::terminology::Code;
use crate::domain::usager::Sex;

/// A professional as the header names one (author, legal authenticator,
/// performer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Professional<'a> {
    /// The national identifier (IDNPS: `8` + RPPS).
    pub idnps: &'a str,
    pub given: &'a str,
    pub family: &'a str,
    /// The profession or specialty (JDV_J01), when Escale knows it.
    pub specialty: Option<Code>,
}

/// The structure: author's organisation, custodian, place of care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization<'a> {
    pub finess: &'a str,
    pub name: &'a str,
    /// healthcareFacilityTypeCode (JDV_J02).
    pub facility_type: Code,
    /// practiceSettingCode (JDV_J04).
    pub practice_setting: Code,
}

/// One version of one document.
#[derive(Debug, Clone)]
pub struct Cda<'a> {
    /// The version's id (`id@root`, also the XDS uniqueId).
    pub id: Uuid,
    /// Every version of the document shares it.
    pub set_id: Uuid,
    pub version: i32,
    /// The version this one replaces (`relatedDocument typeCode="RPLC"`).
    pub replaces: Option<Uuid>,
    pub doc_type: &'a DocumentType,
    pub title: &'a str,
    /// When the document was made.
    pub effective_time: DateTime<Utc>,
    /// When the care it documents took place (serviceEvent, encounter).
    pub service_time: DateTime<Utc>,
    pub patient: ShareableIdentity<'a>,
    pub author: Professional<'a>,
    pub legal_authenticator: Professional<'a>,
    pub structure: Organization<'a>,
    pub pdf: &'a [u8],
}

const HL7: &str = "urn:hl7-org:v3";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// HL7 France, CI-SIS structuration minimale, IHE XDS-SD (exactly these three).
const TEMPLATE_IDS: [&str; 3] = [
    "2.16.840.1.113883.2.8.2.1",
    "1.2.250.1.213.1.1.1.1",
    "1.3.6.1.4.1.19376.1.2.20",
];
/// National identifiers of professionals (IDNPS) and of structures (IDNST).
const OID_IDNPS: &str = "1.2.250.1.71.4.2.1";
const OID_IDNST: &str = "1.2.250.1.71.4.2.2";
const OID_CONFIDENTIALITY: &str = "2.16.840.1.113883.5.25";
const OID_GENDER: &str = "2.16.840.1.113883.5.1";

/// A UUID as an OID (ITU-T X.667: `2.25.` and its 128 bits in decimal): the
/// document ids Escale makes need no registered root.
pub fn uuid_oid(id: Uuid) -> String {
    format!("2.25.{}", id.as_u128())
}

/// HL7 time with its offset, as the CI-SIS writes it (`yyyyMMddHHmmss+zzzz`).
fn hl7_time(t: DateTime<Utc>) -> String {
    t.format("%Y%m%d%H%M%S+0000").to_string()
}

/// The IDNST of a structure known by its FINESS (type `1`).
fn idnst(finess: &str) -> String {
    format!("1{finess}")
}

fn gender(sex: Sex) -> (&'static str, &'static str) {
    match sex {
        Sex::M => ("M", "Masculin"),
        Sex::F => ("F", "Féminin"),
        Sex::I => ("UN", "Indéterminé"),
    }
}

/// The document as UTF-8 XML.
pub fn render(cda: &Cda<'_>) -> String {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    write_document(&mut w, cda).expect("écriture XML en mémoire");
    String::from_utf8(w.into_inner()).expect("quick-xml écrit de l'UTF-8")
}

type W = Writer<Vec<u8>>;
type Io = std::io::Result<()>;

fn write_document(w: &mut W, d: &Cda<'_>) -> Io {
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    w.write_event(Event::Start(
        BytesStart::new("ClinicalDocument").with_attributes([("xmlns", HL7), ("xmlns:xsi", XSI)]),
    ))?;
    empty(w, "realmCode", &[("code", "FR")])?;
    empty(
        w,
        "typeId",
        &[
            ("root", "2.16.840.1.113883.1.3"),
            ("extension", "POCD_HD000040"),
        ],
    )?;
    for root in TEMPLATE_IDS {
        empty(w, "templateId", &[("root", root)])?;
    }
    empty(w, "id", &[("root", &uuid_oid(d.id))])?;
    empty(
        w,
        "code",
        &[
            ("code", &d.doc_type.code),
            ("displayName", &d.doc_type.label),
            ("codeSystem", &d.doc_type.system),
        ],
    )?;
    leaf(w, "title", d.title)?;
    empty(
        w,
        "effectiveTime",
        &[("value", &hl7_time(d.effective_time))],
    )?;
    // Who may read it inside the DMP is XDS metadata (MASQUE_PS, …); the
    // CDA's own code stays « normal ».
    empty(
        w,
        "confidentialityCode",
        &[
            ("code", "N"),
            ("displayName", "Normal"),
            ("codeSystem", OID_CONFIDENTIALITY),
        ],
    )?;
    empty(w, "languageCode", &[("code", "fr-FR")])?;
    empty(w, "setId", &[("root", &uuid_oid(d.set_id))])?;
    empty(w, "versionNumber", &[("value", &d.version.to_string())])?;
    record_target(w, &d.patient)?;
    author(w, d)?;
    custodian(w, &d.structure)?;
    legal_authenticator(w, d)?;
    documentation_of(w, d)?;
    if let Some(parent) = d.replaces {
        w.write_event(Event::Start(
            BytesStart::new("relatedDocument").with_attributes([("typeCode", "RPLC")]),
        ))?;
        start(w, "parentDocument")?;
        empty(w, "id", &[("root", &uuid_oid(parent))])?;
        end(w, "parentDocument")?;
        end(w, "relatedDocument")?;
    }
    component_of(w, d)?;
    start(w, "component")?;
    start(w, "nonXMLBody")?;
    w.write_event(Event::Start(BytesStart::new("text").with_attributes([
        ("mediaType", "application/pdf"),
        ("representation", "B64"),
    ])))?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(d.pdf);
    w.write_event(Event::Text(BytesText::new(&b64)))?;
    end(w, "text")?;
    end(w, "nonXMLBody")?;
    end(w, "component")?;
    end(w, "ClinicalDocument")
}

/// The patient: the INS (its OID types it) and every INS trait (RNIV; CI-SIS
/// structMin: birth name and first first name qualified `BR`, all birth first
/// names, birth date, sex, birth place code).
fn record_target(w: &mut W, p: &ShareableIdentity<'_>) -> Io {
    start(w, "recordTarget")?;
    start(w, "patientRole")?;
    empty(
        w,
        "id",
        &[
            ("root", p.ins.oid.oid()),
            ("extension", &p.ins.matricule.as_string()),
        ],
    )?;
    empty(w, "addr", &[("nullFlavor", "NASK")])?;
    empty(w, "telecom", &[("nullFlavor", "NASK")])?;
    w.write_event(Event::Start(
        BytesStart::new("patient").with_attributes([("classCode", "PSN")]),
    ))?;
    start(w, "name")?;
    qualified(w, "family", "BR", p.birth_name)?;
    leaf(w, "given", p.first_names)?;
    let first = p.first_names.split(' ').next().unwrap_or(p.first_names);
    qualified(w, "given", "BR", first)?;
    end(w, "name")?;
    let (code, label) = gender(p.sex);
    empty(
        w,
        "administrativeGenderCode",
        &[
            ("code", code),
            ("displayName", label),
            ("codeSystem", OID_GENDER),
        ],
    )?;
    empty(
        w,
        "birthTime",
        &[("value", &p.birth_date.format("%Y%m%d").to_string())],
    )?;
    start(w, "birthplace")?;
    start(w, "place")?;
    start(w, "addr")?;
    match p.birth_place_code {
        Some(cog) => leaf(w, "county", cog)?,
        None => empty(w, "county", &[("nullFlavor", "UNK")])?,
    }
    end(w, "addr")?;
    end(w, "place")?;
    end(w, "birthplace")?;
    end(w, "patient")?;
    end(w, "patientRole")?;
    end(w, "recordTarget")
}

fn author(w: &mut W, d: &Cda<'_>) -> Io {
    start(w, "author")?;
    empty(w, "time", &[("value", &hl7_time(d.effective_time))])?;
    start(w, "assignedAuthor")?;
    empty(
        w,
        "id",
        &[("root", OID_IDNPS), ("extension", d.author.idnps)],
    )?;
    if let Some(c) = &d.author.specialty {
        code(w, "code", c)?;
    }
    person(w, "assignedPerson", &d.author)?;
    start(w, "representedOrganization")?;
    organization_id_and_name(w, &d.structure)?;
    end(w, "representedOrganization")?;
    end(w, "assignedAuthor")?;
    end(w, "author")
}

fn custodian(w: &mut W, o: &Organization<'_>) -> Io {
    start(w, "custodian")?;
    start(w, "assignedCustodian")?;
    start(w, "representedCustodianOrganization")?;
    organization_id_and_name(w, o)?;
    end(w, "representedCustodianOrganization")?;
    end(w, "assignedCustodian")?;
    end(w, "custodian")
}

fn legal_authenticator(w: &mut W, d: &Cda<'_>) -> Io {
    start(w, "legalAuthenticator")?;
    empty(w, "time", &[("value", &hl7_time(d.effective_time))])?;
    empty(w, "signatureCode", &[("code", "S")])?;
    start(w, "assignedEntity")?;
    empty(
        w,
        "id",
        &[
            ("root", OID_IDNPS),
            ("extension", d.legal_authenticator.idnps),
        ],
    )?;
    person(w, "assignedPerson", &d.legal_authenticator)?;
    end(w, "assignedEntity")?;
    end(w, "legalAuthenticator")
}

/// The act documented: its time, and its performer with the structure's
/// practice setting (the XDS practiceSettingCode is read from here).
fn documentation_of(w: &mut W, d: &Cda<'_>) -> Io {
    start(w, "documentationOf")?;
    start(w, "serviceEvent")?;
    start(w, "effectiveTime")?;
    empty(w, "low", &[("value", &hl7_time(d.service_time))])?;
    end(w, "effectiveTime")?;
    w.write_event(Event::Start(
        BytesStart::new("performer").with_attributes([("typeCode", "PRF")]),
    ))?;
    start(w, "assignedEntity")?;
    empty(
        w,
        "id",
        &[("root", OID_IDNPS), ("extension", d.author.idnps)],
    )?;
    person(w, "assignedPerson", &d.author)?;
    start(w, "representedOrganization")?;
    organization_id_and_name(w, &d.structure)?;
    code(
        w,
        "standardIndustryClassCode",
        &d.structure.practice_setting,
    )?;
    end(w, "representedOrganization")?;
    end(w, "assignedEntity")?;
    end(w, "performer")?;
    end(w, "serviceEvent")?;
    end(w, "documentationOf")
}

/// The encounter: the structure as the place of care, with its facility
/// type (the XDS healthcareFacilityTypeCode).
fn component_of(w: &mut W, d: &Cda<'_>) -> Io {
    start(w, "componentOf")?;
    start(w, "encompassingEncounter")?;
    start(w, "effectiveTime")?;
    empty(w, "low", &[("value", &hl7_time(d.service_time))])?;
    end(w, "effectiveTime")?;
    start(w, "location")?;
    start(w, "healthCareFacility")?;
    empty(
        w,
        "id",
        &[
            ("root", OID_IDNST),
            ("extension", &idnst(d.structure.finess)),
        ],
    )?;
    code(w, "code", &d.structure.facility_type)?;
    end(w, "healthCareFacility")?;
    end(w, "location")?;
    end(w, "encompassingEncounter")?;
    end(w, "componentOf")
}

fn organization_id_and_name(w: &mut W, o: &Organization<'_>) -> Io {
    empty(
        w,
        "id",
        &[("root", OID_IDNST), ("extension", &idnst(o.finess))],
    )?;
    leaf(w, "name", o.name)
}

fn person(w: &mut W, tag: &str, p: &Professional<'_>) -> Io {
    start(w, tag)?;
    start(w, "name")?;
    leaf(w, "given", p.given)?;
    leaf(w, "family", p.family)?;
    end(w, "name")?;
    end(w, tag)
}

fn code(w: &mut W, tag: &str, c: &Code) -> Io {
    empty(
        w,
        tag,
        &[
            ("code", &c.code),
            ("displayName", &c.label),
            ("codeSystem", &c.system),
        ],
    )
}

fn start(w: &mut W, name: &str) -> Io {
    w.write_event(Event::Start(BytesStart::new(name)))
}

fn end(w: &mut W, name: &str) -> Io {
    w.write_event(Event::End(BytesEnd::new(name)))
}

fn empty(w: &mut W, name: &str, attributes: &[(&str, &str)]) -> Io {
    w.write_event(Event::Empty(
        BytesStart::new(name).with_attributes(attributes.iter().copied()),
    ))
}

fn leaf(w: &mut W, name: &str, text: &str) -> Io {
    w.create_element(name)
        .write_text_content(BytesText::new(text))?;
    Ok(())
}

fn qualified(w: &mut W, name: &str, qualifier: &str, text: &str) -> Io {
    w.create_element(name)
        .with_attribute(("qualifier", qualifier))
        .write_text_content(BytesText::new(text))?;
    Ok(())
}
