//! The sections of the configuration, one per concern (`[http]`, `[session]`, `[insi]`,
//! `[psc]`, `[annuaire]` in TOML; `ESCALE_<SECTION>_<NAME>` in the environment).
//! Secrets are redacted in `Debug`.

use serde::{Deserialize, Serialize};

use super::ConfigError;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

/// What the HTTP server grants a connection, and whom it believes about the
/// client's address.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// A request's headers must arrive within this many seconds (an idle
    /// kept-alive connection is closed after as long).
    pub header_timeout_seconds: u64,
    /// A request (body included) is answered within this many seconds.
    pub request_timeout_seconds: u64,
    /// A request body that sends nothing for this many seconds is abandoned.
    pub body_timeout_seconds: u64,
    /// Connections served at once; the next ones wait in the listen queue.
    pub max_connections: usize,
    /// Header carrying the client address set by a reverse proxy
    /// (`X-Forwarded-For`); `None`: the socket's address.
    pub trusted_proxy_header: Option<String>,
    /// Addresses of the proxies whose header is believed (comma-separated).
    pub trusted_proxies: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_timeout_seconds: 15,
            request_timeout_seconds: 60,
            body_timeout_seconds: 20,
            max_connections: 1024,
            trusted_proxy_header: None,
            trusted_proxies: "127.0.0.1,::1".into(),
        }
    }
}

impl HttpConfig {
    /// The trusted proxies' addresses, or which one is not an address.
    pub fn proxies(&self) -> Result<Vec<IpAddr>, String> {
        self.trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<IpAddr>().map_err(|_| s.to_string()))
            .collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Logged out after this many minutes without activity.
    pub idle_minutes: u32,
    /// A session lasts at most this long.
    pub max_hours: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            idle_minutes: 30,
            max_hours: 12,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InsiConfig {
    /// The téléservice (mutual TLS); `None`: the local sandbox in sandbox mode.
    pub url: Option<String>,
    /// PEM file of the authorities of the INSi server.
    pub ca: Option<PathBuf>,
    pub timeout_seconds: u64,
    /// `ContexteLPS/LPS/Instance`; `None`: generated once in the data directory.
    pub instance_id: Option<uuid::Uuid>,
}

impl Default for InsiConfig {
    fn default() -> Self {
        InsiConfig {
            url: None,
            ca: None,
            timeout_seconds: 10,
            instance_id: None,
        }
    }
}

/// The DMP web services. The structure's certificates are files of the
/// data directory: `dmp/<FINESS>/auth.pem`, `auth.key` (TLS),
/// `sign.pem`, `sign.key` (VIHF and XAdES).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DmpConfig {
    /// `https://…/si-dmp-server/v2/services`; `None`: the local sandbox in sandbox mode.
    pub url: Option<String>,
    /// PEM file of the authorities of the DMP's server certificate.
    pub ca: Option<PathBuf>,
    pub timeout_seconds: u64,
    /// The DMP homologation number of this installation (VIHF `LPS_ID_HOMOLOGATION_DMP`).
    pub homologation: Option<String>,
}

impl Default for DmpConfig {
    fn default() -> Self {
        DmpConfig {
            url: None,
            ca: None,
            timeout_seconds: 20,
            homologation: None,
        }
    }
}

/// The instance's MSSanté operator: its hosts come from here, never from
/// what a user types (a typed host would be an SSRF hole). A structure's
/// mailbox must be of `domain`; its certificate is a file of the data
/// directory: `mss/<FINESS>/bal.pem`, `bal.key`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MssConfig {
    /// The operator's mail domain (`None`: the local sandbox in sandbox mode).
    pub domain: Option<String>,
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    pub imap_host: Option<String>,
    pub imap_port: u16,
    /// PEM file of the authorities of the operator's server certificates.
    pub ca: Option<PathBuf>,
    /// `X-MSS-NIL`: the product reference given by convergence.esante.gouv.fr.
    pub nil: Option<String>,
    pub timeout_seconds: u64,
    /// A message sent this many hours ago without a delivery notice is
    /// listed on the structure's messaging page.
    pub undelivered_hours: u32,
    /// How often each structure's mailbox is read (IMAP), in seconds.
    pub poll_seconds: u64,
    /// A command each received attachment is piped to before it is kept
    /// (exit 0: clean), e.g. `clamdscan --no-summary -`.
    pub scan_command: Option<String>,
}

impl MssConfig {
    /// Hosts are names (never a URL a user could bend), keys go together,
    /// production names the product (`X-MSS-NIL`).
    pub(super) fn validate(&self, production: bool) -> Result<(), ConfigError> {
        let m = self;
        let host_ok = |h: &Option<String>| {
            h.as_deref().is_none_or(|h| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            })
        };
        if !host_ok(&m.smtp_host) || !host_ok(&m.imap_host) || !host_ok(&m.domain) {
            return Err(ConfigError::Invalid(
                "clés `mss_domain`, `mss_smtp_host`, `mss_imap_host` : attendu un nom d'hôte (lettres, chiffres, points, tirets), sans schéma ni port".into(),
            ));
        }
        let any = m.domain.is_some() || m.smtp_host.is_some() || m.imap_host.is_some();
        if any
            && (m.domain.is_none()
                || m.smtp_host.is_none()
                || m.imap_host.is_none()
                || m.ca.is_none())
        {
            return Err(ConfigError::Invalid(
                "MSSanté : `mss_domain`, `mss_smtp_host`, `mss_imap_host` et `mss_ca` vont ensemble (ESCALE_MSS_*)".into(),
            ));
        }
        if m.timeout_seconds == 0 || m.timeout_seconds > 300 {
            return Err(ConfigError::Invalid(
                "clé `mss_timeout_seconds` (ESCALE_MSS_TIMEOUT_SECONDS) : attendu un nombre de secondes entre 1 et 300".into(),
            ));
        }
        if m.poll_seconds < 5 || m.poll_seconds > 86_400 {
            return Err(ConfigError::Invalid(
                "clé `mss_poll_seconds` (ESCALE_MSS_POLL_SECONDS) : attendu un nombre de secondes entre 5 et 86400".into(),
            ));
        }
        if m.undelivered_hours == 0 || m.undelivered_hours > 24 * 30 {
            return Err(ConfigError::Invalid(
                "clé `mss_undelivered_hours` (ESCALE_MSS_UNDELIVERED_HOURS) : attendu un nombre d'heures entre 1 et 720".into(),
            ));
        }
        if production && any && m.nil.as_deref().is_none_or(str::is_empty) {
            return Err(ConfigError::Production(
                "clé `mss_nil` (ESCALE_MSS_NIL) : la référence du logiciel obtenue sur convergence.esante.gouv.fr, portée par chaque message (X-MSS-NIL)".into(),
            ));
        }
        Ok(())
    }
}

impl Default for MssConfig {
    fn default() -> Self {
        MssConfig {
            domain: None,
            smtp_host: None,
            smtp_port: 587,
            imap_host: None,
            imap_port: 143,
            ca: None,
            nil: None,
            timeout_seconds: 30,
            undelivered_hours: 24,
            poll_seconds: 60,
            scan_command: None,
        }
    }
}

#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PscConfig {
    /// `None`: the local PSC sandbox in sandbox mode.
    pub issuer: Option<String>,
    pub discovery_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub redirect_url: Option<String>,
    pub post_logout_url: Option<String>,
    /// PEM: the structure's IGC-Santé certificate and key (mutual TLS with PSC).
    pub client_certificate: Option<PathBuf>,
    pub ca: Option<PathBuf>,
    pub userinfo_jwt: bool,
}

impl fmt::Debug for PscConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PscConfig")
            .field("issuer", &self.issuer)
            .field("discovery_url", &self.discovery_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "***"))
            .field("redirect_url", &self.redirect_url)
            .field("post_logout_url", &self.post_logout_url)
            .field("client_certificate", &self.client_certificate)
            .field("ca", &self.ca)
            .field("userinfo_jwt", &self.userinfo_jwt)
            .finish()
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnnuaireConfig {
    /// The FHIR API; `None`: the local Annuaire sandbox in sandbox mode.
    pub url: Option<String>,
    /// `ESANTE-API-KEY`.
    pub api_key: Option<String>,
    pub cache_minutes: u32,
}

impl Default for AnnuaireConfig {
    fn default() -> Self {
        AnnuaireConfig {
            url: None,
            api_key: None,
            cache_minutes: 60,
        }
    }
}

impl fmt::Debug for AnnuaireConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnnuaireConfig")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("cache_minutes", &self.cache_minutes)
            .finish()
    }
}
