//! Reads the subject of the INSi client certificate and checks its CN: the mTLS
//! endpoint only accepts IGC-Santé software certificates whose CN is exactly
//! `INSI-MANU` or `INSI-AUTO` (padoa README "Notes", `ins-certificate-validator.class.ts`;
//! otherwise fault `DESIR_560`). `Emetteur` is the OU (padoa `emitter.helper.ts`).

use x509_parser::prelude::{FromDer, X509Certificate};

use super::ALLOWED_CNS;

/// What the connector needs from a certificate's subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSubject {
    pub common_name: Option<String>,
    pub organizational_unit: Option<String>,
    /// `notBefore <= now <= notAfter`.
    pub currently_valid: bool,
}

/// Subject of a DER certificate (as rustls hands peer certificates over).
pub fn subject_from_der(der: &[u8]) -> Result<CertificateSubject, String> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("certificat X.509 illisible : {e}"))?;
    Ok(CertificateSubject {
        common_name: cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_owned),
        organizational_unit: cert
            .subject()
            .iter_organizational_unit()
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_owned),
        currently_valid: cert.validity().is_valid(),
    })
}

/// Subject of the first certificate of a PEM text.
pub fn subject_from_pem(pem: &str) -> Result<CertificateSubject, String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| format!("fichier PEM illisible : {e}"))?;
    if pem.label != "CERTIFICATE" {
        return Err(format!(
            "le fichier PEM contient « {} » au lieu d'un certificat (CERTIFICATE)",
            pem.label
        ));
    }
    subject_from_der(&pem.contents)
}

/// True for `INSI-MANU` / `INSI-AUTO`, exactly (upper case, hyphen).
pub fn is_allowed_cn(cn: Option<&str>) -> bool {
    cn.is_some_and(|cn| ALLOWED_CNS.contains(&cn))
}
