//! MSSanté messages: the row and its outbox job in one transaction; reads
//! joined with the job (attempts, next try, last error) and bound to the
//! documents the tenant reads.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::audit::commit_journaled;
use super::{SqlStore, rows};
use crate::domain::mss_message::MessageState;
use crate::domain::tenant::Tenant;
use crate::store::mss::{MailboxEntry, MssMessage, MssStore, NewMessage};
use crate::store::sql::{Exec, Query, Row};
use crate::store::{JobKind, JobState, Journal, StoreError, StoreResult};

const MESSAGES_SQL: &str = "SELECT x.id, x.usager_id, x.direction, x.message_id, x.thread_id,
         x.in_reply_to, x.sender, x.recipients, x.to_patient, x.reply_allowed, x.subject,
         x.body, x.document_id, x.state, x.reason, x.server_answer, x.job_id,
         x.created_at, x.updated_at,
         j.state AS job_state, j.last_error, j.attempts, j.run_after,
         p.first_name, p.last_name, d.title, u.anonymous, u.alias, u.birth_name, u.first_names,
         (SELECT COUNT(*) FROM mss_message_documents md WHERE md.message_id = x.id)
             AS document_count
     FROM mss_messages x
     LEFT JOIN jobs j ON j.id = x.job_id
     LEFT JOIN professionals p ON p.id = x.author_id
     LEFT JOIN documents d ON d.id = x.document_id
     LEFT JOIN usagers u ON u.id = x.usager_id
     WHERE x.structure_id = $1";

fn message(r: &Row) -> StoreResult<MssMessage> {
    let own = rows::parse_code_with(&r.get::<String>("state")?, MessageState::from_code)?;
    let job = match r.get::<Option<String>>("job_state")? {
        Some(code) => Some(rows::parse_code_with(&code, JobState::parse)?),
        None => None,
    };
    let last_error: Option<String> = r.get("last_error")?;
    let (state, reason) = match (own, job) {
        // The job gave up: the message is in failure, with the job's reason.
        (MessageState::EnAttente, Some(JobState::Failed)) => (MessageState::Echec, last_error),
        (MessageState::EnAttente, _) => (own, last_error),
        _ => (own, r.get("reason")?),
    };
    let waiting = own == MessageState::EnAttente && job == Some(JobState::Queued);
    let label = match r.get::<Option<bool>>("anonymous")? {
        None => String::new(),
        Some(true) => r.get::<Option<String>>("alias")?.unwrap_or_default(),
        Some(false) => format!(
            "{} {}",
            r.get::<Option<String>>("birth_name")?.unwrap_or_default(),
            r.get::<Option<String>>("first_names")?.unwrap_or_default()
        ),
    };
    let author = match (
        r.get::<Option<String>>("first_name")?,
        r.get::<Option<String>>("last_name")?,
    ) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        _ => None,
    };
    Ok(MssMessage {
        id: r.get("id")?,
        usager_id: r.get("usager_id")?,
        outgoing: r.get::<String>("direction")? == "sortant",
        message_id: r.get("message_id")?,
        thread_id: r.get("thread_id")?,
        in_reply_to: r.get("in_reply_to")?,
        sender: r.get("sender")?,
        recipients: r
            .get::<String>("recipients")?
            .lines()
            .map(str::to_string)
            .collect(),
        to_patient: r.get("to_patient")?,
        reply_allowed: r.get("reply_allowed")?,
        subject: r.get("subject")?,
        body: r.get("body")?,
        document_id: r.get("document_id")?,
        document_title: r.get("title")?,
        document_count: r.get("document_count")?,
        state,
        reason,
        server_answer: r.get("server_answer")?,
        job_id: r.get("job_id")?,
        attempts: r.get::<Option<i32>>("attempts")?.unwrap_or(0),
        next_try: if waiting { r.get("run_after")? } else { None },
        author,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
        usager_label: label.trim().to_string(),
    })
}

/// The tenant's messages, without those whose document it does not read.
fn readable<'c>(on: impl Exec<'c>, t: &Tenant) -> Query<'c> {
    on.query(format!(
        "{MESSAGES_SQL} AND NOT EXISTS (SELECT 1 FROM mss_message_documents md
             JOIN documents dd ON dd.id = md.document_id
             WHERE md.message_id = x.id AND dd.confidentiality NOT IN ("
    ))
    .bind(t.structure_id)
    .push_list(t.readable_classes().into_iter().map(|c| c.code()))
    .push("))")
}

async fn one<'c>(
    on: impl Exec<'c>,
    t: &Tenant,
    usager_id: Uuid,
    id: Uuid,
) -> StoreResult<MssMessage> {
    readable(on, t)
        .push(" AND x.usager_id = ")
        .push_bind(usager_id)
        .push(" AND x.id = ")
        .push_bind(id)
        .optional(message)
        .await?
        .ok_or(StoreError::NotFound)
}

#[async_trait]
impl MssStore for SqlStore {
    async fn request_mss(
        &self,
        t: &Tenant,
        m: &NewMessage<'_>,
        journal: Journal<'_>,
    ) -> StoreResult<(MssMessage, bool)> {
        let now = Utc::now();
        let mut tx = self.db.begin_write().await?;
        let existing = readable(&mut tx, t)
            .push(" AND x.usager_id = ")
            .push_bind(m.usager_id)
            .push(" AND x.message_id = ")
            .push_bind(m.message_id)
            .optional(message)
            .await?;
        if let Some(existing) = existing {
            tx.commit().await?;
            return Ok((existing, false));
        }
        // The same form sent again by someone who cannot read its documents,
        // or for another file: the message exists; said, not a unique-index
        // error.
        let taken = tx
            .query("SELECT 1 AS one FROM mss_messages WHERE structure_id = $1 AND message_id = $2")
            .bind(t.structure_id)
            .bind(m.message_id)
            .optional(|r| r.get::<i32>("one"))
            .await?
            .is_some();
        if taken {
            return Err(StoreError::Conflict(
                "ce message a déjà été écrit depuis ce formulaire".into(),
            ));
        }
        // Only a live file of the structure, and a document the tenant reads of it.
        let file_ok = tx
            .query(
                "SELECT 1 AS one FROM usagers WHERE id = $1 AND structure_id = $2
                   AND merged_into IS NULL",
            )
            .bind(m.usager_id)
            .bind(t.structure_id)
            .optional(|r| r.get::<i32>("one"))
            .await?
            .is_some();
        let mut doc_ok = true;
        for doc in m.documents {
            doc_ok &= tx
                .query(
                    "SELECT 1 AS one FROM documents WHERE id = $1 AND usager_id = $2
                       AND structure_id = $3 AND confidentiality IN (",
                )
                .bind(*doc)
                .bind(m.usager_id)
                .bind(t.structure_id)
                .push_list(t.readable_classes().into_iter().map(|c| c.code()))
                .push(")")
                .optional(|r| r.get::<i32>("one"))
                .await?
                .is_some();
        }
        if !(file_ok && doc_ok) {
            return Err(StoreError::NotFound);
        }
        let id = Uuid::new_v4();
        let job_id =
            super::jobs::enqueue_outbox(&mut tx, t, JobKind::Mss, ("mss", "message"), id, now)
                .await?;
        tx.query(
            "INSERT INTO mss_messages (id, structure_id, usager_id, direction, message_id,
                 thread_id, in_reply_to, sender, recipients, to_patient, reply_allowed, subject,
                 body, document_id, state, job_id, author_id, created_at, updated_at)
             VALUES ($1, $2, $3, 'sortant', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                 $15, $16, $17, $17)",
        )
        .bind(id)
        .bind(t.structure_id)
        .bind(m.usager_id)
        .bind(m.message_id)
        .bind(m.thread_id)
        .bind(m.in_reply_to)
        .bind(m.sender)
        .bind(m.recipients.join("\n"))
        .bind(m.to_patient)
        .bind(m.reply_allowed)
        .bind(m.subject)
        .bind(m.body)
        .bind(m.documents.first().copied())
        .bind(MessageState::EnAttente.code())
        .bind(job_id)
        .bind(t.professional_id)
        .bind(now)
        .execute()
        .await?;
        for (position, doc) in m.documents.iter().enumerate() {
            tx.query(
                "INSERT INTO mss_message_documents (message_id, structure_id, document_id, position)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(t.structure_id)
            .bind(*doc)
            .bind(position as i32)
            .execute()
            .await?;
        }
        let created = one(&mut tx, t, m.usager_id, id).await?;
        commit_journaled(tx, t, journal).await?;
        Ok((created, true))
    }

    async fn mss_messages(&self, t: &Tenant, usager_id: Uuid) -> StoreResult<Vec<MssMessage>> {
        readable(&self.db, t)
            .push(" AND x.usager_id = ")
            .push_bind(usager_id)
            .push(" ORDER BY x.created_at DESC")
            .all(message)
            .await
    }

    async fn mss_message(&self, structure_id: Uuid, id: Uuid) -> StoreResult<Option<MssMessage>> {
        self.db
            .query(format!("{MESSAGES_SQL} AND x.id = $2"))
            .bind(structure_id)
            .bind(id)
            .optional(message)
            .await
    }

    async fn set_mss_state(
        &self,
        t: &Tenant,
        id: Uuid,
        state: MessageState,
        reason: Option<&str>,
        server_answer: Option<&str>,
        journal: Journal<'_>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        // A cancelled message stays cancelled.
        let n = tx
            .query(
                "UPDATE mss_messages SET state = $1, reason = $2,
                     server_answer = COALESCE($3, server_answer), updated_at = $4
                 WHERE id = $5 AND structure_id = $6 AND state <> 'annule'",
            )
            .bind(state.code())
            .bind(reason)
            .bind(server_answer)
            .bind(Utc::now())
            .bind(id)
            .bind(t.structure_id)
            .execute()
            .await?;
        if n != 1 {
            return Err(StoreError::Conflict("message annulé ou introuvable".into()));
        }
        commit_journaled(tx, t, journal).await
    }

    async fn retry_mss(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        id: Uuid,
        journal: Journal<'_>,
    ) -> StoreResult<()> {
        let now = Utc::now();
        let mut tx = self.db.begin_write().await?;
        let m = one(&mut tx, t, usager_id, id).await?;
        let Some(job_id) = m.job_id.filter(|_| m.state.may_retry()) else {
            return Err(StoreError::Conflict(format!(
                "ce message est « {} » : il ne se relance pas",
                m.state.label()
            )));
        };
        tx.query(
            "UPDATE mss_messages SET state = $1, reason = NULL, updated_at = $2
             WHERE id = $3 AND structure_id = $4",
        )
        .bind(MessageState::EnAttente.code())
        .bind(now)
        .bind(id)
        .bind(t.structure_id)
        .execute()
        .await?;
        super::jobs::requeue(&mut tx, t.structure_id, job_id, now).await?;
        commit_journaled(tx, t, journal).await
    }

    async fn cancel_mss(
        &self,
        t: &Tenant,
        usager_id: Uuid,
        id: Uuid,
        journal: Journal<'_>,
    ) -> StoreResult<()> {
        let now = Utc::now();
        let mut tx = self.db.begin_write().await?;
        let m = one(&mut tx, t, usager_id, id).await?;
        let Some(job_id) = m.job_id.filter(|_| m.state.may_cancel()) else {
            return Err(StoreError::Conflict(format!(
                "ce message est « {} » : il ne s'annule plus",
                m.state.label()
            )));
        };
        // Not while a runner holds it: it may be sending right now.
        let ended = super::jobs::cancel_unless_running(&mut tx, t, job_id, now).await?;
        if !ended {
            return Err(StoreError::Conflict(
                "l'envoi est en cours : attendez la réponse du serveur avant d'annuler".into(),
            ));
        }
        tx.query(
            "UPDATE mss_messages SET state = $1, reason = $2, updated_at = $3
             WHERE id = $4 AND structure_id = $5",
        )
        .bind(MessageState::Annule.code())
        .bind(format!("annulé par {}", t.actor_label))
        .bind(now)
        .bind(id)
        .bind(t.structure_id)
        .execute()
        .await?;
        commit_journaled(tx, t, journal).await
    }

    async fn mss_attention(
        &self,
        t: &Tenant,
        undelivered_before: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<MssMessage>> {
        readable(&self.db, t)
            .push(
                " AND x.direction = 'sortant' AND (x.state = 'echec'
                   OR (x.state = 'en_attente' AND j.state = 'echec')
                   OR (x.state IN ('en_attente', 'envoye') AND x.created_at < ",
            )
            .push_bind(undelivered_before)
            .push(")) ORDER BY x.updated_at DESC LIMIT ")
            .push_bind(limit)
            .all(message)
            .await
    }

    async fn mss_cursor(&self, structure_id: Uuid) -> StoreResult<Option<(i64, i64)>> {
        self.db
            .query("SELECT uid_validity, last_uid FROM mss_cursors WHERE structure_id = $1")
            .bind(structure_id)
            .optional(|r| Ok((r.get("uid_validity")?, r.get("last_uid")?)))
            .await
    }

    async fn record_mailbox_entry(
        &self,
        t: &Tenant,
        cursor: (i64, i64),
        entry: &MailboxEntry<'_>,
        journal: Journal<'_>,
    ) -> StoreResult<Option<Uuid>> {
        let now = Utc::now();
        let mut tx = self.db.begin_write().await?;
        let mut created = None;
        match entry {
            MailboxEntry::Nothing => {}
            MailboxEntry::Notice {
                message,
                state,
                reason,
            } => {
                tx.query(
                    "UPDATE mss_messages SET state = $1, reason = COALESCE($2, reason),
                         updated_at = $3
                     WHERE id = $4 AND structure_id = $5 AND state <> 'annule'",
                )
                .bind(state.code())
                .bind(*reason)
                .bind(now)
                .bind(*message)
                .bind(t.structure_id)
                .execute()
                .await?;
            }
            MailboxEntry::Received(m) => {
                let seen = tx
                    .query(
                        "SELECT id FROM mss_messages WHERE structure_id = $1 AND message_id = $2",
                    )
                    .bind(t.structure_id)
                    .bind(m.message_id)
                    .optional(|r| r.get::<Uuid>("id"))
                    .await?;
                if seen.is_none() {
                    let id = Uuid::new_v4();
                    tx.query(
                        "INSERT INTO mss_messages (id, structure_id, usager_id, direction,
                             message_id, thread_id, in_reply_to, sender, recipients, to_patient,
                             reply_allowed, subject, body, state, reason, raw, created_at,
                             updated_at)
                         VALUES ($1, $2, $3, 'entrant', $4, $5, $6, $7, $8, $9, $10, $11, $12,
                             $13, $14, $15, $16, $16)",
                    )
                    .bind(id)
                    .bind(t.structure_id)
                    .bind(m.usager_id)
                    .bind(m.message_id)
                    .bind(m.thread_id)
                    .bind(m.in_reply_to)
                    .bind(m.sender)
                    .bind(m.recipients.join("\n"))
                    .bind(m.from_patient)
                    .bind(false)
                    .bind(m.subject)
                    .bind(m.body)
                    .bind(MessageState::Recu.code())
                    .bind(m.reason)
                    .bind(m.raw)
                    .bind(now)
                    .execute()
                    .await?;
                    created = Some(id);
                }
            }
        }
        let (validity, uid) = cursor;
        let moved = tx
            .query(
                "UPDATE mss_cursors SET uid_validity = $1, last_uid = $2, read_at = $3
                 WHERE structure_id = $4",
            )
            .bind(validity)
            .bind(uid)
            .bind(now)
            .bind(t.structure_id)
            .execute()
            .await?;
        if moved == 0 {
            tx.query(
                "INSERT INTO mss_cursors (structure_id, uid_validity, last_uid, read_at)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(t.structure_id)
            .bind(validity)
            .bind(uid)
            .bind(now)
            .execute()
            .await?;
        }
        if created.is_some() || !matches!(entry, MailboxEntry::Received(_)) {
            commit_journaled(tx, t, journal).await?;
        } else {
            tx.commit().await?;
        }
        Ok(created)
    }

    async fn mss_by_message_ids(
        &self,
        structure_id: Uuid,
        ids: &[String],
    ) -> StoreResult<Vec<MssMessage>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.db
            .query(format!("{MESSAGES_SQL} AND x.message_id IN ("))
            .bind(structure_id)
            .push_list(ids.iter().map(String::as_str))
            .push(") ORDER BY x.created_at")
            .all(message)
            .await
    }

    async fn mss_unattached(&self, t: &Tenant, limit: i64) -> StoreResult<Vec<MssMessage>> {
        readable(&self.db, t)
            .push(" AND x.usager_id IS NULL ORDER BY x.created_at DESC LIMIT ")
            .push_bind(limit)
            .all(message)
            .await
    }

    async fn mss_raw(&self, structure_id: Uuid, id: Uuid) -> StoreResult<Option<Vec<u8>>> {
        Ok(self
            .db
            .query("SELECT raw FROM mss_messages WHERE structure_id = $1 AND id = $2")
            .bind(structure_id)
            .bind(id)
            .optional(|r| r.get::<Option<Vec<u8>>>("raw"))
            .await?
            .flatten())
    }

    async fn attach_mss(
        &self,
        t: &Tenant,
        id: Uuid,
        usager_id: Uuid,
        journal: Journal<'_>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        let live = tx
            .query(
                "SELECT 1 AS one FROM usagers WHERE id = $1 AND structure_id = $2
                   AND merged_into IS NULL",
            )
            .bind(usager_id)
            .bind(t.structure_id)
            .optional(|r| r.get::<i32>("one"))
            .await?
            .is_some();
        if !live {
            return Err(StoreError::NotFound);
        }
        let n = tx
            .query(
                "UPDATE mss_messages SET usager_id = $1, updated_at = $2
                 WHERE id = $3 AND structure_id = $4 AND usager_id IS NULL",
            )
            .bind(usager_id)
            .bind(Utc::now())
            .bind(id)
            .bind(t.structure_id)
            .execute()
            .await?;
        if n != 1 {
            return Err(StoreError::Conflict(
                "ce message est déjà rattaché à un dossier".into(),
            ));
        }
        commit_journaled(tx, t, journal).await
    }

    async fn mss_documents(&self, structure_id: Uuid, id: Uuid) -> StoreResult<Vec<Uuid>> {
        self.db
            .query(
                "SELECT document_id FROM mss_message_documents
                 WHERE structure_id = $1 AND message_id = $2 ORDER BY position",
            )
            .bind(structure_id)
            .bind(id)
            .all(|r| r.get("document_id"))
            .await
    }

    async fn mss_readers(&self) -> StoreResult<Vec<(Uuid, Uuid)>> {
        self.db
            .query(
                r#"SELECT s.id,
                     (SELECT m.professional_id FROM memberships m
                        JOIN professionals p ON p.id = m.professional_id AND p.active
                       WHERE m.structure_id = s.id AND m.role = $1
                       ORDER BY p.last_name COLLATE "C", p.first_name COLLATE "C", p.id
                       LIMIT 1) AS reader
                   FROM structures s WHERE s.mss_mailbox IS NOT NULL
                   ORDER BY s.id"#,
            )
            .bind(crate::domain::roles::Role::Directeur.code())
            .all(|r| Ok((r.get("id")?, r.get::<Option<Uuid>>("reader")?)))
            .await
            .map(|all| {
                all.into_iter()
                    .filter_map(|(s, reader)| Some((s, reader?)))
                    .collect()
            })
    }

    async fn set_mss_mailbox(
        &self,
        t: &Tenant,
        mailbox: Option<&str>,
        journal: Journal<'_>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        tx.query("UPDATE structures SET mss_mailbox = $1 WHERE id = $2")
            .bind(mailbox)
            .bind(t.structure_id)
            .execute()
            .await?;
        commit_journaled(tx, t, journal).await
    }
}
