//! Duplicate pairs: the list and the referent's decisions.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::*;
use crate::domain::audit::AuditAction;
use crate::domain::duplicates::PairStatus;
use crate::domain::procedure::IdentityAction;
use crate::services::identity_quality::{self};
use crate::web::extract::RawForm;
use crate::web::session::Ctx;
use crate::web::views;
use crate::web::{AppError, AppState};

#[derive(Deserialize)]
pub struct PairsQuery {
    #[serde(default)]
    statut: String,
}

pub async fn pairs(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(q): Query<PairsQuery>,
) -> Result<Response, AppError> {
    require_referent(&ctx)?;
    let status = PairStatus::parse(&q.statut);
    let pairs = st
        .store
        .duplicate_pairs(&ctx.tenant, status, None, 500)
        .await?;
    let body = maud::html! {
        nav aria-label="Filtrer" {
            a href="/identitovigilance/doublons" { "Toutes" }
            @for s in PairStatus::ALL { " · " a href={ "/identitovigilance/doublons?statut=" (s.code()) } { (s.label()) } }
        }
        @if pairs.is_empty() { p.muted { "Aucune paire." } }
        @else { (views::vigilance::pairs_table(&pairs, None, ctx.tenant.may(IdentityAction::Merge), &ctx.session.csrf_token)) }
    };
    Ok(page(&st, &ctx, "Doublons potentiels", body))
}

pub(super) fn form_id(form: &RawForm, name: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(form.get(name)).map_err(|_| {
        AppError::BadRequest(
            "dossier non désigné : revenez à la liste des doublons et recommencez".into(),
        )
    })
}

pub async fn decide_pair(
    State(st): State<AppState>,
    ctx: Ctx,
    form: RawForm,
) -> Result<Response, AppError> {
    require(&ctx, IdentityAction::Merge, MERGE_FORBIDDEN)?;
    let (a, b) = (form_id(&form, "first")?, form_id(&form, "second")?);
    let status = PairStatus::parse(form.get("status"))
        .filter(|s| identity_quality::decidable(*s))
        .ok_or_else(|| AppError::BadRequest("décision inconnue".into()))?;
    let journal = [a, b].map(|id| {
        crate::services::audit::event(
            &ctx.tenant,
            AuditAction::DuplicateDecided,
            Some(id),
            status.label(),
        )
    });
    st.store
        .set_pair_status(&ctx.tenant, a, b, status, &journal)
        .await?;
    Ok(Redirect::to("/identitovigilance#h-doublons").into_response())
}
