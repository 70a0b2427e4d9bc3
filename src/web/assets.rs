//! Static assets: our stylesheet and htmx (fetched from npm at build time).

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use std::sync::Once;

use super::AppState;

const CSS: &str = include_str!("../../static/escale.css");
/// Our script reading the Carte Vitale through the workstation agent.
const VITALE_JS: &str = include_str!("../../static/vitale.js");
const HTMX: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/htmx.min.js"));
pub const HTMX_VERSION: &str = env!("BUNDLED_HTMX_VERSION");

pub fn htmx_available() -> bool {
    !HTMX.is_empty()
}

/// Says once, at start, that pages will work without htmx.
pub fn announce_htmx() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if !htmx_available() {
            tracing::warn!("htmx absent de cette compilation (npm injoignable) : l'interface fonctionne avec des formulaires simples");
        }
    });
}

fn asset(content_type: &'static str, body: &'static [u8]) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        body,
    )
}

pub fn routes() -> Router<AppState> {
    let mut r = Router::new().route(
        "/static/escale.css",
        get(|| async { asset("text/css; charset=utf-8", CSS.as_bytes()) }),
    );
    r = r.route(
        "/static/vitale.js",
        get(|| async { asset("text/javascript; charset=utf-8", VITALE_JS.as_bytes()) }),
    );
    if htmx_available() {
        r = r.route(
            "/static/htmx.min.js",
            get(|| async { asset("text/javascript; charset=utf-8", HTMX) }),
        );
    }
    r
}
