//! Test PKI for the INSi sandbox (never for production): a CA named like the
//! IGC-Santé test CA (research ins.md §1.4: issuer `TEST AC IGC-SANTE
//! ELEMENTAIRE ORGANISATIONS`), a server certificate and client certificates
//! whose CN is `INSI-MANU` / `INSI-AUTO` (or anything else, for wrong-CN
//! tests) and whose OU is the structure's emitter id (padoa `emitter.helper.ts`).
//! Everything as PEM strings; files so the running app reuses the same PKI
//! across restarts.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use thiserror::Error;

/// CN of the test CA (mimics the IGC-Santé test CA; O says it is Escale's).
pub const CA_COMMON_NAME: &str = "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS";
const CA_ORGANIZATION: &str = "ESCALE PKI DE TEST (BAC A SABLE, SANS VALEUR)";

#[derive(Debug, Error)]
pub enum PkiError {
    #[error("génération du certificat de test impossible : {0}")]
    Generate(#[from] rcgen::Error),
    #[error("génération de la clé RSA de test impossible : {0}")]
    Rsa(String),
    #[error(
        "fichier de la PKI de test {path} inaccessible ({source}) : vérifiez le dossier et ses droits"
    )]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A certificate and its private key (PKCS#8), PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct CertifiedPem {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for CertifiedPem {
    // Never print a private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertifiedPem")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<secret>")
            .finish()
    }
}

/// Paths of a certificate/key pair written to disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub struct TestPki {
    ca_cert_pem: String,
    ca_key: KeyPair,
    server: CertifiedPem,
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPki").finish_non_exhaustive()
    }
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "FR");
    dn.push(DnType::OrganizationName, CA_ORGANIZATION);
    dn.push(DnType::CommonName, CA_COMMON_NAME);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// `C=FR, O=<test structure>, OU=<ou>, CN=<cn>`: a structure's certificate.
fn structure_dn(cn: &str, ou: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "FR");
    dn.push(DnType::OrganizationName, "STRUCTURE DE TEST ESCALE");
    dn.push(DnType::OrganizationalUnitName, ou);
    dn.push(DnType::CommonName, cn);
    dn
}

/// Default names of the sandbox server certificate.
pub const SERVER_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

impl TestPki {
    /// A new CA and a server certificate for `localhost` / `127.0.0.1`.
    pub fn generate() -> Result<Self, PkiError> {
        let ca_key = KeyPair::generate()?;
        let ca_cert_pem = ca_params().self_signed(&ca_key)?.pem();
        let mut pki = TestPki {
            ca_cert_pem,
            ca_key,
            server: CertifiedPem {
                cert_pem: String::new(),
                key_pem: String::new(),
            },
        };
        pki.server = pki.server_cert(&SERVER_NAMES)?;
        Ok(pki)
    }

    /// The CA certificate (the server trust bundle of the client, and the
    /// client-certificate trust anchor of the sandbox).
    pub fn ca_pem(&self) -> &str {
        &self.ca_cert_pem
    }

    /// The default server certificate (`localhost`, `127.0.0.1`).
    pub fn server(&self) -> &CertifiedPem {
        &self.server
    }

    fn issuer(&self) -> Issuer<'static, &KeyPair> {
        Issuer::new(ca_params(), &self.ca_key)
    }

    /// A server certificate for these DNS names / IP addresses.
    pub fn server_cert(&self, names: &[&str]) -> Result<CertifiedPem, PkiError> {
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("localhost"),
        );
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        self.sign(params)
    }

    /// A client certificate `CN=<cn>, OU=<ou>` (e.g. `INSI-MANU`, FINESS).
    pub fn client_cert(&self, cn: &str, ou: &str) -> Result<CertifiedPem, PkiError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = structure_dn(cn, ou);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        self.sign(params)
    }

    /// A TLS client certificate with an RSA key (an IGC-Santé AUTH
    /// certificate): what must never sign a VIHF.
    pub fn rsa_client_cert(&self, cn: &str, ou: &str) -> Result<CertifiedPem, PkiError> {
        self.rsa_cert(cn, ou, |params| {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ];
        })
    }

    /// A signing certificate `CN=<cn>, OU=<ou>` with an RSA key, as a
    /// structure's IGC-Santé SIGN certificate: XML signatures (VIHF, XAdES,
    /// RSA-SHA256), never TLS. Making the RSA key takes a moment.
    pub fn signing_cert(&self, cn: &str, ou: &str) -> Result<CertifiedPem, PkiError> {
        self.rsa_cert(cn, ou, |params| {
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::ContentCommitment,
            ];
        })
    }

    fn rsa_cert(
        &self,
        cn: &str,
        ou: &str,
        profile: impl FnOnce(&mut CertificateParams),
    ) -> Result<CertifiedPem, PkiError> {
        use rsa::pkcs8::EncodePrivateKey;
        let rsa = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
            .map_err(|e| PkiError::Rsa(e.to_string()))?;
        let pem = rsa
            .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
            .map_err(|e| PkiError::Rsa(e.to_string()))?;
        let key = KeyPair::from_pem(&pem)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = structure_dn(cn, ou);
        profile(&mut params);
        let cert = params.signed_by(&key, &self.issuer())?;
        Ok(CertifiedPem {
            cert_pem: cert.pem(),
            key_pem: pem.to_string(),
        })
    }

    fn sign(&self, params: CertificateParams) -> Result<CertifiedPem, PkiError> {
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer())?;
        Ok(CertifiedPem {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Writes `ca.pem`, `ca.key`, `insi-server.pem`, `insi-server.key`
    /// (keys readable by the owner only).
    pub fn write_to(&self, dir: &Path) -> Result<(), PkiError> {
        crate::config::data_dir::create(dir).map_err(|source| PkiError::Io {
            path: dir.to_owned(),
            source,
        })?;
        write(&dir.join("ca.pem"), &self.ca_cert_pem, false)?;
        write(&dir.join("ca.key"), &self.ca_key.serialize_pem(), true)?;
        write(&dir.join("insi-server.pem"), &self.server.cert_pem, false)?;
        write(&dir.join("insi-server.key"), &self.server.key_pem, true)?;
        Ok(())
    }

    /// Reads the PKI written by [`TestPki::write_to`], or creates and writes one.
    pub fn load_or_create(dir: &Path) -> Result<Self, PkiError> {
        let files = ["ca.pem", "ca.key", "insi-server.pem", "insi-server.key"].map(|f| dir.join(f));
        if files.iter().all(|f| f.exists()) {
            let [ca, ca_key, server, server_key] = files.map(|f| read(&f));
            let ca_key_pem = ca_key?;
            let ca_key = KeyPair::from_pem(&ca_key_pem)?;
            return Ok(TestPki {
                ca_cert_pem: ca?,
                ca_key,
                server: CertifiedPem {
                    cert_pem: server?,
                    key_pem: server_key?,
                },
            });
        }
        let pki = TestPki::generate()?;
        pki.write_to(dir)?;
        Ok(pki)
    }

    /// Reads or creates `<cn lowercase>-<ou>.pem` / `.key` in `dir` (e.g.
    /// `insi-manu-123456789.pem`), issued by this CA.
    pub fn client_files(&self, dir: &Path, cn: &str, ou: &str) -> Result<PemFiles, PkiError> {
        let stem = format!("{}-{}", file_part(cn), file_part(ou));
        let files = PemFiles {
            cert: dir.join(format!("{stem}.pem")),
            key: dir.join(format!("{stem}.key")),
        };
        if !(files.cert.exists() && files.key.exists()) {
            crate::config::data_dir::create(dir).map_err(|source| PkiError::Io {
                path: dir.to_owned(),
                source,
            })?;
            let c = self.client_cert(cn, ou)?;
            write(&files.cert, &c.cert_pem, false)?;
            write(&files.key, &c.key_pem, true)?;
        }
        Ok(files)
    }
}

fn file_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

fn read(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(|source| PkiError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Writes a certificate and its key (0600) where a connector reads them,
/// creating their directory.
pub fn write_pair(cert: &Path, key: &Path, pair: &CertifiedPem) -> Result<(), PkiError> {
    if let Some(dir) = cert.parent() {
        crate::config::data_dir::create(dir).map_err(|source| PkiError::Io {
            path: dir.to_owned(),
            source,
        })?;
    }
    write(cert, &pair.cert_pem, false)?;
    write(key, &pair.key_pem, true)
}

fn write(path: &Path, content: &str, secret: bool) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        path: path.to_owned(),
        source,
    };
    // A key is 0600 from its creation, never readable in between.
    if secret {
        crate::config::data_dir::write_private(path, content.as_bytes()).map_err(io)
    } else {
        std::fs::write(path, content).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::certificate::subject_from_pem;

    #[test]
    fn client_subject_and_reload() {
        let pki = TestPki::generate().unwrap();
        let c = pki.client_cert("INSI-MANU", "123456789").unwrap();
        let s = subject_from_pem(&c.cert_pem).unwrap();
        assert_eq!(s.common_name.as_deref(), Some("INSI-MANU"));
        assert_eq!(s.organizational_unit.as_deref(), Some("123456789"));
        assert!(s.currently_valid);
        assert!(!format!("{c:?}").contains("PRIVATE KEY"));

        let dir = std::env::temp_dir().join(format!("escale-pki-{}", uuid::Uuid::new_v4()));
        let first = TestPki::load_or_create(&dir).unwrap();
        let again = TestPki::load_or_create(&dir).unwrap();
        assert_eq!(first.ca_pem(), again.ca_pem());
        assert_eq!(first.server(), again.server());
        let f = again.client_files(&dir, "INSI-MANU", "123456789").unwrap();
        assert!(f.cert.ends_with("insi-manu-123456789.pem"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
