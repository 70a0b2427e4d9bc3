//! Batch jobs of the desk: the duplicate finder and the INSi re-verification, with their progress.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::super::parse_id;
use super::*;
use crate::domain::audit::AuditAction;
use crate::domain::roles::Role;
use crate::jobs::reverification;
use crate::services::identity_quality::{self, BATCH_KIND};
use crate::web::extract::RawForm;
use crate::web::session::Ctx;
use crate::web::views;
use crate::web::{AppError, AppState};

pub async fn start_batch(State(st): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    require_referent(&ctx)?;
    let t = ctx.tenant.clone();
    let total = st.store.count_usagers(&t).await?;
    let job = st.store.create_job(&t, BATCH_KIND, total).await?;
    crate::services::audit::record(
        st.store.as_ref(),
        &t,
        AuditAction::JobStarted,
        None,
        "recherche de doublons",
    )
    .await?;
    tokio::spawn(identity_quality::run_duplicate_batch(
        st.store.clone(),
        t,
        job.id,
    ));
    Ok(Redirect::to(&format!("/identitovigilance/traitements/{}", job.id)).into_response())
}

pub async fn start_reverification(
    State(st): State<AppState>,
    ctx: Ctx,
    form: RawForm,
) -> Result<Response, AppError> {
    let only_due = form.get("dues") == "on";
    if only_due && ctx.tenant.policy.reverify_after_months.is_none() {
        return Err(AppError::Refused(
            "La procédure de la structure ne fixe pas de délai de revérification : choisissez-en un (paramètres de la procédure) ou revérifiez toutes les identités.".into(),
        ));
    }
    if !ctx
        .tenant
        .roles
        .any(&[Role::ReferentIdentitovigilance, Role::Directeur])
    {
        return Err(AppError::Forbidden(
            "La revérification de masse est lancée par le référent identitovigilance ou la direction.",
        ));
    }
    let t = ctx.tenant.clone();
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let page = st
            .store
            .identity_ids(&t, &reverification::STATUSES, after, 1000)
            .await?;
        let Some(last) = page.last().copied() else {
            break;
        };
        ids.extend(page);
        after = Some(last);
    }
    let job = st
        .store
        .create_job(&t, reverification::JOB_KIND, ids.len() as i64)
        .await?;
    crate::services::audit::record(
        st.store.as_ref(),
        &t,
        AuditAction::JobStarted,
        None,
        format!(
            "revérification INSi de {} identité(s) (certificat INSI-AUTO){}",
            ids.len(),
            if only_due {
                ", seulement celles dues selon la procédure"
            } else {
                ""
            }
        ),
    )
    .await?;
    tokio::spawn(reverification::run(
        st.store.clone(),
        st.insi.clone(),
        t,
        job.id,
        ids,
        reverification::DEFAULT_RATE_PER_SECOND,
        only_due,
    ));
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
    Ok(page(
        &st,
        &ctx,
        views::vigilance::job_label(&job.kind),
        body,
    ))
}

fn job_report(job: &crate::store::Job) -> maud::Markup {
    if job.kind == reverification::JOB_KIND {
        let r: reverification::Report = serde_json::from_str(&job.report).unwrap_or_default();
        maud::html! {
            @if let Some(e) = &r.error { p.error-text { "Interrompue : " (e) } }
            p { (r.checked) " vérifiée(s) : " (r.unchanged) " inchangée(s), " (r.ins_changed) " INS modifié(s), "
                (r.downgraded) " repassée(s) provisoire(s) (tâche pour le référent), " (r.failed) " en échec."
                @if r.skipped > 0 { " " (r.skipped) " pas encore due(s) selon la procédure." } }
            @if !r.changes.is_empty() {
                ul { @for (id, what) in &r.changes { li { a href={ "/usagers/" (id) } { (what) } } } }
            }
        }
    } else {
        let r: identity_quality::BatchReport =
            serde_json::from_str(&job.report).unwrap_or_default();
        maud::html! {
            @if let Some(e) = &r.error { p.error-text { "Interrompue : " (e) } }
            p { (r.files) " dossier(s) examiné(s), " (r.pairs) " rapprochement(s) enregistré(s), " (r.same_ins) " INS porté(s) par plusieurs dossiers." }
            p { a href="/identitovigilance/doublons?statut=ouvert" { "Voir les doublons potentiels" } }
        }
    }
}
