// Included by `sqlite.rs` and `postgres.rs` (see `access.rs`) after they
// define `ThisStore`, `ThisRow` and `full_name`. The SQL below is accepted by both dialects.

use crate::domain::roles::{Role, RoleSet};
use crate::store::NewProfessional;
use crate::store::access::{
    AccessStore, AdminCredential, AdminSession, Correspondent, NewInvitation, PendingChoice,
    PendingPscLogin, ProfessionalProfile, StructureDirector, TeamEntry,
};

fn a_role_rows(rows: &[ThisRow]) -> StoreResult<Vec<(Uuid, String, Role)>> {
    let mut out = Vec::new();
    for r in rows {
        let role: String = r.try_get("role")?;
        if let Ok(role) = role.parse::<Role>() {
            out.push((r.try_get("id")?, r.try_get("name")?, role));
        }
    }
    Ok(out)
}

#[async_trait]
impl AccessStore for ThisStore {
    async fn save_psc_login(&self, l: &PendingPscLogin) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO psc_logins (state_hash, browser_hash, nonce, pkce_verifier, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&l.state_hash)
        .bind(&l.browser_hash)
        .bind(&l.nonce)
        .bind(&l.pkce_verifier)
        .bind(l.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn take_psc_login(&self, state_hash: &str) -> StoreResult<Option<PendingPscLogin>> {
        let row = sqlx::query(
            "DELETE FROM psc_logins WHERE state_hash = $1 RETURNING state_hash, browser_hash, nonce, pkce_verifier, created_at",
        )
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(PendingPscLogin {
                state_hash: r.try_get("state_hash")?,
                browser_hash: r.try_get("browser_hash")?,
                nonce: r.try_get("nonce")?,
                pkce_verifier: r.try_get("pkce_verifier")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .transpose()
    }

    async fn save_login_choice(&self, c: &PendingChoice) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO login_choices (token_hash, browser_hash, professional_id, auth_label, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&c.token_hash)
        .bind(&c.browser_hash)
        .bind(c.professional_id)
        .bind(&c.auth_label)
        .bind(c.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn take_login_choice(&self, token_hash: &str) -> StoreResult<Option<PendingChoice>> {
        let row = sqlx::query(
            "DELETE FROM login_choices WHERE token_hash = $1 RETURNING token_hash, browser_hash, professional_id, auth_label, created_at",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(PendingChoice {
                token_hash: r.try_get("token_hash")?,
                browser_hash: r.try_get("browser_hash")?,
                professional_id: r.try_get("professional_id")?,
                auth_label: r.try_get("auth_label")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .transpose()
    }

    async fn purge_pending_logins(&self, before: DateTime<Utc>) -> StoreResult<()> {
        for sql in [
            "DELETE FROM psc_logins WHERE created_at < $1",
            "DELETE FROM login_choices WHERE created_at < $1",
            "DELETE FROM admin_sessions WHERE expires_at < $1",
        ] {
            sqlx::query(sql).bind(before).execute(&self.pool).await?;
        }
        Ok(())
    }

    async fn memberships_of(&self, professional_id: Uuid) -> StoreResult<Vec<Membership>> {
        let rows = sqlx::query(
            "SELECT s.id, s.name, m.role FROM memberships m
             JOIN structures s ON s.id = m.structure_id
             JOIN professionals p ON p.id = m.professional_id AND p.active
             WHERE m.professional_id = $1 ORDER BY s.name, s.id",
        )
        .bind(professional_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<Membership> = Vec::new();
        for (id, name, role) in a_role_rows(&rows)? {
            match out.iter_mut().find(|m| m.structure_id == id) {
                Some(m) => m.roles = RoleSet::new(m.roles.iter().chain([role]).collect()),
                None => out.push(Membership {
                    structure_id: id,
                    structure_name: name,
                    roles: RoleSet::new(vec![role]),
                }),
            }
        }
        Ok(out)
    }

    async fn save_profile(
        &self,
        professional_id: Uuid,
        p: &ProfessionalProfile,
    ) -> StoreResult<()> {
        let json = serde_json::to_string(&p.person).unwrap_or_else(|_| "{}".into());
        sqlx::query(
            "INSERT INTO professional_profiles (professional_id, profile_json, auth_mode, acr, last_login_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (professional_id) DO UPDATE SET profile_json = excluded.profile_json, auth_mode = excluded.auth_mode,
             acr = excluded.acr, last_login_at = excluded.last_login_at",
        )
        .bind(professional_id)
        .bind(json)
        .bind(&p.auth_mode)
        .bind(&p.acr)
        .bind(p.last_login_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn profile_of(&self, professional_id: Uuid) -> StoreResult<Option<ProfessionalProfile>> {
        let row = sqlx::query(
            "SELECT profile_json, auth_mode, acr, last_login_at FROM professional_profiles WHERE professional_id = $1",
        )
        .bind(professional_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(ProfessionalProfile {
                person: serde_json::from_str(&r.try_get::<String, _>("profile_json")?)
                    .unwrap_or_default(),
                auth_mode: r.try_get("auth_mode")?,
                acr: r.try_get("acr")?,
                last_login_at: r.try_get("last_login_at")?,
            })
        })
        .transpose()
    }

    async fn team_entries(&self, t: &Tenant) -> StoreResult<Vec<TeamEntry>> {
        let rows = sqlx::query(
            "SELECT p.id, p.first_name, p.last_name, p.national_id, p.profession, m.role, NULL AS invited_until
             FROM memberships m JOIN professionals p ON p.id = m.professional_id AND p.active
             WHERE m.structure_id = $1
             UNION ALL
             SELECT p.id, p.first_name, p.last_name, p.national_id, p.profession, NULL AS role, i.expires_at AS invited_until
             FROM invitations i JOIN professionals p ON p.id = i.professional_id AND p.active
             WHERE i.structure_id = $1 AND i.used_at IS NULL AND i.expires_at > $2",
        )
        .bind(t.structure_id)
        .bind(Utc::now())
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<TeamEntry> = Vec::new();
        for r in &rows {
            let id: Uuid = r.try_get("id")?;
            let role: Option<Role> = r
                .try_get::<Option<String>, _>("role")?
                .and_then(|x| x.parse().ok());
            let invited: Option<DateTime<Utc>> = r.try_get("invited_until")?;
            let idx = match out.iter().position(|e| e.id == id) {
                Some(i) => i,
                None => {
                    out.push(TeamEntry {
                        id,
                        first_name: r.try_get("first_name")?,
                        last_name: r.try_get("last_name")?,
                        national_id: r.try_get("national_id")?,
                        profession: r.try_get("profession")?,
                        roles: RoleSet::new(Vec::new()),
                        invited_until: None,
                    });
                    out.len() - 1
                }
            };
            let e = &mut out[idx];
            if let Some(role) = role {
                e.roles = RoleSet::new(e.roles.iter().chain([role]).collect());
            }
            if invited.is_some() {
                e.invited_until = invited;
            }
        }
        out.sort_by(|a, b| {
            (a.last_name.to_lowercase(), a.first_name.to_lowercase())
                .cmp(&(b.last_name.to_lowercase(), b.first_name.to_lowercase()))
        });
        Ok(out)
    }

    async fn set_roles(
        &self,
        t: &Tenant,
        professional_id: Uuid,
        roles: &[Role],
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM memberships WHERE structure_id = $1 AND professional_id = $2")
            .bind(t.structure_id)
            .bind(professional_id)
            .execute(&mut *tx)
            .await?;
        for role in roles {
            sqlx::query(
                "INSERT INTO memberships (structure_id, professional_id, role, granted_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(t.structure_id)
            .bind(professional_id)
            .bind(role.code())
            .bind(Utc::now())
            .execute(&mut *tx)
            .await?;
        }
        if roles.is_empty() {
            // Access ends: open sessions in this structure end with it.
            sqlx::query("DELETE FROM sessions WHERE structure_id = $1 AND professional_id = $2")
                .bind(t.structure_id)
                .bind(professional_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE invitations SET expires_at = $3 WHERE structure_id = $1 AND professional_id = $2 AND used_at IS NULL")
                .bind(t.structure_id)
                .bind(professional_id)
                .bind(Utc::now())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn create_invitation(&self, t: &Tenant, inv: &NewInvitation) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO invitations (code_hash, professional_id, structure_id, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&inv.code_hash)
        .bind(inv.professional_id)
        .bind(t.structure_id)
        .bind(t.professional_id)
        .bind(Utc::now())
        .bind(inv.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn redeem_invitation(
        &self,
        code_hash: &str,
        id_nat_ps: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Uuid>> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "UPDATE invitations SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING professional_id",
        )
        .bind(code_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let pid: Uuid = row.try_get("professional_id")?;
        let taken = sqlx::query("SELECT id FROM professionals WHERE national_id = $1 AND id <> $2")
            .bind(id_nat_ps)
            .bind(pid)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(
                "cet identifiant national est déjà rattaché à un autre professionnel".into(),
            ));
        }
        let updated = sqlx::query(
            "UPDATE professionals SET national_id = $1 WHERE id = $2 AND (national_id IS NULL OR national_id = $1)",
        )
        .bind(id_nat_ps)
        .bind(pid)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::Conflict(
                "cette invitation concerne un professionnel déjà identifié par un autre numéro"
                    .into(),
            ));
        }
        tx.commit().await?;
        Ok(Some(pid))
    }

    async fn save_correspondent(&self, t: &Tenant, c: &Correspondent) -> StoreResult<()> {
        let boxes = serde_json::to_string(&c.mailboxes).unwrap_or_else(|_| "[]".into());
        sqlx::query(
            "INSERT INTO correspondents (id, structure_id, kind, identifier, name, detail, mailboxes_json, note, added_by, added_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (structure_id, kind, identifier) DO UPDATE SET name = excluded.name, detail = excluded.detail,
             mailboxes_json = excluded.mailboxes_json, note = excluded.note",
        )
        .bind(c.id)
        .bind(t.structure_id)
        .bind(&c.kind)
        .bind(&c.identifier)
        .bind(&c.name)
        .bind(&c.detail)
        .bind(boxes)
        .bind(&c.note)
        .bind(t.professional_id)
        .bind(c.added_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn correspondents(&self, t: &Tenant) -> StoreResult<Vec<Correspondent>> {
        let rows = sqlx::query(
            "SELECT id, kind, identifier, name, detail, mailboxes_json, note, added_at FROM correspondents
             WHERE structure_id = $1 ORDER BY name, identifier",
        )
        .bind(t.structure_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Correspondent {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    identifier: r.try_get("identifier")?,
                    name: r.try_get("name")?,
                    detail: r.try_get("detail")?,
                    mailboxes: serde_json::from_str(&r.try_get::<String, _>("mailboxes_json")?)
                        .unwrap_or_default(),
                    note: r.try_get("note")?,
                    added_at: r.try_get("added_at")?,
                })
            })
            .collect()
    }

    async fn remove_correspondent(&self, t: &Tenant, id: Uuid) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM correspondents WHERE id = $1 AND structure_id = $2")
            .bind(id)
            .bind(t.structure_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn admin_credentials_count(&self) -> StoreResult<i64> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM admin_credentials")
            .fetch_one(&self.pool)
            .await?;
        Ok(r.try_get("n")?)
    }

    async fn create_administrator(
        &self,
        p: &NewProfessional,
        c: &AdminCredential,
    ) -> StoreResult<Uuid> {
        let id = Uuid::new_v4();
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO professionals (id, first_name, last_name, national_id, profession, instance_admin, active, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(&p.first_name)
        .bind(&p.last_name)
        .bind(&p.national_id)
        .bind(&p.profession)
        .bind(p.instance_admin)
        .bind(true)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO admin_credentials (professional_id, login, password_hash, totp_secret, last_totp_step, failures, locked_until, created_at)
             VALUES ($1, $2, $3, $4, 0, 0, NULL, $5)",
        )
        .bind(id)
        .bind(&c.login)
        .bind(&c.password_hash)
        .bind(&c.totp_secret)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!("identifiant {}", c.login)));
            }
            r => r?,
        };
        tx.commit().await?;
        Ok(id)
    }

    async fn admin_login_taken(&self, login: &str) -> StoreResult<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admin_credentials WHERE login = $1")
            .bind(login)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    async fn admin_credential(&self, login: &str) -> StoreResult<Option<AdminCredential>> {
        let row = sqlx::query(
            "SELECT c.professional_id, c.login, c.password_hash, c.totp_secret, c.last_totp_step, c.failures, c.locked_until
             FROM admin_credentials c JOIN professionals p ON p.id = c.professional_id AND p.active AND p.instance_admin
             WHERE c.login = $1",
        )
        .bind(login)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(AdminCredential {
                professional_id: r.try_get("professional_id")?,
                login: r.try_get("login")?,
                password_hash: r.try_get("password_hash")?,
                totp_secret: r.try_get("totp_secret")?,
                last_totp_step: r.try_get("last_totp_step")?,
                failures: r.try_get("failures")?,
                locked_until: r.try_get("locked_until")?,
            })
        })
        .transpose()
    }

    async fn admin_login_failed(
        &self,
        professional_id: Uuid,
        now: DateTime<Utc>,
        window_start: DateTime<Utc>,
        max_failures: i64,
        lock_until: DateTime<Utc>,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        // One statement, so that parallel attempts all count. Failures older
        // than the window are forgotten; the one that reaches the limit locks.
        let row = sqlx::query(
            "UPDATE admin_credentials SET
                failures = CASE WHEN failures_since IS NULL OR failures_since < $3 THEN 1 ELSE failures + 1 END,
                failures_since = CASE WHEN failures_since IS NULL OR failures_since < $3 THEN $2 ELSE failures_since END,
                locked_until = CASE WHEN failures_since IS NOT NULL AND failures_since >= $3 AND failures + 1 >= $4
                                    THEN $5 ELSE locked_until END
             WHERE professional_id = $1 RETURNING locked_until",
        )
        .bind(professional_id)
        .bind(now)
        .bind(window_start)
        .bind(max_failures)
        .bind(lock_until)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => r.try_get("locked_until")?,
            None => None,
        })
    }

    async fn admin_login_succeeded(
        &self,
        professional_id: Uuid,
        step: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        // Only if this code's step is later than the last one used and no
        // lock holds: a code replayed in parallel passes once (RFC 6238 §5.2).
        let done = sqlx::query(
            "UPDATE admin_credentials SET last_totp_step = $2, failures = 0, failures_since = NULL, locked_until = NULL
             WHERE professional_id = $1 AND last_totp_step < $2 AND (locked_until IS NULL OR locked_until <= $3)",
        )
        .bind(professional_id)
        .bind(step)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_admin_session(
        &self,
        token_hash: &str,
        professional_id: Uuid,
        csrf_token: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO admin_sessions (token_hash, professional_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(professional_id)
        .bind(csrf_token)
        .bind(Utc::now())
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn admin_session(&self, token_hash: &str) -> StoreResult<Option<AdminSession>> {
        let row = sqlx::query(
            "SELECT a.professional_id, p.first_name, p.last_name, a.csrf_token, a.expires_at FROM admin_sessions a
             JOIN professionals p ON p.id = a.professional_id AND p.active AND p.instance_admin
             WHERE a.token_hash = $1 AND a.expires_at > $2",
        )
        .bind(token_hash)
        .bind(Utc::now())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(AdminSession {
                professional_id: r.try_get("professional_id")?,
                display_name: full_name(&r)?,
                csrf_token: r.try_get("csrf_token")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    async fn delete_admin_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM admin_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn reset_admin_credential(
        &self,
        login: &str,
        password_hash: &str,
        totp_secret: &str,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let id: Option<Uuid> = sqlx::query_scalar(
            "UPDATE admin_credentials SET password_hash = $2, totp_secret = $3, last_totp_step = 0, failures = 0, failures_since = NULL, locked_until = NULL
             WHERE login = $1 RETURNING professional_id",
        )
        .bind(login)
        .bind(password_hash)
        .bind(totp_secret)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM admin_sessions WHERE professional_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn administrators(&self) -> StoreResult<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT p.first_name, p.last_name, c.login FROM admin_credentials c
             JOIN professionals p ON p.id = c.professional_id AND p.active AND p.instance_admin
             ORDER BY c.login",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((full_name(r)?, r.try_get("login")?)))
            .collect()
    }

    async fn structure_directors(&self) -> StoreResult<Vec<StructureDirector>> {
        let rows = sqlx::query(
            "SELECT m.structure_id, p.first_name, p.last_name, p.national_id FROM memberships m
             JOIN professionals p ON p.id = m.professional_id AND p.active
             WHERE m.role = $1 ORDER BY p.last_name, p.first_name",
        )
        .bind(Role::Directeur.code())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StructureDirector {
                    structure_id: r.try_get("structure_id")?,
                    display_name: full_name(r)?,
                    national_id: r.try_get("national_id")?,
                })
            })
            .collect()
    }
}
