//! SMTP submission to the structure's MSSanté operator (lettre): port 587,
//! STARTTLS required, TLS 1.2 or later, the structure's certificate
//! presented to the server (IGC-Santé ORG AUTH_CLI; the server
//! authenticates the mailbox by it), the operator's CA only. The host comes
//! from the instance's configuration, never from what a user typed.

use std::path::PathBuf;
use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::client::{
    Certificate, CertificateStore, Identity, Tls, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use rustls::pki_types::pem::PemObject;
use thiserror::Error;

use crate::domain::mss::explain_smtp;

/// Where and how to submit.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    /// The structure's mailbox certificate and key (PEM).
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
    /// The CAs trusted for the operator's server certificate.
    pub ca_pem: PathBuf,
    pub timeout: Duration,
    /// The name given in EHLO.
    pub hello_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SmtpError {
    #[error("configuration de la messagerie : {0}")]
    Configuration(String),
    #[error("adresse invalide « {0} »")]
    Address(String),
    /// Could not talk to the server (down, TLS, timeout): try again later.
    #[error("serveur de messagerie injoignable : {0}")]
    Unreachable(String),
    /// The server answered 4xx: try again later.
    #[error("refus temporaire du serveur, {0}")]
    Transient(String),
    /// The server answered 5xx: what to fix, in French.
    #[error("refus du serveur, {0}")]
    Refused(String),
}

impl SmtpError {
    pub fn is_transient(&self) -> bool {
        matches!(self, SmtpError::Unreachable(_) | SmtpError::Transient(_))
    }
}

/// One structure's submission client.
pub struct SmtpSubmission {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpSubmission {
    pub fn new(c: &SmtpConfig) -> Result<SmtpSubmission, SmtpError> {
        let read = |p: &PathBuf, what: &str| {
            std::fs::read(p).map_err(|e| {
                SmtpError::Configuration(format!("{what} {} illisible : {e}", p.display()))
            })
        };
        let conf = |e: lettre::transport::smtp::Error| SmtpError::Configuration(e.to_string());
        // lettre 0.11's rustls `Identity::from_pem` takes the certificate's
        // DER despite its name (its key as PEM): the leaf only, so the
        // operator must know the intermediate CA (IGC-Santé's do).
        let cert_pem = read(&c.cert_pem, "certificat de la boîte")?;
        let leaf = rustls::pki_types::CertificateDer::pem_slice_iter(&cert_pem)
            .next()
            .and_then(Result::ok)
            .ok_or_else(|| {
                SmtpError::Configuration(format!(
                    "certificat de la boîte {} : aucun certificat PEM",
                    c.cert_pem.display()
                ))
            })?;
        let identity = Identity::from_pem(leaf.as_ref(), &read(&c.key_pem, "clé de la boîte")?)
            .map_err(conf)?;
        let mut tls = TlsParameters::builder(c.host.clone())
            .certificate_store(CertificateStore::None)
            .identify_with(identity);
        let ca = read(&c.ca_pem, "autorités de l'opérateur")?;
        for pem in pem_blocks(&ca) {
            tls = tls.add_root_certificate(Certificate::from_pem(pem.as_bytes()).map_err(conf)?);
        }
        let tls = tls.build_rustls().map_err(conf)?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(c.host.clone())
            .port(c.port)
            .tls(Tls::Required(tls))
            .hello_name(ClientId::Domain(c.hello_name.clone()))
            .timeout(Some(c.timeout))
            .build();
        Ok(SmtpSubmission { transport })
    }

    /// Opens a session (EHLO, STARTTLS with the certificate, EHLO) and
    /// closes it: the « tester la connexion » of the settings.
    pub async fn check(&self) -> Result<(), SmtpError> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(SmtpError::Unreachable(
                "le serveur n'a pas répondu comme un serveur de soumission".into(),
            )),
            Err(e) => Err(classify(&e)),
        }
    }

    /// Submits `message` (RFC 5322 bytes) from `from` to `to`: the server's
    /// answer, or why not.
    pub async fn submit(
        &self,
        from: &str,
        to: &[String],
        message: &[u8],
    ) -> Result<String, SmtpError> {
        let address = |a: &str| {
            a.trim()
                .parse::<Address>()
                .map_err(|_| SmtpError::Address(a.chars().take(80).collect()))
        };
        let recipients = to.iter().map(|a| address(a)).collect::<Result<_, _>>()?;
        let envelope = Envelope::new(Some(address(from)?), recipients)
            .map_err(|e| SmtpError::Address(e.to_string()))?;
        match self.transport.send_raw(&envelope, message).await {
            Ok(r) => Ok(format!(
                "{} {}",
                r.code(),
                r.message().collect::<Vec<_>>().join(" ")
            )),
            Err(e) => Err(classify(&e)),
        }
    }
}

fn classify(e: &lettre::transport::smtp::Error) -> SmtpError {
    let said = e.to_string();
    match e.status() {
        Some(code) => {
            let n: u16 = code.to_string().parse().unwrap_or(554);
            let text = explain_smtp(n, &said);
            if e.is_transient() {
                SmtpError::Transient(text)
            } else {
                SmtpError::Refused(text)
            }
        }
        None if e.is_tls() => SmtpError::Unreachable(format!(
            "échec TLS ({said}) : vérifiez le certificat de la boîte de la structure et les autorités de l'opérateur"
        )),
        None if e.is_timeout() => SmtpError::Unreachable(format!(
            "délai dépassé ({said}) : l'opérateur ne répond pas ; l'envoi sera retenté"
        )),
        None => SmtpError::Unreachable(format!(
            "connexion impossible ({said}) : vérifiez que l'opérateur est joignable ; l'envoi sera retenté"
        )),
    }
}

/// Each `-----BEGIN CERTIFICATE-----` block of a bundle.
fn pem_blocks(bundle: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bundle);
    let end = "-----END CERTIFICATE-----";
    text.split_inclusive(end)
        .filter_map(|chunk| {
            chunk
                .find("-----BEGIN CERTIFICATE-----")
                .map(|start| chunk[start..].to_string())
        })
        .filter(|b| b.ends_with(end))
        .collect()
}
