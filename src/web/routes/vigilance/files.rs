//! What leaves the desk about one file: the JSON export (right of access) and the identity sheet.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::super::parse_id;
use crate::web::session::Ctx;
use crate::web::{AppError, AppState};

/// The file and everything attached, as JSON (right of access): the use
/// case `services::files::export` says what the reader's roles get.
pub async fn export(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_id(&raw)?;
    let export = crate::services::files::export(st.store.as_ref(), &ctx.tenant, id).await?;
    let body = serde_json::to_string_pretty(&export).map_err(|e| AppError::Internal(e.into()))?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"dossier-escale.json\"",
            ),
        ],
        body,
    )
        .into_response())
}

/// The identity sheet (PDF/A): traits, status, and for a qualified identity
/// the matricule INS and its DataMatrix. Printing is traced.
pub async fn identity_sheet(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_id(&raw)?;
    let pdf = crate::services::files::identity_sheet(
        st.store.as_ref(),
        &ctx.tenant,
        id,
        &ctx.session.structure_name,
    )
    .await?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/pdf"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_DISPOSITION,
                "inline; filename=\"fiche-identite.pdf\"",
            ),
        ],
        pdf,
    )
        .into_response())
}
