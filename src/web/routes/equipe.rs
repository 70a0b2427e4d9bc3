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
use crate::domain::identifiers::NationalId;
use crate::domain::invitation;
use crate::domain::roles::{Role, RoleSet};
use crate::store::access::NewInvitation;
use crate::store::{AuditEvent, NewProfessional, StoreError};
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

/// The journal entry of a change of roles, written with it.
fn roles_entry(ctx: &Ctx, who: &str, before: &RoleSet, after: &[Role]) -> AuditEvent {
    let after = RoleSet::new(after.to_vec());
    let details = if after.is_empty() {
        format!("accès de {who} retiré (rôles : {})", before.labels())
    } else {
        format!(
            "rôles de {who} : {} → {}",
            if before.is_empty() {
                "aucun".to_string()
            } else {
                before.labels()
            },
            after.labels()
        )
    };
    crate::services::audit::event(&ctx.tenant, AuditAction::RoleGranted, None, details)
}

/// `POST /structure/equipe/ajout`: a professional found in the Annuaire joins the team.
pub async fn add(
    State(st): State<AppState>,
    ctx: Ctx,
    form: RawForm,
) -> Result<Response, AppError> {
    require_director(&ctx)?;
    let roles = roles_of(&form);
    let id = match NationalId::parse(form.get("id_nat")) {
        Ok(id) => id,
        Err(e) => return refuse(&st, &ctx, &e.to_string()).await,
    };
    if roles.is_empty() {
        return render(
            &st,
            &ctx,
            form.get("q"),
            Some("Cochez au moins un rôle pour ajouter ce professionnel à l'équipe.".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let id_nat = id.id_nat_ps();
    let professional = match st.store.find_professional_by_national_id(&id_nat).await? {
        Some(p) => p,
        None => {
            st.store
                .create_professional(
                    &NewProfessional {
                        first_name: form.get("first_name").trim().to_string(),
                        last_name: form.get("last_name").trim().to_string(),
                        national_id: Some(id_nat.clone()),
                        profession: form.get("profession").trim().to_string(),
                        instance_admin: false,
                    },
                    &|_| Vec::new(),
                )
                .await?
        }
    };
    let before = current_roles(&st, &ctx, professional.id).await?;
    let entry = roles_entry(&ctx, &professional.display_name(), &before, &roles);
    st.store
        .set_roles(&ctx.tenant, professional.id, &roles, &[entry])
        .await?;
    st.team.forget(ctx.tenant.structure_id);
    Ok(Redirect::to("/structure/equipe").into_response())
}

async fn current_roles(st: &AppState, ctx: &Ctx, id: uuid::Uuid) -> Result<RoleSet, AppError> {
    Ok(st
        .store
        .team_entries(&ctx.tenant)
        .await?
        .into_iter()
        .find(|e| e.id == id)
        .map(|e| e.roles)
        .unwrap_or_else(|| RoleSet::new(Vec::new())))
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
    let entry = roles_entry(&ctx, &p.display_name(), &RoleSet::new(Vec::new()), &roles);
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
    let team = st.store.team_entries(&ctx.tenant).await?;
    let member = team.iter().find(|e| e.id == id).ok_or(AppError::NotFound)?;
    let roles = roles_of(&form);
    let directors_left = team
        .iter()
        .filter(|e| e.roles.contains(Role::Directeur))
        .filter(|e| e.id != id || roles.contains(&Role::Directeur))
        .count();
    if directors_left == 0 {
        return refuse(&st, &ctx, "La structure doit garder au moins un directeur ou une directrice : nommez-en un autre avant de retirer ce rôle.").await;
    }
    let who = format!("{} {}", member.first_name, member.last_name);
    let entry = roles_entry(&ctx, &who, &member.roles, &roles);
    match st.store.set_roles(&ctx.tenant, id, &roles, &[entry]).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(AppError::NotFound),
        Err(e) => return Err(e.into()),
    }
    st.team.forget(ctx.tenant.structure_id);
    Ok(Redirect::to("/structure/equipe").into_response())
}
