//! The identity-vigilance desk: duplicate pairs and merges, collisions,
//! batch jobs (duplicate finder, INSi re-verification), referent tasks,
//! indicators, and the structure's procedure (read, acknowledge, configure).

mod files;
mod jobs;
mod merges;
mod pairs;
mod procedure;

pub use files::{export, identity_sheet};
pub use jobs::{job, start_batch, start_reverification};
pub use merges::{close_task, flag_collision, merge, merge_preview, unmerge};
pub use pairs::{decide_pair, pairs};
pub use procedure::{acknowledge, procedure, save_settings, settings};

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use crate::domain::duplicates::PairStatus;
use crate::domain::procedure::IdentityAction;
use crate::domain::roles::Role;
use crate::store::JobKind;
use crate::web::session::Ctx;
use crate::web::views;
use crate::web::{AppError, AppState};
/// The referent's desk: the identity-vigilance referent, the director, and
/// whoever the procedure lets merge.
pub fn is_referent(ctx: &Ctx) -> bool {
    ctx.tenant
        .roles
        .any(&[Role::ReferentIdentitovigilance, Role::Directeur])
        || ctx.tenant.may(IdentityAction::Merge)
}

pub(super) fn require_referent(ctx: &Ctx) -> Result<(), AppError> {
    if is_referent(ctx) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "L'identitovigilance de la structure (doublons, fusions, traitements de masse) est réservée au référent identitovigilance et à la direction.",
        ))
    }
}

pub(super) fn require(
    ctx: &Ctx,
    action: IdentityAction,
    why: &'static str,
) -> Result<(), AppError> {
    if ctx.tenant.may(action) {
        Ok(())
    } else {
        Err(AppError::Forbidden(why))
    }
}

pub(super) const MERGE_FORBIDDEN: &str = "La procédure d'identitovigilance de la structure ne permet pas à vos rôles de fusionner des dossiers : adressez la paire au référent identitovigilance.";

pub(super) fn page(st: &AppState, ctx: &Ctx, title: &str, body: maud::Markup) -> Response {
    views::layout::page(ctx, st.config.is_sandbox(), title, body).into_response()
}

pub async fn desk(State(st): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    require_referent(&ctx)?;
    let t = &ctx.tenant;
    let (counts, months, tasks, pairs, jobs, reverif, procedure) = tokio::try_join!(
        st.store.identity_counts(t),
        st.store.insi_months(t, 12),
        st.store.open_identity_tasks(t),
        st.store
            .duplicate_pairs(t, Some(PairStatus::Ouvert), None, 100),
        st.store.recent_jobs(t, JobKind::DuplicateBatch, 5),
        st.store.recent_jobs(t, JobKind::InsiReverification, 5),
        st.store.current_procedure(t),
    )?;
    let readers = match &procedure {
        Some(p) => Some(st.store.procedure_readers(t, p.version).await?),
        None => None,
    };
    let mut all_jobs = jobs;
    all_jobs.extend(reverif);
    all_jobs.sort_by_key(|j| std::cmp::Reverse(j.started_at));
    let body = views::vigilance::hub(&views::vigilance::Hub {
        counts: &counts,
        months: &months,
        tasks: &tasks,
        pairs: &pairs,
        jobs: &all_jobs,
        procedure: procedure.as_ref().zip(readers.as_ref()),
        can_merge: t.may(IdentityAction::Merge),
        can_run: t
            .roles
            .any(&[Role::ReferentIdentitovigilance, Role::Directeur]),
        csrf: &ctx.session.csrf_token,
    });
    Ok(page(&st, &ctx, "Identitovigilance", body))
}
