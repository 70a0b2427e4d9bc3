//! The national services of this instance: the configured real endpoints, or
//! in sandbox mode the local simulators (INSi, the DMP and MSSanté with their
//! test PKI, Pro Santé Connect, Annuaire Santé), started here and handed to the
//! services as ordinary endpoints. The only place outside `cli/` that starts a
//! simulator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Config;
use crate::connectors::psc::{PscClient, PscSettings};
use crate::sandbox::annuaire::{AnnuaireSandbox, AnnuaireSandboxHandle, AnnuaireSandboxOptions};
use crate::sandbox::dmp::{DmpSandbox, DmpSandboxHandle};
use crate::sandbox::mss::{MssSandbox, MssSandboxHandle};
use crate::sandbox::pki::TestPki;
use crate::sandbox::psc::{PscSandboxHandle, PscSandboxOptions};
use crate::sandbox::{InsiSandbox, SANDBOX_IDAM, SandboxHandle, SandboxOptions};
use crate::services::annuaire::DirectoryService;
use crate::services::dmp::{DmpCredentialIssuer, DmpCredentials, DmpService};
use crate::services::insi::{CredentialIssuer, InsiService, Profile};
use crate::services::mss::{MssCredentialIssuer, MssCredentials, MssService, Operator};
use crate::services::psc::PscService;
use crate::store::StructureInsi;

/// The simulators this process started (tests make them slow, down or faulty).
#[derive(Default)]
pub struct Sandboxes {
    pub insi: Option<SandboxHandle>,
    pub dmp: Option<DmpSandboxHandle>,
    pub mss: Option<MssSandboxHandle>,
    pub psc: Option<PscSandboxHandle>,
    pub annuaire: Option<AnnuaireSandboxHandle>,
}

pub struct National {
    pub insi: Arc<InsiService>,
    pub dmp: Arc<DmpService>,
    pub mss: Arc<MssService>,
    pub psc: Arc<PscService>,
    pub directory: Arc<DirectoryService>,
    pub sandboxes: Arc<Sandboxes>,
}

/// Each service from its configuration keys; in sandbox mode, a service whose
/// keys are not set is pointed at its local simulator.
pub async fn start(config: &Config) -> anyhow::Result<National> {
    let mut sandboxes = Sandboxes::default();
    let insi = match InsiService::from_config(config)? {
        Some(insi) => insi,
        None if config.is_sandbox() => {
            let (handle, insi) = insi_sandbox(config).await?;
            sandboxes.insi = Some(handle);
            insi
        }
        None => InsiService::disabled(),
    };
    let psc_client = match PscService::client_from_config(config)? {
        Some(client) => Some(client),
        None if config.is_sandbox() => {
            let (handle, client) = psc_sandbox(config).await?;
            sandboxes.psc = Some(handle);
            Some(client)
        }
        None => None,
    };
    let annuaire = match DirectoryService::client_from_config(config)? {
        Some(api) => Some(api),
        None if config.is_sandbox() => {
            let sandbox = AnnuaireSandbox::start(AnnuaireSandboxOptions::default()).await?;
            tracing::info!(url = %sandbox.base_url(), "bac à sable Annuaire Santé prêt");
            let api = DirectoryService::client(config, sandbox.base_url(), sandbox.api_key())?;
            sandboxes.annuaire = Some(sandbox);
            Some(api)
        }
        None => None,
    };
    let dmp = match DmpService::from_config(config) {
        Some(dmp) => dmp,
        None if config.is_sandbox() => {
            let (handle, dmp) = dmp_sandbox(config).await?;
            sandboxes.dmp = Some(handle);
            dmp
        }
        None => DmpService::disabled(config),
    };
    let mss = match MssService::from_config(config) {
        Some(mss) => mss,
        None if config.is_sandbox() => {
            let (handle, mss) = mss_sandbox(config).await?;
            sandboxes.mss = Some(handle);
            mss
        }
        None => MssService::disabled(config),
    };
    Ok(National {
        insi: Arc::new(insi),
        dmp: Arc::new(dmp),
        mss: Arc::new(mss),
        psc: Arc::new(PscService::new(config, psc_client)),
        directory: Arc::new(DirectoryService::new(annuaire)),
        sandboxes: Arc::new(sandboxes),
    })
}

/// The INSi simulator with a test PKI under the data directory; structures
/// get a test certificate on first use.
async fn insi_sandbox(config: &Config) -> anyhow::Result<(SandboxHandle, InsiService)> {
    crate::install_crypto_provider();
    let dir = config.data_dir.join("pki");
    let pki = TestPki::load_or_create(&dir)?;
    let handle = InsiSandbox::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        &pki,
        SandboxOptions::default(),
    )
    .await?;
    tracing::info!(url = %handle.url, "bac à sable INSi prêt");
    let ca = dir.join("ca.pem");
    let issuer = Arc::new(TestPkiIssuer { pki, dir });
    let insi = InsiService::new(config, handle.url.clone(), ca, Some(issuer))?;
    Ok((handle, insi))
}

struct TestPkiIssuer {
    pki: TestPki,
    dir: PathBuf,
}

impl CredentialIssuer for TestPkiIssuer {
    fn issue(&self, profile: Profile, finess_geo: &str) -> Result<StructureInsi, String> {
        let files = self
            .pki
            .client_files(&self.dir, profile.common_name(), finess_geo)
            .map_err(|e| e.to_string())?;
        Ok(StructureInsi {
            certificate: files.cert.display().to_string(),
            key: Some(files.key.display().to_string()),
            idam: SANDBOX_IDAM.into(),
        })
    }
}

/// The DMP simulator, with the same test PKI as INSi; structures get their
/// AUTH and SIGN certificates on first use.
async fn dmp_sandbox(config: &Config) -> anyhow::Result<(DmpSandboxHandle, DmpService)> {
    crate::install_crypto_provider();
    let dir = config.data_dir.join("pki");
    let pki = TestPki::load_or_create(&dir)?;
    let mut handle = DmpSandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), &pki).await?;
    tracing::info!(url = %handle.url, "bac à sable DMP prêt");
    // Its « Mon espace santé » pages, on loopback like the PSC sandbox's.
    let site = handle
        .open_patient_site(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await?;
    let dmp = DmpService::new(
        config,
        handle.url.clone(),
        dir.join("ca.pem"),
        Some(Arc::new(TestPkiDmpIssuer { pki })),
    )
    .with_patient_view(Box::new(move |patient| {
        format!(
            "{site}{}",
            crate::sandbox::dmp::patient_site::dossier_path(patient)
        )
    }));
    Ok((handle, dmp))
}

struct TestPkiDmpIssuer {
    pki: TestPki,
}

impl DmpCredentialIssuer for TestPkiDmpIssuer {
    fn issue(&self, finess: &str, to: &DmpCredentials) -> Result<(), String> {
        let auth = self
            .pki
            .client_cert("ESCALE-DMP-AUTH", finess)
            .map_err(|e| e.to_string())?;
        let sign = self
            .pki
            .signing_cert("ESCALE-DMP-SIGN", finess)
            .map_err(|e| e.to_string())?;
        crate::sandbox::pki::write_pair(&to.auth_cert, &to.auth_key, &auth)
            .and_then(|()| crate::sandbox::pki::write_pair(&to.sign_cert, &to.sign_key, &sign))
            .map_err(|e| e.to_string())
    }
}

/// The sandbox's MSSanté domain: structures' mailboxes are of it.
pub const SANDBOX_MSS_DOMAIN: &str = "escale-demo.mssante.fr";

/// The MSSanté simulator, with the same test PKI; structures get their
/// mailbox certificate on first use.
async fn mss_sandbox(config: &Config) -> anyhow::Result<(MssSandboxHandle, MssService)> {
    crate::install_crypto_provider();
    let dir = config.data_dir.join("pki");
    let pki = TestPki::load_or_create(&dir)?;
    let mut handle = MssSandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), &pki).await?;
    let site = handle
        .open_site(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await?;
    let operator = Operator {
        domain: SANDBOX_MSS_DOMAIN.into(),
        smtp_host: handle.host.clone(),
        smtp_port: handle.smtp_addr.port(),
        imap_host: handle.host.clone(),
        imap_port: handle.imap_addr.port(),
        ca: dir.join("ca.pem"),
    };
    let mss = MssService::new(config, operator, Some(Arc::new(TestPkiMssIssuer { pki })))
        .with_mailbox_site(site);
    Ok((handle, mss))
}

struct TestPkiMssIssuer {
    pki: TestPki,
}

impl MssCredentialIssuer for TestPkiMssIssuer {
    fn issue(&self, finess: &str, to: &MssCredentials) -> Result<(), String> {
        let cert = self
            .pki
            .client_cert("ESCALE-MSS", finess)
            .map_err(|e| e.to_string())?;
        crate::sandbox::pki::write_pair(&to.cert, &to.key, &cert).map_err(|e| e.to_string())
    }
}

async fn psc_sandbox(config: &Config) -> anyhow::Result<(PscSandboxHandle, PscClient)> {
    let sandbox = PscSandboxHandle::start(PscSandboxOptions {
        redirect_uris: vec![config.psc_redirect()],
        ..PscSandboxOptions::default()
    })
    .await?;
    tracing::info!(issuer = %sandbox.issuer(), "bac à sable Pro Santé Connect prêt");
    let client = PscClient::new(PscSettings {
        client_secret: Some(sandbox.client_secret().to_string()),
        ..PscService::settings(config, sandbox.issuer(), sandbox.client_id())
    })?;
    Ok((sandbox, client))
}
