//! Form extractors whose rejections are French pages.

use axum::extract::rejection::{BytesRejection, FailedToBufferBody, FormRejection};
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::AppError;

/// `axum::Form` with French errors.
pub struct FormData<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for FormData<T> {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(FormData(v)),
            Err(FormRejection::BytesRejection(e)) => Err(body_failed(e)),
            Err(e) => Err(AppError::BadRequest(format!(
                "le formulaire envoyé est incomplet ou mal formé ; rechargez la page et recommencez ({})",
                e.body_text().chars().take(120).collect::<String>()
            ))),
        }
    }
}

/// A body too large, or one that stopped arriving (too slow, cut).
fn body_failed(e: BytesRejection) -> AppError {
    match e {
        BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
            AppError::PayloadTooLarge
        }
        _ => AppError::BadRequest(
            "l'envoi du formulaire a été interrompu ou était trop lent ; vérifiez votre connexion puis envoyez-le à nouveau".into(),
        ),
    }
}

/// A form as its list of (name, value) pairs, for repeated fields (checkboxes).
pub struct RawForm(pub Vec<(String, String)>);

impl RawForm {
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

impl<S: Send + Sync> FromRequest<S> for RawForm {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(body_failed)?;
        Ok(RawForm(
            form_urlencoded::parse(&bytes).into_owned().collect(),
        ))
    }
}
