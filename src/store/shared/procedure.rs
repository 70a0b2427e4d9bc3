//! The director's identity procedure (versions, acknowledgements), the
//! referent's identity tasks, and the identity-quality indicators.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::audit::commit_journaled;
use super::{SqlStore, found, rows};
use crate::domain::procedure::IdentityPolicy;
use crate::domain::tenant::Tenant;
use crate::store::sql::Row;
use crate::store::{
    IdentityCounts, IdentityTask, InsiMonth, Journal, JournalOf, NewProcedure, Procedure,
    ProcedureReaders, ProcedureStore, StoreResult, postgres, sqlite,
};

fn procedure(r: &Row) -> StoreResult<Procedure> {
    Ok(Procedure {
        version: r.get("version")?,
        body: r.get("body")?,
        guidance_01: r.get("guidance_01")?,
        guidance_02: r.get("guidance_02")?,
        author: r.get("author")?,
        at: r.get("at")?,
    })
}

/// `(k, n)` rows of a `GROUP BY` count.
fn count(r: &Row) -> StoreResult<(String, i64)> {
    Ok((r.get("k")?, r.get("n")?))
}

#[async_trait]
impl ProcedureStore for SqlStore {
    async fn set_identity_policy(
        &self,
        t: &Tenant,
        p: &IdentityPolicy,
        journal: Journal<'_>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        tx.query("UPDATE structures SET identity_policy = $1 WHERE id = $2")
            .bind(p.to_json())
            .bind(t.structure_id)
            .execute()
            .await?;
        commit_journaled(tx, t, journal).await
    }

    async fn publish_procedure(
        &self,
        t: &Tenant,
        p: &NewProcedure,
        journal: JournalOf<'_, Procedure>,
    ) -> StoreResult<Procedure> {
        let now = Utc::now();
        let mut tx = self.db.begin_write().await?;
        let last: Option<i64> = tx
            .query("SELECT MAX(version) FROM identity_procedures WHERE structure_id = $1")
            .bind(t.structure_id)
            .scalar()
            .await?;
        let version = last.unwrap_or(0) + 1;
        tx.query(
            "INSERT INTO identity_procedures (structure_id, version, body, guidance_01,
                 guidance_02, author, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(t.structure_id)
        .bind(version)
        .bind(&p.body)
        .bind(&p.guidance_01)
        .bind(&p.guidance_02)
        .bind(&t.actor_label)
        .bind(now)
        .execute()
        .await?;
        let published = Procedure {
            version,
            body: p.body.clone(),
            guidance_01: p.guidance_01.clone(),
            guidance_02: p.guidance_02.clone(),
            author: t.actor_label.clone(),
            at: now,
        };
        commit_journaled(tx, t, &journal(&published)).await?;
        Ok(published)
    }

    async fn current_procedure(&self, t: &Tenant) -> StoreResult<Option<Procedure>> {
        self.db
            .query(
                "SELECT * FROM identity_procedures WHERE structure_id = $1
                 ORDER BY version DESC LIMIT 1",
            )
            .bind(t.structure_id)
            .optional(procedure)
            .await
    }

    async fn acknowledge_procedure(
        &self,
        t: &Tenant,
        version: i64,
        journal: Journal<'_>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        tx.query(
            "INSERT INTO procedure_acks (structure_id, version, professional_id, at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (structure_id, version, professional_id) DO NOTHING",
        )
        .bind(t.structure_id)
        .bind(version)
        .bind(t.professional_id)
        .bind(Utc::now())
        .execute()
        .await?;
        commit_journaled(tx, t, journal).await
    }

    async fn has_acknowledged(&self, t: &Tenant, version: i64) -> StoreResult<bool> {
        let n: i64 = self
            .db
            .query(
                "SELECT COUNT(*) FROM procedure_acks
                 WHERE structure_id = $1 AND version = $2 AND professional_id = $3",
            )
            .bind(t.structure_id)
            .bind(version)
            .bind(t.professional_id)
            .scalar()
            .await?;
        Ok(n > 0)
    }

    async fn procedure_readers(&self, t: &Tenant, version: i64) -> StoreResult<ProcedureReaders> {
        let readers = self
            .db
            .query(
                "SELECT DISTINCT p.id, p.first_name, p.last_name, a.at
                 FROM memberships m JOIN professionals p ON p.id = m.professional_id AND p.active
                 LEFT JOIN procedure_acks a ON a.structure_id = m.structure_id
                      AND a.professional_id = p.id AND a.version = $1
                 WHERE m.structure_id = $2 ORDER BY p.last_name, p.first_name",
            )
            .bind(version)
            .bind(t.structure_id)
            .all(|r| Ok((rows::full_name(r)?, r.get::<Option<DateTime<Utc>>>("at")?)))
            .await?;
        let mut out = ProcedureReaders::default();
        for (name, at) in readers {
            match at {
                Some(at) => out.acknowledged.push((name, at)),
                None => out.pending.push(name),
            }
        }
        Ok(out)
    }

    async fn add_identity_task(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        kind: &str,
        message: &str,
    ) -> StoreResult<()> {
        self.db
            .query(
                "INSERT INTO identity_tasks (id, structure_id, usager_id, kind, message, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(Uuid::new_v4())
            .bind(t.structure_id)
            .bind(usager_id)
            .bind(kind)
            .bind(message)
            .bind(Utc::now())
            .execute()
            .await?;
        Ok(())
    }

    async fn open_identity_tasks(&self, t: &Tenant) -> StoreResult<Vec<IdentityTask>> {
        let tasks = self
            .db
            .query(
                "SELECT id, usager_id, kind, message, created_at FROM identity_tasks
                 WHERE structure_id = $1 AND done_at IS NULL ORDER BY created_at LIMIT 500",
            )
            .bind(t.structure_id)
            .all(|r| {
                Ok(IdentityTask {
                    id: r.get("id")?,
                    usager_id: r.get("usager_id")?,
                    usager_name: String::new(),
                    kind: r.get("kind")?,
                    message: r.get("message")?,
                    created_at: r.get("created_at")?,
                })
            })
            .await?;
        let names = self
            .usager_names(t, tasks.iter().map(|task| task.usager_id).collect())
            .await?;
        Ok(tasks
            .into_iter()
            .map(|task| IdentityTask {
                usager_name: names.get(&task.usager_id).cloned().unwrap_or_default(),
                ..task
            })
            .collect())
    }

    async fn close_identity_task(
        &self,
        t: &Tenant,
        id: Uuid,
        journal: Journal<'_>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        tx.query(
            "UPDATE identity_tasks SET done_at = $1, done_by = $2
                 WHERE id = $3 AND structure_id = $4 AND done_at IS NULL",
        )
        .bind(Utc::now())
        .bind(&t.actor_label)
        .bind(id)
        .bind(t.structure_id)
        .execute()
        .await
        .and_then(found)?;
        commit_journaled(tx, t, journal).await
    }

    async fn identity_counts(&self, t: &Tenant) -> StoreResult<IdentityCounts> {
        let by_status = self
            .db
            .query(
                "SELECT identity_status AS k, COUNT(*) AS n FROM usagers
                 WHERE structure_id = $1 AND anonymous = $2 AND merged_into IS NULL
                 GROUP BY identity_status ORDER BY identity_status",
            )
            .bind(t.structure_id)
            .bind(false)
            .all(count)
            .await?;
        let collisions = self
            .db
            .query(
                "SELECT collision AS k, COUNT(*) AS n FROM usagers
                 WHERE structure_id = $1 AND anonymous = $2 AND merged_into IS NULL
                   AND collision IS NOT NULL
                 GROUP BY collision ORDER BY collision",
            )
            .bind(t.structure_id)
            .bind(false)
            .all(count)
            .await?;
        let pairs = self
            .db
            .query(
                "SELECT status AS k, COUNT(*) AS n FROM duplicate_pairs WHERE structure_id = $1
                 GROUP BY status ORDER BY status",
            )
            .bind(t.structure_id)
            .all(count)
            .await?;
        let vigilances: Vec<String> = self
            .db
            .query(
                "SELECT vigilance FROM usagers
                 WHERE structure_id = $1 AND anonymous = $2 AND merged_into IS NULL
                   AND vigilance LIKE '%true%'",
            )
            .bind(t.structure_id)
            .bind(false)
            .scalars()
            .await?;
        let mut homonyms = 0;
        let mut doubtful = 0;
        for v in &vigilances {
            let a = rows::vigilance_from(v, false)?.attributes();
            homonyms += i64::from(a.homa);
            doubtful += i64::from(a.dout);
        }
        let anonymous: i64 = self
            .db
            .query(
                "SELECT COUNT(*) FROM usagers
                 WHERE structure_id = $1 AND anonymous = $2 AND merged_into IS NULL",
            )
            .bind(t.structure_id)
            .bind(true)
            .scalar()
            .await?;
        let open_tasks: i64 = self
            .db
            .query(
                "SELECT COUNT(*) FROM identity_tasks WHERE structure_id = $1 AND done_at IS NULL",
            )
            .bind(t.structure_id)
            .scalar()
            .await?;
        Ok(IdentityCounts {
            by_status,
            anonymous,
            homonyms,
            doubtful,
            collisions,
            pairs,
            open_tasks,
        })
    }

    async fn insi_months(&self, t: &Tenant, months: i64) -> StoreResult<Vec<InsiMonth>> {
        let since = Utc::now() - chrono::Duration::days(31 * months.clamp(1, 36));
        let month = match self.db.backend() {
            crate::store::Backend::Sqlite => sqlite::MONTH_OF_AT,
            crate::store::Backend::Postgres => postgres::MONTH_OF_AT,
        };
        self.db
            .query(format!(
                "SELECT {month} AS month, substr(outcome, 1, 2) AS outcome, COUNT(*) AS n
                 FROM insi_calls WHERE structure_id = $1 AND at >= $2
                 GROUP BY {month}, substr(outcome, 1, 2) ORDER BY 1, 2"
            ))
            .bind(t.structure_id)
            .bind(since)
            .all(|r| {
                Ok(InsiMonth {
                    month: r.get("month")?,
                    outcome: r.get("outcome")?,
                    count: r.get("n")?,
                })
            })
            .await
    }
}
