//! Care episodes, activity entries and notes.

use serde::{Deserialize, Serialize};
use std::str::FromStr;
use thiserror::Error;

use super::roles::{Role, RoleSet};

macro_rules! coded_enum {
    ($(#[$m:meta])* $name:ident, $err:literal { $($variant:ident => $code:literal, $label:literal;)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn code(self) -> &'static str { match self { $($name::$variant => $code),+ } }
            pub fn label(self) -> &'static str { match self { $($name::$variant => $label),+ } }
        }

        impl FromStr for $name {
            type Err = UnknownCode;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL.iter().copied().find(|v| v.code() == s.trim())
                    .ok_or_else(|| UnknownCode { what: $err, code: s.to_string() })
            }
        }
    };
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{what} inconnu : « {code} »")]
pub struct UnknownCode {
    pub what: &'static str,
    pub code: String,
}

coded_enum!(
    /// The setting of a care episode.
    EpisodeKind, "type de prise en charge" {
        Ambulatoire => "ambulatoire", "Ambulatoire";
        Hebergement => "hebergement", "Hébergement";
        Caarud => "caarud", "CAARUD (accueil, réduction des risques)";
        ConsultationJeunes => "cjc", "Consultation jeunes consommateurs";
        Act => "act", "Appartement de coordination thérapeutique";
        Lhss => "lhss", "Lits halte soins santé";
        Lam => "lam", "Lits d'accueil médicalisés";
    }
);

coded_enum!(
    /// What was done with or for the user.
    ActivityKind, "type d'activité" {
        Entretien => "entretien", "Entretien";
        ConsultationMedicale => "consultation_medicale", "Consultation médicale";
        ConsultationPsychologique => "consultation_psychologique", "Consultation psychologique";
        AccompagnementSocial => "accompagnement_social", "Accompagnement social";
        ReductionRisques => "reduction_risques", "Acte de réduction des risques";
        DistributionMateriel => "distribution_materiel", "Distribution de matériel";
    }
);

coded_enum!(
    /// Who may read a note.
    Confidentiality, "niveau de confidentialité" {
        Partagee => "partagee", "Partagée (toute l'équipe)";
        Sociale => "sociale", "Sociale (équipe sociale et soignante)";
        Medicale => "medicale", "Médicale (professionnels de santé)";
    }
);

/// Roles that read medical notes unless the structure says otherwise
/// (secret médical partagé, CSP L.1110-4: health professionals of the team).
pub const DEFAULT_MEDICAL_ROLES: [Role; 3] = [Role::Medecin, Role::Infirmier, Role::Psychologue];

/// Roles a director may count as medical readers. The physician always is;
/// non-health roles never can be (secret médical, CSP L.1110-4).
pub const CONFIGURABLE_MEDICAL_ROLES: [Role; 2] = [Role::Infirmier, Role::Psychologue];

/// The structure's medical readers from the director's choice: the physician plus
/// the chosen health roles; anything else is ignored.
pub fn medical_roles_from_choice(chosen: &[Role]) -> Vec<Role> {
    let mut roles = vec![Role::Medecin];
    roles.extend(
        CONFIGURABLE_MEDICAL_ROLES
            .iter()
            .copied()
            .filter(|r| chosen.contains(r)),
    );
    roles
}

/// Roles of the social team, who read social notes.
const SOCIAL_ROLES: [Role; 3] = [Role::TravailleurSocial, Role::Educateur, Role::Directeur];

/// The confidentiality classes a professional holding `roles` may read, given
/// the roles the structure counts as health professionals.
pub fn readable_classes(roles: &RoleSet, medical_roles: &[Role]) -> Vec<Confidentiality> {
    let medical = roles.any(medical_roles);
    let mut out = vec![Confidentiality::Partagee];
    if medical || roles.any(&SOCIAL_ROLES) {
        out.push(Confidentiality::Sociale);
    }
    if medical {
        out.push(Confidentiality::Medicale);
    }
    out
}

/// One may write a note only in a class one may read.
pub fn may_write(roles: &RoleSet, medical_roles: &[Role], class: Confidentiality) -> bool {
    readable_classes(roles, medical_roles).contains(&class)
}

/// Duration of an activity in minutes: 1 to 24 h.
pub fn parse_duration(input: &str) -> Result<Option<u32>, &'static str> {
    let v = input.trim();
    if v.is_empty() {
        return Ok(None);
    }
    match v.parse::<u32>() {
        Ok(n) if (1..=1440).contains(&n) => Ok(Some(n)),
        _ => Err("la durée s'exprime en minutes, de 1 à 1440"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(r: &[Role]) -> RoleSet {
        RoleSet::new(r.to_vec())
    }

    #[test]
    fn social_worker_never_reads_medical() {
        let classes = readable_classes(&set(&[Role::TravailleurSocial]), &DEFAULT_MEDICAL_ROLES);
        assert_eq!(
            classes,
            vec![Confidentiality::Partagee, Confidentiality::Sociale]
        );
        assert!(!may_write(
            &set(&[Role::TravailleurSocial]),
            &DEFAULT_MEDICAL_ROLES,
            Confidentiality::Medicale
        ));
    }

    #[test]
    fn health_roles_read_everything() {
        for r in DEFAULT_MEDICAL_ROLES {
            assert_eq!(
                readable_classes(&set(&[r]), &DEFAULT_MEDICAL_ROLES).len(),
                3
            );
        }
    }

    #[test]
    fn reception_reads_shared_only_and_structure_rules_apply() {
        assert_eq!(
            readable_classes(&set(&[Role::Accueil]), &DEFAULT_MEDICAL_ROLES),
            vec![Confidentiality::Partagee]
        );
        // A structure that does not count psychologists as medical readers.
        let classes = readable_classes(
            &set(&[Role::Psychologue]),
            &[Role::Medecin, Role::Infirmier],
        );
        assert!(!classes.contains(&Confidentiality::Medicale));
    }

    #[test]
    fn directors_choose_among_health_roles_only() {
        assert_eq!(medical_roles_from_choice(&[]), vec![Role::Medecin]);
        assert_eq!(
            medical_roles_from_choice(&[
                Role::Psychologue,
                Role::TravailleurSocial,
                Role::Directeur
            ]),
            vec![Role::Medecin, Role::Psychologue]
        );
        assert_eq!(
            medical_roles_from_choice(&DEFAULT_MEDICAL_ROLES),
            DEFAULT_MEDICAL_ROLES.to_vec()
        );
    }

    #[test]
    fn codes_round_trip_and_durations() {
        for k in EpisodeKind::ALL {
            assert_eq!(k.code().parse::<EpisodeKind>().unwrap(), *k);
        }
        for k in ActivityKind::ALL {
            assert_eq!(k.code().parse::<ActivityKind>().unwrap(), *k);
        }
        for k in Confidentiality::ALL {
            assert_eq!(k.code().parse::<Confidentiality>().unwrap(), *k);
        }
        assert!("x".parse::<ActivityKind>().is_err());
        assert_eq!(parse_duration(""), Ok(None));
        assert_eq!(parse_duration("45"), Ok(Some(45)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("-3").is_err());
        assert!(parse_duration("99999").is_err());
    }
}
