//! SQLite implementation: one structure, one process, a file under the data directory.

use super::group_commit::AuditWriter;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

use super::rows;
use super::*;
use crate::domain::audit::{AuditRecord, GENESIS_HASH};
use crate::domain::duplicates::Collision;
use crate::domain::identity::Vigilance;
use crate::domain::procedure::IdentityPolicy;
use crate::domain::tenant::Tenant;
use crate::domain::usager::Identity;

pub struct SqliteStore {
    pool: SqlitePool,
    /// SQLite has one writer anyway, and the hash chain needs the previous entry.
    audit: AuditWriter,
}

async fn write_audit_batch(
    pool: SqlitePool,
    batch: Vec<(AuditChain, AuditEvent)>,
) -> StoreResult<Vec<AuditRecord>> {
    // Another process (the CLI) may append too. BEGIN IMMEDIATE takes the
    // database's write lock before the heads are read (waiting up to the busy
    // timeout), so no other writer can slip an entry in between.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut heads: HashMap<String, (i64, String)> = HashMap::new();
    let mut records = Vec::with_capacity(batch.len());
    for (chain, e) in &batch {
        let key = chain.key();
        let (prev_seq, prev_hash) = match heads.get(&key) {
            Some(h) => h.clone(),
            None => {
                let head = sqlx::query(
                    "SELECT seq, hash FROM audit_entries WHERE chain = ? ORDER BY seq DESC LIMIT 1",
                )
                .bind(&key)
                .fetch_optional(&mut *tx)
                .await?;
                match head {
                    Some(r) => (r.try_get::<i64, _>("seq")?, r.try_get::<String, _>("hash")?),
                    None => (0, GENESIS_HASH.to_string()),
                }
            }
        };
        let rec = rows::new_audit_record(prev_seq + 1, prev_hash, e);
        sqlx::query(
            "INSERT INTO audit_entries (chain, seq, at, actor_id, actor_label, action, usager_id, details, prev_hash, hash)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&key)
        .bind(rec.seq)
        .bind(rec.at)
        .bind(rec.actor_id)
        .bind(&rec.actor_label)
        .bind(&rec.action)
        .bind(rec.usager_id)
        .bind(&rec.details)
        .bind(&rec.prev_hash)
        .bind(&rec.hash)
        .execute(&mut *tx)
        .await?;
        heads.insert(key, (rec.seq, rec.hash.clone()));
        records.push(rec);
    }
    tx.commit().await?;
    Ok(records)
}

impl SqliteStore {
    pub async fn connect(url: &str) -> StoreResult<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .connect_with(options)
            .await?;
        let audit = AuditWriter::spawn(pool.clone(), write_audit_batch);
        Ok(SqliteStore { pool, audit })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn full_name(r: &SqliteRow) -> StoreResult<String> {
    Ok(format!(
        "{} {}",
        r.try_get::<String, _>("first_name")?,
        r.try_get::<String, _>("last_name")?
    ))
}

fn usager_from_row(r: &SqliteRow) -> StoreResult<Usager> {
    let anonymous: bool = r.try_get("anonymous")?;
    Ok(Usager {
        vigilance: rows::vigilance_from(&r.try_get::<String, _>("vigilance")?, anonymous)?,
        id: r.try_get("id")?,
        structure_id: r.try_get("structure_id")?,
        data: rows::usager_data(rows::UsagerColumns {
            anonymous,
            alias: r.try_get("alias")?,
            birth_name: r.try_get("birth_name")?,
            first_names: r.try_get("first_names")?,
            used_name: r.try_get("used_name")?,
            used_first_name: r.try_get("used_first_name")?,
            birth_date: r.try_get("birth_date")?,
            birth_year: r.try_get::<Option<i64>, _>("birth_year")?.map(|y| y as i32),
            sex: r.try_get("sex")?,
            birth_place_code: r.try_get("birth_place_code")?,
            phone: r.try_get("phone")?,
            email: r.try_get("email")?,
            address: r.try_get("address")?,
        })?,
        merged_into: r.try_get("merged_into")?,
        collision: r
            .try_get::<Option<String>, _>("collision")?
            .as_deref()
            .and_then(Collision::parse),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn structure_from_row(r: &SqliteRow) -> StoreResult<Structure> {
    Ok(Structure {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        kind: rows::parse_code(&r.try_get::<String, _>("kind")?)?,
        finess_geo: r.try_get("finess_geo")?,
        finess_juridique: r.try_get("finess_juridique")?,
        medical_roles: rows::roles_list(&r.try_get::<String, _>("medical_roles")?),
        qualifier_roles: rows::roles_list(&r.try_get::<String, _>("qualifier_roles")?),
        identity_documents: rows::codes_list(&r.try_get::<String, _>("identity_documents")?),
        insi: match (
            r.try_get::<Option<String>, _>("insi_certificate")?,
            r.try_get::<Option<String>, _>("insi_idam")?,
        ) {
            (Some(certificate), Some(idam)) => Some(StructureInsi {
                certificate,
                key: r.try_get("insi_key")?,
                idam,
            }),
            _ => None,
        },
        created_at: r.try_get("created_at")?,
    })
}

fn professional_from_row(r: &SqliteRow) -> StoreResult<Professional> {
    Ok(Professional {
        id: r.try_get("id")?,
        first_name: r.try_get("first_name")?,
        last_name: r.try_get("last_name")?,
        national_id: r.try_get("national_id")?,
        profession: r.try_get("profession")?,
        instance_admin: r.try_get("instance_admin")?,
        active: r.try_get("active")?,
    })
}

fn audit_from_row(r: &SqliteRow) -> StoreResult<AuditRecord> {
    Ok(AuditRecord {
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        actor_id: r.try_get("actor_id")?,
        actor_label: r.try_get("actor_label")?,
        action: r.try_get("action")?,
        usager_id: r.try_get("usager_id")?,
        details: r.try_get("details")?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

use super::rows::USAGER_COLUMNS;

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.pool)
            .await?;
        self.backfill_identity_keys().await?;
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_structure(&self, s: &NewStructure) -> StoreResult<Structure> {
        let id = Uuid::new_v4();
        let now = Utc::now();
        let res = sqlx::query(
            "INSERT INTO structures (id, name, kind, finess_geo, finess_juridique, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(&s.name)
        .bind(s.kind.code())
        .bind(&s.finess_geo)
        .bind(&s.finess_juridique)
        .bind(now)
        .execute(&self.pool)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "une structure porte déjà le FINESS {}",
                s.finess_geo
            ))),
            Err(e) => Err(e.into()),
            Ok(_) => self.get_structure(id).await?.ok_or(StoreError::NotFound),
        }
    }

    async fn list_structures(&self) -> StoreResult<Vec<Structure>> {
        let rows = sqlx::query("SELECT * FROM structures ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(structure_from_row).collect()
    }

    async fn get_structure(&self, id: Uuid) -> StoreResult<Option<Structure>> {
        let row = sqlx::query("SELECT * FROM structures WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(structure_from_row).transpose()
    }

    async fn set_medical_roles(&self, t: &Tenant, roles: &[Role]) -> StoreResult<()> {
        sqlx::query("UPDATE structures SET medical_roles = ? WHERE id = ?")
            .bind(rows::roles_csv(roles))
            .bind(t.structure_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn find_structure_by_finess(&self, finess_geo: &str) -> StoreResult<Option<Structure>> {
        let row = sqlx::query("SELECT * FROM structures WHERE finess_geo = ?")
            .bind(finess_geo)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(structure_from_row).transpose()
    }

    async fn create_professional(&self, p: &NewProfessional) -> StoreResult<Professional> {
        let id = Uuid::new_v4();
        let res = sqlx::query(
            "INSERT INTO professionals (id, first_name, last_name, national_id, profession, instance_admin, active, created_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?)",
        )
        .bind(id)
        .bind(&p.first_name)
        .bind(&p.last_name)
        .bind(&p.national_id)
        .bind(&p.profession)
        .bind(p.instance_admin)
        .bind(Utc::now())
        .execute(&self.pool)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(
                "un professionnel porte déjà cet identifiant national".to_string(),
            )),
            Err(e) => Err(e.into()),
            Ok(_) => self.get_professional(id).await?.ok_or(StoreError::NotFound),
        }
    }

    async fn get_professional(&self, id: Uuid) -> StoreResult<Option<Professional>> {
        let row = sqlx::query("SELECT * FROM professionals WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(professional_from_row).transpose()
    }

    async fn find_professional_by_national_id(
        &self,
        id_nat_ps: &str,
    ) -> StoreResult<Option<Professional>> {
        let row = sqlx::query("SELECT * FROM professionals WHERE national_id = ?")
            .bind(id_nat_ps)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(professional_from_row).transpose()
    }

    async fn grant_role(
        &self,
        structure_id: Uuid,
        professional_id: Uuid,
        role: Role,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO memberships (structure_id, professional_id, role, granted_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(structure_id)
        .bind(professional_id)
        .bind(role.code())
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn login_choices(&self) -> StoreResult<Vec<LoginChoice>> {
        let pros = sqlx::query(
            "SELECT * FROM professionals WHERE active = 1 ORDER BY last_name, first_name",
        )
        .fetch_all(&self.pool)
        .await?;
        let members = sqlx::query(
            "SELECT m.professional_id, m.structure_id, s.name, group_concat(m.role) AS roles
             FROM memberships m JOIN structures s ON s.id = m.structure_id
             GROUP BY m.professional_id, m.structure_id, s.name ORDER BY s.name",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for p in &pros {
            let professional = professional_from_row(p)?;
            let mut memberships = Vec::new();
            for m in &members {
                if m.try_get::<Uuid, _>("professional_id")? == professional.id {
                    memberships.push(Membership {
                        structure_id: m.try_get("structure_id")?,
                        structure_name: m.try_get("name")?,
                        roles: rows::role_set(&m.try_get::<String, _>("roles")?),
                    });
                }
            }
            out.push(LoginChoice {
                professional,
                memberships,
            });
        }
        Ok(out)
    }

    async fn tenant_for(
        &self,
        professional_id: Uuid,
        structure_id: Uuid,
    ) -> StoreResult<Option<Tenant>> {
        let row = sqlx::query(
            "SELECT s.kind, s.medical_roles, s.qualifier_roles, s.identity_documents, s.identity_policy, p.first_name, p.last_name, group_concat(m.role) AS roles
             FROM memberships m
             JOIN structures s ON s.id = m.structure_id
             JOIN professionals p ON p.id = m.professional_id AND p.active = 1
             WHERE m.professional_id = ? AND m.structure_id = ?
             GROUP BY s.id, p.id",
        )
        .bind(professional_id)
        .bind(structure_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Tenant {
                structure_id,
                structure_kind: rows::parse_code(&r.try_get::<String, _>("kind")?)?,
                professional_id,
                actor_label: full_name(&r)?,
                roles: rows::role_set(&r.try_get::<String, _>("roles")?),
                medical_roles: rows::roles_list(&r.try_get::<String, _>("medical_roles")?),
                qualifier_roles: rows::roles_list(&r.try_get::<String, _>("qualifier_roles")?),
                identity_documents: rows::codes_list(
                    &r.try_get::<String, _>("identity_documents")?,
                ),
                policy: IdentityPolicy::from_json(&r.try_get::<String, _>("identity_policy")?),
            })
        })
        .transpose()
    }

    async fn create_session(&self, s: &NewSession) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, professional_id, structure_id, csrf_token, auth_method, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&s.token_hash)
        .bind(s.professional_id)
        .bind(s.structure_id)
        .bind(&s.csrf_token)
        .bind(&s.auth_method)
        .bind(s.created_at)
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session_with_tenant(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<(SessionRow, Tenant)>> {
        let row = sqlx::query(
            "SELECT se.*, s.name AS structure_name, s.kind, s.medical_roles, s.qualifier_roles, s.identity_documents, s.identity_policy, p.first_name, p.last_name,
                    group_concat(m.role) AS roles
             FROM sessions se
             JOIN structures s ON s.id = se.structure_id
             JOIN professionals p ON p.id = se.professional_id AND p.active = 1
             JOIN memberships m ON m.structure_id = se.structure_id AND m.professional_id = se.professional_id
             WHERE se.token_hash = ?
             GROUP BY se.token_hash",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let name = full_name(&r)?;
        let session = SessionRow {
            token_hash: r.try_get("token_hash")?,
            professional_id: r.try_get("professional_id")?,
            structure_id: r.try_get("structure_id")?,
            csrf_token: r.try_get("csrf_token")?,
            auth_method: r.try_get("auth_method")?,
            created_at: r.try_get("created_at")?,
            last_seen_at: r.try_get("last_seen_at")?,
            expires_at: r.try_get("expires_at")?,
            professional_name: name.clone(),
            structure_name: r.try_get("structure_name")?,
        };
        let tenant = Tenant {
            structure_id: session.structure_id,
            structure_kind: rows::parse_code(&r.try_get::<String, _>("kind")?)?,
            professional_id: session.professional_id,
            actor_label: name,
            roles: rows::role_set(&r.try_get::<String, _>("roles")?),
            medical_roles: rows::roles_list(&r.try_get::<String, _>("medical_roles")?),
            qualifier_roles: rows::roles_list(&r.try_get::<String, _>("qualifier_roles")?),
            identity_documents: rows::codes_list(&r.try_get::<String, _>("identity_documents")?),
            policy: IdentityPolicy::from_json(&r.try_get::<String, _>("identity_policy")?),
        };
        Ok(Some((session, tenant)))
    }

    async fn touch_session(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?")
            .bind(now)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn purge_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let r = sqlx::query("DELETE FROM sessions WHERE expires_at < ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    async fn create_usager(&self, t: &Tenant, data: &UsagerData) -> StoreResult<Usager> {
        let id = Uuid::new_v4();
        let now = Utc::now();
        let c = rows::UsagerColumns::from_data(data);
        sqlx::query(
            "INSERT INTO usagers (id, structure_id, anonymous, alias, birth_name, first_names, used_name, used_first_name,
                birth_date, birth_year, sex, birth_place_code, phone, email, address, identity_status, vigilance, search_key, created_by, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(t.structure_id)
        .bind(c.anonymous)
        .bind(&c.alias)
        .bind(&c.birth_name)
        .bind(&c.first_names)
        .bind(&c.used_name)
        .bind(&c.used_first_name)
        .bind(c.birth_date)
        .bind(c.birth_year.map(i64::from))
        .bind(&c.sex)
        .bind(&c.birth_place_code)
        .bind(&c.phone)
        .bind(&c.email)
        .bind(&c.address)
            .bind(rows::initial_vigilance(data).status().code())
            .bind(rows::vigilance_json(&rows::initial_vigilance(data)))
        .bind(data.identity.search_key())
        .bind(t.professional_id)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.q_keys_for(t.structure_id, id, &data.identity).await?;
        self.get_usager(t, id).await?.ok_or(StoreError::NotFound)
    }

    async fn update_usager(&self, t: &Tenant, id: Uuid, data: &UsagerData) -> StoreResult<Usager> {
        let c = rows::UsagerColumns::from_data(data);
        let r = sqlx::query(
            "UPDATE usagers SET anonymous = ?, alias = ?, birth_name = ?, first_names = ?, used_name = ?, used_first_name = ?,
                birth_date = ?, birth_year = ?, sex = ?, birth_place_code = ?, phone = ?, email = ?, address = ?,
                search_key = ?, updated_at = ?
             WHERE id = ? AND structure_id = ?",
        )
        .bind(c.anonymous)
        .bind(&c.alias)
        .bind(&c.birth_name)
        .bind(&c.first_names)
        .bind(&c.used_name)
        .bind(&c.used_first_name)
        .bind(c.birth_date)
        .bind(c.birth_year.map(i64::from))
        .bind(&c.sex)
        .bind(&c.birth_place_code)
        .bind(&c.phone)
        .bind(&c.email)
        .bind(&c.address)
        .bind(data.identity.search_key())
        .bind(Utc::now())
        .bind(id)
        .bind(t.structure_id)
        .execute(&self.pool)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.q_keys_for(t.structure_id, id, &data.identity).await?;
        self.get_usager(t, id).await?.ok_or(StoreError::NotFound)
    }

    async fn get_usager(&self, t: &Tenant, id: Uuid) -> StoreResult<Option<Usager>> {
        let sql = const_format_usager("WHERE id = ? AND structure_id = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(t.structure_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(usager_from_row).transpose()
    }

    async fn search_usagers(&self, t: &Tenant, q: &UsagerQuery) -> StoreResult<Vec<Usager>> {
        let pattern = |i: usize| {
            q.terms
                .get(i)
                .map(|t| format!("%{t}%"))
                .unwrap_or_else(|| "%".to_string())
        };
        let sql = const_format_usager(
            "WHERE structure_id = ? AND merged_into IS NULL AND search_key LIKE ? AND search_key LIKE ? AND search_key LIKE ? AND search_key LIKE ?
               AND (? IS NULL OR birth_date = ?)
             ORDER BY search_key LIMIT ?",
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(t.structure_id)
            .bind(pattern(0))
            .bind(pattern(1))
            .bind(pattern(2))
            .bind(pattern(3))
            .bind(q.birth_date)
            .bind(q.birth_date)
            .bind(q.limit.clamp(1, 200))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(usager_from_row).collect()
    }

    async fn count_usagers(&self, t: &Tenant) -> StoreResult<i64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM usagers WHERE structure_id = ? AND merged_into IS NULL",
        )
        .bind(t.structure_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    async fn add_episode(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        e: &NewEpisode,
    ) -> StoreResult<Episode> {
        self.require_usager(t, usager_id).await?;
        let referent = match e.referent_id {
            Some(r) if self.is_member(t, r).await? => Some(r),
            Some(_) => return Err(StoreError::NotFound),
            None => None,
        };
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO episodes (id, structure_id, usager_id, kind, start_date, end_date, referent_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(t.structure_id)
        .bind(usager_id)
        .bind(e.kind.code())
        .bind(e.start_date)
        .bind(e.end_date)
        .bind(referent)
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        self.episodes(t, usager_id)
            .await?
            .into_iter()
            .find(|x| x.id == id)
            .ok_or(StoreError::NotFound)
    }

    async fn close_episode(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        episode_id: Uuid,
        end: NaiveDate,
    ) -> StoreResult<()> {
        let r = sqlx::query(
            "UPDATE episodes SET end_date = ? WHERE id = ? AND usager_id = ? AND structure_id = ? AND start_date <= ?",
        )
        .bind(end)
        .bind(episode_id)
        .bind(usager_id)
        .bind(t.structure_id)
        .bind(end)
        .execute(&self.pool)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn episodes(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<Episode>> {
        let rows = sqlx::query(
            "SELECT e.*, p.first_name, p.last_name FROM episodes e
             LEFT JOIN professionals p ON p.id = e.referent_id
             WHERE e.structure_id = ? AND e.usager_id = ?
             ORDER BY e.start_date DESC, e.created_at DESC",
        )
        .bind(t.structure_id)
        .bind(usager_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let first: Option<String> = r.try_get("first_name")?;
                let last: Option<String> = r.try_get("last_name")?;
                Ok(Episode {
                    id: r.try_get("id")?,
                    usager_id: r.try_get("usager_id")?,
                    kind: rows::parse_code(&r.try_get::<String, _>("kind")?)?,
                    start_date: r.try_get("start_date")?,
                    end_date: r.try_get("end_date")?,
                    referent_id: r.try_get("referent_id")?,
                    referent_name: first.zip(last).map(|(f, l)| format!("{f} {l}")),
                })
            })
            .collect()
    }

    async fn add_activity(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        a: &NewActivity,
    ) -> StoreResult<Activity> {
        self.require_usager(t, usager_id).await?;
        let id = Uuid::new_v4();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO activities (id, structure_id, usager_id, kind, date, duration_minutes, comment, created_by, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(t.structure_id)
        .bind(usager_id)
        .bind(a.kind.code())
        .bind(a.date)
        .bind(a.duration_minutes.map(i64::from))
        .bind(&a.comment)
        .bind(t.professional_id)
        .bind(Utc::now())
        .execute(&mut *tx)
        .await?;
        for p in &a.participant_ids {
            // Only members of the tenant's structure can be participants.
            sqlx::query(
                "INSERT INTO activity_participants (activity_id, professional_id)
                 SELECT ?, ? WHERE EXISTS (SELECT 1 FROM memberships WHERE structure_id = ? AND professional_id = ?)
                 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(p)
            .bind(t.structure_id)
            .bind(p)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.activities(t, usager_id)
            .await?
            .into_iter()
            .find(|x| x.id == id)
            .ok_or(StoreError::NotFound)
    }

    async fn activities(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<Activity>> {
        let rows = sqlx::query(
            "SELECT a.*, (SELECT group_concat(name, '|') FROM (
                 SELECT p.first_name || ' ' || p.last_name AS name FROM activity_participants ap
                 JOIN professionals p ON p.id = ap.professional_id WHERE ap.activity_id = a.id ORDER BY name)) AS participants
             FROM activities a WHERE a.structure_id = ? AND a.usager_id = ?
             ORDER BY a.date DESC, a.created_at DESC",
        )
        .bind(t.structure_id)
        .bind(usager_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Activity {
                    id: r.try_get("id")?,
                    usager_id: r.try_get("usager_id")?,
                    kind: rows::parse_code(&r.try_get::<String, _>("kind")?)?,
                    date: r.try_get("date")?,
                    duration_minutes: r
                        .try_get::<Option<i64>, _>("duration_minutes")?
                        .map(|d| d as u32),
                    participants: rows::split_names(r.try_get("participants")?),
                    comment: r.try_get("comment")?,
                    created_by: r.try_get("created_by")?,
                })
            })
            .collect()
    }

    async fn add_note(&self, t: &Tenant, usager_id: Uuid, n: &NewNote) -> StoreResult<Note> {
        if !t.may_write(n.confidentiality) {
            return Err(StoreError::Forbidden);
        }
        self.require_usager(t, usager_id).await?;
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO notes (id, structure_id, usager_id, confidentiality, body, author_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(t.structure_id)
        .bind(usager_id)
        .bind(n.confidentiality.code())
        .bind(&n.body)
        .bind(t.professional_id)
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        self.notes(t, usager_id)
            .await?
            .into_iter()
            .find(|x| x.id == id)
            .ok_or(StoreError::NotFound)
    }

    async fn notes(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<Note>> {
        // The classes the tenant may read are bound into the query itself.
        let classes = rows::class_slots(&t.readable_classes());
        let rows = sqlx::query(
            "SELECT n.*, p.first_name, p.last_name FROM notes n JOIN professionals p ON p.id = n.author_id
             WHERE n.structure_id = ? AND n.usager_id = ? AND n.confidentiality IN (?, ?, ?)
             ORDER BY n.created_at DESC",
        )
        .bind(t.structure_id)
        .bind(usager_id)
        .bind(classes[0])
        .bind(classes[1])
        .bind(classes[2])
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Note {
                    id: r.try_get("id")?,
                    usager_id: r.try_get("usager_id")?,
                    confidentiality: rows::parse_code(&r.try_get::<String, _>("confidentiality")?)?,
                    body: r.try_get("body")?,
                    author_id: r.try_get("author_id")?,
                    author_name: full_name(r)?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

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
        let r = sqlx::query(rows::SET_VIGILANCE_SQL)
            .bind(birth_name)
            .bind(first_names)
            .bind(*birth_date)
            .bind(sex.code())
            .bind(birth_place_code)
            .bind(identity.search_key())
            .bind(vigilance.status().code())
            .bind(rows::vigilance_json(vigilance))
            .bind(Utc::now())
            .bind(usager_id)
            .bind(t.structure_id)
            .bind(false)
            .bind(rows::ins_matricule(vigilance))
            .execute(&self.pool)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.q_keys_for(t.structure_id, usager_id, identity).await?;
        self.get_usager(t, usager_id)
            .await?
            .ok_or(StoreError::NotFound)
    }

    async fn record_insi_call(&self, t: &Tenant, c: &NewInsiCall) -> StoreResult<()> {
        let r = sqlx::query(rows::INSERT_INSI_CALL_SQL)
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
            .execute(&self.pool)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn insi_calls(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<InsiCall>> {
        let rows = sqlx::query(rows::INSI_CALLS_SQL)
            .bind(t.structure_id)
            .bind(usager_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::SharedRow::insi_call).collect()
    }

    async fn set_identity_settings(&self, t: &Tenant, s: &IdentitySettings) -> StoreResult<()> {
        sqlx::query(rows::SET_IDENTITY_SETTINGS_SQL)
            .bind(rows::roles_csv(&s.qualifier_roles))
            .bind(s.identity_documents.join(","))
            .bind(t.structure_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_structure_insi(
        &self,
        structure_id: Uuid,
        insi: &StructureInsi,
    ) -> StoreResult<()> {
        let r = sqlx::query(rows::SET_STRUCTURE_INSI_SQL)
            .bind(&insi.certificate)
            .bind(&insi.key)
            .bind(&insi.idam)
            .bind(structure_id)
            .execute(&self.pool)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn request_anonymity_lift(
        &self,
        t: &Tenant,
        anonymous_id: Uuid,
        requested_on: NaiveDate,
    ) -> StoreResult<()> {
        let r = sqlx::query(rows::REQUEST_LIFT_SQL)
            .bind(anonymous_id)
            .bind(t.structure_id)
            .bind(requested_on)
            .bind(&t.actor_label)
            .bind(true)
            .execute(&self.pool)
            .await;
        match r {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(
                "la demande de levée d'anonymat est déjà enregistrée".into(),
            )),
            Err(e) => Err(e.into()),
            Ok(r) if r.rows_affected() == 0 => Err(StoreError::NotFound),
            Ok(_) => Ok(()),
        }
    }

    async fn decide_anonymity_lift(
        &self,
        t: &Tenant,
        anonymous_id: Uuid,
        real_id: Uuid,
    ) -> StoreResult<()> {
        let r = sqlx::query(rows::DECIDE_LIFT_SQL)
            .bind(real_id)
            .bind(&t.actor_label)
            .bind(Utc::now())
            .bind(anonymous_id)
            .bind(t.structure_id)
            .bind(false)
            .execute(&self.pool)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn anonymity_lift(
        &self,
        t: &Tenant,
        usager_id: Uuid,
    ) -> StoreResult<Option<AnonymityLift>> {
        let row = sqlx::query(rows::ANONYMITY_LIFT_SQL)
            .bind(t.structure_id)
            .bind(usager_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(rows::SharedRow::anonymity_lift)
            .transpose()
    }

    async fn team(&self, t: &Tenant) -> StoreResult<Vec<TeamMember>> {
        let rows = sqlx::query(
            "SELECT p.id, p.first_name, p.last_name, group_concat(m.role) AS roles
             FROM memberships m JOIN professionals p ON p.id = m.professional_id AND p.active = 1
             WHERE m.structure_id = ? GROUP BY p.id ORDER BY p.last_name, p.first_name",
        )
        .bind(t.structure_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TeamMember {
                    id: r.try_get("id")?,
                    display_name: full_name(r)?,
                    roles: rows::role_set(&r.try_get::<String, _>("roles")?),
                })
            })
            .collect()
    }

    async fn append_audit(&self, chain: AuditChain, e: &AuditEvent) -> StoreResult<AuditRecord> {
        self.audit.append(chain, e).await
    }

    async fn audit_entries(&self, t: &Tenant, f: &AuditFilter) -> StoreResult<Vec<AuditRecord>> {
        let from = f.from.map(rows::day_start);
        let to = f.to.map(rows::day_end);
        let rows = sqlx::query(
            "SELECT * FROM audit_entries WHERE chain = ?
               AND (? IS NULL OR action = ?)
               AND (? IS NULL OR actor_id = ?)
               AND (? IS NULL OR usager_id = ?)
               AND (? IS NULL OR at >= ?)
               AND (? IS NULL OR at < ?)
               AND (? IS NULL OR seq < ?)
             ORDER BY seq DESC LIMIT ?",
        )
        .bind(AuditChain::Structure(t.structure_id).key())
        .bind(&f.action)
        .bind(&f.action)
        .bind(f.actor_id)
        .bind(f.actor_id)
        .bind(f.usager_id)
        .bind(f.usager_id)
        .bind(from)
        .bind(from)
        .bind(to)
        .bind(to)
        .bind(f.before_seq)
        .bind(f.before_seq)
        .bind(f.limit.clamp(1, 500))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn audit_chain(
        &self,
        chain: AuditChain,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<AuditRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM audit_entries WHERE chain = ? AND seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(chain.key())
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn audit_chains(&self) -> StoreResult<Vec<AuditChain>> {
        let keys: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT chain FROM audit_entries ORDER BY chain")
                .fetch_all(&self.pool)
                .await?;
        Ok(keys
            .iter()
            .filter_map(|k| AuditChain::from_key(k))
            .collect())
    }
}

impl SqliteStore {
    async fn require_usager(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<()> {
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM usagers WHERE id = ? AND structure_id = ?")
                .bind(usager_id)
                .bind(t.structure_id)
                .fetch_optional(&self.pool)
                .await?;
        exists.map(|_| ()).ok_or(StoreError::NotFound)
    }

    async fn is_member(&self, t: &Tenant, professional_id: Uuid) -> StoreResult<bool> {
        let exists: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM memberships WHERE structure_id = ? AND professional_id = ? LIMIT 1",
        )
        .bind(t.structure_id)
        .bind(professional_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(exists.is_some())
    }
}

fn const_format_usager(tail: &str) -> String {
    format!("SELECT {USAGER_COLUMNS} FROM usagers {tail}")
}

type ThisStore = SqliteStore;
type ThisRow = SqliteRow;
/// The Rust type of a 32-bit integer column in this backend.
type Int4 = i64;
/// `YYYY-MM` of the column `at`.
const MONTH_SQL: &str = "substr(at, 1, 7)";
include!("quality_impl.rs");
include!("access_impl.rs");
include!("directory_impl.rs");
