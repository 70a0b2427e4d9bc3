//! HTTP: axum routes, session and CSRF middleware, maud views. French for
//! everything a person reads.

mod admin_session;
mod assets;
mod card_agent;
mod client;
mod error;
mod extract;
mod oversized;
mod routes;
pub use routes::auth::MAX_PENDING_LOGINS;
mod security;
pub mod server;
mod session;
mod uploads;
mod views;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use std::sync::Arc;
use std::time::Duration;
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::config::Config;
use crate::store::DynStore;

pub use error::AppError;
pub use session::{Ctx, SESSION_COOKIE, SESSION_COOKIE_SECURE};

/// SHA-256 (hex) of a token: what the database keeps.
pub fn hash_token(token: &str) -> String {
    session::hash_token(token)
}

/// A random URL-safe token (32 bytes).
pub fn random_token() -> String {
    session::random_token()
}

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: DynStore,
    pub insi: Arc<crate::services::insi::InsiService>,
    pub dmp: Arc<crate::services::dmp::DmpService>,
    pub mss: Arc<crate::services::mss::MssService>,
    pub psc: Arc<crate::services::psc::PscService>,
    pub directory: Arc<crate::services::annuaire::DirectoryService>,
    /// The job runner of this process (woken when a job is enqueued).
    pub jobs: crate::jobs::Runner,
    /// The structures' teams as file pages show them (a few seconds).
    pub team: Arc<crate::services::team::TeamCache>,
    /// The break-glass login's throttling, lock-outs and journal summaries.
    pub break_glass: Arc<crate::services::administration::BreakGlassGuard>,
    /// Signs the card agent's session tokens; `None`: no card reading.
    pub card_agent: Option<Arc<escale_agent::token::SharedKey>>,
}

pub fn router(state: AppState) -> Router {
    assets::announce_htmx();
    let limit = state.config.max_body_bytes;
    let http = &state.config.http;
    let request_limit = Duration::from_secs(http.request_timeout_seconds);
    let body_limit = Duration::from_secs(http.body_timeout_seconds);
    let app = routes::routes(&state.config)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            session::session_layer,
        ))
        .merge(
            routes::admin::routes().layer(axum::middleware::from_fn_with_state(
                state.clone(),
                admin_session::admin_layer,
            )),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            oversized::refuse_oversized,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .layer(RequestBodyTimeoutLayer::new(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            request_limit,
            server::request_timeout,
        ))
        .merge(assets::routes())
        .merge(routes::health::routes())
        .fallback(routes::not_found);
    security::wrap(app).with_state(state)
}
