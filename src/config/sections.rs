//! The sections of the configuration, one per concern (`[session]`, `[insi]`,
//! `[psc]`, `[annuaire]` in TOML; `ESCALE_<SECTION>_<NAME>` in the environment).
//! Secrets are redacted in `Debug`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

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
