//! Errors of an Annuaire Santé call. Their Display is the French sentence shown
//! to the user: what happened and what to do. Server diagnostics are quoted
//! truncated, and never carry the API key.

use thiserror::Error;

const LOCAL_COPY: &str = "la copie locale de l'annuaire reste consultable si elle a été importée.";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AnnuaireError {
    /// No key configured: nothing was sent.
    #[error(
        "Aucune clé d'API Annuaire Santé n'est configurée : renseignez la clé ESANTE-API-KEY de \
         l'application (variable ESCALE_ANNUAIRE_API_KEY), obtenue sur https://portal.api.esante.gouv.fr \
         en abonnant l'application à « API Annuaire Santé en libre accès »."
    )]
    MissingApiKey,
    /// 401/403: key unknown, revoked or not subscribed.
    #[error(
        "L'Annuaire Santé refuse la clé d'API (HTTP {status}{}) : vérifiez la clé ESANTE-API-KEY \
         configurée (variable ESCALE_ANNUAIRE_API_KEY) et son abonnement à « API Annuaire Santé en \
         libre accès » sur https://portal.api.esante.gouv.fr.",
        quoted(diagnostics)
    )]
    ApiKey {
        status: u16,
        diagnostics: Option<String>,
    },
    /// The configured timeout elapsed.
    #[error(
        "L'Annuaire Santé ne répond pas (délai dépassé) : réessayez dans quelques minutes ; {LOCAL_COPY}"
    )]
    Timeout,
    /// Connection refused, reset or closed; name resolution failure.
    #[error(
        "L'Annuaire Santé est injoignable ({detail}) : vérifiez la connexion réseau du serveur et \
         l'adresse de l'API configurée, puis réessayez dans quelques minutes ; {LOCAL_COPY}"
    )]
    Unreachable { detail: String },
    /// 5xx (504 included) on every attempt.
    #[error(
        "L'Annuaire Santé est indisponible (HTTP {status} après {attempts} essai(s){}) : réessayez \
         dans quelques minutes ; {LOCAL_COPY}",
        quoted(diagnostics)
    )]
    Unavailable {
        status: u16,
        attempts: u32,
        diagnostics: Option<String>,
    },
    /// 429 on every attempt, or a `Retry-After` longer than the client may wait.
    #[error(
        "L'Annuaire Santé limite le nombre d'appels (17 par seconde pour l'application) et refuse \
         celui-ci pour l'instant : réessayez dans {} ; {LOCAL_COPY}",
        wait_text(*retry_after_secs)
    )]
    RateLimited { retry_after_secs: Option<u64> },
    /// Another 4xx (search parameter refused, expired page…).
    #[error(
        "L'Annuaire Santé a refusé la recherche (HTTP {status}{}) : relancez-la ; si l'erreur \
         persiste, signalez-la à l'administrateur d'Escale.",
        quoted(diagnostics)
    )]
    Rejected {
        status: u16,
        diagnostics: Option<String>,
    },
    /// The answer is not a FHIR Bundle / JSON.
    #[error(
        "La réponse de l'Annuaire Santé est illisible ({detail}) : réessayez plus tard ; si cela \
         persiste, signalez-le à l'administrateur d'Escale."
    )]
    Malformed { detail: String },
    /// Unusable client configuration (base URL, key characters…).
    #[error("Configuration du connecteur Annuaire Santé invalide : {detail}")]
    Config { detail: String },
}

impl AnnuaireError {
    /// Worth trying again later (the service, not the request, is at fault).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            AnnuaireError::Timeout
                | AnnuaireError::Unreachable { .. }
                | AnnuaireError::Unavailable { .. }
                | AnnuaireError::RateLimited { .. }
        )
    }
}

fn quoted(diagnostics: &Option<String>) -> String {
    match diagnostics {
        Some(d) if !d.is_empty() => format!(" : « {d} »"),
        _ => String::new(),
    }
}

fn wait_text(secs: Option<u64>) -> String {
    match secs {
        Some(s) if s > 60 => format!("{} minutes", s.div_ceil(60)),
        Some(s) if s > 1 => format!("{s} secondes"),
        Some(_) => "une seconde".to_owned(),
        None => "quelques secondes".to_owned(),
    }
}

/// Longest diagnostics quoted in a message, in characters.
pub const DIAGNOSTICS_MAX: usize = 200;

/// Cuts a server text to [`DIAGNOSTICS_MAX`] characters on one line, with
/// every occurrence of the API key masked.
pub fn sanitize_diagnostics(text: &str, api_key: &str) -> String {
    let masked = if api_key.is_empty() {
        text.to_owned()
    } else {
        text.replace(api_key, "***")
    };
    let one_line = masked.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= DIAGNOSTICS_MAX {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(DIAGNOSTICS_MAX).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_french_sentences_without_the_key() {
        let e = AnnuaireError::ApiKey {
            status: 401,
            diagnostics: Some(sanitize_diagnostics("bad key secret-123", "secret-123")),
        };
        let m = e.to_string();
        assert!(m.contains("ESANTE-API-KEY") && m.contains("ESCALE_ANNUAIRE_API_KEY"));
        assert!(!m.contains("secret-123") && m.contains("***"));
        assert!(
            AnnuaireError::Timeout
                .to_string()
                .starts_with("L'Annuaire Santé ne répond pas (délai dépassé)")
        );
        let long = "x".repeat(500);
        assert_eq!(
            sanitize_diagnostics(&long, "").chars().count(),
            DIAGNOSTICS_MAX + 1
        );
        assert!(
            AnnuaireError::RateLimited {
                retry_after_secs: Some(120)
            }
            .to_string()
            .contains("2 minutes")
        );
    }
}
