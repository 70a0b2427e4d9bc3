//! An MSSanté sandbox and the structure's mailbox service against it: the
//! test PKI, the structure's certificate where `MssCredentials` looks for
//! it, and the operator pointing at the sandbox's SMTP and IMAP ports.

use std::net::SocketAddr;
use std::path::PathBuf;

use escale::config::{Config, MssConfig};
use escale::sandbox::mss::{MssSandbox, MssSandboxHandle};
use escale::sandbox::pki::{TestPki, write_pair};
use escale::services::mss::{MssCredentials, MssService, Operator};

pub struct MssSetup {
    pub pki: TestPki,
    pub sandbox: MssSandboxHandle,
    pub dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub creds: MssCredentials,
}

impl MssSetup {
    /// The sandbox and the certificate of the structure of `finess`.
    pub async fn start(finess: &str) -> MssSetup {
        escale::install_crypto_provider();
        let pki = TestPki::generate().unwrap();
        let sandbox = MssSandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), &pki)
            .await
            .unwrap();
        sandbox.set_schemas(xdm_schemas());
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, pki.ca_pem()).unwrap();
        let creds = MssCredentials::under(dir.path(), finess);
        std::fs::create_dir_all(creds.cert.parent().unwrap()).unwrap();
        write_pair(
            &creds.cert,
            &creds.key,
            &pki.client_cert("ESCALE-MSS", finess).unwrap(),
        )
        .unwrap();
        MssSetup {
            pki,
            sandbox,
            dir,
            ca,
            creds,
        }
    }

    /// The mailbox service of the instance, with these `[mss]` settings.
    pub fn service(&self, mss: MssConfig) -> MssService {
        let config = Config {
            data_dir: self.dir.path().to_path_buf(),
            mss,
            ..Default::default()
        };
        MssService::new(
            &config,
            Operator {
                domain: "escale-demo.mssante.fr".into(),
                smtp_host: self.sandbox.host.clone(),
                smtp_port: self.sandbox.smtp_addr.port(),
                imap_host: self.sandbox.host.clone(),
                imap_port: self.sandbox.imap_addr.port(),
                ca: self.ca.clone(),
            },
            None,
        )
    }
}

/// A professional recipient typed in the form (sent even when the
/// Annuaire does not list it).
pub fn pro(address: &str) -> escale::services::mss::Recipients {
    escale::services::mss::Recipients::Professionals {
        chosen: vec![],
        typed: address.into(),
    }
}

/// Writes a message with `document` from the file `usager` and sends it at
/// once (the outbox job's work, run here): the message as written.
pub async fn send_now(
    store: &dyn escale::store::Store,
    mss: &MssService,
    t: &escale::domain::tenant::Tenant,
    usager: uuid::Uuid,
    document: uuid::Uuid,
    to: escale::services::mss::Recipients,
    subject: &str,
) -> escale::store::MssMessage {
    let m = escale::services::mss::request(
        store,
        mss,
        t,
        usager,
        &escale::services::mss::Draft {
            to,
            subject: subject.into(),
            body: "Bonjour".into(),
            documents: vec![document],
            confirm_unknown: true,
            form_key: None,
            reply_to: None,
        },
    )
    .await
    .unwrap()
    .unwrap();
    let attempt = escale::services::mss::perform(store, mss, t, m.id)
        .await
        .unwrap();
    assert!(
        matches!(attempt, escale::services::dmp::Attempt::Finished),
        "{attempt:?}"
    );
    m
}

/// The archive's schemas in the shared reference data, for the sandbox
/// (`None` where they or xmllint are absent: said on stderr, a failure
/// under CI).
pub fn xdm_schemas() -> Option<escale::sandbox::mss::schemas::XdmSchemas> {
    let xmllint = crate::common::tools::tool("xmllint", "libxml2-utils")?;
    let spec = crate::common::tools::shared("spec")?;
    escale::sandbox::mss::schemas::XdmSchemas::under(&spec, xmllint.into())
}
