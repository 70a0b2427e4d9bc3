//! The batch duplicate finder: every live identified file of the structure,
//! a page per step, its pairs recorded (upserts: a page done again after a
//! crash changes nothing) and one INS on several files flagged.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::audit::AuditAction;
use crate::domain::tenant::Tenant;
use crate::jobs::idempotency_key;
use crate::jobs::runner::{JobError, JobHandler, Running, Step};
use crate::services::audit;
use crate::services::error::ServiceResult;
use crate::services::identity_quality::{record_pairs_of, same_ins_found};
use crate::store::{DynStore, Job, JobKind, NewJob, Store};

/// Files per step (one checkpoint each).
const PAGE: i64 = 50;

/// What is left to do: the files after this id.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Payload {
    pub after: Option<Uuid>,
}

/// What the batch finder reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Report {
    pub files: i64,
    pub pairs: i64,
    pub same_ins: i64,
    pub error: Option<String>,
}

pub struct DuplicateBatch {
    pub store: DynStore,
}

#[async_trait]
impl JobHandler for DuplicateBatch {
    async fn step(&self, t: &Tenant, job: &mut Running) -> Result<Step, JobError> {
        let mut payload: Payload = job.payload()?;
        let mut report: Report = job.report();
        let store = self.store.as_ref();
        let ids = store.identity_ids(t, &[], payload.after, PAGE).await?;
        let Some(last) = ids.last().copied() else {
            return Ok(Step::Done);
        };
        for id in ids {
            if let Some(u) = store.get_usager(t, id).await? {
                report.pairs += record_pairs_of(store, t, &u).await? as i64;
                if let Some(r) = u.vigilance.ins() {
                    let others = store
                        .usagers_with_ins(t, &r.ins.matricule.as_string())
                        .await?;
                    if others.len() > 1 {
                        report.same_ins += 1;
                        same_ins_found(store, t, &u, &others).await?;
                    }
                }
            }
            report.files += 1;
        }
        payload.after = Some(last);
        job.job.done = report.files;
        job.set_payload(&payload);
        job.set_report(&report);
        Ok(Step::More)
    }
}

/// « Rechercher les doublons dans tous les dossiers ».
pub async fn start(store: &dyn Store, t: &Tenant, form_key: Option<&str>) -> ServiceResult<Job> {
    let total = store.count_usagers(t).await?;
    let entry = audit::event(t, AuditAction::JobStarted, None, "recherche de doublons");
    let (job, _) = store
        .enqueue_job(
            t.structure_id,
            &NewJob {
                kind: JobKind::DuplicateBatch,
                idempotency_key: idempotency_key(form_key),
                started_by: t.actor_label.clone(),
                actor_id: Some(t.professional_id),
                total,
                payload: serde_json::to_string(&Payload::default()).expect("payload serialises"),
            },
            &[entry],
        )
        .await?;
    Ok(job)
}
