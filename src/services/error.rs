//! What a use case answers when it does not do what was asked. `web/` turns
//! each kind into a French page; the messages are already French.

use crate::domain::identity::Refusal;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Also what another structure's file looks like.
    #[error("introuvable")]
    NotFound,
    /// The caller's roles do not allow it.
    #[error("accès refusé : {0}")]
    Forbidden(&'static str),
    /// The request itself is unusable (what to fix).
    #[error("requête invalide : {0}")]
    Invalid(String),
    /// A rule refuses the action (identity vigilance, anonymity…): what to do instead.
    #[error("action impossible : {0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A fault of Escale itself (a document that cannot be produced…).
    #[error("erreur interne : {0}")]
    Internal(String),
}

impl From<Refusal> for ServiceError {
    fn from(r: Refusal) -> Self {
        ServiceError::Refused(r.to_string())
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;
