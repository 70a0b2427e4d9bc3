//! Identity vigilance: the identity's state, INSi calls, the structure's
//! identity settings and INSi credentials, anonymity lifts.

use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use uuid::Uuid;

use super::rows::{self, returning_usager};
use super::{SqlStore, found};
use crate::domain::identity::Vigilance;
use crate::domain::tenant::Tenant;
use crate::domain::usager::Identity;
use crate::store::sql::{Row, is_unique_violation};
use crate::store::{
    AnonymityLift, IdentitySettings, InsiCall, NewInsiCall, StoreError, StoreResult, StructureInsi,
    Usager, VigilanceStore,
};

fn insi_call(r: &Row) -> StoreResult<InsiCall> {
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

fn anonymity_lift(r: &Row) -> StoreResult<AnonymityLift> {
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
        identity: &Identity,
        vigilance: &Vigilance,
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
        let u = self
            .db
            .query(concat!(
                "UPDATE usagers SET birth_name = $1, first_names = $2, birth_date = $3, sex = $4,
                     birth_place_code = $5, search_key = $6, identity_status = $7, vigilance = $8,
                     updated_at = $9, ins_matricule = $10
                 WHERE id = $11 AND structure_id = $12 AND anonymous = $13",
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
            .optional(rows::usager)
            .await?
            .ok_or(StoreError::NotFound)?;
        self.write_keys(t.structure_id, usager_id, identity).await?;
        Ok(u)
    }

    async fn record_insi_call(&self, t: &Tenant, c: &NewInsiCall) -> StoreResult<()> {
        self.db
            .query(
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
            .and_then(found)
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

    async fn set_identity_settings(&self, t: &Tenant, s: &IdentitySettings) -> StoreResult<()> {
        self.db
            .query(
                "UPDATE structures SET qualifier_roles = $1, identity_documents = $2 WHERE id = $3",
            )
            .bind(rows::roles_csv(&s.qualifier_roles))
            .bind(s.identity_documents.join(","))
            .bind(t.structure_id)
            .execute()
            .await?;
        Ok(())
    }

    async fn set_structure_insi(
        &self,
        structure_id: Uuid,
        insi: &StructureInsi,
    ) -> StoreResult<()> {
        self.db
            .query(
                "UPDATE structures SET insi_certificate = $1, insi_key = $2, insi_idam = $3
                 WHERE id = $4",
            )
            .bind(&insi.certificate)
            .bind(&insi.key)
            .bind(&insi.idam)
            .bind(structure_id)
            .execute()
            .await
            .and_then(found)
    }

    async fn request_anonymity_lift(
        &self,
        t: &Tenant,
        anonymous_id: Uuid,
        requested_on: NaiveDate,
    ) -> StoreResult<()> {
        let inserted = self
            .db
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
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(
                "la demande de levée d'anonymat est déjà enregistrée".into(),
            )),
            r => found(r?),
        }
    }

    async fn decide_anonymity_lift(
        &self,
        t: &Tenant,
        anonymous_id: Uuid,
        real_id: Uuid,
    ) -> StoreResult<()> {
        self.db
            .query(
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
            .and_then(found)
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
