//! Documents of a file: uploading a PDF (a new document, or a new version
//! of one chosen in the same form), reading one.

use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use uuid::Uuid;

use super::dossier::render;
use super::parse_id;
use crate::domain::dmp::{ConsentEvent, DmpOperation, DmpVisibility};
use crate::domain::document::DocumentForm;
use crate::services::dmp;
use crate::services::documents::{self, Draft, Upload};
use crate::web::extract::RawForm;
use crate::web::session::Ctx;
use crate::web::views;
use crate::web::views::dossier::{Forms, SectionForm};
use crate::web::{AppError, AppState};

pub async fn add(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    multipart: Multipart,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    let (form, upload, replaces) = read(multipart).await?;
    save(&st, &ctx, id, form, upload, replaces).await
}

/// The PDF itself, shown by the browser (journaled by the service).
pub async fn show(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, doc)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let (id, doc) = (parse_id(&id)?, parse_id(&doc)?);
    let (document, bytes) = documents::open(st.store.as_ref(), &ctx.tenant, id, doc).await?;
    // The file name is Escale's (the title may hold anything); the bytes
    // are served as what they were checked to be, never sniffed.
    let name = format!("document-{}-v{}.pdf", document.set_id, document.version);
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        bytes,
    )
        .into_response())
}

async fn save(
    st: &AppState,
    ctx: &Ctx,
    id: Uuid,
    form: DocumentForm,
    upload: Upload,
    replaces: Option<Uuid>,
) -> Result<Response, AppError> {
    match documents::add(st.store.as_ref(), &ctx.tenant, id, &form, &upload, replaces).await? {
        Ok(_) => Ok(Redirect::to(&format!("/usagers/{id}#documents")).into_response()),
        Err(errors) => {
            // What was typed comes back; a file cannot be put back in a
            // file field by the server: the form says to choose it again.
            let mut kept = SectionForm::default();
            for (k, v) in [
                ("doc_type", &form.type_code),
                ("doc_title", &form.title),
                ("doc_date", &form.date),
                ("doc_class", &form.confidentiality),
            ] {
                kept.values.insert(k.into(), v.clone());
            }
            if let Some(doc) = replaces {
                kept.values.insert("doc_replaces".into(), doc.to_string());
            }
            for (field, message) in &errors {
                kept.errors.insert(form_field(field), message.clone());
            }
            if !upload.filename.is_empty() && !kept.errors.contains_key("doc_file") {
                kept.errors.insert(
                    "doc_file",
                    format!(
                        "choisissez à nouveau le fichier « {} » avant d'enregistrer",
                        upload.filename
                    ),
                );
            }
            render(
                st,
                ctx,
                id,
                Forms {
                    document: kept,
                    ..Default::default()
                },
                StatusCode::UNPROCESSABLE_ENTITY,
                "après un document à corriger",
            )
            .await
        }
    }
}

/// The form's fields, its file and the version it replaces (if any), from
/// the multipart body (whose size the upload limit already bounds).
async fn read(mut multipart: Multipart) -> Result<(DocumentForm, Upload, Option<Uuid>), AppError> {
    let unreadable = |_| AppError::BadRequest("formulaire d'envoi illisible : réessayez".into());
    let mut form = DocumentForm::default();
    let mut upload = Upload::default();
    let mut replaces = None;
    while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "doc_file" => {
                upload.filename = field.file_name().unwrap_or("").to_string();
                upload.bytes = field.bytes().await.map_err(unreadable)?.to_vec();
            }
            "doc_replaces" => {
                let value = field.text().await.map_err(unreadable)?;
                if !value.trim().is_empty() {
                    replaces = Some(parse_id(value.trim())?);
                }
            }
            "doc_type" | "doc_title" | "doc_date" | "doc_class" => {
                let value = field.text().await.map_err(unreadable)?;
                match name.as_str() {
                    "doc_type" => form.type_code = value,
                    "doc_title" => form.title = value,
                    "doc_date" => form.date = value,
                    _ => form.confidentiality = value,
                }
            }
            _ => {}
        }
    }
    Ok((form, upload, replaces))
}

/// The form's field for a field the domain names (the file page holds
/// other forms: each field of this one is prefixed, so that ids are unique).
fn form_field(domain: &str) -> &'static str {
    match domain {
        "type_code" => "doc_type",
        "title" => "doc_title",
        "date" => "doc_date",
        "confidentiality" => "doc_class",
        _ => "doc_file",
    }
}

/// « La personne a été informée », « … s'oppose », « … lève son opposition »
/// (to the feeding of her DMP, or to messages in her Mon espace santé).
pub async fn dmp_consent(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    form: RawForm,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    let event = ConsentEvent::from_code(form.get("event"))
        .ok_or_else(|| AppError::BadRequest("choix inconnu : rouvrez le dossier".into()))?;
    dmp::record_consent(st.store.as_ref(), &ctx.tenant, id, event).await?;
    let section = match event {
        ConsentEvent::MssOpposition | ConsentEvent::MssOppositionLifted => "messagerie",
        _ => "dmp",
    };
    Ok(Redirect::to(&format!("/usagers/{id}#{section}")).into_response())
}

/// « Rédiger depuis un modèle »: the PDF/A is made and kept as a document.
pub async fn write(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    form: RawForm,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    let draft = Draft {
        template: form.get("tpl_template").to_string(),
        title: form.get("tpl_title").to_string(),
        date: form.get("tpl_date").to_string(),
        confidentiality: form.get("tpl_class").to_string(),
        text: form.get("tpl_text").to_string(),
    };
    let written = documents::write(
        st.store.as_ref(),
        &ctx.tenant,
        id,
        &ctx.session.structure_name,
        &draft,
    )
    .await?;
    match written {
        Ok(_) => Ok(Redirect::to(&format!("/usagers/{id}#documents")).into_response()),
        Err(errors) => {
            let mut kept = SectionForm::default();
            for (k, v) in form.0.iter().filter(|(k, _)| k.starts_with("tpl_")) {
                kept.values.insert(k.clone(), v.clone());
            }
            for (field, message) in errors {
                let name = match field {
                    "template" => "tpl_template",
                    "title" => "tpl_title",
                    "date" => "tpl_date",
                    "confidentiality" => "tpl_class",
                    _ => "tpl_text",
                };
                kept.errors.insert(name, message);
            }
            render(
                &st,
                &ctx,
                id,
                Forms {
                    draft: kept,
                    ..Default::default()
                },
                StatusCode::UNPROCESSABLE_ENTITY,
                "après un document à corriger",
            )
            .await
        }
    }
}

/// « Envoyer au DMP » from the file's DMP section.
pub async fn dmp_send(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    form: RawForm,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    let doc = parse_id(form.get("dmp_document"))
        .map_err(|_| AppError::BadRequest("choisissez le document à envoyer".into()))?;
    dmp_request(
        &st,
        &ctx,
        id,
        doc,
        DmpOperation::Depot,
        form.get("visibility"),
    )
    .await
}

/// A request about one document: `operation` `depot` or `suppression`.
pub async fn dmp_document(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, doc)): Path<(String, String)>,
    form: RawForm,
) -> Result<Response, AppError> {
    let (id, doc) = (parse_id(&id)?, parse_id(&doc)?);
    let operation = DmpOperation::from_code(form.get("operation"))
        .ok_or_else(|| AppError::BadRequest("demande inconnue : rouvrez le dossier".into()))?;
    dmp_request(&st, &ctx, id, doc, operation, form.get("visibility")).await
}

async fn dmp_request(
    st: &AppState,
    ctx: &Ctx,
    id: Uuid,
    doc: Uuid,
    operation: DmpOperation,
    visibility: &str,
) -> Result<Response, AppError> {
    let visibility = DmpVisibility::from_code(visibility)
        .ok_or_else(|| AppError::BadRequest("visibilité inconnue : rouvrez le dossier".into()))?;
    dmp::request(
        st.store.as_ref(),
        &ctx.tenant,
        id,
        doc,
        operation,
        visibility,
    )
    .await?;
    st.jobs.wake();
    Ok(Redirect::to(&format!("/usagers/{id}#dmp")).into_response())
}

pub async fn dmp_retry(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, deposit)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let (id, deposit) = (parse_id(&id)?, parse_id(&deposit)?);
    dmp::retry(st.store.as_ref(), &ctx.tenant, id, deposit).await?;
    st.jobs.wake();
    Ok(Redirect::to(&format!("/usagers/{id}#dmp")).into_response())
}

pub async fn dmp_cancel(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, deposit)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let (id, deposit) = (parse_id(&id)?, parse_id(&deposit)?);
    dmp::cancel(st.store.as_ref(), &ctx.tenant, id, deposit).await?;
    Ok(Redirect::to(&format!("/usagers/{id}#dmp")).into_response())
}

/// The structure's refused and given-up requests.
pub async fn dmp_failures(State(st): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    let failures = dmp::failures(st.store.as_ref(), &ctx.tenant).await?;
    Ok(views::layout::page(
        &ctx,
        st.config.is_sandbox(),
        "Envois au DMP en échec",
        views::dmp::failures(&failures),
    )
    .into_response())
}
