//! Requests to the users' DMP (issue 13): each a row written with its
//! outbox job in one transaction; the job moves it along; people read it on
//! the file page and on the structure's failures page.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::dmp::{DepositState, DmpOperation, DmpVisibility};
use crate::domain::dmp_codes::DmpCodeChoice;
use crate::domain::tenant::Tenant;
use crate::store::{Journal, StoreResult};

/// One request, with what its job says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmpDeposit {
    pub id: Uuid,
    pub usager_id: Uuid,
    pub document_id: Uuid,
    pub operation: DmpOperation,
    pub visibility: DmpVisibility,
    /// Its own state, or « en échec » when its job gave up.
    pub state: DepositState,
    /// Why it was refused, or the job's last error (a retry pending or given up).
    pub reason: Option<String>,
    pub job_id: Uuid,
    pub attempts: i32,
    /// When the job tries next (while waiting).
    pub next_try: Option<DateTime<Utc>>,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The document's title and the file's display name (failures page).
    pub title: String,
    pub usager_label: String,
}

#[async_trait]
pub trait DmpStore: Send + Sync {
    /// Writes the request and its job (kind `dmp`) in one transaction, with
    /// the journal. The version must be one the tenant reads, of this live
    /// file; a second active request of the same operation for the same
    /// version returns the first (`false`).
    async fn request_dmp(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        document_id: Uuid,
        operation: DmpOperation,
        visibility: DmpVisibility,
        journal: Journal<'_>,
    ) -> StoreResult<(DmpDeposit, bool)>;
    /// The file's requests (documents the tenant reads), newest first.
    async fn dmp_deposits(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<DmpDeposit>>;
    /// One request of the structure, whoever reads it (the job).
    async fn dmp_deposit(&self, structure_id: Uuid, id: Uuid) -> StoreResult<Option<DmpDeposit>>;
    /// The job moves the request on, with its journal (when any).
    async fn set_dmp_state(
        &self,
        t: &Tenant,
        id: Uuid,
        state: DepositState,
        reason: Option<&str>,
        journal: Journal<'_>,
    ) -> StoreResult<()>;
    /// A refused or given-up request goes back to the queue (its job too).
    async fn retry_dmp(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        id: Uuid,
        journal: Journal<'_>,
    ) -> StoreResult<()>;
    /// A request that has not gone out is cancelled (its job ends).
    async fn cancel_dmp(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        id: Uuid,
        journal: Journal<'_>,
    ) -> StoreResult<()>;
    /// The structure's refused and given-up requests, newest first.
    async fn dmp_failures(&self, t: &Tenant, limit: i64) -> StoreResult<Vec<DmpDeposit>>;
    /// The codes the director chose for the structure's DMP metadata.
    async fn set_dmp_codes(
        &self,
        t: &Tenant,
        codes: &DmpCodeChoice,
        journal: Journal<'_>,
    ) -> StoreResult<()>;
}
