//! Pro Santé Connect for the application: the configured provider (in
//! sandbox mode `app/` configures the local PSC sandbox); and the ID tokens of open sessions,
//! kept in memory only (for `id_token_hint` at logout — PSC tokens are never
//! written to the database).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::connectors::psc::{PscClient, PscIdentity, PscSettings};

/// Each call to PSC (discovery, keys, token, userinfo) gets at most this long.
const PSC_TIMEOUT: Duration = Duration::from_secs(10);

pub struct PscService {
    client: Option<PscClient>,
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
            id_tokens: Mutex::default(),
            pending: Mutex::default(),
            keep: Duration::from_secs(12 * 3600),
        }
    }

    /// Logs in through `client` (`None`: no login by PSC on this instance);
    /// ID tokens are kept as long as a session may last.
    pub fn new(config: &Config, client: Option<PscClient>) -> PscService {
        PscService {
            client,
            keep: Duration::from_secs(u64::from(config.session.max_hours) * 3600),
            ..PscService::disabled()
        }
    }

    /// The provider of the configuration's `ESCALE_PSC_*` keys; `None` when
    /// they are not set.
    pub fn client_from_config(config: &Config) -> anyhow::Result<Option<PscClient>> {
        let (Some(issuer), Some(client_id)) = (&config.psc.issuer, &config.psc.client_id) else {
            return Ok(None);
        };
        Ok(Some(PscClient::new(PscSettings {
            discovery_url: config.psc.discovery_url.clone(),
            client_secret: config.psc.client_secret.clone(),
            client_identity_pem: config.psc.client_certificate.clone(),
            extra_ca_pem: config.psc.ca.clone(),
            ..Self::settings(config, issuer, client_id)
        })?))
    }

    /// This instance's settings for the provider `issuer` (its return
    /// addresses, the configuration's choices); the client authenticates
    /// with what the caller adds.
    pub fn settings(config: &Config, issuer: &str, client_id: &str) -> PscSettings {
        PscSettings {
            issuer: issuer.to_string(),
            discovery_url: None,
            client_id: client_id.to_string(),
            client_secret: None,
            redirect_url: config.psc_redirect(),
            post_logout_redirect_url: Some(config.psc_post_logout()),
            client_identity_pem: None,
            extra_ca_pem: None,
            userinfo_jwt: config.psc.userinfo_jwt,
            timeout: PSC_TIMEOUT,
        }
    }

    pub fn client(&self) -> Option<&PscClient> {
        self.client.as_ref()
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

/// At each login, the names Pro Santé Connect gives (those of the RPPS)
/// replace what Escale kept, journaled on the instance's chain and on each
/// structure the professional works in (their journals show the name).
/// Empty or unusable names from PSC, or the same names up to case and
/// accents, change nothing.
pub async fn refresh_names(
    store: &dyn crate::store::Store,
    professional: &crate::store::Professional,
    person: &crate::domain::directory::DirectoryPerson,
    memberships: &[crate::store::Membership],
) -> crate::store::StoreResult<bool> {
    use crate::domain::text;
    let (Ok(first), Ok(last)) = (
        text::single_line(&person.first_name, 100),
        text::single_line(&person.last_name, 100),
    ) else {
        return Ok(false);
    };
    // The RPPS writes names in capitals, without accents: the same name
    // written otherwise in Escale is not a change.
    use crate::domain::search::fold;
    if fold(&first) == fold(&professional.first_name)
        && fold(&last) == fold(&professional.last_name)
    {
        return Ok(false);
    }
    let details = format!(
        "nom mis à jour depuis Pro Santé Connect ({}) : {} → {first} {last}",
        person.id_nat_ps,
        professional.display_name()
    );
    let chains = std::iter::once(crate::store::AuditChain::Instance).chain(
        memberships
            .iter()
            .map(|m| crate::store::AuditChain::Structure(m.structure_id)),
    );
    let journal: Vec<_> = chains
        .map(|chain| {
            crate::services::audit::instance_event(
                chain,
                "Pro Santé Connect",
                crate::domain::audit::AuditAction::ProfessionalRenamed,
                details.clone(),
            )
        })
        .collect();
    store
        .rename_professional(professional.id, &first, &last, &journal)
        .await?;
    Ok(true)
}
