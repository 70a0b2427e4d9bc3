//! The VIHF (« Vecteur d'Identification et d'Habilitation Formelles »): the
//! SAML 2.0 assertion every DMP call carries in its `wsse:Security` header,
//! saying which structure acts, for which professional, about which patient
//! (research/dmp-mss.md §1.4, from the DMP package's examples and the ANS
//! mapping table). Signed with the structure's SIGN certificate.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::c14n::Element;
use super::xmldsig::{SignError, Signer};
use crate::domain::ins::Ins;
use crate::domain::terminology::Code;

pub const NS_SAML2: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const NS_HL7: &str = "urn:hl7-org:v3";
const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// How the user was authenticated by Escale (the structure's certificate
/// vouches for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthenticationMode {
    /// The structure's certificate alone.
    Indirecte,
    /// The user authenticated strongly in Escale (Pro Santé Connect).
    IndirecteRenforcee,
}

impl AuthenticationMode {
    pub fn code(self) -> &'static str {
        match self {
            AuthenticationMode::Indirecte => "INDIRECTE",
            AuthenticationMode::IndirecteRenforcee => "INDIRECTE_RENFORCEE",
        }
    }
}

/// The software, as the DMP registered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Software {
    pub id: String,
    pub name: String,
    pub version: String,
    /// The DMP homologation number of the software.
    pub homologation: String,
}

/// Everything one VIHF says.
#[derive(Debug, Clone)]
pub struct Vihf<'a> {
    pub id: Uuid,
    pub issued_at: DateTime<Utc>,
    /// The DN of the signing certificate.
    pub issuer: &'a str,
    /// The professional's national identifier (IDNPS).
    pub professional_id: &'a str,
    /// « Prénom NOM ».
    pub professional_name: &'a str,
    /// The profession (TRE_G15, or the JDV_J65 code of a non-PS role) and,
    /// for a physician, the specialty: two values of one attribute
    /// (research/dmp-mss.md §7.3).
    pub roles: Vec<Code>,
    /// IDNST: `1` + FINESS.
    pub structure_id: &'a str,
    /// The structure's sector (JDV_J61), e.g. `SA41`.
    pub sector: &'a str,
    pub mode: AuthenticationMode,
    /// The patient whose DMP is reached (none for calls about no patient).
    pub patient: Option<&'a Ins>,
    pub software: &'a Software,
}

/// `INS^^^&OID&ISO^NH`: the patient identifier of the DMP.
pub fn patient_id(ins: &Ins) -> String {
    format!("{}^^^&{}&ISO^NH", ins.matricule.as_string(), ins.oid.oid())
}

/// The signed assertion, as an element (its `canonical()` form is what is
/// sent).
pub fn assertion(v: &Vihf<'_>, signer: &Signer) -> Result<Element, SignError> {
    let ns = [("saml2", NS_SAML2), ("", NS_HL7), ("xsi", NS_XSI)];
    let root = Element::new("saml2:Assertion", &ns);
    let instant = v.issued_at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let string_attribute = |name: &str, value: &str| {
        root.child("saml2:Attribute")
            .attr("Name", name)
            .push(root.child("saml2:AttributeValue").text(value))
    };
    let coded = |tag: &str, c: &Code| {
        root.child(tag)
            .attr("xsi:type", "CE")
            .attr("code", &c.code)
            .attr("codeSystem", &c.system)
            .attr("displayName", &c.label)
    };
    let mut roles = root
        .child("saml2:Attribute")
        .attr("Name", "urn:oasis:names:tc:xacml:2.0:subject:role");
    for r in &v.roles {
        roles = roles.push(root.child("saml2:AttributeValue").push(coded("Role", r)));
    }
    let purpose = Code::new("normal", "1.2.250.1.213.1.1.4.248", "Accès normal");
    let mut statement = root
        .child("saml2:AttributeStatement")
        .push(string_attribute("VIHF_Version", "3.0"))
        .push(string_attribute("Identifiant_Structure", v.structure_id))
        .push(string_attribute(
            "Secteur_Activite",
            &format!("{}^1.2.250.1.71.4.2.4", v.sector),
        ))
        .push(string_attribute(
            "urn:oasis:names:tc:xspa:1.0:subject:subject-id",
            v.professional_name,
        ))
        .push(roles)
        .push(string_attribute("Authentification_Mode", v.mode.code()))
        .push(
            root.child("saml2:Attribute")
                .attr("Name", "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse")
                .push(
                    root.child("saml2:AttributeValue")
                        .push(coded("PurposeOfUse", &purpose)),
                ),
        );
    if let Some(ins) = v.patient {
        statement = statement.push(string_attribute(
            "urn:oasis:names:tc:xacml:2.0:resource:resource-id",
            &patient_id(ins),
        ));
    }
    statement = statement
        .push(string_attribute("Ressource_URN", "urn:dmp"))
        .push(string_attribute("LPS_ID", &v.software.id))
        .push(string_attribute("LPS_Nom", &v.software.name))
        .push(string_attribute("LPS_Version", &v.software.version))
        .push(string_attribute(
            "LPS_ID_HOMOLOGATION_DMP",
            &v.software.homologation,
        ));
    let mut assertion = root
        .clone()
        .attr("ID", &format!("_{}", v.id))
        .attr("IssueInstant", &instant)
        .attr("Version", "2.0")
        .push(
            root.child("saml2:Issuer")
                .attr(
                    "Format",
                    "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName",
                )
                .text(v.issuer),
        )
        .push(
            root.child("saml2:Subject")
                .push(root.child("saml2:NameID").text(v.professional_id)),
        )
        .push(
            root.child("saml2:AuthnStatement")
                .attr("AuthnInstant", &instant)
                .push(
                    root.child("saml2:AuthnContext").push(
                        root.child("saml2:AuthnContextClassRef")
                            .text("urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient"),
                    ),
                ),
        )
        .push(statement);
    // SAML 2.0 core: the signature comes right after the issuer.
    signer.sign_enveloped(&mut assertion, 1)?;
    Ok(assertion)
}
