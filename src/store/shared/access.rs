//! Who gets in: Pro Santé Connect logins in progress, the structure choice,
//! PSC profiles, a director's team (roles, invitations), the address book,
//! and the instance administrators' break-glass credentials and sessions.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::audit::{commit_journaled, commit_journaled_chains};
use super::{SqlStore, rows};
use crate::domain::roles::{Role, RoleSet};
use crate::domain::tenant::Tenant;
use crate::store::access::{
    AccessStore, AdminCredential, AdminSession, Correspondent, NewInvitation, PendingChoice,
    PendingPscLogin, ProfessionalProfile, StructureDirector, TeamEntry,
};
use crate::store::sql::{Row, is_unique_violation};
use crate::store::{
    Backend, InstanceJournal, Journal, JournalOf, Membership, NewProfessional, StoreError,
    StoreResult,
};

/// Adds a role to a set (team lists read one row per role).
fn with_role(roles: &RoleSet, role: Role) -> RoleSet {
    RoleSet::new(roles.iter().chain([role]).collect())
}

/// The one rule on a team's roles, checked in the change's transaction
/// whatever the path (adding, changing, ending someone's access).
pub const LAST_DIRECTOR: &str = "La structure doit garder au moins un directeur ou une directrice : nommez-en un autre avant de retirer ce rôle.";

fn admin_credential(r: &Row) -> StoreResult<AdminCredential> {
    Ok(AdminCredential {
        professional_id: r.get("professional_id")?,
        login: r.get("login")?,
        password_hash: r.get("password_hash")?,
        totp_secret: r.get("totp_secret")?,
        last_totp_step: r.get("last_totp_step")?,
    })
}

fn correspondent(r: &Row) -> StoreResult<Correspondent> {
    Ok(Correspondent {
        id: r.get("id")?,
        kind: r.get("kind")?,
        identifier: r.get("identifier")?,
        name: r.get("name")?,
        detail: r.get("detail")?,
        mailboxes: serde_json::from_str(&r.get::<String>("mailboxes_json")?).unwrap_or_default(),
        note: r.get("note")?,
        added_at: r.get("added_at")?,
    })
}

#[async_trait]
impl AccessStore for SqlStore {
    async fn save_psc_login(
        &self,
        l: &PendingPscLogin,
        since: DateTime<Utc>,
        max: i64,
    ) -> StoreResult<bool> {
        let saved = self
            .db
            .query(
                "INSERT INTO psc_logins (state_hash, browser_hash, nonce, pkce_verifier, created_at)
                 SELECT $1, $2, $3, $4, $5
                 WHERE (SELECT COUNT(*) FROM psc_logins WHERE created_at >= $6) < $7",
            )
            .bind(&l.state_hash)
            .bind(&l.browser_hash)
            .bind(&l.nonce)
            .bind(&l.pkce_verifier)
            .bind(l.created_at)
            .bind(since)
            .bind(max)
            .execute()
            .await?;
        Ok(saved == 1)
    }

    async fn take_psc_login(&self, state_hash: &str) -> StoreResult<Option<PendingPscLogin>> {
        self.db
            .query(
                "DELETE FROM psc_logins WHERE state_hash = $1
                 RETURNING state_hash, browser_hash, nonce, pkce_verifier, created_at",
            )
            .bind(state_hash)
            .optional(|r| {
                Ok(PendingPscLogin {
                    state_hash: r.get("state_hash")?,
                    browser_hash: r.get("browser_hash")?,
                    nonce: r.get("nonce")?,
                    pkce_verifier: r.get("pkce_verifier")?,
                    created_at: r.get("created_at")?,
                })
            })
            .await
    }

    async fn save_login_choice(&self, c: &PendingChoice) -> StoreResult<()> {
        self.db
            .query(
                "INSERT INTO login_choices (token_hash, browser_hash, professional_id, auth_label,
                     created_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&c.token_hash)
            .bind(&c.browser_hash)
            .bind(c.professional_id)
            .bind(&c.auth_label)
            .bind(c.created_at)
            .execute()
            .await?;
        Ok(())
    }

    async fn take_login_choice(&self, token_hash: &str) -> StoreResult<Option<PendingChoice>> {
        self.db
            .query(
                "DELETE FROM login_choices WHERE token_hash = $1
                 RETURNING token_hash, browser_hash, professional_id, auth_label, created_at",
            )
            .bind(token_hash)
            .optional(|r| {
                Ok(PendingChoice {
                    token_hash: r.get("token_hash")?,
                    browser_hash: r.get("browser_hash")?,
                    professional_id: r.get("professional_id")?,
                    auth_label: r.get("auth_label")?,
                    created_at: r.get("created_at")?,
                })
            })
            .await
    }

    async fn purge_pending_logins(&self, before: DateTime<Utc>) -> StoreResult<()> {
        for sql in [
            "DELETE FROM psc_logins WHERE created_at < $1",
            "DELETE FROM login_choices WHERE created_at < $1",
            "DELETE FROM admin_sessions WHERE expires_at < $1",
        ] {
            self.db.query(sql).bind(before).execute().await?;
        }
        Ok(())
    }

    async fn memberships_of(&self, professional_id: Uuid) -> StoreResult<Vec<Membership>> {
        let roles = self
            .db
            .query(
                "SELECT s.id, s.name, m.role FROM memberships m
                 JOIN structures s ON s.id = m.structure_id
                 JOIN professionals p ON p.id = m.professional_id AND p.active
                 WHERE m.professional_id = $1 ORDER BY s.name, s.id",
            )
            .bind(professional_id)
            .all(|r| {
                let role = r.get::<String>("role")?.parse::<Role>().ok();
                Ok((r.get::<Uuid>("id")?, r.get::<String>("name")?, role))
            })
            .await?;
        let mut out: Vec<Membership> = Vec::new();
        for (id, name, role) in roles {
            let Some(role) = role else { continue };
            match out.iter_mut().find(|m| m.structure_id == id) {
                Some(m) => m.roles = with_role(&m.roles, role),
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
        self.db
            .query(
                "INSERT INTO professional_profiles (professional_id, profile_json, auth_mode, acr,
                     last_login_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (professional_id) DO UPDATE SET profile_json = excluded.profile_json,
                     auth_mode = excluded.auth_mode, acr = excluded.acr,
                     last_login_at = excluded.last_login_at",
            )
            .bind(professional_id)
            .bind(json)
            .bind(&p.auth_mode)
            .bind(&p.acr)
            .bind(p.last_login_at)
            .execute()
            .await?;
        Ok(())
    }

    async fn profile_of(&self, professional_id: Uuid) -> StoreResult<Option<ProfessionalProfile>> {
        self.db
            .query(
                "SELECT profile_json, auth_mode, acr, last_login_at FROM professional_profiles
                 WHERE professional_id = $1",
            )
            .bind(professional_id)
            .optional(|r| {
                Ok(ProfessionalProfile {
                    person: serde_json::from_str(&r.get::<String>("profile_json")?)
                        .unwrap_or_default(),
                    auth_mode: r.get("auth_mode")?,
                    acr: r.get("acr")?,
                    last_login_at: r.get("last_login_at")?,
                })
            })
            .await
    }

    async fn team_entries(&self, t: &Tenant) -> StoreResult<Vec<TeamEntry>> {
        // One row per role held, and one per pending invitation.
        let lines = self
            .db
            .query(
                "SELECT p.id, p.first_name, p.last_name, p.national_id, p.profession, m.role,
                        NULL AS invited_until
                 FROM memberships m JOIN professionals p ON p.id = m.professional_id AND p.active
                 WHERE m.structure_id = $1
                 UNION ALL
                 SELECT p.id, p.first_name, p.last_name, p.national_id, p.profession, NULL AS role,
                        i.expires_at AS invited_until
                 FROM invitations i JOIN professionals p ON p.id = i.professional_id AND p.active
                 WHERE i.structure_id = $1 AND i.used_at IS NULL AND i.expires_at > $2",
            )
            .bind(t.structure_id)
            .bind(Utc::now())
            .all(|r| {
                let role: Option<Role> = r
                    .get::<Option<String>>("role")?
                    .and_then(|x| x.parse().ok());
                let invited: Option<DateTime<Utc>> = r.get("invited_until")?;
                let entry = TeamEntry {
                    id: r.get("id")?,
                    first_name: r.get("first_name")?,
                    last_name: r.get("last_name")?,
                    national_id: r.get("national_id")?,
                    profession: r.get("profession")?,
                    roles: RoleSet::new(Vec::new()),
                    invited_until: None,
                };
                Ok((entry, role, invited))
            })
            .await?;
        let mut out: Vec<TeamEntry> = Vec::new();
        for (entry, role, invited) in lines {
            let i = match out.iter().position(|e| e.id == entry.id) {
                Some(i) => i,
                None => {
                    out.push(entry);
                    out.len() - 1
                }
            };
            let e = &mut out[i];
            if let Some(role) = role {
                e.roles = with_role(&e.roles, role);
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
        journal: Journal<'_>,
    ) -> StoreResult<()> {
        let now = Utc::now();
        let mut tx = self.db.begin_write().await?;
        // One change of a structure's team at a time (SQLite has one writer),
        // so that two directors removing each other cannot both pass the rule.
        if self.db.backend() == Backend::Postgres {
            tx.query("SELECT id FROM structures WHERE id = $1 FOR UPDATE")
                .bind(t.structure_id)
                .scalars::<Uuid>()
                .await?;
        }
        let directors = "SELECT COUNT(*) FROM memberships WHERE structure_id = $1 AND role = $2";
        let before: i64 = tx
            .query(directors)
            .bind(t.structure_id)
            .bind(Role::Directeur.code())
            .scalar()
            .await?;
        tx.query("DELETE FROM memberships WHERE structure_id = $1 AND professional_id = $2")
            .bind(t.structure_id)
            .bind(professional_id)
            .execute()
            .await?;
        if roles.is_empty() {
            // Access ends: open sessions in this structure end with it.
            tx.query("DELETE FROM sessions WHERE structure_id = $1 AND professional_id = $2")
                .bind(t.structure_id)
                .bind(professional_id)
                .execute()
                .await?;
            tx.query(
                "UPDATE invitations SET expires_at = $1
                 WHERE structure_id = $2 AND professional_id = $3 AND used_at IS NULL",
            )
            .bind(now)
            .bind(t.structure_id)
            .bind(professional_id)
            .execute()
            .await?;
        } else {
            tx.query("INSERT INTO memberships (structure_id, professional_id, role, granted_at) ")
                .push_values(roles, |row, role| {
                    row.bind(t.structure_id)
                        .bind(professional_id)
                        .bind(role.code())
                        .bind(now)
                })
                .execute()
                .await?;
        }
        let after: i64 = tx
            .query(directors)
            .bind(t.structure_id)
            .bind(Role::Directeur.code())
            .scalar()
            .await?;
        if before > 0 && after == 0 {
            return Err(StoreError::Conflict(LAST_DIRECTOR.into()));
        }
        commit_journaled(tx, t, journal).await
    }

    async fn create_invitation(
        &self,
        t: &Tenant,
        inv: &NewInvitation,
        journal: Journal<'_>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        tx.query(
            "INSERT INTO invitations (code_hash, professional_id, structure_id, created_by,
                     created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&inv.code_hash)
        .bind(inv.professional_id)
        .bind(t.structure_id)
        .bind(t.professional_id)
        .bind(Utc::now())
        .bind(inv.expires_at)
        .execute()
        .await?;
        commit_journaled(tx, t, journal).await
    }

    async fn redeem_invitation(
        &self,
        code_hash: &str,
        id_nat_ps: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Uuid>> {
        let mut tx = self.db.begin().await?;
        let Some(pid) = tx
            .query(
                "UPDATE invitations SET used_at = $1
                 WHERE code_hash = $2 AND used_at IS NULL AND expires_at > $1
                 RETURNING professional_id",
            )
            .bind(now)
            .bind(code_hash)
            .scalar_optional::<Uuid>()
            .await?
        else {
            return Ok(None);
        };
        let taken = tx
            .query("SELECT id FROM professionals WHERE national_id = $1 AND id <> $2")
            .bind(id_nat_ps)
            .bind(pid)
            .fetch_optional()
            .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(
                "cet identifiant national est déjà rattaché à un autre professionnel".into(),
            ));
        }
        let updated = tx
            .query(
                "UPDATE professionals SET national_id = $1
                 WHERE id = $2 AND (national_id IS NULL OR national_id = $1)",
            )
            .bind(id_nat_ps)
            .bind(pid)
            .execute()
            .await?;
        if updated == 0 {
            return Err(StoreError::Conflict(
                "cette invitation concerne un professionnel déjà identifié par un autre numéro"
                    .into(),
            ));
        }
        tx.commit().await?;
        Ok(Some(pid))
    }

    async fn save_correspondent(
        &self,
        t: &Tenant,
        c: &Correspondent,
        journal: Journal<'_>,
    ) -> StoreResult<()> {
        let boxes = serde_json::to_string(&c.mailboxes).unwrap_or_else(|_| "[]".into());
        let mut tx = self.db.begin_write().await?;
        tx.query(
            "INSERT INTO correspondents (id, structure_id, kind, identifier, name, detail,
                     mailboxes_json, note, added_by, added_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (structure_id, kind, identifier) DO UPDATE SET name = excluded.name,
                     detail = excluded.detail, mailboxes_json = excluded.mailboxes_json,
                     note = excluded.note",
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
        .execute()
        .await?;
        commit_journaled(tx, t, journal).await
    }

    async fn correspondents(&self, t: &Tenant) -> StoreResult<Vec<Correspondent>> {
        self.db
            .query(
                "SELECT id, kind, identifier, name, detail, mailboxes_json, note, added_at
                 FROM correspondents WHERE structure_id = $1 ORDER BY name, identifier",
            )
            .bind(t.structure_id)
            .all(correspondent)
            .await
    }

    async fn remove_correspondent(
        &self,
        t: &Tenant,
        id: Uuid,
        journal: JournalOf<'_, String>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        let name: String = tx
            .query("DELETE FROM correspondents WHERE id = $1 AND structure_id = $2 RETURNING name")
            .bind(id)
            .bind(t.structure_id)
            .scalar_optional()
            .await?
            .ok_or(StoreError::NotFound)?;
        commit_journaled(tx, t, &journal(&name)).await
    }

    async fn admin_credentials_count(&self) -> StoreResult<i64> {
        self.db
            .query("SELECT COUNT(*) FROM admin_credentials")
            .scalar()
            .await
    }

    async fn create_administrator(
        &self,
        p: &NewProfessional,
        c: &AdminCredential,
        journal: InstanceJournal<'_>,
    ) -> StoreResult<Uuid> {
        let id = Uuid::new_v4();
        let now = Utc::now();
        let mut tx = self.db.begin_write().await?;
        tx.query(
            "INSERT INTO professionals (id, first_name, last_name, national_id, profession,
                 instance_admin, active, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, true, $7)",
        )
        .bind(id)
        .bind(&p.first_name)
        .bind(&p.last_name)
        .bind(&p.national_id)
        .bind(&p.profession)
        .bind(p.instance_admin)
        .bind(now)
        .execute()
        .await?;
        let inserted = tx
            .query(
                "INSERT INTO admin_credentials (professional_id, login, password_hash, totp_secret,
                     last_totp_step, failures, locked_until, created_at)
                 VALUES ($1, $2, $3, $4, 0, 0, NULL, $5)",
            )
            .bind(id)
            .bind(&c.login)
            .bind(&c.password_hash)
            .bind(&c.totp_secret)
            .bind(now)
            .execute()
            .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!("identifiant {}", c.login)));
            }
            r => r?,
        };
        commit_journaled_chains(tx, journal).await?;
        Ok(id)
    }

    async fn admin_login_taken(&self, login: &str) -> StoreResult<bool> {
        let n: i64 = self
            .db
            .query("SELECT COUNT(*) FROM admin_credentials WHERE login = $1")
            .bind(login)
            .scalar()
            .await?;
        Ok(n > 0)
    }

    async fn admin_credential(&self, login: &str) -> StoreResult<Option<AdminCredential>> {
        self.db
            .query(
                "SELECT c.professional_id, c.login, c.password_hash, c.totp_secret,
                        c.last_totp_step
                 FROM admin_credentials c
                 JOIN professionals p ON p.id = c.professional_id AND p.active AND p.instance_admin
                 WHERE c.login = $1",
            )
            .bind(login)
            .optional(admin_credential)
            .await
    }

    async fn admin_login_succeeded(&self, professional_id: Uuid, step: i64) -> StoreResult<bool> {
        // Only if this code's step is later than the last one used: a code
        // replayed in parallel passes once (RFC 6238 §5.2). Failures and locks
        // are the login guard's (services::administration), not the database's.
        let done = self
            .db
            .query(
                "UPDATE admin_credentials SET last_totp_step = $1
                 WHERE professional_id = $2 AND last_totp_step < $1",
            )
            .bind(step)
            .bind(professional_id)
            .execute()
            .await?;
        Ok(done == 1)
    }

    async fn create_admin_session(
        &self,
        token_hash: &str,
        professional_id: Uuid,
        csrf_token: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.db
            .query(
                "INSERT INTO admin_sessions (token_hash, professional_id, csrf_token, created_at,
                     expires_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(token_hash)
            .bind(professional_id)
            .bind(csrf_token)
            .bind(Utc::now())
            .bind(expires_at)
            .execute()
            .await?;
        Ok(())
    }

    async fn admin_session(&self, token_hash: &str) -> StoreResult<Option<AdminSession>> {
        self.db
            .query(
                "SELECT a.professional_id, p.first_name, p.last_name, a.csrf_token, a.expires_at
                 FROM admin_sessions a
                 JOIN professionals p ON p.id = a.professional_id AND p.active AND p.instance_admin
                 WHERE a.token_hash = $1 AND a.expires_at > $2",
            )
            .bind(token_hash)
            .bind(Utc::now())
            .optional(|r| {
                Ok(AdminSession {
                    professional_id: r.get("professional_id")?,
                    display_name: rows::full_name(r)?,
                    csrf_token: r.get("csrf_token")?,
                    expires_at: r.get("expires_at")?,
                })
            })
            .await
    }

    async fn delete_admin_session(&self, token_hash: &str) -> StoreResult<()> {
        self.db
            .query("DELETE FROM admin_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute()
            .await?;
        Ok(())
    }

    async fn reset_admin_credential(
        &self,
        login: &str,
        password_hash: &str,
        totp_secret: &str,
        journal: InstanceJournal<'_>,
    ) -> StoreResult<bool> {
        let mut tx = self.db.begin_write().await?;
        let Some(id) = tx
            .query(
                "UPDATE admin_credentials SET password_hash = $1, totp_secret = $2,
                     last_totp_step = 0, failures = 0, failures_since = NULL, locked_until = NULL
                 WHERE login = $3 RETURNING professional_id",
            )
            .bind(password_hash)
            .bind(totp_secret)
            .bind(login)
            .scalar_optional::<Uuid>()
            .await?
        else {
            return Ok(false);
        };
        tx.query("DELETE FROM admin_sessions WHERE professional_id = $1")
            .bind(id)
            .execute()
            .await?;
        commit_journaled_chains(tx, journal).await?;
        Ok(true)
    }

    async fn administrators(&self) -> StoreResult<Vec<(String, String)>> {
        self.db
            .query(
                "SELECT p.first_name, p.last_name, c.login FROM admin_credentials c
                 JOIN professionals p ON p.id = c.professional_id AND p.active AND p.instance_admin
                 ORDER BY c.login",
            )
            .all(|r| Ok((rows::full_name(r)?, r.get("login")?)))
            .await
    }

    async fn structure_directors(&self) -> StoreResult<Vec<StructureDirector>> {
        self.db
            .query(
                "SELECT m.structure_id, p.first_name, p.last_name, p.national_id FROM memberships m
                 JOIN professionals p ON p.id = m.professional_id AND p.active
                 WHERE m.role = $1 ORDER BY p.last_name, p.first_name",
            )
            .bind(Role::Directeur.code())
            .all(|r| {
                Ok(StructureDirector {
                    structure_id: r.get("structure_id")?,
                    display_name: rows::full_name(r)?,
                    national_id: r.get("national_id")?,
                })
            })
            .await
    }
}
