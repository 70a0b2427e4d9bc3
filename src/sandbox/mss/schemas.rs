//! The archive against its schemas, as a receiving software validates it:
//! `METADATA.XML` against ebRS `lcm.xsd`, each CDA against the CDA R2
//! schema (`xmllint --schema`, reading from its standard input). The
//! schemas are the public specifications' own, never copied into Escale:
//! the sandbox validates when it is told where they are
//! ([`super::MssSandboxHandle::set_schemas`]; the tests point it at the
//! shared reference data), and checks the archive's structure only
//! otherwise.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::AsyncWriteExt;

/// Longer than any archive takes; a stuck xmllint is not waited for.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct XdmSchemas {
    pub xmllint: PathBuf,
    /// ebRS 3.0 `lcm.xsd` (an `lcm:SubmitObjectsRequest`).
    pub metadata: PathBuf,
    /// The CDA R2 schema with its French extensions.
    pub cda: PathBuf,
}

impl XdmSchemas {
    /// Under a copy of the public specifications' reference data (`spec/`):
    /// `None` when a schema is missing.
    pub fn under(spec: &Path, xmllint: PathBuf) -> Option<XdmSchemas> {
        let metadata = spec.join("dmp-mss/dmp/wsdl-schema/schema/ebRS/lcm.xsd");
        let cda = spec.join("dmp-mss/cda/xsd/CDA_extended.xsd");
        (metadata.exists() && cda.exists()).then_some(XdmSchemas {
            xmllint,
            metadata,
            cda,
        })
    }

    /// `xml` against `xsd`: what xmllint said first, when it is not valid.
    pub async fn validate(&self, xsd: &Path, xml: &[u8]) -> Result<(), String> {
        let mut child = tokio::process::Command::new(&self.xmllint)
            .arg("--noout")
            .arg("--nonet")
            .arg("--schema")
            .arg(xsd)
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("xmllint indisponible ({e})"))?;
        let stdin = child.stdin.take();
        // Written while its output is read (neither side waits on the other);
        // xmllint may stop reading early (a fatal error): what it says counts.
        let write = async move {
            if let Some(mut stdin) = stdin {
                let _ = stdin.write_all(xml).await;
            }
        };
        let run = async { tokio::join!(write, child.wait_with_output()).1 };
        let out = tokio::time::timeout(TIMEOUT, run)
            .await
            .map_err(|_| "xmllint ne répond pas".to_string())?
            .map_err(|e| format!("xmllint : {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        let said = String::from_utf8_lossy(&out.stderr);
        let first = said
            .lines()
            .find(|l| !l.trim().is_empty() && !l.ends_with("fails to validate"))
            .unwrap_or("invalide");
        // `-:12: element X: Schemas validity error : …` → from « element ».
        let first = first.split_once(": ").map_or(first, |(_, rest)| rest);
        Err(first.chars().take(300).collect())
    }
}
