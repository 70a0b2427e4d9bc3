//! The structure's identity-vigilance procedure: read, acknowledge, configure.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::super::structure::require_director;
use super::*;
use crate::domain::audit::AuditAction;
use crate::domain::procedure::{IdentityAction, IdentityPolicy};
use crate::domain::roles::Role;
use crate::domain::text;
use crate::store::{NewProcedure, Procedure};
use crate::web::extract::RawForm;
use crate::web::session::Ctx;
use crate::web::views;
use crate::web::{AppError, AppState};

pub async fn procedure(State(st): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    let p = st.store.current_procedure(&ctx.tenant).await?;
    let acknowledged = match &p {
        Some(p) => st.store.has_acknowledged(&ctx.tenant, p.version).await?,
        None => false,
    };
    let body = views::vigilance::procedure(p.as_ref(), acknowledged, &ctx.session.csrf_token);
    Ok(page(&st, &ctx, "Procédure d'identitovigilance", body))
}

pub async fn acknowledge(
    State(st): State<AppState>,
    ctx: Ctx,
    form: RawForm,
) -> Result<Response, AppError> {
    let version: i64 = form
        .get("version")
        .parse()
        .map_err(|_| AppError::BadRequest("version non désignée".into()))?;
    let current = st
        .store
        .current_procedure(&ctx.tenant)
        .await?
        .ok_or(AppError::NotFound)?;
    if current.version != version {
        return Err(AppError::Refused(
            "Une nouvelle version de la procédure a été publiée entre-temps : lisez-la avant de confirmer.".into(),
        ));
    }
    let entry = crate::services::audit::event(
        &ctx.tenant,
        AuditAction::ProcedureAcknowledged,
        None,
        format!("version {version}"),
    );
    st.store
        .acknowledge_procedure(&ctx.tenant, version, &[entry])
        .await?;
    Ok(Redirect::to("/identitovigilance/procedure").into_response())
}

#[derive(Deserialize)]
pub struct SavedQuery {
    #[serde(default)]
    ok: Option<String>,
}

pub async fn settings(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(q): Query<SavedQuery>,
) -> Result<Response, AppError> {
    require_director(&ctx)?;
    settings_page(&st, &ctx, q.ok.is_some(), None, StatusCode::OK).await
}

/// The settings page; with a draft and its error when publishing failed
/// (nothing typed is lost).
async fn settings_page(
    st: &AppState,
    ctx: &Ctx,
    saved: bool,
    failed: Option<(&NewProcedure, &str)>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let p = st.store.current_procedure(&ctx.tenant).await?;
    let readers = match &p {
        Some(p) => Some(st.store.procedure_readers(&ctx.tenant, p.version).await?),
        None => None,
    };
    let body = views::vigilance::settings(&views::vigilance::Settings {
        policy: &ctx.tenant.policy,
        procedure: p.as_ref(),
        readers: readers.as_ref(),
        csrf: &ctx.session.csrf_token,
        saved,
        draft: failed.map(|(d, _)| d),
        error: failed.map(|(_, e)| e),
    });
    Ok((
        status,
        page(st, ctx, "Procédure d'identitovigilance — paramètres", body),
    )
        .into_response())
}

pub async fn save_settings(
    State(st): State<AppState>,
    ctx: Ctx,
    form: RawForm,
) -> Result<Response, AppError> {
    require_director(&ctx)?;
    let t = &ctx.tenant;
    if form.get("part") == "procedure" {
        let draft = NewProcedure {
            body: form.get("body").to_string(),
            guidance_01: form.get("guidance_01").to_string(),
            guidance_02: form.get("guidance_02").to_string(),
        };
        let checked = (|| {
            let field = |label: &str, value: &str, max: usize| {
                text::multi_line(value, max).map_err(|e| format!("{label} : {e}"))
            };
            Ok::<_, String>(NewProcedure {
                body: field("texte de la procédure", &draft.body, 20_000)?,
                guidance_01: field("conduite à tenir sur 01", &draft.guidance_01, 2_000)?,
                guidance_02: field("conduite à tenir sur 02", &draft.guidance_02, 2_000)?,
            })
        })();
        let p: NewProcedure = match checked {
            Ok(p) => p,
            Err(e) => {
                return settings_page(
                    &st,
                    &ctx,
                    false,
                    Some((&draft, &e)),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            }
        };
        let journal = |published: &Procedure| {
            vec![crate::services::audit::event(
                t,
                AuditAction::ProcedurePublished,
                None,
                format!("version {}", published.version),
            )]
        };
        st.store.publish_procedure(t, &p, &journal).await?;
        return Ok(Redirect::to("/structure/identitovigilance?ok=1").into_response());
    } else {
        let mut policy = IdentityPolicy {
            reverify_on_new_episode: form.get("reverify_on_new_episode") == "on",
            reverify_after_months: match form.get("reverify_after_months").trim() {
                "" => None,
                v => Some(v.parse::<u32>().ok().filter(|m| (1..=120).contains(m)).ok_or_else(|| {
                    AppError::BadRequest(
                        "durée de revérification : un nombre de mois entre 1 et 120, ou rien".into(),
                    )
                })?),
            },
            ..t.policy.clone()
        };
        for action in IdentityAction::ALL {
            let roles: Vec<Role> = Role::ALL
                .into_iter()
                .filter(|r| form.all(action.code()).contains(&r.code()))
                .collect();
            if roles.is_empty() {
                return Err(AppError::Refused(format!(
                    "« {} » : gardez au moins un rôle, sinon plus personne ne pourrait le faire.",
                    action.label()
                )));
            }
            policy.set_roles(action, roles);
        }
        let labels = |rs: &[Role]| rs.iter().map(|r| r.label()).collect::<Vec<_>>().join(", ");
        let details = format!(
            "identitovigilance : création {} ; modification {} ; doute/collision {} ; fusion {} ; revérification nouvelle prise en charge {} ; après {} mois",
            labels(&policy.create_roles),
            labels(&policy.edit_roles),
            labels(&policy.doubt_roles),
            labels(&policy.merge_roles),
            if policy.reverify_on_new_episode {
                "oui"
            } else {
                "non"
            },
            policy
                .reverify_after_months
                .map(|m| m.to_string())
                .unwrap_or_else(|| "—".into())
        );
        let entry =
            crate::services::audit::event(t, AuditAction::ConfigurationChanged, None, details);
        st.store.set_identity_policy(t, &policy, &[entry]).await?;
    }
    Ok(Redirect::to("/structure/identitovigilance?ok=1").into_response())
}
