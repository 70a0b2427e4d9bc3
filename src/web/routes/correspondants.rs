//! The structure's address book: external professionals and organisations
//! taken from the Annuaire, with their MSSanté addresses (for messaging).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;

use crate::connectors::annuaire::OrganizationQuery;
use crate::domain::audit::AuditAction;
use crate::domain::directory::DirectoryQuery;
use crate::store::access::Correspondent;
use crate::web::extract::FormData;
use crate::web::routes::parse_id;
use crate::web::session::Ctx;
use crate::web::views;
use crate::web::views::correspondants::{Results, View};
use crate::web::{AppError, AppState};

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    /// `pro` (default) or `structure`.
    #[serde(default, rename = "type")]
    type_: Option<String>,
}

async fn render(
    st: &AppState,
    ctx: &Ctx,
    q: &ListQuery,
    message: Option<String>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let book = st.store.correspondents(&ctx.tenant).await?;
    let structures = q.type_.as_deref() == Some("structure");
    let results = if q.q.trim().is_empty() {
        None
    } else if structures {
        Some(match OrganizationQuery::parse(&q.q) {
            None => Results::Failed("Saisissez un nom de structure ou un numéro FINESS.".into()),
            Some(oq) => match st.directory.organizations(&oq).await {
                Ok(f) => Results::Organizations(f),
                Err(e) => Results::Failed(e.to_string()),
            },
        })
    } else {
        Some(match DirectoryQuery::parse(&q.q) {
            None => Results::Failed("Saisissez un nom ou un numéro RPPS.".into()),
            Some(dq) => match st.directory.people(st.store.as_ref(), &dq).await {
                Ok(f) => Results::People(f),
                Err(e) => Results::Failed(e.to_string()),
            },
        })
    };
    let view = View {
        book: &book,
        query: &q.q,
        structures,
        results: results.as_ref(),
        message: message.as_deref(),
        can_manage: ctx.tenant.may_manage_correspondents(),
    };
    Ok((
        status,
        views::correspondants::page(ctx, st.config.is_sandbox(), &view),
    )
        .into_response())
}

fn may_manage(ctx: &Ctx) -> Result<(), AppError> {
    if ctx.tenant.may_manage_correspondents() {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "le carnet d'adresses est tenu par les professionnels du soin, du social et de la direction",
        ))
    }
}

pub async fn list(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    render(&st, &ctx, &q, None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct AddForm {
    kind: String,
    identifier: String,
    #[serde(default)]
    note: String,
}

/// `POST /correspondants/ajout`: what is saved is read again from the
/// Annuaire (never taken from the form), so the addresses are the published ones.
pub async fn add(
    State(st): State<AppState>,
    ctx: Ctx,
    FormData(f): FormData<AddForm>,
) -> Result<Response, AppError> {
    let again = |m: String| {
        let q = ListQuery {
            q: f.identifier.clone(),
            type_: Some(
                if f.kind == "structure" {
                    "structure"
                } else {
                    "pro"
                }
                .into(),
            ),
        };
        (q, m)
    };
    may_manage(&ctx)?;
    let entry = if f.kind == "structure" {
        let q = OrganizationQuery::parse(&f.identifier)
            .ok_or_else(|| AppError::BadRequest("numéro FINESS attendu".into()))?;
        match st.directory.organizations(&q).await {
            Ok(found) => found
                .items
                .into_iter()
                .find(|o| o.finess.as_deref() == Some(f.identifier.as_str()))
                .map(|o| Correspondent {
                    id: uuid::Uuid::new_v4(),
                    kind: "structure".into(),
                    identifier: f.identifier.clone(),
                    detail: [o.category.map(|c| c.label), o.city]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" · "),
                    name: o.name,
                    mailboxes: o.mailboxes,
                    note: f.note.trim().to_string(),
                    added_at: Utc::now(),
                }),
            Err(e) => {
                let (q, m) = again(e.to_string());
                return render(&st, &ctx, &q, Some(m), StatusCode::BAD_GATEWAY).await;
            }
        }
    } else {
        match st
            .directory
            .people(
                st.store.as_ref(),
                &DirectoryQuery::Identifier(f.identifier.clone()),
            )
            .await
        {
            Ok(found) => found
                .items
                .into_iter()
                .find(|p| p.id_nat_ps == f.identifier)
                .map(|p| Correspondent {
                    id: uuid::Uuid::new_v4(),
                    kind: "professionnel".into(),
                    identifier: f.identifier.clone(),
                    name: p.display_name(),
                    detail: [
                        Some(p.headline()),
                        p.situations.first().map(|s| s.workplace.name.clone()),
                    ]
                    .into_iter()
                    .flatten()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" · "),
                    mailboxes: p.mailboxes,
                    note: f.note.trim().to_string(),
                    added_at: Utc::now(),
                }),
            Err(e) => {
                let (q, m) = again(e.to_string());
                return render(&st, &ctx, &q, Some(m), StatusCode::BAD_GATEWAY).await;
            }
        }
    };
    let Some(entry) = entry else {
        let (q, m) = again("Ce correspondant n'est plus dans l'Annuaire Santé.".into());
        return render(&st, &ctx, &q, Some(m), StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let journal = crate::services::audit::event(
        &ctx.tenant,
        AuditAction::ConfigurationChanged,
        None,
        format!(
            "carnet d'adresses : {} ajouté ({} {})",
            entry.name, entry.kind, entry.identifier
        ),
    );
    st.store
        .save_correspondent(&ctx.tenant, &entry, &[journal])
        .await?;
    Ok(Redirect::to("/correspondants").into_response())
}

pub async fn remove(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    may_manage(&ctx)?;
    let t = &ctx.tenant;
    st.store
        .remove_correspondent(t, id, &|name: &String| {
            vec![crate::services::audit::event(
                t,
                AuditAction::ConfigurationChanged,
                None,
                format!("carnet d'adresses : {name} retiré"),
            )]
        })
        .await?;
    Ok(Redirect::to("/correspondants").into_response())
}
