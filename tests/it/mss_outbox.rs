//! Messages from a user's file through HTTP (issue 14): a social worker
//! writes to a correspondent (a typed address the Annuaire does not list is
//! sent only once confirmed) with a letter — PDF and IHE_XDM.ZIP — and to the
//! user's Mon espace santé mailbox (reply forbidden); the outbox delivers
//! each once to the MSSanté sandbox, the file shows them; and the gate:
//! anonymous, unqualified, opposed, a document invisible to the patient, a
//! document masked from professionals, a patient address typed as a
//! professional's → refused in French, what was typed kept, no message and
//! no job, whatever is posted.

use reqwest::StatusCode;
use uuid::Uuid;

use escale::domain::dmp::{ConsentEvent, DmpOperation, DmpVisibility};
use escale::domain::mss::patient_address;
use escale::store::DynStore;

use crate::common::app::{TestApp, login, spawn_app};
use crate::common::db::{TestDb, anonymous, journal_details, seed_two_structures, zoe_ins};
use crate::dmp::qualified_with_letter;

const MAILBOX: &str = "accueil@csapa.escale-demo.mssante.fr";
const DOCTOR: &str = "dr.martin@hopital.test.mssante.fr";

async fn with_mailbox(store: &DynStore, director: &escale::domain::tenant::Tenant) {
    escale::store::MssStore::set_mss_mailbox(store.as_ref(), director, Some(MAILBOX), &[])
        .await
        .unwrap();
}

async fn post(
    app: &TestApp,
    c: &reqwest::Client,
    usager: Uuid,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    c.post(app.url(&format!("/usagers/{usager}/messages")))
        .form(fields)
        .send()
        .await
        .unwrap()
}

both_backends!(a_letter_to_a_correspondent_and_a_message_to_the_user_go_out_once);
async fn a_letter_to_a_correspondent_and_a_message_to_the_user_go_out_once(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    with_mailbox(&db.store, &f.directeur.tenant).await;
    let t = f.social.tenant.clone();
    let (usager, letter) = qualified_with_letter(&db.store, &t).await;
    let app = spawn_app(db).await;
    let c = app.client();
    let csrf = login(&app, &c, f.social.professional.id, f.csapa.id).await;
    let page = app.page(&c, &format!("/usagers/{usager}")).await;
    assert!(page.contains("Écrire un message"), "{page}");
    let ins = zoe_ins().matricule.as_string();
    assert!(page.contains(&format!("INS {ins}")), "the user's INS shown");
    assert!(
        !page.contains("@patient.mssante.fr"),
        "never the raw address"
    );

    // A typed address the Annuaire does not list: said, nothing sent.
    let letter_id = letter.to_string();
    let key = Uuid::new_v4().to_string();
    let to_doctor = |confirm: &'static str| {
        vec![
            ("_csrf", csrf.clone()),
            ("form_key", key.clone()),
            ("msg_to", "professionnels".into()),
            ("msg_typed", DOCTOR.into()),
            ("msg_subject", "Lettre de liaison <b>".into()),
            ("msg_body", "Bonjour,\nVoici la lettre.".into()),
            ("msg_document", letter_id.clone()),
            ("confirm_unknown", confirm.into()),
        ]
    };
    let as_refs = |v: &Vec<(&'static str, String)>| {
        v.iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect::<Vec<(&str, String)>>()
    };
    let form = to_doctor("");
    let r = c
        .post(app.url(&format!("/usagers/{usager}/messages")))
        .form(&as_refs(&form))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap();
    assert!(body.contains("ne figurent ni dans votre carnet"), "{body}");
    assert!(
        body.contains("Lettre de liaison &lt;b&gt;"),
        "kept, escaped"
    );
    assert!(
        app.db
            .store
            .mss_messages(&t, usager)
            .await
            .unwrap()
            .is_empty()
    );
    // Confirmed, and sent twice (a double click): one message.
    for _ in 0..2 {
        let r = c
            .post(app.url(&format!("/usagers/{usager}/messages")))
            .form(&as_refs(&to_doctor("1")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    // To the user, reply forbidden.
    let r = post(
        &app,
        &c,
        usager,
        &[
            ("_csrf", &csrf),
            ("form_key", &Uuid::new_v4().to_string()),
            ("msg_to", "personne"),
            ("msg_subject", "Votre courrier"),
            ("msg_body", "Bonjour, voici votre courrier."),
            ("msg_document", &letter_id),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.db.store.mss_messages(&t, usager).await.unwrap().len(),
        2
    );
    app.drain_jobs().await;

    let sandbox = app.sandboxes.mss.as_ref().unwrap();
    let doctor = sandbox.mailbox(DOCTOR);
    assert_eq!(doctor.len(), 1, "delivered once");
    assert_eq!(doctor[0].cda_code.as_deref(), Some("88348-8"));
    assert_eq!(doctor[0].from, MAILBOX);
    assert!(
        doctor[0]
            .subject
            .starts_with("XDM/1.0/DDM+Lettre de liaison <b> ADRUN ZOE")
    );
    let patient = sandbox.mailbox(&patient_address(&zoe_ins()));
    assert_eq!(patient.len(), 1);
    assert!(patient[0].no_reply, "X-MSS-MES: FIN");

    let page = app.page(&c, &format!("/usagers/{usager}")).await;
    assert_eq!(page.matches(r#"data-etat="envoye""#).count(), 2, "{page}");
    assert!(page.contains(r#"data-patient="oui""#));
    assert!(page.contains("sans réponse possible"));
    assert!(
        !page.contains("XDM/1.0/DDM+"),
        "the subject convention hidden"
    );
    let sent = journal_details(&app.db.store, &f.directeur.tenant, "mss.envoi").await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent.iter().any(|d| d.contains(DOCTOR) && d.contains("250")));
    assert!(
        sent.iter()
            .all(|d| !d.contains("@patient.mssante.fr") || d.contains("Mon espace santé"))
    );
}

both_backends!(no_message_is_ever_written_for_what_the_rules_exclude);
async fn no_message_is_ever_written_for_what_the_rules_exclude(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    with_mailbox(&db.store, &f.directeur.tenant).await;
    let t = f.medecin.tenant.clone();
    let store = db.store.clone();
    let (qualified, letter) = qualified_with_letter(&store, &t).await;
    let anon = anonymous(&store, &t, "Papillon").await;
    let provisional = crate::dmp::provisional_user(&store, &t).await;
    let app = spawn_app(db).await;
    let c = app.client();
    let csrf = login(&app, &c, f.medecin.professional.id, f.csapa.id).await;
    // The letter goes to the DMP invisible to the patient.
    let masked = letter;
    escale::services::dmp::request(
        app.db.store.as_ref(),
        &t,
        qualified,
        masked,
        DmpOperation::Depot,
        DmpVisibility::InvisiblePatient,
    )
    .await
    .unwrap();
    app.drain_jobs().await;

    let patient = |_user: Uuid, doc: Option<Uuid>| {
        let doc = doc.map(|d| d.to_string()).unwrap_or_default();
        vec![
            ("_csrf", csrf.clone()),
            ("msg_to", "personne".to_string()),
            ("msg_subject", "Objet gardé".to_string()),
            ("msg_body", "Texte gardé".to_string()),
            ("msg_document", doc),
        ]
    };
    let send = |user: Uuid, fields: Vec<(&'static str, String)>| {
        let c = c.clone();
        let url = app.url(&format!("/usagers/{user}/messages"));
        async move { c.post(url).form(&fields).send().await.unwrap() }
    };
    // Anonymous: refused before anything.
    let r = send(anon.id, patient(anon.id, None)).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("accueil anonyme"));
    // Anonymous, to a professional: refused too.
    let mut to_pro = patient(anon.id, None);
    to_pro[1].1 = "professionnels".into();
    to_pro.push(("msg_typed", DOCTOR.into()));
    to_pro.push(("confirm_unknown", "1".into()));
    let r = send(anon.id, to_pro).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // Unqualified identity, to the patient.
    let r = send(provisional.id, patient(provisional.id, None)).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(body.contains("qualifiée"), "{body}");
    assert!(body.contains("Objet gardé") && body.contains("Texte gardé"));
    // A document invisible to the patient.
    let r = send(qualified, patient(qualified, Some(masked))).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("invisible pour la personne")
    );
    // The user's address typed as a professional's.
    let mut typed = patient(qualified, None);
    typed[1].1 = "professionnels".into();
    typed.push(("msg_typed", patient_address(&zoe_ins())));
    let r = send(qualified, typed).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("messagerie Mon espace santé")
    );
    // Outside the MSSanté space.
    let mut outside = patient(qualified, None);
    outside[1].1 = "professionnels".into();
    outside.push(("msg_typed", "martin@gmail.com".into()));
    let r = send(qualified, outside).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A document masked from professionals.
    let second = crate::dmp::letter(&app.db.store, &t, qualified, "88348-8").await;
    escale::services::dmp::request(
        app.db.store.as_ref(),
        &t,
        qualified,
        second,
        DmpOperation::Depot,
        DmpVisibility::MasquePs,
    )
    .await
    .unwrap();
    app.drain_jobs().await;
    let mut to_pro = patient(qualified, Some(second));
    to_pro[1].1 = "professionnels".into();
    to_pro.push(("msg_typed", DOCTOR.into()));
    to_pro.push(("confirm_unknown", "1".into()));
    let r = send(qualified, to_pro).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("masqué aux professionnels")
    );
    // Opposition to messages: nothing to the user.
    app.db
        .store
        .record_dmp_consent(&t, qualified, ConsentEvent::MssOpposition, &[])
        .await
        .unwrap();
    let r = send(qualified, patient(qualified, None)).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("opposée"));
    // Another structure's file: not found.
    let r = c
        .post(app.url(&format!("/usagers/{}/messages", Uuid::new_v4())))
        .form(&patient(qualified, None))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    for u in [anon.id, provisional.id, qualified] {
        assert!(app.db.store.mss_messages(&t, u).await.unwrap().is_empty());
    }
    assert_eq!(app.db.store.open_jobs().await.unwrap(), 0);
    let journal = journal_details(&app.db.store, &f.directeur.tenant, "mss.demande").await;
    assert!(journal.is_empty(), "{journal:?}");
    assert!(
        app.sandboxes
            .mss
            .as_ref()
            .unwrap()
            .mailbox(&patient_address(&zoe_ins()))
            .is_empty()
    );
}

both_backends!(two_documents_go_in_one_message_with_one_archive);
async fn two_documents_go_in_one_message_with_one_archive(db: TestDb) {
    use std::io::Read;
    let f = seed_two_structures(&db.store).await;
    with_mailbox(&db.store, &f.directeur.tenant).await;
    let t = f.medecin.tenant.clone();
    let (usager, letter) = qualified_with_letter(&db.store, &t).await;
    let report = crate::dmp::letter(&db.store, &t, usager, "11488-4").await;
    let app = spawn_app(db).await;
    let c = app.client();
    let csrf = login(&app, &c, f.medecin.professional.id, f.csapa.id).await;
    let (letter_id, report_id) = (letter.to_string(), report.to_string());
    let r = post(
        &app,
        &c,
        usager,
        &[
            ("_csrf", &csrf),
            ("form_key", &Uuid::new_v4().to_string()),
            ("msg_to", "professionnels"),
            ("msg_typed", DOCTOR),
            ("confirm_unknown", "1"),
            ("msg_subject", "Lettre et compte rendu"),
            ("msg_body", "Bonjour, voici les deux."),
            ("msg_document", &letter_id),
            ("msg_document", &report_id),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.drain_jobs().await;

    // Delivered once: both PDFs, one archive with both CDA, both codes.
    let got = app.sandboxes.mss.as_ref().unwrap().mailbox(DOCTOR);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].cda_code.as_deref(), Some("88348-8,11488-4"));
    let Ok(escale::connectors::mss::incoming::Incoming::Message(m)) =
        escale::connectors::mss::incoming::read(&got[0].bytes, &Default::default())
    else {
        panic!("a message");
    };
    let names: Vec<&str> = m.attachments.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["DOC0001.PDF", "DOC0002.PDF", "IHE_XDM.ZIP"]);
    let zip = &m.attachments[2].bytes;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut read = |name: &str| {
        let mut out = String::new();
        archive
            .by_name(name)
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        out
    };
    let metadata = read("IHE_XDM/SUBSET01/METADATA.XML");
    for uri in ["DOC0001.XML", "DOC0002.XML"] {
        assert!(metadata.contains(&format!("<rim:Value>{uri}</rim:Value>")));
        assert!(read(&format!("IHE_XDM/SUBSET01/{uri}")).contains("ClinicalDocument"));
    }
    assert!(metadata.contains(r#"id="Document02""#) && metadata.contains(r#"id="cl-type-2""#));
    assert!(read("INDEX.HTM").contains("DOC0002.XML"));
    crate::common::tools::assert_schema_valid(
        "spec/dmp-mss/dmp/wsdl-schema/schema/ebRS/lcm.xsd",
        "xdm-metadata-two-documents",
        &metadata,
    );

    // The file shows the message with its two documents; the journal names both.
    let page = app.page(&c, &format!("/usagers/{usager}")).await;
    assert!(page.contains("et un autre document"), "{page}");
    let asked = journal_details(&app.db.store, &f.directeur.tenant, "mss.demande").await;
    assert!(
        asked.iter().any(|d| d.matches("version 1").count() == 2),
        "{asked:?}"
    );
    // Six documents: refused, what was typed kept, nothing written.
    let mut ids = vec![letter_id.clone(), report_id.clone()];
    for _ in 0..4 {
        ids.push(
            crate::dmp::letter(&app.db.store, &t, usager, "11488-4")
                .await
                .to_string(),
        );
    }
    let key = Uuid::new_v4().to_string();
    let mut fields: Vec<(&str, &str)> = vec![
        ("_csrf", &csrf),
        ("form_key", &key),
        ("msg_to", "professionnels"),
        ("msg_typed", DOCTOR),
        ("confirm_unknown", "1"),
        ("msg_subject", "Six documents"),
        ("msg_body", "x"),
    ];
    for id in &ids {
        fields.push(("msg_document", id));
    }
    let r = post(&app, &c, usager, &fields).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(body.contains("au plus 5 documents par message"), "{body}");
    assert!(body.contains("Six documents"), "kept");
    assert_eq!(
        app.db.store.mss_messages(&t, usager).await.unwrap().len(),
        1
    );
}
