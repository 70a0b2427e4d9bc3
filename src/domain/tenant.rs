//! The caller's tenant context: who acts, in which structure, with which roles.
//! Every store method that touches structure data takes one, so no query can
//! forget which structure it reads.

use uuid::Uuid;

use super::care::{self, Confidentiality};
use super::procedure::{IdentityAction, IdentityPolicy};
use super::roles::{Role, RoleSet};
use super::structure::StructureKind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub structure_id: Uuid,
    pub structure_kind: StructureKind,
    pub professional_id: Uuid,
    /// Name written in the audit journal for this actor.
    pub actor_label: String,
    pub roles: RoleSet,
    /// The roles this structure counts as health professionals (medical notes).
    pub medical_roles: Vec<Role>,
    /// The roles this structure allows to query INSi and check identity documents.
    pub qualifier_roles: Vec<Role>,
    /// The high-trust identity documents this structure accepts.
    pub identity_documents: Vec<String>,
    /// The director's identity-vigilance policy (roles per action, re-verification).
    pub policy: IdentityPolicy,
}

impl Tenant {
    pub fn readable_classes(&self) -> Vec<Confidentiality> {
        care::readable_classes(&self.roles, &self.medical_roles)
    }
    /// The structure's identity-vigilance procedure says who qualifies identities.
    pub fn may_qualify(&self) -> bool {
        self.qualifier_roles.iter().any(|r| self.roles.contains(*r))
    }
    pub fn may(&self, action: IdentityAction) -> bool {
        self.policy.allows(&self.roles, action)
    }
    /// The structure's address book is kept by the professionals who work
    /// with its partners (care, social work, direction); reception reads it.
    pub fn may_manage_correspondents(&self) -> bool {
        self.roles.any(&[
            Role::Directeur,
            Role::Medecin,
            Role::Infirmier,
            Role::Psychologue,
            Role::TravailleurSocial,
            Role::Educateur,
        ])
    }
    pub fn may_write(&self, class: Confidentiality) -> bool {
        care::may_write(&self.roles, &self.medical_roles, class)
    }
}
