//! `/admin`: the instance administrator's break-glass login (password + TOTP)
//! and instance administration (structures, directors). Its own session and
//! cookie: nothing here reads or opens a user file.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde::Deserialize;

use crate::services::administration::{
    self, AdminError, BootstrapRequest, DirectorRequest, LoginAttempt, StructureRequest,
};
use crate::web::admin_session::{self, AdminCtx, AdminState};
use crate::web::client::ClientAddr;
use crate::web::extract::RawForm;
use crate::web::routes::parse_id;
use crate::web::views::admin::AdminPage;
use crate::web::views::components::Errors;
use crate::web::{AppError, AppState, random_token, session, views};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(home))
        .route("/admin/connexion", get(login_page).post(login))
        .route("/admin/deconnexion", post(logout))
        .route("/admin/structures", post(create_structure))
        .route("/admin/administrateurs", post(add_administrator))
        .route("/admin/structures/{id}/directeur", post(designate_director))
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    #[serde(default)]
    fin: Option<String>,
}

fn login_form(
    st: &AppState,
    state: &AdminState,
    status: StatusCode,
    login: &str,
    error: Option<&str>,
    ended: bool,
) -> Response {
    let csrf = state.pre_csrf.clone().unwrap_or_else(random_token);
    let mut resp = (
        status,
        views::admin::login(st.config.is_sandbox(), &csrf, login, error, ended),
    )
        .into_response();
    resp.headers_mut()
        .append(header::SET_COOKIE, session::pre_login_cookie(st, &csrf));
    resp
}

pub async fn login_page(
    State(st): State<AppState>,
    state: AdminState,
    Query(q): Query<LoginQuery>,
) -> Response {
    if state.admin.is_some() {
        return Redirect::to("/admin").into_response();
    }
    login_form(&st, &state, StatusCode::OK, "", None, q.fin.is_some())
}

pub async fn login(
    State(st): State<AppState>,
    state: AdminState,
    ClientAddr(from): ClientAddr,
    headers: HeaderMap,
    form: RawForm,
) -> Result<Response, AppError> {
    let attempt = LoginAttempt {
        login: form.get("login").to_string(),
        password: form.get("password").to_string(),
        code: form.get("code").to_string(),
    };
    let typed = attempt.login.clone();
    match administration::check_login(
        st.store.as_ref(),
        &st.break_glass,
        attempt,
        from,
        Utc::now(),
    )
    .await
    {
        Ok(professional_id) => {
            // A session this browser still held ends: one session per login.
            admin_session::close(&st, &headers).await?;
            let cookie = admin_session::open(&st, professional_id).await?;
            let mut resp = Redirect::to("/admin").into_response();
            resp.headers_mut().append(header::SET_COOKIE, cookie);
            Ok(resp)
        }
        Err(AdminError::BadCredentials) => Ok(login_form(
            &st,
            &state,
            StatusCode::UNAUTHORIZED,
            &typed,
            Some(&AdminError::BadCredentials.to_string()),
            false,
        )),
        Err(AdminError::Locked { until }) => Ok(login_form(
            &st,
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            &typed,
            Some(&format!(
                "Trop d'essais infructueux : la connexion de secours est bloquée pour cet identifiant jusqu'au {}. Réessayez ensuite ; en cas d'urgence, un autre administrateur de l'instance peut agir.",
                views::datetime_fr(until)
            )),
            false,
        )),
        Err(e) if e.retry_after_seconds().is_some() => {
            let retry = e.retry_after_seconds().unwrap_or(5);
            let mut resp = login_form(
                &st,
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                &typed,
                Some(&e.to_string()),
                false,
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(retry));
            Ok(resp)
        }
        Err(AdminError::Store(e)) => Err(e.into()),
        Err(e) => Err(AppError::Internal(e.into())),
    }
}

/// `POST /admin/deconnexion`: ends the session (or clears a stale cookie).
pub async fn logout(
    State(st): State<AppState>,
    state: AdminState,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if let Some(admin) = &state.admin {
        crate::services::audit::record_instance(
            st.store.as_ref(),
            crate::store::AuditChain::Instance,
            &actor(admin),
            crate::domain::audit::AuditAction::AdminLogout,
            "fin de la session d'administration",
        )
        .await?;
    }
    let cookie = admin_session::close(&st, &headers).await?;
    let mut resp = Redirect::to("/admin/connexion?fin=1").into_response();
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(resp)
}

/// The page with whatever a failed form kept.
struct Kept<'a> {
    new_structure: StructureRequest,
    structure_errors: Errors,
    director_failed: Option<(uuid::Uuid, DirectorRequest, String)>,
    new_admin: BootstrapRequest,
    admin_errors: Errors,
    notice: Option<&'a str>,
}

impl Default for Kept<'_> {
    fn default() -> Self {
        Kept {
            new_structure: StructureRequest {
                kind: "csapa".into(),
                ..Default::default()
            },
            structure_errors: Errors::new(),
            director_failed: None,
            new_admin: BootstrapRequest::default(),
            admin_errors: Errors::new(),
            notice: None,
        }
    }
}

async fn render(
    st: &AppState,
    admin: &AdminCtx,
    kept: Kept<'_>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let structures = st.store.list_structures().await?;
    let directors = st.store.structure_directors().await?;
    let administrators = st.store.administrators().await?;
    let page = AdminPage {
        administrators: &administrators,
        new_admin: &kept.new_admin,
        admin_errors: &kept.admin_errors,
        structures: &structures,
        directors: &directors,
        new_structure: &kept.new_structure,
        structure_errors: &kept.structure_errors,
        director_failed: kept
            .director_failed
            .as_ref()
            .map(|(id, typed, error)| (*id, typed, error.as_str())),
        notice: kept.notice,
    };
    Ok((
        status,
        views::admin::home(admin, st.config.is_sandbox(), &page),
    )
        .into_response())
}

#[derive(Deserialize, Default)]
pub struct HomeQuery {
    #[serde(default)]
    fait: Option<String>,
}

pub async fn home(
    State(st): State<AppState>,
    admin: AdminCtx,
    Query(q): Query<HomeQuery>,
) -> Result<Response, AppError> {
    let notice = match q.fait.as_deref() {
        Some("structure") => {
            Some("Structure créée. Désignez maintenant son directeur ou sa directrice.")
        }
        Some("directeur") => Some(
            "Directeur ou directrice désigné·e : à sa prochaine connexion par Pro Santé Connect, cette personne accède à la structure et peut constituer son équipe.",
        ),
        _ => None,
    };
    render(
        &st,
        &admin,
        Kept {
            notice,
            ..Default::default()
        },
        StatusCode::OK,
    )
    .await
}

fn actor(admin: &AdminCtx) -> String {
    format!(
        "{} (administrateur de l'instance)",
        admin.session.display_name
    )
}

/// `POST /admin/structures`
pub async fn create_structure(
    State(st): State<AppState>,
    admin: AdminCtx,
    form: RawForm,
) -> Result<Response, AppError> {
    let req = StructureRequest {
        name: form.get("name").to_string(),
        kind: form.get("kind").to_string(),
        finess_geo: form.get("finess_geo").to_string(),
        finess_juridique: form.get("finess_juridique").to_string(),
    };
    match administration::create_structure(st.store.as_ref(), &req, &actor(&admin)).await {
        Ok(_) => Ok(Redirect::to("/admin?fait=structure").into_response()),
        Err(errors) => {
            let mut by_field = Errors::new();
            for e in errors {
                match e {
                    AdminError::Invalid { field, message } => {
                        let name = match field {
                            "nom" => "name",
                            "type" => "kind",
                            "FINESS géographique" => "finess_geo",
                            _ => "finess_juridique",
                        };
                        by_field.insert(name, format!("{field} : {message}"));
                    }
                    AdminError::Store(e) => return Err(e.into()),
                    e => return Err(AppError::Internal(e.into())),
                }
            }
            render(
                &st,
                &admin,
                Kept {
                    new_structure: req,
                    structure_errors: by_field,
                    ..Default::default()
                },
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

/// `POST /admin/structures/{id}/directeur`
pub async fn designate_director(
    State(st): State<AppState>,
    admin: AdminCtx,
    Path(id): Path<String>,
    form: RawForm,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    let structure = st
        .store
        .get_structure(id)
        .await?
        .ok_or(AppError::NotFound)?;
    let req = DirectorRequest {
        national_id: form.get("national_id").to_string(),
        first_name: form.get("first_name").to_string(),
        last_name: form.get("last_name").to_string(),
    };
    match administration::designate_director(
        st.store.as_ref(),
        &st.directory,
        &structure,
        &req,
        &actor(&admin),
    )
    .await
    {
        Ok(_) => Ok(Redirect::to("/admin?fait=directeur").into_response()),
        Err(AdminError::Store(e)) => Err(e.into()),
        Err(e) => {
            render(
                &st,
                &admin,
                Kept {
                    director_failed: Some((structure.id, req, e.to_string())),
                    ..Default::default()
                },
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

/// `POST /admin/administrateurs`: another administrator; their password and
/// TOTP secret are shown once, on this answer only (never stored in clear).
pub async fn add_administrator(
    State(st): State<AppState>,
    admin: AdminCtx,
    form: RawForm,
) -> Result<Response, AppError> {
    let req = BootstrapRequest {
        first_name: form.get("first_name").to_string(),
        last_name: form.get("last_name").to_string(),
        login: form.get("login").to_string(),
        issuer: administration::totp_issuer(st.config.public_url.as_deref()),
    };
    match administration::add_administrator(
        st.store.as_ref(),
        st.break_glass.secrets(),
        &req,
        &actor(&admin),
    )
    .await
    {
        Ok(done) => {
            let mut resp =
                views::admin::credentials(&admin, st.config.is_sandbox(), &done).into_response();
            resp.headers_mut().insert(
                header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            Ok(resp)
        }
        Err(AdminError::Invalid { field, message }) => {
            let name = match field {
                "prénom" => "first_name",
                "nom" => "last_name",
                _ => "login",
            };
            let mut admin_errors = Errors::new();
            admin_errors.insert(name, format!("{field} : {message}"));
            render(
                &st,
                &admin,
                Kept {
                    new_admin: req,
                    admin_errors,
                    ..Default::default()
                },
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(AdminError::Store(e)) => Err(e.into()),
        Err(e) => Err(AppError::Internal(e.into())),
    }
}
