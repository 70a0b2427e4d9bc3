//! The caller's tenant context: who acts, in which structure, with which roles.
//! Every store method that touches structure data takes one, so no query can
//! forget which structure it reads.

use uuid::Uuid;

use super::care::{self, Confidentiality};
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
}

impl Tenant {
    pub fn readable_classes(&self) -> Vec<Confidentiality> {
        care::readable_classes(&self.roles, &self.medical_roles)
    }
    pub fn may_write(&self, class: Confidentiality) -> bool {
        care::may_write(&self.roles, &self.medical_roles, class)
    }
}
