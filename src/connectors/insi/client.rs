//! HTTPS client of the INSi téléservice: mutual TLS (rustls, `ring` provider)
//! with the structure's software certificate, POST of the SOAP 1.2 envelope,
//! timeouts from configuration, **no automatic retry**, and an [`Exchange`]
//! keeping everything Guide INS traceability needs (EXI REC 07: every call and
//! its raw XML are traced — the caller stores the exchange).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::envelope::{
    LpsContext, TraitsQuery, VitaleQuery, rechercher_carte_vitale, rechercher_traits,
};
use super::error::InsiError;
use super::is_allowed_cn;
use super::response::{InsiResponse, parse_response};
use super::{ACTION_TRAITS, ACTION_VITALE, ALLOWED_CNS};
use crate::connectors::certificate::subject_from_pem;
use crate::connectors::tls;

/// Configuration of the connector (paths, not contents: the key never
/// travels through logs or configuration dumps).
#[derive(Debug, Clone)]
pub struct InsiClientConfig {
    /// e.g. `https://qualiflps-services-ps-tlsm.ameli.fr:443/lps` (WSDL `soap12:address`).
    pub endpoint: String,
    /// PEM file of the client certificate (CN `INSI-MANU` or `INSI-AUTO`),
    /// optionally followed by its intermediate CA certificates.
    pub client_cert_pem: PathBuf,
    /// PEM file of its private key (PKCS#8, PKCS#1 or SEC1).
    pub client_key_pem: PathBuf,
    /// PEM bundle of the CAs trusted for the server certificate (IGC-Santé
    /// chain in production; the test PKI CA for the sandbox).
    pub ca_bundle_pem: PathBuf,
    pub connect_timeout: Duration,
    /// Total time allowed for one call (connect + send + answer).
    pub timeout: Duration,
    pub lps: LpsContext,
}

/// One call, as it must be traced.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub request_xml: String,
    pub response_xml: Option<String>,
    pub http_status: Option<u16>,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub outcome: Result<InsiResponse, InsiError>,
}

#[derive(Debug, Clone)]
pub struct InsiClient {
    http: reqwest::Client,
    endpoint: String,
    lps: LpsContext,
}

/// `Content-Type` of a SOAP 1.2 request, with the `action` parameter (SOAP 1.2
/// HTTP binding; padoa tests send `application/soap+xml;charset=utf-8`).
pub fn content_type() -> String {
    content_type_for(ACTION_TRAITS)
}

pub fn content_type_for(action: &str) -> String {
    format!("application/soap+xml;charset=utf-8;action=\"{action}\"")
}

impl InsiClient {
    /// Loads and checks the certificate, key and CA bundle. Refuses a
    /// certificate whose CN is not `INSI-MANU` / `INSI-AUTO` (the service
    /// would answer `DESIR_560`) or which is expired.
    pub fn new(config: InsiClientConfig) -> Result<Self, InsiError> {
        let cert_text = read(&config.client_cert_pem, "certificat client")?;
        let subject = subject_from_pem(&cert_text).map_err(|e| {
            InsiError::Certificate(format!("{} : {e}", config.client_cert_pem.display()))
        })?;
        if !is_allowed_cn(subject.common_name.as_deref()) {
            return Err(InsiError::Certificate(format!(
                "le certificat {} a pour CN « {} » ; le téléservice INSi n'accepte que {} \
                 (sinon il répond DESIR_560) : configurez le certificat logiciel IGC-Santé \
                 « personne morale » commandé pour INSi.",
                config.client_cert_pem.display(),
                subject.common_name.as_deref().unwrap_or("(aucun)"),
                ALLOWED_CNS.join(" ou "),
            )));
        }
        if !subject.currently_valid {
            return Err(InsiError::Certificate(format!(
                "le certificat {} n'est pas (ou plus) valide à la date du jour : \
                 renouvelez le certificat logiciel INSi.",
                config.client_cert_pem.display()
            )));
        }
        let cert = |e: String| InsiError::Certificate(e);
        let identity = tls::Identity {
            chain: tls::chain(&config.client_cert_pem, &cert_text).map_err(cert)?,
            key: tls::key(&config.client_key_pem).map_err(cert)?,
            roots: tls::root_store(&config.ca_bundle_pem).map_err(cert)?,
        };
        let http =
            tls::client(identity, config.connect_timeout, config.timeout).map_err(|e| match e {
                tls::BuildError::Identity(e) => InsiError::Certificate(format!(
                    "le certificat {} et la clé {} ne forment pas une identité utilisable ({e}) : \
                     vérifiez que la clé correspond au certificat.",
                    config.client_cert_pem.display(),
                    config.client_key_pem.display()
                )),
                tls::BuildError::Tls(e) => InsiError::Tls(e),
            })?;
        Ok(InsiClient {
            http,
            endpoint: config.endpoint,
            lps: config.lps,
        })
    }

    pub fn lps(&self) -> &LpsContext {
        &self.lps
    }

    /// One `rechercherInsAvecTraitsIdentite` call. Never retries.
    pub async fn rechercher(&self, q: &TraitsQuery) -> Exchange {
        let message_id = Uuid::new_v4();
        let started_at = Utc::now();
        let request_xml = rechercher_traits(&self.lps, q, message_id, started_at);
        self.call(
            ACTION_TRAITS,
            "rechercherInsAvecTraitsIdentite",
            message_id,
            started_at,
            request_xml,
        )
        .await
    }

    /// One `rechercherInsAvecCarteVitale` call (beneficiary read on the card).
    pub async fn rechercher_vitale(&self, q: &VitaleQuery) -> Exchange {
        let message_id = Uuid::new_v4();
        let started_at = Utc::now();
        let request_xml = rechercher_carte_vitale(&self.lps, q, message_id, started_at);
        self.call(
            ACTION_VITALE,
            "rechercherInsAvecCarteVitale",
            message_id,
            started_at,
            request_xml,
        )
        .await
    }

    async fn call(
        &self,
        action: &str,
        operation: &'static str,
        message_id: Uuid,
        started_at: chrono::DateTime<Utc>,
        request_xml: String,
    ) -> Exchange {
        let clock = Instant::now();
        let (http_status, response_xml, outcome) = self.post(action, request_xml.clone()).await;
        let duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        // Trace without personal data nor secrets: the XML goes to the caller's
        // audit store, not to the logs.
        tracing::info!(
            %message_id,
            http_status,
            duration_ms,
            operation,
            outcome = match &outcome {
                Ok(r) => r.code.as_code().to_owned(),
                Err(e) => e.to_string(),
            },
            "appel INSi"
        );
        Exchange {
            request_xml,
            response_xml,
            http_status,
            started_at,
            duration_ms,
            outcome,
        }
    }

    async fn post(
        &self,
        action: &str,
        body: String,
    ) -> (Option<u16>, Option<String>, Result<InsiResponse, InsiError>) {
        let sent = self
            .http
            .post(&self.endpoint)
            .header(reqwest::header::CONTENT_TYPE, content_type_for(action))
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return (None, None, Err(classify(&e))),
        };
        let status = response.status().as_u16();
        let text = match read_capped(response).await {
            Ok(Ok(t)) => t,
            Ok(Err(refused)) => return (Some(status), None, Err(refused)),
            Err(e) => return (Some(status), None, Err(classify(&e))),
        };
        let outcome = match (status, parse_response(&text)) {
            (200, parsed) => parsed,
            // Faults come back as HTTP 500 with a SOAP 1.2 Fault (padoa
            // `insi-client.service.ts`), other statuses may carry one too.
            (_, Err(fault @ InsiError::Fault { .. })) => Err(fault),
            (s, _) => Err(InsiError::Http(s)),
        };
        (Some(status), Some(text), outcome)
    }
}

/// An INSi answer is a few kilobytes; a bigger one is refused as it
/// arrives, rather than held in memory whole.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// The body as UTF-8 text, or why it is refused (too big, not UTF-8).
async fn read_capped(
    response: reqwest::Response,
) -> Result<Result<String, InsiError>, reqwest::Error> {
    let Some(body) = tls::read_capped(response, MAX_RESPONSE_BYTES).await? else {
        return Ok(Err(InsiError::Malformed(format!(
            "réponse de plus de {} Kio, refusée",
            MAX_RESPONSE_BYTES / 1024
        ))));
    };
    Ok(String::from_utf8(body)
        .map_err(|_| InsiError::Malformed("réponse qui n'est pas du texte UTF-8".to_owned())))
}

fn read(path: &Path, what: &str) -> Result<String, InsiError> {
    tls::read(path, what).map_err(InsiError::Certificate)
}

fn classify(e: &reqwest::Error) -> InsiError {
    match tls::classify(e) {
        tls::Transport::Timeout => InsiError::Timeout,
        tls::Transport::Tls(e) => InsiError::Tls(e),
        tls::Transport::Unreachable(e) => InsiError::Unreachable(e),
    }
}
