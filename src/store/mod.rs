//! Persistence. One [`Store`] trait (an umbrella over one trait per
//! aggregate), one query per method, one implementation ([`SqlStore`]) on
//! either database: SQLite for one structure, PostgreSQL for a shared
//! regional instance. The SQL is written once per aggregate (`shared/`) and
//! runs through one explicit layer over both drivers (`sql/`); the backend
//! folders (`sqlite/`, `postgres/`) hold only what truly differs. The
//! contract tests run on both.
//!
//! Every method that reads or writes a structure's data takes the caller's
//! [`Tenant`]: its `structure_id` is in every `WHERE` clause.

pub mod access;
pub mod directory;
pub mod dmp;
mod group_commit;
pub mod jobs;
pub mod listed_bytes;
pub mod models;
pub mod mss;
mod postgres;
pub mod quality;
mod shared;
mod sql;
mod sqlite;
pub mod trigram_index;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use std::sync::Arc;
use uuid::Uuid;

use crate::domain::audit::AuditRecord;
use crate::domain::identity::Vigilance;
use crate::domain::roles::Role;
use crate::domain::tenant::Tenant;
use crate::domain::usager::{Identity, UsagerData};
pub use access::AccessStore;
pub use directory::DirectoryStore;
pub use dmp::{DmpDeposit, DmpStore};
pub use jobs::{Job, JobKind, JobState, JobStore, NewJob};
pub use models::*;
pub use mss::{MailboxEntry, MssMessage, MssStore, NewIncoming, NewMessage};
pub use quality::{
    DuplicateStore, JournalOf, MergeStore, NewProcedure, ProcedureStore, QualityStore,
};
pub use shared::{SearchMemorySettings, SqlStore};
pub use sql::RETEST_AFTER_IDLE;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist *for this tenant* (it may exist in another structure).
    #[error("introuvable")]
    NotFound,
    /// A uniqueness rule was violated (e.g. the FINESS is already registered).
    #[error("déjà enregistré : {0}")]
    Conflict(String),
    /// The tenant's roles do not allow this write (e.g. a medical note by a social worker).
    #[error("action non autorisée pour vos rôles")]
    Forbidden,
    /// The file changed since the version the writer read (optimistic
    /// check): someone else wrote it meanwhile; nothing was written.
    #[error("dossier modifié entre-temps")]
    Stale(Uuid),
    #[error("base de données : {0}")]
    Database(#[from] sqlx::Error),
    /// A document's bytes could not be kept or read back whole (the
    /// documents directory).
    #[error("contenu d'un document : {0}")]
    Content(String),
    #[error("migration : {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Everything the application asks of its database: one umbrella over the
/// per-aggregate traits below (and [`QualityStore`], [`AccessStore`],
/// [`DirectoryStore`]), so that a `dyn Store` answers every method.
#[async_trait]
pub trait Store:
    StructureStore
    + SessionStore
    + UsagerStore
    + CareStore
    + DocumentStore
    + dmp::DmpStore
    + mss::MssStore
    + VigilanceStore
    + AuditStore
    + quality::QualityStore
    + jobs::JobStore
    + access::AccessStore
    + directory::DirectoryStore
    + Send
    + Sync
    + 'static
{
    fn backend(&self) -> Backend;
    /// Applies the embedded migrations of this backend.
    async fn migrate(&self) -> StoreResult<()>;
    /// A trivial round trip, for `/healthz`.
    async fn ping(&self) -> StoreResult<()>;
    /// After a bulk load (`escale dev seed`, an import): planner statistics
    /// gathered again, and SQLite's search index merged into one segment.
    async fn settle_after_bulk_load(&self) -> StoreResult<()>;
}

/// Instance administration (no tenant: GRADeS administrator, CLI, login),
/// and the people of a structure.
#[async_trait]
pub trait StructureStore: Send + Sync {
    async fn create_structure(
        &self,
        s: &NewStructure,
        journal: InstanceJournalOf<'_, Structure>,
    ) -> StoreResult<Structure>;
    async fn list_structures(&self) -> StoreResult<Vec<Structure>>;
    /// Marks what the sandbox's demo data created (structures, professionals).
    async fn mark_sandbox(&self, structures: &[Uuid], professionals: &[Uuid]) -> StoreResult<()>;
    /// What the sandbox left in this database, if anything.
    async fn sandbox_rows(&self) -> StoreResult<SandboxRows>;
    async fn get_structure(&self, id: Uuid) -> StoreResult<Option<Structure>>;
    async fn find_structure_by_finess(&self, finess_geo: &str) -> StoreResult<Option<Structure>>;
    /// The director's choice of who reads medical notes, for the tenant's own structure only.
    async fn set_medical_roles(
        &self,
        t: &Tenant,
        roles: &[Role],
        journal: Journal<'_>,
    ) -> StoreResult<()>;
    async fn create_professional(
        &self,
        p: &NewProfessional,
        journal: InstanceJournalOf<'_, Professional>,
    ) -> StoreResult<Professional>;
    /// Rewrites, in one transaction, the administrators' TOTP secrets that
    /// `seal(login, stored)` gives a new value for. Returns how many.
    async fn seal_admin_secrets(
        &self,
        seal: &(dyn for<'a, 'b> Fn(&'a str, &'b str) -> Option<String> + Send + Sync),
    ) -> StoreResult<usize>;
    /// New names for a professional (as Pro Santé Connect gives them at login).
    async fn rename_professional(
        &self,
        id: Uuid,
        first_name: &str,
        last_name: &str,
        journal: InstanceJournal<'_>,
    ) -> StoreResult<()>;
    async fn get_professional(&self, id: Uuid) -> StoreResult<Option<Professional>>;
    async fn find_professional_by_national_id(
        &self,
        id_nat_ps: &str,
    ) -> StoreResult<Option<Professional>>;
    /// Idempotent.
    async fn grant_role(
        &self,
        structure_id: Uuid,
        professional_id: Uuid,
        role: Role,
        journal: InstanceJournal<'_>,
    ) -> StoreResult<()>;
    /// Every active professional with the structures and roles they hold (sandbox login page).
    async fn login_choices(&self) -> StoreResult<Vec<LoginChoice>>;
    /// The tenant context of an active professional in a structure where they hold a role.
    async fn tenant_for(
        &self,
        professional_id: Uuid,
        structure_id: Uuid,
    ) -> StoreResult<Option<Tenant>>;
    /// Active professionals holding a role in the tenant's structure.
    async fn team(&self, t: &Tenant) -> StoreResult<Vec<TeamMember>>;
}

/// Sessions (in the database so several processes share them).
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, s: &NewSession) -> StoreResult<()>;
    /// The session and its tenant in one query; `None` if unknown, or if the
    /// professional lost their roles or was deactivated.
    async fn session_with_tenant(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<(SessionRow, Tenant)>>;
    async fn touch_session(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<()>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
    async fn purge_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}

/// The audit entries a change carries: appended to the tenant's structure
/// journal in the change's own transaction, so that a change is never kept
/// without its trace (nor a trace without its change).
pub type Journal<'a> = &'a [AuditEvent];

/// The audit entries of an instance-level change (CLI, `/admin`): each
/// with its chain (the instance's, or a structure's), written in the
/// change's own transaction.
pub type InstanceJournal<'a> = &'a [(AuditChain, AuditEvent)];

/// An [`InstanceJournal`] built inside the change's transaction from what
/// it made (a new structure's id, a new professional's name).
pub type InstanceJournalOf<'a, R> = &'a (dyn Fn(&R) -> Vec<(AuditChain, AuditEvent)> + Sync);

/// User files (tenant-scoped).
#[async_trait]
pub trait UsagerStore: Send + Sync {
    /// The journal entries are about the new file (their `usager_id` is its id).
    async fn create_usager(
        &self,
        t: &Tenant,
        data: &UsagerData,
        journal: Journal<'_>,
    ) -> StoreResult<Usager>;
    /// Several files in one transaction (generated populations, imports):
    /// each with its identity keys and `journal`'s entries about it.
    async fn create_usagers(
        &self,
        t: &Tenant,
        data: &[UsagerData],
        journal: Journal<'_>,
    ) -> StoreResult<Vec<Usager>>;
    /// Only if the file is still at `version` (then bumped): `Stale` when
    /// someone wrote it since; `NotFound` when it is not the tenant's.
    async fn update_usager(
        &self,
        t: &Tenant,
        id: Uuid,
        version: i64,
        data: &UsagerData,
        journal: Journal<'_>,
    ) -> StoreResult<Usager>;
    async fn get_usager(&self, t: &Tenant, id: Uuid) -> StoreResult<Option<Usager>>;
    /// The file with everything its page shows, in one round trip (the
    /// lists as [`CareStore`], [`VigilanceStore`] and the quality store
    /// give them); `None` when it is not the tenant's.
    async fn file_contents(&self, t: &Tenant, id: Uuid) -> StoreResult<Option<FileContents>>;
    async fn search_usagers(&self, t: &Tenant, q: &UsagerQuery) -> StoreResult<Vec<Listed>>;
    async fn count_usagers(&self, t: &Tenant) -> StoreResult<i64>;
}

/// Documents of a file: every version kept, read by the classes the
/// tenant may read.
#[async_trait]
pub trait DocumentStore: Send + Sync {
    /// A new document, or with `replaces` a new version of the latest
    /// version of one (`Conflict` when it is no longer the latest;
    /// `Forbidden` when the tenant may not write its class; `NotFound` for a
    /// file not the tenant's, merged, or a version it may not read).
    async fn add_document(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        new: &NewDocument<'_>,
        replaces: Option<Uuid>,
        journal: quality::JournalOf<'_, Document>,
    ) -> StoreResult<Document>;
    /// Every version the tenant may read, latest dates first.
    async fn documents(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<Document>>;
    /// One version and its bytes, if the tenant may read it.
    async fn document_content(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        id: Uuid,
    ) -> StoreResult<Option<(Document, Vec<u8>)>>;
    /// Records what the user was told about their DMP or their opposition
    /// (`NotFound` for a file not the tenant's or merged).
    async fn record_dmp_consent(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        event: crate::domain::dmp::ConsentEvent,
        journal: Journal<'_>,
    ) -> StoreResult<()>;
    /// Every such record of the file, oldest first.
    async fn dmp_consent(
        &self,
        t: &Tenant,
        usager_id: Uuid,
    ) -> StoreResult<Vec<crate::domain::dmp::ConsentRecord>>;
}

/// Care episodes, activities and notes of a file.
#[async_trait]
pub trait CareStore: Send + Sync {
    async fn add_episode(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        e: &NewEpisode,
        journal: Journal<'_>,
    ) -> StoreResult<Episode>;
    async fn close_episode(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        episode_id: Uuid,
        end: NaiveDate,
        journal: Journal<'_>,
    ) -> StoreResult<()>;
    async fn episodes(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<Episode>>;
    async fn add_activity(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        a: &NewActivity,
        journal: Journal<'_>,
    ) -> StoreResult<Activity>;
    async fn activities(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<Activity>>;
    /// `Forbidden` when the tenant's roles may not write this class.
    async fn add_note(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        n: &NewNote,
        journal: Journal<'_>,
    ) -> StoreResult<Note>;
    /// Only the classes the tenant may read: the filter is in the query.
    async fn notes(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<Note>>;
    /// Many rows of care in one transaction (generated data), each checked
    /// as its own `add_*` checks it; all or nothing. Returns the rows written.
    async fn add_care(
        &self,
        t: &Tenant,
        rows: &[NewCare],
        journal: Journal<'_>,
    ) -> StoreResult<u64>;
}

/// Identity vigilance: the identity's state, INSi calls, the structure's
/// identity settings, anonymity lifts.
#[async_trait]
pub trait VigilanceStore: Send + Sync {
    /// Writes the identity (strict traits, possibly replaced by the INS traits)
    /// and its vigilance state together, only if the file is still at
    /// `version` (then bumped; `Stale` otherwise). Anonymous files are never touched.
    async fn set_vigilance(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        version: i64,
        identity: &Identity,
        vigilance: &Vigilance,
        journal: Journal<'_>,
    ) -> StoreResult<Usager>;
    async fn record_insi_call(
        &self,
        t: &Tenant,
        call: &NewInsiCall,
        journal: Journal<'_>,
    ) -> StoreResult<()>;
    async fn insi_calls(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<InsiCall>>;
    async fn set_identity_settings(
        &self,
        t: &Tenant,
        s: &IdentitySettings,
        journal: Journal<'_>,
    ) -> StoreResult<()>;
    /// Instance administration (CLI): a structure's INSi credentials.
    async fn set_structure_insi(
        &self,
        structure_id: Uuid,
        insi: &StructureInsi,
        journal: InstanceJournal<'_>,
    ) -> StoreResult<()>;
    async fn request_anonymity_lift(
        &self,
        t: &Tenant,
        anonymous_id: Uuid,
        requested_on: NaiveDate,
        journal: Journal<'_>,
    ) -> StoreResult<()>;
    async fn decide_anonymity_lift(
        &self,
        t: &Tenant,
        anonymous_id: Uuid,
        real_id: Uuid,
        journal: Journal<'_>,
    ) -> StoreResult<()>;
    /// The lift record where this file is the anonymous or the real side.
    async fn anonymity_lift(
        &self,
        t: &Tenant,
        usager_id: Uuid,
    ) -> StoreResult<Option<AnonymityLift>>;
}

/// The audit journal (append-only, hash-chained per structure).
#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn append_audit(&self, chain: AuditChain, e: &AuditEvent) -> StoreResult<AuditRecord>;
    /// The tenant's structure journal, newest first.
    async fn audit_entries(&self, t: &Tenant, f: &AuditFilter) -> StoreResult<Vec<AuditRecord>>;
    /// A chain in sequence order from `after_seq` (exclusive), for verification.
    async fn audit_chain(
        &self,
        chain: AuditChain,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<AuditRecord>>;
    /// Every chain present in the journal.
    async fn audit_chains(&self) -> StoreResult<Vec<AuditChain>>;
}

pub type DynStore = Arc<dyn Store>;

/// Opens the store named by a database URL (`sqlite:` or `postgres:`).
pub async fn connect(url: &str) -> StoreResult<DynStore> {
    Ok(Arc::new(SqlStore::connect(url).await?))
}

/// The same, the documents' bytes kept in `documents_dir` when one is
/// given, reception's search keeping in memory what `search_memory` allows.
pub async fn connect_with(
    url: &str,
    documents_dir: Option<std::path::PathBuf>,
    search_memory: SearchMemorySettings,
) -> StoreResult<DynStore> {
    Ok(Arc::new(
        SqlStore::connect(url)
            .await?
            .with_documents_dir(documents_dir)
            .with_search_memory(search_memory),
    ))
}
