//! Reading a structure's MSSanté mailbox: one step reads a batch of new
//! messages by UID (`services::mss::poll`), each recorded with the cursor
//! in one transaction — a process that dies mid-batch resumes after the
//! last message recorded, none is read twice. The operator unreachable: the
//! job is retried with backoff, and the next scheduled reading tries again.

use std::sync::Arc;

use async_trait::async_trait;

use super::{JobError, JobHandler, Running, Step};
use crate::domain::tenant::Tenant;
use crate::services::mss::{BATCH, MssService, poll};
use crate::store::DynStore;

/// Who the journal names for a scheduled reading.
pub const ACTOR: &str = "relève planifiée de la boîte MSSanté";

pub struct MssInbox {
    pub store: DynStore,
    pub mss: Arc<MssService>,
}

#[async_trait]
impl JobHandler for MssInbox {
    async fn step(&self, t: &Tenant, job: &mut Running) -> Result<Step, JobError> {
        match poll(self.store.as_ref(), &self.mss, t, BATCH).await {
            Ok(Ok(reading)) => {
                job.job.done += reading.read as i64;
                job.job.total = job.job.done;
                Ok(if reading.more { Step::More } else { Step::Done })
            }
            Ok(Err(why)) => Err(JobError::Retry(why)),
            Err(crate::services::error::ServiceError::Store(e)) => Err(e.into()),
            Err(e) => Err(JobError::Fatal(e.to_string())),
        }
    }
}
