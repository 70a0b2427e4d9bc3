//! Identity vigilance: the identity's state, INSi calls, the structure's
//! identity settings and INSi credentials, anonymity lifts.

use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use uuid::Uuid;

use super::audit::{commit_journaled, commit_journaled_chains};
use super::duplicates::write_keys_in;
use super::rows::{self, returning_usager};
use super::usagers::why_unchanged;
use super::{SqlStore, found};
use crate::domain::identity::Vigilance;
use crate::domain::tenant::Tenant;
use crate::domain::usager::Identity;
use crate::store::sql::{Row, is_unique_violation};
use crate::store::{
    AnonymityLift, IdentitySettings, InsiCall, InstanceJournal, Journal, NewInsiCall, StoreError,
    StoreResult, StructureInsi, Usager, VigilanceStore,
};

pub(super) fn insi_call(r: &Row) -> StoreResult<InsiCall> {
    Ok(InsiCall {
        id: r.get("id")?,
        usager_id: r.get("usager_id")?,
        at: r.get("at")?,
        operator: r.get("operator")?,
        step: r.get("step")?,
        outcome: r.get("outcome")?,
        duration_ms: r.get("duration_ms")?,
        request_xml: r.get("request_xml")?,
        response_xml: r.get("response_xml")?,
    })
}

pub(super) fn anonymity_lift(r: &Row) -> StoreResult<AnonymityLift> {
    Ok(AnonymityLift {
        anonymous_id: r.get("anonymous_id")?,
        requested_on: r.get("requested_on")?,
        recorded_by: r.get("recorded_by")?,
        real_id: r.get("real_id")?,
        decided_by: r.get("decided_by")?,
        decided_at: r.get("decided_at")?,
    })
}

#[async_trait]
impl VigilanceStore for SqlStore {
    async fn set_vigilance(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        version: i64,
        identity: &Identity,
        vigilance: &Vigilance,
        journal: Journal<'_>,
    ) -> StoreResult<Usager> {
        let Identity::Traits {
            birth_name,
            first_names,
            birth_date,
            sex,
            birth_place_code,
            ..
        } = identity
        else {
            return Err(StoreError::Forbidden);
        };
        let mut tx = self.db.begin_write().await?;
        let updated = tx
            .query(concat!(
                "UPDATE usagers SET birth_name = $1, first_names = $2, birth_date = $3, sex = $4,
                     birth_place_code = $5, search_key = $6, identity_status = $7, vigilance = $8,
                     updated_at = $9, ins_matricule = $10, version = version + 1
                 WHERE id = $11 AND structure_id = $12 AND anonymous = $13 AND version = $14",
                returning_usager!()
            ))
            .bind(birth_name)
            .bind(first_names)
            .bind(*birth_date)
            .bind(sex.code())
            .bind(birth_place_code)
            .bind(identity.search_key())
            .bind(vigilance.status().code())
            .bind(rows::vigilance_json(vigilance))
            .bind(Utc::now())
            .bind(rows::ins_matricule(vigilance))
            .bind(usager_id)
            .bind(t.structure_id)
            .bind(false)
            .bind(version)
            .optional(rows::usager)
            .await?;
        let Some(u) = updated else {
            return Err(why_unchanged(&mut tx, t, usager_id, version).await);
        };
        super::search::reindex(&mut tx, usager_id).await?;
        write_keys_in(&mut tx, t.structure_id, usager_id, identity).await?;
        commit_journaled(tx, t, journal).await?;
        Ok(u)
    }

    async fn record_insi_call(
        &self,
        t: &Tenant,
        c: &NewInsiCall,
        journal: Journal<'_>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        tx.query(
            "INSERT INTO insi_calls (id, structure_id, usager_id, at, operator_id, operator,
                     step, outcome, duration_ms, request_xml, response_xml)
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM usagers
                 WHERE id = $3 AND structure_id = $2",
        )
        .bind(Uuid::new_v4())
        .bind(t.structure_id)
        .bind(c.usager_id)
        .bind(c.at)
        .bind(t.professional_id)
        .bind(&t.actor_label)
        .bind(&c.step)
        .bind(&c.outcome)
        .bind(c.duration_ms)
        .bind(&c.request_xml)
        .bind(&c.response_xml)
        .execute()
        .await
        .and_then(found)?;
        commit_journaled(tx, t, journal).await
    }

    async fn insi_calls(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<InsiCall>> {
        self.db
            .query(
                "SELECT id, usager_id, at, operator, step, outcome, duration_ms, request_xml,
                        response_xml
                 FROM insi_calls WHERE structure_id = $1 AND usager_id = $2 ORDER BY at, id",
            )
            .bind(t.structure_id)
            .bind(usager_id)
            .all(insi_call)
            .await
    }

    async fn set_identity_settings(
        &self,
        t: &Tenant,
        s: &IdentitySettings,
        journal: Journal<'_>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        tx.query(
            "UPDATE structures SET qualifier_roles = $1, identity_documents = $2 WHERE id = $3",
        )
        .bind(rows::roles_csv(&s.qualifier_roles))
        .bind(s.identity_documents.join(","))
        .bind(t.structure_id)
        .execute()
        .await?;
        commit_journaled(tx, t, journal).await
    }

    async fn set_structure_insi(
        &self,
        structure_id: Uuid,
        insi: &StructureInsi,
        journal: InstanceJournal<'_>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        tx.query(
            "UPDATE structures SET insi_certificate = $1, insi_key = $2, insi_idam = $3
                 WHERE id = $4",
        )
        .bind(&insi.certificate)
        .bind(&insi.key)
        .bind(&insi.idam)
        .bind(structure_id)
        .execute()
        .await
        .and_then(found)?;
        commit_journaled_chains(tx, journal).await
    }

    async fn request_anonymity_lift(
        &self,
        t: &Tenant,
        anonymous_id: Uuid,
        requested_on: NaiveDate,
        journal: Journal<'_>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        let inserted = tx
            .query(
                "INSERT INTO anonymity_lifts (anonymous_id, structure_id, requested_on, recorded_by)
                 SELECT $1, $2, $3, $4 FROM usagers
                 WHERE id = $1 AND structure_id = $2 AND anonymous = $5",
            )
            .bind(anonymous_id)
            .bind(t.structure_id)
            .bind(requested_on)
            .bind(&t.actor_label)
            .bind(true)
            .execute()
            .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(
                    "la demande de levée d'anonymat est déjà enregistrée".into(),
                ));
            }
            r => found(r?)?,
        }
        commit_journaled(tx, t, journal).await
    }

    async fn decide_anonymity_lift(
        &self,
        t: &Tenant,
        anonymous_id: Uuid,
        real_id: Uuid,
        journal: Journal<'_>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        tx.query(
            "UPDATE anonymity_lifts SET real_id = $1, decided_by = $2, decided_at = $3
                 WHERE anonymous_id = $4 AND structure_id = $5 AND real_id IS NULL
                   AND EXISTS (SELECT 1 FROM usagers
                               WHERE id = $1 AND structure_id = $5 AND anonymous = $6)",
        )
        .bind(real_id)
        .bind(&t.actor_label)
        .bind(Utc::now())
        .bind(anonymous_id)
        .bind(t.structure_id)
        .bind(false)
        .execute()
        .await
        .and_then(found)?;
        commit_journaled(tx, t, journal).await
    }

    async fn anonymity_lift(
        &self,
        t: &Tenant,
        usager_id: Uuid,
    ) -> StoreResult<Option<AnonymityLift>> {
        self.db
            .query(
                "SELECT anonymous_id, requested_on, recorded_by, real_id, decided_by, decided_at
                 FROM anonymity_lifts
                 WHERE structure_id = $1 AND (anonymous_id = $2 OR real_id = $2)",
            )
            .bind(t.structure_id)
            .bind(usager_id)
            .optional(anonymity_lift)
            .await
    }
}
