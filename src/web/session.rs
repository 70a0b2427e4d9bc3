//! Sessions (a random token in a cookie, its SHA-256 in the database) and CSRF
//! protection (Origin / Sec-Fetch-Site check plus a token bound to the session,
//! sent in forms as `_csrf` and by htmx as `X-CSRF-Token`).

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{AppError, AppState};
use crate::config::Config;
use crate::domain::tenant::Tenant;
use crate::domain::text::constant_time_eq;
use crate::store::{NewSession, SessionRow};

pub const SESSION_COOKIE: &str = "escale_session";
/// With `Secure`, the `__Host-` prefix also pins the cookie to this host and path `/`.
pub const SESSION_COOKIE_SECURE: &str = "__Host-escale_session";
pub(super) const PRE_CSRF_COOKIE: &str = "escale_csrf";
pub const CSRF_FIELD: &str = "_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// last_seen_at is written at most this often (a read-mostly hot path).
const TOUCH_EVERY_SECONDS: i64 = 60;

/// A logged-in professional acting in one structure.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub session: SessionRow,
    pub tenant: Tenant,
    pub htmx: bool,
}

/// What the session middleware found, for extractors and handlers.
#[derive(Debug, Clone, Default)]
pub struct SessionState {
    pub ctx: Option<Ctx>,
    pub expired: bool,
    /// Token of the pre-login CSRF cookie, if any.
    pub pre_csrf: Option<String>,
}

pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub(crate) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn session_cookie_name(config: &Config) -> &'static str {
    if config.secure_cookies() {
        SESSION_COOKIE_SECURE
    } else {
        SESSION_COOKIE
    }
}

fn cookie(config: &Config, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    scoped_cookie(config, name, value, "/", max_age)
}

/// An HttpOnly, SameSite=Lax cookie limited to `path` (`Secure` over HTTPS).
pub(crate) fn scoped_cookie(
    config: &Config,
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<i64>,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax");
    if config.secure_cookies() {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&c).expect("cookie is ASCII")
}

fn is_htmx(headers: &HeaderMap) -> bool {
    headers.get("hx-request").is_some_and(|v| v == "true")
}

/// Loads the session, enforces expiry, and checks CSRF on state changes.
pub async fn session_layer(State(st): State<AppState>, req: Request, next: Next) -> Response {
    match load_and_check(&st, req).await {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

async fn load_and_check(st: &AppState, mut req: Request) -> Result<Request, AppError> {
    let headers = req.headers();
    let htmx = is_htmx(headers);
    let mut state = SessionState {
        pre_csrf: cookie_value(headers, PRE_CSRF_COOKIE).map(str::to_string),
        ..Default::default()
    };
    if let Some(token) = cookie_value(headers, session_cookie_name(&st.config)) {
        let hash = hash_token(token);
        if let Some((session, tenant)) = st.store.session_with_tenant(&hash).await? {
            let now = Utc::now();
            let idle = Duration::minutes(i64::from(st.config.session.idle_minutes));
            if session.expires_at <= now || now - session.last_seen_at > idle {
                st.store.delete_session(&hash).await?;
                state.expired = true;
            } else {
                if (now - session.last_seen_at).num_seconds() >= TOUCH_EVERY_SECONDS {
                    st.store.touch_session(&hash, now).await?;
                }
                state.ctx = Some(Ctx {
                    session,
                    tenant,
                    htmx,
                });
            }
        }
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        check_origin(req.headers(), &st.config)?;
        let expected = match (&state.ctx, &state.pre_csrf) {
            (Some(ctx), _) => ctx.session.csrf_token.clone(),
            (None, Some(pre)) => pre.clone(),
            (None, None) => {
                return Err(refuse(
                    "aucun jeton attendu (pas de session ni de cookie de pré-connexion)",
                ));
            }
        };
        let limit =
            super::uploads::body_limit(req.method(), req.uri().path(), req.headers(), &st.config);
        req = check_token(req, &expected, limit).await?;
    }
    req.extensions_mut().insert(state);
    Ok(req)
}

/// A cross-site request is refused before any token is looked at.
pub(super) fn check_origin(headers: &HeaderMap, config: &Config) -> Result<(), AppError> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(refuse("Sec-Fetch-Site d'un autre site"));
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let expected = match &config.public_url {
            Some(u) => u.clone(),
            None => {
                let host = headers
                    .get(header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                format!("http://{host}")
            }
        };
        if origin != expected {
            return Err(refuse("en-tête Origin d'un autre site"));
        }
    }
    Ok(())
}

pub(super) async fn check_token(
    req: Request,
    expected: &str,
    limit: usize,
) -> Result<Request, AppError> {
    if let Some(h) = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        return if constant_time_eq(h, expected) {
            Ok(req)
        } else {
            Err(refuse("jeton X-CSRF-Token invalide"))
        };
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let is_form = content_type.starts_with("application/x-www-form-urlencoded");
    let is_multipart = content_type.starts_with("multipart/form-data");
    if !is_form && !is_multipart {
        return Err(refuse("ni en-tête X-CSRF-Token ni formulaire"));
    }
    // A declared oversized body was already answered (web::oversized); a
    // chunked one is cut by the limit below.
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| AppError::PayloadTooLarge)?;
    let token = if is_form {
        form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.into_owned())
    } else {
        super::uploads::text_field(&content_type, &bytes, CSRF_FIELD).await
    };
    match token {
        Some(t) if constant_time_eq(&t, expected) => {
            Ok(Request::from_parts(parts, Body::from(bytes)))
        }
        Some(_) => Err(refuse("jeton _csrf invalide")),
        None => Err(refuse("champ _csrf absent")),
    }
}

/// Refusals are logged (the reason, never a token) so that an operator can
/// tell a misconfigured proxy (Origin) from a stale form.
fn refuse(reason: &'static str) -> AppError {
    tracing::info!(reason, "requête refusée par la protection CSRF");
    AppError::Csrf
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let state = parts
            .extensions
            .get::<SessionState>()
            .cloned()
            .unwrap_or_default();
        state.ctx.ok_or(AppError::LoginRequired {
            expired: state.expired,
            htmx: is_htmx(&parts.headers),
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SessionState {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<SessionState>()
            .cloned()
            .unwrap_or_default())
    }
}

/// Opens a session; returns the `Set-Cookie` value for it and the token's hash.
pub async fn open_session(
    st: &AppState,
    professional_id: uuid::Uuid,
    structure_id: uuid::Uuid,
    auth_method: &str,
) -> Result<(HeaderValue, String), AppError> {
    let token = random_token();
    let now = Utc::now();
    let token_hash = hash_token(&token);
    st.store
        .create_session(&NewSession {
            token_hash: token_hash.clone(),
            professional_id,
            structure_id,
            csrf_token: random_token(),
            auth_method: auth_method.to_string(),
            created_at: now,
            expires_at: now + Duration::hours(i64::from(st.config.session.max_hours)),
        })
        .await?;
    Ok((
        cookie(&st.config, session_cookie_name(&st.config), &token, None),
        token_hash,
    ))
}

/// Ends the session of the request and returns the cookie that clears it.
pub async fn close_session(st: &AppState, headers: &HeaderMap) -> Result<HeaderValue, AppError> {
    if let Some(token) = cookie_value(headers, session_cookie_name(&st.config)) {
        st.store.delete_session(&hash_token(token)).await?;
    }
    Ok(cookie(
        &st.config,
        session_cookie_name(&st.config),
        "",
        Some(0),
    ))
}

/// The `Set-Cookie` of a pre-login CSRF token (forms shown before a session exists).
pub fn pre_login_cookie(st: &AppState, token: &str) -> HeaderValue {
    cookie(&st.config, PRE_CSRF_COOKIE, token, None)
}
