//! Login (sandbox demo professionals) and logout.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::domain::audit::AuditAction;
use crate::web::extract::FormData;
use crate::web::session::{self, Ctx, SessionState};
use crate::web::views;
use crate::web::{AppError, AppState};

#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    expiree: Option<String>,
}

pub async fn login_page(
    State(st): State<AppState>,
    state: SessionState,
    Query(q): Query<LoginQuery>,
) -> Result<Response, AppError> {
    if state.ctx.is_some() {
        return Ok(Redirect::to("/usagers").into_response());
    }
    let expired = q.expiree.is_some() || state.expired;
    if !st.config.is_sandbox() {
        return Ok(views::auth::production_login(expired).into_response());
    }
    let (csrf, set_cookie) = session::pre_login_token(&st, &state);
    let choices = st.store.login_choices().await?;
    let mut resp = views::auth::sandbox_login(&choices, &csrf, expired).into_response();
    if let Some(c) = set_cookie {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
}

#[derive(Deserialize)]
pub struct DemoLogin {
    professional_id: String,
    structure_id: String,
}

/// Sandbox only (the route is not mounted in production).
pub async fn demo_login(
    State(st): State<AppState>,
    headers: HeaderMap,
    FormData(f): FormData<DemoLogin>,
) -> Result<Response, AppError> {
    let bad =
        || AppError::BadRequest("ce professionnel n'est pas rattaché à cette structure".into());
    let pid = uuid::Uuid::parse_str(&f.professional_id).map_err(|_| bad())?;
    let sid = uuid::Uuid::parse_str(&f.structure_id).map_err(|_| bad())?;
    let tenant = st.store.tenant_for(pid, sid).await?.ok_or_else(bad)?;
    // A new session replaces any previous one of this browser.
    session::close_session(&st, &headers).await?;
    let cookie = session::open_session(&st, pid, sid, "bac à sable").await?;
    crate::audit::record(
        st.store.as_ref(),
        &tenant,
        AuditAction::Login,
        None,
        "connexion de démonstration (bac à sable)",
    )
    .await?;
    let mut resp = Redirect::to("/usagers").into_response();
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(resp)
}

pub async fn logout(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    crate::audit::record(
        st.store.as_ref(),
        &ctx.tenant,
        AuditAction::Logout,
        None,
        "",
    )
    .await?;
    let cookie = session::close_session(&st, &headers).await?;
    let mut resp = Redirect::to("/connexion").into_response();
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(resp)
}
