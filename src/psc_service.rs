//! Pro Santé Connect for the application: the configured provider, or in
//! sandbox mode the local PSC sandbox; and the ID tokens of open sessions,
//! kept in memory only (for `id_token_hint` at logout — PSC tokens are never
//! written to the database).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::connectors::psc::{PscClient, PscIdentity, PscSettings};
use crate::sandbox::psc::{PscSandboxHandle, PscSandboxOptions};

/// Each call to PSC (discovery, keys, token, userinfo) gets at most this long.
const PSC_TIMEOUT: Duration = Duration::from_secs(10);

pub struct PscService {
    client: Option<PscClient>,
    sandbox: Option<PscSandboxHandle>,
    /// Session (or pending choice) token hash → (ID token, kept until).
    id_tokens: Mutex<HashMap<String, (String, Instant)>>,
    /// Professionals authenticated but not attached yet (invitation page), 15 minutes.
    pending: Mutex<HashMap<String, (PscIdentity, Instant)>>,
    keep: Duration,
}

impl PscService {
    pub fn disabled() -> PscService {
        PscService {
            client: None,
            sandbox: None,
            id_tokens: Mutex::default(),
            pending: Mutex::default(),
            keep: Duration::from_secs(12 * 3600),
        }
    }

    /// The configured provider; in sandbox mode without PSC keys, a local PSC sandbox.
    pub async fn start(config: &Config) -> anyhow::Result<PscService> {
        let keep = Duration::from_secs(u64::from(config.session_max_hours) * 3600);
        let timeout = PSC_TIMEOUT;
        if let (Some(issuer), Some(client_id)) = (&config.psc_issuer, &config.psc_client_id) {
            let client = PscClient::new(PscSettings {
                issuer: issuer.clone(),
                discovery_url: config.psc_discovery_url.clone(),
                client_id: client_id.clone(),
                client_secret: config.psc_client_secret.clone(),
                redirect_url: config.psc_redirect(),
                post_logout_redirect_url: Some(config.psc_post_logout()),
                client_identity_pem: config.psc_client_certificate.clone(),
                extra_ca_pem: config.psc_ca.clone(),
                userinfo_jwt: config.psc_userinfo_jwt,
                timeout,
            })?;
            return Ok(PscService {
                client: Some(client),
                keep,
                ..PscService::disabled()
            });
        }
        if !config.is_sandbox() {
            return Ok(PscService {
                keep,
                ..PscService::disabled()
            });
        }
        let sandbox = PscSandboxHandle::start(PscSandboxOptions {
            redirect_uris: vec![config.psc_redirect()],
            ..PscSandboxOptions::default()
        })
        .await?;
        tracing::info!(issuer = %sandbox.issuer(), "bac à sable Pro Santé Connect prêt");
        let client = PscClient::new(PscSettings {
            issuer: sandbox.issuer().to_string(),
            discovery_url: None,
            client_id: sandbox.client_id().to_string(),
            client_secret: Some(sandbox.client_secret().to_string()),
            redirect_url: config.psc_redirect(),
            post_logout_redirect_url: Some(config.psc_post_logout()),
            client_identity_pem: None,
            extra_ca_pem: None,
            userinfo_jwt: config.psc_userinfo_jwt,
            timeout,
        })?;
        Ok(PscService {
            client: Some(client),
            sandbox: Some(sandbox),
            keep,
            ..PscService::disabled()
        })
    }

    pub fn client(&self) -> Option<&PscClient> {
        self.client.as_ref()
    }

    /// The local PSC sandbox, when that is what the login uses.
    pub fn sandbox(&self) -> Option<&PscSandboxHandle> {
        self.sandbox.as_ref()
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        self.id_tokens.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn remember_id_token(&self, key: &str, id_token: String) {
        let mut t = self.tokens();
        let now = Instant::now();
        t.retain(|_, (_, until)| *until > now);
        t.insert(key.to_string(), (id_token, now + self.keep));
    }

    pub fn take_id_token(&self, key: &str) -> Option<String> {
        self.tokens().remove(key).map(|(t, _)| t)
    }

    pub fn remember_pending(&self, key: &str, identity: PscIdentity) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        p.retain(|_, (_, until)| *until > now);
        p.insert(
            key.to_string(),
            (identity, now + Duration::from_secs(15 * 60)),
        );
    }

    pub fn take_pending(&self, key: &str) -> Option<PscIdentity> {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.remove(key)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(i, _)| i)
    }
}
