//! The DMP client: SOAP 1.2 + WS-Addressing over mutual TLS with the
//! structure's **AUTH** certificate; every call carries a VIHF signed with
//! its **SIGN** certificate (never the AUTH key: the DMP answers
//! `DMPInvalidCertificate`, research/dmp-mss.md §7.1). TD0.2 test of
//! existence, TD2.1 deposit (MTOM/XOP with the XAdES signature document of
//! the submission set), TD3.1 search, TD3.3 status change. No automatic
//! retry: the outbox decides.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::DmpError;
use super::requests::{self, StatusChange, action};
use super::response::{self, DmpStatus, RegistryEntry};
use super::soap::{self, Mtom, Part};
use super::vihf::{self, AuthenticationMode, Software, Vihf};
use super::xades;
use super::xds::{self, Submission};
use super::xmldsig::Signer;
use crate::connectors::certificate::subject_dn;
use crate::connectors::tls;
use crate::documents::cda::uuid_oid;
use crate::domain::ins::Ins;
use crate::domain::terminology::Code;

/// Where the DMP is and the structure's credentials (paths, never contents).
#[derive(Debug, Clone)]
pub struct DmpClientConfig {
    /// `https://…/si-dmp-server/v2/services` (each service is a path under it).
    pub base_url: String,
    pub auth_cert_pem: PathBuf,
    pub auth_key_pem: PathBuf,
    pub sign_cert_pem: PathBuf,
    pub sign_key_pem: PathBuf,
    /// The CAs trusted for the DMP's server certificate.
    pub ca_bundle_pem: PathBuf,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub software: Software,
}

/// Who calls, as the VIHF says it.
#[derive(Debug, Clone)]
pub struct Caller<'a> {
    /// IDNPS of the professional.
    pub professional_id: &'a str,
    pub professional_name: &'a str,
    pub roles: Vec<Code>,
    /// IDNST of the structure (`1` + FINESS).
    pub structure_id: &'a str,
    /// JDV_J61 sector code, e.g. `SA41`.
    pub sector: &'a str,
    pub mode: AuthenticationMode,
}

/// A deposit as it goes on the wire, and its pieces (the samples write them).
pub struct DepositRequest {
    pub message_id: Uuid,
    /// The signed VIHF, canonical.
    pub vihf: String,
    /// The XAdES signature document of the submission set.
    pub xades: String,
    /// `ProvideAndRegisterDocumentSetRequest`, documents inline (before MTOM).
    pub inline: String,
    /// The whole envelope with `xop:Include`s.
    pub envelope: String,
    pub mtom: Mtom,
}

/// An answer is a few kilobytes; a search of a large DMP some hundreds.
const MAX_RESPONSE_BYTES: usize = 8 << 20;
/// The CDA's part in the MTOM package.
const CDA_CID: &str = "document01@escale";

pub struct DmpClient {
    http: reqwest::Client,
    base_url: String,
    signer: Signer,
    issuer: String,
    software: Software,
}

impl DmpClient {
    pub fn new(config: DmpClientConfig) -> Result<Self, DmpError> {
        let conf = DmpError::Configuration;
        let auth_text = tls::read(&config.auth_cert_pem, "certificat AUTH du DMP").map_err(conf)?;
        let identity = tls::Identity {
            chain: tls::chain(&config.auth_cert_pem, &auth_text).map_err(conf)?,
            key: tls::key(&config.auth_key_pem).map_err(conf)?,
            roots: tls::root_store(&config.ca_bundle_pem).map_err(conf)?,
        };
        let http =
            tls::client(identity, config.connect_timeout, config.timeout).map_err(|e| match e {
                tls::BuildError::Identity(e) => DmpError::Configuration(format!(
                    "le certificat AUTH {} et sa clé {} ne vont pas ensemble ({e})",
                    config.auth_cert_pem.display(),
                    config.auth_key_pem.display()
                )),
                tls::BuildError::Tls(e) => DmpError::Tls(e),
            })?;
        let sign_cert = tls::read(&config.sign_cert_pem, "certificat SIGN du DMP").map_err(conf)?;
        let sign_key = tls::read(&config.sign_key_pem, "clé SIGN du DMP").map_err(conf)?;
        let signer = Signer::from_pem(&sign_cert, &sign_key).map_err(|e| {
            DmpError::Configuration(format!(
                "certificat de signature {} : {e}",
                config.sign_cert_pem.display()
            ))
        })?;
        let issuer = subject_dn(signer.certificate()).map_err(DmpError::Configuration)?;
        Ok(DmpClient {
            http,
            base_url: config.base_url.trim_end_matches('/').to_string(),
            signer,
            issuer,
            software: config.software,
        })
    }

    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    fn url(&self, service: &str) -> String {
        format!("{}/{service}", self.base_url)
    }

    fn vihf(&self, caller: &Caller<'_>, patient: Option<&Ins>) -> Result<String, DmpError> {
        let assertion = vihf::assertion(
            &Vihf {
                id: Uuid::new_v4(),
                issued_at: Utc::now(),
                issuer: &self.issuer,
                professional_id: caller.professional_id,
                professional_name: caller.professional_name,
                roles: caller.roles.clone(),
                structure_id: caller.structure_id,
                sector: caller.sector,
                mode: caller.mode,
                patient,
                software: &self.software,
            },
            &self.signer,
        )
        .map_err(|e| DmpError::Configuration(format!("VIHF impossible à signer : {e}")))?;
        Ok(assertion.canonical())
    }

    /// TD2.1's request, built and signed, not sent. `submission.signature`
    /// is filled here (the XAdES over the set and the CDA).
    pub fn deposit_request(
        &self,
        caller: &Caller<'_>,
        submission: &Submission<'_>,
        at: DateTime<Utc>,
    ) -> Result<DepositRequest, DmpError> {
        let vihf = self.vihf(caller, Some(submission.patient))?;
        let signature_id = uuid_oid(Uuid::new_v4());
        let xades = xades::signature_document(
            &self.signer,
            Uuid::new_v4(),
            at,
            &submission.submission_id,
            &[(&submission.document_id, submission.cda)],
        )
        .map_err(|e| DmpError::Configuration(format!("signature XAdES impossible : {e}")))?;
        let signed = Submission {
            signature: Some((signature_id, xades.as_bytes())),
            ..submission.clone()
        };
        let message_id = Uuid::new_v4();
        let body = xds::provide_and_register_xop(&signed, CDA_CID);
        let envelope = soap::envelope(
            action::DEPOSIT,
            &self.url(requests::REPOSITORY),
            message_id,
            &vihf,
            &body,
        );
        let signature_cid = xds::signature_cid(CDA_CID);
        let mtom = soap::mtom(
            &envelope,
            action::DEPOSIT,
            &[
                Part {
                    content_id: CDA_CID,
                    content_type: "application/octet-stream",
                    bytes: submission.cda,
                },
                Part {
                    content_id: &signature_cid,
                    content_type: "application/octet-stream",
                    bytes: xades.as_bytes(),
                },
            ],
        )
        .map_err(DmpError::Malformed)?;
        Ok(DepositRequest {
            message_id,
            inline: xds::provide_and_register(&signed),
            vihf,
            xades,
            envelope,
            mtom,
        })
    }

    /// TD2.1: deposits one document (a replacement when
    /// `submission.replaces` holds the old version's entryUUID).
    pub async fn deposit(
        &self,
        caller: &Caller<'_>,
        submission: &Submission<'_>,
    ) -> Result<(), DmpError> {
        let request = self.deposit_request(caller, submission, Utc::now())?;
        let body = self
            .post(
                requests::REPOSITORY,
                request.mtom.content_type,
                request.mtom.body,
                request.message_id,
            )
            .await?;
        response::registry_response(&body)
    }

    /// TD3.1: the patient's approved documents.
    pub async fn find_documents(
        &self,
        caller: &Caller<'_>,
        ins: &Ins,
    ) -> Result<Vec<RegistryEntry>, DmpError> {
        let body = self
            .call(
                caller,
                Some(ins),
                action::SEARCH,
                requests::REGISTRY,
                &requests::find_documents(ins),
            )
            .await?;
        response::search_response(&body)
    }

    /// TD3.3c/d: deletes or archives one entry.
    pub async fn update_status(
        &self,
        caller: &Caller<'_>,
        change: &StatusChange<'_>,
    ) -> Result<(), DmpError> {
        let body = self
            .call(
                caller,
                Some(change.ins),
                action::UPDATE,
                requests::REGISTRY,
                &requests::update_status(change),
            )
            .await?;
        response::registry_response(&body)
    }

    /// TD0.2: does the patient have a DMP, open, and may the structure feed it?
    pub async fn test_existence(
        &self,
        caller: &Caller<'_>,
        ins: &Ins,
    ) -> Result<DmpStatus, DmpError> {
        let id = Uuid::new_v4();
        let body = requests::test_existence(ins, &self.software.id, id, Utc::now());
        let body = self
            .call(
                caller,
                Some(ins),
                action::TEST_EXISTENCE,
                requests::PATIENTS,
                &body,
            )
            .await?;
        response::existence_response(&body)
    }

    async fn call(
        &self,
        caller: &Caller<'_>,
        patient: Option<&Ins>,
        action: &str,
        service: &str,
        body: &str,
    ) -> Result<crate::connectors::xml::Element, DmpError> {
        let vihf = self.vihf(caller, patient)?;
        let message_id = Uuid::new_v4();
        let envelope = soap::envelope(action, &self.url(service), message_id, &vihf, body);
        self.post(
            service,
            format!("application/soap+xml;charset=utf-8;action=\"{action}\""),
            envelope.into_bytes(),
            message_id,
        )
        .await
    }

    async fn post(
        &self,
        service: &str,
        content_type: String,
        body: Vec<u8>,
        message_id: Uuid,
    ) -> Result<crate::connectors::xml::Element, DmpError> {
        let started = std::time::Instant::now();
        let sent = self
            .http
            .post(self.url(service))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await;
        let outcome = async {
            let response = sent.map_err(|e| transport(&e))?;
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let bytes = tls::read_capped(response, MAX_RESPONSE_BYTES)
                .await
                .map_err(|e| transport(&e))?
                .ok_or_else(|| DmpError::Malformed("réponse trop grande, refusée".into()))?;
            let part = response::soap_part(content_type.as_deref(), &bytes)?;
            let text = std::str::from_utf8(part)
                .map_err(|_| DmpError::Malformed("réponse qui n'est pas du texte UTF-8".into()));
            match (status, text.and_then(response::body)) {
                (200, parsed) => parsed,
                // A fault says more than the status.
                (_, Err(fault @ DmpError::Fault { .. })) => Err(fault),
                (s, _) => Err(DmpError::Http(s)),
            }
        }
        .await;
        // No personal data, no secret: the service, the id, the time, the outcome.
        tracing::info!(
            %message_id,
            service,
            duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            ok = outcome.is_ok(),
            "appel DMP"
        );
        outcome
    }
}

fn transport(e: &reqwest::Error) -> DmpError {
    match tls::classify(e) {
        tls::Transport::Timeout => DmpError::Timeout,
        tls::Transport::Tls(e) => DmpError::Tls(e),
        tls::Transport::Unreachable(e) => DmpError::Unreachable(e),
    }
}
