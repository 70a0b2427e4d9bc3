//! File uploads: the only requests whose body may exceed `max_body_bytes`.
//! A `multipart/form-data` POST to a document route may carry a PDF of up
//! to `domain::document::MAX_PDF_BYTES`; every other request keeps the
//! form limit, so a large body sent anywhere else is still refused.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{HeaderMap, Method, header};

use crate::config::Config;
use crate::domain::document::MAX_PDF_BYTES;

/// The body of an upload: the PDF, the form's fields and the multipart
/// framing around them.
pub const UPLOAD_BODY_BYTES: usize = MAX_PDF_BYTES + 256 * 1024;

/// How many bytes of this request's body may be read.
pub fn body_limit(method: &Method, path: &str, headers: &HeaderMap, config: &Config) -> usize {
    if method == Method::POST && is_multipart(headers) && is_upload_path(path) {
        UPLOAD_BODY_BYTES.max(config.max_body_bytes)
    } else {
        config.max_body_bytes
    }
}

pub fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("multipart/form-data"))
}

/// `/usagers/{id}/documents`.
fn is_upload_path(path: &str) -> bool {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    matches!(parts.as_slice(), ["usagers", _, "documents"])
}

/// The text of the field `name` of a multipart body already read (the CSRF
/// token, before the request reaches its handler). `None` when the body is
/// not well-formed multipart or has no such field.
pub async fn text_field(content_type: &str, body: &Bytes, name: &str) -> Option<String> {
    let req = Request::builder()
        .method(Method::POST)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body.clone()))
        .ok()?;
    let mut parts = Multipart::from_request(req, &()).await.ok()?;
    while let Ok(Some(field)) = parts.next_field().await {
        if field.name() == Some(name) {
            return field.text().await.ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_document_routes_take_uploads() {
        assert!(is_upload_path("/usagers/abc/documents"));
        assert!(!is_upload_path("/usagers/abc/notes"));
        assert!(!is_upload_path("/usagers/abc/documents/def"));
        assert!(!is_upload_path("/usagers"));
    }

    #[tokio::test]
    async fn reads_a_text_field() {
        let body = Bytes::from_static(
            b"--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n\
              --XX\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\ntok\r\n--XX--\r\n",
        );
        let ct = "multipart/form-data; boundary=XX";
        assert_eq!(text_field(ct, &body, "_csrf").await.as_deref(), Some("tok"));
        assert_eq!(text_field(ct, &body, "b").await, None);
        assert_eq!(
            text_field(ct, &Bytes::from_static(b"junk"), "_csrf").await,
            None
        );
    }
}
