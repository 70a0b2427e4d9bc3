//! The DMP outbox: one job per request (`dmp_deposits`), written with it in
//! the user's transaction. A step is one attempt (`services::dmp::perform`:
//! the rules again, then the DMP, idempotent by the document's uniqueId);
//! a failure worth retrying goes back to the queue with backoff and jitter,
//! and after the last attempt the job ends in failure with the reason in
//! French — the request then reads « en échec » on the file and on the
//! structure's failures page.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{JobError, JobHandler, Running, Step};
use crate::domain::tenant::Tenant;
use crate::services::dmp::{Attempt, DmpService, perform};
use crate::store::DynStore;

#[derive(Debug, Serialize, Deserialize)]
pub struct Payload {
    pub deposit: Uuid,
}

pub struct DmpOutbox {
    pub store: DynStore,
    pub dmp: Arc<DmpService>,
}

#[async_trait]
impl JobHandler for DmpOutbox {
    async fn step(&self, t: &Tenant, job: &mut Running) -> Result<Step, JobError> {
        let p: Payload = job.payload()?;
        let attempt = job.job.attempts;
        match perform(self.store.as_ref(), &self.dmp, t, p.deposit, attempt).await {
            Ok(Attempt::Finished) => {
                job.job.done = 1;
                Ok(Step::Done)
            }
            Ok(Attempt::Later(why)) => Err(JobError::Retry(why)),
            Ok(Attempt::Refused(why)) => Err(JobError::Fatal(why)),
            Err(crate::services::error::ServiceError::Store(e)) => Err(e.into()),
            Err(e) => Err(JobError::Fatal(e.to_string())),
        }
    }
}
