//! Errors of an INSi call, each with a French message saying what to fix.
//! Fault codes: `shared/spec/ins/insi/insi_codes.csv` (padoa README + fixtures).

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InsiError {
    /// No answer within the configured total timeout.
    #[error("délai dépassé")]
    Timeout,
    /// Connection refused / reset / name resolution failure.
    #[error("téléservice injoignable : {0}")]
    Unreachable(String),
    /// TLS handshake failure (server not trusted, client certificate refused…).
    #[error("erreur TLS : {0}")]
    Tls(String),
    /// SOAP 1.2 fault (HTTP 500) — `Subcode/Value`, `siram:Erreur@code`,
    /// `Reason/Text`, `siram:Erreur@severite` (WSDL fault `siram:Erreur`).
    #[error("erreur SOAP {code:?} ({subcode:?}) : {reason}")]
    Fault {
        subcode: Option<String>,
        code: Option<String>,
        reason: String,
        severity: Option<String>,
    },
    /// HTTP status other than 200 without a SOAP fault.
    #[error("réponse HTTP inattendue : {0}")]
    Http(u16),
    /// The answer is not the XML the WSDL describes.
    #[error("réponse illisible : {0}")]
    Malformed(String),
    /// Local configuration of the client certificate / key / CA is unusable.
    #[error("certificat : {0}")]
    Certificate(String),
}

impl InsiError {
    /// Message for the operator or the administrator: what happened and what to do.
    pub fn french_message(&self) -> String {
        match self {
            InsiError::Timeout => {
                "Le téléservice INSi n'a pas répondu à temps ; réessayez plus tard — \
                 l'identité reste provisoire, rien n'est perdu."
                    .to_owned()
            }
            InsiError::Unreachable(detail) => format!(
                "Le téléservice INSi est injoignable ({detail}) ; vérifiez l'adresse du téléservice \
                 dans la configuration et la connexion réseau, puis réessayez — l'identité reste \
                 provisoire, rien n'est perdu."
            ),
            InsiError::Tls(detail) => format!(
                "La connexion sécurisée au téléservice INSi a échoué ({detail}) ; vérifiez le \
                 certificat logiciel INSI-MANU/INSI-AUTO (valide, émis par l'IGC-Santé, clé \
                 correspondante) et le fichier des autorités de confiance du serveur."
            ),
            InsiError::Fault {
                subcode,
                code,
                reason,
                ..
            } => fault_message(subcode.as_deref(), code.as_deref(), reason),
            InsiError::Http(status) => format!(
                "Le téléservice INSi a répondu par une erreur HTTP {status} sans explication ; \
                 réessayez plus tard, et si cela persiste, vérifiez l'adresse du téléservice \
                 dans la configuration."
            ),
            InsiError::Malformed(detail) => format!(
                "La réponse du téléservice INSi est illisible ({detail}) ; l'échange est conservé \
                 dans la trace : transmettez-la au support. L'identité reste provisoire."
            ),
            InsiError::Certificate(detail) => {
                format!("Certificat du connecteur INSi inutilisable : {detail}")
            }
        }
    }
}

fn fault_message(subcode: Option<&str>, code: Option<&str>, reason: &str) -> String {
    let code_lc = code.map(str::to_ascii_lowercase);
    match code_lc.as_deref() {
        // desir_550: "Numéro d'autorisation du logiciel inconnu." (insi_codes.csv,
        // example fault_siram_100_desir_550_idam_inconnu.xml).
        Some("desir_550") => "Numéro d'autorisation du logiciel (IDAM) inconnu du téléservice : \
             vérifiez la clé de configuration de l'IDAM (numéro d'autorisation CNDA du logiciel, \
             `insi.idam`) ; aucun appel INSi ne peut aboutir tant qu'elle est fausse."
            .to_owned(),
        // DESIR_560: insufficient rights — certificate CN not INSI-MANU/INSI-AUTO
        // (padoa README "Notes").
        Some("desir_560") => "Droits insuffisants pour le téléservice INSi : le certificat \
             logiciel doit avoir pour CN exactement INSI-MANU ou INSI-AUTO ; vérifiez le \
             certificat configuré pour le connecteur INSi."
            .to_owned(),
        _ => {
            let what = match (subcode, code) {
                (_, Some(c)) => format!(" (code {c})"),
                (Some(s), None) => format!(" (code {s})"),
                (None, None) => String::new(),
            };
            format!(
                "Le téléservice INSi a refusé la demande{what} : « {reason} ». Si le message \
                 concerne les traits envoyés, corrigez-les ; sinon réessayez plus tard — \
                 l'identité reste provisoire."
            )
        }
    }
}
