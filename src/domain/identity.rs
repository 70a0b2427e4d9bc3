//! RNIV identity vigilance: the confidence status of an identity, its
//! attributes, and every transition between them.
//!
//! Two independent axes give four exclusive statuses (RNIV 1 v2.0 EXI SI 07):
//! traits retrieved from INSi (I) × checked on a high-trust identity document (C).
//!
//! ```text
//!              C: document checked
//!              no        yes
//! I: INSi  no  PROV      VALI
//!          yes RECUP     QUAL
//! ```
//!
//! The status is never stored on its own: it is computed from the axes and the
//! attributes, so an impossible combination cannot be built.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ins::{Ins, InsHistoryEntry};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdentityStatus {
    Prov,
    Recup,
    Vali,
    Qual,
}

impl IdentityStatus {
    pub const ALL: [IdentityStatus; 4] = [Self::Prov, Self::Recup, Self::Vali, Self::Qual];

    /// RNIV axes → status (EXI SI 07).
    pub fn from_axes(insi_retrieved: bool, document_checked: bool) -> IdentityStatus {
        match (insi_retrieved, document_checked) {
            (false, false) => Self::Prov,
            (true, false) => Self::Recup,
            (false, true) => Self::Vali,
            (true, true) => Self::Qual,
        }
    }

    /// Code of the FR Core code system (`fr-core-cs-identity-status`).
    pub fn code(self) -> &'static str {
        match self {
            Self::Prov => "PROV",
            Self::Recup => "RECUP",
            Self::Vali => "VALI",
            Self::Qual => "QUAL",
        }
    }

    pub fn parse(code: &str) -> Option<IdentityStatus> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Prov => "Identité provisoire",
            Self::Recup => "Identité récupérée",
            Self::Vali => "Identité validée",
            Self::Qual => "Identité qualifiée",
        }
    }
}

/// RNIV attributes (EXI SI 09; Guide INS EXI ID 24/26). Only reachable through
/// the transitions of [`Vigilance`], which keep the cumulation rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attributes {
    /// Homonyme: compatible with every status.
    pub homa: bool,
    /// Identité douteuse: forces PROV, forbids INSi.
    pub dout: bool,
    /// Identité fictive (anonymity, pseudonym): forces PROV, forbids INSi, no INS,
    /// combines with no other attribute.
    pub fict: bool,
}

impl Attributes {
    pub fn codes(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.homa {
            v.push("HOMA");
        }
        if self.dout {
            v.push("DOUT");
        }
        if self.fict {
            v.push("FICT");
        }
        v
    }

    /// Comma-separated codes, as stored.
    pub fn to_csv(&self) -> String {
        self.codes().join(",")
    }

    pub fn from_csv(csv: &str) -> Attributes {
        let has = |c: &str| csv.split(',').any(|x| x.trim() == c);
        Attributes {
            homa: has("HOMA"),
            dout: has("DOUT"),
            fict: has("FICT"),
        }
    }

    pub fn labels(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.homa {
            v.push("Homonyme");
        }
        if self.dout {
            v.push("Identité douteuse");
        }
        if self.fict {
            v.push("Identité fictive");
        }
        v
    }
}

/// What INSi returned and the operator confirmed (the I axis).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsRetrieval {
    pub ins: Ins,
    /// Former INS as returned (INSHISTO), kept unchanged (Guide INS EXI REC 07/08).
    pub history: Vec<InsHistoryEntry>,
    pub retrieved_at: DateTime<Utc>,
    pub retrieved_by: String,
    /// The key of the returned matricule did not verify: shown, never rejected.
    pub key_mismatch: bool,
}

/// A high-trust identity document checked by a professional (the C axis).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentCheck {
    /// Code of the document type (FR Core `fr-core-cs-identity-mode-validation`).
    pub kind: String,
    pub checked_by: String,
    pub checked_at: DateTime<Utc>,
}

/// Why a transition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "identité fictive (accueil anonyme) : aucun appel au téléservice INSi, aucun INS, aucune pièce d'identité — l'anonymat se lève en créant une identité réelle"
    )]
    Fictitious,
    #[error(
        "identité douteuse : levez d'abord le doute (attribut « identité douteuse ») avant d'interroger INSi ou d'enregistrer une pièce"
    )]
    Doubtful,
    #[error("l'identité fictive ne se combine avec aucun autre attribut")]
    FictitiousCombination,
    #[error("aucun doute n'est enregistré sur cette identité")]
    NotDoubtful,
    #[error("aucun INS n'a été récupéré pour cette identité")]
    NoIns,
}

/// The identity-vigilance state of a file. Missing fields read as absent:
/// files written before identity vigilance existed hold `{}` (provisional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Vigilance {
    attributes: Attributes,
    ins: Option<InsRetrieval>,
    document: Option<DocumentCheck>,
}

impl Vigilance {
    /// A new identity typed at reception: provisional.
    pub fn provisional() -> Vigilance {
        Vigilance::default()
    }

    /// Anonymous care (CSP L.3414-1; ANS FAQ: a pseudonym is an « identité
    /// fictive »): PROV forever, no INS.
    pub fn fictitious() -> Vigilance {
        Vigilance {
            attributes: Attributes {
                fict: true,
                ..Attributes::default()
            },
            ins: None,
            document: None,
        }
    }

    /// Rebuilds a stored state, enforcing the rules on what was read: a
    /// fictitious or doubtful identity never carries an INS (EXI ID 26).
    pub fn restore(
        attributes: Attributes,
        ins: Option<InsRetrieval>,
        document: Option<DocumentCheck>,
    ) -> Vigilance {
        let mut attributes = attributes;
        if attributes.fict {
            attributes = Attributes {
                fict: true,
                ..Attributes::default()
            };
        }
        let blocked = attributes.fict || attributes.dout;
        Vigilance {
            attributes,
            ins: if blocked { None } else { ins },
            document: if attributes.fict { None } else { document },
        }
    }

    /// DOUT and FICT force PROV whatever the axes (RNIV EXI SI 09).
    pub fn status(&self) -> IdentityStatus {
        if self.attributes.fict || self.attributes.dout {
            return IdentityStatus::Prov;
        }
        IdentityStatus::from_axes(self.ins.is_some(), self.document.is_some())
    }

    pub fn attributes(&self) -> Attributes {
        self.attributes
    }
    pub fn ins(&self) -> Option<&InsRetrieval> {
        self.ins.as_ref()
    }
    pub fn document(&self) -> Option<&DocumentCheck> {
        self.document.as_ref()
    }
    pub fn is_fictitious(&self) -> bool {
        self.attributes.fict
    }

    /// INSi may be queried only for a real, undoubted identity (RNIV EXI SI 09).
    pub fn may_call_insi(&self) -> Result<(), Refusal> {
        if self.attributes.fict {
            Err(Refusal::Fictitious)
        } else if self.attributes.dout {
            Err(Refusal::Doubtful)
        } else {
            Ok(())
        }
    }

    /// The operator compared the INSi answer with the person and confirmed
    /// it is them: PROV → RECUP, VALI → QUAL. A re-query keeps the former
    /// active INS in the history when it changed.
    pub fn confirm_insi(&self, retrieval: InsRetrieval) -> Result<Vigilance, Refusal> {
        self.may_call_insi()?;
        let mut retrieval = retrieval;
        if let Some(previous) = &self.ins {
            if previous.ins != retrieval.ins {
                let former = InsHistoryEntry {
                    matricule: previous.ins.matricule.clone(),
                    oid: previous.ins.oid.oid().to_string(),
                    start: None,
                    end: None,
                };
                if !retrieval.history.contains(&former) {
                    retrieval.history.push(former);
                }
            }
            for old in &previous.history {
                if !retrieval.history.contains(old) {
                    retrieval.history.push(old.clone());
                }
            }
        }
        Ok(Vigilance {
            ins: Some(retrieval),
            ..self.clone()
        })
    }

    /// A high-trust document was checked: PROV → VALI, RECUP → QUAL.
    pub fn record_document(&self, check: DocumentCheck) -> Result<Vigilance, Refusal> {
        self.may_call_insi()?;
        Ok(Vigilance {
            document: Some(check),
            ..self.clone()
        })
    }

    /// A doubt on the identity: PROV, and the INS and document check are
    /// invalidated (Guide INS EXI ID 26: downgrade → matricule invalidated; the
    /// identity must be verified again once the doubt is lifted).
    pub fn mark_doubtful(&self) -> Result<Vigilance, Refusal> {
        if self.attributes.fict {
            return Err(Refusal::FictitiousCombination);
        }
        Ok(Vigilance {
            attributes: Attributes {
                dout: true,
                ..self.attributes
            },
            ins: None,
            document: None,
        })
    }

    /// The doubt is lifted; the identity stays PROV until verified again.
    pub fn clear_doubt(&self) -> Result<Vigilance, Refusal> {
        if !self.attributes.dout {
            return Err(Refusal::NotDoubtful);
        }
        Ok(Vigilance {
            attributes: Attributes {
                dout: false,
                ..self.attributes
            },
            ..self.clone()
        })
    }

    /// HOMA goes with every status, never with FICT.
    pub fn set_homonym(&self, homonym: bool) -> Result<Vigilance, Refusal> {
        if self.attributes.fict {
            return Err(Refusal::FictitiousCombination);
        }
        Ok(Vigilance {
            attributes: Attributes {
                homa: homonym,
                ..self.attributes
            },
            ..self.clone()
        })
    }

    /// INSi answered something inconsistent with the stored INS (no identity,
    /// other traits): back to PROV, INS and document check invalidated.
    pub fn insi_inconsistent(&self) -> Result<Vigilance, Refusal> {
        if self.ins.is_none() {
            return Err(Refusal::NoIns);
        }
        Ok(Vigilance {
            attributes: self.attributes,
            ins: None,
            document: None,
        })
    }
}

/// High-trust identity documents (FR Core `fr-core-cs-identity-mode-validation`;
/// RNIV 2024 special cases). The structure chooses which it accepts
/// (Guide INS EXI ID 19).
pub const DOCUMENT_KINDS: [(&str, &str); 10] = [
    ("PA", "Passeport"),
    ("CN", "Carte nationale d'identité"),
    ("CS", "Titre de séjour"),
    ("eCN", "Carte nationale d'identité électronique"),
    ("IN", "Identité Numérique La Poste"),
    ("LECV", "Livret de famille avec carte Vitale à photo"),
    ("ANCV", "Acte de naissance avec carte Vitale à photo"),
    (
        "AN",
        "Extrait d'acte de naissance (mineur, avec pièce du parent)",
    ),
    ("LEP", "Livret de famille des parents (mineur)"),
    ("CC", "Carnet de circulation pour étranger mineur"),
];

pub fn document_label(code: &str) -> Option<&'static str> {
    DOCUMENT_KINDS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, l)| *l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ins::{InsOid, Matricule};

    fn retrieval(number: &str, key: &str) -> InsRetrieval {
        let (matricule, _) = Matricule::from_insi(number, key).unwrap();
        InsRetrieval {
            ins: Ins {
                matricule,
                oid: InsOid::Nir,
            },
            history: vec![],
            retrieved_at: Utc::now(),
            retrieved_by: "Lucie Bernard".into(),
            key_mismatch: false,
        }
    }

    fn passport() -> DocumentCheck {
        DocumentCheck {
            kind: "PA".into(),
            checked_by: "Lucie Bernard".into(),
            checked_at: Utc::now(),
        }
    }

    #[test]
    fn files_from_before_identity_vigilance_read_as_provisional() {
        let v: Vigilance = serde_json::from_str("{}").unwrap();
        assert_eq!(v, Vigilance::provisional());
    }

    #[test]
    fn four_statuses_from_two_axes() {
        assert_eq!(
            IdentityStatus::from_axes(false, false),
            IdentityStatus::Prov
        );
        assert_eq!(
            IdentityStatus::from_axes(true, false),
            IdentityStatus::Recup
        );
        assert_eq!(IdentityStatus::from_axes(false, true), IdentityStatus::Vali);
        assert_eq!(IdentityStatus::from_axes(true, true), IdentityStatus::Qual);
        for s in IdentityStatus::ALL {
            assert_eq!(IdentityStatus::parse(s.code()), Some(s));
        }
        assert_eq!(IdentityStatus::parse("QUALIF"), None);
    }

    #[test]
    fn insi_then_document_qualifies_and_the_reverse_too() {
        let v = Vigilance::provisional();
        assert_eq!(v.status(), IdentityStatus::Prov);
        let recup = v.confirm_insi(retrieval("2751263220749", "74")).unwrap();
        assert_eq!(recup.status(), IdentityStatus::Recup);
        let qual = recup.record_document(passport()).unwrap();
        assert_eq!(qual.status(), IdentityStatus::Qual);

        let vali = Vigilance::provisional()
            .record_document(passport())
            .unwrap();
        assert_eq!(vali.status(), IdentityStatus::Vali);
        let qual2 = vali.confirm_insi(retrieval("2751263220749", "74")).unwrap();
        assert_eq!(qual2.status(), IdentityStatus::Qual);
    }

    #[test]
    fn fictitious_is_prov_forever_and_refuses_everything() {
        let f = Vigilance::fictitious();
        assert_eq!(f.status(), IdentityStatus::Prov);
        assert_eq!(f.attributes().codes(), vec!["FICT"]);
        assert_eq!(f.may_call_insi(), Err(Refusal::Fictitious));
        assert_eq!(
            f.confirm_insi(retrieval("2751263220749", "74")),
            Err(Refusal::Fictitious)
        );
        assert_eq!(f.record_document(passport()), Err(Refusal::Fictitious));
        assert_eq!(f.mark_doubtful(), Err(Refusal::FictitiousCombination));
        assert_eq!(f.set_homonym(true), Err(Refusal::FictitiousCombination));
        assert!(f.ins().is_none());
    }

    #[test]
    fn doubt_downgrades_to_prov_and_invalidates_the_ins() {
        let qual = Vigilance::provisional()
            .confirm_insi(retrieval("2751263220749", "74"))
            .unwrap()
            .record_document(passport())
            .unwrap()
            .set_homonym(true)
            .unwrap();
        assert_eq!(qual.status(), IdentityStatus::Qual, "HOMA goes with QUAL");
        let doubtful = qual.mark_doubtful().unwrap();
        assert_eq!(doubtful.status(), IdentityStatus::Prov);
        assert!(doubtful.ins().is_none() && doubtful.document().is_none());
        let a = doubtful.attributes();
        assert!(a.dout && a.homa, "only DOUT+HOMA may be combined");
        assert_eq!(doubtful.may_call_insi(), Err(Refusal::Doubtful));
        assert_eq!(doubtful.record_document(passport()), Err(Refusal::Doubtful));
        let cleared = doubtful.clear_doubt().unwrap();
        assert_eq!(cleared.status(), IdentityStatus::Prov);
        assert!(cleared.may_call_insi().is_ok());
        assert_eq!(cleared.clear_doubt(), Err(Refusal::NotDoubtful));
    }

    #[test]
    fn inconsistent_insi_answer_goes_back_to_prov() {
        let v = Vigilance::provisional()
            .record_document(passport())
            .unwrap()
            .confirm_insi(retrieval("2751263220749", "74"))
            .unwrap();
        let down = v.insi_inconsistent().unwrap();
        assert_eq!(down.status(), IdentityStatus::Prov);
        assert!(down.ins().is_none());
        assert_eq!(
            Vigilance::provisional().insi_inconsistent(),
            Err(Refusal::NoIns)
        );
    }

    #[test]
    fn requery_with_a_new_ins_keeps_the_former_one() {
        let v = Vigilance::provisional()
            .confirm_insi(retrieval("1090763220888", "35"))
            .unwrap();
        let v2 = v.confirm_insi(retrieval("1090763220834", "89")).unwrap();
        let r = v2.ins().unwrap();
        assert_eq!(r.ins.matricule.as_string(), "109076322083489");
        assert_eq!(r.history.len(), 1);
        assert_eq!(r.history[0].matricule.as_string(), "109076322088835");
        // Same INS again: nothing added.
        let v3 = v2.confirm_insi(retrieval("1090763220834", "89")).unwrap();
        assert_eq!(v3.ins().unwrap().history.len(), 1);
    }

    #[test]
    fn restore_enforces_the_rules_on_stored_data() {
        let bad = Vigilance::restore(
            Attributes {
                fict: true,
                homa: true,
                dout: true,
            },
            Some(retrieval("2751263220749", "74")),
            Some(passport()),
        );
        assert_eq!(bad.attributes().codes(), vec!["FICT"]);
        assert!(bad.ins().is_none() && bad.document().is_none());
        let doubtful = Vigilance::restore(
            Attributes {
                dout: true,
                ..Attributes::default()
            },
            Some(retrieval("2751263220749", "74")),
            None,
        );
        assert!(doubtful.ins().is_none());
        assert_eq!(doubtful.status(), IdentityStatus::Prov);
    }

    #[test]
    fn document_kinds_are_known() {
        assert_eq!(document_label("PA"), Some("Passeport"));
        assert_eq!(document_label("XX"), None);
        for (code, _) in DOCUMENT_KINDS {
            assert!(document_label(code).is_some());
        }
    }

    #[test]
    fn attribute_codes_round_trip() {
        let a = Attributes {
            homa: true,
            dout: true,
            fict: false,
        };
        assert_eq!(a.to_csv(), "HOMA,DOUT");
        assert_eq!(Attributes::from_csv(&a.to_csv()), a);
        assert_eq!(Attributes::from_csv(""), Attributes::default());
    }
}
