//! Durable jobs: enqueue (once per idempotency key), claim with a lease
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer), steps,
//! retries and ends. Every write by a runner checks that it still holds the
//! lease, so a runner that lost its job never overwrites the one that took it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::audit::append_in_tx;
use super::{SqlStore, rows};
use crate::domain::procedure::IdentityPolicy;
use crate::domain::tenant::Tenant;
use crate::store::sql::{Query, Row};
use crate::store::{
    AuditChain, Backend, Job, JobKind, JobState, JobStore, Journal, NewJob, StoreError,
    StoreResult, StructureStore, jobs::MAX_ATTEMPTS,
};

/// The job of an outbox request (a DMP deposit, an MSSanté message), in
/// the request's transaction: queued now, keyed `<prefix>-<request>`, its
/// payload `{ "<field>": request }`. Its id.
pub(super) async fn enqueue_outbox<'c>(
    on: impl crate::store::sql::Exec<'c>,
    t: &Tenant,
    kind: JobKind,
    (prefix, field): (&str, &str),
    request: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<Uuid> {
    let job_id = Uuid::new_v4();
    on.query(
        "INSERT INTO jobs (id, structure_id, kind, state, total, done, report, payload,
             attempts, max_attempts, run_after, idempotency_key, started_by, actor_id,
             started_at)
         VALUES ($1, $2, $3, $4, 1, 0, '{}', $5, 0, $6, $7, $8, $9, $10, $7)",
    )
    .bind(job_id)
    .bind(t.structure_id)
    .bind(kind.code())
    .bind(JobState::Queued.code())
    .bind(serde_json::json!({ field: request }).to_string())
    .bind(MAX_ATTEMPTS)
    .bind(now)
    .bind(format!("{prefix}-{request}"))
    .bind(&t.actor_label)
    .bind(t.professional_id)
    .execute()
    .await?;
    Ok(job_id)
}

/// An outbox request's job goes back to the queue (after a failure, or
/// done and asked again).
pub(super) async fn requeue<'c>(
    on: impl crate::store::sql::Exec<'c>,
    structure_id: Uuid,
    job_id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    on.query(
        "UPDATE jobs SET state = $1, attempts = 0, run_after = $2, last_error = NULL,
             lease_until = NULL, leased_by = NULL, finished_at = NULL
         WHERE id = $3 AND structure_id = $4 AND state IN ('echec', 'termine')",
    )
    .bind(crate::store::JobState::Queued.code())
    .bind(now)
    .bind(job_id)
    .bind(structure_id)
    .execute()
    .await
}

/// An outbox request's job ends cancelled, unless a runner holds it (it may
/// be sending right now): `false` then.
pub(super) async fn cancel_unless_running<'c>(
    on: impl crate::store::sql::Exec<'c>,
    t: &Tenant,
    job_id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let ended = on
        .query(
            "UPDATE jobs SET state = $1, last_error = $2, finished_at = $3,
                 lease_until = NULL, leased_by = NULL
             WHERE id = $4 AND structure_id = $5 AND state IN ('en_attente', 'echec')",
        )
        .bind(crate::store::JobState::Failed.code())
        .bind(format!("annulé par {}", t.actor_label))
        .bind(now)
        .bind(job_id)
        .bind(t.structure_id)
        .execute()
        .await?;
    Ok(ended == 1)
}

fn job(r: &Row) -> StoreResult<Job> {
    let kind: String = r.get("kind")?;
    let state: String = r.get("state")?;
    Ok(Job {
        id: r.get("id")?,
        structure_id: r.get("structure_id")?,
        kind: JobKind::parse(&kind)
            .ok_or_else(|| StoreError::Conflict(format!("type de travail inconnu « {kind} »")))?,
        state: JobState::parse(&state)
            .ok_or_else(|| StoreError::Conflict(format!("état de travail inconnu « {state} »")))?,
        total: r.get("total")?,
        done: r.get("done")?,
        report: r.get("report")?,
        payload: r.get("payload")?,
        attempts: r.get("attempts")?,
        max_attempts: r.get("max_attempts")?,
        run_after: r.get("run_after")?,
        lease_until: r.get("lease_until")?,
        leased_by: r.get("leased_by")?,
        last_error: r.get("last_error")?,
        idempotency_key: r.get("idempotency_key")?,
        started_by: r.get("started_by")?,
        actor_id: r.get("actor_id")?,
        started_at: r.get("started_at")?,
        finished_at: r.get("finished_at")?,
    })
}

/// Ends a runner's `UPDATE jobs SET …`: only the runner holding the job
/// writes it; `true` when it did.
async fn held_by(q: Query<'_>, id: Uuid, worker: &str) -> StoreResult<bool> {
    let n = q
        .push(" WHERE id = ")
        .push_bind(id)
        .push(" AND leased_by = ")
        .push_bind(worker)
        .push(" AND state = ")
        .push_bind(JobState::Running.code())
        .execute()
        .await?;
    Ok(n == 1)
}

#[async_trait]
impl JobStore for SqlStore {
    async fn enqueue_job(
        &self,
        structure_id: Uuid,
        j: &NewJob,
        journal: Journal<'_>,
    ) -> StoreResult<(Job, bool)> {
        let now = Utc::now();
        let mut tx = self.db.begin_write().await?;
        let created = tx
            .query(
                "INSERT INTO jobs (id, structure_id, kind, state, total, done, report, payload,
                     attempts, max_attempts, run_after, idempotency_key, started_by, actor_id,
                     started_at)
                 VALUES ($1, $2, $3, $4, $5, 0, '{}', $6, 0, $7, $8, $9, $10, $11, $8)
                 ON CONFLICT (structure_id, kind, idempotency_key) DO NOTHING
                 RETURNING *",
            )
            .bind(Uuid::new_v4())
            .bind(structure_id)
            .bind(j.kind.code())
            .bind(JobState::Queued.code())
            .bind(j.total)
            .bind(&j.payload)
            .bind(MAX_ATTEMPTS)
            .bind(now)
            .bind(&j.idempotency_key)
            .bind(&j.started_by)
            .bind(j.actor_id)
            .optional(job)
            .await?;
        if let Some(created) = created {
            append_in_tx(&mut tx, AuditChain::Structure(structure_id), journal).await?;
            tx.commit().await?;
            return Ok((created, true));
        }
        let existing = tx
            .query(
                "SELECT * FROM jobs WHERE structure_id = $1 AND kind = $2 AND idempotency_key = $3",
            )
            .bind(structure_id)
            .bind(j.kind.code())
            .bind(&j.idempotency_key)
            .optional(job)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok((existing, false))
    }

    async fn claim_job(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Option<Job>> {
        // PostgreSQL: concurrent claimers skip the row another one is taking.
        // SQLite: the statement runs under the database's single write lock.
        let lock = match self.db.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        self.db
            .query(
                "UPDATE jobs SET state = $1, finished_at = $2, lease_until = NULL, last_error = $3
                 WHERE state = $4 AND lease_until < $2 AND attempts >= max_attempts",
            )
            .bind(JobState::Failed.code())
            .bind(now)
            .bind("abandonné : le traitement s'est interrompu à chaque essai (voir le journal technique du serveur)")
            .bind(JobState::Running.code())
            .execute()
            .await?;
        let sql = format!(
            "UPDATE jobs SET state = $1, attempts = attempts + 1, leased_by = $2, lease_until = $3
             WHERE id = (SELECT id FROM jobs
                         WHERE (state = $4 AND run_after <= $5)
                            OR (state = $1 AND lease_until < $5 AND attempts < max_attempts)
                         ORDER BY run_after LIMIT 1{lock})
             RETURNING *"
        );
        self.db
            .query(sql)
            .bind(JobState::Running.code())
            .bind(worker)
            .bind(lease_until)
            .bind(JobState::Queued.code())
            .bind(now)
            .optional(job)
            .await
    }

    async fn checkpoint_job(
        &self,
        id: Uuid,
        worker: &str,
        done: i64,
        payload: &str,
        report: &str,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let q = self
            .db
            .query("UPDATE jobs SET done = $1, payload = $2, report = $3, lease_until = $4")
            .bind(done)
            .bind(payload)
            .bind(report)
            .bind(lease_until);
        held_by(q, id, worker).await
    }

    async fn renew_job_lease(
        &self,
        id: Uuid,
        worker: &str,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let q = self
            .db
            .query("UPDATE jobs SET lease_until = $1")
            .bind(lease_until);
        held_by(q, id, worker).await
    }

    async fn release_job(&self, id: Uuid, worker: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        let q = self
            .db
            .query(
                "UPDATE jobs SET state = $1, run_after = $2, attempts = attempts - 1,
                     leased_by = NULL, lease_until = NULL",
            )
            .bind(JobState::Queued.code())
            .bind(now);
        held_by(q, id, worker).await
    }

    async fn retry_job(
        &self,
        id: Uuid,
        worker: &str,
        done: i64,
        payload: &str,
        report: &str,
        error: &str,
        run_after: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let q = self
            .db
            .query(
                "UPDATE jobs SET state = $1, done = $2, payload = $3, report = $4, last_error = $5,
                     run_after = $6, leased_by = NULL, lease_until = NULL",
            )
            .bind(JobState::Queued.code())
            .bind(done)
            .bind(payload)
            .bind(report)
            .bind(error)
            .bind(run_after);
        held_by(q, id, worker).await
    }

    async fn finish_job(
        &self,
        id: Uuid,
        worker: &str,
        state: JobState,
        done: i64,
        report: &str,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let q = self
            .db
            .query(
                "UPDATE jobs SET state = $1, done = $2, report = $3, last_error = $4,
                     finished_at = $5, lease_until = NULL",
            )
            .bind(state.code())
            .bind(done)
            .bind(report)
            .bind(error)
            .bind(now);
        held_by(q, id, worker).await
    }

    async fn job_tenant(&self, job: &Job) -> StoreResult<Option<Tenant>> {
        if let Some(actor) = job.actor_id {
            return self.tenant_for(actor, job.structure_id).await;
        }
        self.structure_tenant(job.structure_id, &job.started_by)
            .await
    }

    async fn structure_tenant(
        &self,
        structure_id: Uuid,
        actor_label: &str,
    ) -> StoreResult<Option<Tenant>> {
        self.db
            .query(
                "SELECT kind, medical_roles, qualifier_roles, identity_documents, identity_policy,
                        '' AS roles, '' AS first_name, '' AS last_name
                 FROM structures WHERE id = $1",
            )
            .bind(structure_id)
            .optional(|r| {
                let mut t = rows::tenant(r, structure_id, Uuid::nil())?;
                t.actor_label = actor_label.to_string();
                Ok(t)
            })
            .await
    }

    async fn job_by_id(&self, id: Uuid) -> StoreResult<Option<Job>> {
        self.db
            .query("SELECT * FROM jobs WHERE id = $1")
            .bind(id)
            .optional(job)
            .await
    }

    async fn job(&self, t: &Tenant, id: Uuid) -> StoreResult<Option<Job>> {
        self.db
            .query("SELECT * FROM jobs WHERE id = $1 AND structure_id = $2")
            .bind(id)
            .bind(t.structure_id)
            .optional(job)
            .await
    }

    async fn recent_jobs(&self, t: &Tenant, kind: JobKind, limit: i64) -> StoreResult<Vec<Job>> {
        self.db
            .query(
                "SELECT * FROM jobs WHERE structure_id = $1 AND kind = $2
                 ORDER BY started_at DESC",
            )
            .bind(t.structure_id)
            .bind(kind.code())
            .limit(limit.clamp(1, 100))
            .all(job)
            .await
    }

    async fn open_jobs(&self) -> StoreResult<i64> {
        self.db
            .query("SELECT count(*) AS n FROM jobs WHERE state IN ($1, $2)")
            .bind(JobState::Queued.code())
            .bind(JobState::Running.code())
            .all(|r| r.get::<i64>("n"))
            .await
            .map(|v| v.first().copied().unwrap_or(0))
    }

    async fn reverification_policies(&self) -> StoreResult<Vec<(Uuid, u32)>> {
        let all = self
            .db
            .query("SELECT id, identity_policy FROM structures")
            .all(|r| {
                Ok((
                    r.get::<Uuid>("id")?,
                    IdentityPolicy::from_json(&r.get::<String>("identity_policy")?),
                ))
            })
            .await?;
        Ok(all
            .into_iter()
            .filter_map(|(id, p)| p.reverify_after_months.map(|m| (id, m)))
            .collect())
    }
}
