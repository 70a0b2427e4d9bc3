//! MSSanté (issue 14): the instance's operator (from configuration only),
//! each structure's mailbox (set by its director, of the operator's domain)
//! and its certificate, and the « tester la connexion » of the settings.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::audit;
use super::error::{ServiceError, ServiceResult};
use crate::config::Config;
use crate::connectors::mss::smtp::{SmtpConfig, SmtpSubmission};
use crate::domain::audit::AuditAction;
use crate::domain::tenant::Tenant;
use crate::store::{Store, Structure};

/// Where the operator is: configuration, never user input.
#[derive(Debug, Clone)]
pub struct Operator {
    pub domain: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub imap_host: String,
    pub imap_port: u16,
    pub ca: PathBuf,
}

/// A structure's mailbox certificate (files).
#[derive(Debug, Clone)]
pub struct MssCredentials {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl MssCredentials {
    /// `data_dir/mss/<FINESS>/bal.{pem,key}`.
    pub fn under(data_dir: &std::path::Path, finess: &str) -> MssCredentials {
        let dir = data_dir.join("mss").join(finess);
        MssCredentials {
            cert: dir.join("bal.pem"),
            key: dir.join("bal.key"),
        }
    }
}

/// Makes a structure's certificate where none is (the sandbox's test PKI).
pub trait MssCredentialIssuer: Send + Sync {
    fn issue(&self, finess: &str, to: &MssCredentials) -> Result<(), String>;
}

pub struct MssService {
    operator: Option<Operator>,
    data_dir: PathBuf,
    timeout: Duration,
    issuer: Option<Arc<dyn MssCredentialIssuer>>,
    mailbox_site: Option<String>,
}

impl MssService {
    /// Where the sandbox shows its mailboxes (none for a real operator).
    pub fn with_mailbox_site(mut self, url: String) -> MssService {
        self.mailbox_site = Some(url);
        self
    }

    pub fn mailbox_site(&self) -> Option<&str> {
        self.mailbox_site.as_deref()
    }

    /// The configured operator, if any.
    pub fn from_config(config: &Config) -> Option<MssService> {
        let m = &config.mss;
        let operator = Operator {
            domain: m.domain.clone()?,
            smtp_host: m.smtp_host.clone()?,
            smtp_port: m.smtp_port,
            imap_host: m.imap_host.clone()?,
            imap_port: m.imap_port,
            ca: m.ca.clone()?,
        };
        Some(MssService::new(config, operator, None))
    }

    pub fn new(
        config: &Config,
        operator: Operator,
        issuer: Option<Arc<dyn MssCredentialIssuer>>,
    ) -> MssService {
        MssService {
            operator: Some(operator),
            data_dir: config.data_dir.clone(),
            timeout: Duration::from_secs(config.mss.timeout_seconds),
            issuer,
            mailbox_site: None,
        }
    }

    /// No operator configured (production without `mss_*`).
    pub fn disabled(config: &Config) -> MssService {
        MssService {
            operator: None,
            data_dir: config.data_dir.clone(),
            timeout: Duration::from_secs(config.mss.timeout_seconds),
            issuer: None,
            mailbox_site: None,
        }
    }

    /// The operator's mail domain, if one is configured.
    pub fn domain(&self) -> Option<&str> {
        self.operator.as_ref().map(|o| o.domain.as_str())
    }

    fn operator(&self) -> Result<&Operator, String> {
        self.operator.as_ref().ok_or_else(|| {
            "aucun opérateur MSSanté configuré sur cette instance (clés mss_domain, mss_smtp_host, mss_imap_host, mss_ca)".into()
        })
    }

    /// The structure's SMTP submission client, its certificate made first
    /// in the sandbox.
    pub fn submission(&self, s: &Structure) -> Result<SmtpSubmission, String> {
        let o = self.operator()?;
        let files = MssCredentials::under(&self.data_dir, &s.finess_geo);
        if !(files.cert.exists() && files.key.exists()) {
            match &self.issuer {
                Some(issuer) => issuer.issue(&s.finess_geo, &files)?,
                None => {
                    return Err(format!(
                        "certificat de la boîte MSSanté absent : placez bal.pem et bal.key (IGC-Santé, ORG AUTH_CLI) dans {}",
                        files
                            .cert
                            .parent()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default()
                    ));
                }
            }
        }
        SmtpSubmission::new(&SmtpConfig {
            host: o.smtp_host.clone(),
            port: o.smtp_port,
            cert_pem: files.cert,
            key_pem: files.key,
            ca_pem: o.ca.clone(),
            timeout: self.timeout,
            hello_name: "escale".into(),
        })
        .map_err(|e| e.to_string())
    }
}

/// The director sets the structure's mailbox: an address of the operator's
/// domain (empty: none), journaled.
pub async fn set_mailbox(
    store: &dyn Store,
    mss: &MssService,
    t: &Tenant,
    address: &str,
) -> ServiceResult<()> {
    super::director_only(t)?;
    let address = address.trim().to_ascii_lowercase();
    let chosen = if address.is_empty() {
        None
    } else {
        let domain = mss.domain().ok_or_else(|| {
            ServiceError::Refused(
                "aucun opérateur MSSanté n'est configuré sur cette instance".into(),
            )
        })?;
        let ok = address.parse::<lettre::Address>().is_ok()
            && address
                .rsplit_once('@')
                .is_some_and(|(_, d)| d == domain || d.ends_with(&format!(".{domain}")));
        if !ok {
            return Err(ServiceError::Invalid(format!(
                "« {} » n'est pas une adresse de l'opérateur de l'instance (…@{domain})",
                address.chars().take(120).collect::<String>()
            )));
        }
        Some(address)
    };
    let before = store
        .get_structure(t.structure_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    if before.mss_mailbox == chosen {
        return Ok(());
    }
    let entry = audit::event(
        t,
        AuditAction::ConfigurationChanged,
        None,
        format!(
            "boîte MSSanté de la structure : {} → {}",
            before.mss_mailbox.as_deref().unwrap_or("aucune"),
            chosen.as_deref().unwrap_or("aucune")
        ),
    );
    store
        .set_mss_mailbox(t, chosen.as_deref(), &[entry])
        .await?;
    Ok(())
}

/// « Tester la connexion »: opens an SMTP session with the structure's
/// certificate; what it came to, in French, journaled.
pub async fn test_connection(
    store: &dyn Store,
    mss: &MssService,
    t: &Tenant,
) -> ServiceResult<Result<String, String>> {
    super::director_only(t)?;
    let s = store
        .get_structure(t.structure_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let outcome = match (&s.mss_mailbox, mss.submission(&s)) {
        (None, _) => Err("indiquez d'abord l'adresse de la boîte de la structure".to_string()),
        (_, Err(e)) => Err(e),
        (Some(_), Ok(client)) => client.check().await.map_err(|e| e.to_string()).map(|()| {
            format!(
                "connexion SMTP réussie ({}:{}, STARTTLS, certificat de la boîte accepté)",
                mss.operator.as_ref().map_or("", |o| o.smtp_host.as_str()),
                mss.operator.as_ref().map_or(0, |o| o.smtp_port)
            )
        }),
    };
    audit::record(
        store,
        t,
        AuditAction::ConfigurationChanged,
        None,
        match &outcome {
            Ok(ok) => format!("test de la messagerie MSSanté : {ok}"),
            Err(e) => format!("test de la messagerie MSSanté en échec : {e}"),
        },
    )
    .await?;
    Ok(outcome)
}
