//! INSi sandbox: the `rechercherInsAvecTraitsIdentite` operation over HTTPS
//! with client-certificate verification (like the `…-tlsm.ameli.fr` mTLS
//! endpoint, research ins.md §1.4–1.5), answering from the CNDA test
//! identities.
//!
//! - no or untrusted client certificate → TLS handshake refused;
//! - CN not `INSI-MANU`/`INSI-AUTO` → fault `DESIR_560` (padoa README);
//! - IDAM unknown → fault `siram_100` / `desir_550` (real fault example);
//! - anything else wrong → SOAP `Sender` fault saying what ([`checks`]).
//!
//! Faults come back with HTTP 500, like INSi (padoa `insi-client.service.ts`).

pub mod answers;
pub mod checks;
pub mod identities;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use hyper::{Method, Request, Response, StatusCode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use self::checks::Violation;
use self::identities::Lookup;
use crate::connectors::certificate::subject_from_der;
use crate::connectors::insi::is_allowed_cn;
use crate::sandbox::pki::TestPki;

/// Authorisation number the sandbox knows by default.
pub const SANDBOX_IDAM: &str = "ESCALE-BAC-A-SABLE-IDAM";

/// Path of the service (WSDL `soap12:address` …/lps).
pub const SERVICE_PATH: &str = "/lps";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// `siram_100` / `desir_550` « Numéro d'autorisation du logiciel inconnu. »
    IdamUnknown,
    /// `DESIR_560` « droits insuffisants ».
    InsufficientRights,
    /// `soap:Receiver`: technical error of the service.
    ServerError,
    /// A 200 answer of 2 MiB (a broken or hostile peer).
    Oversized,
    /// A 200 answer nested 100,000 elements deep.
    TooDeep,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    Normal,
    /// Waits this long before answering.
    Slow(Duration),
    /// Accepts TCP connections and closes them at once.
    Down,
    /// Answers every request with this fault.
    Fault(FaultKind),
}

#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Authorisation numbers (IDAM) accepted in `ContexteLPS/LPS/IDAM`.
    pub known_idams: Vec<String>,
    pub behaviour: Behaviour,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            known_idams: vec![SANDBOX_IDAM.to_owned()],
            behaviour: Behaviour::Normal,
        }
    }
}

#[derive(Debug, Error)]
pub enum SandboxError {
    #[error(
        "bac à sable INSi : impossible d'écouter sur {addr} ({source}) ; choisissez un autre port"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("bac à sable INSi : configuration TLS invalide ({0}) ; régénérez la PKI de test")]
    Tls(String),
}

/// Binds `bind` (port 0: any): the listener and the address it got.
pub(crate) async fn listen(bind: SocketAddr) -> Result<(TcpListener, SocketAddr), SandboxError> {
    let listener = TcpListener::bind(bind)
        .await
        .map_err(|source| SandboxError::Bind { addr: bind, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| SandboxError::Bind { addr: bind, source })?;
    Ok((listener, addr))
}

struct State {
    known_idams: Vec<String>,
    behaviour: Mutex<Behaviour>,
    requests: AtomicUsize,
    /// Client certificate CN of each request, in order (INSI-MANU / INSI-AUTO).
    client_cns: Mutex<Vec<String>>,
}

impl State {
    fn behaviour(&self) -> Behaviour {
        self.behaviour
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A running sandbox; stops when dropped.
pub struct SandboxHandle {
    /// `https://127.0.0.1:<port>/lps` (or `localhost`).
    pub url: String,
    pub addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl SandboxHandle {
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self
            .state
            .behaviour
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = behaviour;
    }

    /// The client certificate CN of every request so far.
    pub fn client_cns(&self) -> Vec<String> {
        self.state
            .client_cns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// HTTP requests received so far (after the TLS handshake).
    pub fn request_count(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub struct InsiSandbox;

impl InsiSandbox {
    /// Listens on `bind` (port 0 for any free port) with the PKI's server
    /// certificate, trusting client certificates issued by the PKI's CA.
    pub async fn start(
        bind: SocketAddr,
        pki: &TestPki,
        options: SandboxOptions,
    ) -> Result<SandboxHandle, SandboxError> {
        let tls = server_config(pki)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let (listener, addr) = listen(bind).await?;
        let host = if addr.ip().is_unspecified() || addr.ip().is_loopback() && addr.is_ipv6() {
            "localhost".to_owned()
        } else {
            addr.ip().to_string()
        };
        let url = format!("https://{host}:{}{SERVICE_PATH}", addr.port());
        let state = Arc::new(State {
            known_idams: options.known_idams,
            behaviour: Mutex::new(options.behaviour),
            requests: AtomicUsize::new(0),
            client_cns: Mutex::default(),
        });
        let task = tokio::spawn(accept_loop(listener, acceptor, state.clone()));
        tracing::info!(%url, "bac à sable INSi démarré");
        Ok(SandboxHandle {
            url,
            addr,
            state,
            task,
        })
    }
}

pub(crate) fn server_config(pki: &TestPki) -> Result<rustls::ServerConfig, SandboxError> {
    let tls_err = |e: &dyn std::fmt::Display| SandboxError::Tls(e.to_string());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(pki.ca_pem().as_bytes()) {
        roots
            .add(ca.map_err(|e| tls_err(&e))?)
            .map_err(|e| tls_err(&e))?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| tls_err(&e))?;
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pki.server().cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| tls_err(&e))?;
    let key = PrivateKeyDer::from_pem_slice(pki.server().key_pem.as_bytes())
        .map_err(|_| SandboxError::Tls("clé du serveur illisible".into()))?;
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(&e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| tls_err(&e))
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    state: Arc<State>,
) {
    let down = {
        let state = state.clone();
        move || state.behaviour() == Behaviour::Down
    };
    super::mtls::serve("INSi", listener, acceptor, down, move |certificate, req| {
        let state = state.clone();
        async move {
            let cn = certificate
                .and_then(|c| subject_from_der(&c).ok())
                .and_then(|s| s.common_name);
            Ok::<_, Infallible>(handle(&state, cn.as_deref(), req).await)
        }
    })
    .await
}

pub(crate) fn xml_response(status: StatusCode, xml: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(
            hyper::header::CONTENT_TYPE,
            "application/soap+xml;charset=utf-8",
        )
        .body(Body::from(xml))
        .expect("réponse HTTP valide")
}

fn fault_response(xml: String) -> Response<Body> {
    xml_response(StatusCode::INTERNAL_SERVER_ERROR, xml)
}

fn idam_unknown(message_id: Option<&str>) -> Response<Body> {
    // Verbatim from fault_siram_100_desir_550_idam_inconnu.xml.
    fault_response(answers::fault(
        "Sender",
        Some("siram_100"),
        "L'accès par ce progiciel au service n'est pas autorisé. Contactez l'éditeur du progiciel ou votre responsable informatique.",
        Some((
            "desir_550",
            "erreur",
            "Numéro d'autorisation du logiciel inconnu.",
        )),
        message_id,
    ))
}

fn insufficient_rights() -> Response<Body> {
    // Texts from padoa README "Notes"; the real subcode is not public: none sent.
    fault_response(answers::fault(
        "Sender",
        None,
        "Vous ne disposez pas des droits suffisants pour accéder à ce service",
        Some(("DESIR_560", "erreur", "Niveau d'accès insuffisant")),
        None,
    ))
}

/// A 200 answer that no real service would send (too big, too deep).
fn hostile_answer(xml: String) -> Response<Body> {
    xml_response(StatusCode::OK, xml)
}

fn server_error() -> Response<Body> {
    fault_response(answers::fault(
        "Receiver",
        None,
        "Erreur technique du service INSi (simulée par le bac à sable). Réessayez ultérieurement.",
        None,
        None,
    ))
}

fn violation(v: Violation) -> Response<Body> {
    let (code, reason) = match v {
        Violation::VersionMismatch(r) => ("VersionMismatch", r),
        Violation::MustUnderstand(r) => ("MustUnderstand", r),
        Violation::Sender(r) => ("Sender", r),
    };
    fault_response(answers::fault(code, None, &reason, None, None))
}

async fn handle(
    state: &State,
    cn: Option<&str>,
    req: Request<hyper::body::Incoming>,
) -> Response<Body> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    state
        .client_cns
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(cn.unwrap_or("").to_string());
    let behaviour = state.behaviour();
    if let Behaviour::Slow(delay) = behaviour {
        tokio::time::sleep(delay).await;
    }
    if req.uri().path() != SERVICE_PATH {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::from(format!(
                "service INSi attendu sur {SERVICE_PATH}"
            )))
            .expect("réponse HTTP valide");
    }
    if req.method() != Method::POST {
        return Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .body(Body::from("POST attendu (SOAP 1.2)"))
            .expect("réponse HTTP valide");
    }
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = match axum::body::to_bytes(Body::new(req.into_body()), 1 << 20).await {
        Ok(b) => b,
        Err(_) => {
            return violation(Violation::Sender(
                "requête illisible ou trop grande (1 Mio au plus)".into(),
            ));
        }
    };
    match behaviour {
        Behaviour::Fault(FaultKind::IdamUnknown) => return idam_unknown(None),
        Behaviour::Fault(FaultKind::InsufficientRights) => return insufficient_rights(),
        Behaviour::Fault(FaultKind::ServerError) => return server_error(),
        Behaviour::Fault(FaultKind::Oversized) => {
            return hostile_answer(format!(
                "<soap:Envelope xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\"><soap:Body>{}</soap:Body></soap:Envelope>",
                "<x/>".repeat(2 << 18)
            ));
        }
        Behaviour::Fault(FaultKind::TooDeep) => {
            return hostile_answer(format!(
                "{}{}",
                "<x>".repeat(100_000),
                "</x>".repeat(100_000)
            ));
        }
        Behaviour::Normal | Behaviour::Slow(_) | Behaviour::Down => {}
    }
    // Rights first: the certificate CN decides access (padoa README).
    if !is_allowed_cn(cn) {
        tracing::debug!(
            cn = cn.unwrap_or("(aucun)"),
            "bac à sable INSi : CN refusé, DESIR_560"
        );
        return insufficient_rights();
    }
    if let Err(v) = checks::check_content_type(content_type.as_deref()) {
        return violation(v);
    }
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return violation(Violation::Sender("requête non encodée en UTF-8".into()));
    };
    let request = match checks::check_envelope(text) {
        Ok(r) => r,
        Err(v) => {
            tracing::debug!(violation = ?v, "bac à sable INSi : requête refusée");
            return violation(v);
        }
    };
    if !state.known_idams.contains(&request.idam) {
        tracing::debug!(message_id = %request.message_id, "bac à sable INSi : IDAM inconnu, desir_550");
        return idam_unknown(Some(&request.message_id));
    }
    let found = match &request.query {
        checks::SentQuery::Traits(t) => identities::lookup(t),
        checks::SentQuery::Vitale(b) => identities::lookup_vitale(b),
    };
    let (code, xml) = match found {
        Lookup::One(identity) => ("00", answers::resultat_found(identity)),
        Lookup::None => (
            "01",
            answers::resultat_without_individu("01", "Aucune identite trouvee"),
        ),
        Lookup::Several => (
            "02",
            answers::resultat_without_individu("02", "Plusieurs identites trouvees"),
        ),
    };
    // Debug trace without traits (personal data) nor secrets.
    tracing::debug!(message_id = %request.message_id, cn, code, "bac à sable INSi : requête traitée");
    xml_response(StatusCode::OK, xml)
}
