//! The director's team: look a professional up in the Annuaire, add them
//! with roles, pre-register someone whose RPPS number is pending (invitation
//! code), change roles, end someone's access. Every change is journaled.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use serde::Deserialize;

use crate::domain::audit::AuditAction;
use crate::domain::directory::DirectoryQuery;
use crate::domain::invitation;
use crate::domain::roles::{Role, RoleSet};
use crate::services::error::ServiceError;
use crate::services::team::members;
use crate::store::NewProfessional;
use crate::store::access::NewInvitation;
use crate::web::extract::RawForm;
use crate::web::routes::parse_id;
use crate::web::session::Ctx;
use crate::web::views;
use crate::web::views::equipe::{Search, TeamPage};
use crate::web::{AppError, AppState, hash_token};

/// Invitation codes stay valid this long (RPPS+ registration takes days).
const INVITATION_DAYS: i64 = 30;

fn require_director(ctx: &Ctx) -> Result<(), AppError> {
    if ctx.tenant.roles.contains(Role::Directeur) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "seul le directeur ou la directrice de la structure gère l'équipe",
        ))
    }
}

fn roles_of(form: &RawForm) -> Vec<Role> {
    form.all("role")
        .into_iter()
        .filter_map(|r| r.parse().ok())
        .collect()
}

#[derive(Deserialize, Default)]
pub struct TeamQuery {
    #[serde(default)]
    q: String,
}

async fn render(
    st: &AppState,
    ctx: &Ctx,
    q: &str,
    message: Option<String>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let team = st.store.team_entries(&ctx.tenant).await?;
    let search = match DirectoryQuery::parse(q) {
        None => None,
        Some(query) => Some(match st.directory.people(st.store.as_ref(), &query).await {
            Ok(found) => Search::Found(found),
            Err(e) => Search::Failed(e.to_string()),
        }),
    };
    let page = TeamPage {
        team: &team,
        query: q,
        search: search.as_ref(),
        message: message.as_deref(),
        me: ctx.tenant.professional_id,
    };
    Ok((
        status,
        views::equipe::page(ctx, st.config.is_sandbox(), &page),
    )
        .into_response())
}

async fn refuse(st: &AppState, ctx: &Ctx, message: &str) -> Result<Response, AppError> {
    render(
        st,
        ctx,
        "",
        Some(message.to_string()),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

pub async fn show(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(q): Query<TeamQuery>,
) -> Result<Response, AppError> {
    require_director(&ctx)?;
    render(&st, &ctx, &q.q, None, StatusCode::OK).await
}

/// `POST /structure/equipe/ajout`: a professional found in the Annuaire joins the team.
pub async fn add(
    State(st): State<AppState>,
    ctx: Ctx,
    form: RawForm,
) -> Result<Response, AppError> {
    require_director(&ctx)?;
    // Who they are comes from the Annuaire, never from the form's other fields.
    match members::add(
        st.store.as_ref(),
        &st.directory,
        &ctx.tenant,
        form.get("id_nat"),
        &roles_of(&form),
    )
    .await
    {
        Ok(()) => {
            st.team.forget(ctx.tenant.structure_id);
            Ok(Redirect::to("/structure/equipe").into_response())
        }
        Err(ServiceError::Invalid(m) | ServiceError::Refused(m)) => {
            render(
                &st,
                &ctx,
                form.get("q"),
                Some(m),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /structure/equipe/preinscription`: someone whose RPPS is pending.
pub async fn preregister(
    State(st): State<AppState>,
    ctx: Ctx,
    form: RawForm,
) -> Result<Response, AppError> {
    require_director(&ctx)?;
    let roles = roles_of(&form);
    let first = form.get("first_name").trim();
    let last = form.get("last_name").trim();
    let profession = form.get("profession").trim();
    if first.is_empty() || last.is_empty() || roles.is_empty() {
        return refuse(
            &st,
            &ctx,
            "Pour pré-inscrire quelqu'un : prénom, nom et au moins un rôle.",
        )
        .await;
    }
    let p = st
        .store
        .create_professional(
            &NewProfessional {
                first_name: first.to_string(),
                last_name: last.to_string(),
                national_id: None,
                profession: profession.to_string(),
                instance_admin: false,
            },
            &|_| Vec::new(),
        )
        .await?;
    let mut random = [0u8; 12];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut random);
    let code = invitation::generate(&random);
    let expires = Utc::now() + Duration::days(INVITATION_DAYS);
    let created = crate::services::audit::event(
        &ctx.tenant,
        AuditAction::ProfessionalCreated,
        None,
        format!(
            "pré-inscription de {} (RPPS en attente), invitation valable jusqu'au {}",
            p.display_name(),
            expires.format("%d/%m/%Y")
        ),
    );
    st.store
        .create_invitation(
            &ctx.tenant,
            &NewInvitation {
                code_hash: hash_token(&invitation::normalize(&code)),
                professional_id: p.id,
                expires_at: expires,
            },
            &[created],
        )
        .await?;
    let entry = members::roles_entry(
        &ctx.tenant,
        &p.display_name(),
        &RoleSet::new(Vec::new()),
        &roles,
    );
    st.store
        .set_roles(&ctx.tenant, p.id, &roles, &[entry])
        .await?;
    st.team.forget(ctx.tenant.structure_id);
    Ok(views::equipe::invitation_made(
        &ctx,
        st.config.is_sandbox(),
        &p.display_name(),
        &code,
        expires,
    )
    .into_response())
}

/// `POST /structure/equipe/{id}/roles`: new roles, or none (access ends).
pub async fn set_roles(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    form: RawForm,
) -> Result<Response, AppError> {
    require_director(&ctx)?;
    let id = parse_id(&id)?;
    match members::change_roles(st.store.as_ref(), &ctx.tenant, id, &roles_of(&form)).await {
        Ok(()) => {
            st.team.forget(ctx.tenant.structure_id);
            Ok(Redirect::to("/structure/equipe").into_response())
        }
        Err(ServiceError::Refused(m)) => refuse(&st, &ctx, &m).await,
        Err(e) => Err(e.into()),
    }
}
