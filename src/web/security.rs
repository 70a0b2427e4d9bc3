//! Security headers and request tracing.

use axum::Router;
use axum::extract::MatchedPath;
use axum::http::{HeaderName, HeaderValue, Request, header};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// No inline script or style anywhere: htmx is served from our origin and its
/// indicator styles are switched off (see the layout's htmx-config).
/// `connect-src` also lets the page reach `escale agent` on the reception PC's
/// loopback (the agent itself only answers Escale's origin).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self' http://127.0.0.1:8765; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

fn headers() -> [(HeaderName, &'static str); 6] {
    [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // Not `no-referrer`: under it browsers send `Origin: null` on same-site
        // form posts, which the CSRF origin check must refuse. URLs hold no
        // personal data (ids only) and never leave the site.
        (header::REFERRER_POLICY, "same-origin"),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=()",
        ),
        // Health data: never cached by browsers or proxies (static assets set their own).
        (header::CACHE_CONTROL, "no-store"),
    ]
}

/// Adds the security headers (unless a handler set its own) and a request span
/// named by the matched route, never the raw path (it holds ids).
pub fn wrap<S: Clone + Send + Sync + 'static>(mut router: Router<S>) -> Router<S> {
    for (name, value) in headers() {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    router.layer(
        TraceLayer::new_for_http()
            .make_span_with(make_span as fn(&Request<axum::body::Body>) -> tracing::Span),
    )
}

fn make_span(req: &Request<axum::body::Body>) -> tracing::Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "-".into());
    tracing::info_span!("http", method = %req.method(), route = %route)
}
