//! The single answer to « may this identity leave Escale? ».
//!
//! Every outbound artefact (documents, DMP, MSSanté, DataMatrix, exports with
//! an INS) must get its identity from [`shareable`]: it is the only function
//! that hands out an INS. Only a qualified identity (QUAL), neither fictitious
//! nor doubtful, may be shared, and the INS always travels with its traits
//! (RNIV; Guide INS v3.0 §2.2.2; Ségur rule INS/va1.53).

use chrono::NaiveDate;

use super::identity::{IdentityStatus, Vigilance};
use super::ins::Ins;
use super::usager::{Identity, Sex};

/// The INS and the five INS traits, borrowed from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareableIdentity<'a> {
    pub ins: &'a Ins,
    pub birth_name: &'a str,
    pub first_names: &'a str,
    pub birth_date: NaiveDate,
    pub sex: Sex,
    pub birth_place_code: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SharingRefusal {
    #[error(
        "identité fictive (accueil anonyme) : rien ne peut être partagé avec un INS, ni DMP, ni messagerie"
    )]
    Fictitious,
    #[error("identité douteuse : levez le doute et qualifiez l'identité avant tout partage")]
    Doubtful,
    #[error(
        "{}: seule une identité qualifiée (INS récupéré et pièce d'identité vérifiée) peut être partagée",
        .0.label()
    )]
    NotQualified(IdentityStatus),
}

/// May this identity be shared? Yes only when QUAL, not FICT, not DOUT.
pub fn shareable<'a>(
    identity: &'a Identity,
    vigilance: &'a Vigilance,
) -> Result<ShareableIdentity<'a>, SharingRefusal> {
    let attributes = vigilance.attributes();
    if attributes.fict {
        return Err(SharingRefusal::Fictitious);
    }
    if attributes.dout {
        return Err(SharingRefusal::Doubtful);
    }
    let status = vigilance.status();
    let (Some(retrieval), IdentityStatus::Qual) = (vigilance.ins(), status) else {
        return Err(SharingRefusal::NotQualified(status));
    };
    match identity {
        Identity::Traits {
            birth_name,
            first_names,
            birth_date,
            sex,
            birth_place_code,
            ..
        } => Ok(ShareableIdentity {
            ins: &retrieval.ins,
            birth_name,
            first_names,
            birth_date: *birth_date,
            sex: *sex,
            birth_place_code: birth_place_code.as_deref(),
        }),
        // An alias never carries an INS, whatever the vigilance data say.
        Identity::Anonymous { .. } => Err(SharingRefusal::Fictitious),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::identity::{DocumentCheck, InsRetrieval};
    use crate::domain::ins::{InsOid, Matricule};
    use chrono::Utc;

    /// Shared with the other domain tests (ADRUN ZOE, a CNDA test person).
    pub(crate) fn zoe() -> Identity {
        Identity::Traits {
            birth_name: "ADRUN".into(),
            first_names: "ZOE".into(),
            used_name: None,
            used_first_name: None,
            birth_date: NaiveDate::from_ymd_opt(1975, 12, 31).unwrap(),
            sex: Sex::F,
            birth_place_code: Some("63220".into()),
        }
    }

    pub(crate) fn retrieval() -> InsRetrieval {
        InsRetrieval {
            ins: Ins {
                matricule: Matricule::from_insi("2751263220749", "74").unwrap().0,
                oid: InsOid::Nir,
            },
            history: vec![],
            retrieved_at: Utc::now(),
            retrieved_by: "test".into(),
            key_mismatch: false,
        }
    }

    pub(crate) fn document() -> DocumentCheck {
        DocumentCheck {
            kind: "CN".into(),
            checked_by: "test".into(),
            checked_at: Utc::now(),
        }
    }

    #[test]
    fn only_a_qualified_identity_is_shared_with_its_traits() {
        let id = zoe();
        let prov = Vigilance::provisional();
        assert_eq!(
            shareable(&id, &prov),
            Err(SharingRefusal::NotQualified(IdentityStatus::Prov))
        );
        let recup = prov.confirm_insi(retrieval()).unwrap();
        assert_eq!(
            shareable(&id, &recup),
            Err(SharingRefusal::NotQualified(IdentityStatus::Recup))
        );
        let vali = prov.record_document(document()).unwrap();
        assert_eq!(
            shareable(&id, &vali),
            Err(SharingRefusal::NotQualified(IdentityStatus::Vali))
        );
        let qual = recup.record_document(document()).unwrap();
        let shared = shareable(&id, &qual).unwrap();
        assert_eq!(shared.ins.matricule.as_string(), "275126322074974");
        assert_eq!(shared.birth_name, "ADRUN");
        assert_eq!(shared.birth_place_code, Some("63220"));
    }

    #[test]
    fn doubt_and_fiction_are_never_shared() {
        let qual = Vigilance::provisional()
            .confirm_insi(retrieval())
            .unwrap()
            .record_document(document())
            .unwrap();
        let doubtful = qual.mark_doubtful().unwrap();
        assert_eq!(shareable(&zoe(), &doubtful), Err(SharingRefusal::Doubtful));
        assert_eq!(
            shareable(&zoe(), &Vigilance::fictitious()),
            Err(SharingRefusal::Fictitious)
        );
        let alias = Identity::Anonymous {
            alias: "Zébulon".into(),
            sex: None,
            birth_year: None,
        };
        assert_eq!(shareable(&alias, &qual), Err(SharingRefusal::Fictitious));
    }
}
