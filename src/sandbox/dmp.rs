//! DMP sandbox: the DMP's web services (`…/si-dmp-server/v2/services/
//! {patients,repository,registry}`) over HTTPS with client-certificate
//! verification, as strict as the DMP ([`checks`]): SOAP 1.2, the action of
//! each service, the VIHF signed by a SIGN certificate of the test PKI (a
//! VIHF signed with an AUTH key is refused `DMPInvalidCertificate`, like the
//! DMP), the metadata codes, the CDA header, the XAdES signature. A
//! registry keeps what was deposited so that search, replacement and
//! deletion work; [`DmpSandboxHandle::patient_view`] lists what the user's
//! Mon espace santé shows (not INVISIBLE_PATIENT). It can be made slow, down
//! or faulty.

pub mod checks;
pub mod deposit;
pub mod patient_site;
pub mod registry;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use chrono::Utc;
use hyper::{Method, Request, Response, StatusCode};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use self::checks::{Received, Refusal};
use self::registry::{Entry, STATUS_DEPRECATED};
use crate::connectors::dmp::requests::{self, STATUS_APPROVED, action};
use crate::connectors::dmp::response::parameter;
use crate::sandbox::SandboxError;
use crate::sandbox::insi::xml_response;
use crate::sandbox::pki::TestPki;

/// The path every service hangs from.
pub const BASE_PATH: &str = "/si-dmp-server/v2/services";

/// How the sandbox misbehaves when asked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DmpBehaviour {
    Normal,
    /// Waits this long before answering.
    Slow(Duration),
    /// Accepts TCP connections and closes them at once.
    Down,
    /// HTTP 500 with no SOAP in it (a broken front).
    ServerError,
    /// A SOAP `Receiver` fault (the DMP's own technical error).
    ReceiverFault,
    /// Registers the deposit, then drops the connection before answering
    /// (the answer is lost: the client must not deposit twice).
    LoseAnswer,
    /// Does what it is asked (a deposit is registered), then never answers:
    /// the client's process can be killed while it waits, and must not
    /// deposit twice once restarted.
    HoldAnswer,
}

struct State {
    ca_der: Vec<u8>,
    behaviour: Mutex<DmpBehaviour>,
    entries: Mutex<Vec<Entry>>,
    requests: AtomicUsize,
    /// Patients (`INS^^^&OID&ISO^NH`) with no DMP.
    without_dmp: Mutex<Vec<String>>,
}

impl State {
    fn behaviour(&self) -> DmpBehaviour {
        self.behaviour
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// Every patient with an entry, sorted.
    fn patient_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .entries()
            .iter()
            .map(|e| e.patient_id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

/// A running sandbox; stops when dropped.
pub struct DmpSandboxHandle {
    /// `https://127.0.0.1:<port>/si-dmp-server/v2/services`.
    pub url: String,
    pub addr: SocketAddr,
    /// The « vu du patient » site, once opened: its URL (no trailing slash).
    pub patient_site: Option<String>,
    state: Arc<State>,
    task: JoinHandle<()>,
    site_task: Option<JoinHandle<()>>,
}

impl DmpSandboxHandle {
    pub fn set_behaviour(&self, behaviour: DmpBehaviour) {
        *self
            .state
            .behaviour
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = behaviour;
    }

    /// Every entry of the registry (any patient, any status).
    pub fn entries(&self) -> Vec<Entry> {
        self.state.entries().clone()
    }

    /// What the patient `INS^^^&OID&ISO^NH` sees in Mon espace santé.
    pub fn patient_view(&self, patient_id: &str) -> Vec<Entry> {
        self.state
            .entries()
            .iter()
            .filter(|e| e.patient_id == patient_id && e.visible_to_patient())
            .cloned()
            .collect()
    }

    /// Every patient with an entry, and what each sees.
    pub fn patients(&self) -> Vec<(String, Vec<Entry>)> {
        self.state
            .patient_ids()
            .into_iter()
            .map(|id| {
                let seen = self.patient_view(&id);
                (id, seen)
            })
            .collect()
    }

    /// This patient has no DMP (TD0.2 answers « not found »).
    pub fn without_dmp(&self, patient_id: &str) {
        self.state
            .without_dmp
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(patient_id.to_string());
    }

    pub fn request_count(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Serves the « vu du patient » pages ([`patient_site`]) on `bind`,
    /// over plain HTTP: its URL.
    pub async fn open_patient_site(&mut self, bind: SocketAddr) -> Result<String, SandboxError> {
        let (url, task) = super::web::serve(bind, patient_site::router(self.state.clone())).await?;
        self.site_task = Some(task);
        tracing::info!(%url, "Mon espace santé (bac à sable) : pages « vu du patient »");
        self.patient_site = Some(url.clone());
        Ok(url)
    }
}

impl Drop for DmpSandboxHandle {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(t) = &self.site_task {
            t.abort();
        }
    }
}

pub struct DmpSandbox;

impl DmpSandbox {
    /// Listens on `bind` (port 0: any) with the PKI's server certificate,
    /// trusting client certificates of the PKI's CA.
    pub async fn start(bind: SocketAddr, pki: &TestPki) -> Result<DmpSandboxHandle, SandboxError> {
        let tls = crate::sandbox::insi::server_config(pki)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let (listener, addr) = super::insi::listen(bind).await?;
        let ca_der = CertificateDer::pem_slice_iter(pki.ca_pem().as_bytes())
            .next()
            .and_then(Result::ok)
            .ok_or_else(|| SandboxError::Tls("autorité de test illisible".into()))?
            .to_vec();
        let state = Arc::new(State {
            ca_der,
            behaviour: Mutex::new(DmpBehaviour::Normal),
            entries: Mutex::default(),
            requests: AtomicUsize::new(0),
            without_dmp: Mutex::default(),
        });
        let task = tokio::spawn(accept_loop(listener, acceptor, state.clone()));
        let url = format!("https://localhost:{}{BASE_PATH}", addr.port());
        tracing::info!(%url, "bac à sable DMP démarré");
        Ok(DmpSandboxHandle {
            url,
            addr,
            patient_site: None,
            state,
            task,
            site_task: None,
        })
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    state: Arc<State>,
) {
    let down = {
        let state = state.clone();
        move || state.behaviour() == DmpBehaviour::Down
    };
    super::mtls::serve("DMP", listener, acceptor, down, move |_, req| {
        let state = state.clone();
        async move { handle(&state, req).await }
    })
    .await
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Body::from(text.to_string()))
        .expect("réponse HTTP valide")
}

/// An error the connection handler turns into a dropped connection.
#[derive(Debug)]
struct LostAnswer;

impl std::fmt::Display for LostAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("réponse perdue (simulée)")
    }
}

impl std::error::Error for LostAnswer {}

/// Requests larger than this are refused (a deposit is a CDA of at most a
/// few MiB).
const MAX_REQUEST_BYTES: usize = 32 << 20;

async fn handle(
    state: &State,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Body>, LostAnswer> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let behaviour = state.behaviour();
    if let DmpBehaviour::Slow(delay) = behaviour {
        tokio::time::sleep(delay).await;
    }
    let Some(service) = req
        .uri()
        .path()
        .strip_prefix(BASE_PATH)
        .and_then(|p| p.strip_prefix('/'))
        .map(str::to_string)
    else {
        return Ok(plain(StatusCode::NOT_FOUND, "service DMP inconnu"));
    };
    if ![requests::PATIENTS, requests::REPOSITORY, requests::REGISTRY].contains(&service.as_str()) {
        return Ok(plain(StatusCode::NOT_FOUND, "service DMP inconnu"));
    }
    if req.method() != Method::POST {
        return Ok(plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "POST attendu (SOAP 1.2)",
        ));
    }
    match behaviour {
        DmpBehaviour::ServerError => {
            return Ok(plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
            ));
        }
        DmpBehaviour::ReceiverFault => {
            return Ok(xml_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                registry::fault(
                    "Receiver",
                    "DMPTechnicalError",
                    "Erreur technique du DMP (simulée par le bac à sable). Réessayez ultérieurement.",
                ),
            ));
        }
        _ => {}
    }
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let Ok(bytes) = axum::body::to_bytes(Body::new(req.into_body()), MAX_REQUEST_BYTES).await
    else {
        return Ok(refused(
            &Refusal::Fault {
                code: "Sender",
                subcode: "RequeteTropGrande".into(),
                reason: "requête illisible ou trop grande".into(),
            },
            "",
            "",
        ));
    };
    let (envelope, parts) = match read_parts(&content_type, bytes, &service).await {
        Ok(p) => p,
        Err(r) => return Ok(refused(&r, "", "")),
    };
    let received = match checks::read(&service, &envelope, &state.ca_der) {
        Ok(r) => r,
        Err(r) => {
            tracing::debug!(refus = ?r, "bac à sable DMP : requête refusée");
            return Ok(refused(&r, "", ""));
        }
    };
    let answer_action = checks::response_action(&received.action);
    let relates = received.message_id.clone();
    let answer = match received.action.as_str() {
        action::DEPOSIT => register(state, &received, &parts),
        action::SEARCH => checks::check_search(&received).map(|patient| {
            let entries = state.entries();
            let found: Vec<&Entry> = entries
                .iter()
                .filter(|e| e.patient_id == patient && e.status == STATUS_APPROVED)
                .collect();
            registry::search(answer_action, &relates, &found)
        }),
        action::UPDATE => update(state, &received),
        _ => checks::check_existence(&received).map(|(root, ext)| {
            let id = format!("{ext}^^^&{root}&ISO^NH");
            let exists = !state
                .without_dmp
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&id);
            registry::existence(answer_action, &relates, &root, &ext, exists)
        }),
    };
    match answer {
        Ok(xml) => {
            match behaviour {
                DmpBehaviour::LoseAnswer => return Err(LostAnswer),
                DmpBehaviour::HoldAnswer => std::future::pending::<()>().await,
                _ => {}
            }
            Ok(xml_response(StatusCode::OK, xml))
        }
        Err(r) => Ok(refused(&r, answer_action, &relates)),
    }
}

fn refused(r: &Refusal, action: &str, relates: &str) -> Response<Body> {
    match r {
        Refusal::Fault {
            code,
            subcode,
            reason,
        } => xml_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            registry::fault(code, subcode, reason),
        ),
        Refusal::Registry { code, context } => xml_response(
            StatusCode::OK,
            registry::failure(action, relates, code, context),
        ),
    }
}

/// The root part's text and the other parts by Content-ID (MTOM), or the
/// whole body (plain SOAP 1.2). A deposit must come in MTOM.
async fn read_parts(
    content_type: &str,
    bytes: bytes::Bytes,
    service: &str,
) -> Result<(String, HashMap<String, Vec<u8>>), Refusal> {
    let bad = |why: &str| Refusal::Fault {
        code: "Sender",
        subcode: "RequeteInvalide".into(),
        reason: why.to_string(),
    };
    let lower = content_type.to_ascii_lowercase();
    if !lower.starts_with("multipart/related") {
        if service == requests::REPOSITORY {
            return Err(bad(
                "un dépôt (TD2.1) se fait en MTOM/XOP (multipart/related)",
            ));
        }
        if !lower.starts_with("application/soap+xml") {
            return Err(bad("Content-Type application/soap+xml attendu (SOAP 1.2)"));
        }
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| bad("requête non UTF-8"))?;
        return Ok((text, HashMap::new()));
    }
    if parameter(content_type, "type").as_deref() != Some("application/xop+xml") {
        return Err(bad("multipart/related de type application/xop+xml attendu"));
    }
    let boundary =
        parameter(content_type, "boundary").ok_or_else(|| bad("frontière MIME absente"))?;
    let start = parameter(content_type, "start");
    let mut multipart = multer::Multipart::new(
        futures_util::stream::once(async move { Ok::<_, Infallible>(bytes) }),
        boundary,
    );
    let mut root = None;
    let mut parts = HashMap::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|_| bad("paquet MTOM illisible"))?
    {
        let id = field
            .headers()
            .get("content-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let data = field
            .bytes()
            .await
            .map_err(|_| bad("partie MTOM illisible"))?;
        let is_root = match &start {
            Some(s) => *s == id,
            None => root.is_none(),
        };
        if is_root {
            root =
                Some(String::from_utf8(data.to_vec()).map_err(|_| bad("racine MTOM non UTF-8"))?);
        } else {
            parts.insert(
                id.trim_start_matches('<').trim_end_matches('>').to_string(),
                data.to_vec(),
            );
        }
    }
    Ok((
        root.ok_or_else(|| bad("partie racine MTOM absente"))?,
        parts,
    ))
}

fn register(
    state: &State,
    r: &Received,
    parts: &HashMap<String, Vec<u8>>,
) -> Result<String, Refusal> {
    let d = deposit::check_deposit(r, parts)?;
    let mut entries = state.entries();
    if entries.iter().any(|e| e.unique_id == d.unique_id) {
        return Err(Refusal::Registry {
            code: "XDSDuplicateUniqueIdInRegistry".into(),
            context: format!("uniqueId {} déjà enregistré", d.unique_id),
        });
    }
    if let Some(old) = &d.replaces {
        let Some(target) = entries
            .iter_mut()
            .find(|e| &e.entry_uuid == old && e.patient_id == d.patient_id)
        else {
            return Err(Refusal::Registry {
                code: "XDSUnresolvedReferenceException".into(),
                context: format!("document remplacé {old} introuvable (un entryUUID est attendu)"),
            });
        };
        if target.status != STATUS_APPROVED {
            return Err(Refusal::Registry {
                code: "XDSRegistryMetadataError".into(),
                context: "le document remplacé n'est plus actif".into(),
            });
        }
        target.status = STATUS_DEPRECATED.to_string();
    }
    entries.push(Entry {
        entry_uuid: format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        unique_id: d.unique_id,
        patient_id: d.patient_id,
        title: d.title,
        type_code: d.type_code,
        confidentiality: d.confidentiality,
        structure_codes: d.structure_codes,
        status: STATUS_APPROVED.to_string(),
        structure: r.vihf.structure.clone(),
        submitted_at: Utc::now(),
        size: d.size,
    });
    Ok(registry::success(action::DEPOSIT_RESPONSE, &r.message_id))
}

fn update(state: &State, r: &Received) -> Result<String, Refusal> {
    let u = checks::check_update(r)?;
    let mut entries = state.entries();
    let Some(entry) = entries.iter_mut().find(|e| {
        e.entry_uuid == u.entry_uuid && Some(e.patient_id.as_str()) == r.vihf.patient.as_deref()
    }) else {
        return Err(Refusal::Registry {
            code: "XDSUnresolvedReferenceException".into(),
            context: format!("document {} introuvable pour ce patient", u.entry_uuid),
        });
    };
    if entry.status != u.from && !(u.from == STATUS_APPROVED && entry.status == STATUS_APPROVED) {
        return Err(Refusal::Registry {
            code: "XDSRegistryMetadataError".into(),
            context: "OriginalStatus différent du statut du document".into(),
        });
    }
    entry.status = u.to;
    Ok(registry::success(action::UPDATE_RESPONSE, &r.message_id))
}
