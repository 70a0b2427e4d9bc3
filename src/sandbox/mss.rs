//! MSSanté sandbox (issue 14): an SMTP submission service speaking ESMTP
//! with STARTTLS required and a client certificate of the test PKI required
//! ([`smtp`]), that checks each message as the operator and the reader
//! would ([`checks`]: `X-MSS-*` headers, the `IHE_XDM.ZIP`, its metadata
//! against the CDA it carries) and delivers it to sandbox mailboxes, for
//! professionals and for patients (`@patient.mssante.fr`). It can be made
//! slow, down or busy. IMAP, DSN and MDN come next.

pub mod checks;
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
    pub bytes: Vec<u8>,
    pub received_at: DateTime<Utc>,
}

pub(crate) struct State {
    behaviour: Mutex<MssBehaviour>,
    /// Lower-case address → messages, oldest first.
    mailboxes: Mutex<HashMap<String, Vec<Delivered>>>,
}

impl State {
    fn behaviour(&self) -> MssBehaviour {
        self.behaviour
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Delivers to each recipient once: a message whose Message-ID the
    /// mailbox holds already is not added again (a retried submission).
    fn deliver(&self, to: &[String], d: &Delivered) -> usize {
        let mut boxes = self.mailboxes.lock().unwrap_or_else(|p| p.into_inner());
        let mut added = 0;
        for address in to {
            let mailbox = boxes.entry(address.to_ascii_lowercase()).or_default();
            if !mailbox.iter().any(|m| m.message_id == d.message_id) {
                mailbox.push(d.clone());
                added += 1;
            }
        }
        added
    }
}

/// A running sandbox; stops when dropped.
pub struct MssSandboxHandle {
    /// The SMTP submission service (STARTTLS), `127.0.0.1:<port>`.
    pub smtp_addr: SocketAddr,
    /// The name its server certificate carries.
    pub host: String,
    /// The mailboxes' web pages, once opened: their URL.
    pub site: Option<String>,
    state: Arc<State>,
    task: JoinHandle<()>,
    site_task: Option<JoinHandle<()>>,
}

impl MssSandboxHandle {
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
            .mailboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&address.trim().to_ascii_lowercase())
            .cloned()
            .unwrap_or_default()
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
        });
        let task = tokio::spawn(smtp::accept_loop(listener, acceptor, state.clone()));
        tracing::info!(%smtp_addr, "bac à sable MSSanté (SMTP 587 simulé) démarré");
        Ok(MssSandboxHandle {
            smtp_addr,
            host: "localhost".into(),
            site: None,
            state,
            task,
            site_task: None,
        })
    }
}
