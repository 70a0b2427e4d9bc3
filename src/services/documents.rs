//! Documents of a file (issue 13): adding an uploaded PDF or a new version
//! of a document, and reading one. Each write commits with its journal
//! entry; each read is journaled before the bytes are given.

use chrono::Utc;
use uuid::Uuid;

use super::audit;
use super::error::{ServiceError, ServiceResult};
use crate::domain::audit::AuditAction;
use crate::domain::document::{DocumentForm, FieldErrors, check_pdf};
use crate::domain::tenant::Tenant;
use crate::store::{Document, NewDocument, Store, StoreError};

/// A file as received from the browser.
#[derive(Debug, Default)]
pub struct Upload {
    pub filename: String,
    pub bytes: Vec<u8>,
}

/// Adds a document, or with `replaces` a new version of one. `Ok(Err(..))`
/// when something typed or sent must be corrected (one message per field;
/// `file` for the PDF itself), nothing written.
pub async fn add(
    store: &dyn Store,
    t: &Tenant,
    usager_id: Uuid,
    form: &DocumentForm,
    upload: &Upload,
    replaces: Option<Uuid>,
) -> ServiceResult<Result<Document, FieldErrors>> {
    // A merged file takes no new document (it is read where it was merged).
    super::identity::live_usager(store, t, usager_id).await?;
    let checked = form.check(Utc::now().date_naive());
    let mut errors = checked.as_ref().err().cloned().unwrap_or_default();
    if let Err(e) = check_pdf(&upload.bytes) {
        errors.push(("file", e.to_string()));
    }
    if let Ok(f) = &checked
        && !t.may_write(f.confidentiality)
    {
        errors.push((
            "confidentiality",
            "vos rôles ne permettent pas de classer un document à ce niveau".into(),
        ));
    }
    let fields = match checked {
        Ok(f) if errors.is_empty() => f,
        _ => return Ok(Err(errors)),
    };
    let new = NewDocument {
        fields: &fields,
        media_type: "application/pdf",
        content: &upload.bytes,
    };
    let action = if replaces.is_some() {
        AuditAction::DocumentVersionAdded
    } else {
        AuditAction::DocumentAdded
    };
    let journal = |d: &Document| vec![audit::event(t, action, Some(usager_id), describe(d))];
    match store
        .add_document(t, usager_id, &new, replaces, &journal)
        .await
    {
        Ok(d) => Ok(Ok(d)),
        Err(StoreError::Conflict(why)) => Err(ServiceError::Refused(format!(
            "{why} : rouvrez le dossier pour partir de la dernière version"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// One version and its bytes, journaled (who read which document, when).
pub async fn open(
    store: &dyn Store,
    t: &Tenant,
    usager_id: Uuid,
    id: Uuid,
) -> ServiceResult<(Document, Vec<u8>)> {
    let (doc, bytes) = store
        .document_content(t, usager_id, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    audit::record(
        store,
        t,
        AuditAction::DocumentRead,
        Some(usager_id),
        describe(&doc),
    )
    .await?;
    Ok((doc, bytes))
}

/// What the journal says of a document: its type, title and version.
fn describe(d: &Document) -> String {
    format!("{} « {} », version {}", d.type_code, d.title, d.version)
}
