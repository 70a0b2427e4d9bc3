//! Lenient parser of the INSi answer (`RESULTAT`, XSD `INSi_RESULTAT_INS.xsd`)
//! and of SOAP 1.2 faults (WSDL fault `siram:Erreur`). Matches on local names
//! and ignores prefixes/namespaces, accepts any element order (the CNDA 2.04
//! file puts DateDeb/DateFin before IdIndividu), one or several `INSHISTO`,
//! `Prenom` or `ListePrenom` (DMP package example), extra whitespace.
//! No key check here: a key mismatch must never make parsing fail (CNDA 2.08
//! cas 2, research ins.md §1.7) — the domain checks and logs it.

use super::error::InsiError;
use crate::connectors::xml::{self, Element};

/// `CR/CodeCR` (insi_codes.csv).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeCr {
    /// "00": exactly one identity, `INDIVIDU` present.
    Found,
    /// "01": no identity.
    NotFound,
    /// "02": several identities, no `INDIVIDU`.
    Several,
    Other(String),
}

impl CodeCr {
    pub fn from_code(code: &str) -> Self {
        match code {
            "00" => CodeCr::Found,
            "01" => CodeCr::NotFound,
            "02" => CodeCr::Several,
            other => CodeCr::Other(other.to_owned()),
        }
    }

    pub fn as_code(&self) -> &str {
        match self {
            CodeCr::Found => "00",
            CodeCr::NotFound => "01",
            CodeCr::Several => "02",
            CodeCr::Other(c) => c,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsiResponse {
    pub code: CodeCr,
    /// `CR/LibelleCR`.
    pub label: String,
    pub individu: Option<Individu>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Individu {
    /// `INSACTIF`.
    pub active: InsEntry,
    /// `INSHISTO`, in document order, kept as returned (Guide INS EXI REC 07/08).
    pub history: Vec<InsEntry>,
    /// `TIQ`.
    pub traits: ReturnedTraits,
}

/// `INSACTIF` / `INSHISTO` (type `IdentifiantNationalSante`), strings as returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsEntry {
    /// `IdIndividu/NumIdentifiant` (13 characters).
    pub number: String,
    /// `IdIndividu/Cle` (2 digits), not verified here.
    pub key: String,
    pub type_matricule: Option<String>,
    /// `OID`: `.8` INS-NIR, `.9` INS-NIA… (ins_oids.csv).
    pub oid: String,
    pub start: Option<String>,
    pub end: Option<String>,
}

/// `TIQ` (type `TraitsDIdentite`), strings as returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnedTraits {
    pub birth_name: String,
    /// `ListePrenom` when present, else `Prenom` (DMP package example).
    pub first_names: String,
    pub sex: String,
    pub birth_date: String,
    pub birth_place: Option<String>,
}

/// Parses a whole SOAP answer: `Ok` for a `RESULTAT`, `Err(Fault)` for a SOAP
/// fault, `Err(Malformed)` otherwise.
pub fn parse_response(xml_text: &str) -> Result<InsiResponse, InsiError> {
    let root = xml::parse(xml_text).map_err(InsiError::Malformed)?;
    if let Some(fault) = find_self_or_descendant(&root, "Fault") {
        return Err(parse_fault(fault));
    }
    let resultat = find_self_or_descendant(&root, "RESULTAT")
        .ok_or_else(|| InsiError::Malformed("élément RESULTAT absent".to_owned()))?;
    parse_resultat(resultat)
}

fn find_self_or_descendant<'a>(root: &'a Element, local: &str) -> Option<&'a Element> {
    if root.name == local {
        Some(root)
    } else {
        root.find(local)
    }
}

/// SOAP 1.2 fault: `Code/Value`, `Code/Subcode/Value`, `Reason/Text`,
/// `Detail/siram:Erreur@code` and `@severite` (example
/// `fault_siram_100_desir_550_idam_inconnu.xml`). Prefixes (`soap:siram_100`)
/// are removed from the QName values.
pub fn parse_fault(fault: &Element) -> InsiError {
    let code_el = fault.child("Code");
    let subcode = code_el
        .and_then(|c| c.child("Subcode"))
        .and_then(|s| s.child_text("Value"))
        .map(|v| strip_prefix(&v));
    let erreur = fault.find("Erreur");
    let code = erreur.and_then(|e| e.attribute("code")).map(str::to_owned);
    let severity = erreur
        .and_then(|e| e.attribute("severite"))
        .map(str::to_owned);
    let reason = fault
        .child("Reason")
        .and_then(|r| r.child_text("Text"))
        .or_else(|| erreur.map(|e| e.trimmed_text().to_owned()))
        .unwrap_or_default();
    InsiError::Fault {
        subcode,
        code,
        reason,
        severity,
    }
}

fn strip_prefix(qname: &str) -> String {
    qname.rsplit(':').next().unwrap_or(qname).trim().to_owned()
}

fn parse_resultat(resultat: &Element) -> Result<InsiResponse, InsiError> {
    let cr = resultat
        .child("CR")
        .ok_or_else(|| InsiError::Malformed("élément CR absent".to_owned()))?;
    let code = cr
        .child_text("CodeCR")
        .ok_or_else(|| InsiError::Malformed("élément CodeCR absent".to_owned()))?;
    let label = cr.child_text("LibelleCR").unwrap_or_default();
    let individu = resultat.child("INDIVIDU").map(parse_individu).transpose()?;
    Ok(InsiResponse {
        code: CodeCr::from_code(&code),
        label,
        individu,
    })
}

fn parse_individu(individu: &Element) -> Result<Individu, InsiError> {
    let active = individu
        .child("INSACTIF")
        .ok_or_else(|| InsiError::Malformed("INDIVIDU sans INSACTIF".to_owned()))
        .and_then(parse_entry)?;
    let history = individu
        .children_named("INSHISTO")
        .map(parse_entry)
        .collect::<Result<Vec<_>, _>>()?;
    let tiq = individu
        .child("TIQ")
        .ok_or_else(|| InsiError::Malformed("INDIVIDU sans TIQ".to_owned()))?;
    let required = |name: &str| {
        tiq.child_text(name)
            .ok_or_else(|| InsiError::Malformed(format!("TIQ sans {name}")))
    };
    let first_names = tiq
        .child_text("ListePrenom")
        .filter(|s| !s.is_empty())
        .or_else(|| tiq.child_text("Prenom"))
        .ok_or_else(|| InsiError::Malformed("TIQ sans ListePrenom ni Prenom".to_owned()))?;
    Ok(Individu {
        active,
        history,
        traits: ReturnedTraits {
            birth_name: required("NomNaissance")?,
            first_names,
            sex: required("Sexe")?,
            birth_date: required("DateNaissance")?,
            birth_place: tiq.child_text("LieuNaissance").filter(|s| !s.is_empty()),
        },
    })
}

fn parse_entry(entry: &Element) -> Result<InsEntry, InsiError> {
    let what = entry.name.as_str();
    let id = entry
        .child("IdIndividu")
        .ok_or_else(|| InsiError::Malformed(format!("{what} sans IdIndividu")))?;
    let number = id
        .child_text("NumIdentifiant")
        .ok_or_else(|| InsiError::Malformed(format!("{what} sans NumIdentifiant")))?;
    let optional = |el: &Element, name: &str| el.child_text(name).filter(|s| !s.is_empty());
    Ok(InsEntry {
        number,
        key: id.child_text("Cle").unwrap_or_default(),
        type_matricule: optional(id, "TypeMatricule"),
        oid: entry
            .child_text("OID")
            .ok_or_else(|| InsiError::Malformed(format!("{what} sans OID")))?,
        start: optional(entry, "DateDeb"),
        end: optional(entry, "DateFin"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_order_prefixes_and_whitespace() {
        let xml = r#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body>
          <r:RESULTAT xmlns:r="http://www.cnamts.fr/INSiResultat">
            <r:INDIVIDU>
              <r:TIQ><r:Sexe> F </r:Sexe><r:NomNaissance>X</r:NomNaissance>
                <r:Prenom>A</r:Prenom><r:DateNaissance>2000-01-01</r:DateNaissance></r:TIQ>
              <r:INSHISTO><r:OID>o</r:OID><r:DateFin>2001-01-01</r:DateFin>
                <r:IdIndividu><r:Cle>99</r:Cle><r:NumIdentifiant>2000101000001</r:NumIdentifiant></r:IdIndividu></r:INSHISTO>
              <r:INSACTIF><r:IdIndividu><r:NumIdentifiant>1</r:NumIdentifiant><r:Cle>00</r:Cle>
                <r:TypeMatricule>NIR</r:TypeMatricule></r:IdIndividu><r:OID>1.2.250.1.213.1.4.8</r:OID></r:INSACTIF>
            </r:INDIVIDU>
            <r:CR><r:LibelleCR>OK</r:LibelleCR><r:CodeCR>00</r:CodeCR></r:CR>
          </r:RESULTAT></e:Body></e:Envelope>"#;
        let r = parse_response(xml).unwrap();
        assert_eq!(r.code, CodeCr::Found);
        let i = r.individu.unwrap();
        assert_eq!(i.traits.sex, "F");
        assert_eq!(i.traits.first_names, "A");
        assert_eq!(i.active.type_matricule.as_deref(), Some("NIR"));
        assert_eq!(i.history.len(), 1);
        assert_eq!(i.history[0].key, "99");
        assert_eq!(i.history[0].end.as_deref(), Some("2001-01-01"));
        assert_eq!(i.history[0].start, None);
    }

    #[test]
    fn not_xml_and_no_resultat_are_malformed() {
        assert!(matches!(
            parse_response("<html>"),
            Err(InsiError::Malformed(_))
        ));
        assert!(matches!(
            parse_response("<a/>"),
            Err(InsiError::Malformed(_))
        ));
    }
}
