//! The application's access to INSi: one mutual-TLS client per structure
//! (each structure has its own software certificate and authorisation
//! number), built on first use. In sandbox mode without `ESCALE_INSI_URL`,
//! the local INSi simulator is started with a test PKI under the data
//! directory, and structures get a test certificate on first use.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

use crate::config::Config;
use crate::connectors::insi::certificate::subject_from_pem;
use crate::connectors::insi::{InsiClient, InsiClientConfig, InsiError, LpsContext};
use crate::pki::TestPki;
use crate::sandbox::{InsiSandbox, SANDBOX_IDAM, SandboxHandle, SandboxOptions};
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

struct LocalSandbox {
    handle: SandboxHandle,
    pki: TestPki,
    dir: PathBuf,
}

/// Clients per structure and certificate profile, with the credentials they were built from.
type Clients = HashMap<(Uuid, Profile), (StructureInsi, Arc<InsiClient>)>;

pub struct InsiService {
    endpoint: Option<(String, PathBuf)>,
    timeout: Duration,
    instance: Uuid,
    sandbox: Option<LocalSandbox>,
    clients: Mutex<Clients>,
}

impl InsiService {
    /// No INSi at all (every call says so).
    pub fn disabled() -> InsiService {
        InsiService {
            endpoint: None,
            timeout: Duration::from_secs(10),
            instance: Uuid::nil(),
            sandbox: None,
            clients: Mutex::default(),
        }
    }

    /// From the configuration; starts the local simulator in sandbox mode
    /// when no INSi URL is configured.
    pub async fn start(config: &Config) -> anyhow::Result<InsiService> {
        crate::install_crypto_provider();
        let timeout = Duration::from_secs(config.insi_timeout_seconds);
        let instance = instance_id(config)?;
        if let Some(url) = &config.insi_url {
            let ca = config.insi_ca.clone().ok_or_else(|| {
                anyhow::anyhow!(
                    "clé `insi_ca` (ESCALE_INSI_CA) : indiquez le fichier PEM des autorités de certification du serveur INSi"
                )
            })?;
            return Ok(InsiService {
                endpoint: Some((url.clone(), ca)),
                timeout,
                instance,
                sandbox: None,
                clients: Mutex::default(),
            });
        }
        if !config.is_sandbox() {
            return Ok(InsiService {
                timeout,
                instance,
                ..InsiService::disabled()
            });
        }
        let dir = config.data_dir.join("pki");
        let pki = TestPki::load_or_create(&dir)?;
        let handle = InsiSandbox::start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            &pki,
            SandboxOptions::default(),
        )
        .await?;
        tracing::info!(url = %handle.url, "bac à sable INSi prêt");
        Ok(InsiService {
            endpoint: Some((handle.url.clone(), dir.join("ca.pem"))),
            timeout,
            instance,
            sandbox: Some(LocalSandbox { handle, pki, dir }),
            clients: Mutex::default(),
        })
    }

    /// The running simulator, if any (tests make it slow, down or faulty).
    pub fn sandbox(&self) -> Option<&SandboxHandle> {
        self.sandbox.as_ref().map(|s| &s.handle)
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
        let creds = match (&structure.insi, &self.sandbox, profile) {
            (_, Some(sb), Profile::Auto) => auto_files(sb, structure)?,
            (Some(c), _, _) => c.clone(),
            (None, Some(sb), Profile::Manu) => provision(store, sb, structure).await?,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Profile {
    Manu,
    Auto,
}

/// Sandbox only: an `INSI-AUTO` certificate of the test PKI (not stored: the
/// structure's configured credentials stay the desk's).
fn auto_files(sb: &LocalSandbox, structure: &Structure) -> Result<StructureInsi, InsiUnavailable> {
    let files = sb
        .pki
        .client_files(&sb.dir, "INSI-AUTO", &structure.finess_geo)
        .map_err(|e| InsiUnavailable::Sandbox(e.to_string()))?;
    Ok(StructureInsi {
        certificate: files.cert.display().to_string(),
        key: Some(files.key.display().to_string()),
        idam: SANDBOX_IDAM.into(),
    })
}

/// Sandbox only: an `INSI-MANU` certificate of the test PKI for the structure.
async fn provision(
    store: &dyn Store,
    sb: &LocalSandbox,
    structure: &Structure,
) -> Result<StructureInsi, InsiUnavailable> {
    let files = sb
        .pki
        .client_files(&sb.dir, "INSI-MANU", &structure.finess_geo)
        .map_err(|e| InsiUnavailable::Sandbox(e.to_string()))?;
    let creds = StructureInsi {
        certificate: files.cert.display().to_string(),
        key: Some(files.key.display().to_string()),
        idam: SANDBOX_IDAM.into(),
    };
    store
        .set_structure_insi(structure.id, &creds)
        .await
        .map_err(|e| InsiUnavailable::Sandbox(e.to_string()))?;
    Ok(creds)
}

/// `ContexteLPS/LPS/Instance`: the configured UUID, else one generated once
/// and kept in the data directory.
fn instance_id(config: &Config) -> anyhow::Result<Uuid> {
    if let Some(id) = config.insi_instance_id {
        return Ok(id);
    }
    let path = config.data_dir.join("instance-id");
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(id) = Uuid::parse_str(text.trim())
    {
        return Ok(id);
    }
    let id = Uuid::new_v4();
    if std::fs::create_dir_all(&config.data_dir).is_ok() {
        let _ = std::fs::write(&path, id.to_string());
    }
    Ok(id)
}
