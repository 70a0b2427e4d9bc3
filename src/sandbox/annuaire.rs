//! Annuaire Santé sandbox: a FHIR R4 server on its own socket speaking like
//! `https://gateway.api.esante.gouv.fr/fhir/v2` (plain HTTP on loopback),
//! serving the sandbox professionals and structures ([`professionals`]) —
//! the real API has no sandbox (research psc-annuaire.md §2).
//!
//! As strict as the real one: `ESANTE-API-KEY` required (401), GET only
//! (405; the real API's `POST _search` is not simulated), unknown search
//! parameters refused (400), all with an OperationOutcome; `_count` (default
//! 50, at most 100), searchset Bundles with `self` and an absolute `next`
//! link `<base>?_getpages=<uuid>&_pageId=<opaque>`; 17 requests per second
//! per key (429 beyond, on by default). Behaviours switchable through the
//! handle: slow, down, 503, 504 or 429 for the next K requests.
//!
//! [`professionals`]: crate::sandbox::professionals

mod paging;
pub mod resources;
pub mod search;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use self::resources::Dataset;
use self::search::Kind;
use crate::connectors::annuaire::{API_KEY_HEADER, FHIR_JSON};
use crate::domain::directory::DirectoryPerson;

/// Key accepted by default.
pub const SANDBOX_API_KEY: &str = "escale-bac-a-sable-annuaire";
/// Path of the FHIR base, as in production.
pub const BASE_PATH: &str = "/fhir/v2";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnnuaireBehaviour {
    Normal,
    /// Waits this long before answering.
    Slow(Duration),
    /// Accepts TCP connections and closes them at once.
    Down,
    /// Answers every request `503 Service Unavailable`.
    Unavailable,
}

#[derive(Debug, Clone)]
pub struct AnnuaireSandboxOptions {
    /// Port 0 for any free port.
    pub bind: SocketAddr,
    pub api_key: String,
    /// People served besides the sandbox professionals (see
    /// [`resources::generated_practitioners`]).
    pub extra_people: Vec<DirectoryPerson>,
    /// Raw FHIR resources served as they are (sparse or odd records).
    pub extra_resources: Vec<Value>,
    pub behaviour: AnnuaireBehaviour,
    /// Answer 429 beyond `rate_limit` requests in any second.
    pub enforce_rate_limit: bool,
    pub rate_limit: u32,
    pub default_count: usize,
    pub max_count: usize,
}

impl Default for AnnuaireSandboxOptions {
    fn default() -> Self {
        AnnuaireSandboxOptions {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: SANDBOX_API_KEY.to_owned(),
            extra_people: Vec::new(),
            extra_resources: Vec::new(),
            behaviour: AnnuaireBehaviour::Normal,
            enforce_rate_limit: true,
            rate_limit: 17,
            default_count: 50,
            max_count: 100,
        }
    }
}

#[derive(Debug, Error)]
pub enum AnnuaireSandboxError {
    #[error(
        "bac à sable Annuaire Santé : impossible d'écouter sur {addr} ({source}) ; choisissez un autre port"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// One request as received (the key's value is not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    pub method: String,
    /// Path and query string, as sent.
    pub target: String,
    pub accept: Option<String>,
    pub had_api_key: bool,
}

struct State {
    base_url: String,
    api_key: String,
    data: Dataset,
    default_count: usize,
    max_count: usize,
    rate_limit: u32,
    enforce_rate_limit: AtomicBool,
    behaviour: Mutex<AnnuaireBehaviour>,
    /// Woken when the service goes down: open connections are dropped too.
    down: tokio::sync::Notify,
    gateway_timeouts: AtomicU32,
    throttles: AtomicU32,
    throttle_retry_after: AtomicU32,
    requests: AtomicUsize,
    rate_limited: AtomicUsize,
    seen: Mutex<Vec<SeenRequest>>,
    window: Mutex<VecDeque<Instant>>,
    sessions: Mutex<paging::Sessions>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Takes one from a counter of pending injected failures.
fn take_one(counter: &AtomicU32) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// A running sandbox; stops when dropped.
pub struct AnnuaireSandboxHandle {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl AnnuaireSandboxHandle {
    /// `http://127.0.0.1:<port>/fhir/v2`.
    pub fn base_url(&self) -> &str {
        &self.state.base_url
    }

    pub fn api_key(&self) -> &str {
        &self.state.api_key
    }

    pub fn set_behaviour(&self, behaviour: AnnuaireBehaviour) {
        let down = behaviour == AnnuaireBehaviour::Down;
        *lock(&self.state.behaviour) = behaviour;
        if down {
            self.state.down.notify_waiters();
        }
    }

    /// The next `k` requests get `504 Gateway Timeout`.
    pub fn fail_next_with_gateway_timeout(&self, k: u32) {
        self.state.gateway_timeouts.store(k, Ordering::SeqCst);
    }

    /// The next `k` requests get `429 Too Many Requests` with `Retry-After`.
    pub fn throttle_next(&self, k: u32, retry_after_secs: u32) {
        self.state
            .throttle_retry_after
            .store(retry_after_secs, Ordering::SeqCst);
        self.state.throttles.store(k, Ordering::SeqCst);
    }

    pub fn set_rate_limit_enforced(&self, on: bool) {
        self.state.enforce_rate_limit.store(on, Ordering::SeqCst);
    }

    /// HTTP requests received so far (refused ones included).
    pub fn request_count(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Requests refused with 429 because the rate limit was exceeded.
    pub fn rate_limited_count(&self) -> usize {
        self.state.rate_limited.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<SeenRequest> {
        lock(&self.state.seen).clone()
    }
}

impl Drop for AnnuaireSandboxHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub struct AnnuaireSandbox;

impl AnnuaireSandbox {
    pub async fn start(
        options: AnnuaireSandboxOptions,
    ) -> Result<AnnuaireSandboxHandle, AnnuaireSandboxError> {
        let bind = options.bind;
        let listener = TcpListener::bind(bind)
            .await
            .map_err(|source| AnnuaireSandboxError::Bind { addr: bind, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| AnnuaireSandboxError::Bind { addr: bind, source })?;
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else if addr.is_ipv6() {
            format!("[{}]", addr.ip())
        } else {
            addr.ip().to_string()
        };
        let base_url = format!("http://{host}:{}{BASE_PATH}", addr.port());
        let state = Arc::new(State {
            base_url: base_url.clone(),
            api_key: options.api_key,
            data: Dataset::sandbox(&options.extra_people, options.extra_resources),
            default_count: options.default_count,
            max_count: options.max_count.max(1),
            rate_limit: options.rate_limit,
            enforce_rate_limit: AtomicBool::new(options.enforce_rate_limit),
            behaviour: Mutex::new(options.behaviour),
            down: tokio::sync::Notify::new(),
            gateway_timeouts: AtomicU32::new(0),
            throttles: AtomicU32::new(0),
            throttle_retry_after: AtomicU32::new(1),
            requests: AtomicUsize::new(0),
            rate_limited: AtomicUsize::new(0),
            seen: Mutex::default(),
            window: Mutex::default(),
            sessions: Mutex::default(),
        });
        let task = tokio::spawn(accept_loop(listener, state.clone()));
        tracing::info!(url = %base_url, "bac à sable Annuaire Santé démarré");
        Ok(AnnuaireSandboxHandle { addr, state, task })
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            continue;
        };
        if *lock(&state.behaviour) == AnnuaireBehaviour::Down {
            tracing::debug!(%peer, "bac à sable Annuaire en panne simulée : connexion fermée");
            drop(tcp);
            continue;
        }
        let state = state.clone();
        tokio::spawn(async move {
            let for_service = state.clone();
            let service = hyper::service::service_fn(move |req| {
                let state = for_service.clone();
                async move { Ok::<_, Infallible>(handle(&state, req).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service);
            tokio::select! {
                served = connection => {
                    if let Err(e) = served {
                        tracing::debug!(%peer, error = %e, "bac à sable Annuaire : connexion interrompue");
                    }
                }
                () = state.down.notified() => {
                    tracing::debug!(%peer, "bac à sable Annuaire en panne simulée : connexion coupée");
                }
            }
        });
    }
}

fn fhir_response(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(
            hyper::header::CONTENT_TYPE,
            format!("{FHIR_JSON};charset=utf-8"),
        )
        .body(Body::from(body.to_string()))
        .expect("réponse HTTP valide")
}

/// An OperationOutcome with one issue (FHIR issue type `code`).
fn outcome(status: StatusCode, code: &str, diagnostics: &str) -> Response<Body> {
    fhir_response(
        status,
        &json!({
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}]
        }),
    )
}

fn too_many(retry_after: u32, diagnostics: &str) -> Response<Body> {
    let mut r = outcome(StatusCode::TOO_MANY_REQUESTS, "throttled", diagnostics);
    r.headers_mut().insert(
        hyper::header::RETRY_AFTER,
        hyper::header::HeaderValue::from(retry_after),
    );
    r
}

/// Sliding one-second window: true when this request is within the limit.
fn within_rate(state: &State) -> bool {
    let now = Instant::now();
    let mut window = lock(&state.window);
    while window
        .front()
        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
    {
        window.pop_front();
    }
    if window.len() >= state.rate_limit as usize {
        return false;
    }
    window.push_back(now);
    true
}

async fn handle(state: &State, req: Request<hyper::body::Incoming>) -> Response<Body> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let key = header(API_KEY_HEADER);
    let accept = header(hyper::header::ACCEPT.as_str());
    lock(&state.seen).push(SeenRequest {
        method: req.method().to_string(),
        target: target.clone(),
        accept: accept.clone(),
        had_api_key: key.is_some(),
    });
    let behaviour = lock(&state.behaviour).clone();
    match behaviour {
        AnnuaireBehaviour::Slow(delay) => tokio::time::sleep(delay).await,
        AnnuaireBehaviour::Unavailable => {
            return outcome(
                StatusCode::SERVICE_UNAVAILABLE,
                "transient",
                "Service temporairement indisponible (simulé par le bac à sable)",
            );
        }
        AnnuaireBehaviour::Normal | AnnuaireBehaviour::Down => {}
    }
    if take_one(&state.gateway_timeouts) {
        return outcome(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            "Gateway Timeout (simulé par le bac à sable)",
        );
    }
    if take_one(&state.throttles) {
        return too_many(
            state.throttle_retry_after.load(Ordering::SeqCst),
            "Rate limit exceeded (simulé par le bac à sable)",
        );
    }
    if req.method() != Method::GET {
        return outcome(
            StatusCode::METHOD_NOT_ALLOWED,
            "not-supported",
            &format!(
                "HTTP method {} is not supported by the sandbox (GET only)",
                req.method()
            ),
        );
    }
    if key.as_deref() != Some(state.api_key.as_str()) {
        return outcome(
            StatusCode::UNAUTHORIZED,
            "security",
            &format!("Missing or invalid {API_KEY_HEADER} header"),
        );
    }
    if state.enforce_rate_limit.load(Ordering::SeqCst)
        && state.rate_limit > 0
        && !within_rate(state)
    {
        state.rate_limited.fetch_add(1, Ordering::SeqCst);
        tracing::debug!("bac à sable Annuaire : limite de débit dépassée, 429");
        return too_many(
            1,
            "Rate limit exceeded: 17 requests per second per application",
        );
    }
    if let Some(a) = &accept
        && !a.contains("json")
        && !a.contains("*/*")
    {
        return outcome(
            StatusCode::NOT_ACCEPTABLE,
            "not-supported",
            "Only JSON is served by the sandbox (Accept: application/fhir+json)",
        );
    }
    let params: Vec<(String, String)> =
        form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let Some(rest) = req.uri().path().strip_prefix(BASE_PATH) else {
        return outcome(
            StatusCode::NOT_FOUND,
            "not-found",
            &format!("Unknown path: the FHIR base is {BASE_PATH}"),
        );
    };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        [] => paging::next_page(state, &params, &target),
        [kind] => match Kind::from_path(kind) {
            Some(k) => paging::first_page(state, k, &params, &target),
            None => unknown_type(kind),
        },
        [kind, id] => match Kind::from_path(kind) {
            Some(k) => read(state, k, id),
            None => unknown_type(kind),
        },
        _ => outcome(StatusCode::NOT_FOUND, "not-found", "Unknown path"),
    }
}

fn unknown_type(kind: &str) -> Response<Body> {
    outcome(
        StatusCode::NOT_FOUND,
        "not-supported",
        &format!(
            "Unknown resource type \"{kind}\" (sandbox: Practitioner, PractitionerRole, Organization)"
        ),
    )
}

fn read(state: &State, kind: Kind, id: &str) -> Response<Body> {
    match state
        .data
        .resources
        .iter()
        .find(|r| r["resourceType"] == kind.name() && r["id"] == id)
    {
        Some(r) => fhir_response(StatusCode::OK, r),
        None => outcome(
            StatusCode::NOT_FOUND,
            "not-found",
            &format!("Resource {}/{id} is not known", kind.name()),
        ),
    }
}
