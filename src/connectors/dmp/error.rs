//! What can go wrong with a DMP call, each in French, and whether trying
//! again later may do better (the outbox retries those, and gives up on the
//! others at once with the reason).

use thiserror::Error;

/// One `rs:RegistryError` of a refused submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryError {
    /// `errorCode` (IHE: `XDSRegistryMetadataError`…, DMP: `DMP…`).
    pub code: String,
    /// `codeContext`: the registry's own words.
    pub context: String,
    /// `…:Error` or `…:Warning`.
    pub severity: String,
}

impl RegistryError {
    /// What the code means for the person who sent the document.
    pub fn meaning(&self) -> &'static str {
        match self.code.as_str() {
            "XDSDuplicateUniqueIdInRegistry" => {
                "ce document (même identifiant) est déjà dans le DMP"
            }
            "XDSUnknownPatientId" | "XDSPatientIdDoesNotMatch" => {
                "le DMP ne connaît pas ce patient sous cet INS"
            }
            "XDSRegistryMetadataError" | "XDSRepositoryMetadataError" => {
                "les métadonnées du document sont refusées"
            }
            "XDSDocumentUniqueIdError" => "identifiant de document refusé",
            "XDSMissingDocument" | "XDSMissingDocumentMetadata" => {
                "le document ou ses métadonnées manquent dans l'envoi"
            }
            "XDSUnknownRepositoryId" | "XDSUnresolvedReferenceException" => {
                "le document visé est introuvable dans le DMP"
            }
            "DMPClosed" => "le DMP de ce patient est fermé",
            "DMPNotFound" => "ce patient n'a pas de DMP",
            "DMPAccessDenied" | "DMPOpposition" => {
                "la structure n'est pas autorisée à alimenter ce DMP"
            }
            _ => "refus du DMP",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DmpError {
    /// The structure's certificates or keys cannot be used.
    #[error("configuration du DMP : {0}")]
    Configuration(String),
    #[error("le DMP n'a pas répondu à temps")]
    Timeout,
    #[error("DMP injoignable : {0}")]
    Unreachable(String),
    #[error("connexion sécurisée au DMP impossible : {0}")]
    Tls(String),
    /// HTTP status without a SOAP fault.
    #[error("réponse HTTP {0} du DMP")]
    Http(u16),
    /// SOAP 1.2 fault: `Code/Value` (`Sender`/`Receiver`), first subcode, reason.
    #[error("erreur SOAP du DMP ({code}{}) : {reason}", subcode.as_deref().map(|s| format!(", {s}")).unwrap_or_default())]
    Fault {
        code: String,
        subcode: Option<String>,
        reason: String,
    },
    /// `RegistryResponse status=…Failure`.
    #[error("le DMP a refusé la demande : {}", describe(.0))]
    Registry(Vec<RegistryError>),
    /// The answer is not what the service's WSDL describes.
    #[error("réponse illisible du DMP : {0}")]
    Malformed(String),
}

fn describe(errors: &[RegistryError]) -> String {
    if errors.is_empty() {
        return "sans motif donné".into();
    }
    errors
        .iter()
        .map(|e| format!("{} ({} : {})", e.meaning(), e.code, e.context))
        .collect::<Vec<_>>()
        .join(" ; ")
}

impl DmpError {
    /// Worth another attempt later: the service or the network failed, not
    /// the request. A registry refusal or a `Sender` fault will be the same
    /// next time.
    pub fn is_transient(&self) -> bool {
        match self {
            DmpError::Timeout | DmpError::Unreachable(_) | DmpError::Tls(_) => true,
            DmpError::Http(status) => *status >= 500 || *status == 429 || *status == 408,
            DmpError::Fault { code, .. } => !code.ends_with("Sender"),
            DmpError::Malformed(_) => true,
            DmpError::Configuration(_) | DmpError::Registry(_) => false,
        }
    }

    /// What to do, for the people who see the deposit's state.
    pub fn advice(&self) -> &'static str {
        match self {
            DmpError::Configuration(_) => {
                "l'administrateur doit corriger les certificats DMP de la structure"
            }
            DmpError::Tls(_) => {
                "vérifiez le certificat AUTH de la structure et l'autorité de confiance du DMP"
            }
            DmpError::Registry(_) | DmpError::Fault { .. } => {
                "corrigez le document ou ses informations, puis envoyez-le de nouveau"
            }
            _ => "Escale réessaie tout seul ; rien n'est perdu",
        }
    }
}
