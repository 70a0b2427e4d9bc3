//! Merging two files of one person (RNIV « fusion de doublons »): which
//! identity the surviving file keeps, and whether the merge may happen.

use super::identity::{IdentityStatus, Vigilance};
use super::usager::{Contact, UsagerData};

/// A file taking part in a merge.
pub struct Side<'a> {
    pub data: &'a UsagerData,
    pub vigilance: &'a Vigilance,
}

fn rank(s: IdentityStatus) -> u8 {
    match s {
        IdentityStatus::Prov => 0,
        IdentityStatus::Recup | IdentityStatus::Vali => 1,
        IdentityStatus::Qual => 2,
    }
}

/// The survivor keeps the identity with the best RNIV status (its own on a
/// tie), the homonym attribute if either had it, and its contact details
/// completed by the other file's.
pub fn survivor_state(survivor: &Side, merged: &Side) -> (UsagerData, Vigilance) {
    let keep_merged = rank(merged.vigilance.status()) > rank(survivor.vigilance.status());
    let (winner, loser) = if keep_merged {
        (merged, survivor)
    } else {
        (survivor, merged)
    };
    let mut vigilance = winner.vigilance.clone();
    if loser.vigilance.attributes().homa
        && !vigilance.attributes().homa
        && let Ok(v) = vigilance.set_homonym(true)
    {
        vigilance = v;
    }
    let (a, b) = (&survivor.data.contact, &merged.data.contact);
    let contact = Contact {
        phone: a.phone.clone().or_else(|| b.phone.clone()),
        email: a.email.clone().or_else(|| b.email.clone()),
        address: a.address.clone().or_else(|| b.address.clone()),
    };
    (
        UsagerData {
            identity: winner.data.identity.clone(),
            contact,
        },
        vigilance,
    )
}

/// Why a merge is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeRefusal {
    #[error("un dossier ne se fusionne pas avec lui-même")]
    SameFile,
    #[error(
        "un dossier anonyme ne se fusionne avec une identité réelle que par la levée d'anonymat, à la demande de la personne : enregistrez sa demande, puis la décision, depuis le dossier anonyme"
    )]
    AnonymousWithoutLift,
    #[error(
        "deux dossiers anonymes ne se fusionnent pas : rien ne prouve qu'il s'agit de la même personne"
    )]
    BothAnonymous,
    #[error("ce dossier a déjà été fusionné dans un autre")]
    AlreadyMerged,
    #[error(
        "ces deux dossiers portent deux INS différents : ce sont deux personnes (collision), pas un doublon — signalez-le au référent au lieu de fusionner"
    )]
    DifferentIns,
}

/// Two different INS are two people (RNIV): never merged.
pub fn same_person_by_ins(a: &Vigilance, b: &Vigilance) -> Result<(), MergeRefusal> {
    match (a.ins(), b.ins()) {
        (Some(x), Some(y)) if x.ins.matricule != y.ins.matricule => Err(MergeRefusal::DifferentIns),
        _ => Ok(()),
    }
}

/// Anonymity (CSP L.3414-1): an anonymous file joins a real one only along a
/// decided anonymity lift linking exactly these two files, and the real one survives.
pub fn may_merge(
    survivor_anonymous: bool,
    merged_anonymous: bool,
    lift_links_them: bool,
) -> Result<(), MergeRefusal> {
    match (survivor_anonymous, merged_anonymous) {
        (true, true) => Err(MergeRefusal::BothAnonymous),
        (true, false) => Err(MergeRefusal::AnonymousWithoutLift),
        (false, true) if !lift_links_them => Err(MergeRefusal::AnonymousWithoutLift),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::identity::DocumentCheck;
    use crate::domain::usager::{Identity, Sex};
    use chrono::{NaiveDate, Utc};

    fn data(name: &str, phone: Option<&str>) -> UsagerData {
        UsagerData {
            identity: Identity::Traits {
                birth_name: name.into(),
                first_names: "ANNE".into(),
                used_name: None,
                used_first_name: None,
                birth_date: NaiveDate::from_ymd_opt(1980, 1, 2).unwrap(),
                sex: Sex::F,
                birth_place_code: None,
            },
            contact: Contact {
                phone: phone.map(str::to_string),
                ..Contact::default()
            },
        }
    }

    #[test]
    fn the_best_status_survives_and_contacts_are_completed() {
        let (a, b) = (data("DUPONT", None), data("DUPOND", Some("0600000000")));
        let prov = Vigilance::provisional();
        let vali = Vigilance::provisional()
            .record_document(DocumentCheck {
                kind: "CN".into(),
                checked_by: "x".into(),
                checked_at: Utc::now(),
            })
            .unwrap();
        let (d, v) = survivor_state(
            &Side {
                data: &a,
                vigilance: &prov,
            },
            &Side {
                data: &b,
                vigilance: &vali,
            },
        );
        assert_eq!(v.status(), IdentityStatus::Vali);
        assert!(
            matches!(d.identity, Identity::Traits { ref birth_name, .. } if birth_name == "DUPOND")
        );
        assert_eq!(d.contact.phone.as_deref(), Some("0600000000"));
        // On a tie the survivor keeps its own identity; the homonym attribute is kept.
        let homa = Vigilance::provisional().set_homonym(true).unwrap();
        let (d, v) = survivor_state(
            &Side {
                data: &a,
                vigilance: &prov,
            },
            &Side {
                data: &b,
                vigilance: &homa,
            },
        );
        assert!(
            matches!(d.identity, Identity::Traits { ref birth_name, .. } if birth_name == "DUPONT")
        );
        assert!(v.attributes().homa);
    }

    #[test]
    fn anonymity_only_through_a_decided_lift() {
        assert_eq!(may_merge(false, false, false), Ok(()));
        assert_eq!(may_merge(false, true, true), Ok(()));
        assert_eq!(
            may_merge(false, true, false),
            Err(MergeRefusal::AnonymousWithoutLift)
        );
        assert_eq!(
            may_merge(true, false, true),
            Err(MergeRefusal::AnonymousWithoutLift)
        );
        assert_eq!(
            may_merge(true, true, true),
            Err(MergeRefusal::BothAnonymous)
        );
    }
}
