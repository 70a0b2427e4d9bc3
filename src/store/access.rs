//! Who gets in: Pro Santé Connect logins in progress, the structure choice
//! after login, what PSC said of a professional, directors' team management
//! (roles, pre-registration invitations) and the instance administrator's
//! local credential. Implemented once for both backends in `shared/access.rs`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Journal, Membership, StoreResult};
use crate::domain::directory::{DirectoryPerson, Mailbox};
use crate::domain::roles::{Role, RoleSet};
use crate::domain::tenant::Tenant;

/// Kept between the redirect to PSC and the callback (single use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPscLogin {
    pub state_hash: String,
    pub browser_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub created_at: DateTime<Utc>,
}

/// An authenticated professional choosing their structure (single use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingChoice {
    pub token_hash: String,
    pub browser_hash: String,
    pub professional_id: Uuid,
    pub auth_label: String,
    pub created_at: DateTime<Utc>,
}

/// What PSC said at the last login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfessionalProfile {
    pub person: DirectoryPerson,
    pub auth_mode: String,
    pub acr: Option<String>,
    pub last_login_at: DateTime<Utc>,
}

/// A member of the structure's team, for the director.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamEntry {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub national_id: Option<String>,
    pub profession: String,
    pub roles: RoleSet,
    /// An invitation not yet used (pre-registered, RPPS pending).
    pub invited_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvitation {
    pub code_hash: String,
    pub professional_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct AdminCredential {
    pub professional_id: Uuid,
    pub login: String,
    pub password_hash: String,
    pub totp_secret: String,
    pub last_totp_step: i64,
}

impl std::fmt::Debug for AdminCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminCredential")
            .field("professional_id", &self.professional_id)
            .field("login", &self.login)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSession {
    pub professional_id: Uuid,
    pub display_name: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructureDirector {
    pub structure_id: Uuid,
    pub display_name: String,
    pub national_id: Option<String>,
}

/// An entry of the structure's address book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correspondent {
    pub id: Uuid,
    /// `professionnel` (idNat_PS) or `structure` (FINESS).
    pub kind: String,
    pub identifier: String,
    pub name: String,
    /// Profession or category, and place.
    pub detail: String,
    pub mailboxes: Vec<Mailbox>,
    pub note: String,
    pub added_at: DateTime<Utc>,
}

#[async_trait]
pub trait AccessStore: Send + Sync {
    /// Saves a login in progress, unless `max` logins started since `since`
    /// are still pending (then `false`: nothing saved). Each anonymous
    /// request to `/auth/psc/login` writes one: the table must not grow
    /// without bound.
    async fn save_psc_login(
        &self,
        l: &PendingPscLogin,
        since: DateTime<Utc>,
        max: i64,
    ) -> StoreResult<bool>;
    /// Removes and returns the login.
    async fn take_psc_login(&self, state_hash: &str) -> StoreResult<Option<PendingPscLogin>>;
    async fn save_login_choice(&self, c: &PendingChoice) -> StoreResult<()>;
    async fn take_login_choice(&self, token_hash: &str) -> StoreResult<Option<PendingChoice>>;
    /// Forgets logins and structure choices begun before `before` (background purge).
    async fn purge_pending_logins(&self, before: DateTime<Utc>) -> StoreResult<()>;
    /// The structures where an active professional holds roles.
    async fn memberships_of(&self, professional_id: Uuid) -> StoreResult<Vec<Membership>>;
    async fn save_profile(&self, professional_id: Uuid, p: &ProfessionalProfile)
    -> StoreResult<()>;
    async fn profile_of(&self, professional_id: Uuid) -> StoreResult<Option<ProfessionalProfile>>;

    /// Everyone holding a role in the tenant's structure or invited to it.
    async fn team_entries(&self, t: &Tenant) -> StoreResult<Vec<TeamEntry>>;
    /// Replaces the professional's roles in the tenant's structure (none:
    /// their access to this structure ends; the person stays on record).
    async fn set_roles(
        &self,
        t: &Tenant,
        professional_id: Uuid,
        roles: &[Role],
        journal: Journal<'_>,
    ) -> StoreResult<()>;
    async fn create_invitation(
        &self,
        t: &Tenant,
        inv: &NewInvitation,
        journal: Journal<'_>,
    ) -> StoreResult<()>;
    /// Ties `id_nat_ps` to the invited professional (once, before expiry).
    /// `Conflict` when the national id already belongs to someone else.
    async fn redeem_invitation(
        &self,
        code_hash: &str,
        id_nat_ps: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Uuid>>;

    /// Adds (or refreshes, same kind and identifier) an address-book entry,
    /// journaled with it.
    async fn save_correspondent(
        &self,
        t: &Tenant,
        c: &Correspondent,
        journal: Journal<'_>,
    ) -> StoreResult<()>;
    async fn correspondents(&self, t: &Tenant) -> StoreResult<Vec<Correspondent>>;
    /// Removes the entry; `journal` gets the removed entry's name, and its
    /// entries are written with the removal. `NotFound` if not the tenant's.
    async fn remove_correspondent(
        &self,
        t: &Tenant,
        id: Uuid,
        journal: crate::store::JournalOf<'_, String>,
    ) -> StoreResult<()>;

    async fn admin_credentials_count(&self) -> StoreResult<i64>;
    /// The administrator and their credential, together (`Conflict` when the login is taken).
    async fn create_administrator(
        &self,
        p: &crate::store::NewProfessional,
        c: &AdminCredential,
        journal: crate::store::InstanceJournal<'_>,
    ) -> StoreResult<Uuid>;
    /// Whether any credential, even a deactivated administrator's, has this login.
    async fn admin_login_taken(&self, login: &str) -> StoreResult<bool>;
    async fn admin_credential(&self, login: &str) -> StoreResult<Option<AdminCredential>>;
    /// Records a good login with the TOTP step used; `false` when that step
    /// (or a later one) was already used.
    async fn admin_login_succeeded(&self, professional_id: Uuid, step: i64) -> StoreResult<bool>;
    async fn create_admin_session(
        &self,
        token_hash: &str,
        professional_id: Uuid,
        csrf_token: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn admin_session(&self, token_hash: &str) -> StoreResult<Option<AdminSession>>;
    async fn delete_admin_session(&self, token_hash: &str) -> StoreResult<()>;
    /// New password hash and TOTP secret for `login` (lost phone, lost
    /// password): the lock and the used step are reset and that
    /// administrator's sessions end. `false` when no such login.
    async fn reset_admin_credential(
        &self,
        login: &str,
        password_hash: &str,
        totp_secret: &str,
        journal: crate::store::InstanceJournal<'_>,
    ) -> StoreResult<bool>;
    /// Instance administrators with a break-glass credential: (name, login).
    async fn administrators(&self) -> StoreResult<Vec<(String, String)>>;
    /// Every structure's directors, for the instance administrator.
    async fn structure_directors(&self) -> StoreResult<Vec<StructureDirector>>;
}
