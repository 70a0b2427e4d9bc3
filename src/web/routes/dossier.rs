//! One user's file: opening it (always traced), and adding episodes, activity, notes.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use uuid::Uuid;

use super::parse_id;
use crate::domain::audit::AuditAction;
use crate::domain::care::{self, ActivityKind, Confidentiality, EpisodeKind};
use crate::domain::procedure::IdentityAction;
use crate::domain::text;
use crate::domain::usager::parse_event_date;
use crate::services::{audit, files};
use crate::store::{NewActivity, NewEpisode, NewNote};
use crate::web::extract::RawForm;
use crate::web::session::Ctx;
use crate::web::views::dossier::{FileView, Forms, SectionForm};
use crate::web::views::{self};
use crate::web::{AppError, AppState};

/// Opens the file (read and journaled), then renders it.
pub(super) async fn render(
    st: &AppState,
    ctx: &Ctx,
    id: Uuid,
    forms: Forms,
    status: StatusCode,
    details: &str,
) -> Result<Response, AppError> {
    let t = &ctx.tenant;
    let opened = files::open(st.store.as_ref(), &st.team, t, id, details).await?;
    let c = &opened.contents;
    let usager = &c.usager;
    let writable: Vec<Confidentiality> = Confidentiality::ALL
        .iter()
        .copied()
        .filter(|c| t.may_write(*c))
        .collect();
    let agent_token = crate::web::card_agent::token(st, ctx);
    let view = FileView {
        usager,
        episodes: &c.episodes,
        activities: &c.activities,
        notes: &c.notes,
        documents: &c.documents,
        dmp: crate::domain::dmp::DmpConsent::from_records(&c.dmp_consent),
        deposits: &opened.dmp_deposits,
        patient_view: st
            .dmp
            .patient_view(&usager.data.identity, &usager.vigilance),
        messages: &opened.messages,
        correspondents: &opened.correspondents,
        unattached: &opened.unattached,
        mss_ready: match (st.mss.domain(), &opened.structure_mailbox) {
            (None, _) => views::messages::Readiness::NotReady(
                "Aucun opérateur MSSanté n'est configuré sur cette instance : les messages ne peuvent pas être écrits.",
            ),
            (Some(_), None) => views::messages::Readiness::NotReady(
                "La structure n'a pas encore de boîte MSSanté : sa direction l'indique dans « Paramètres de la structure ».",
            ),
            (Some(_), Some(_)) => views::messages::Readiness::Ready,
        },
        team: &opened.team,
        writable: &writable,
        can_edit: t.may(IdentityAction::Edit),
        csrf: &ctx.session.csrf_token,
        today: Utc::now().date_naive().format("%Y-%m-%d").to_string(),
        forms,
        quality: views::vigilance::FilePanel {
            usager,
            pairs: &c.pairs,
            merges: &c.merges,
            markers: &opened.markers,
            due: opened.reverification_due.clone(),
            can_merge: t.may(IdentityAction::Merge),
            can_flag: t.may(IdentityAction::MarkDoubtful),
            is_referent: super::vigilance::is_referent(ctx),
            csrf: &ctx.session.csrf_token,
        },
        identity: views::identite::Panel {
            usager,
            can_qualify: t.may_qualify(),
            can_link: super::identite::may_link(ctx),
            documents: &t.identity_documents,
            calls: &c.insi_calls,
            lift: c.anonymity_lift.as_ref(),
            csrf: &ctx.session.csrf_token,
            agent_token: agent_token.as_deref(),
            today: Utc::now().date_naive().format("%Y-%m-%d").to_string(),
        },
    };
    let title = format!("Dossier de {}", usager.data.identity.display_name());
    Ok((
        status,
        views::layout::page(
            ctx,
            st.config.is_sandbox(),
            &title,
            views::dossier::page(&view),
        ),
    )
        .into_response())
}

#[derive(serde::Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    traits: Option<String>,
}

pub async fn show(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    let forms = Forms {
        notice: (q.traits.as_deref() == Some("format-ins")).then_some(
            "Les traits stricts ont été enregistrés au format de l'INS (majuscules sans accents ; Œ → OE, ’ → ') : vérifiez-les avec la personne et sa pièce d'identité.",
        ),
        ..Forms::default()
    };
    render(&st, &ctx, id, forms, StatusCode::OK, "").await
}

fn back(id: Uuid, anchor: &str) -> Response {
    Redirect::to(&format!("/usagers/{id}#{anchor}")).into_response()
}

fn keep(form: &RawForm, multi: &str) -> SectionForm {
    SectionForm {
        values: form
            .0
            .iter()
            .filter(|(k, _)| k != "_csrf")
            .cloned()
            .collect(),
        multi: form.all(multi).into_iter().map(str::to_string).collect(),
        errors: Default::default(),
    }
}

pub async fn add_episode(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    form: RawForm,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    super::require_live(&st, &ctx, id).await?;
    let today = Utc::now().date_naive();
    let mut kept = keep(&form, "");
    let kind = form
        .get("kind")
        .parse::<EpisodeKind>()
        .map_err(|e| kept.errors.insert("kind", e.to_string()))
        .ok();
    let start = parse_event_date(form.get("start_date"), today)
        .map_err(|e| kept.errors.insert("start_date", e.to_string()))
        .ok();
    let end = match form.get("episode_end_date").trim() {
        "" => None,
        v => parse_event_date(v, today)
            .map_err(|e| kept.errors.insert("episode_end_date", e.to_string()))
            .ok(),
    };
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        kept.errors.insert(
            "episode_end_date",
            "la fin ne peut pas précéder le début".into(),
        );
    }
    let referent = match form.get("referent_id") {
        "" => None,
        r => Some(Uuid::parse_str(r).map_err(|_| AppError::BadRequest("référent inconnu".into()))?),
    };
    match (kind, start) {
        (Some(kind), Some(start_date)) if kept.errors.is_empty() => {
            let e = NewEpisode {
                kind,
                start_date,
                end_date: end,
                referent_id: referent,
            };
            let entry = audit::event(
                &ctx.tenant,
                AuditAction::EpisodeAdded,
                Some(id),
                kind.label(),
            );
            st.store.add_episode(&ctx.tenant, id, &e, &[entry]).await?;
            Ok(back(id, "prises-en-charge"))
        }
        _ => {
            render(
                &st,
                &ctx,
                id,
                Forms {
                    episode: kept,
                    ..Default::default()
                },
                StatusCode::UNPROCESSABLE_ENTITY,
                "après saisie incomplète",
            )
            .await
        }
    }
}

pub async fn close_episode(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, episode)): Path<(String, String)>,
    form: RawForm,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    super::require_live(&st, &ctx, id).await?;
    let episode = parse_id(&episode)?;
    let today = Utc::now().date_naive();
    let end = match parse_event_date(form.get("end_date"), today) {
        Ok(d) => d,
        Err(e) => {
            let mut kept = SectionForm::default();
            kept.errors
                .insert("episode_end_date", format!("clôture : {e}"));
            return render(
                &st,
                &ctx,
                id,
                Forms {
                    episode: kept,
                    ..Default::default()
                },
                StatusCode::UNPROCESSABLE_ENTITY,
                "après saisie incomplète",
            )
            .await;
        }
    };
    let entry = audit::event(
        &ctx.tenant,
        AuditAction::EpisodeUpdated,
        Some(id),
        format!("clôture au {}", views::date_fr(end)),
    );
    match st
        .store
        .close_episode(&ctx.tenant, id, episode, end, &[entry])
        .await
    {
        Ok(()) => Ok(back(id, "prises-en-charge")),
        // The episode exists but starts after that date.
        Err(crate::store::StoreError::NotFound)
            if st
                .store
                .episodes(&ctx.tenant, id)
                .await?
                .iter()
                .any(|e| e.id == episode) =>
        {
            let mut kept = SectionForm::default();
            kept.errors.insert(
                "episode_end_date",
                "clôture : la date de fin précède le début de la prise en charge".into(),
            );
            render(
                &st,
                &ctx,
                id,
                Forms {
                    episode: kept,
                    ..Default::default()
                },
                StatusCode::UNPROCESSABLE_ENTITY,
                "après saisie incomplète",
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn add_activity(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    form: RawForm,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    super::require_live(&st, &ctx, id).await?;
    let today = Utc::now().date_naive();
    let mut kept = keep(&form, "participants");
    let kind = form
        .get("kind")
        .parse::<ActivityKind>()
        .map_err(|e| kept.errors.insert("kind", e.to_string()))
        .ok();
    let date = parse_event_date(form.get("date"), today)
        .map_err(|e| kept.errors.insert("date", e.to_string()))
        .ok();
    let duration = care::parse_duration(form.get("duration"))
        .map_err(|e| kept.errors.insert("duration", e.to_string()))
        .ok()
        .flatten();
    let comment = text::optional_line(form.get("comment"), 500)
        .map_err(|e| kept.errors.insert("comment", e.to_string()))
        .ok()
        .flatten();
    let participant_ids: Vec<Uuid> = form
        .all("participants")
        .iter()
        .filter_map(|p| Uuid::parse_str(p).ok())
        .collect();
    match (kind, date) {
        (Some(kind), Some(date)) if kept.errors.is_empty() => {
            let a = NewActivity {
                kind,
                date,
                duration_minutes: duration,
                participant_ids,
                comment,
            };
            let entry = audit::event(
                &ctx.tenant,
                AuditAction::ActivityAdded,
                Some(id),
                kind.label(),
            );
            st.store.add_activity(&ctx.tenant, id, &a, &[entry]).await?;
            Ok(back(id, "activites"))
        }
        _ => {
            render(
                &st,
                &ctx,
                id,
                Forms {
                    activity: kept,
                    ..Default::default()
                },
                StatusCode::UNPROCESSABLE_ENTITY,
                "après saisie incomplète",
            )
            .await
        }
    }
}

pub async fn add_note(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    form: RawForm,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    super::require_live(&st, &ctx, id).await?;
    let mut kept = keep(&form, "");
    let class = form
        .get("confidentiality")
        .parse::<Confidentiality>()
        .map_err(|e| kept.errors.insert("confidentiality", e.to_string()))
        .ok();
    if let Some(c) = class
        && !ctx.tenant.may_write(c)
    {
        kept.errors.insert(
            "confidentiality",
            "vos rôles ne permettent pas d'écrire une note de ce niveau".into(),
        );
    }
    let body = text::multi_line(form.get("body"), 10_000)
        .map_err(|e| kept.errors.insert("body", format!("note : {e}")))
        .ok();
    match (class, body) {
        (Some(confidentiality), Some(body)) if kept.errors.is_empty() => {
            let entry = audit::event(
                &ctx.tenant,
                AuditAction::NoteAdded,
                Some(id),
                confidentiality.label(),
            );
            st.store
                .add_note(
                    &ctx.tenant,
                    id,
                    &NewNote {
                        confidentiality,
                        body,
                    },
                    &[entry],
                )
                .await?;
            Ok(back(id, "notes"))
        }
        _ => {
            render(
                &st,
                &ctx,
                id,
                Forms {
                    note: kept,
                    ..Default::default()
                },
                StatusCode::UNPROCESSABLE_ENTITY,
                "après saisie incomplète",
            )
            .await
        }
    }
}
