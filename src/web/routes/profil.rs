//! The professional's own profile: who PSC says they are, how they logged in.

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use crate::web::session::Ctx;
use crate::web::views;
use crate::web::{AppError, AppState};

pub async fn show(State(st): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    let me = st
        .store
        .get_professional(ctx.tenant.professional_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let profile = st.store.profile_of(me.id).await?;
    Ok(views::profil::page(&ctx, st.config.is_sandbox(), &me, profile.as_ref()).into_response())
}
