//! Requests to the users' DMP: the row and its outbox job in one
//! transaction; reads joined with the job (its attempts, next try and last
//! error) and bound to the documents the tenant reads.

use async_trait::async_trait;
use chrono::Utc;
use uuid::Uuid;

use super::audit::commit_journaled;
use super::{SqlStore, rows};
use crate::domain::dmp::{DepositState, DmpOperation, DmpVisibility};
use crate::domain::dmp_codes::DmpCodeChoice;
use crate::domain::tenant::Tenant;
use crate::store::sql::{Exec, Query, Row};
use crate::store::{DmpDeposit, DmpStore, JobKind, JobState, Journal, StoreError, StoreResult};

const DEPOSITS_SQL: &str = "SELECT x.id, x.usager_id, x.document_id, x.operation, x.visibility,
         x.state, x.reason, x.job_id, x.requested_at, x.updated_at,
         j.state AS job_state, j.last_error, j.attempts, j.run_after,
         p.first_name, p.last_name, d.title, u.anonymous, u.alias, u.birth_name, u.first_names
     FROM dmp_deposits x
     JOIN jobs j ON j.id = x.job_id
     JOIN professionals p ON p.id = x.requested_by
     JOIN documents d ON d.id = x.document_id
     JOIN usagers u ON u.id = x.usager_id
     WHERE x.structure_id = $1";

fn deposit(r: &Row) -> StoreResult<DmpDeposit> {
    let own = rows::parse_code_with(&r.get::<String>("state")?, DepositState::from_code)?;
    let job = rows::parse_code_with(&r.get::<String>("job_state")?, JobState::parse)?;
    let last_error: Option<String> = r.get("last_error")?;
    let (state, reason) = match (own, job) {
        // The job gave up: the request is in failure, with the job's reason.
        (DepositState::EnAttente | DepositState::Envoye, JobState::Failed) => {
            (DepositState::Echec, last_error)
        }
        (DepositState::EnAttente | DepositState::Envoye, _) => (own, last_error),
        _ => (own, r.get("reason")?),
    };
    let waiting =
        matches!(own, DepositState::EnAttente | DepositState::Envoye) && job == JobState::Queued;
    let label = if r.get::<bool>("anonymous")? {
        r.get::<Option<String>>("alias")?.unwrap_or_default()
    } else {
        format!(
            "{} {}",
            r.get::<Option<String>>("birth_name")?.unwrap_or_default(),
            r.get::<Option<String>>("first_names")?.unwrap_or_default()
        )
    };
    Ok(DmpDeposit {
        id: r.get("id")?,
        usager_id: r.get("usager_id")?,
        document_id: r.get("document_id")?,
        operation: rows::parse_code_with(&r.get::<String>("operation")?, DmpOperation::from_code)?,
        visibility: rows::parse_code_with(
            &r.get::<String>("visibility")?,
            DmpVisibility::from_code,
        )?,
        state,
        reason,
        job_id: r.get("job_id")?,
        attempts: r.get("attempts")?,
        next_try: if waiting {
            Some(r.get("run_after")?)
        } else {
            None
        },
        requested_by: rows::full_name(r)?,
        requested_at: r.get("requested_at")?,
        updated_at: r.get("updated_at")?,
        title: r.get("title")?,
        usager_label: label.trim().to_string(),
    })
}

/// The tenant's requests whose document it reads.
fn readable<'c>(on: impl Exec<'c>, t: &Tenant) -> Query<'c> {
    on.query(format!("{DEPOSITS_SQL} AND d.confidentiality IN ("))
        .bind(t.structure_id)
        .push_list(t.readable_classes().into_iter().map(|c| c.code()))
        .push(")")
}

async fn one<'c>(
    on: impl Exec<'c>,
    t: &Tenant,
    usager_id: Uuid,
    id: Uuid,
) -> StoreResult<DmpDeposit> {
    readable(on, t)
        .push(" AND x.usager_id = ")
        .push_bind(usager_id)
        .push(" AND x.id = ")
        .push_bind(id)
        .optional(deposit)
        .await?
        .ok_or(StoreError::NotFound)
}

#[async_trait]
impl DmpStore for SqlStore {
    async fn request_dmp(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        document_id: Uuid,
        operation: DmpOperation,
        visibility: DmpVisibility,
        journal: Journal<'_>,
    ) -> StoreResult<(DmpDeposit, bool)> {
        let now = Utc::now();
        let mut tx = self.db.begin_write().await?;
        let active = readable(&mut tx, t)
            .push(" AND x.document_id = ")
            .push_bind(document_id)
            .push(" AND x.operation = ")
            .push_bind(operation.code())
            .push(" AND x.state IN ('en_attente', 'envoye', 'accepte')")
            .optional(deposit)
            .await?;
        if let Some(existing) = active {
            tx.commit().await?;
            return Ok((existing, false));
        }
        let id = Uuid::new_v4();
        let job_id =
            super::jobs::enqueue_outbox(&mut tx, t, JobKind::Dmp, ("dmp", "deposit"), id, now)
                .await?;
        // Only a version the tenant reads, of its own live file.
        let inserted = tx
            .query(
                "INSERT INTO dmp_deposits (id, structure_id, usager_id, document_id, operation,
                     visibility, state, job_id, requested_by, requested_at, updated_at)
                 SELECT $1, d.structure_id, d.usager_id, d.id, $2, $3, $4, $5, $6, $7, $7
                 FROM documents d JOIN usagers u ON u.id = d.usager_id
                 WHERE d.id = $8 AND d.usager_id = $9 AND d.structure_id = $10
                   AND u.merged_into IS NULL AND d.confidentiality IN (",
            )
            .bind(id)
            .bind(operation.code())
            .bind(visibility.code())
            .bind(DepositState::EnAttente.code())
            .bind(job_id)
            .bind(t.professional_id)
            .bind(now)
            .bind(document_id)
            .bind(usager_id)
            .bind(t.structure_id)
            .push_list(t.readable_classes().into_iter().map(|c| c.code()))
            .push(")")
            .execute()
            .await?;
        if inserted != 1 {
            return Err(StoreError::NotFound);
        }
        let created = one(&mut tx, t, usager_id, id).await?;
        commit_journaled(tx, t, journal).await?;
        Ok((created, true))
    }

    async fn dmp_deposits(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<DmpDeposit>> {
        readable(&self.db, t)
            .push(" AND x.usager_id = ")
            .push_bind(usager_id)
            .push(" ORDER BY x.requested_at DESC")
            .all(deposit)
            .await
    }

    async fn dmp_deposit(&self, structure_id: Uuid, id: Uuid) -> StoreResult<Option<DmpDeposit>> {
        self.db
            .query(format!("{DEPOSITS_SQL} AND x.id = $2"))
            .bind(structure_id)
            .bind(id)
            .optional(deposit)
            .await
    }

    async fn set_dmp_state(
        &self,
        t: &Tenant,
        id: Uuid,
        state: DepositState,
        reason: Option<&str>,
        journal: Journal<'_>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        // A cancelled request stays cancelled.
        let n = tx
            .query(
                "UPDATE dmp_deposits SET state = $1, reason = $2, updated_at = $3
                 WHERE id = $4 AND structure_id = $5 AND state <> 'annule'",
            )
            .bind(state.code())
            .bind(reason)
            .bind(Utc::now())
            .bind(id)
            .bind(t.structure_id)
            .execute()
            .await?;
        if n != 1 {
            return Err(StoreError::Conflict(
                "demande DMP annulée ou introuvable".into(),
            ));
        }
        commit_journaled(tx, t, journal).await
    }

    async fn retry_dmp(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        id: Uuid,
        journal: Journal<'_>,
    ) -> StoreResult<()> {
        let now = Utc::now();
        let mut tx = self.db.begin_write().await?;
        let d = one(&mut tx, t, usager_id, id).await?;
        if !d.state.may_retry() {
            return Err(StoreError::Conflict(format!(
                "cette demande est « {} » : elle ne se relance pas",
                d.state.label()
            )));
        }
        tx.query(
            "UPDATE dmp_deposits SET state = $1, reason = NULL, updated_at = $2
             WHERE id = $3 AND structure_id = $4",
        )
        .bind(DepositState::EnAttente.code())
        .bind(now)
        .bind(id)
        .bind(t.structure_id)
        .execute()
        .await?;
        super::jobs::requeue(&mut tx, t.structure_id, d.job_id, now).await?;
        commit_journaled(tx, t, journal).await
    }

    async fn cancel_dmp(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        id: Uuid,
        journal: Journal<'_>,
    ) -> StoreResult<()> {
        let now = Utc::now();
        let mut tx = self.db.begin_write().await?;
        let d = one(&mut tx, t, usager_id, id).await?;
        if !d.state.may_cancel() {
            return Err(StoreError::Conflict(format!(
                "cette demande est « {} » : elle ne s'annule plus",
                d.state.label()
            )));
        }
        // Not while a runner holds it: it may be sending right now.
        let ended = super::jobs::cancel_unless_running(&mut tx, t, d.job_id, now).await?;
        if !ended {
            return Err(StoreError::Conflict(
                "l'envoi est en cours : attendez sa réponse avant d'annuler".into(),
            ));
        }
        tx.query(
            "UPDATE dmp_deposits SET state = $1, reason = $2, updated_at = $3
             WHERE id = $4 AND structure_id = $5",
        )
        .bind(DepositState::Annule.code())
        .bind(format!("annulé par {}", t.actor_label))
        .bind(now)
        .bind(id)
        .bind(t.structure_id)
        .execute()
        .await?;
        commit_journaled(tx, t, journal).await
    }

    async fn dmp_failures(&self, t: &Tenant, limit: i64) -> StoreResult<Vec<DmpDeposit>> {
        readable(&self.db, t)
            .push(
                " AND (x.state = 'refuse' OR (x.state IN ('en_attente', 'envoye') AND j.state = 'echec'))
                 ORDER BY x.updated_at DESC LIMIT ",
            )
            .push_bind(limit)
            .all(deposit)
            .await
    }

    async fn set_dmp_codes(
        &self,
        t: &Tenant,
        codes: &DmpCodeChoice,
        journal: Journal<'_>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        tx.query(
            "UPDATE structures SET dmp_facility_type = $1, dmp_practice_setting = $2,
                 dmp_content_type = $3 WHERE id = $4",
        )
        .bind(codes.facility_type.as_deref())
        .bind(codes.practice_setting.as_deref())
        .bind(codes.content_type.as_deref())
        .bind(t.structure_id)
        .execute()
        .await?;
        commit_journaled(tx, t, journal).await
    }
}
