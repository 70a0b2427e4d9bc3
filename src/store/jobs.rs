//! Durable jobs: the table the job runner (`crate::jobs`) claims work from,
//! and the outbox the DMP and MSSanté deposits will reuse. A job carries what
//! is left to do (`payload`), its progress and report, a lease held by the
//! runner working on it, attempts with a next try (`run_after`) and a stable
//! idempotency key per structure and kind: enqueuing it again returns the
//! same job, so a start (or a send) happens once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::tenant::Tenant;
use crate::store::StoreResult;

/// What a job does (stored as its French code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// The batch duplicate finder.
    DuplicateBatch,
    /// INSi re-verification of recovered and qualified identities.
    InsiReverification,
    /// A request to a user's DMP (the outbox of `dmp_deposits`).
    Dmp,
    /// A message to an MSSanté mailbox (the outbox of `mss_messages`).
    Mss,
    /// Reading a structure's MSSanté mailbox (IMAP, by UID).
    MssInbox,
}

impl JobKind {
    pub const ALL: [JobKind; 5] = [
        JobKind::DuplicateBatch,
        JobKind::InsiReverification,
        JobKind::Dmp,
        JobKind::Mss,
        JobKind::MssInbox,
    ];

    pub fn code(self) -> &'static str {
        match self {
            JobKind::DuplicateBatch => "doublons",
            JobKind::InsiReverification => "reverification-insi",
            JobKind::Dmp => "dmp",
            JobKind::Mss => "mss",
            JobKind::MssInbox => "releve-mss",
        }
    }

    pub fn parse(code: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// As people read it.
    pub fn label(self) -> &'static str {
        match self {
            JobKind::DuplicateBatch => "Recherche de doublons",
            JobKind::InsiReverification => "Revérification INSi",
            JobKind::Dmp => "Envoi au DMP",
            JobKind::Mss => "Envoi MSSanté",
            JobKind::MssInbox => "Relève de la boîte MSSanté",
        }
    }
}

/// Where a job stands (stored as its French code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting for a runner (new, or retried after a failed attempt).
    Queued,
    /// Held by a runner until its lease expires.
    Running,
    Done,
    /// Given up: `last_error` says why, in French.
    Failed,
}

impl JobState {
    pub const ALL: [JobState; 4] = [
        JobState::Queued,
        JobState::Running,
        JobState::Done,
        JobState::Failed,
    ];

    pub fn code(self) -> &'static str {
        match self {
            JobState::Queued => "en_attente",
            JobState::Running => "en_cours",
            JobState::Done => "termine",
            JobState::Failed => "echec",
        }
    }

    pub fn parse(code: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn label(self) -> &'static str {
        match self {
            JobState::Queued => "en attente",
            JobState::Running => "en cours",
            JobState::Done => "terminé",
            JobState::Failed => "en échec",
        }
    }

    /// Still to be done (the test harness waits for none of these).
    pub fn is_open(self) -> bool {
        matches!(self, JobState::Queued | JobState::Running)
    }
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: JobKind,
    /// Stable per structure and kind: a second enqueue with it returns the first job.
    pub idempotency_key: String,
    /// Who the journal and the desk name (a person, or a policy).
    pub started_by: String,
    /// The professional on whose behalf it runs (`None`: the structure itself).
    pub actor_id: Option<Uuid>,
    pub total: i64,
    /// What is left to do, as JSON.
    pub payload: String,
}

/// Attempts before a job that keeps failing is given up.
pub const MAX_ATTEMPTS: i32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: Uuid,
    pub structure_id: Uuid,
    pub kind: JobKind,
    pub state: JobState,
    pub total: i64,
    pub done: i64,
    pub report: String,
    pub payload: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_after: DateTime<Utc>,
    pub lease_until: Option<DateTime<Utc>>,
    pub leased_by: Option<String>,
    pub last_error: Option<String>,
    pub idempotency_key: String,
    pub started_by: String,
    pub actor_id: Option<Uuid>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait JobStore: Send + Sync {
    /// Enqueues the job, or returns the one already enqueued with the same
    /// idempotency key (`false`: nothing new was created).
    /// The journal (the structure's chain) is written with the job, only if
    /// this call created it.
    async fn enqueue_job(
        &self,
        structure_id: Uuid,
        j: &NewJob,
        journal: super::Journal<'_>,
    ) -> StoreResult<(Job, bool)>;
    /// Takes the oldest job that is ready (queued and due, or running with an
    /// expired lease: its runner died) for `worker` until `lease_until`, and
    /// counts an attempt. Two runners never get the same job. A job whose
    /// runner died on its last allowed attempt fails instead (it would kill
    /// the next runner too).
    async fn claim_job(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Option<Job>>;
    /// Records a step (what is left, progress, report) and extends the lease;
    /// `false` when `worker` no longer holds the job (its lease expired and
    /// another runner took it): the caller stops.
    async fn checkpoint_job(
        &self,
        id: Uuid,
        worker: &str,
        done: i64,
        payload: &str,
        report: &str,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Extends the lease while a long step runs; `false` when `worker` no
    /// longer holds the job.
    async fn renew_job_lease(
        &self,
        id: Uuid,
        worker: &str,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Hands a job that had its time slice back to the queue, behind the
    /// others (`run_after` = now), its progress kept; not a failed attempt.
    async fn release_job(&self, id: Uuid, worker: &str, now: DateTime<Utc>) -> StoreResult<bool>;
    /// Hands the job back for another attempt at `run_after` (backoff).
    #[allow(clippy::too_many_arguments)]
    async fn retry_job(
        &self,
        id: Uuid,
        worker: &str,
        done: i64,
        payload: &str,
        report: &str,
        error: &str,
        run_after: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Ends the job (`Done` or `Failed` with its French reason).
    #[allow(clippy::too_many_arguments)]
    async fn finish_job(
        &self,
        id: Uuid,
        worker: &str,
        state: JobState,
        done: i64,
        report: &str,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// The tenant a job runs as: its professional's, if they still hold a
    /// role in the structure; the structure itself (no role) for a job of
    /// its policy. `None`: that professional lost their access.
    async fn job_tenant(&self, job: &Job) -> StoreResult<Option<Tenant>>;
    /// The structure acting through its own procedure (no role, no person),
    /// named `actor_label` in the journal.
    async fn structure_tenant(
        &self,
        structure_id: Uuid,
        actor_label: &str,
    ) -> StoreResult<Option<Tenant>>;
    /// A job by id, instance-wide (the runner).
    async fn job_by_id(&self, id: Uuid) -> StoreResult<Option<Job>>;
    /// A job of the tenant's structure.
    async fn job(&self, t: &Tenant, id: Uuid) -> StoreResult<Option<Job>>;
    async fn recent_jobs(&self, t: &Tenant, kind: JobKind, limit: i64) -> StoreResult<Vec<Job>>;
    /// Jobs queued or running, instance-wide (tests wait for none).
    async fn open_jobs(&self) -> StoreResult<i64>;
    /// Structures whose procedure re-verifies identities after N months: (id, N).
    async fn reverification_policies(&self) -> StoreResult<Vec<(Uuid, u32)>>;
}
