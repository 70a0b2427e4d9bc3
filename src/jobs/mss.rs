//! The MSSanté outbox: one job per outgoing message (`mss_messages`),
//! written with it in the author's transaction. A step is one attempt
//! (`services::mss::perform`: the rules again, then SMTP submission with the
//! message's own Message-ID); a 4xx answer, a server down or a TLS failure
//! goes back to the queue with backoff, a 5xx answer ends in failure with
//! the ANS explanation — the message then reads « en échec » on the file
//! and on the structure's messaging page, and « Relancer » sends it again.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{JobError, JobHandler, Running, Step};
use crate::domain::tenant::Tenant;
use crate::services::dmp::Attempt;
use crate::services::mss::{MssService, perform};
use crate::store::DynStore;

#[derive(Debug, Serialize, Deserialize)]
pub struct Payload {
    pub message: Uuid,
}

pub struct MssOutbox {
    pub store: DynStore,
    pub mss: Arc<MssService>,
}

#[async_trait]
impl JobHandler for MssOutbox {
    async fn step(&self, t: &Tenant, job: &mut Running) -> Result<Step, JobError> {
        let p: Payload = job.payload()?;
        match perform(self.store.as_ref(), &self.mss, t, p.message).await {
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
