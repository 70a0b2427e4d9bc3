//! Writing a message from a user's file and sending it through the outbox
//! (`jobs::mss` runs [`perform`]). The rules (`domain::mss`) are checked
//! when the message is written and again when its job sends it: an opposition
//! recorded in between, an identity no longer qualified, a document deposited
//! since as masked — nothing goes.

use chrono::Utc;
use uuid::Uuid;

use super::MssService;
use crate::connectors::mss::message::{Attached, Outgoing, compose};
use crate::connectors::mss::smtp::SmtpError;
use crate::connectors::mss::xdm::{self, Producer};
use crate::domain::audit::AuditAction;
use crate::domain::dmp::{DmpConsent, DmpOperation, DmpVisibility};
use crate::domain::dmp_codes::structure_codes;
use crate::domain::document::document_type;
use crate::domain::mss::{
    MssHeaders, MssRefusal, display_subject, may_send_to_professional, may_write_to_patient,
    patient_address, xdm_subject,
};
use crate::domain::mss_message::{
    MAX_BODY, MAX_DOCUMENTS, MAX_RECIPIENTS, MAX_SUBJECT, MessageState, typed_addresses,
};
use crate::domain::sharing::ShareableIdentity;
use crate::domain::tenant::Tenant;
use crate::domain::text::{multi_line, single_line};
use crate::services::audit;
use crate::services::dmp::{Attempt, DepositPackage, Signatory};
use crate::services::error::{ServiceError, ServiceResult};
use crate::store::{Document, MssMessage, NewMessage, Store, Structure, Usager};

/// Whom a message is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipients {
    /// The user's own Mon espace santé mailbox.
    Patient { reply_allowed: bool },
    /// Professionals: addresses chosen in the address book, and typed ones.
    Professionals { chosen: Vec<String>, typed: String },
}

/// What the author wrote.
#[derive(Debug, Clone)]
pub struct Draft {
    pub to: Recipients,
    pub subject: String,
    pub body: String,
    /// Documents of the file to attach, in order (at most
    /// [`MAX_DOCUMENTS`]).
    pub documents: Vec<Uuid>,
    /// Send even to typed addresses the Annuaire does not list.
    pub confirm_unknown: bool,
    /// The form's key (a UUID): the message's Message-ID, so that a form
    /// sent twice writes one message.
    pub form_key: Option<String>,
    /// « Répondre »: the message of the file this one answers (its
    /// conversation goes on: In-Reply-To, References).
    pub reply_to: Option<Uuid>,
}

/// Why a draft is sent back to its author (what they typed is kept).
#[derive(Debug, Clone, Default)]
pub struct Refusal {
    /// Field → what to fix.
    pub errors: Vec<(&'static str, String)>,
    /// Typed addresses the Annuaire's MSSanté list does not hold: sent only
    /// once the author confirms.
    pub unknown: Vec<String>,
}

/// The visibility the user's DMP has for a document: the most restrictive of
/// the active deposits of any of its versions (`Normale` when never deposited).
async fn visibilities(
    store: &dyn Store,
    t: &Tenant,
    usager_id: Uuid,
    doc: &Document,
    versions: &[Document],
) -> ServiceResult<Vec<DmpVisibility>> {
    let set: Vec<Uuid> = versions
        .iter()
        .filter(|v| v.set_id == doc.set_id)
        .map(|v| v.id)
        .collect();
    let mut out: Vec<DmpVisibility> = store
        .dmp_deposits(t, usager_id)
        .await?
        .into_iter()
        .filter(|d| {
            set.contains(&d.document_id)
                && d.operation == DmpOperation::Depot
                && d.state.is_active()
        })
        .map(|d| d.visibility)
        .collect();
    if out.is_empty() {
        out.push(DmpVisibility::Normale);
    }
    Ok(out)
}

/// The rules for this message, now: the identity the archive may carry
/// (the user's, qualified) and the recipients' addresses, or why not.
fn gate<'a>(
    u: &'a Usager,
    consent: &DmpConsent,
    to_patient: bool,
    professionals: &[String],
    documents: &[DmpVisibility],
) -> Result<(Option<ShareableIdentity<'a>>, Vec<String>), MssRefusal> {
    let (identity, vigilance) = (&u.data.identity, &u.vigilance);
    if to_patient {
        let shared = may_write_to_patient(
            identity,
            vigilance,
            consent.mss_opposed.is_some(),
            documents,
        )?;
        let to = vec![patient_address(shared.ins)];
        Ok((Some(shared), to))
    } else {
        may_send_to_professional(documents)?;
        let shared = crate::domain::sharing::shareable(identity, vigilance).ok();
        Ok((shared, professionals.to_vec()))
    }
}

/// Writes a message from the file and queues it: the rules, the fields, the
/// recipients (typed ones checked against the Annuaire), then the message and
/// its job in one transaction, journaled. An anonymous user is refused
/// before anything is read of the draft.
pub async fn request(
    store: &dyn Store,
    mss: &MssService,
    t: &Tenant,
    usager_id: Uuid,
    draft: &Draft,
) -> ServiceResult<Result<MssMessage, Refusal>> {
    let u = crate::services::identity::live_usager(store, t, usager_id).await?;
    if u.data.identity.is_anonymous() {
        return Err(ServiceError::Refused(
            "accueil anonyme : aucun message ne part vers une messagerie de santé pour cette personne".into(),
        ));
    }
    let structure = store
        .get_structure(t.structure_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let sender = match (&structure.mss_mailbox, mss.domain()) {
        (Some(m), Some(_)) => m.clone(),
        (_, None) => {
            return Err(ServiceError::Refused(
                "aucun opérateur MSSanté n'est configuré sur cette instance".into(),
            ));
        }
        (None, _) => {
            return Err(ServiceError::Refused(
                "la structure n'a pas encore de boîte MSSanté : sa direction l'indique dans « Paramètres de la structure »".into(),
            ));
        }
    };
    let mut refusal = Refusal::default();
    let subject = single_line(&draft.subject, MAX_SUBJECT)
        .map_err(|e| refusal.errors.push(("subject", format!("objet : {e}"))))
        .ok();
    let body = multi_line(&draft.body, MAX_BODY)
        .map_err(|e| refusal.errors.push(("body", format!("message : {e}"))))
        .ok();
    let answered = match draft.reply_to {
        None => None,
        Some(id) => Some(
            store
                .mss_messages(t, usager_id)
                .await?
                .into_iter()
                .find(|m| m.id == id && !m.outgoing)
                .ok_or(ServiceError::NotFound)?,
        ),
    };
    let versions = store.documents(t, usager_id).await?;
    let mut docs: Vec<&Document> = Vec::new();
    for id in &draft.documents {
        match versions.iter().find(|d| d.id == *id) {
            Some(d) if docs.iter().any(|x| x.id == d.id) => {}
            Some(d) if d.superseded_at.is_none() => docs.push(d),
            Some(d) => refusal.errors.push((
                "document",
                format!(
                    "une version plus récente de « {} » existe : joignez la dernière",
                    d.title
                ),
            )),
            None => return Err(ServiceError::NotFound),
        }
    }
    if docs.len() > MAX_DOCUMENTS {
        refusal.errors.push((
            "document",
            format!("au plus {MAX_DOCUMENTS} documents par message"),
        ));
    }
    let mut documents = Vec::new();
    for d in &docs {
        documents.extend(visibilities(store, t, usager_id, d, &versions).await?);
    }
    let (to_patient, reply_allowed, professionals) = match &draft.to {
        Recipients::Patient { reply_allowed } => (true, *reply_allowed, Vec::new()),
        Recipients::Professionals { chosen, typed } => {
            let mut all = Vec::new();
            for text in chosen.iter().map(String::as_str).chain([typed.as_str()]) {
                match typed_addresses(text) {
                    Ok(list) => {
                        for a in list {
                            if !all.contains(&a) {
                                all.push(a);
                            }
                        }
                    }
                    Err(e) => refusal.errors.push(("typed", e.to_string())),
                }
            }
            if all.is_empty() && refusal.errors.is_empty() {
                refusal.errors.push((
                    "typed",
                    "choisissez au moins un correspondant ou tapez une adresse MSSanté".into(),
                ));
            }
            if all.len() > MAX_RECIPIENTS {
                refusal.errors.push((
                    "typed",
                    format!("au plus {MAX_RECIPIENTS} destinataires par message"),
                ));
            }
            // A typed address the Annuaire does not list: said, sent only once confirmed.
            let book: Vec<String> = store
                .correspondents(t)
                .await?
                .into_iter()
                .flat_map(|c| {
                    c.mailboxes
                        .into_iter()
                        .map(|m| m.address.to_ascii_lowercase())
                })
                .collect();
            let typed = typed_addresses(typed).unwrap_or_default();
            let listed = store.directory_known_mailboxes(&typed).await?;
            // The sender of the message answered wrote to the structure: known.
            let sender = answered.as_ref().map(|a| a.sender.to_ascii_lowercase());
            refusal.unknown = typed
                .into_iter()
                .filter(|a| !book.contains(a) && !listed.contains(a) && Some(a) != sender.as_ref())
                .collect();
            (false, false, all)
        }
    };
    let consent = DmpConsent::from_records(&store.dmp_consent(t, usager_id).await?);
    let recipients = match gate(&u, &consent, to_patient, &professionals, &documents) {
        Ok((_, to)) => to,
        Err(r) => {
            let field = match r {
                MssRefusal::InvisibleToPatient | MssRefusal::MaskedFromProfessionals => "document",
                _ => "to",
            };
            refusal.errors.push((field, r.to_string()));
            Vec::new()
        }
    };
    let (Some(subject), Some(body)) = (subject, body) else {
        return Ok(Err(refusal));
    };
    if !refusal.errors.is_empty() || (!refusal.unknown.is_empty() && !draft.confirm_unknown) {
        return Ok(Err(refusal));
    }
    let key = draft
        .form_key
        .as_deref()
        .and_then(|k| Uuid::parse_str(k.trim()).ok())
        .unwrap_or_else(Uuid::new_v4);
    let domain = sender.rsplit_once('@').map_or("escale", |(_, d)| d);
    let message_id = format!("<{key}@{domain}>");
    let shown_to = if to_patient {
        "sa messagerie Mon espace santé".to_string()
    } else {
        recipients.join(", ")
    };
    let entry = audit::event(
        t,
        AuditAction::MssRequested,
        Some(usager_id),
        format!(
            "à {shown_to} : « {subject} »{}{}",
            docs.iter()
                .map(|d| format!(", avec « {} » version {}", d.title, d.version))
                .collect::<String>(),
            if to_patient && !reply_allowed {
                ", sans réponse possible"
            } else {
                ""
            }
        ) + &answered
            .as_ref()
            .map(|a| format!(", en réponse à « {} »", display_subject(&a.subject)))
            .unwrap_or_default(),
    );
    let (m, _) = store
        .request_mss(
            t,
            &NewMessage {
                usager_id,
                message_id: &message_id,
                thread_id: answered.as_ref().map_or(&message_id, |a| &a.thread_id),
                in_reply_to: answered.as_ref().map(|a| a.message_id.as_str()),
                sender: &sender,
                recipients: &recipients,
                to_patient,
                reply_allowed,
                subject: &subject,
                body: &body,
                documents: &docs.iter().map(|d| d.id).collect::<Vec<_>>(),
            },
            &[entry],
        )
        .await?;
    Ok(Ok(m))
}

pub async fn retry(store: &dyn Store, t: &Tenant, usager_id: Uuid, id: Uuid) -> ServiceResult<()> {
    let entry = audit::event(
        t,
        AuditAction::MssRetried,
        Some(usager_id),
        format!("message {id}"),
    );
    store.retry_mss(t, usager_id, id, &[entry]).await?;
    Ok(())
}

pub async fn cancel(store: &dyn Store, t: &Tenant, usager_id: Uuid, id: Uuid) -> ServiceResult<()> {
    let entry = audit::event(
        t,
        AuditAction::MssCancelled,
        Some(usager_id),
        format!("message {id}"),
    );
    store.cancel_mss(t, usager_id, id, &[entry]).await?;
    Ok(())
}

/// The structure's messages in failure or not delivered after the delay of
/// the instance (`mss_undelivered_hours`).
pub async fn needing_attention(
    store: &dyn Store,
    mss: &MssService,
    t: &Tenant,
) -> ServiceResult<Vec<MssMessage>> {
    Ok(store
        .mss_attention(t, Utc::now() - mss.undelivered_after, 200)
        .await?)
}

/// One attempt to send a message, by its job: the rules again, the message
/// written (with the PDF and the `IHE_XDM.ZIP` of its document), then SMTP
/// submission. The Message-ID is the message's own at every attempt: a
/// server that got it before a crash does not deliver it twice.
pub async fn perform(
    store: &dyn Store,
    mss: &MssService,
    t: &Tenant,
    id: Uuid,
) -> ServiceResult<Attempt> {
    let Some(m) = store.mss_message(t.structure_id, id).await? else {
        return Ok(Attempt::Refused("message introuvable".into()));
    };
    let Some(usager_id) = m.usager_id.filter(|_| m.outgoing) else {
        return Ok(Attempt::Finished);
    };
    if m.state != MessageState::EnAttente {
        return Ok(Attempt::Finished);
    }
    let fail = |why: String| async move {
        let entry = audit::event(t, AuditAction::MssFailed, Some(usager_id), why.clone());
        store
            .set_mss_state(t, id, MessageState::Echec, Some(&why), None, &[entry])
            .await?;
        Ok::<_, ServiceError>(Attempt::Refused(why))
    };
    let u = match crate::services::identity::live_usager(store, t, usager_id).await {
        Ok(u) => u,
        Err(ServiceError::Refused(why)) => return fail(why).await,
        Err(e) => return Err(e),
    };
    if u.data.identity.is_anonymous() {
        return fail("accueil anonyme : rien ne part vers une messagerie de santé".into()).await;
    }
    let mut content = Vec::new();
    for doc in store.mss_documents(t.structure_id, id).await? {
        match store.document_content(t, usager_id, doc).await? {
            Some(c) => content.push(c),
            None => {
                return fail(
                    "document introuvable ou illisible pour la personne qui l'a envoyé".into(),
                )
                .await;
            }
        }
    }
    let mut documents = Vec::new();
    if !content.is_empty() {
        let versions = store.documents(t, usager_id).await?;
        for (d, _) in &content {
            documents.extend(visibilities(store, t, usager_id, d, &versions).await?);
        }
    }
    let consent = DmpConsent::from_records(&store.dmp_consent(t, usager_id).await?);
    let (patient, recipients) = match gate(&u, &consent, m.to_patient, &m.recipients, &documents) {
        Ok(g) => g,
        Err(r) => return fail(r.to_string()).await,
    };
    let Some(structure) = store.get_structure(t.structure_id).await? else {
        return fail("structure introuvable".into()).await;
    };
    let Some(sender) = structure.mss_mailbox.clone() else {
        return Ok(Attempt::Later(
            "la structure n'a plus de boîte MSSanté : sa direction l'indique dans « Paramètres de la structure »".into(),
        ));
    };
    let client = match mss.submission(&structure) {
        Ok(c) => c,
        Err(e) => return Ok(Attempt::Later(e)),
    };
    let bytes = match written(
        store,
        mss,
        t,
        &m,
        &structure,
        &sender,
        &recipients,
        patient.as_ref(),
        &content,
    )
    .await
    {
        Ok(b) => b,
        Err(why) => return fail(why).await,
    };
    match client.submit(&sender, &recipients, &bytes).await {
        Ok(answer) => {
            let entry = audit::event(
                t,
                AuditAction::MssSent,
                Some(usager_id),
                format!(
                    "{} à {} : « {} » (réponse du serveur : {answer})",
                    m.message_id,
                    if m.to_patient {
                        "sa messagerie Mon espace santé".to_string()
                    } else {
                        recipients.join(", ")
                    },
                    m.subject
                ),
            );
            store
                .set_mss_state(t, id, MessageState::Envoye, None, Some(&answer), &[entry])
                .await?;
            Ok(Attempt::Finished)
        }
        Err(e) if e.is_transient() => Ok(Attempt::Later(e.to_string())),
        Err(e @ (SmtpError::Refused(_) | SmtpError::Address(_) | SmtpError::Configuration(_))) => {
            fail(e.to_string()).await
        }
        Err(e) => Ok(Attempt::Later(e.to_string())),
    }
}

/// The message's bytes: its text, and with a document the readable PDF and,
/// when the identity is qualified, the `IHE_XDM.ZIP` of its CDA R2 N1.
#[allow(clippy::too_many_arguments)]
async fn written(
    store: &dyn Store,
    mss: &MssService,
    t: &Tenant,
    m: &MssMessage,
    structure: &Structure,
    sender: &str,
    recipients: &[String],
    patient: Option<&ShareableIdentity<'_>>,
    content: &[(Document, Vec<u8>)],
) -> Result<Vec<u8>, String> {
    let professional = store
        .get_professional(t.professional_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("l'auteur du message n'existe plus")?;
    let signatory = Signatory::of(&professional, structure);
    let codes = structure_codes(structure.kind, &structure.dmp_codes);
    let mut subject = m.subject.clone();
    let mut packages = Vec::new();
    if let Some(patient) = patient {
        for (doc, pdf) in content {
            let Some(doc_type) = document_type(&doc.type_code) else {
                continue;
            };
            packages.push(DepositPackage {
                structure,
                codes: &codes,
                author: signatory.author(&professional, structure),
                patient: patient.clone(),
                doc,
                doc_type,
                pdf,
                visibility: DmpVisibility::Normale,
                previous: None,
            });
        }
    }
    let cdas: Vec<String> = packages.iter().map(|p| p.cda()).collect();
    let submissions: Vec<_> = packages
        .iter()
        .zip(&cdas)
        .map(|(p, cda)| p.submission(cda.as_bytes(), m.id, m.created_at))
        .collect();
    let mut cda_codes: Vec<&str> = Vec::new();
    for p in &packages {
        if !cda_codes.contains(&p.doc_type.code.as_str()) {
            cda_codes.push(&p.doc_type.code);
        }
    }
    let mut archive = None;
    if let Some(patient) = patient.filter(|_| !submissions.is_empty()) {
        let producer = Producer {
            software: "Escale",
            version: env!("CARGO_PKG_VERSION"),
            structure: &structure.name,
            mailbox: sender,
        };
        archive =
            Some(xdm::archive(&submissions, recipients, &producer).map_err(|e| e.to_string())?);
        subject = xdm_subject(
            &m.subject,
            patient.birth_name,
            patient.first_names,
            patient.birth_date,
        );
    }
    let pdf_names: Vec<String> = (1..=content.len())
        .map(|n| format!("DOC{n:04}.PDF"))
        .collect();
    let mut attached = Vec::new();
    for ((_, pdf), name) in content.iter().zip(&pdf_names) {
        attached.push(Attached {
            file_name: name,
            content_type: "application/pdf",
            bytes: pdf,
        });
    }
    if let Some(a) = &archive {
        attached.push(Attached {
            file_name: xdm::ARCHIVE_NAME,
            content_type: "application/zip",
            bytes: a,
        });
    }
    let headers = MssHeaders::new(
        mss.nil(),
        &cda_codes,
        patient.is_some(),
        m.to_patient,
        m.reply_allowed,
    );
    compose(&Outgoing {
        from: sender,
        from_name: &structure.name,
        to: recipients,
        subject: &subject,
        body: &m.body,
        message_id: &m.message_id,
        in_reply_to: m.in_reply_to.as_deref().filter(|id| !is_synthetic(id)),
        references: &references(m),
        read_receipt_to: Some(sender),
        mss: &headers,
        attachments: &attached,
        date: m.created_at,
    })
    .map_err(|e| e.to_string())
}

/// `References` of an answer: the conversation's first message, then the
/// one answered (RFC 5322 §3.6.4, as far as Escale knows the thread).
fn references(m: &MssMessage) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(answered) = m.in_reply_to.as_ref().filter(|id| !is_synthetic(id)) {
        if m.thread_id != *answered {
            out.push(m.thread_id.clone());
        }
        out.push(answered.clone());
    }
    out
}

/// The id Escale gave a received message that had no Message-ID (never
/// sent back as In-Reply-To: the other side never knew it).
fn is_synthetic(id: &str) -> bool {
    id.starts_with(super::receiving::SYNTHETIC_PREFIX)
}
