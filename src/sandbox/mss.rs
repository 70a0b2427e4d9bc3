//! MSSanté sandbox (issue 14): an SMTP submission service speaking ESMTP
//! with STARTTLS required and a client certificate of the test PKI required
//! ([`smtp`]), that checks each message as the operator and the reader
//! would ([`checks`]: `X-MSS-*` headers, the `IHE_XDM.ZIP`, its metadata
//! against the CDA it carries) and delivers it to sandbox mailboxes, for
//! professionals and for patients (`@patient.mssante.fr`). It can be made
//! slow, down or busy. IMAP, DSN and MDN come next.

pub mod checks;
pub mod imap;
pub mod notices;
pub mod schemas;
pub mod site;
pub mod smtp;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

use crate::sandbox::SandboxError;
use crate::sandbox::pki::TestPki;

/// How the sandbox misbehaves when asked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MssBehaviour {
    Normal,
    /// Waits this long before each answer.
    Slow(Duration),
    /// Accepts TCP connections and closes them at once.
    Down,
    /// Greets with `421` (service not available): try later.
    Busy,
    /// Answers `451` after the message's data: try later.
    Fail451,
    /// Answers `550 5.1.1` to every recipient (a mailbox closed since).
    UnknownRecipient,
}

/// A message as a mailbox received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub message_id: String,
    pub from: String,
    pub subject: String,
    /// The patient may not reply (`X-MSS-MES: FIN`).
    pub no_reply: bool,
    /// The `ClinicalDocument/code/@code` of the archive's CDA, if any.
    pub cda_code: Option<String>,
    /// Where its reader's MDN goes (`Disposition-Notification-To`).
    pub read_receipt_to: Option<String>,
    pub bytes: Vec<u8>,
    pub received_at: DateTime<Utc>,
    /// Opened on the sandbox's page (its MDN sent, when asked for).
    pub read: bool,
}

pub(crate) struct State {
    behaviour: Mutex<MssBehaviour>,
    /// Lower-case address → messages, oldest first (a message's UID in
    /// IMAP is its rank + 1: nothing is ever expunged here).
    mailboxes: Mutex<HashMap<String, Vec<Arc<Delivered>>>>,
    /// `<Message-ID> recipient` of the failures already reported (a retried
    /// submission is not reported twice).
    bounced: Mutex<std::collections::HashSet<String>>,
    /// Where the archive's schemas are (validated then), if known.
    schemas: Mutex<Option<schemas::XdmSchemas>>,
}

impl State {
    fn schemas(&self) -> Option<schemas::XdmSchemas> {
        self.schemas
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn behaviour(&self) -> MssBehaviour {
        self.behaviour
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Delivers to each recipient once: a message whose Message-ID the
    /// mailbox holds already is not added again (a retried submission).
    /// The recipients it was added for.
    fn deliver(&self, to: &[String], d: &Delivered) -> Vec<String> {
        let mut boxes = self.mailboxes.lock().unwrap_or_else(|p| p.into_inner());
        let mut added = Vec::new();
        for address in to {
            let mailbox = boxes.entry(address.to_ascii_lowercase()).or_default();
            if !mailbox.iter().any(|m| m.message_id == d.message_id) {
                mailbox.push(Arc::new(d.clone()));
                added.push(address.clone());
            }
        }
        added
    }

    /// The messages of `address`, oldest first (shared, not copied).
    pub(crate) fn messages_of(&self, address: &str) -> Vec<Arc<Delivered>> {
        self.mailboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&address.trim().to_ascii_lowercase())
            .cloned()
            .unwrap_or_default()
    }

    /// The `n`-th message (1-based) of `address`.
    pub(crate) fn message(&self, address: &str, n: usize) -> Option<Arc<Delivered>> {
        self.mailboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&address.trim().to_ascii_lowercase())?
            .get(n.checked_sub(1)?)
            .cloned()
    }

    /// Marks the `n`-th message (1-based) of `address` read: it, if it was
    /// not read yet.
    pub(crate) fn mark_read(&self, address: &str, n: usize) -> Option<Arc<Delivered>> {
        let mut boxes = self.mailboxes.lock().unwrap_or_else(|p| p.into_inner());
        let slot = boxes
            .get_mut(&address.trim().to_ascii_lowercase())?
            .get_mut(n.checked_sub(1)?)?;
        if slot.read {
            return None;
        }
        let mut read = (**slot).clone();
        read.read = true;
        *slot = Arc::new(read);
        Some(slot.clone())
    }

    /// Puts a message the sandbox wrote (a DSN, an MDN, a patient's reply)
    /// in `to`'s mailbox.
    pub(crate) fn post(&self, to: &str, from: &str, subject: &str, bytes: Vec<u8>) {
        let text = String::from_utf8_lossy(&bytes);
        let message_id = text
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case("message-id"))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_default();
        let d = Delivered {
            message_id,
            from: from.to_string(),
            subject: subject.to_string(),
            no_reply: false,
            cda_code: None,
            read_receipt_to: None,
            bytes,
            received_at: chrono::Utc::now(),
            read: false,
        };
        self.deliver(&[to.to_ascii_lowercase()], &d);
    }

    /// Reports `recipient` as undeliverable for `original` once.
    pub(crate) fn bounce_once(&self, message_id: &str, recipient: &str) -> bool {
        self.bounced
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(format!("{message_id} {}", recipient.to_ascii_lowercase()))
    }
}

/// Accepts connections for one service (SMTP or IMAP) until aborted; a
/// sandbox set `Down` drops them at once.
async fn accept_loop<F, Fut>(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    state: Arc<State>,
    session: F,
) where
    F: Fn(tokio::net::TcpStream, tokio_rustls::TlsAcceptor, Arc<State>) -> Fut
        + Send
        + Sync
        + 'static,
    Fut: std::future::Future<Output = std::io::Result<()>> + Send + 'static,
{
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            continue;
        };
        if state.behaviour() == MssBehaviour::Down {
            drop(tcp);
            continue;
        }
        let _ = tcp.set_nodelay(true);
        let work = session(tcp, acceptor.clone(), state.clone());
        tokio::spawn(async move {
            if let Err(e) = work.await {
                tracing::debug!(%peer, erreur = %e, "bac à sable MSSanté : session interrompue");
            }
        });
    }
}

/// A running sandbox; stops when dropped.
pub struct MssSandboxHandle {
    /// The SMTP submission service (STARTTLS), `127.0.0.1:<port>`.
    pub smtp_addr: SocketAddr,
    /// The IMAP service (STARTTLS, SASL EXTERNAL), `127.0.0.1:<port>`.
    pub imap_addr: SocketAddr,
    /// The name its server certificate carries.
    pub host: String,
    /// The mailboxes' web pages, once opened: their URL.
    pub site: Option<String>,
    state: Arc<State>,
    task: JoinHandle<()>,
    imap_task: JoinHandle<()>,
    site_task: Option<JoinHandle<()>>,
}

impl MssSandboxHandle {
    /// Validates each archive against these schemas from now on (`None`:
    /// its structure only).
    pub fn set_schemas(&self, schemas: Option<schemas::XdmSchemas>) {
        *self.state.schemas.lock().unwrap_or_else(|p| p.into_inner()) = schemas;
    }

    pub fn set_behaviour(&self, behaviour: MssBehaviour) {
        *self
            .state
            .behaviour
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = behaviour;
    }

    /// What `address` received, oldest first.
    pub fn mailbox(&self, address: &str) -> Vec<Delivered> {
        self.state
            .messages_of(address)
            .iter()
            .map(|d| (**d).clone())
            .collect()
    }

    /// Puts a message straight into `to`'s mailbox (as another operator's
    /// delivery would): benchmarks and demos fill a mailbox this way.
    pub fn post(&self, to: &str, from: &str, subject: &str, bytes: Vec<u8>) {
        self.state.post(to, from, subject, bytes);
    }

    /// Serves the mailboxes' pages ([`site`]) on `bind`, over plain HTTP:
    /// their URL.
    pub async fn open_site(&mut self, bind: SocketAddr) -> Result<String, SandboxError> {
        let (url, task) = super::web::serve(bind, site::router(self.state.clone())).await?;
        self.site_task = Some(task);
        tracing::info!(%url, "MSSanté (bac à sable) : pages des boîtes");
        self.site = Some(url.clone());
        Ok(url)
    }
}

impl Drop for MssSandboxHandle {
    fn drop(&mut self) {
        self.task.abort();
        self.imap_task.abort();
        if let Some(t) = &self.site_task {
            t.abort();
        }
    }
}

pub struct MssSandbox;

impl MssSandbox {
    /// Listens on `bind` (port 0: any) with the PKI's server certificate,
    /// requiring client certificates of the PKI's CA after STARTTLS.
    pub async fn start(bind: SocketAddr, pki: &TestPki) -> Result<MssSandboxHandle, SandboxError> {
        let tls = crate::sandbox::insi::server_config(pki)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let (listener, smtp_addr) = super::insi::listen(bind).await?;
        let state = Arc::new(State {
            behaviour: Mutex::new(MssBehaviour::Normal),
            mailboxes: Mutex::default(),
            bounced: Mutex::default(),
            schemas: Mutex::default(),
        });
        let task = tokio::spawn(accept_loop(
            listener,
            acceptor.clone(),
            state.clone(),
            |tcp, acceptor, state| async move { smtp::session(tcp, acceptor, &state).await },
        ));
        let (imap_listener, imap_addr) = super::insi::listen(SocketAddr::new(bind.ip(), 0)).await?;
        let imap_task = tokio::spawn(accept_loop(
            imap_listener,
            acceptor,
            state.clone(),
            |tcp, acceptor, state| async move { imap::session(tcp, acceptor, &state).await },
        ));
        tracing::info!(%smtp_addr, %imap_addr, "bac à sable MSSanté (SMTP 587 et IMAP 143 simulés) démarré");
        Ok(MssSandboxHandle {
            smtp_addr,
            imap_addr,
            host: "localhost".into(),
            site: None,
            state,
            task,
            imap_task,
            site_task: None,
        })
    }
}
