//! The instance administrator's session: its own cookie, limited to `/admin`
//! (SameSite=Strict), its own table and its own CSRF token. It never opens a
//! professional's session: the routes of user files do not read this cookie.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};

use super::session::{PRE_CSRF_COOKIE, check_origin, check_token, cookie_value, hash_token};
use super::{AppError, AppState};
use crate::config::Config;
use crate::store::access::AdminSession;

const ADMIN_COOKIE: &str = "escale_admin";
/// Over HTTPS: `__Secure-` (the browser then insists on `Secure`).
const ADMIN_COOKIE_SECURE: &str = "__Secure-escale_admin";

/// A logged-in instance administrator.
#[derive(Debug, Clone)]
pub struct AdminCtx {
    pub session: AdminSession,
}

/// What the admin middleware found.
#[derive(Debug, Clone, Default)]
pub struct AdminState {
    pub admin: Option<AdminCtx>,
    pub pre_csrf: Option<String>,
}

fn cookie_name(config: &Config) -> &'static str {
    if config.secure_cookies() {
        ADMIN_COOKIE_SECURE
    } else {
        ADMIN_COOKIE
    }
}

fn admin_cookie(config: &Config, value: &str, max_age: i64) -> HeaderValue {
    let mut c = format!(
        "{}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={max_age}",
        cookie_name(config)
    );
    if config.secure_cookies() {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).expect("cookie is ASCII")
}

/// Loads the admin session and checks CSRF on every state change under `/admin`.
pub async fn admin_layer(State(st): State<AppState>, req: Request, next: Next) -> Response {
    match load_and_check(&st, req).await {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

async fn load_and_check(st: &AppState, mut req: Request) -> Result<Request, AppError> {
    let headers = req.headers();
    let mut state = AdminState {
        pre_csrf: cookie_value(headers, PRE_CSRF_COOKIE).map(str::to_string),
        ..Default::default()
    };
    if let Some(token) = cookie_value(headers, cookie_name(&st.config)) {
        state.admin = st
            .store
            .admin_session(&hash_token(token))
            .await?
            .map(|session| AdminCtx { session });
    }
    // Logging out of a session that already ended changes nothing: the
    // handler only clears the cookie (no 403 for a stale form).
    let stale_logout = state.admin.is_none() && req.uri().path() == "/admin/deconnexion";
    if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) && !stale_logout {
        check_origin(req.headers(), &st.config)?;
        let expected = match (&state.admin, &state.pre_csrf) {
            (Some(a), _) => a.session.csrf_token.clone(),
            (None, Some(pre)) => pre.clone(),
            (None, None) => return Err(AppError::Csrf),
        };
        req = check_token(req, &expected, st.config.max_body_bytes).await?;
    }
    req.extensions_mut().insert(state);
    Ok(req)
}

impl<S: Send + Sync> FromRequestParts<S> for AdminState {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<AdminState>()
            .cloned()
            .unwrap_or_default())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AdminCtx {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<AdminState>()
            .and_then(|s| s.admin.clone())
            .ok_or_else(|| Redirect::to("/admin/connexion").into_response())
    }
}

/// Opens an administration session; returns its `Set-Cookie`.
pub async fn open(st: &AppState, professional_id: uuid::Uuid) -> Result<HeaderValue, AppError> {
    let token = super::random_token();
    let minutes = crate::services::administration::SESSION_MINUTES;
    st.store
        .create_admin_session(
            &hash_token(&token),
            professional_id,
            &super::random_token(),
            Utc::now() + Duration::minutes(minutes),
        )
        .await?;
    Ok(admin_cookie(&st.config, &token, minutes * 60))
}

/// Ends the administration session of the request; returns the clearing cookie.
pub async fn close(
    st: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<HeaderValue, AppError> {
    if let Some(token) = cookie_value(headers, cookie_name(&st.config)) {
        st.store.delete_admin_session(&hash_token(token)).await?;
    }
    Ok(admin_cookie(&st.config, "", 0))
}
