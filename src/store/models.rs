//! Rows the store returns and commands it takes.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::domain::care::{ActivityKind, Confidentiality, EpisodeKind};
use crate::domain::duplicates::{Collision, PairStatus, Reason};
use crate::domain::identity::{IdentityStatus, Vigilance};
use crate::domain::roles::{Role, RoleSet};
use crate::domain::structure::StructureKind;
use crate::domain::usager::{Identity, UsagerData};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStructure {
    pub name: String,
    pub kind: StructureKind,
    pub finess_geo: String,
    pub finess_juridique: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Structure {
    pub id: Uuid,
    pub name: String,
    pub kind: StructureKind,
    pub finess_geo: String,
    pub finess_juridique: String,
    pub medical_roles: Vec<Role>,
    /// Roles allowed to query INSi and record identity documents.
    pub qualifier_roles: Vec<Role>,
    /// Codes of the high-trust identity documents the structure accepts.
    pub identity_documents: Vec<String>,
    pub insi: Option<StructureInsi>,
    /// The director's codes for the DMP's metadata (`domain::dmp_codes`).
    pub dmp_codes: crate::domain::dmp_codes::DmpCodeChoice,
    /// Its MSSanté mailbox, once its director set it.
    pub mss_mailbox: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What the sandbox's demo data left in a database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxRows {
    pub structures: Vec<String>,
    pub professionals: i64,
}

impl SandboxRows {
    pub fn is_empty(&self) -> bool {
        self.structures.is_empty() && self.professionals == 0
    }
}

/// The structure's INSi credentials: its software certificate (a PEM file
/// holding certificate and key, a PEM pair, or a PKCS#12 file) and the
/// software's CNDA authorisation number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructureInsi {
    pub certificate: String,
    pub key: Option<String>,
    pub idam: String,
}

/// The director's identity procedure settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentitySettings {
    pub qualifier_roles: Vec<Role>,
    pub identity_documents: Vec<String>,
}

/// One INSi exchange, kept whole (Guide INS EXI REC 07).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInsiCall {
    pub usager_id: Uuid,
    pub at: DateTime<Utc>,
    pub step: String,
    pub outcome: String,
    pub duration_ms: i64,
    pub request_xml: String,
    pub response_xml: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsiCall {
    pub id: Uuid,
    pub usager_id: Uuid,
    pub at: DateTime<Utc>,
    pub operator: String,
    pub step: String,
    pub outcome: String,
    pub duration_ms: i64,
    pub request_xml: String,
    pub response_xml: Option<String>,
}

/// A user's request to lift anonymity, and the decision linking the
/// anonymous file to a real identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnonymityLift {
    pub anonymous_id: Uuid,
    pub requested_on: NaiveDate,
    pub recorded_by: String,
    pub real_id: Option<Uuid>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProfessional {
    pub first_name: String,
    pub last_name: String,
    /// idNat_PS form (`8` + RPPS, `0` + ADELI), when the professional has one.
    pub national_id: Option<String>,
    pub profession: String,
    pub instance_admin: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Professional {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub national_id: Option<String>,
    pub profession: String,
    pub instance_admin: bool,
    pub active: bool,
}

impl Professional {
    pub fn display_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub structure_id: Uuid,
    pub structure_name: String,
    pub roles: RoleSet,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginChoice {
    pub professional: Professional,
    pub memberships: Vec<Membership>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// SHA-256 of the cookie token: a copy of the database gives no session.
    pub token_hash: String,
    pub professional_id: Uuid,
    pub structure_id: Uuid,
    pub csrf_token: String,
    pub auth_method: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub token_hash: String,
    pub professional_id: Uuid,
    pub structure_id: Uuid,
    pub csrf_token: String,
    pub auth_method: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub professional_name: String,
    pub structure_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usager {
    pub id: Uuid,
    pub structure_id: Uuid,
    pub data: UsagerData,
    pub vigilance: Vigilance,
    /// Set when this file was merged into another one (it is then hidden from lists).
    pub merged_into: Option<Uuid>,
    /// RNIV collision marker (two people in one file).
    pub collision: Option<Collision>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped by every write of the identity or its vigilance state; a
    /// writer says which version it read (optimistic check, no lost update).
    pub version: i64,
}

/// A file as a search lists it: who it is and the state of its identity,
/// not what it holds (a list reads only these columns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: Uuid,
    pub identity: Identity,
    pub status: IdentityStatus,
    /// The folded key of its names (see `Identity::search_key`).
    pub search_key: String,
}

/// A search: folded terms (each must appear in a name or alias) and/or a birth date.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsagerQuery {
    /// Folded terms (see `domain::search::terms`); only the first 4 are used.
    pub terms: Vec<String>,
    pub birth_date: Option<NaiveDate>,
    /// At most `UsagerQuery::MAX_LIMIT` files are read, whatever is asked.
    pub limit: i64,
}

impl UsagerQuery {
    /// The most files one search reads (the list's largest page and one).
    pub const MAX_LIMIT: i64 = 201;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEpisode {
    pub kind: EpisodeKind,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub referent_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Episode {
    pub id: Uuid,
    pub usager_id: Uuid,
    pub kind: EpisodeKind,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub referent_id: Option<Uuid>,
    pub referent_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewActivity {
    pub kind: ActivityKind,
    pub date: NaiveDate,
    pub duration_minutes: Option<u32>,
    /// Professionals of the structure who took part (others are ignored).
    pub participant_ids: Vec<Uuid>,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub id: Uuid,
    pub usager_id: Uuid,
    pub kind: ActivityKind,
    pub date: NaiveDate,
    pub duration_minutes: Option<u32>,
    /// Display names, sorted.
    pub participants: Vec<String>,
    pub comment: Option<String>,
    pub created_by: Uuid,
}

/// One row of care of a file, for [`CareStore::add_care`](super::CareStore::add_care).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewCare {
    Episode(Uuid, NewEpisode),
    Activity(Uuid, NewActivity),
    Note(Uuid, NewNote),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNote {
    pub confidentiality: Confidentiality,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub id: Uuid,
    pub usager_id: Uuid,
    pub confidentiality: Confidentiality,
    pub body: String,
    pub author_id: Uuid,
    pub author_name: String,
    pub created_at: DateTime<Utc>,
}

/// One version of a document of a file (its bytes are read apart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub id: Uuid,
    pub usager_id: Uuid,
    /// Every version of one document shares it (the CDA setId).
    pub set_id: Uuid,
    /// 1, 2, … (the CDA versionNumber).
    pub version: i32,
    /// A code of `domain::document::document_types`.
    pub type_code: String,
    pub title: String,
    pub date: NaiveDate,
    pub confidentiality: Confidentiality,
    pub author_id: Uuid,
    pub author_name: String,
    pub media_type: String,
    pub size_bytes: i64,
    /// Lower-case hexadecimal SHA-256 of the bytes.
    pub sha256: String,
    pub created_at: DateTime<Utc>,
    /// When a newer version replaced this one (still readable).
    pub superseded_at: Option<DateTime<Utc>>,
}

/// A document (or a new version of one) to write: its checked fields and
/// its checked bytes.
pub struct NewDocument<'a> {
    pub fields: &'a crate::domain::document::DocumentFields,
    pub media_type: &'a str,
    pub content: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamMember {
    pub id: Uuid,
    pub display_name: String,
    pub roles: RoleSet,
}

/// Which hash chain an audit entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AuditChain {
    /// Instance administration (structures created, administrators).
    Instance,
    Structure(Uuid),
}

impl AuditChain {
    pub fn key(self) -> String {
        match self {
            AuditChain::Instance => "instance".to_string(),
            AuditChain::Structure(id) => id.to_string(),
        }
    }
    pub fn from_key(key: &str) -> Option<AuditChain> {
        if key == "instance" {
            Some(AuditChain::Instance)
        } else {
            Uuid::parse_str(key).ok().map(AuditChain::Structure)
        }
    }
}

/// What happened; the store adds the sequence number, time and hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub actor_id: Option<Uuid>,
    pub actor_label: String,
    pub action: String,
    pub usager_id: Option<Uuid>,
    pub details: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor_id: Option<Uuid>,
    pub usager_id: Option<Uuid>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Only entries with a smaller sequence number (paging backwards).
    pub before_seq: Option<i64>,
    pub limit: i64,
}

/// A scored candidate pair, with both files' display names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicatePair {
    pub first_id: Uuid,
    pub second_id: Uuid,
    pub first_name: String,
    pub second_name: String,
    pub score: u8,
    pub reasons: Vec<Reason>,
    pub status: PairStatus,
    pub found_at: DateTime<Utc>,
    pub decided_by: Option<String>,
}

/// What a merge moves, by kind of object (table), with the ids moved.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MovedObjects {
    pub by_kind: std::collections::BTreeMap<String, Vec<Uuid>>,
}

impl MovedObjects {
    pub fn count(&self) -> usize {
        self.by_kind.values().map(Vec::len).sum()
    }
}

/// A merge log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRecord {
    pub id: Uuid,
    pub survivor_id: Uuid,
    pub merged_id: Uuid,
    pub at: DateTime<Utc>,
    pub by_label: String,
    pub moved: MovedObjects,
    pub undone_at: Option<DateTime<Utc>>,
    pub undone_by: Option<String>,
}

/// Everything a file's page shows, read in one statement: the file and its
/// lists, each as its own query would give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContents {
    pub usager: Usager,
    pub episodes: Vec<Episode>,
    pub activities: Vec<Activity>,
    /// Only the classes the tenant may read.
    pub notes: Vec<Note>,
    /// Every version, only of the classes the tenant may read; latest
    /// dates first, a document's versions together, newest first.
    pub documents: Vec<Document>,
    /// What the user was told about their DMP, and their oppositions, oldest first.
    pub dmp_consent: Vec<crate::domain::dmp::ConsentRecord>,
    pub insi_calls: Vec<InsiCall>,
    pub anonymity_lift: Option<AnonymityLift>,
    /// The file's candidate pairs (at most [`FILE_PAIRS`]), named.
    pub pairs: Vec<DuplicatePair>,
    pub merges: Vec<MergeRecord>,
}

/// How many candidate pairs a file's page lists.
pub const FILE_PAIRS: i64 = 50;

/// A version of the structure's identity-vigilance procedure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Procedure {
    pub version: i64,
    pub body: String,
    pub guidance_01: String,
    pub guidance_02: String,
    pub author: String,
    pub at: DateTime<Utc>,
}

/// Who read the current version, and who has not yet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcedureReaders {
    pub acknowledged: Vec<(String, DateTime<Utc>)>,
    pub pending: Vec<String>,
}

/// Something the identity-vigilance referent must look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityTask {
    pub id: Uuid,
    pub usager_id: Uuid,
    pub usager_name: String,
    pub kind: String,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

/// Identity-quality counts for the director.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdentityCounts {
    /// Non-anonymous, non-merged files by status code.
    pub by_status: Vec<(String, i64)>,
    pub anonymous: i64,
    pub homonyms: i64,
    pub doubtful: i64,
    pub collisions: Vec<(String, i64)>,
    pub pairs: Vec<(String, i64)>,
    pub open_tasks: i64,
}

/// INSi calls by month and outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsiMonth {
    pub month: String,
    pub outcome: String,
    pub count: i64,
}
