//! Documents of a file (issue 13), a store contract on both databases and
//! the file page through HTTP: classes read in the query, versions kept,
//! concurrent replacements refused, other structures blind, documents moved
//! by a merge and back by an unmerge, every write and read journaled; the
//! upload checked (PDF, size, CSRF in a multipart body) and nothing typed lost.

use chrono::NaiveDate;
use reqwest::StatusCode;
use sqlx::Connection;
use uuid::Uuid;

use escale::domain::care::Confidentiality;
use escale::domain::document::{DocumentFields, document_type, sha256_hex};
use escale::domain::tenant::Tenant;
use escale::domain::usager::{Contact, Identity, Sex, UsagerData};
use escale::services::identity_quality;
use escale::store::{AuditFilter, DynStore, NewDocument, StoreError};

use crate::common::app::{location, login, spawn_app};
use crate::common::db::{TestDb, anonymous, qualify, seed_two_structures};

fn person(name: &str, first: &str) -> UsagerData {
    UsagerData {
        identity: Identity::Traits {
            birth_name: name.into(),
            first_names: first.into(),
            used_name: None,
            used_first_name: None,
            birth_date: NaiveDate::from_ymd_opt(1980, 4, 2).unwrap(),
            sex: Sex::F,
            birth_place_code: None,
        },
        contact: Contact::default(),
    }
}

/// A small well-formed PDF (one empty page), different for each `text`.
pub fn pdf(text: &str) -> Vec<u8> {
    let mut out = String::from("%PDF-1.7\n");
    let mut offsets = Vec::new();
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Title ({text}) >>"),
    ];
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.push_str(&format!("{} 0 obj\n{o}\nendobj\n", i + 1));
    }
    let xref = out.len();
    out.push_str("xref\n0 4\n0000000000 65535 f \n");
    for o in offsets {
        out.push_str(&format!("{o:010} 00000 n \n"));
    }
    out.push_str(&format!(
        "trailer\n<< /Size 4 /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    ));
    out.into_bytes()
}

fn fields(code: &str, title: &str, class: Confidentiality) -> DocumentFields {
    DocumentFields {
        type_code: document_type(code).expect("a type Escale offers"),
        title: title.into(),
        date: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
        confidentiality: class,
    }
}

async fn add(
    store: &DynStore,
    t: &Tenant,
    file: Uuid,
    f: &DocumentFields,
    bytes: &[u8],
    replaces: Option<Uuid>,
) -> Result<escale::store::Document, StoreError> {
    let new = NewDocument {
        fields: f,
        media_type: "application/pdf",
        content: bytes,
    };
    store
        .add_document(t, file, &new, replaces, &|d| {
            vec![escale::services::audit::event(
                t,
                escale::domain::audit::AuditAction::DocumentAdded,
                Some(file),
                d.title.clone(),
            )]
        })
        .await
}

both_backends!(documents_keep_their_versions_their_readers_and_their_file);
async fn documents_keep_their_versions_their_readers_and_their_file(db: TestDb) {
    let store = &db.store;
    let f = seed_two_structures(store).await;
    let (doctor, social, reception) = (&f.medecin.tenant, &f.social.tenant, &f.accueil.tenant);
    let x = store
        .create_usager(doctor, &person("Lemoine", "Anne"), &[])
        .await
        .unwrap();
    let y = store
        .create_usager(doctor, &person("Lemoine", "Anne Marie"), &[])
        .await
        .unwrap();

    let v1_bytes = pdf("bilan v1");
    let medical = fields(
        "11488-4",
        "Bilan <b>hépatique</b>",
        Confidentiality::Medicale,
    );
    let a1 = add(store, doctor, x.id, &medical, &v1_bytes, None)
        .await
        .unwrap();
    assert_eq!(
        (a1.version, a1.sha256.as_str()),
        (1, sha256_hex(&v1_bytes).as_str())
    );
    assert_eq!(a1.size_bytes, v1_bytes.len() as i64);
    assert_eq!(a1.author_name, "Claire Bernard");
    let social_doc = fields("88348-8", "Lettre d'entrée", Confidentiality::Sociale);
    let b = add(store, social, x.id, &social_doc, &pdf("entrée"), None)
        .await
        .unwrap();

    // A social worker may neither write nor read a medical document.
    assert!(matches!(
        add(store, social, x.id, &medical, &pdf("x"), None).await,
        Err(StoreError::Forbidden)
    ));
    let ids =
        |docs: Vec<escale::store::Document>| docs.into_iter().map(|d| d.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.documents(social, x.id).await.unwrap()),
        vec![b.id]
    );
    assert!(
        store
            .document_content(social, x.id, a1.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.documents(reception, x.id).await.unwrap().is_empty());
    assert_eq!(store.documents(doctor, x.id).await.unwrap().len(), 2);
    // Nor replace it: the version it would replace is not one it reads.
    assert!(matches!(
        add(store, social, x.id, &social_doc, &pdf("x"), Some(a1.id)).await,
        Err(StoreError::NotFound)
    ));

    // A new version: same lineage, the old one kept and readable.
    let v2_bytes = pdf("bilan v2");
    let a2 = add(store, doctor, x.id, &medical, &v2_bytes, Some(a1.id))
        .await
        .unwrap();
    assert_eq!((a2.set_id, a2.version), (a1.set_id, 2));
    let (old, bytes) = store
        .document_content(doctor, x.id, a1.id)
        .await
        .unwrap()
        .unwrap();
    assert!(old.superseded_at.is_some());
    assert_eq!(bytes, v1_bytes);
    let (_, bytes) = store
        .document_content(doctor, x.id, a2.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bytes, v2_bytes);
    // Replacing version 1 again (someone else's stale page): refused.
    assert!(matches!(
        add(store, doctor, x.id, &medical, &pdf("v2 bis"), Some(a1.id)).await,
        Err(StoreError::Conflict(_))
    ));
    let listed = store.documents(doctor, x.id).await.unwrap();
    assert_eq!(listed.len(), 3);
    let contents = store.file_contents(doctor, x.id).await.unwrap().unwrap();
    assert_eq!(
        contents.documents, listed,
        "the file page reads the same list"
    );

    // Another structure sees nothing and writes nothing.
    let other = &f.other.tenant;
    assert!(store.documents(other, x.id).await.unwrap().is_empty());
    assert!(
        store
            .document_content(other, x.id, a2.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        add(store, other, x.id, &medical, &pdf("x"), None).await,
        Err(StoreError::NotFound)
    ));

    // A merge moves them (the preview lists those the reader reads) and an
    // unmerge brings them back.
    store
        .record_dmp_consent(
            doctor,
            x.id,
            escale::domain::dmp::ConsentEvent::Information,
            &[],
        )
        .await
        .unwrap();
    let preview = store.merge_preview(social, x.id).await.unwrap();
    assert_eq!(
        preview.by_kind.get("informations DMP").map(Vec::len),
        Some(1)
    );
    assert_eq!(preview.by_kind.get("documents"), Some(&vec![b.id]));
    let record = identity_quality::merge_files(store.as_ref(), doctor, y.id, x.id)
        .await
        .unwrap();
    assert_eq!(store.documents(doctor, y.id).await.unwrap().len(), 3);
    assert!(store.documents(doctor, x.id).await.unwrap().is_empty());
    assert_eq!(store.dmp_consent(doctor, y.id).await.unwrap().len(), 1);
    assert!(matches!(
        store
            .record_dmp_consent(
                doctor,
                x.id,
                escale::domain::dmp::ConsentEvent::Opposition,
                &[]
            )
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        add(store, doctor, x.id, &medical, &pdf("x"), None).await,
        Err(StoreError::NotFound)
    ));
    store
        .unmerge(doctor, record.id, &|_| Vec::new())
        .await
        .unwrap();
    assert_eq!(store.documents(doctor, x.id).await.unwrap().len(), 3);
    assert!(store.documents(doctor, y.id).await.unwrap().is_empty());
    assert_eq!(store.dmp_consent(doctor, x.id).await.unwrap().len(), 1);
    assert!(store.dmp_consent(doctor, y.id).await.unwrap().is_empty());
    assert!(store.dmp_consent(other, x.id).await.unwrap().is_empty());

    // Each write committed with its journal entry (the refused ones none).
    let journal = store
        .audit_entries(
            doctor,
            &AuditFilter {
                action: Some("document.ajout".into()),
                usager_id: Some(x.id),
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(journal.len(), 3);
    // The export lists each version, not the bytes.
    let export = store.export_usager(doctor, x.id, false).await.unwrap();
    assert_eq!(export["documents"].as_array().unwrap().len(), 3);
    assert!(!export.to_string().contains("%PDF"));
}

/// A `multipart/form-data` body as a browser sends the document form:
/// text fields, then the file (`None`: no file chosen).
fn multipart(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "----escaleTestBoundary7MA4YWxk";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    let (filename, bytes) = file.unwrap_or(("", b""));
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"doc_file\"; filename=\"{filename}\"\r\nContent-Type: application/pdf\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_document(
    app: &crate::common::app::TestApp,
    client: &reqwest::Client,
    file: Uuid,
    fields: &[(&str, &str)],
    upload: Option<(&str, &[u8])>,
) -> reqwest::Response {
    let (content_type, body) = multipart(fields, upload);
    client
        .post(app.url(&format!("/usagers/{file}/documents")))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

both_backends!(a_pdf_is_uploaded_read_and_replaced_through_http);
async fn a_pdf_is_uploaded_read_and_replaced_through_http(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let x = db
        .store
        .create_usager(&f.medecin.tenant, &person("Lemoine", "Anne"), &[])
        .await
        .unwrap();
    let app = spawn_app(db).await;
    let doctor = app.client();
    let csrf = login(&app, &doctor, f.medecin.professional.id, f.csapa.id).await;
    let page = app.page(&doctor, &format!("/usagers/{}", x.id)).await;
    assert!(page.contains("id=\"documents\"") && page.contains("Aucun document."));
    assert!(page.contains("enctype=\"multipart/form-data\""));
    assert!(page.contains("Lettre de liaison d'entrée en structure sociale ou médico-sociale"));

    let good = pdf("compte rendu");
    let form = [
        ("_csrf", csrf.as_str()),
        ("doc_replaces", ""),
        ("doc_type", "11488-4"),
        ("doc_title", "Consultation du 30 novembre"),
        ("doc_date", "2026-11-30"),
        ("doc_class", "medicale"),
    ];
    // No token in the body: refused, nothing stored.
    let r = post_document(&app, &doctor, x.id, &form[1..], Some(("cr.pdf", &good))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        app.db
            .store
            .documents(&f.medecin.tenant, x.id)
            .await
            .unwrap()
            .is_empty()
    );

    let r = post_document(&app, &doctor, x.id, &form, Some(("cr.pdf", &good))).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("/usagers/{}#documents", x.id));
    let docs = app
        .db
        .store
        .documents(&f.medecin.tenant, x.id)
        .await
        .unwrap();
    assert_eq!(docs.len(), 1);
    let doc = &docs[0];
    let page = app.page(&doctor, &format!("/usagers/{}", x.id)).await;
    assert!(page.contains("Consultation du 30 novembre"));
    assert!(page.contains(&format!("/usagers/{}/documents/{}", x.id, doc.id)));

    // Reading it: the bytes as sent, as a PDF, journaled.
    let r = doctor
        .get(app.url(&format!("/usagers/{}/documents/{}", x.id, doc.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.bytes().await.unwrap().as_ref(), good.as_slice());
    let reads = app
        .db
        .store
        .audit_entries(
            &f.medecin.tenant,
            &AuditFilter {
                action: Some("document.lecture".into()),
                usager_id: Some(x.id),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(reads.len(), 1);
    assert!(reads[0].details.contains("version 1"));

    // Not a PDF, a hostile title, a date in the future: 422, every field
    // kept (escaped), one message each, nothing stored.
    let hostile = "<script>alert(1)</script> & Cie";
    let bad = [
        ("_csrf", csrf.as_str()),
        ("doc_type", "28653-4"),
        ("doc_title", hostile),
        ("doc_date", "2099-01-01"),
        ("doc_class", "sociale"),
    ];
    let r = post_document(
        &app,
        &doctor,
        x.id,
        &bad,
        Some(("page.html", b"<html>hello</html>")),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("ce fichier n'est pas un PDF"));
    assert!(page.contains("la date du document est dans le futur"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; Cie"));
    assert!(!page.contains("<script>alert(1)"));
    assert!(page.contains("value=\"2099-01-01\""));
    assert!(page.contains("Rien n'a été enregistré"));
    // A good file with a field missing: the form asks to choose it again.
    let r = post_document(&app, &doctor, x.id, &bad[..3], Some(("cr.pdf", &good))).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("choisissez à nouveau le fichier « cr.pdf »"));
    assert!(page.contains("choisissez qui peut lire le document"));
    // No file at all.
    let r = post_document(&app, &doctor, x.id, &form, None).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("aucun fichier n'a été reçu")
    );
    assert_eq!(
        app.db
            .store
            .documents(&f.medecin.tenant, x.id)
            .await
            .unwrap()
            .len(),
        1
    );

    // Too large: the French 413 page, before anything is parsed.
    let huge = vec![b'a'; escale::domain::document::MAX_PDF_BYTES + 300 * 1024];
    let r = post_document(&app, &doctor, x.id, &form, Some(("big.pdf", &huge))).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.text().await.unwrap().contains("10 Mo au plus"));
    // A multipart body elsewhere keeps the form limit.
    let (ct, body) = multipart(&form, Some(("big.pdf", &huge[..400 * 1024])));
    let r = doctor
        .post(app.url(&format!("/usagers/{}/notes", x.id)))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // A new version, chosen in the same form.
    let v2 = pdf("compte rendu corrigé");
    let mut again = form.to_vec();
    let doc_id = doc.id.to_string();
    again[1] = ("doc_replaces", doc_id.as_str());
    let r = post_document(&app, &doctor, x.id, &again, Some(("cr2.pdf", &v2))).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = app.page(&doctor, &format!("/usagers/{}", x.id)).await;
    assert!(page.contains("version 2"));
    assert!(
        page.contains(&format!("/usagers/{}/documents/{}", x.id, doc.id)),
        "version 1 still linked"
    );
    // The same stale form again: refused, said in French.
    let r = post_document(&app, &doctor, x.id, &again, Some(("cr2.pdf", &v2))).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("une version plus récente de ce document existe déjà")
    );

    // The social worker neither sees it nor reads it by its address.
    let social = app.client();
    login(&app, &social, f.social.professional.id, f.csapa.id).await;
    let page = app.page(&social, &format!("/usagers/{}", x.id)).await;
    assert!(!page.contains("Consultation du 30 novembre"));
    let r = social
        .get(app.url(&format!("/usagers/{}/documents/{}", x.id, doc.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Nor does another structure.
    let other = app.client();
    login(&app, &other, f.other.professional.id, f.caarud.id).await;
    let r = other
        .get(app.url(&format!("/usagers/{}/documents/{}", x.id, doc.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

both_backends!(what_the_user_was_told_about_their_dmp_is_recorded_through_http);
/// Information and opposition recorded from the file page, with date and
/// author, journaled; refused for an anonymous user, out of order, and for
/// another structure; moved by a merge.
async fn what_the_user_was_told_about_their_dmp_is_recorded_through_http(db: TestDb) {
    use escale::domain::dmp::{ConsentEvent, DmpConsent};
    let f = seed_two_structures(&db.store).await;
    let t = f.medecin.tenant.clone();
    let x = db
        .store
        .create_usager(&t, &person("Lemoine", "Anne"), &[])
        .await
        .unwrap();
    let anonymous = anonymous(&db.store, &t, "Papillon").await;
    let app = spawn_app(db).await;
    let c = app.client();
    let csrf = login(&app, &c, f.medecin.professional.id, f.csapa.id).await;
    let page = app.page(&c, &format!("/usagers/{}", x.id)).await;
    assert!(page.contains("Pas encore informée de l'alimentation de son DMP"));
    let post = |id: Uuid, event: &'static str| {
        let c = c.clone();
        let url = app.url(&format!("/usagers/{id}/dmp"));
        let csrf = csrf.clone();
        async move {
            c.post(url)
                .form(&[("_csrf", csrf.as_str()), ("event", event)])
                .send()
                .await
                .unwrap()
        }
    };
    let r = post(x.id, "information").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("/usagers/{}#dmp", x.id));
    // Lifting an opposition that does not stand: refused.
    assert_eq!(
        post(x.id, "retrait_opposition").await.status(),
        StatusCode::CONFLICT
    );
    assert_eq!(
        post(x.id, "opposition").await.status(),
        StatusCode::SEE_OTHER
    );
    let r = post(x.id, "opposition").await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("une opposition est déjà enregistrée")
    );
    let page = app.page(&c, &format!("/usagers/{}", x.id)).await;
    assert!(page.contains("Informée de l'alimentation de son DMP le"));
    assert!(page.contains("Opposition"));
    assert!(page.contains("Lever son opposition"));
    assert!(page.contains("Claire Bernard"));
    let records = app.db.store.dmp_consent(&t, x.id).await.unwrap();
    let consent = DmpConsent::from_records(&records);
    assert!(consent.informed.is_some() && consent.opposed.is_some());
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].event, ConsentEvent::Opposition);
    let journal = app
        .db
        .store
        .audit_entries(
            &t,
            &AuditFilter {
                action: Some("dmp.information".into()),
                usager_id: Some(x.id),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(journal.len(), 2);

    // Anonymous: nothing to record, said in French; the page says why.
    let r = post(anonymous.id, "information").await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("accueil anonyme"));
    assert!(
        app.db
            .store
            .dmp_consent(&t, anonymous.id)
            .await
            .unwrap()
            .is_empty()
    );
    let page = app.page(&c, &format!("/usagers/{}", anonymous.id)).await;
    assert!(page.contains("Accueil anonyme : aucun document ne part vers un DMP"));
    assert!(!page.contains("La personne a été informée"));
    // An unknown event, no token: refused, nothing written.
    assert_eq!(
        post(x.id, "consentement").await.status(),
        StatusCode::BAD_REQUEST
    );
    let r = c
        .post(app.url(&format!("/usagers/{}/dmp", x.id)))
        .form(&[("event", "information")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Another structure: 404.
    let other = app.client();
    let other_csrf = login(&app, &other, f.other.professional.id, f.caarud.id).await;
    let r = other
        .post(app.url(&format!("/usagers/{}/dmp", x.id)))
        .form(&[
            ("_csrf", other_csrf.as_str()),
            ("event", "retrait_opposition"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.db.store.dmp_consent(&t, x.id).await.unwrap().len(), 2);
}

both_backends!(a_document_is_written_from_a_template_with_the_identity_banner);
/// A letter written from a template: a PDF/A that poppler renders, whose
/// text holds the typed text as typed (never read as a field) and the INS
/// traits, and whose DataMatrix libdmtx reads back to the file's INS; for an
/// anonymous user, the pseudonym and nothing else; bad input kept.
async fn a_document_is_written_from_a_template_with_the_identity_banner(db: TestDb) {
    use std::process::Command;

    let f = seed_two_structures(&db.store).await;
    let t = f.medecin.tenant.clone();
    // The traits as qualification writes them (INS format: upper case).
    let created = db
        .store
        .create_usager(&t, &person("ADRUN", "ZOE"), &[])
        .await
        .unwrap();
    let x = qualify(&db.store, &t, &created).await;
    let alias = anonymous(&db.store, &t, "Papillon").await;
    let app = spawn_app(db).await;
    let c = app.client();
    let csrf = login(&app, &c, f.medecin.professional.id, f.csapa.id).await;
    let page = app.page(&c, &format!("/usagers/{}", x.id)).await;
    assert!(page.contains("Rédiger un document depuis un modèle"));
    assert!(page.contains("Ordonnance de traitement de substitution aux opiacés"));

    let typed = "Suivi débuté le 2 novembre. {{auteur}} <script>x</script> & « guillemets »";
    let write = |id: Uuid, fields: Vec<(&'static str, String)>| {
        let c = c.clone();
        let url = app.url(&format!("/usagers/{id}/documents/redaction"));
        async move { c.post(url).form(&fields).send().await.unwrap() }
    };
    let form = |template: &str, text: &str| {
        vec![
            ("_csrf", csrf.clone()),
            ("tpl_template", template.to_string()),
            ("tpl_title", String::new()),
            ("tpl_date", "2026-12-01".to_string()),
            ("tpl_class", "medicale".to_string()),
            ("tpl_text", text.to_string()),
        ]
    };
    // Nothing typed, an unknown template: 422, what was typed kept.
    let r = write(x.id, form("inconnu", "")).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(body.contains("choisissez un modèle dans la liste"));
    assert!(body.contains("texte : ce champ est obligatoire"));
    assert!(body.contains("value=\"2026-12-01\""));

    let r = write(x.id, form("lettre-liaison-entree", typed)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let docs = app.db.store.documents(&t, x.id).await.unwrap();
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    assert_eq!(d.type_code, "88348-8");
    assert_eq!(d.title, "Lettre de liaison d'entrée");
    let (_, pdf) = app
        .db
        .store
        .document_content(&t, x.id, d.id)
        .await
        .unwrap()
        .unwrap();
    assert!(pdf.starts_with(b"%PDF-1.7"));
    escale::domain::document::check_pdf(&pdf).unwrap();

    let (Some(ppm), Some(totext), Some(dmtx)) = (
        crate::datamatrix::poppler("pdftoppm"),
        crate::datamatrix::poppler("pdftotext"),
        crate::datamatrix::dmtxread(),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lettre.pdf");
    std::fs::write(&file, &pdf).unwrap();
    let out = Command::new(totext).arg(&file).arg("-").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "Lettre de liaison d'entrée",
        "CSAPA Les Embruns",
        "ADRUN",
        "ZOE",
        "02/04/1980",
        "INS-NIR de test",
        "INS à scanner",
        "{{auteur}} <script>x</script> & « guillemets »",
        "Claire Bernard",
    ] {
        assert!(text.contains(needle), "« {needle} » missing from:\n{text}");
    }
    // The banner's top right corner, where the symbol is (150 dpi).
    let out = Command::new(ppm)
        .args([
            "-r", "150", "-x", "800", "-y", "0", "-W", "440", "-H", "420",
        ])
        .args(["-png", "-singlefile"])
        .arg(&file)
        .arg(dir.path().join("page"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (decoded, c40) = crate::datamatrix::decode(dmtx, &dir.path().join("page.png"));
    let shared = escale::domain::sharing::shareable(&x.data.identity, &x.vigilance).unwrap();
    assert_eq!(
        decoded,
        escale::domain::datamatrix::payload(&shared).into_bytes()
    );
    assert!(c40);

    // An anonymous user: the pseudonym, no INS, no symbol.
    let r = write(alias.id, form("courrier", "Rendez-vous pris.")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let d = &app.db.store.documents(&t, alias.id).await.unwrap()[0];
    let (_, pdf) = app
        .db
        .store
        .document_content(&t, alias.id, d.id)
        .await
        .unwrap()
        .unwrap();
    std::fs::write(&file, &pdf).unwrap();
    let out = Command::new(totext).arg(&file).arg("-").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Papillon") && text.contains("Rendez-vous pris."),
        "{text}"
    );
    assert!(!text.contains("INS"), "{text}");
}

/// PostgreSQL with `ESCALE_DOCUMENTS_DIR`: the bytes in a file named by
/// their hash, none in the database, read back only whole and unchanged;
/// a document kept in the database before stays readable.
#[tokio::test]
async fn documents_in_a_directory_on_postgresql() {
    use std::sync::Arc;
    let Some(db) = crate::common::db::test_store(crate::common::db::TestBackend::Postgres).await
    else {
        eprintln!("PostgreSQL not configured — this check did not run");
        return;
    };
    let f = seed_two_structures(&db.store).await;
    let t = &f.medecin.tenant;
    let x = db
        .store
        .create_usager(t, &person("Lemoine", "Anne"), &[])
        .await
        .unwrap();
    let letter = fields("88348-8", "Lettre", Confidentiality::Partagee);
    let before = add(&db.store, t, x.id, &letter, &pdf("in the database"), None)
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store: DynStore = Arc::new(
        escale::store::SqlStore::connect(&db.url)
            .await
            .unwrap()
            .with_documents_dir(Some(dir.path().to_path_buf())),
    );
    let bytes = pdf("in a directory");
    let doc = add(&store, t, x.id, &letter, &bytes, None).await.unwrap();
    let file = dir.path().join(&doc.sha256[..2]).join(&doc.sha256);
    assert_eq!(std::fs::read(&file).unwrap(), bytes);
    let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM document_contents WHERE document_id = $1")
            .bind(doc.id)
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(rows, 0, "no bytes in the database");
    let (_, read) = store
        .document_content(t, x.id, doc.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, bytes);
    let (_, read) = store
        .document_content(t, x.id, before.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, pdf("in the database"));
    // Changed on disk: refused, said plainly.
    std::fs::write(&file, b"%PDF-1.7 altered").unwrap();
    let err = store.document_content(t, x.id, doc.id).await.unwrap_err();
    assert!(
        err.to_string().contains("modifié depuis son dépôt"),
        "{err}"
    );
    std::fs::remove_file(&file).unwrap();
    let err = store.document_content(t, x.id, doc.id).await.unwrap_err();
    assert!(err.to_string().contains("lecture de"), "{err}");
    // The store without the directory says where to look.
    let err = db
        .store
        .document_content(t, x.id, doc.id)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ESCALE_DOCUMENTS_DIR"), "{err}");
}
