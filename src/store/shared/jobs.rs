//! Background jobs of identity quality (their state and progress report).

use async_trait::async_trait;
use chrono::Utc;
use uuid::Uuid;

use super::SqlStore;
use crate::domain::tenant::Tenant;
use crate::store::sql::Row;
use crate::store::{Job, JobStore, StoreResult};

fn job(r: &Row) -> StoreResult<Job> {
    Ok(Job {
        id: r.get("id")?,
        kind: r.get("kind")?,
        state: r.get("state")?,
        total: r.get("total")?,
        done: r.get("done")?,
        report: r.get("report")?,
        started_by: r.get("started_by")?,
        started_at: r.get("started_at")?,
        finished_at: r.get("finished_at")?,
    })
}

#[async_trait]
impl JobStore for SqlStore {
    async fn create_job(&self, t: &Tenant, kind: &str, total: i64) -> StoreResult<Job> {
        let job = Job {
            id: Uuid::new_v4(),
            kind: kind.to_string(),
            state: "en_cours".into(),
            total,
            done: 0,
            report: "{}".into(),
            started_by: t.actor_label.clone(),
            started_at: Utc::now(),
            finished_at: None,
        };
        self.db
            .query(
                "INSERT INTO jobs (id, structure_id, kind, state, total, done, report, started_by,
                     started_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(job.id)
            .bind(t.structure_id)
            .bind(&job.kind)
            .bind(&job.state)
            .bind(job.total)
            .bind(job.done)
            .bind(&job.report)
            .bind(&job.started_by)
            .bind(job.started_at)
            .execute()
            .await?;
        Ok(job)
    }

    async fn job_progress(&self, t: &Tenant, id: Uuid, done: i64, report: &str) -> StoreResult<()> {
        self.db
            .query("UPDATE jobs SET done = $1, report = $2 WHERE id = $3 AND structure_id = $4")
            .bind(done)
            .bind(report)
            .bind(id)
            .bind(t.structure_id)
            .execute()
            .await?;
        Ok(())
    }

    async fn finish_job(&self, t: &Tenant, id: Uuid, state: &str, report: &str) -> StoreResult<()> {
        self.db
            .query(
                "UPDATE jobs SET state = $1, report = $2, finished_at = $3, done = total
                 WHERE id = $4 AND structure_id = $5",
            )
            .bind(state)
            .bind(report)
            .bind(Utc::now())
            .bind(id)
            .bind(t.structure_id)
            .execute()
            .await?;
        Ok(())
    }

    async fn job(&self, t: &Tenant, id: Uuid) -> StoreResult<Option<Job>> {
        self.db
            .query("SELECT * FROM jobs WHERE id = $1 AND structure_id = $2")
            .bind(id)
            .bind(t.structure_id)
            .optional(job)
            .await
    }

    async fn recent_jobs(&self, t: &Tenant, kind: &str, limit: i64) -> StoreResult<Vec<Job>> {
        self.db
            .query(
                "SELECT * FROM jobs WHERE structure_id = $1 AND kind = $2
                 ORDER BY started_at DESC LIMIT $3",
            )
            .bind(t.structure_id)
            .bind(kind)
            .bind(limit.clamp(1, 100))
            .all(job)
            .await
    }
}
