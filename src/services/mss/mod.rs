//! MSSanté (issue 14): the instance's operator (from configuration only),
//! each structure's mailbox (set by its director, of the operator's domain)
//! and its certificate, and the « tester la connexion » of the settings;
//! writing and sending messages from a file ([`sending`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

mod receiving;
mod sending;

pub use receiving::{
    BATCH, Reading, attach, enqueue_readings, keep_attachments, open_message, poll, read_now,
    unattached,
};

pub use sending::{Draft, Recipients, Refusal, cancel, needing_attention, perform, request, retry};

use super::audit;
use super::error::{ServiceError, ServiceResult};
use crate::config::Config;
use crate::connectors::mss::imap::{ImapConfig, ImapReader};
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
    /// `X-MSS-NIL` of every message.
    nil: String,
    /// A sent message without a delivery notice after this long is listed.
    undelivered_after: chrono::Duration,
    /// The antivirus hook received attachments go through (`mss_scan_command`).
    scan_command: Option<String>,
}

/// `X-MSS-NIL` where no reference is configured (sandbox, tests): production
/// requires `mss_nil` (configuration check).
pub const SANDBOX_NIL: &str = "ESCALE-BAC-A-SABLE";

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
            nil: config
                .mss
                .nil
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| SANDBOX_NIL.into()),
            undelivered_after: chrono::Duration::hours(config.mss.undelivered_hours.into()),
            scan_command: config
                .mss
                .scan_command
                .clone()
                .filter(|c| !c.trim().is_empty()),
        }
    }

    /// No operator configured (production without `mss_*`).
    pub fn disabled(config: &Config) -> MssService {
        let mut mss = MssService::new(
            config,
            Operator {
                domain: String::new(),
                smtp_host: String::new(),
                smtp_port: 0,
                imap_host: String::new(),
                imap_port: 0,
                ca: PathBuf::new(),
            },
            None,
        );
        mss.operator = None;
        mss
    }

    /// `X-MSS-NIL` of this instance's messages.
    pub fn nil(&self) -> &str {
        &self.nil
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

    /// The structure's certificate files, made first in the sandbox.
    fn credentials(&self, s: &Structure) -> Result<MssCredentials, String> {
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
        Ok(files)
    }

    /// The structure's SMTP submission client.
    pub fn submission(&self, s: &Structure) -> Result<SmtpSubmission, String> {
        let o = self.operator()?;
        let files = self.credentials(s)?;
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

impl MssService {
    /// The reader of the structure's mailbox (IMAP).
    pub fn reader(&self, s: &Structure) -> Result<ImapReader, String> {
        let o = self.operator()?;
        let mailbox = s
            .mss_mailbox
            .clone()
            .ok_or("la structure n'a pas de boîte MSSanté")?;
        let files = self.credentials(s)?;
        ImapReader::new(&ImapConfig {
            host: o.imap_host.clone(),
            port: o.imap_port,
            cert_pem: files.cert,
            key_pem: files.key,
            ca_pem: o.ca.clone(),
            timeout: self.timeout,
            mailbox,
        })
        .map_err(|e| e.to_string())
    }

    /// The antivirus hook: `bytes` on the command's standard input; clean
    /// when it exits 0. No command configured: nothing to check.
    pub async fn scan(&self, bytes: &[u8]) -> Result<(), String> {
        let Some(command) = &self.scan_command else {
            return Ok(());
        };
        let mut words = command.split_whitespace();
        let program = words.next().unwrap_or_default();
        let mut child = tokio::process::Command::new(program)
            .args(words)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("antivirus « {program} » impossible à lancer ({e})"))?;
        if let Some(mut stdin) = child.stdin.take() {
            use tokio::io::AsyncWriteExt;
            let _ = stdin.write_all(bytes).await;
        }
        let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
            .await
            .map_err(|_| "antivirus : délai dépassé".to_string())?
            .map_err(|e| format!("antivirus : {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "refusée par l'antivirus (code {})",
                status.code().unwrap_or(-1)
            ))
        }
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
    let (smtp_host, smtp_port, imap_host, imap_port) =
        mss.operator.as_ref().map_or(("", 0, "", 0), |o| {
            (
                o.smtp_host.as_str(),
                o.smtp_port,
                o.imap_host.as_str(),
                o.imap_port,
            )
        });
    // Both sessions, each said: one may work and not the other.
    let outcome = match (&s.mss_mailbox, mss.submission(&s), mss.reader(&s)) {
        (None, _, _) => Err("indiquez d'abord l'adresse de la boîte de la structure".to_string()),
        (_, Err(e), _) | (_, _, Err(e)) => Err(e),
        (Some(_), Ok(smtp), Ok(imap)) => {
            let sent = smtp.check().await.map(|()| {
                format!("envoi (SMTP {smtp_host}:{smtp_port}, STARTTLS, certificat de la boîte accepté) : réussi")
            });
            let read = imap.check().await.map(|n| {
                format!("relève (IMAP {imap_host}:{imap_port}, STARTTLS, authentification par certificat) : réussie, {n} message(s) dans la boîte")
            });
            match (sent, read) {
                (Ok(a), Ok(b)) => Ok(format!("{a} ; {b}")),
                (Err(e), Ok(b)) => Err(format!("envoi en échec : {e} ; {b}")),
                (Ok(a), Err(e)) => Err(format!("{a} ; relève en échec : {e}")),
                (Err(e), Err(f)) => Err(format!("envoi en échec : {e} ; relève en échec : {f}")),
            }
        }
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
