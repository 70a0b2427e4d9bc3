//! The structure's settings: directors only; every change is traced.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::domain::audit::AuditAction;
use crate::domain::care::medical_roles_from_choice;
use crate::domain::identity::DOCUMENT_KINDS;
use crate::domain::roles::Role;
use crate::store::IdentitySettings;
use crate::web::extract::RawForm;
use crate::web::session::Ctx;
use crate::web::views;
use crate::web::{AppError, AppState};

pub fn require_director(ctx: &Ctx) -> Result<(), AppError> {
    if ctx.tenant.roles.contains(Role::Directeur) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "Les paramètres de la structure sont réservés à la direction.",
        ))
    }
}

#[derive(Deserialize)]
pub struct Saved {
    #[serde(default)]
    ok: Option<String>,
}

pub async fn show(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(q): Query<Saved>,
) -> Result<Response, AppError> {
    require_director(&ctx)?;
    render(&st, &ctx, q.ok.is_some(), None).await
}

async fn render(
    st: &AppState,
    ctx: &Ctx,
    saved: bool,
    mss_test: Option<Result<String, String>>,
) -> Result<Response, AppError> {
    let s = st
        .store
        .get_structure(ctx.tenant.structure_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mss = views::structure::MssPanel {
        domain: st.mss.domain(),
        site: st.mss.mailbox_site(),
        test: mss_test,
    };
    let body = views::structure::settings(&s, &ctx.session.csrf_token, saved, &mss);
    Ok(views::layout::page(
        ctx,
        st.config.is_sandbox(),
        "Paramètres de la structure",
        body,
    )
    .into_response())
}

pub async fn save(
    State(st): State<AppState>,
    ctx: Ctx,
    form: RawForm,
) -> Result<Response, AppError> {
    require_director(&ctx)?;
    let chosen: Vec<Role> = form
        .all("medical_roles")
        .iter()
        .filter_map(|c| c.parse().ok())
        .collect();
    let roles = medical_roles_from_choice(&chosen);
    let before = st
        .store
        .get_structure(ctx.tenant.structure_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if before.medical_roles != roles {
        let labels = |rs: &[Role]| rs.iter().map(|r| r.label()).collect::<Vec<_>>().join(", ");
        let details = format!(
            "lecture des notes médicales : {} → {}",
            labels(&before.medical_roles),
            labels(&roles)
        );
        let entry = crate::services::audit::event(
            &ctx.tenant,
            AuditAction::ConfigurationChanged,
            None,
            details,
        );
        st.store
            .set_medical_roles(&ctx.tenant, &roles, &[entry])
            .await?;
    }
    let qualifier_roles: Vec<Role> = Role::ALL
        .into_iter()
        .filter(|r| form.all("qualifier_roles").contains(&r.code()))
        .collect();
    let identity_documents: Vec<String> = DOCUMENT_KINDS
        .iter()
        .filter(|(c, _)| form.all("identity_documents").contains(c))
        .map(|(c, _)| c.to_string())
        .collect();
    if qualifier_roles.is_empty() || identity_documents.is_empty() {
        return Err(AppError::Refused(
            "Gardez au moins un rôle qui qualifie les identités et au moins une pièce d'identité acceptée.".into(),
        ));
    }
    if before.qualifier_roles != qualifier_roles || before.identity_documents != identity_documents
    {
        let labels = |rs: &[Role]| rs.iter().map(|r| r.label()).collect::<Vec<_>>().join(", ");
        let entry = crate::services::audit::event(
            &ctx.tenant,
            AuditAction::ConfigurationChanged,
            None,
            format!(
                "identitovigilance : qualification par {} ; pièces acceptées : {}",
                labels(&qualifier_roles),
                identity_documents.join(", ")
            ),
        );
        st.store
            .set_identity_settings(
                &ctx.tenant,
                &IdentitySettings {
                    qualifier_roles: qualifier_roles.clone(),
                    identity_documents: identity_documents.clone(),
                },
                &[entry],
            )
            .await?;
    }
    Ok(Redirect::to("/structure/parametres?ok=1").into_response())
}

/// The structure's MSSanté mailbox.
pub async fn save_mss(
    State(st): State<AppState>,
    ctx: Ctx,
    form: RawForm,
) -> Result<Response, AppError> {
    require_director(&ctx)?;
    crate::services::mss::set_mailbox(st.store.as_ref(), &st.mss, &ctx.tenant, form.get("mailbox"))
        .await?;
    Ok(Redirect::to("/structure/parametres?ok=1").into_response())
}

/// « Tester la connexion »: the settings again, with what it came to.
pub async fn test_mss(State(st): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    require_director(&ctx)?;
    let outcome =
        crate::services::mss::test_connection(st.store.as_ref(), &st.mss, &ctx.tenant).await?;
    render(&st, &ctx, false, Some(outcome)).await
}

/// The codes that place the structure in the DMP's metadata.
pub async fn save_dmp(
    State(st): State<AppState>,
    ctx: Ctx,
    form: RawForm,
) -> Result<Response, AppError> {
    require_director(&ctx)?;
    crate::services::dmp::set_structure_codes(
        st.store.as_ref(),
        &ctx.tenant,
        form.get("facility_type"),
        form.get("practice_setting"),
        form.get("content_type"),
    )
    .await?;
    Ok(Redirect::to("/structure/parametres?ok=1").into_response())
}
