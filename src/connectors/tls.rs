//! Mutual TLS clients of the national services (INSi, DMP): rustls with the
//! `ring` provider, the structure's certificate and key from PEM files, the
//! trusted CAs from a PEM bundle, timeouts, **no automatic retry** and no
//! redirect; and how a transport error reads (timeout, TLS, unreachable).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why a call did not get an HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Timeout,
    /// A `rustls::Error` somewhere in the chain: handshake refused, server
    /// not trusted, client certificate refused.
    Tls(String),
    /// Connection refused / reset / name resolution.
    Unreachable(String),
}

/// The PEM certificate chain and key of a client identity, and the CAs
/// trusted for the server. Errors are French and name the file, never its
/// content.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub roots: rustls::RootCertStore,
}

/// Reads a text file of the configuration (`what` names it in the error).
pub fn read(path: &Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| {
        format!(
            "{what} {} illisible ({e}) : vérifiez le chemin dans la configuration et les droits du fichier.",
            path.display()
        )
    })
}

pub fn chain(path: &Path, text: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(text.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{} : certificats PEM illisibles", path.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "{} : aucun certificat PEM (« BEGIN CERTIFICATE ») dans le fichier",
            path.display()
        ));
    }
    Ok(chain)
}

pub fn key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let text = read(path, "clé privée")?;
    // The error never quotes the key file's content.
    PrivateKeyDer::from_pem_slice(text.as_bytes()).map_err(|_| {
        format!(
            "{} : aucune clé privée PEM lisible (PKCS#8, PKCS#1 ou SEC1 attendu, non chiffrée)",
            path.display()
        )
    })
}

pub fn root_store(path: &Path) -> Result<rustls::RootCertStore, String> {
    let text = read(path, "fichier des autorités de confiance")?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(text.as_bytes()) {
        let cert = cert.map_err(|_| format!("{} : certificat PEM illisible", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("{} : autorité de confiance refusée ({e})", path.display()))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "{} ne contient aucun certificat d'autorité (PEM « CERTIFICATE » attendu)",
            path.display()
        ));
    }
    Ok(roots)
}

/// Why the client could not be built: the identity (certificate and key do
/// not match) or the TLS library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    Identity(String),
    Tls(String),
}

/// An HTTPS client presenting `identity`, HTTP/1.1 only, no retry, no redirect.
pub fn client(
    identity: Identity,
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<reqwest::Client, BuildError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BuildError::Tls(e.to_string()))?
        .with_root_certificates(identity.roots)
        .with_client_auth_cert(identity.chain, identity.key)
        .map_err(|e| BuildError::Identity(e.to_string()))?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        // No automatic retry of any kind: a national service is not hammered
        // (the DMP outbox retries with backoff, INSi never).
        .retry(reqwest::retry::never())
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .http1_only()
        .build()
        .map_err(|e| BuildError::Tls(format!("client HTTPS impossible à construire : {e}")))
}

/// Maps a transport error: timeout, TLS (a `rustls::Error` somewhere in the
/// chain), otherwise unreachable.
pub fn classify(e: &reqwest::Error) -> Transport {
    if e.is_timeout() {
        return Transport::Timeout;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Transport::Tls(tls.to_string());
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return Transport::Timeout;
            }
            // `io::Error::source()` skips the wrapped error: descend into it
            // (rustls errors arrive as io::Error(io::Error(rustls::Error))).
            if let Some(inner) = io.get_ref() {
                source = Some(inner);
                continue;
            }
        }
        source = err.source();
    }
    Transport::Unreachable(root_cause(e))
}

fn root_cause(e: &reqwest::Error) -> String {
    let mut last: &dyn std::error::Error = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// The body, refused as it arrives once it passes `max` bytes (`Ok(None)`).
pub async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > max {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}
