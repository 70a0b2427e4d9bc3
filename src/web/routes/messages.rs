//! MSSanté from the file: « Écrire un message » (to the person or to
//! professionals), « Relancer », « Annuler »; and the structure's page of
//! messages needing someone.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::{dossier, parse_id};
use crate::services::mss::{self, Draft, Recipients};
use crate::web::extract::RawForm;
use crate::web::session::Ctx;
use crate::web::views::dossier::{Forms, SectionForm};
use crate::web::views::{self};
use crate::web::{AppError, AppState};

/// « Envoyer le message »: queued (the file shows its state), or the form
/// again with what was typed and what to fix.
pub async fn send(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    form: RawForm,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    let to = match form.get("msg_to") {
        "personne" => Recipients::Patient {
            reply_allowed: form.get("reply") == "1",
        },
        "professionnels" => Recipients::Professionals {
            chosen: form
                .all("correspondent")
                .into_iter()
                .map(str::to_string)
                .collect(),
            typed: form.get("msg_typed").to_string(),
        },
        _ => {
            return Err(AppError::BadRequest(
                "choisissez le destinataire : la personne ou des professionnels".into(),
            ));
        }
    };
    let documents = form
        .all("msg_document")
        .into_iter()
        .filter(|d| !d.is_empty())
        .map(|d| {
            parse_id(d)
                .map_err(|_| AppError::BadRequest("document inconnu : rouvrez le dossier".into()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let draft = Draft {
        to,
        subject: form.get("msg_subject").to_string(),
        body: form.get("msg_body").to_string(),
        documents,
        confirm_unknown: form.get("confirm_unknown") == "1",
        form_key: Some(form.get("form_key").to_string()),
        reply_to: match form.get("reply_to") {
            "" => None,
            r => Some(parse_id(r).map_err(|_| {
                AppError::BadRequest("message auquel répondre inconnu : rouvrez-le".into())
            })?),
        },
    };
    match mss::request(st.store.as_ref(), &st.mss, &ctx.tenant, id, &draft).await? {
        Ok(_) => {
            st.jobs.wake();
            Ok(Redirect::to(&format!("/usagers/{id}#messagerie")).into_response())
        }
        Err(refusal) => {
            let mut kept = SectionForm {
                values: form
                    .0
                    .iter()
                    .filter(|(k, _)| {
                        !["_csrf", "correspondent", "msg_document"].contains(&k.as_str())
                    })
                    .cloned()
                    .collect(),
                // The addresses and the documents ticked (neither can be
                // mistaken for the other).
                multi: form
                    .all("correspondent")
                    .into_iter()
                    .chain(form.all("msg_document"))
                    .map(str::to_string)
                    .collect(),
                errors: Default::default(),
            };
            for (field, message) in refusal.errors {
                let name = match field {
                    "subject" => "msg_subject",
                    "body" => "msg_body",
                    "document" => "msg_document",
                    "to" => "msg_to",
                    _ => "msg_typed",
                };
                // Several documents may each have a reason: all said.
                kept.errors
                    .entry(name)
                    .and_modify(|e| {
                        e.push_str(" ; ");
                        e.push_str(&message);
                    })
                    .or_insert(message);
            }
            let status = if kept.errors.is_empty() {
                StatusCode::OK
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            dossier::render(
                &st,
                &ctx,
                id,
                Forms {
                    message: kept,
                    unknown: refusal.unknown,
                    ..Default::default()
                },
                status,
                "après un message à corriger",
            )
            .await
        }
    }
}

pub async fn retry(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, message)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let (id, message) = (parse_id(&id)?, parse_id(&message)?);
    mss::retry(st.store.as_ref(), &ctx.tenant, id, message).await?;
    st.jobs.wake();
    Ok(Redirect::to(&format!("/usagers/{id}#messagerie")).into_response())
}

pub async fn cancel(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, message)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let (id, message) = (parse_id(&id)?, parse_id(&message)?);
    mss::cancel(st.store.as_ref(), &ctx.tenant, id, message).await?;
    Ok(Redirect::to(&format!("/usagers/{id}#messagerie")).into_response())
}

/// The structure's messages in failure or not delivered in time, and
/// those received that wait for a file.
pub async fn attention(State(st): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    let list = mss::needing_attention(st.store.as_ref(), &st.mss, &ctx.tenant).await?;
    let unattached = mss::unattached(st.store.as_ref(), &ctx.tenant).await?;
    Ok(views::layout::page(
        &ctx,
        st.config.is_sandbox(),
        "Messagerie : messages à suivre",
        views::messages::attention(
            &list,
            &unattached,
            st.config.mss.undelivered_hours,
            &ctx.session.csrf_token,
        ),
    )
    .into_response())
}

/// « Relever la boîte maintenant »: a reading of the structure's mailbox.
pub async fn read_now(State(st): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    mss::read_now(st.store.as_ref(), &ctx.tenant).await?;
    st.jobs.wake();
    Ok(Redirect::to("/messagerie").into_response())
}

/// One message of the file, opened (journaled).
pub async fn open(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, message)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let (id, message) = (parse_id(&id)?, parse_id(&message)?);
    let (usager, m) = mss::open_message(st.store.as_ref(), &ctx.tenant, id, message).await?;
    Ok(views::layout::page(
        &ctx,
        st.config.is_sandbox(),
        &format!(
            "Message : {}",
            crate::domain::mss::display_subject(&m.subject)
        ),
        views::messages::message_page(&usager, &m, &ctx.session.csrf_token),
    )
    .into_response())
}

/// « Rattacher à ce dossier ».
pub async fn attach(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    form: RawForm,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    let message = parse_id(form.get("message"))
        .map_err(|_| AppError::BadRequest("choisissez le message à rattacher".into()))?;
    mss::attach(st.store.as_ref(), &st.mss, &ctx.tenant, id, message).await?;
    Ok(Redirect::to(&format!("/usagers/{id}#messagerie")).into_response())
}
