//! Reading the structure's MSSanté mailbox over IMAP (async-imap): port
//! 143, STARTTLS required (Ségur SC.MSS/CONF.06) with rustls, TLS ≥ 1.2, the
//! structure's certificate, the operator's CAs only; `AUTHENTICATE EXTERNAL`
//! with the mailbox as authorization identity (an applicative or
//! organisational box authenticated by its certificate); then UID-based
//! reading of INBOX: what arrived after the last UID read, never marking or
//! deleting anything (the mailbox stays the operator's record).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use thiserror::Error;
use tokio::net::TcpStream;

use crate::connectors::tls;

#[derive(Debug, Clone)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
    pub ca_pem: PathBuf,
    pub timeout: Duration,
    /// The structure's mailbox (SASL EXTERNAL authorization identity).
    pub mailbox: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ImapError {
    #[error("configuration de la messagerie : {0}")]
    Configuration(String),
    /// Could not talk to the server (down, TLS, timeout): try again later.
    #[error("serveur IMAP injoignable : {0}")]
    Unreachable(String),
    /// The server refused (authentication, mailbox): what to fix.
    #[error("refus du serveur IMAP : {0}")]
    Refused(String),
}

impl ImapError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ImapError::Unreachable(_))
    }
}

/// One message of INBOX: its UID and bytes (`None`: larger than the cap,
/// not downloaded).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub uid: u32,
    pub size: u32,
    pub bytes: Option<Vec<u8>>,
}

/// What one reading brought.
#[derive(Debug, Clone)]
pub struct Batch {
    pub uid_validity: u32,
    /// Oldest first.
    pub messages: Vec<Fetched>,
    /// More messages wait after these.
    pub more: bool,
}

/// The structure's mailbox reader.
pub struct ImapReader {
    config: ImapConfig,
    tls: tokio_rustls::TlsConnector,
    server: rustls::pki_types::ServerName<'static>,
}

struct External<'a>(&'a str);

impl async_imap::Authenticator for External<'_> {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> Self::Response {
        self.0.to_string()
    }
}

type Session = async_imap::Session<tokio_rustls::client::TlsStream<TcpStream>>;

impl ImapReader {
    pub fn new(c: &ImapConfig) -> Result<ImapReader, ImapError> {
        let conf = ImapError::Configuration;
        let text = tls::read(&c.cert_pem, "certificat de la boîte").map_err(conf)?;
        let chain = tls::chain(&c.cert_pem, &text).map_err(conf)?;
        let key = tls::key(&c.key_pem).map_err(conf)?;
        let roots = tls::root_store(&c.ca_pem).map_err(conf)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| conf(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| conf(format!("certificat et clé de la boîte : {e}")))?;
        let server = rustls::pki_types::ServerName::try_from(c.host.clone())
            .map_err(|_| conf(format!("nom de serveur IMAP invalide « {} »", c.host)))?;
        Ok(ImapReader {
            config: c.clone(),
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            server,
        })
    }

    /// Greeting, STARTTLS with the certificate, AUTHENTICATE EXTERNAL.
    async fn open(&self) -> Result<Session, ImapError> {
        let c = &self.config;
        let unreachable = |what: &str, e: &dyn std::fmt::Display| {
            ImapError::Unreachable(format!(
                "{what} ({e}) : l'opérateur ne répond pas ; nouvel essai plus tard"
            ))
        };
        let tcp = TcpStream::connect((c.host.as_str(), c.port))
            .await
            .map_err(|e| unreachable("connexion impossible", &e))?;
        let _ = tcp.set_nodelay(true);
        let mut client = async_imap::Client::new(tcp);
        let greeting = client
            .read_response()
            .await
            .map_err(|e| unreachable("accueil IMAP illisible", &e))?;
        if greeting.is_none() {
            return Err(ImapError::Unreachable(
                "connexion fermée avant l'accueil".into(),
            ));
        }
        client
            .run_command_and_check_ok("STARTTLS", None)
            .await
            .map_err(|e| ImapError::Refused(format!("STARTTLS refusé ({e})")))?;
        let tcp = client.into_inner();
        let tls = self
            .tls
            .connect(self.server.clone(), tcp)
            .await
            .map_err(|e| {
                ImapError::Unreachable(format!(
                    "échec TLS ({e}) : vérifiez le certificat de la boîte de la structure et les autorités de l'opérateur"
                ))
            })?;
        let client = async_imap::Client::new(tls);
        // async-imap base64-encodes the response itself.
        client
            .authenticate("EXTERNAL", External(&c.mailbox))
            .await
            .map_err(|(e, _)| match e {
                async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_) => {
                    ImapError::Refused(format!(
                        "authentification par certificat refusée pour {} ({e})",
                        c.mailbox
                    ))
                }
                // TLS 1.3: a refused client certificate shows at the first read.
                other => ImapError::Unreachable(format!(
                    "échec TLS ou connexion coupée ({other}) : vérifiez le certificat de la boîte de la structure et les autorités de l'opérateur"
                )),
            })
    }

    async fn within<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, ImapError>>,
    ) -> Result<T, ImapError> {
        tokio::time::timeout(self.config.timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(ImapError::Unreachable(
                    "délai dépassé : l'opérateur ne répond pas ; nouvel essai plus tard".into(),
                ))
            })
    }

    /// « Tester la connexion »: opens a session and INBOX, closes; the
    /// number of messages in INBOX.
    pub async fn check(&self) -> Result<u32, ImapError> {
        self.within(async {
            let mut s = self.open().await?;
            let inbox = s
                .examine("INBOX")
                .await
                .map_err(|e| ImapError::Refused(format!("INBOX illisible ({e})")))?;
            let _ = s.logout().await;
            Ok(inbox.exists)
        })
        .await
    }

    /// At most `max` messages after `after_uid` (all the UIDs of this
    /// validity), each downloaded unless larger than `max_bytes`.
    pub async fn fetch_after(
        &self,
        after_uid: u32,
        max: usize,
        max_bytes: u32,
    ) -> Result<Batch, ImapError> {
        self.within(async {
            let mut s = self.open().await?;
            let inbox = s
                .examine("INBOX")
                .await
                .map_err(|e| ImapError::Refused(format!("INBOX illisible ({e})")))?;
            let uid_validity = inbox.uid_validity.unwrap_or(0);
            let broken = |e: async_imap::error::Error| {
                ImapError::Unreachable(format!("lecture interrompue ({e})"))
            };
            let mut uids: Vec<u32> = s
                .uid_search(format!("UID {}:*", after_uid.saturating_add(1)))
                .await
                .map_err(broken)?
                .into_iter()
                .filter(|u| *u > after_uid)
                .collect();
            uids.sort_unstable();
            let more = uids.len() > max;
            uids.truncate(max);
            let mut messages = Vec::new();
            if !uids.is_empty() {
                let set = uids
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                let sizes: Vec<(u32, u32)> = s
                    .uid_fetch(&set, "(UID RFC822.SIZE)")
                    .await
                    .map_err(broken)?
                    .try_collect::<Vec<_>>()
                    .await
                    .map_err(broken)?
                    .iter()
                    .filter_map(|f| Some((f.uid?, f.size.unwrap_or(0))))
                    .collect();
                let small: Vec<String> = sizes
                    .iter()
                    .filter(|(_, size)| *size <= max_bytes)
                    .map(|(uid, _)| uid.to_string())
                    .collect();
                let mut bodies = std::collections::HashMap::new();
                if !small.is_empty() {
                    let fetched = s
                        .uid_fetch(small.join(","), "(UID BODY.PEEK[])")
                        .await
                        .map_err(broken)?
                        .try_collect::<Vec<_>>()
                        .await
                        .map_err(broken)?;
                    for f in &fetched {
                        if let (Some(uid), Some(body)) = (f.uid, f.body()) {
                            bodies.insert(uid, body.to_vec());
                        }
                    }
                }
                for (uid, size) in sizes {
                    messages.push(Fetched {
                        uid,
                        size,
                        bytes: bodies.remove(&uid),
                    });
                }
                messages.sort_by_key(|m| m.uid);
            }
            let _ = s.logout().await;
            Ok(Batch {
                uid_validity,
                messages,
                more,
            })
        })
        .await
    }
}
