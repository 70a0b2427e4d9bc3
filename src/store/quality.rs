//! Identity quality (RNIV): duplicate keys and pairs, collisions, reversible
//! merges, the director's procedure, referent tasks and indicators.
//! Implemented once for both backends in `shared/` (`duplicates.rs`,
//! `merges.rs`, `procedure.rs`).

use async_trait::async_trait;
use uuid::Uuid;

use super::{
    AuditEvent, DuplicatePair, IdentityCounts, IdentityTask, InsiMonth, Journal, Listed,
    MergeRecord, MovedObjects, Procedure, ProcedureReaders, StoreResult, Usager,
};

/// The journal of a change whose entries name what the change made (a
/// merge's id, what it moved): built inside the change's transaction from
/// its result, written in that transaction.
pub type JournalOf<'a, R> = &'a (dyn Fn(&R) -> Vec<AuditEvent> + Sync);
use crate::domain::duplicates::{Collision, Match, PairStatus};
use crate::domain::identity::Vigilance;
use crate::domain::procedure::IdentityPolicy;
use crate::domain::tenant::Tenant;
use crate::domain::usager::UsagerData;

/// Tables whose rows follow their file in a merge: (kind shown to the user, table).
/// A new kind of object attached to a file (documents, outbox items) is added here.
pub const MOVABLE: &[(&str, &str)] = &[
    ("prises en charge", "episodes"),
    ("activités", "activities"),
    ("notes", "notes"),
    ("documents", "documents"),
    ("informations DMP", "dmp_consent_events"),
    ("envois au DMP", "dmp_deposits"),
    ("historique INSi", "insi_calls"),
    ("tâches d'identitovigilance", "identity_tasks"),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProcedure {
    pub body: String,
    pub guidance_01: String,
    pub guidance_02: String,
}

/// Identity quality: the umbrella over its three traits.
pub trait QualityStore: DuplicateStore + MergeStore + ProcedureStore {}

impl<T: DuplicateStore + MergeStore + ProcedureStore + ?Sized> QualityStore for T {}

/// Blocking keys, candidate pairs and collisions.
#[async_trait]
pub trait DuplicateStore: Send + Sync {
    /// Rewrites the blocking keys of a file (called on every identity write).
    async fn write_identity_keys(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<()>;
    /// Computes keys for files that have none (after an upgrade). Returns how many.
    async fn backfill_identity_keys(&self) -> StoreResult<u64>;
    /// Files sharing at least one key, identified, not merged, not `exclude`:
    /// their identities only (as a search lists them), what is compared.
    async fn duplicate_block(
        &self,
        t: &Tenant,
        keys: &[String],
        exclude: Option<Uuid>,
    ) -> StoreResult<Vec<Listed>>;
    /// The tenant's files among `ids` (any order): the look-alikes found.
    async fn usagers_by_ids(&self, t: &Tenant, ids: &[Uuid]) -> StoreResult<Vec<Usager>>;
    async fn usagers_with_ins(&self, t: &Tenant, matricule: &str) -> StoreResult<Vec<Usager>>;
    /// Inserts a pair, or refreshes the score of an open one; decided pairs keep their status.
    async fn upsert_duplicate_pair(
        &self,
        t: &Tenant,
        a: Uuid,
        b: Uuid,
        m: &Match,
    ) -> StoreResult<()>;
    /// Pairs (both files still live), best score first; `usager` restricts to one file.
    async fn duplicate_pairs(
        &self,
        t: &Tenant,
        status: Option<PairStatus>,
        usager: Option<Uuid>,
        limit: i64,
    ) -> StoreResult<Vec<DuplicatePair>>;
    async fn set_pair_status(
        &self,
        t: &Tenant,
        a: Uuid,
        b: Uuid,
        status: PairStatus,
        journal: Journal<'_>,
    ) -> StoreResult<()>;
    /// Live identified files after `after` in id order, optionally of some statuses.
    async fn identity_ids(
        &self,
        t: &Tenant,
        statuses: &[&str],
        after: Option<Uuid>,
        limit: i64,
    ) -> StoreResult<Vec<Uuid>>;
    async fn set_collision(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        collision: Option<Collision>,
        note: Option<&str>,
        journal: Journal<'_>,
    ) -> StoreResult<()>;
}

/// The whole file, reversible merges.
#[async_trait]
pub trait MergeStore: Send + Sync {
    /// The whole file and everything attached to it, as canonical JSON
    /// (the user's right of access; merge/unmerge checks): only the notes the
    /// tenant's roles read (filtered in the query), and the INSi exchanges'
    /// XML only with `insi_xml`.
    async fn export_usager(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        insi_xml: bool,
    ) -> StoreResult<serde_json::Value>;
    /// What a merge of `merged` would move, by kind (notes: those the tenant reads).
    async fn merge_preview(&self, t: &Tenant, merged_id: Uuid) -> StoreResult<MovedObjects>;
    /// One transaction: snapshot both files, move every attached row to the
    /// survivor, write the survivor's new identity, hide the merged file.
    async fn merge_usagers(
        &self,
        t: &Tenant,
        survivor_id: Uuid,
        merged_id: Uuid,
        survivor: &(UsagerData, Vigilance),
        journal: JournalOf<'_, MergeRecord>,
    ) -> StoreResult<MergeRecord>;
    /// Restores both files as they were and moves the rows back.
    async fn unmerge(
        &self,
        t: &Tenant,
        merge_id: Uuid,
        journal: JournalOf<'_, MergeRecord>,
    ) -> StoreResult<MergeRecord>;
    async fn merges_of(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<MergeRecord>>;
}

/// The director's procedure, the referent's tasks and the indicators.
#[async_trait]
pub trait ProcedureStore: Send + Sync {
    async fn set_identity_policy(
        &self,
        t: &Tenant,
        p: &IdentityPolicy,
        journal: Journal<'_>,
    ) -> StoreResult<()>;
    /// Publishes a new version (number = last + 1).
    async fn publish_procedure(
        &self,
        t: &Tenant,
        p: &NewProcedure,
        journal: JournalOf<'_, Procedure>,
    ) -> StoreResult<Procedure>;
    async fn current_procedure(&self, t: &Tenant) -> StoreResult<Option<Procedure>>;
    async fn acknowledge_procedure(
        &self,
        t: &Tenant,
        version: i64,
        journal: Journal<'_>,
    ) -> StoreResult<()>;
    async fn has_acknowledged(&self, t: &Tenant, version: i64) -> StoreResult<bool>;
    async fn procedure_readers(&self, t: &Tenant, version: i64) -> StoreResult<ProcedureReaders>;

    async fn add_identity_task(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        kind: &str,
        message: &str,
    ) -> StoreResult<()>;
    async fn open_identity_tasks(&self, t: &Tenant) -> StoreResult<Vec<IdentityTask>>;
    async fn close_identity_task(
        &self,
        t: &Tenant,
        id: Uuid,
        journal: Journal<'_>,
    ) -> StoreResult<()>;

    async fn identity_counts(&self, t: &Tenant) -> StoreResult<IdentityCounts>;
    async fn insi_months(&self, t: &Tenant, months: i64) -> StoreResult<Vec<InsiMonth>>;
}

/// Every mutable column of a file, as stored: what a merge saves and an
/// unmerge writes back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UsagerSnapshot {
    pub anonymous: bool,
    pub alias: Option<String>,
    pub birth_name: Option<String>,
    pub first_names: Option<String>,
    pub used_name: Option<String>,
    pub used_first_name: Option<String>,
    pub birth_date: Option<chrono::NaiveDate>,
    pub birth_year: Option<i64>,
    pub sex: Option<String>,
    pub birth_place_code: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
    pub search_key: String,
    pub identity_status: String,
    pub vigilance: String,
    pub ins_matricule: Option<String>,
    pub merged_into: Option<Uuid>,
    pub collision: Option<String>,
    pub collision_note: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl UsagerSnapshot {
    /// Writes a new identity, contact and vigilance over this row.
    pub fn apply(
        &mut self,
        data: &UsagerData,
        vigilance: &Vigilance,
        now: chrono::DateTime<chrono::Utc>,
    ) {
        let c = super::shared::rows::UsagerColumns::from_data(data);
        self.anonymous = c.anonymous;
        self.alias = c.alias;
        self.birth_name = c.birth_name;
        self.first_names = c.first_names;
        self.used_name = c.used_name;
        self.used_first_name = c.used_first_name;
        self.birth_date = c.birth_date;
        self.birth_year = c.birth_year.map(i64::from);
        self.sex = c.sex;
        self.birth_place_code = c.birth_place_code;
        self.phone = c.phone;
        self.email = c.email;
        self.address = c.address;
        self.search_key = data.identity.search_key();
        self.identity_status = vigilance.status().code().to_string();
        self.vigilance = super::shared::rows::vigilance_json(vigilance);
        self.ins_matricule = super::shared::rows::ins_matricule(vigilance);
        self.updated_at = now;
    }
}

/// What the merge log keeps to undo a merge.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct MergeSnapshot {
    pub survivor: UsagerSnapshot,
    pub merged: UsagerSnapshot,
    pub moved: MovedObjects,
    /// The pair's status before the merge (`None`: there was no pair).
    pub pair_status: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Uuid,
    Text,
    Date,
    Time,
    Int4,
    Int8,
}

type Columns = &'static [(&'static str, ColumnKind)];

/// The objects attached to a file, in the export (name, table, columns).
pub const EXPORT_TABLES: &[(&str, &str, Columns)] = &[
    (
        "prises_en_charge",
        "episodes",
        &[
            ("id", ColumnKind::Uuid),
            ("kind", ColumnKind::Text),
            ("start_date", ColumnKind::Date),
            ("end_date", ColumnKind::Date),
            ("referent_id", ColumnKind::Uuid),
            ("created_at", ColumnKind::Time),
        ],
    ),
    (
        "activites",
        "activities",
        &[
            ("id", ColumnKind::Uuid),
            ("kind", ColumnKind::Text),
            ("date", ColumnKind::Date),
            ("duration_minutes", ColumnKind::Int4),
            ("comment", ColumnKind::Text),
            ("created_by", ColumnKind::Uuid),
            ("created_at", ColumnKind::Time),
        ],
    ),
    (
        "notes",
        "notes",
        &[
            ("id", ColumnKind::Uuid),
            ("confidentiality", ColumnKind::Text),
            ("body", ColumnKind::Text),
            ("author_id", ColumnKind::Uuid),
            ("created_at", ColumnKind::Time),
        ],
    ),
    (
        // What each version is, not its bytes (each is downloaded from the file).
        "documents",
        "documents",
        &[
            ("id", ColumnKind::Uuid),
            ("set_id", ColumnKind::Uuid),
            ("version", ColumnKind::Int4),
            ("type_code", ColumnKind::Text),
            ("title", ColumnKind::Text),
            ("document_date", ColumnKind::Date),
            ("confidentiality", ColumnKind::Text),
            ("author_id", ColumnKind::Uuid),
            ("media_type", ColumnKind::Text),
            ("size_bytes", ColumnKind::Int8),
            ("sha256", ColumnKind::Text),
            ("created_at", ColumnKind::Time),
            ("superseded_at", ColumnKind::Time),
        ],
    ),
    (
        "informations_dmp",
        "dmp_consent_events",
        &[
            ("id", ColumnKind::Uuid),
            ("kind", ColumnKind::Text),
            ("at", ColumnKind::Time),
            ("author_id", ColumnKind::Uuid),
        ],
    ),
    (
        "appels_insi",
        "insi_calls",
        &[
            ("id", ColumnKind::Uuid),
            ("at", ColumnKind::Time),
            ("operator_id", ColumnKind::Uuid),
            ("operator", ColumnKind::Text),
            ("step", ColumnKind::Text),
            ("outcome", ColumnKind::Text),
            ("duration_ms", ColumnKind::Int8),
            ("request_xml", ColumnKind::Text),
            ("response_xml", ColumnKind::Text),
        ],
    ),
    (
        "taches_identite",
        "identity_tasks",
        &[
            ("id", ColumnKind::Uuid),
            ("kind", ColumnKind::Text),
            ("message", ColumnKind::Text),
            ("created_at", ColumnKind::Time),
            ("done_at", ColumnKind::Time),
            ("done_by", ColumnKind::Text),
        ],
    ),
];
