//! Structures, professionals and their roles: instance administration, the
//! login's tenant context, a structure's team.

use async_trait::async_trait;
use chrono::Utc;
use std::collections::HashMap;
use uuid::Uuid;

use super::audit::{commit_journaled, commit_journaled_chains};
use super::{SqlStore, rows};
use crate::domain::roles::Role;
use crate::domain::tenant::Tenant;
use crate::store::sql::is_unique_violation;
use crate::store::{
    InstanceJournal, InstanceJournalOf, Journal, LoginChoice, Membership, NewProfessional,
    NewStructure, Professional, SandboxRows, StoreError, StoreResult, Structure, StructureStore,
    TeamMember,
};

// Text ordering uses the "C" collation: byte order, the same on both
// backends whatever the server's locale (SQLite registers it, see `sqlite/`).

#[async_trait]
impl StructureStore for SqlStore {
    async fn create_structure(
        &self,
        s: &NewStructure,
        journal: InstanceJournalOf<'_, Structure>,
    ) -> StoreResult<Structure> {
        let mut tx = self.db.begin_write().await?;
        let created = tx
            .query(
                "INSERT INTO structures (id, name, kind, finess_geo, finess_juridique, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
            )
            .bind(Uuid::new_v4())
            .bind(&s.name)
            .bind(s.kind.code())
            .bind(&s.finess_geo)
            .bind(&s.finess_juridique)
            .bind(Utc::now())
            .fetch_one()
            .await;
        let structure = match created {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!(
                    "une structure porte déjà le FINESS {}",
                    s.finess_geo
                )));
            }
            r => rows::structure(&r?)?,
        };
        commit_journaled_chains(tx, &journal(&structure)).await?;
        Ok(structure)
    }

    async fn list_structures(&self) -> StoreResult<Vec<Structure>> {
        self.db
            .query(r#"SELECT * FROM structures ORDER BY name COLLATE "C""#)
            .all(rows::structure)
            .await
    }

    async fn mark_sandbox(&self, structures: &[Uuid], professionals: &[Uuid]) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        for (table, ids) in [("structures", structures), ("professionals", professionals)] {
            for id in ids {
                tx.query(format!("UPDATE {table} SET sandbox = $1 WHERE id = $2"))
                    .bind(true)
                    .bind(*id)
                    .execute()
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn sandbox_rows(&self) -> StoreResult<SandboxRows> {
        let structures = self
            .db
            .query(r#"SELECT name FROM structures WHERE sandbox = $1 ORDER BY name COLLATE "C""#)
            .bind(true)
            .all(|r| r.get::<String>("name"))
            .await?;
        let professionals: i64 = self
            .db
            .query("SELECT COUNT(*) FROM professionals WHERE sandbox = $1")
            .bind(true)
            .scalar()
            .await?;
        Ok(SandboxRows {
            structures,
            professionals,
        })
    }

    async fn get_structure(&self, id: Uuid) -> StoreResult<Option<Structure>> {
        self.db
            .query("SELECT * FROM structures WHERE id = $1")
            .bind(id)
            .optional(rows::structure)
            .await
    }

    async fn find_structure_by_finess(&self, finess_geo: &str) -> StoreResult<Option<Structure>> {
        self.db
            .query("SELECT * FROM structures WHERE finess_geo = $1")
            .bind(finess_geo)
            .optional(rows::structure)
            .await
    }

    async fn set_medical_roles(
        &self,
        t: &Tenant,
        roles: &[Role],
        journal: Journal<'_>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        tx.query("UPDATE structures SET medical_roles = $1 WHERE id = $2")
            .bind(rows::roles_csv(roles))
            .bind(t.structure_id)
            .execute()
            .await?;
        commit_journaled(tx, t, journal).await
    }

    async fn create_professional(
        &self,
        p: &NewProfessional,
        journal: InstanceJournalOf<'_, Professional>,
    ) -> StoreResult<Professional> {
        let mut tx = self.db.begin_write().await?;
        let created = tx
            .query(
                "INSERT INTO professionals (id, first_name, last_name, national_id, profession,
                     instance_admin, active, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, true, $7) RETURNING *",
            )
            .bind(Uuid::new_v4())
            .bind(&p.first_name)
            .bind(&p.last_name)
            .bind(&p.national_id)
            .bind(&p.profession)
            .bind(p.instance_admin)
            .bind(Utc::now())
            .fetch_one()
            .await;
        let professional = match created {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(
                    "un professionnel porte déjà cet identifiant national".to_string(),
                ));
            }
            r => rows::professional(&r?)?,
        };
        commit_journaled_chains(tx, &journal(&professional)).await?;
        Ok(professional)
    }

    async fn seal_admin_secrets(
        &self,
        seal: &(dyn for<'a, 'b> Fn(&'a str, &'b str) -> Option<String> + Send + Sync),
    ) -> StoreResult<usize> {
        let mut tx = self.db.begin_write().await?;
        let stored = tx
            .query("SELECT login, totp_secret FROM admin_credentials")
            .all(|r| Ok((r.get::<String>("login")?, r.get::<String>("totp_secret")?)))
            .await?;
        let mut count = 0;
        for (login, secret) in stored {
            let Some(sealed) = seal(&login, &secret) else {
                continue;
            };
            count += 1;
            tx.query("UPDATE admin_credentials SET totp_secret = $1 WHERE login = $2")
                .bind(sealed)
                .bind(login)
                .execute()
                .await?;
        }
        tx.commit().await?;
        Ok(count)
    }

    async fn rename_professional(
        &self,
        id: Uuid,
        first_name: &str,
        last_name: &str,
        journal: InstanceJournal<'_>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        let changed = tx
            .query("UPDATE professionals SET first_name = $1, last_name = $2 WHERE id = $3")
            .bind(first_name)
            .bind(last_name)
            .bind(id)
            .execute()
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        commit_journaled_chains(tx, journal).await
    }

    async fn get_professional(&self, id: Uuid) -> StoreResult<Option<Professional>> {
        self.db
            .query("SELECT * FROM professionals WHERE id = $1")
            .bind(id)
            .optional(rows::professional)
            .await
    }

    async fn find_professional_by_national_id(
        &self,
        id_nat_ps: &str,
    ) -> StoreResult<Option<Professional>> {
        self.db
            .query("SELECT * FROM professionals WHERE national_id = $1")
            .bind(id_nat_ps)
            .optional(rows::professional)
            .await
    }

    async fn grant_role(
        &self,
        structure_id: Uuid,
        professional_id: Uuid,
        role: Role,
        journal: InstanceJournal<'_>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        tx.query(
            "INSERT INTO memberships (structure_id, professional_id, role, granted_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(structure_id)
        .bind(professional_id)
        .bind(role.code())
        .bind(Utc::now())
        .execute()
        .await?;
        commit_journaled_chains(tx, journal).await
    }

    async fn login_choices(&self) -> StoreResult<Vec<LoginChoice>> {
        let professionals = self
            .db
            .query(
                r#"SELECT * FROM professionals WHERE active
                   ORDER BY last_name COLLATE "C", first_name COLLATE "C""#,
            )
            .all(rows::professional)
            .await?;
        let members = self
            .db
            .query(
                r#"SELECT m.professional_id, m.structure_id, s.name, string_agg(m.role, ',') AS roles
                   FROM memberships m JOIN structures s ON s.id = m.structure_id
                   GROUP BY m.professional_id, m.structure_id, s.name ORDER BY s.name COLLATE "C""#,
            )
            .all(|m| {
                Ok((
                    m.get::<Uuid>("professional_id")?,
                    Membership {
                        structure_id: m.get("structure_id")?,
                        structure_name: m.get("name")?,
                        roles: rows::role_set(&m.get::<String>("roles")?),
                    },
                ))
            })
            .await?;
        let mut by_professional: HashMap<Uuid, Vec<Membership>> = HashMap::new();
        for (id, membership) in members {
            by_professional.entry(id).or_default().push(membership);
        }
        Ok(professionals
            .into_iter()
            .map(|professional| LoginChoice {
                memberships: by_professional.remove(&professional.id).unwrap_or_default(),
                professional,
            })
            .collect())
    }

    async fn tenant_for(
        &self,
        professional_id: Uuid,
        structure_id: Uuid,
    ) -> StoreResult<Option<Tenant>> {
        self.db
            .query(
                "SELECT s.kind, s.medical_roles, s.qualifier_roles, s.identity_documents,
                        s.identity_policy, p.first_name, p.last_name,
                        string_agg(m.role, ',') AS roles
                 FROM memberships m
                 JOIN structures s ON s.id = m.structure_id
                 JOIN professionals p ON p.id = m.professional_id AND p.active
                 WHERE m.professional_id = $1 AND m.structure_id = $2
                 GROUP BY s.id, p.id",
            )
            .bind(professional_id)
            .bind(structure_id)
            .optional(|r| rows::tenant(r, structure_id, professional_id))
            .await
    }

    async fn team(&self, t: &Tenant) -> StoreResult<Vec<TeamMember>> {
        self.db
            .query(
                r#"SELECT p.id, p.first_name, p.last_name, string_agg(m.role, ',') AS roles
                   FROM memberships m JOIN professionals p ON p.id = m.professional_id AND p.active
                   WHERE m.structure_id = $1 GROUP BY p.id
                   ORDER BY p.last_name COLLATE "C", p.first_name COLLATE "C""#,
            )
            .bind(t.structure_id)
            .all(|r| {
                Ok(TeamMember {
                    id: r.get("id")?,
                    display_name: rows::full_name(r)?,
                    roles: rows::role_set(&r.get::<String>("roles")?),
                })
            })
            .await
    }
}
