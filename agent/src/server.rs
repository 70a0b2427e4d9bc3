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
//!
//! A card read needs more (issue 11, finding 8): the `Origin` header itself
//! (a browser always sends it on this cross-origin fetch: without it, the
//! caller is not the Escale page), the session token the page got from Escale
//! ([`crate::token`], header `X-Escale-Jeton`), and a free slot of the
//! [`ReadLimit`]. Refused requests never reach the reader, nor use up a slot,
//! so that a stranger cannot lock the reception out.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, CACHE_CONTROL, HOST, ORIGIN, RETRY_AFTER, VARY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::Mutex;

use super::card::{CardError, CardReader};
use super::token::{self, SessionTag, SharedKey, TokenError};

/// A card read that takes longer is answered with 504 (the blocking read goes
/// on in its thread; PC/SC has its own timeouts).
const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// Chrome's Private Network Access preflight (public site → loopback).
const REQUEST_PRIVATE_NETWORK: &str = "access-control-request-private-network";
const ALLOW_PRIVATE_NETWORK: &str = "access-control-allow-private-network";

/// How many card reads the agent accepts: `burst` at once, then one more
/// every `every` (for the whole agent: there is one reader).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimit {
    pub burst: u32,
    pub every: Duration,
}

impl Default for ReadLimit {
    /// 5 reads at once, then 5 a minute: a receptionist who retries while
    /// the card settles is never stopped; a page that loops is.
    fn default() -> Self {
        ReadLimit {
            burst: 5,
            every: Duration::from_secs(12),
        }
    }
}

/// What the router needs besides the reader.
#[derive(Debug, Clone)]
pub struct Access {
    /// The exact Escale origin (`scheme://host[:port]`), already checked.
    pub origin: HeaderValue,
    pub key: SharedKey,
    pub limit: ReadLimit,
}

/// Generic cell rate algorithm: the theoretical arrival time of the next
/// read; a read is allowed while it is at most `burst - 1` intervals ahead.
struct Throttle {
    limit: ReadLimit,
    next: Option<Instant>,
}

impl Throttle {
    /// `Err(wait)` when no slot is free.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let next = self.next.map_or(now, |t| t.max(now));
        let allowance = self.limit.every * self.limit.burst.saturating_sub(1);
        let ahead = next - now;
        if ahead > allowance {
            return Err(ahead - allowance);
        }
        self.next = Some(next + self.limit.every);
        Ok(())
    }
}

#[derive(Clone)]
struct AppState {
    origin: HeaderValue,
    key: Arc<SharedKey>,
    throttle: Arc<std::sync::Mutex<Throttle>>,
    reader: Arc<dyn CardReader>,
    /// One card read at a time.
    turn: Arc<Mutex<()>>,
}

/// The agent's routes.
pub fn router(access: Access, reader: Arc<dyn CardReader>) -> Router {
    let state = AppState {
        origin: access.origin,
        key: Arc::new(access.key),
        throttle: Arc::new(std::sync::Mutex::new(Throttle {
            limit: access.limit,
            next: None,
        })),
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

/// Why a card read is refused (before the reader is touched).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    NoOrigin,
    NoToken,
    ExpiredToken,
    InvalidToken,
    /// No free slot for this many seconds.
    TooMany(u64),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::NoOrigin => error(
                StatusCode::FORBIDDEN,
                "origine_absente",
                "Requête sans origine refusée : seule la page Escale configurée peut lire la carte Vitale",
            ),
            Refusal::NoToken => error(
                StatusCode::UNAUTHORIZED,
                "jeton_absent",
                "Jeton de session absent : lisez la carte depuis la page Escale",
            ),
            Refusal::ExpiredToken => error(
                StatusCode::UNAUTHORIZED,
                "jeton_expire",
                "Jeton de session expiré : rechargez la page Escale (reconnectez-vous si besoin)",
            ),
            Refusal::InvalidToken => error(
                StatusCode::FORBIDDEN,
                "jeton_invalide",
                "Jeton de session invalide : rechargez la page Escale ; si cela persiste, la clé partagée de l'agent n'est pas celle d'Escale",
            ),
            Refusal::TooMany(seconds) => {
                let mut resp = error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "trop_de_lectures",
                    &format!("Trop de lectures de la carte : réessayez dans {seconds} s"),
                );
                resp.headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(seconds));
                resp
            }
        }
    }
}

/// The Escale page, with a live session token, within the read limit.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<SessionTag, Refusal> {
    if !headers.contains_key(ORIGIN) {
        return Err(Refusal::NoOrigin);
    }
    let sent = headers.get(token::HEADER).ok_or(Refusal::NoToken)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let tag = match sent.to_str().map(|t| state.key.verify(t, now)) {
        Ok(Ok(tag)) => tag,
        Ok(Err(TokenError::Expired)) => return Err(Refusal::ExpiredToken),
        Ok(Err(TokenError::Invalid)) | Err(_) => {
            tracing::warn!("lecture refusée : jeton de session invalide");
            return Err(Refusal::InvalidToken);
        }
    };
    state
        .throttle
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take(Instant::now())
        .map_err(|wait| Refusal::TooMany(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)))?;
    Ok(tag)
}

async fn beneficiaires(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match authorize(&state, &headers) {
        Ok(tag) => tag,
        Err(refused) => return refused.into_response(),
    };
    let reader = Arc::clone(&state.reader);
    let read = async {
        let _turn = state.turn.lock().await;
        tokio::task::spawn_blocking(move || reader.read_beneficiaries()).await
    };
    match tokio::time::timeout(READ_TIMEOUT, read).await {
        Ok(Ok(Ok(list))) => {
            tracing::info!(beneficiaires = list.len(), %session, "carte Vitale lue");
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
    headers.insert(
        ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(token::HEADER),
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
    const KEY: &str = "cle-de-test-partagee-0123456789abcdef";

    fn key() -> SharedKey {
        SharedKey::parse(KEY).unwrap()
    }

    /// A token of a session that ends in an hour.
    fn jeton() -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        key().issue(b"session", now.as_secs() as i64 + 3600)
    }

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
        let access = Access {
            origin: HeaderValue::from_static(ESCALE),
            key: key(),
            limit: ReadLimit::default(),
        };
        let app = router(access, Arc::new(Fake(reader)));
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
        let jeton = jeton();
        let (status, headers, body) = call(
            one,
            Method::GET,
            "/vitale/beneficiaires",
            &[LOCAL, ("origin", ESCALE), (token::HEADER, jeton.as_str())],
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
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_HEADERS], token::HEADER);
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
    async fn no_origin_reads_no_card() {
        let jeton = jeton();
        let (status, headers, body) = call(
            one,
            Method::GET,
            "/vitale/beneficiaires",
            &[LOCAL, (token::HEADER, jeton.as_str())],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(!headers.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
        assert_eq!(body["erreur"], "origine_absente");
        let (status, headers, _) = call(one, Method::GET, "/healthz", &[LOCAL]).await;
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

    #[test]
    fn the_throttle_lets_a_burst_through_then_one_per_interval() {
        let every = Duration::from_secs(12);
        let mut t = Throttle {
            limit: ReadLimit { burst: 3, every },
            next: None,
        };
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(t.take(start), Ok(()));
        }
        assert_eq!(t.take(start), Err(every));
        assert_eq!(
            t.take(start + Duration::from_secs(2)),
            Err(every - Duration::from_secs(2))
        );
        assert_eq!(t.take(start + every), Ok(()));
        assert_eq!(t.take(start + every), Err(every));
        // Idle for long: the full burst again, no more.
        let later = start + every * 100;
        for _ in 0..3 {
            assert_eq!(t.take(later), Ok(()));
        }
        assert!(t.take(later).is_err());
    }

    #[tokio::test]
    async fn card_errors_are_french_json() {
        let jeton = jeton();
        let escale = [LOCAL, ("origin", ESCALE), (token::HEADER, jeton.as_str())];
        let (status, headers, body) = call(
            || Err(CardError::AucuneCarte),
            Method::GET,
            "/vitale/beneficiaires",
            &escale,
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
            &escale,
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
