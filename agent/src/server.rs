//! The loopback HTTP API read by the Escale page.
//!
//! - `GET /vitale/beneficiaires`: the card's beneficiaries, read fresh from
//!   the card on every request (JSON list), or a French error with its status;
//! - `GET /healthz`: `{"statut":"ok"}`.
//!
//! Every request goes through [`guard`]: the `Host` must be a loopback name
//! (a DNS-rebinding page reaches us with its own host name and no `Origin`),
//! and an `Origin`, when sent, must be exactly the configured Escale origin,
//! which alone gets `Access-Control-Allow-Origin`. No credentials are allowed.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE,
    CACHE_CONTROL, HOST, ORIGIN, VARY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::Mutex;

use super::card::{CardError, CardReader};

/// A card read that takes longer is answered with 504 (the blocking read goes
/// on in its thread; PC/SC has its own timeouts).
const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// Chrome's Private Network Access preflight (public site → loopback).
const REQUEST_PRIVATE_NETWORK: &str = "access-control-request-private-network";
const ALLOW_PRIVATE_NETWORK: &str = "access-control-allow-private-network";

#[derive(Clone)]
struct AppState {
    origin: HeaderValue,
    reader: Arc<dyn CardReader>,
    /// One card read at a time.
    turn: Arc<Mutex<()>>,
}

/// The agent's routes. `origin` is the exact Escale origin
/// (`scheme://host[:port]`), already checked by the caller.
pub fn router(origin: HeaderValue, reader: Arc<dyn CardReader>) -> Router {
    let state = AppState {
        origin,
        reader,
        turn: Arc::new(Mutex::new(())),
    };
    Router::new()
        .route("/vitale/beneficiaires", get(beneficiaires))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

async fn beneficiaires(State(state): State<AppState>) -> Response {
    let reader = Arc::clone(&state.reader);
    let read = async {
        let _turn = state.turn.lock().await;
        tokio::task::spawn_blocking(move || reader.read_beneficiaries()).await
    };
    match tokio::time::timeout(READ_TIMEOUT, read).await {
        Ok(Ok(Ok(list))) => {
            tracing::info!(beneficiaires = list.len(), "carte Vitale lue");
            Json(list).into_response()
        }
        Ok(Ok(Err(e))) => {
            let status = card_status(&e);
            if status == StatusCode::SERVICE_UNAVAILABLE {
                tracing::info!(erreur = %e, "lecture impossible");
            } else {
                tracing::warn!(erreur = ?e, "lecture de la carte en échec");
            }
            error(status, e.code(), &e.to_string())
        }
        Ok(Err(join)) => {
            tracing::error!(erreur = %join, "lecture de la carte interrompue");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "erreur_interne",
                "Erreur interne de l'agent Escale",
            )
        }
        Err(_) => error(
            StatusCode::GATEWAY_TIMEOUT,
            "delai_depasse",
            "Le lecteur de carte ne répond pas",
        ),
    }
}

fn card_status(e: &CardError) -> StatusCode {
    match e {
        CardError::ServiceIndisponible(_)
        | CardError::AucunLecteur
        | CardError::LecteurIntrouvable(_)
        | CardError::AucuneCarte
        | CardError::LecteurOccupe
        | CardError::CarteMuette
        | CardError::CarteRetiree => StatusCode::SERVICE_UNAVAILABLE,
        CardError::PasUneVitale | CardError::AucunBeneficiaire | CardError::Donnees(_) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        CardError::Refus { .. } | CardError::ReponseIncomplete | CardError::Communication(_) => {
            StatusCode::BAD_GATEWAY
        }
    }
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "statut": "ok" }))
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "introuvable",
        "Ressource introuvable",
    )
}

/// `{"erreur": code, "message": French sentence}`.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "erreur": code, "message": message }))).into_response()
}

async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut resp = check_and_run(&state, req, next).await;
    let headers = resp.headers_mut();
    headers.insert(VARY, HeaderValue::from_static("Origin"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

async fn check_and_run(state: &AppState, req: Request, next: Next) -> Response {
    if !host_is_loopback(req.headers().get(HOST)) {
        return error(
            StatusCode::FORBIDDEN,
            "hote_refuse",
            "Hôte refusé : l'agent Escale ne répond qu'à 127.0.0.1, [::1] ou localhost",
        );
    }
    let allowed = match req.headers().get(ORIGIN) {
        None => false,
        Some(origin) if origin.as_bytes() == state.origin.as_bytes() => true,
        Some(_) => {
            return error(
                StatusCode::FORBIDDEN,
                "origine_refusee",
                "Origine non autorisée : seul le site Escale configuré peut lire la carte Vitale",
            );
        }
    };
    if allowed && req.method() == Method::OPTIONS {
        return preflight(&state.origin, req.headers());
    }
    let mut resp = next.run(req).await;
    if allowed {
        resp.headers_mut()
            .insert(ACCESS_CONTROL_ALLOW_ORIGIN, state.origin.clone());
    }
    resp
}

fn preflight(origin: &HeaderValue, request: &HeaderMap) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let headers = resp.headers_mut();
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET"),
    );
    headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    if request
        .get(REQUEST_PRIVATE_NETWORK)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"))
    {
        headers.insert(ALLOW_PRIVATE_NETWORK, HeaderValue::from_static("true"));
    }
    resp
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
fn host_is_loopback(host: Option<&HeaderValue>) -> bool {
    let Some(host) = host.and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vitale::Beneficiary;
    use axum::body::Body;
    use tower::ServiceExt;

    const ESCALE: &str = "https://escale.example";

    struct Fake(fn() -> Result<Vec<Beneficiary>, CardError>);

    impl CardReader for Fake {
        fn read_beneficiaries(&self) -> Result<Vec<Beneficiary>, CardError> {
            (self.0)()
        }
    }

    fn one() -> Result<Vec<Beneficiary>, CardError> {
        Ok(vec![Beneficiary {
            nom: "MARTIN".into(),
            prenom: "CLAIRE".into(),
            date_naissance: "19800131".into(),
            date_naissance_iso: chrono::NaiveDate::from_ymd_opt(1980, 1, 31),
            nir: "280017512345610".into(),
            nir_ouvrant_droit: None,
            rang: Some(1),
        }])
    }

    async fn call(
        reader: fn() -> Result<Vec<Beneficiary>, CardError>,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, serde_json::Value) {
        let app = router(HeaderValue::from_static(ESCALE), Arc::new(Fake(reader)));
        let mut req = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, headers, body)
    }

    const LOCAL: (&str, &str) = ("host", "127.0.0.1:8765");

    #[tokio::test]
    async fn escale_origin_reads_the_card() {
        let (status, headers, body) = call(
            one,
            Method::GET,
            "/vitale/beneficiaires",
            &[LOCAL, ("origin", ESCALE)],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], ESCALE);
        assert_eq!(headers[CACHE_CONTROL], "no-store");
        assert_eq!(headers[VARY], "Origin");
        assert!(!headers.contains_key("access-control-allow-credentials"));
        assert_eq!(body[0]["nom"], "MARTIN");
        assert_eq!(body[0]["date_naissance_iso"], "1980-01-31");
        assert_eq!(body[0]["rang"], 1);
        assert_eq!(body[0]["nir_ouvrant_droit"], serde_json::Value::Null);
    }

    #[tokio::test]
    async fn other_origins_are_refused_without_cors() {
        for origin in [
            "https://evil.example",
            "https://escale.example.evil",
            "null",
            "http://escale.example",
        ] {
            let (status, headers, body) = call(
                one,
                Method::GET,
                "/vitale/beneficiaires",
                &[LOCAL, ("origin", origin)],
            )
            .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{origin}");
            assert!(!headers.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
            assert_eq!(body["erreur"], "origine_refusee");
        }
    }

    #[tokio::test]
    async fn preflight() {
        let (status, headers, _) = call(
            one,
            Method::OPTIONS,
            "/vitale/beneficiaires",
            &[
                LOCAL,
                ("origin", ESCALE),
                ("access-control-request-method", "GET"),
                (REQUEST_PRIVATE_NETWORK, "true"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], ESCALE);
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_METHODS], "GET");
        assert_eq!(headers[ALLOW_PRIVATE_NETWORK], "true");

        let (status, headers, _) = call(
            one,
            Method::OPTIONS,
            "/vitale/beneficiaires",
            &[
                LOCAL,
                ("origin", "https://evil.example"),
                ("access-control-request-method", "GET"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(!headers.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
    }

    #[tokio::test]
    async fn no_origin_gets_no_cors_header() {
        let (status, headers, _) = call(one, Method::GET, "/vitale/beneficiaires", &[LOCAL]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!headers.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
    }

    #[tokio::test]
    async fn foreign_host_is_refused() {
        for host in ["evil.example:8765", "192.168.1.10:8765", "::1"] {
            let (status, _, body) = call(one, Method::GET, "/healthz", &[("host", host)]).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{host}");
            assert_eq!(body["erreur"], "hote_refuse");
        }
        for host in ["localhost:8765", "[::1]:8765", "127.0.0.2"] {
            let (status, _, body) = call(one, Method::GET, "/healthz", &[("host", host)]).await;
            assert_eq!(status, StatusCode::OK, "{host}");
            assert_eq!(body["statut"], "ok");
        }
    }

    #[tokio::test]
    async fn card_errors_are_french_json() {
        let (status, headers, body) = call(
            || Err(CardError::AucuneCarte),
            Method::GET,
            "/vitale/beneficiaires",
            &[LOCAL, ("origin", ESCALE)],
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], ESCALE);
        assert_eq!(body["erreur"], "aucune_carte");
        assert_eq!(body["message"], "Aucune carte Vitale dans le lecteur");

        let (status, _, body) = call(
            || Err(CardError::PasUneVitale),
            Method::GET,
            "/vitale/beneficiaires",
            &[LOCAL],
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            body["message"],
            "La carte insérée n'est pas une carte Vitale"
        );

        let (status, _, body) = call(one, Method::GET, "/autre", &[LOCAL]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["erreur"], "introuvable");
    }
}
