//! Merges and unmerges (with their preview), collisions and referent tasks.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::super::parse_id;
use super::pairs::form_id;
use super::*;
use crate::domain::audit::AuditAction;
use crate::domain::duplicates::Collision;
use crate::domain::merge::Side;
use crate::domain::procedure::IdentityAction;
use crate::domain::text;
use crate::services::audit;
use crate::services::identity_quality::{self, MergeError};
use crate::store::StoreError;
use crate::web::extract::RawForm;
use crate::web::session::Ctx;
use crate::web::views;
use crate::web::{AppError, AppState};

#[derive(Deserialize)]
pub struct MergeQuery {
    #[serde(default)]
    survivant: String,
    #[serde(default)]
    fusionne: String,
}

pub async fn merge_preview(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(q): Query<MergeQuery>,
) -> Result<Response, AppError> {
    require(&ctx, IdentityAction::Merge, MERGE_FORBIDDEN)?;
    let t = &ctx.tenant;
    let (s_id, m_id) = (parse_id(&q.survivant)?, parse_id(&q.fusionne)?);
    let (survivor, merged) =
        tokio::try_join!(st.store.get_usager(t, s_id), st.store.get_usager(t, m_id))?;
    let (survivor, merged) = (
        survivor.ok_or(AppError::NotFound)?,
        merged.ok_or(AppError::NotFound)?,
    );
    let moved = st.store.merge_preview(t, m_id).await?;
    let (data, vigilance) = crate::domain::merge::survivor_state(
        &Side {
            data: &survivor.data,
            vigilance: &survivor.vigilance,
        },
        &Side {
            data: &merged.data,
            vigilance: &merged.vigilance,
        },
    );
    for id in [s_id, m_id] {
        audit::record(
            st.store.as_ref(),
            t,
            AuditAction::FileOpened,
            Some(id),
            "aperçu de fusion",
        )
        .await?;
    }
    let body = views::vigilance::merge_preview(&views::vigilance::MergePreview {
        survivor: &survivor,
        merged: &merged,
        moved: &moved,
        kept_name: data.identity.display_name(),
        kept_status: vigilance.status().label(),
        csrf: &ctx.session.csrf_token,
        notes_hidden: t.readable_classes().len() < crate::domain::care::Confidentiality::ALL.len(),
    });
    Ok(page(&st, &ctx, "Fusionner deux dossiers", body))
}

pub async fn merge(
    State(st): State<AppState>,
    ctx: Ctx,
    form: RawForm,
) -> Result<Response, AppError> {
    require(&ctx, IdentityAction::Merge, MERGE_FORBIDDEN)?;
    let (s_id, m_id) = (form_id(&form, "survivant")?, form_id(&form, "fusionne")?);
    identity_quality::merge_files(st.store.as_ref(), &ctx.tenant, s_id, m_id)
        .await
        .map_err(|e| match e {
            MergeError::Refused(r) => AppError::Refused(r.to_string()),
            MergeError::Store(StoreError::Conflict(m)) => AppError::Refused(m),
            MergeError::Store(e) => AppError::Store(e),
        })?;
    Ok(Redirect::to(&format!("/usagers/{s_id}#qualite")).into_response())
}

pub async fn unmerge(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw): Path<String>,
) -> Result<Response, AppError> {
    require(&ctx, IdentityAction::Merge, MERGE_FORBIDDEN)?;
    let id = parse_id(&raw)?;
    let record = identity_quality::unmerge(st.store.as_ref(), &ctx.tenant, id)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) => AppError::Refused(m),
            e => AppError::Store(e),
        })?;
    Ok(Redirect::to(&format!("/usagers/{}#qualite", record.survivor_id)).into_response())
}

pub async fn close_task(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw): Path<String>,
) -> Result<Response, AppError> {
    require_referent(&ctx)?;
    let id = parse_id(&raw)?;
    let entry = audit::event(&ctx.tenant, AuditAction::TaskClosed, None, id.to_string());
    st.store
        .close_identity_task(&ctx.tenant, id, &[entry])
        .await?;
    Ok(Redirect::to("/identitovigilance#h-taches").into_response())
}

pub async fn flag_collision(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw): Path<String>,
    form: RawForm,
) -> Result<Response, AppError> {
    require(
        &ctx,
        IdentityAction::MarkDoubtful,
        "La procédure d'identitovigilance de la structure ne permet pas à vos rôles de signaler une collision.",
    )?;
    let id = parse_id(&raw)?;
    super::super::require_live(&st, &ctx, id).await?;
    let note = text::single_line(form.get("note"), 300)
        .map_err(|e| AppError::BadRequest(format!("motif : {e}")))?;
    let referent = is_referent(&ctx);
    let collision = match form.get("collision") {
        "COLV" if referent => Some(Collision::Verifiee),
        "" if referent => None,
        _ => Some(Collision::Potentielle),
    };
    let entry = audit::event(
        &ctx.tenant,
        AuditAction::CollisionFlagged,
        Some(id),
        collision.map(|c| c.label()).unwrap_or("signalement levé"),
    );
    st.store
        .set_collision(&ctx.tenant, id, collision, Some(&note), &[entry])
        .await?;
    if collision == Some(Collision::Potentielle) {
        st.store
            .add_identity_task(
                &ctx.tenant,
                id,
                "collision",
                &format!("Collision signalée : {note}"),
            )
            .await?;
    }
    Ok(Redirect::to(&format!("/usagers/{id}#qualite")).into_response())
}
