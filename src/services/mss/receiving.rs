//! Reading the structure's mailbox (`jobs::mss_inbox` runs [`poll`]): each
//! message after the last UID read is recorded with the cursor in one
//! transaction — a delivery notice (DSN) or a read or processing notice
//! (MDN) moves the message it is about forward; a reply is threaded to its
//! conversation by In-Reply-To/References, a message from a Mon espace santé
//! mailbox goes to the one file with that INS, anything else waits « à
//! rattacher ». Attachments become documents of the file (PDF only, through
//! the antivirus hook, under the caps); the message itself is kept as it
//! came, so nothing is lost.

use chrono::Utc;
use uuid::Uuid;

use super::MssService;
use crate::connectors::mss::incoming::{self, Caps, Disposition, Incoming, Received};
use crate::domain::audit::AuditAction;
use crate::domain::care::Confidentiality;
use crate::domain::document::{DocumentFields, check_pdf, document_type};
use crate::domain::mss::{explain_smtp, is_patient_address};
use crate::domain::mss_message::{MessageState, explain_processing_error};
use crate::domain::tenant::Tenant;
use crate::services::audit;
use crate::services::error::{ServiceError, ServiceResult};
use crate::store::{MailboxEntry, MssMessage, NewDocument, NewIncoming, Store};

/// What one reading did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reading {
    pub read: usize,
    pub received: usize,
    pub notices: usize,
    /// More messages wait after these.
    pub more: bool,
}

/// Messages read in one step of the job.
pub const BATCH: usize = 100;
/// The type given to a document received by message (the file's readers
/// correct it when they know better).
const RECEIVED_TYPE: &str = "28653-4";
/// The start of the id given to a received message without Message-ID.
pub(super) const SYNTHETIC_PREFIX: &str = "<uid-";

/// Reads at most `max` new messages of the structure's mailbox. `Err`: the
/// operator could not be read (try again later), in French.
pub async fn poll(
    store: &dyn Store,
    mss: &MssService,
    t: &Tenant,
    max: usize,
) -> ServiceResult<Result<Reading, String>> {
    let Some(structure) = store.get_structure(t.structure_id).await? else {
        return Err(ServiceError::NotFound);
    };
    let Some(mailbox) = structure.mss_mailbox.clone() else {
        return Ok(Ok(Reading::default()));
    };
    let reader = match mss.reader(&structure) {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let caps = Caps::default();
    let cursor = store.mss_cursor(t.structure_id).await?;
    let after = cursor.map_or(0, |(_, uid)| uid.max(0) as u32);
    let mut batch = match reader
        .fetch_after(after, max, caps.message_bytes as u32)
        .await
    {
        Ok(b) => b,
        Err(e) => return Ok(Err(e.to_string())),
    };
    // A new UIDVALIDITY: the UIDs mean other messages, read again from the
    // start (what was kept already is known by its Message-ID).
    if cursor.is_some_and(|(v, _)| v != i64::from(batch.uid_validity)) && after > 0 {
        batch = match reader.fetch_after(0, max, caps.message_bytes as u32).await {
            Ok(b) => b,
            Err(e) => return Ok(Err(e.to_string())),
        };
    }
    let mut reading = Reading {
        more: batch.more,
        ..Reading::default()
    };
    for fetched in &batch.messages {
        let at = (i64::from(batch.uid_validity), i64::from(fetched.uid));
        let synthetic = format!(
            "{SYNTHETIC_PREFIX}{}-{}@{mailbox}>",
            batch.uid_validity, fetched.uid
        );
        let read = match &fetched.bytes {
            None => Err(format!(
                "message de {} octets non téléchargé : au-delà de la limite de {} octets ; lisez-le dans le webmail de l'opérateur",
                fetched.size, caps.message_bytes
            )),
            Some(bytes) => incoming::read(bytes, &caps).map_err(|e| e.to_string()),
        };
        let raw = fetched.bytes.as_deref().unwrap_or_default();
        reading.read += 1;
        match read {
            Err(why) => {
                let entry = NewIncoming {
                    usager_id: None,
                    message_id: &synthetic,
                    thread_id: &synthetic,
                    in_reply_to: None,
                    sender: "",
                    recipients: std::slice::from_ref(&mailbox),
                    from_patient: false,
                    subject: "(message illisible)",
                    body: "",
                    reason: Some(&why),
                    raw,
                };
                let journal = audit::event(
                    t,
                    AuditAction::MssReceived,
                    None,
                    format!("à rattacher : {why}"),
                );
                if store
                    .record_mailbox_entry(t, at, &MailboxEntry::Received(entry), &[journal])
                    .await?
                    .is_some()
                {
                    reading.received += 1;
                }
            }
            Ok(Incoming::Dsn {
                original,
                deliveries,
            }) => {
                let target = about(store, t, original.as_deref()).await?;
                let failed = deliveries.iter().find(|d| d.action == "failed");
                let (state, reason) = match failed {
                    Some(d) => {
                        let said = d.diagnostic.clone().unwrap_or_else(|| d.status.clone());
                        let code = said
                            .split_whitespace()
                            .next()
                            .and_then(|c| c.parse::<u16>().ok())
                            .unwrap_or(550);
                        (
                            MessageState::Echec,
                            Some(format!(
                                "non remis à {} : {}",
                                d.recipient,
                                explain_smtp(code, &said)
                            )),
                        )
                    }
                    None if deliveries.iter().any(|d| d.action == "delivered") => {
                        (MessageState::Delivre, None)
                    }
                    None => (MessageState::Envoye, None),
                };
                notice(store, t, at, target, state, reason, &mut reading).await?;
            }
            Ok(Incoming::Mdn {
                original,
                reader,
                disposition,
            }) => {
                let target = about(store, t, original.as_deref()).await?;
                let (state, reason) = match disposition {
                    Disposition::Displayed | Disposition::Processed => {
                        (MessageState::Lu, reader.map(|r| format!("lu par {r}")))
                    }
                    Disposition::Error { code, label } => (
                        MessageState::Echec,
                        Some(explain_processing_error(code, &label)),
                    ),
                    Disposition::Deleted => (MessageState::Envoye, None),
                };
                notice(store, t, at, target, state, reason, &mut reading).await?;
            }
            Ok(Incoming::Message(m)) => {
                let id = received(store, t, at, &mailbox, &synthetic, &m, raw).await?;
                if let Some((id, Some(usager))) = id {
                    reading.received += 1;
                    keep_attachments(store, mss, t, usager, id).await?;
                } else if id.is_some() {
                    reading.received += 1;
                }
            }
        }
    }
    Ok(Ok(reading))
}

/// The structure's outgoing message a notice is about.
async fn about(
    store: &dyn Store,
    t: &Tenant,
    original: Option<&str>,
) -> ServiceResult<Option<MssMessage>> {
    let Some(id) = original else {
        return Ok(None);
    };
    Ok(store
        .mss_by_message_ids(t.structure_id, &[id.to_string()])
        .await?
        .into_iter()
        .find(|m| m.outgoing))
}

/// Records a notice: the message moves forward (never back), journaled.
async fn notice(
    store: &dyn Store,
    t: &Tenant,
    at: (i64, i64),
    target: Option<MssMessage>,
    state: MessageState,
    reason: Option<String>,
    reading: &mut Reading,
) -> ServiceResult<()> {
    // About no message of ours, or late: only the cursor moves.
    let Some((m, next)) = target.and_then(|m| m.state.advance(state).map(|n| (m, n))) else {
        store
            .record_mailbox_entry(t, at, &MailboxEntry::Nothing, &[])
            .await?;
        return Ok(());
    };
    let entry = audit::event(
        t,
        AuditAction::MssNotice,
        m.usager_id,
        format!(
            "{} « {} » : {}{}",
            m.message_id,
            m.subject,
            next.label(),
            reason
                .as_deref()
                .map(|r| format!(" — {r}"))
                .unwrap_or_default()
        ),
    );
    store
        .record_mailbox_entry(
            t,
            at,
            &MailboxEntry::Notice {
                message: m.id,
                state: next,
                reason: reason.as_deref(),
            },
            &[entry],
        )
        .await?;
    reading.notices += 1;
    Ok(())
}

/// Records a received message: its conversation's file, else the one file
/// of its Mon espace santé sender's INS, else none (« à rattacher »).
async fn received(
    store: &dyn Store,
    t: &Tenant,
    at: (i64, i64),
    mailbox: &str,
    synthetic: &str,
    m: &Received,
    raw: &[u8],
) -> ServiceResult<Option<(Uuid, Option<Uuid>)>> {
    let mut ids: Vec<String> = m.in_reply_to.clone();
    ids.extend(m.references.iter().cloned());
    let thread = store
        .mss_by_message_ids(t.structure_id, &ids)
        .await?
        .into_iter()
        .find(|x| x.usager_id.is_some());
    let from_patient = is_patient_address(&m.from);
    let mut usager_id = thread.as_ref().and_then(|x| x.usager_id);
    if usager_id.is_none() && from_patient {
        let matricule = m.from.split('@').next().unwrap_or_default();
        let files = store.usagers_with_ins(t, matricule).await?;
        if let [only] = files.as_slice() {
            usager_id = Some(only.id);
        }
    }
    let message_id = m
        .message_id
        .clone()
        .unwrap_or_else(|| synthetic.to_string());
    let thread_id = thread
        .as_ref()
        .map_or_else(|| message_id.clone(), |x| x.thread_id.clone());
    let subject: String = m.subject.chars().take(300).collect();
    let body: String = m.text.chars().take(100_000).collect();
    let skipped = (!m.skipped.is_empty()).then(|| {
        format!(
            "pièces jointes non conservées (au-delà des limites) : {}",
            m.skipped.join(", ")
        )
    });
    let entry = NewIncoming {
        usager_id,
        message_id: &message_id,
        thread_id: &thread_id,
        in_reply_to: m.in_reply_to.first().map(String::as_str),
        sender: &m.from,
        recipients: &[mailbox.to_string()],
        from_patient,
        subject: &subject,
        body: &body,
        reason: skipped.as_deref(),
        raw,
    };
    let journal = audit::event(
        t,
        AuditAction::MssReceived,
        usager_id,
        format!(
            "{message_id} de {} : « {subject} »{}",
            if from_patient {
                "la messagerie Mon espace santé de la personne".to_string()
            } else {
                m.from.clone()
            },
            if usager_id.is_none() {
                " — à rattacher"
            } else {
                ""
            }
        ),
    );
    Ok(store
        .record_mailbox_entry(t, at, &MailboxEntry::Received(entry), &[journal])
        .await?
        .map(|id| (id, usager_id)))
}

/// The PDF attachments of a received message, kept as documents of the
/// file once they pass the antivirus hook; each journaled.
pub async fn keep_attachments(
    store: &dyn Store,
    mss: &MssService,
    t: &Tenant,
    usager_id: Uuid,
    message: Uuid,
) -> ServiceResult<Vec<String>> {
    let Some(raw) = store.mss_raw(t.structure_id, message).await? else {
        return Ok(Vec::new());
    };
    let Ok(Incoming::Message(m)) = incoming::read(&raw, &Caps::default()) else {
        return Ok(Vec::new());
    };
    let doc_type = document_type(RECEIVED_TYPE)
        .ok_or_else(|| ServiceError::Internal("type de document reçu inconnu".into()))?;
    let mut kept = Vec::new();
    for a in &m.attachments {
        let pdf =
            a.content_type == "application/pdf" || a.name.to_ascii_lowercase().ends_with(".pdf");
        if !pdf || check_pdf(&a.bytes).is_err() {
            continue;
        }
        if let Err(why) = mss.scan(&a.bytes).await {
            audit::record(
                store,
                t,
                AuditAction::MssReceived,
                Some(usager_id),
                format!("pièce jointe « {} » non conservée : {why}", a.name),
            )
            .await?;
            continue;
        }
        let title: String = format!("{} (reçu de {})", a.name, m.from)
            .chars()
            .take(200)
            .collect();
        let fields = DocumentFields {
            type_code: doc_type,
            title: title.clone(),
            date: Utc::now().date_naive(),
            confidentiality: Confidentiality::Partagee,
        };
        store
            .add_document(
                t,
                usager_id,
                &NewDocument {
                    fields: &fields,
                    media_type: "application/pdf",
                    content: &a.bytes,
                },
                None,
                &|d| {
                    vec![audit::event(
                        t,
                        AuditAction::DocumentAdded,
                        Some(usager_id),
                        format!(
                            "« {} » reçu par messagerie MSSanté (document {})",
                            d.title, d.id
                        ),
                    )]
                },
            )
            .await?;
        kept.push(title);
    }
    Ok(kept)
}

/// Received messages attached to no file.
pub async fn unattached(store: &dyn Store, t: &Tenant) -> ServiceResult<Vec<MssMessage>> {
    Ok(store.mss_unattached(t, 200).await?)
}

/// Attaches a received message to the file the desk chose, then keeps its
/// attachments there.
pub async fn attach(
    store: &dyn Store,
    mss: &MssService,
    t: &Tenant,
    usager_id: Uuid,
    message: Uuid,
) -> ServiceResult<()> {
    let u = crate::services::identity::live_usager(store, t, usager_id).await?;
    let entry = audit::event(
        t,
        AuditAction::MssAttached,
        Some(u.id),
        format!("message {message} rattaché au dossier"),
    );
    store.attach_mss(t, message, usager_id, &[entry]).await?;
    keep_attachments(store, mss, t, usager_id, message).await?;
    Ok(())
}

/// One message of the file, opened (journaled), with the file.
pub async fn open_message(
    store: &dyn Store,
    t: &Tenant,
    usager_id: Uuid,
    message: Uuid,
) -> ServiceResult<(crate::store::Usager, MssMessage)> {
    let u = store
        .get_usager(t, usager_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let m = store
        .mss_messages(t, usager_id)
        .await?
        .into_iter()
        .find(|m| m.id == message)
        .ok_or(ServiceError::NotFound)?;
    audit::record(
        store,
        t,
        AuditAction::MssOpened,
        Some(usager_id),
        format!("{} « {} »", m.message_id, m.subject),
    )
    .await?;
    Ok((u, m))
}

/// « Relever la boîte maintenant »: a reading of the structure's mailbox
/// under the asker's authority (one at a time).
pub async fn read_now(store: &dyn Store, t: &Tenant) -> ServiceResult<()> {
    let job = crate::store::NewJob {
        kind: crate::store::JobKind::MssInbox,
        idempotency_key: format!("releve-demandee-{}", Utc::now().timestamp() / 5),
        started_by: t.actor_label.clone(),
        actor_id: Some(t.professional_id),
        total: 0,
        payload: "{}".into(),
    };
    let entry = audit::event(
        t,
        AuditAction::JobStarted,
        None,
        "relève de la boîte MSSanté demandée",
    );
    store.enqueue_job(t.structure_id, &job, &[entry]).await?;
    Ok(())
}

/// Enqueues a reading of each structure's mailbox, at most one per
/// `slot` (the idempotency key), under the authority of a director.
pub async fn enqueue_readings(
    store: &crate::store::DynStore,
    slot: i64,
) -> crate::store::StoreResult<usize> {
    let mut enqueued = 0;
    for (structure_id, director) in store.mss_readers().await? {
        let job = crate::store::NewJob {
            kind: crate::store::JobKind::MssInbox,
            idempotency_key: format!("releve-{slot}"),
            started_by: crate::jobs::mss_inbox::ACTOR.to_string(),
            actor_id: Some(director),
            total: 0,
            payload: "{}".into(),
        };
        let (_, created) = store.enqueue_job(structure_id, &job, &[]).await?;
        if created {
            enqueued += 1;
        }
    }
    Ok(enqueued)
}
