//! PostgreSQL implementation: a shared regional instance, several structures,
//! several application processes behind a load balancer.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

use super::group_commit::AuditWriter;
use super::rows;
use super::*;
use crate::domain::audit::{AuditRecord, GENESIS_HASH};
use crate::domain::duplicates::Collision;
use crate::domain::identity::Vigilance;
use crate::domain::procedure::IdentityPolicy;
use crate::domain::tenant::Tenant;
use crate::domain::usager::Identity;

pub struct PgStore {
    pool: PgPool,
    audit: AuditWriter,
}

impl PgStore {
    pub async fn connect(url: &str) -> StoreResult<PgStore> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        let audit = AuditWriter::spawn(pool.clone(), write_audit_batch);
        Ok(PgStore { pool, audit })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// One transaction per batch. The head row of each chain, created on first
/// use, is locked until commit: appenders of one chain (in any process) queue
/// up there; chains are locked in a fixed order so that two processes never
/// deadlock. A chain with entries but no head (a journal imported from another
/// instance) starts from its last entry rather than forking.
async fn write_audit_batch(
    pool: PgPool,
    batch: Vec<(AuditChain, AuditEvent)>,
) -> StoreResult<Vec<AuditRecord>> {
    let mut tx = pool.begin().await?;
    let mut keys: Vec<String> = batch.iter().map(|(c, _)| c.key()).collect();
    keys.sort();
    keys.dedup();
    let mut heads: HashMap<String, (i64, String)> = HashMap::new();
    for key in keys {
        sqlx::query(
            "INSERT INTO audit_heads (chain, seq, hash)
             SELECT $1, COALESCE(last.seq, 0), COALESCE(last.hash, $2)
             FROM (VALUES (1)) AS one(x) LEFT JOIN LATERAL (
                 SELECT seq, hash FROM audit_entries WHERE chain = $1 ORDER BY seq DESC LIMIT 1
             ) last ON true
             ON CONFLICT (chain) DO NOTHING",
        )
        .bind(&key)
        .bind(GENESIS_HASH)
        .execute(&mut *tx)
        .await?;
        let head: (i64, String) =
            sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE chain = $1 FOR UPDATE")
                .bind(&key)
                .fetch_one(&mut *tx)
                .await?;
        heads.insert(key, head);
    }
    let mut records = Vec::with_capacity(batch.len());
    for (chain, e) in &batch {
        let key = chain.key();
        let (prev_seq, prev_hash) = heads.get(&key).cloned().expect("head locked above");
        let rec = rows::new_audit_record(prev_seq + 1, prev_hash, e);
        sqlx::query(
            "INSERT INTO audit_entries (chain, seq, at, actor_id, actor_label, action, usager_id, details, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
    for (key, (seq, hash)) in &heads {
        sqlx::query("UPDATE audit_heads SET seq = $2, hash = $3 WHERE chain = $1")
            .bind(key)
            .bind(seq)
            .bind(hash)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(records)
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn full_name(r: &PgRow) -> StoreResult<String> {
    Ok(format!(
        "{} {}",
        r.try_get::<String, _>("first_name")?,
        r.try_get::<String, _>("last_name")?
    ))
}

fn usager_from_row(r: &PgRow) -> StoreResult<Usager> {
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
            birth_year: r.try_get("birth_year")?,
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

fn structure_from_row(r: &PgRow) -> StoreResult<Structure> {
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

fn professional_from_row(r: &PgRow) -> StoreResult<Professional> {
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

fn episode_from_row(r: &PgRow) -> StoreResult<Episode> {
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
}

fn activity_from_row(r: &PgRow) -> StoreResult<Activity> {
    Ok(Activity {
        id: r.try_get("id")?,
        usager_id: r.try_get("usager_id")?,
        kind: rows::parse_code(&r.try_get::<String, _>("kind")?)?,
        date: r.try_get("date")?,
        duration_minutes: r
            .try_get::<Option<i32>, _>("duration_minutes")?
            .map(|d| d as u32),
        participants: r.try_get("participants")?,
        comment: r.try_get("comment")?,
        created_by: r.try_get("created_by")?,
    })
}

fn note_from_row(r: &PgRow) -> StoreResult<Note> {
    Ok(Note {
        id: r.try_get("id")?,
        usager_id: r.try_get("usager_id")?,
        confidentiality: rows::parse_code(&r.try_get::<String, _>("confidentiality")?)?,
        body: r.try_get("body")?,
        author_id: r.try_get("author_id")?,
        author_name: full_name(r)?,
        created_at: r.try_get("created_at")?,
    })
}

fn audit_from_row(r: &PgRow) -> StoreResult<AuditRecord> {
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

/// `%term%` for `LIKE`, with the pattern characters of the term escaped
/// (folded terms never hold any, but a stray `\` would make PostgreSQL fail).
fn contains_pattern(term: &str) -> String {
    let mut p = String::with_capacity(term.len() + 2);
    p.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

// Text ordering uses the "C" collation everywhere: byte order, as SQLite does,
// so both backends list things in the same order whatever the server locale.

use super::rows::USAGER_COLUMNS;

/// Episodes with their referent's name; `$1` structure, `$2` user file.
const EPISODES_SQL: &str = "SELECT e.*, p.first_name, p.last_name FROM episodes e
     LEFT JOIN professionals p ON p.id = e.referent_id
     WHERE e.structure_id = $1 AND e.usager_id = $2";

/// Activities with their participants' names, sorted; `$1` structure, `$2` user file.
const ACTIVITIES_SQL: &str = r#"SELECT a.*, ARRAY(
         SELECT p.first_name || ' ' || p.last_name FROM activity_participants ap
         JOIN professionals p ON p.id = ap.professional_id
         WHERE ap.activity_id = a.id
         ORDER BY (p.first_name || ' ' || p.last_name) COLLATE "C") AS participants
     FROM activities a WHERE a.structure_id = $1 AND a.usager_id = $2"#;

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/postgres")
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
        let res = sqlx::query(
            "INSERT INTO structures (id, name, kind, finess_geo, finess_juridique, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
        )
        .bind(Uuid::new_v4())
        .bind(&s.name)
        .bind(s.kind.code())
        .bind(&s.finess_geo)
        .bind(&s.finess_juridique)
        .bind(Utc::now())
        .fetch_one(&self.pool)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "une structure porte déjà le FINESS {}",
                s.finess_geo
            ))),
            Err(e) => Err(e.into()),
            Ok(r) => structure_from_row(&r),
        }
    }

    async fn list_structures(&self) -> StoreResult<Vec<Structure>> {
        let rows = sqlx::query(r#"SELECT * FROM structures ORDER BY name COLLATE "C""#)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(structure_from_row).collect()
    }

    async fn get_structure(&self, id: Uuid) -> StoreResult<Option<Structure>> {
        let row = sqlx::query("SELECT * FROM structures WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(structure_from_row).transpose()
    }

    async fn set_medical_roles(&self, t: &Tenant, roles: &[Role]) -> StoreResult<()> {
        sqlx::query("UPDATE structures SET medical_roles = $1 WHERE id = $2")
            .bind(rows::roles_csv(roles))
            .bind(t.structure_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn find_structure_by_finess(&self, finess_geo: &str) -> StoreResult<Option<Structure>> {
        let row = sqlx::query("SELECT * FROM structures WHERE finess_geo = $1")
            .bind(finess_geo)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(structure_from_row).transpose()
    }

    async fn create_professional(&self, p: &NewProfessional) -> StoreResult<Professional> {
        let res = sqlx::query(
            "INSERT INTO professionals (id, first_name, last_name, national_id, profession, instance_admin, active, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, true, $7) RETURNING *",
        )
        .bind(Uuid::new_v4())
        .bind(&p.first_name)
        .bind(&p.last_name)
        .bind(&p.national_id)
        .bind(&p.profession)
        .bind(p.instance_admin)
        .bind(Utc::now())
        .fetch_one(&self.pool)
        .await;
        match res {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(
                "un professionnel porte déjà cet identifiant national".to_string(),
            )),
            Err(e) => Err(e.into()),
            Ok(r) => professional_from_row(&r),
        }
    }

    async fn get_professional(&self, id: Uuid) -> StoreResult<Option<Professional>> {
        let row = sqlx::query("SELECT * FROM professionals WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(professional_from_row).transpose()
    }

    async fn find_professional_by_national_id(
        &self,
        id_nat_ps: &str,
    ) -> StoreResult<Option<Professional>> {
        let row = sqlx::query("SELECT * FROM professionals WHERE national_id = $1")
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
            "INSERT INTO memberships (structure_id, professional_id, role, granted_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
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
            r#"SELECT * FROM professionals WHERE active
               ORDER BY last_name COLLATE "C", first_name COLLATE "C""#,
        )
        .fetch_all(&self.pool)
        .await?;
        let members = sqlx::query(
            r#"SELECT m.professional_id, m.structure_id, s.name, string_agg(m.role, ',') AS roles
               FROM memberships m JOIN structures s ON s.id = m.structure_id
               GROUP BY m.professional_id, m.structure_id, s.name ORDER BY s.name COLLATE "C""#,
        )
        .fetch_all(&self.pool)
        .await?;
        let mut by_professional: HashMap<Uuid, Vec<Membership>> = HashMap::new();
        for m in &members {
            by_professional
                .entry(m.try_get("professional_id")?)
                .or_default()
                .push(Membership {
                    structure_id: m.try_get("structure_id")?,
                    structure_name: m.try_get("name")?,
                    roles: rows::role_set(&m.try_get::<String, _>("roles")?),
                });
        }
        pros.iter()
            .map(|p| {
                let professional = professional_from_row(p)?;
                let memberships = by_professional.remove(&professional.id).unwrap_or_default();
                Ok(LoginChoice {
                    professional,
                    memberships,
                })
            })
            .collect()
    }

    async fn tenant_for(
        &self,
        professional_id: Uuid,
        structure_id: Uuid,
    ) -> StoreResult<Option<Tenant>> {
        let row = sqlx::query(
            "SELECT s.kind, s.medical_roles, s.qualifier_roles, s.identity_documents, s.identity_policy, p.first_name, p.last_name, string_agg(m.role, ',') AS roles
             FROM memberships m
             JOIN structures s ON s.id = m.structure_id
             JOIN professionals p ON p.id = m.professional_id AND p.active
             WHERE m.professional_id = $1 AND m.structure_id = $2
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
            "INSERT INTO sessions (token_hash, professional_id, structure_id, csrf_token, auth_method, created_at, last_seen_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
        )
        .bind(&s.token_hash)
        .bind(s.professional_id)
        .bind(s.structure_id)
        .bind(&s.csrf_token)
        .bind(&s.auth_method)
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
                    string_agg(m.role, ',') AS roles
             FROM sessions se
             JOIN structures s ON s.id = se.structure_id
             JOIN professionals p ON p.id = se.professional_id AND p.active
             JOIN memberships m ON m.structure_id = se.structure_id AND m.professional_id = se.professional_id
             WHERE se.token_hash = $1
             GROUP BY se.token_hash, s.id, p.id",
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
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn purge_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let r = sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    async fn create_usager(&self, t: &Tenant, data: &UsagerData) -> StoreResult<Usager> {
        let c = rows::UsagerColumns::from_data(data);
        let sql = format!(
            "INSERT INTO usagers (id, structure_id, anonymous, alias, birth_name, first_names, used_name, used_first_name,
                birth_date, birth_year, sex, birth_place_code, phone, email, address, identity_status, vigilance, search_key, created_by, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20)
             RETURNING {USAGER_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(Uuid::new_v4())
            .bind(t.structure_id)
            .bind(c.anonymous)
            .bind(&c.alias)
            .bind(&c.birth_name)
            .bind(&c.first_names)
            .bind(&c.used_name)
            .bind(&c.used_first_name)
            .bind(c.birth_date)
            .bind(c.birth_year)
            .bind(&c.sex)
            .bind(&c.birth_place_code)
            .bind(&c.phone)
            .bind(&c.email)
            .bind(&c.address)
            .bind(rows::initial_vigilance(data).status().code())
            .bind(rows::vigilance_json(&rows::initial_vigilance(data)))
            .bind(data.identity.search_key())
            .bind(t.professional_id)
            .bind(Utc::now())
            .fetch_one(&self.pool)
            .await?;
        let u = usager_from_row(&row)?;
        self.q_keys_for(t.structure_id, u.id, &u.data.identity)
            .await?;
        Ok(u)
    }

    async fn update_usager(&self, t: &Tenant, id: Uuid, data: &UsagerData) -> StoreResult<Usager> {
        let c = rows::UsagerColumns::from_data(data);
        let sql = format!(
            "UPDATE usagers SET anonymous = $1, alias = $2, birth_name = $3, first_names = $4, used_name = $5,
                used_first_name = $6, birth_date = $7, birth_year = $8, sex = $9, birth_place_code = $10,
                phone = $11, email = $12, address = $13, search_key = $14, updated_at = $15
             WHERE id = $16 AND structure_id = $17
             RETURNING {USAGER_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(c.anonymous)
            .bind(&c.alias)
            .bind(&c.birth_name)
            .bind(&c.first_names)
            .bind(&c.used_name)
            .bind(&c.used_first_name)
            .bind(c.birth_date)
            .bind(c.birth_year)
            .bind(&c.sex)
            .bind(&c.birth_place_code)
            .bind(&c.phone)
            .bind(&c.email)
            .bind(&c.address)
            .bind(data.identity.search_key())
            .bind(Utc::now())
            .bind(id)
            .bind(t.structure_id)
            .fetch_optional(&self.pool)
            .await?;
        let u = row
            .as_ref()
            .map(usager_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound)?;
        self.q_keys_for(t.structure_id, u.id, &u.data.identity)
            .await?;
        Ok(u)
    }

    async fn get_usager(&self, t: &Tenant, id: Uuid) -> StoreResult<Option<Usager>> {
        let sql =
            format!("SELECT {USAGER_COLUMNS} FROM usagers WHERE id = $1 AND structure_id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(t.structure_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(usager_from_row).transpose()
    }

    async fn search_usagers(&self, t: &Tenant, q: &UsagerQuery) -> StoreResult<Vec<Usager>> {
        // `LIKE ALL` of an empty array is true: no term, no name filter.
        let patterns: Vec<String> = q
            .terms
            .iter()
            .take(4)
            .map(|t| contains_pattern(t))
            .collect();
        let sql = format!(
            "SELECT {USAGER_COLUMNS} FROM usagers
             WHERE structure_id = $1 AND merged_into IS NULL AND search_key LIKE ALL($2::text[])
               AND ($3::date IS NULL OR birth_date = $3)
             ORDER BY search_key LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(t.structure_id)
            .bind(patterns)
            .bind(q.birth_date)
            .bind(q.limit.clamp(1, 200))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(usager_from_row).collect()
    }

    async fn count_usagers(&self, t: &Tenant) -> StoreResult<i64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM usagers WHERE structure_id = $1 AND merged_into IS NULL",
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
        // One statement: nothing is inserted unless the file is the tenant's
        // and the referent (if any) holds a role in the tenant's structure.
        let row = sqlx::query(
            "WITH ins AS (
                 INSERT INTO episodes (id, structure_id, usager_id, kind, start_date, end_date, referent_id, created_at)
                 SELECT $1, u.structure_id, u.id, $4, $5, $6, $7, $8 FROM usagers u
                 WHERE u.id = $3 AND u.structure_id = $2
                   AND ($7::uuid IS NULL OR EXISTS (
                       SELECT 1 FROM memberships m WHERE m.structure_id = $2 AND m.professional_id = $7))
                 RETURNING *)
             SELECT ins.*, p.first_name, p.last_name FROM ins
             LEFT JOIN professionals p ON p.id = ins.referent_id",
        )
        .bind(Uuid::new_v4())
        .bind(t.structure_id)
        .bind(usager_id)
        .bind(e.kind.code())
        .bind(e.start_date)
        .bind(e.end_date)
        .bind(e.referent_id)
        .bind(Utc::now())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(episode_from_row)
            .transpose()?
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
            "UPDATE episodes SET end_date = $1
             WHERE id = $2 AND usager_id = $3 AND structure_id = $4 AND start_date <= $1",
        )
        .bind(end)
        .bind(episode_id)
        .bind(usager_id)
        .bind(t.structure_id)
        .execute(&self.pool)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn episodes(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<Episode>> {
        let sql = format!("{EPISODES_SQL} ORDER BY e.start_date DESC, e.created_at DESC");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(t.structure_id)
            .bind(usager_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(episode_from_row).collect()
    }

    async fn add_activity(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        a: &NewActivity,
    ) -> StoreResult<Activity> {
        let id = Uuid::new_v4();
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO activities (id, structure_id, usager_id, kind, date, duration_minutes, comment, created_by, created_at)
             SELECT $1, u.structure_id, u.id, $4, $5, $6, $7, $8, $9 FROM usagers u
             WHERE u.id = $3 AND u.structure_id = $2",
        )
        .bind(id)
        .bind(t.structure_id)
        .bind(usager_id)
        .bind(a.kind.code())
        .bind(a.date)
        .bind(a.duration_minutes.map(|d| i32::try_from(d).unwrap_or(i32::MAX)))
        .bind(&a.comment)
        .bind(t.professional_id)
        .bind(Utc::now())
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        // Only members of the tenant's structure can be participants; others are dropped.
        sqlx::query(
            "INSERT INTO activity_participants (activity_id, professional_id)
             SELECT DISTINCT $1::uuid, m.professional_id FROM memberships m
             WHERE m.structure_id = $2 AND m.professional_id = ANY($3)
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(t.structure_id)
        .bind(&a.participant_ids)
        .execute(&mut *tx)
        .await?;
        let sql = format!("{ACTIVITIES_SQL} AND a.id = $3");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(t.structure_id)
            .bind(usager_id)
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let activity = activity_from_row(&row)?;
        tx.commit().await?;
        Ok(activity)
    }

    async fn activities(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<Activity>> {
        let sql = format!("{ACTIVITIES_SQL} ORDER BY a.date DESC, a.created_at DESC");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(t.structure_id)
            .bind(usager_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(activity_from_row).collect()
    }

    async fn add_note(&self, t: &Tenant, usager_id: Uuid, n: &NewNote) -> StoreResult<Note> {
        if !t.may_write(n.confidentiality) {
            return Err(StoreError::Forbidden);
        }
        let row = sqlx::query(
            "WITH ins AS (
                 INSERT INTO notes (id, structure_id, usager_id, confidentiality, body, author_id, created_at)
                 SELECT $1, u.structure_id, u.id, $4, $5, $6, $7 FROM usagers u
                 WHERE u.id = $3 AND u.structure_id = $2
                 RETURNING *)
             SELECT ins.*, p.first_name, p.last_name FROM ins JOIN professionals p ON p.id = ins.author_id",
        )
        .bind(Uuid::new_v4())
        .bind(t.structure_id)
        .bind(usager_id)
        .bind(n.confidentiality.code())
        .bind(&n.body)
        .bind(t.professional_id)
        .bind(Utc::now())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(note_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound)
    }

    async fn notes(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<Note>> {
        // The classes the tenant may read are bound into the query itself.
        let classes: Vec<&'static str> = t.readable_classes().iter().map(|c| c.code()).collect();
        let rows = sqlx::query(
            "SELECT n.*, p.first_name, p.last_name FROM notes n JOIN professionals p ON p.id = n.author_id
             WHERE n.structure_id = $1 AND n.usager_id = $2 AND n.confidentiality = ANY($3)
             ORDER BY n.created_at DESC",
        )
        .bind(t.structure_id)
        .bind(usager_id)
        .bind(classes)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(note_from_row).collect()
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
            r#"SELECT p.id, p.first_name, p.last_name, string_agg(m.role, ',') AS roles
               FROM memberships m JOIN professionals p ON p.id = m.professional_id AND p.active
               WHERE m.structure_id = $1 GROUP BY p.id
               ORDER BY p.last_name COLLATE "C", p.first_name COLLATE "C""#,
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
        let rows = sqlx::query(
            "SELECT * FROM audit_entries WHERE chain = $1
               AND ($2::text IS NULL OR action = $2)
               AND ($3::uuid IS NULL OR actor_id = $3)
               AND ($4::uuid IS NULL OR usager_id = $4)
               AND ($5::timestamptz IS NULL OR at >= $5)
               AND ($6::timestamptz IS NULL OR at < $6)
               AND ($7::bigint IS NULL OR seq < $7)
             ORDER BY seq DESC LIMIT $8",
        )
        .bind(AuditChain::Structure(t.structure_id).key())
        .bind(&f.action)
        .bind(f.actor_id)
        .bind(f.usager_id)
        .bind(f.from.map(rows::day_start))
        .bind(f.to.map(rows::day_end))
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
            "SELECT * FROM audit_entries WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3",
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

type ThisStore = PgStore;
type ThisRow = PgRow;
/// The Rust type of a 32-bit integer column in this backend.
type Int4 = i32;
/// `YYYY-MM` of the column `at`.
const MONTH_SQL: &str = "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM')";
include!("quality_impl.rs");
include!("access_impl.rs");
include!("directory_impl.rs");
