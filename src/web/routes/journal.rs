//! The audit journal of the structure: directors only.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;
use uuid::Uuid;

use crate::domain::audit::AuditAction;
use crate::store::{AuditChain, AuditFilter};
use crate::web::session::Ctx;
use crate::web::views::{self, components::Errors, journal::Filters};
use crate::web::{AppError, AppState};

const PAGE: i64 = 100;

#[derive(Deserialize, Default)]
pub struct JournalQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    acteur: String,
    #[serde(default)]
    usager: String,
    #[serde(default)]
    du: String,
    #[serde(default)]
    au: String,
    #[serde(default)]
    avant: String,
}

fn require_director(ctx: &Ctx) -> Result<(), AppError> {
    if ctx.tenant.roles.can_read_audit() {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "Le journal d'audit est réservé à la direction de la structure.",
        ))
    }
}

fn date(v: &str, key: &'static str, errors: &mut Errors) -> Option<NaiveDate> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(v, "%d/%m/%Y"))
        .map_err(|_| errors.insert(key, "date invalide : JJ/MM/AAAA".into()))
        .ok()
}

pub async fn list(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(q): Query<JournalQuery>,
) -> Result<Response, AppError> {
    require_director(&ctx)?;
    let mut errors = Errors::new();
    let filter = AuditFilter {
        action: AuditAction::from_code(&q.action).map(|a| a.code().to_string()),
        actor_id: Uuid::parse_str(&q.acteur).ok(),
        usager_id: Uuid::parse_str(&q.usager).ok(),
        from: date(&q.du, "du", &mut errors),
        to: date(&q.au, "au", &mut errors),
        before_seq: q.avant.parse().ok(),
        limit: PAGE,
    };
    let (entries, team) = tokio::try_join!(
        st.store.audit_entries(&ctx.tenant, &filter),
        st.store.team(&ctx.tenant)
    )?;
    let next_before = (entries.len() as i64 == PAGE)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    let query = serde_urlencoded::to_string([
        ("action", q.action.as_str()),
        ("acteur", q.acteur.as_str()),
        ("usager", q.usager.as_str()),
        ("du", q.du.as_str()),
        ("au", q.au.as_str()),
    ])
    .unwrap_or_default();
    let filters = Filters {
        action: &q.action,
        actor: &q.acteur,
        usager: &q.usager,
        from: &q.du,
        to: &q.au,
        errors,
    };
    let body = views::journal::page(&filters, &team, &entries, next_before, &query);
    Ok(views::layout::page(&ctx, st.config.is_sandbox(), "Journal d'audit", body).into_response())
}

pub async fn verify(State(st): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    require_director(&ctx)?;
    let v = crate::services::audit::verify_chain(
        st.store.as_ref(),
        AuditChain::Structure(ctx.tenant.structure_id),
    )
    .await?;
    Ok(views::layout::page(
        &ctx,
        st.config.is_sandbox(),
        "Intégrité du journal d'audit",
        views::journal::verification(&v),
    )
    .into_response())
}
