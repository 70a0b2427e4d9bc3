//! Batch jobs of the desk: the duplicate finder and the INSi re-verification, with their progress.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::super::parse_id;
use super::*;
use crate::jobs::{duplicates, reverification};
use crate::store::JobKind;
use crate::web::extract::RawForm;
use crate::web::session::Ctx;
use crate::web::views;
use crate::web::{AppError, AppState};

/// « Rechercher les doublons dans tous les dossiers »: enqueued, then its progress.
pub async fn start_batch(
    State(st): State<AppState>,
    ctx: Ctx,
    form: RawForm,
) -> Result<Response, AppError> {
    require_referent(&ctx)?;
    let key = Some(form.get("cle")).filter(|k| !k.is_empty());
    let job = duplicates::start(st.store.as_ref(), &ctx.tenant, key).await?;
    st.jobs.wake();
    Ok(Redirect::to(&format!("/identitovigilance/traitements/{}", job.id)).into_response())
}

/// « Revérifier auprès d'INSi… » (all, or those due under the procedure).
pub async fn start_reverification(
    State(st): State<AppState>,
    ctx: Ctx,
    form: RawForm,
) -> Result<Response, AppError> {
    let only_due = form.get("dues") == "on";
    let key = Some(form.get("cle")).filter(|k| !k.is_empty());
    let job = reverification::start(st.store.as_ref(), &ctx.tenant, only_due, key).await?;
    st.jobs.wake();
    Ok(Redirect::to(&format!("/identitovigilance/traitements/{}", job.id)).into_response())
}

#[derive(Deserialize)]
pub struct JobQuery {
    #[serde(default)]
    fragment: Option<String>,
}

pub async fn job(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw): Path<String>,
    Query(q): Query<JobQuery>,
) -> Result<Response, AppError> {
    require_referent(&ctx)?;
    let id = parse_id(&raw)?;
    let job = st
        .store
        .job(&ctx.tenant, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let report = job_report(&job);
    let status = views::vigilance::job_status(&job, report);
    if q.fragment.is_some() {
        let mut r = status.into_response();
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return Ok(r);
    }
    let body = maud::html! {
        (status)
        p { a href="/identitovigilance" { "Retour à l'identitovigilance" } }
    };
    Ok(page(&st, &ctx, job.kind.label(), body))
}

fn job_report(job: &crate::store::Job) -> maud::Markup {
    if job.kind == JobKind::InsiReverification {
        let r: reverification::Report = serde_json::from_str(&job.report).unwrap_or_default();
        maud::html! {
            @if let Some(e) = &r.error { p.error-text { "Interrompue : " (e) } }
            p { (r.checked) " vérifiée(s) : " (r.unchanged) " inchangée(s), " (r.ins_changed) " INS modifié(s), "
                (r.downgraded) " repassée(s) provisoire(s) (tâche pour le référent), " (r.failed) " en échec."
                @if r.skipped > 0 { " " (r.skipped) " pas encore due(s) selon la procédure." }
                @if r.left_alone > 0 { " " (r.left_alone) " modifiée(s) pendant la revérification : laissée(s) telle(s) quelle(s)." } }
            @if !r.changes.is_empty() {
                ul { @for (id, what) in &r.changes { li { a href={ "/usagers/" (id) } { (what) } } } }
            }
        }
    } else {
        let r: duplicates::Report = serde_json::from_str(&job.report).unwrap_or_default();
        maud::html! {
            @if let Some(e) = &r.error { p.error-text { "Interrompue : " (e) } }
            p { (r.files) " dossier(s) examiné(s), " (r.pairs) " rapprochement(s) enregistré(s), " (r.same_ins) " INS porté(s) par plusieurs dossiers." }
            p { a href="/identitovigilance/doublons?statut=ouvert" { "Voir les doublons potentiels" } }
        }
    }
}
