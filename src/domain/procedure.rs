//! The structure's identity-vigilance procedure, as configured by its director
//! (RNIV: each structure writes its own procedure, names who does what, and
//! trains its staff on it).

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

use super::roles::{Role, RoleSet};

/// An identity action whose roles the director chooses. Qualification (INSi,
/// documents) keeps its own setting (`qualifier_roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityAction {
    Create,
    /// Changing a file's identity traits and contact details (RNIV: the
    /// procedure says who may change an identity).
    Edit,
    MarkDoubtful,
    Merge,
    /// Exporting a whole file (the user's right of access): everything it
    /// holds leaves Escale, so the procedure names who may.
    Export,
}

impl IdentityAction {
    pub const ALL: [IdentityAction; 5] = [
        IdentityAction::Create,
        IdentityAction::Edit,
        IdentityAction::MarkDoubtful,
        IdentityAction::Merge,
        IdentityAction::Export,
    ];
    pub fn code(self) -> &'static str {
        match self {
            IdentityAction::Create => "create",
            IdentityAction::Edit => "edit",
            IdentityAction::MarkDoubtful => "doubt",
            IdentityAction::Merge => "merge",
            IdentityAction::Export => "export",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            IdentityAction::Create => "Créer un dossier",
            IdentityAction::Edit => "Modifier l'identité et les coordonnées d'un dossier",
            IdentityAction::MarkDoubtful => "Signaler une identité douteuse ou une collision",
            IdentityAction::Merge => "Fusionner des dossiers (doublons)",
            IdentityAction::Export => "Exporter un dossier complet (fichier JSON, droit d'accès)",
        }
    }
}

/// Roles per action and the re-verification policy, stored as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdentityPolicy {
    pub create_roles: Vec<Role>,
    /// Absent from policies saved before it existed: every role, as then.
    pub edit_roles: Vec<Role>,
    pub doubt_roles: Vec<Role>,
    pub merge_roles: Vec<Role>,
    /// Absent from policies saved before it existed: the director and the
    /// identity-vigilance referent (export was open to every role then).
    pub export_roles: Vec<Role>,
    /// Re-query INSi when a new episode opens for a recovered/qualified identity.
    pub reverify_on_new_episode: bool,
    /// Re-query INSi when the last retrieval is older than this (months).
    pub reverify_after_months: Option<u32>,
}

impl Default for IdentityPolicy {
    fn default() -> Self {
        IdentityPolicy {
            create_roles: Role::ALL.to_vec(),
            edit_roles: Role::ALL.to_vec(),
            doubt_roles: Role::ALL.to_vec(),
            merge_roles: vec![Role::ReferentIdentitovigilance],
            export_roles: vec![Role::Directeur, Role::ReferentIdentitovigilance],
            reverify_on_new_episode: false,
            reverify_after_months: None,
        }
    }
}

impl IdentityPolicy {
    /// Unreadable JSON falls back to the defaults (never to "nobody may act").
    pub fn from_json(json: &str) -> IdentityPolicy {
        serde_json::from_str(json).unwrap_or_default()
    }
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("policy serialises")
    }
    pub fn roles_for(&self, action: IdentityAction) -> &[Role] {
        match action {
            IdentityAction::Create => &self.create_roles,
            IdentityAction::Edit => &self.edit_roles,
            IdentityAction::MarkDoubtful => &self.doubt_roles,
            IdentityAction::Merge => &self.merge_roles,
            IdentityAction::Export => &self.export_roles,
        }
    }
    pub fn set_roles(&mut self, action: IdentityAction, roles: Vec<Role>) {
        match action {
            IdentityAction::Create => self.create_roles = roles,
            IdentityAction::Edit => self.edit_roles = roles,
            IdentityAction::MarkDoubtful => self.doubt_roles = roles,
            IdentityAction::Merge => self.merge_roles = roles,
            IdentityAction::Export => self.export_roles = roles,
        }
    }
    pub fn allows(&self, roles: &RoleSet, action: IdentityAction) -> bool {
        self.roles_for(action).iter().any(|r| roles.contains(*r))
    }

    /// Whether a recovered/qualified identity is due for a new INSi query.
    pub fn reverification_due(
        &self,
        last_retrieval: Option<NaiveDate>,
        today: NaiveDate,
        new_episode: bool,
    ) -> Option<DueReason> {
        let last = last_retrieval?;
        if new_episode && self.reverify_on_new_episode {
            return Some(DueReason::NewEpisode);
        }
        let months = self.reverify_after_months?;
        let limit = last.checked_add_months(Months::new(months))?;
        (today >= limit).then_some(DueReason::Age(months))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueReason {
    NewEpisode,
    Age(u32),
}

impl DueReason {
    pub fn label(self) -> String {
        match self {
            DueReason::NewEpisode => {
                "nouvelle prise en charge : la procédure demande de revérifier l'identité auprès d'INSi".into()
            }
            DueReason::Age(m) => format!(
                "dernière interrogation INSi il y a plus de {m} mois : la procédure demande de la renouveler"
            ),
        }
    }
}

/// Defaults shown at reception when INSi answers 01 (no identity) or 02
/// (several identities), until the director writes the structure's own text.
pub const DEFAULT_GUIDANCE_01: &str = "Aucune identité trouvée : vérifiez l'orthographe des traits sur la pièce d'identité (nom de naissance, premier prénom, date, sexe), complétez le lieu de naissance, puis relancez. Si rien n'est trouvé, gardez l'identité provisoire et signalez-la au référent.";
pub const DEFAULT_GUIDANCE_02: &str = "Plusieurs identités trouvées : ajoutez le lieu de naissance et la liste complète des prénoms de la pièce d'identité, puis relancez. Ne choisissez jamais une identité au hasard.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_saved_before_the_edit_setting_lets_every_role_edit() {
        let old =
            r#"{"create_roles":["accueil"],"doubt_roles":["accueil"],"merge_roles":["directeur"]}"#;
        let p = IdentityPolicy::from_json(old);
        assert_eq!(p.roles_for(IdentityAction::Edit), Role::ALL);
        assert_eq!(p.roles_for(IdentityAction::Create), [Role::Accueil]);
        let mut p = p;
        p.set_roles(IdentityAction::Edit, vec![Role::Medecin]);
        let back = IdentityPolicy::from_json(&p.to_json());
        assert!(back.allows(&RoleSet::new(vec![Role::Medecin]), IdentityAction::Edit));
        assert!(!back.allows(&RoleSet::new(vec![Role::Accueil]), IdentityAction::Edit));
        // Export was open to all before the setting: now the director and the referent.
        assert_eq!(
            back.roles_for(IdentityAction::Export),
            [Role::Directeur, Role::ReferentIdentitovigilance]
        );
    }

    #[test]
    fn defaults_give_merging_to_the_referent_only() {
        let p = IdentityPolicy::default();
        let accueil = RoleSet::new(vec![Role::Accueil]);
        assert!(p.allows(&accueil, IdentityAction::Create));
        assert!(!p.allows(&accueil, IdentityAction::Merge));
        let referent = RoleSet::new(vec![Role::ReferentIdentitovigilance]);
        assert!(p.allows(&referent, IdentityAction::Merge));
    }

    #[test]
    fn json_round_trip_and_fallback() {
        let mut p = IdentityPolicy {
            reverify_after_months: Some(12),
            ..IdentityPolicy::default()
        };
        p.set_roles(IdentityAction::Create, vec![Role::Accueil]);
        assert_eq!(IdentityPolicy::from_json(&p.to_json()), p);
        assert_eq!(IdentityPolicy::from_json("{"), IdentityPolicy::default());
        assert_eq!(IdentityPolicy::from_json("{}"), IdentityPolicy::default());
    }

    #[test]
    fn reverification_due() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let mut p = IdentityPolicy::default();
        assert_eq!(
            p.reverification_due(Some(d("2020-01-01")), d("2026-01-01"), true),
            None
        );
        p.reverify_on_new_episode = true;
        assert_eq!(
            p.reverification_due(Some(d("2026-01-01")), d("2026-01-02"), true),
            Some(DueReason::NewEpisode)
        );
        assert_eq!(p.reverification_due(None, d("2026-01-02"), true), None);
        p.reverify_after_months = Some(12);
        assert_eq!(
            p.reverification_due(Some(d("2025-01-02")), d("2026-01-02"), false),
            Some(DueReason::Age(12))
        );
        assert_eq!(
            p.reverification_due(Some(d("2025-01-03")), d("2026-01-02"), false),
            None
        );
    }
}
