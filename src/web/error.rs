//! One error type for handlers, turned into French pages. 5xx causes are
//! logged here and never shown.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::views;
use crate::services::error::ServiceError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Also what another structure's file looks like: no trace that it exists.
    #[error("introuvable")]
    NotFound,
    #[error("accès refusé : {0}")]
    Forbidden(&'static str),
    #[error("connexion requise")]
    LoginRequired { expired: bool, htmx: bool },
    #[error("jeton CSRF absent ou invalide")]
    Csrf,
    #[error("requête trop volumineuse")]
    PayloadTooLarge,
    #[error("délai de réponse dépassé")]
    TimedOut,
    #[error("requête invalide : {0}")]
    BadRequest(String),
    /// A rule refuses the action (identity vigilance, anonymity…): what to do instead.
    #[error("action impossible : {0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<ServiceError> for AppError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound => AppError::NotFound,
            ServiceError::Forbidden(why) => AppError::Forbidden(why),
            ServiceError::Invalid(m) => AppError::BadRequest(m),
            ServiceError::Refused(m) => AppError::Refused(m),
            ServiceError::Store(e) => AppError::Store(e),
            ServiceError::Internal(m) => AppError::Internal(anyhow::anyhow!(m)),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, title, message): (StatusCode, &str, String) = match self {
            AppError::NotFound | AppError::Store(StoreError::NotFound) => (
                StatusCode::NOT_FOUND,
                "Page introuvable",
                "Cette page ou ce dossier n'existe pas, ou n'est pas accessible depuis votre structure.".into(),
            ),
            AppError::Forbidden(why) => (StatusCode::FORBIDDEN, "Accès refusé", why.to_string()),
            AppError::Store(StoreError::Forbidden) => (
                StatusCode::FORBIDDEN,
                "Accès refusé",
                "Vos rôles dans cette structure ne permettent pas cette action.".into(),
            ),
            AppError::LoginRequired { expired, htmx } => {
                let target = if expired { "/connexion?expiree=1" } else { "/connexion" };
                if htmx {
                    // htmx follows this header with a full page load.
                    let mut r = StatusCode::UNAUTHORIZED.into_response();
                    r.headers_mut().insert("HX-Redirect", HeaderValue::from_static(target));
                    return r;
                }
                return Redirect::to(target).into_response();
            }
            AppError::Csrf => (
                StatusCode::FORBIDDEN,
                "Formulaire expiré",
                "Ce formulaire n'a pas pu être vérifié (page trop ancienne ou envoyée depuis un autre site). Revenez en arrière, rechargez la page puis envoyez-le à nouveau.".into(),
            ),
            AppError::TimedOut => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Délai dépassé",
                "Le serveur n'a pas pu répondre à temps (envoi trop lent ou service chargé). Revenez en arrière : vérifiez sur la page si l'action a été enregistrée avant de la refaire.".into(),
            ),
            AppError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Envoi trop volumineux",
                format!(
                    "Les données envoyées dépassent la taille autorisée (un document : {} Mo au plus). Raccourcissez le texte saisi ou choisissez un fichier plus petit, puis réessayez.",
                    crate::domain::document::MAX_PDF_BYTES / (1024 * 1024)
                ),
            ),
            AppError::BadRequest(m) => (StatusCode::BAD_REQUEST, "Requête invalide", m),
            AppError::Refused(m) => (StatusCode::CONFLICT, "Action impossible", m),
            AppError::Store(StoreError::Conflict(m)) => (StatusCode::CONFLICT, "Déjà enregistré", m),
            AppError::Store(StoreError::Stale(id)) => {
                let mut r = (StatusCode::CONFLICT, views::layout::stale_page(id)).into_response();
                r.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                return r;
            }
            AppError::Store(e) => return internal(&e),
            AppError::Internal(e) => return internal(e.as_ref()),
        };
        let mut r = (status, views::layout::error_page(status, title, &message)).into_response();
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

fn internal(e: &dyn std::error::Error) -> Response {
    let reference = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    tracing::error!(reference = %reference, error = %e, "erreur interne");
    let message = format!(
        "Une erreur inattendue s'est produite ; rien de ce qui était déjà enregistré n'est perdu. Réessayez dans un instant. Si le problème persiste, signalez la référence {reference}."
    );
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        views::layout::error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Erreur interne",
            &message,
        ),
    )
        .into_response()
}
