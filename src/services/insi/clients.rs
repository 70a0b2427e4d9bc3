//! The application's access to INSi: one mutual-TLS client per structure
//! (each structure has its own software certificate and authorisation
//! number), built on first use. In sandbox mode `app/` points it at the local
//! simulator and gives it a [`CredentialIssuer`] (the test PKI), so that
//! structures get a test certificate on first use.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

use crate::config::Config;
use crate::connectors::certificate::subject_from_pem;
use crate::connectors::insi::{InsiClient, InsiClientConfig, InsiError, LpsContext};
use crate::store::{Store, Structure, StructureInsi};

pub const SOFTWARE_NAME: &str = "ESCALE";

#[derive(Debug, thiserror::Error)]
pub enum InsiUnavailable {
    #[error(
        "le téléservice INSi n'est pas configuré sur cette instance (clés ESCALE_INSI_URL et ESCALE_INSI_CA) : l'identité reste provisoire ; prévenez l'administrateur"
    )]
    NotConfigured,
    #[error(
        "la structure n'a pas de certificat INSi ni de numéro d'autorisation : l'administrateur les enregistre avec « escale admin set-insi »"
    )]
    StructureNotConfigured,
    #[error("{}", .0.french_message())]
    Client(InsiError),
    #[error("bac à sable INSi indisponible : {0}")]
    Sandbox(String),
}

/// Makes INSi credentials for a structure that has none (sandbox mode: a
/// certificate of the test PKI and the sandbox's authorisation number).
pub trait CredentialIssuer: Send + Sync {
    fn issue(&self, profile: Profile, finess_geo: &str) -> Result<StructureInsi, String>;
}

/// Clients per structure and certificate profile, with the credentials they were built from.
type Clients = HashMap<(Uuid, Profile), (StructureInsi, Arc<InsiClient>)>;

pub struct InsiService {
    endpoint: Option<(String, PathBuf)>,
    timeout: Duration,
    instance: Uuid,
    issuer: Option<Arc<dyn CredentialIssuer>>,
    clients: Mutex<Clients>,
}

impl InsiService {
    /// No INSi at all (every call says so).
    pub fn disabled() -> InsiService {
        InsiService {
            endpoint: None,
            timeout: Duration::from_secs(10),
            instance: Uuid::nil(),
            issuer: None,
            clients: Mutex::default(),
        }
    }

    /// From the configuration's INSi keys (`ESCALE_INSI_URL`, `ESCALE_INSI_CA`);
    /// `None` when no INSi URL is configured.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<InsiService>> {
        let Some(url) = &config.insi.url else {
            return Ok(None);
        };
        let ca = config.insi.ca.clone().ok_or_else(|| {
            anyhow::anyhow!(
                "clé `insi_ca` (ESCALE_INSI_CA) : indiquez le fichier PEM des autorités de certification du serveur INSi"
            )
        })?;
        Ok(Some(InsiService::new(config, url.clone(), ca, None)?))
    }

    /// Calls `url`, whose server certificate is checked against the PEM file
    /// `ca`; structures without credentials get them from `issuer` (sandbox).
    pub fn new(
        config: &Config,
        url: String,
        ca: PathBuf,
        issuer: Option<Arc<dyn CredentialIssuer>>,
    ) -> anyhow::Result<InsiService> {
        crate::install_crypto_provider();
        Ok(InsiService {
            endpoint: Some((url, ca)),
            timeout: Duration::from_secs(config.insi.timeout_seconds),
            instance: instance_id(config)?,
            issuer,
            clients: Mutex::default(),
        })
    }

    /// The client of this structure for calls made by a person at the desk
    /// (`INSI-MANU`), built once per credentials.
    pub async fn client_for(
        &self,
        store: &dyn Store,
        structure: &Structure,
    ) -> Result<Arc<InsiClient>, InsiUnavailable> {
        self.client(store, structure, Profile::Manu).await
    }

    /// The client for unattended bulk calls (`INSI-AUTO`, Guide INS: mass
    /// verification runs under the structure's automatic certificate).
    /// In the sandbox an `INSI-AUTO` certificate is made by the test PKI;
    /// outside it the structure's configured certificate is used (separate
    /// AUTO credentials are not configurable yet).
    pub async fn client_auto_for(
        &self,
        store: &dyn Store,
        structure: &Structure,
    ) -> Result<Arc<InsiClient>, InsiUnavailable> {
        self.client(store, structure, Profile::Auto).await
    }

    async fn client(
        &self,
        store: &dyn Store,
        structure: &Structure,
        profile: Profile,
    ) -> Result<Arc<InsiClient>, InsiUnavailable> {
        let Some((url, ca)) = &self.endpoint else {
            return Err(InsiUnavailable::NotConfigured);
        };
        let creds = match (&structure.insi, &self.issuer, profile) {
            // Sandbox: an `INSI-AUTO` certificate of the test PKI (not stored:
            // the structure's configured credentials stay the desk's).
            (_, Some(issuer), Profile::Auto) => issuer
                .issue(Profile::Auto, &structure.finess_geo)
                .map_err(InsiUnavailable::Sandbox)?,
            (Some(c), _, _) => c.clone(),
            (None, Some(issuer), Profile::Manu) => {
                provision(store, issuer.as_ref(), structure).await?
            }
            (None, None, _) => return Err(InsiUnavailable::StructureNotConfigured),
        };
        let cache_key = (structure.id, profile);
        if let Some((known, client)) = self.lock().get(&cache_key)
            && *known == creds
        {
            return Ok(client.clone());
        }
        let cert = PathBuf::from(&creds.certificate);
        let key = creds
            .key
            .as_ref()
            .map(PathBuf::from)
            .unwrap_or(cert.clone());
        // Emetteur: the OU of the client certificate in mTLS mode (padoa emitter.helper.ts).
        let emitter = std::fs::read_to_string(&cert)
            .ok()
            .and_then(|pem| subject_from_pem(&pem).ok())
            .and_then(|s| s.organizational_unit)
            .unwrap_or_else(|| structure.finess_geo.clone());
        let client = InsiClient::new(InsiClientConfig {
            endpoint: url.clone(),
            client_cert_pem: cert,
            client_key_pem: key,
            ca_bundle_pem: ca.clone(),
            connect_timeout: self.timeout.min(Duration::from_secs(5)),
            timeout: self.timeout,
            lps: LpsContext {
                idam: creds.idam.clone(),
                software_name: SOFTWARE_NAME.into(),
                software_version: env!("CARGO_PKG_VERSION").into(),
                instance: self.instance,
                emitter,
            },
        })
        .map_err(InsiUnavailable::Client)?;
        let client = Arc::new(client);
        self.lock().insert(cache_key, (creds, client.clone()));
        Ok(client)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Clients> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The certificate profile of a call (Guide INS): a person at the desk, or
/// unattended bulk calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    Manu,
    Auto,
}

impl Profile {
    /// The common name of the certificate (`INSI-MANU`, `INSI-AUTO`).
    pub fn common_name(self) -> &'static str {
        match self {
            Profile::Manu => "INSI-MANU",
            Profile::Auto => "INSI-AUTO",
        }
    }
}

/// Sandbox only: desk credentials issued for the structure, then stored as
/// if the administrator had set them.
async fn provision(
    store: &dyn Store,
    issuer: &dyn CredentialIssuer,
    structure: &Structure,
) -> Result<StructureInsi, InsiUnavailable> {
    let creds = issuer
        .issue(Profile::Manu, &structure.finess_geo)
        .map_err(InsiUnavailable::Sandbox)?;
    store
        .set_structure_insi(structure.id, &creds, &[])
        .await
        .map_err(|e| InsiUnavailable::Sandbox(e.to_string()))?;
    Ok(creds)
}

/// `ContexteLPS/LPS/Instance`: the configured UUID, else one generated once
/// and kept in the data directory.
fn instance_id(config: &Config) -> anyhow::Result<Uuid> {
    if let Some(id) = config.insi.instance_id {
        return Ok(id);
    }
    let path = config.data_dir.join("instance-id");
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(id) = Uuid::parse_str(text.trim())
    {
        return Ok(id);
    }
    let id = Uuid::new_v4();
    if crate::config::data_dir::create(&config.data_dir).is_ok() {
        let _ = crate::config::data_dir::write_private(&path, id.to_string().as_bytes());
    }
    Ok(id)
}
