//! What leaves the desk about one file: the JSON export (right of access) and the identity sheet.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::super::parse_id;
use crate::domain::audit::AuditAction;
use crate::domain::care::Confidentiality;
use crate::web::session::Ctx;
use crate::web::{AppError, AppState};

/// The file and everything attached, as JSON (right of access), without the
/// note classes the reader may not see.
pub async fn export(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(raw): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_id(&raw)?;
    let mut export = st.store.export_usager(&ctx.tenant, id).await?;
    let readable: Vec<&str> = ctx
        .tenant
        .readable_classes()
        .iter()
        .map(|c: &Confidentiality| c.code())
        .collect();
    if let Some(notes) = export.get_mut("notes").and_then(|n| n.as_array_mut()) {
        notes.retain(|n| {
            n.get("confidentiality")
                .and_then(|c| c.as_str())
                .is_some_and(|c| readable.contains(&c))
        });
    }
    crate::services::audit::record(
        st.store.as_ref(),
        &ctx.tenant,
        AuditAction::FileExported,
        Some(id),
        "export JSON",
    )
    .await?;
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
