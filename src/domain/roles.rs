//! Roles a professional holds in a structure, and what each may do.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Accueil,
    TravailleurSocial,
    Infirmier,
    Medecin,
    Psychologue,
    Educateur,
    Directeur,
    ReferentIdentitovigilance,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::Accueil,
        Role::TravailleurSocial,
        Role::Infirmier,
        Role::Medecin,
        Role::Psychologue,
        Role::Educateur,
        Role::Directeur,
        Role::ReferentIdentitovigilance,
    ];

    /// Stable code stored in the database and used in forms and the CLI.
    pub fn code(self) -> &'static str {
        match self {
            Role::Accueil => "accueil",
            Role::TravailleurSocial => "travailleur_social",
            Role::Infirmier => "infirmier",
            Role::Medecin => "medecin",
            Role::Psychologue => "psychologue",
            Role::Educateur => "educateur",
            Role::Directeur => "directeur",
            Role::ReferentIdentitovigilance => "referent_identitovigilance",
        }
    }

    /// What a person reads.
    pub fn label(self) -> &'static str {
        match self {
            Role::Accueil => "Accueil",
            Role::TravailleurSocial => "Travailleur social",
            Role::Infirmier => "Infirmier·ère",
            Role::Medecin => "Médecin",
            Role::Psychologue => "Psychologue",
            Role::Educateur => "Éducateur·rice",
            Role::Directeur => "Directeur·rice",
            Role::ReferentIdentitovigilance => "Référent identitovigilance",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "rôle inconnu « {0} » (attendu : accueil, travailleur_social, infirmier, medecin, psychologue, educateur, directeur, referent_identitovigilance)"
)]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.code() == s.trim())
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

/// The roles one professional holds in one structure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleSet(Vec<Role>);

impl RoleSet {
    pub fn new(mut roles: Vec<Role>) -> Self {
        roles.sort();
        roles.dedup();
        RoleSet(roles)
    }
    pub fn contains(&self, role: Role) -> bool {
        self.0.contains(&role)
    }
    pub fn any(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.contains(*r))
    }
    pub fn iter(&self) -> impl Iterator<Item = Role> + '_ {
        self.0.iter().copied()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn labels(&self) -> String {
        self.0
            .iter()
            .map(|r| r.label())
            .collect::<Vec<_>>()
            .join(", ")
    }
    /// Directors read the audit journal and configure the structure.
    pub fn can_read_audit(&self) -> bool {
        self.contains(Role::Directeur)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.code().parse::<Role>().unwrap(), r);
        }
        assert!("chef".parse::<Role>().is_err());
    }

    #[test]
    fn roleset_dedups_and_checks() {
        let set = RoleSet::new(vec![Role::Medecin, Role::Accueil, Role::Medecin]);
        assert_eq!(set.iter().count(), 2);
        assert!(set.contains(Role::Medecin));
        assert!(!set.can_read_audit());
        assert!(RoleSet::new(vec![Role::Directeur]).can_read_audit());
    }
}
