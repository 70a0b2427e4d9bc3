//! `GET /healthz`: no session; 200 with the backend name, 503 when the database
//! does not answer.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::time::Duration;

use crate::web::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz))
}

async fn healthz(State(st): State<AppState>) -> impl IntoResponse {
    let database = st.store.backend().name();
    let mode = if st.config.is_sandbox() {
        "sandbox"
    } else {
        "production"
    };
    let version = env!("CARGO_PKG_VERSION");
    match tokio::time::timeout(Duration::from_secs(3), st.store.ping()).await {
        Ok(Ok(())) => (
            StatusCode::OK,
            Json(json!({"status": "ok", "database": database, "mode": mode, "version": version})),
        ),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"status": "unavailable", "database": database, "mode": mode, "version": version}),
            ),
        ),
    }
}
