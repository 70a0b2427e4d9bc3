//! Sessions, in the database so that several processes share them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{SqlStore, rows};
use crate::domain::tenant::Tenant;
use crate::store::{NewSession, SessionRow, SessionStore, StoreResult};

#[async_trait]
impl SessionStore for SqlStore {
    async fn create_session(&self, s: &NewSession) -> StoreResult<()> {
        self.db
            .query(
                "INSERT INTO sessions (token_hash, professional_id, structure_id, csrf_token,
                     auth_method, created_at, last_seen_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
            )
            .bind(&s.token_hash)
            .bind(s.professional_id)
            .bind(s.structure_id)
            .bind(&s.csrf_token)
            .bind(&s.auth_method)
            .bind(s.created_at)
            .bind(s.expires_at)
            .execute()
            .await?;
        Ok(())
    }

    async fn session_with_tenant(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<(SessionRow, Tenant)>> {
        self.db
            .query(
                "SELECT se.*, s.name AS structure_name, s.kind, s.medical_roles, s.qualifier_roles,
                        s.identity_documents, s.identity_policy, p.first_name, p.last_name,
                        string_agg(m.role, ',') AS roles
                 FROM sessions se
                 JOIN structures s ON s.id = se.structure_id
                 JOIN professionals p ON p.id = se.professional_id AND p.active
                 JOIN memberships m ON m.structure_id = se.structure_id
                                   AND m.professional_id = se.professional_id
                 WHERE se.token_hash = $1
                 GROUP BY se.token_hash, s.id, p.id",
            )
            .bind(token_hash)
            .optional(|r| {
                let session = SessionRow {
                    token_hash: r.get("token_hash")?,
                    professional_id: r.get("professional_id")?,
                    structure_id: r.get("structure_id")?,
                    csrf_token: r.get("csrf_token")?,
                    auth_method: r.get("auth_method")?,
                    created_at: r.get("created_at")?,
                    last_seen_at: r.get("last_seen_at")?,
                    expires_at: r.get("expires_at")?,
                    professional_name: rows::full_name(r)?,
                    structure_name: r.get("structure_name")?,
                };
                let tenant = rows::tenant(r, session.structure_id, session.professional_id)?;
                Ok((session, tenant))
            })
            .await
    }

    async fn touch_session(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<()> {
        self.db
            .query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(token_hash)
            .execute()
            .await?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        self.db
            .query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute()
            .await?;
        Ok(())
    }

    async fn purge_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.db
            .query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(now)
            .execute()
            .await
    }
}
