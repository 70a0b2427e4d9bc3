//! Documents of a file (issue 13): adding an uploaded PDF or a new version
//! of a document, writing one from a template, and reading one. Each write commits with its journal
//! entry; each read is journaled before the bytes are given.

use std::collections::HashMap;

use chrono::Utc;
use uuid::Uuid;

use super::audit;
use super::error::{ServiceError, ServiceResult};
use crate::documents::letter::{self, Letter};
use crate::domain::audit::AuditAction;
use crate::domain::document::{DocumentFields, DocumentForm, FieldErrors, check_pdf};
use crate::domain::template::template;
use crate::domain::tenant::Tenant;
use crate::domain::usager::Identity;
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
    let checked = checked_fields(t, form);
    let mut errors = checked.as_ref().err().cloned().unwrap_or_default();
    if let Err(e) = check_pdf(&upload.bytes) {
        errors.push(("file", e.to_string()));
    }
    let fields = match checked {
        Ok(f) if errors.is_empty() => f,
        _ => return Ok(Err(errors)),
    };
    save(store, t, usager_id, &fields, &upload.bytes, replaces, "")
        .await
        .map(Ok)
}

/// The professional's choices for a document written from a template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    pub template: String,
    /// Empty: the template's title.
    pub title: String,
    pub date: String,
    pub confidentiality: String,
    pub text: String,
}

/// The longest text a professional writes into a template.
pub const DRAFT_TEXT_MAX: usize = 20_000;

/// Writes a document from a template: the template filled with the file's
/// identity, the date, the author and the typed text, rendered to PDF/A with
/// the identity banner, then added as a document of the template's type.
/// `Ok(Err(..))` when something typed must be corrected (field names
/// `template`, `title`, `date`, `confidentiality`, `text`).
pub async fn write(
    store: &dyn Store,
    t: &Tenant,
    usager_id: Uuid,
    structure_name: &str,
    draft: &Draft,
) -> ServiceResult<Result<Document, FieldErrors>> {
    let u = super::identity::live_usager(store, t, usager_id).await?;
    let mut errors = FieldErrors::new();
    let chosen = template(&draft.template);
    if chosen.is_none() {
        errors.push(("template", "choisissez un modèle dans la liste".into()));
    }
    let typed = match crate::domain::text::multi_line(&draft.text, DRAFT_TEXT_MAX) {
        Ok(t) => Some(t),
        Err(e) => {
            errors.push(("text", format!("texte : {e}")));
            None
        }
    };
    let form = DocumentForm {
        type_code: chosen.map(|c| c.doc_type.code.clone()).unwrap_or_default(),
        title: match (draft.title.trim(), chosen) {
            ("", Some(c)) => c.title.clone(),
            (title, _) => title.to_string(),
        },
        date: draft.date.clone(),
        confidentiality: draft.confidentiality.clone(),
    };
    let checked = checked_fields(t, &form);
    if let Err(e) = &checked {
        // The type comes from the template: its error is the template's.
        errors.extend(e.iter().filter(|(f, _)| *f != "type_code").cloned());
    }
    let (Some(chosen), Some(typed), Ok(fields)) = (chosen, typed, checked) else {
        return Ok(Err(errors));
    };
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let identity = &u.data.identity;
    let values = HashMap::from([
        ("structure", structure_name.to_string()),
        ("date", fields.date.format("%d/%m/%Y").to_string()),
        ("usager", identity.display_name()),
        (
            "date_naissance",
            match identity {
                Identity::Traits { birth_date, .. } => birth_date.format("%d/%m/%Y").to_string(),
                Identity::Anonymous { .. } => "—".into(),
            },
        ),
        ("texte", typed),
        ("auteur", t.actor_label.clone()),
    ]);
    let pdf = letter::render(&Letter {
        title: fields.title.clone(),
        banner: letter::banner(identity, &u.vigilance, structure_name),
        text: chosen.fill(&values),
        made_by: t.actor_label.clone(),
        made_at: Utc::now(),
    })
    .map_err(|e| ServiceError::Internal(format!("rendu PDF du document : {e}")))?;
    let how = format!(" (rédigé depuis le modèle « {} »)", chosen.title);
    save(store, t, usager_id, &fields, &pdf, None, &how)
        .await
        .map(Ok)
}

/// The form's fields checked, in a class the tenant may write.
fn checked_fields(t: &Tenant, form: &DocumentForm) -> Result<DocumentFields, FieldErrors> {
    let fields = form.check(Utc::now().date_naive())?;
    if !t.may_write(fields.confidentiality) {
        return Err(vec![(
            "confidentiality",
            "vos rôles ne permettent pas de classer un document à ce niveau".into(),
        )]);
    }
    Ok(fields)
}

/// Writes a checked document and its journal entry.
async fn save(
    store: &dyn Store,
    t: &Tenant,
    usager_id: Uuid,
    fields: &DocumentFields,
    bytes: &[u8],
    replaces: Option<Uuid>,
    how: &str,
) -> ServiceResult<Document> {
    let new = NewDocument {
        fields,
        media_type: "application/pdf",
        content: bytes,
    };
    let action = if replaces.is_some() {
        AuditAction::DocumentVersionAdded
    } else {
        AuditAction::DocumentAdded
    };
    let journal = |d: &Document| {
        vec![audit::event(
            t,
            action,
            Some(usager_id),
            format!("{}{how}", describe(d)),
        )]
    };
    match store
        .add_document(t, usager_id, &new, replaces, &journal)
        .await
    {
        Ok(d) => Ok(d),
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
