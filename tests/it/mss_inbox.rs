//! Reading the structure's MSSanté mailbox (issue 14): the real IMAP
//! client (async-imap, STARTTLS, the structure's certificate, SASL
//! EXTERNAL) against the sandbox over sockets. Messages sent through the
//! outbox come back as delivery notices (DSN: délivré, or échec for a box
//! that does not exist, explained) and read notices (MDN: lu when the
//! professional or the patient opens it on the sandbox's pages, échec with
//! the ANS consumer code when the recipient's software cannot integrate
//! it); the patient's reply is threaded to the file; a new message from a
//! professional waits « à rattacher » until the desk attaches it, its PDF
//! then a document of the file; a second reading reads nothing twice; a
//! certificate of another CA is refused.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use escale::connectors::mss::imap::{ImapConfig, ImapReader};
use escale::connectors::mss::message::{Attached, Outgoing, compose};
use escale::connectors::mss::smtp::{SmtpConfig, SmtpSubmission};
use escale::domain::mss::{MssHeaders, patient_address};
use escale::domain::mss_message::MessageState;
use escale::sandbox::pki::{TestPki, write_pair};
use escale::services::mss::Recipients;
use escale::store::MssMessage;

use crate::common::db::{TestDb, journal_details, seed_two_structures, zoe_ins};
use crate::common::mss::{MssSetup, pro, send_now};
use crate::dmp::qualified_with_letter;

const MAILBOX: &str = "accueil@csapa.escale-demo.mssante.fr";
const DOCTOR: &str = "dr.martin@hopital.test.mssante.fr";
const GONE: &str = "inconnu.dupont@hopital.test.mssante.fr";

both_backends!(notices_replies_and_new_messages_come_back_to_the_file);
async fn notices_replies_and_new_messages_come_back_to_the_file(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = f.medecin.tenant.clone();
    let mut m = MssSetup::start(&f.csapa.finess_geo).await;
    let site = m
        .sandbox
        .open_site(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let mss = Arc::new(m.service(escale::config::MssConfig {
        timeout_seconds: 3,
        ..Default::default()
    }));
    let (sandbox, ca, creds, dir) = (&m.sandbox, m.ca.clone(), &m.creds, &m.dir);
    db.store
        .set_mss_mailbox(&f.directeur.tenant, Some(MAILBOX), &[])
        .await
        .unwrap();
    let (usager, letter) = qualified_with_letter(&db.store, &t).await;
    let send = |to: Recipients, subject: &'static str| {
        send_now(db.store.as_ref(), &mss, &t, usager, letter, to, subject)
    };
    let to_doctor = send(pro(DOCTOR), "Lettre au médecin").await;
    let to_gone = send(pro(GONE), "Lettre à une boîte fermée").await;
    let to_patient = send(
        Recipients::Patient {
            reply_allowed: true,
        },
        "Votre courrier",
    )
    .await;
    let rejected = send(pro(DOCTOR), "Lettre que son logiciel refuse").await;
    // The doctor opens the first letter; their software refuses the second.
    let web = reqwest::Client::new();
    let page = |address: &str, n: usize| {
        let url = format!(
            "{site}/message?adresse={}&n={n}",
            form_urlencoded::byte_serialize(address.as_bytes()).collect::<String>()
        );
        let web = web.clone();
        async move { web.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let opened = page(DOCTOR, 1).await;
    assert!(opened.contains("Lettre au médecin"), "{opened}");
    web.post(format!("{site}/message/erreur"))
        .form(&[("adresse", DOCTOR), ("n", "2"), ("code", "902")])
        .send()
        .await
        .unwrap();
    // The patient opens theirs and replies.
    let patient = patient_address(&zoe_ins());
    let mine = page(&patient, 1).await;
    assert!(mine.contains("Répondre en tant que patient"), "{mine}");
    web.post(format!("{site}/message/reponse"))
        .form(&[
            ("adresse", patient.as_str()),
            ("n", "1"),
            ("texte", "Merci, je viendrai mardi <b>"),
        ])
        .send()
        .await
        .unwrap();

    // A new message from a professional, with a PDF: no conversation, no INS.
    let smtp = SmtpSubmission::new(&SmtpConfig {
        host: sandbox.host.clone(),
        port: sandbox.smtp_addr.port(),
        cert_pem: creds.cert.clone(),
        key_pem: creds.key.clone(),
        ca_pem: ca.clone(),
        timeout: Duration::from_secs(3),
        hello_name: "hopital.test".into(),
    })
    .unwrap();
    let pdf = crate::documents::pdf("compte rendu");
    let unsolicited = compose(&Outgoing {
        from: DOCTOR,
        from_name: "Dr Martin",
        to: &[MAILBOX.to_string()],
        subject: "Compte rendu de consultation",
        body: "Bonjour, voici le compte rendu.",
        message_id: "<cr-1@hopital.test.mssante.fr>",
        in_reply_to: None,
        references: &[],
        read_receipt_to: None,
        mss: &MssHeaders::new("HOPITAL-LOGICIEL", &[], false, false, true),
        attachments: &[Attached {
            file_name: "CR.pdf",
            content_type: "application/pdf",
            bytes: &pdf,
        }],
        date: Utc::now(),
    })
    .unwrap();
    smtp.submit(DOCTOR, &[MAILBOX.to_string()], &unsolicited)
        .await
        .unwrap();

    let reading = escale::services::mss::poll(db.store.as_ref(), &mss, &t, 100)
        .await
        .unwrap()
        .unwrap();
    assert!(reading.read >= 8, "{reading:?}");
    let now = |m: &MssMessage| {
        let (store, id, s) = (db.store.clone(), m.id, t.structure_id);
        async move { store.mss_message(s, id).await.unwrap().unwrap() }
    };
    assert_eq!(now(&to_doctor).await.state, MessageState::Lu);
    let gone = now(&to_gone).await;
    assert_eq!(gone.state, MessageState::Echec);
    let reason = gone.reason.unwrap_or_default();
    assert!(
        reason.contains("non remis à") && reason.contains(GONE) && reason.contains("550"),
        "{reason}"
    );
    assert_eq!(now(&to_patient).await.state, MessageState::Lu);
    let refused = now(&rejected).await;
    assert_eq!(refused.state, MessageState::Echec);
    assert!(
        refused
            .reason
            .unwrap_or_default()
            .contains("patient inconnu"),
        "consumer code 902 explained"
    );

    // The reply is in the file, in the patient's conversation.
    let file = db.store.mss_messages(&t, usager).await.unwrap();
    let reply = file
        .iter()
        .find(|m| !m.outgoing)
        .expect("the patient's reply in the file");
    assert_eq!(reply.thread_id, to_patient.message_id);
    assert!(reply.to_patient, "from the patient's Mon espace santé box");
    assert!(reply.body.contains("je viendrai mardi <b>"));
    assert_eq!(reply.state, MessageState::Recu);

    // The new message waits « à rattacher », then is attached; its PDF too.
    let waiting = escale::services::mss::unattached(db.store.as_ref(), &t)
        .await
        .unwrap();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(waiting[0].sender, DOCTOR);
    let before = db.store.documents(&t, usager).await.unwrap().len();
    escale::services::mss::attach(db.store.as_ref(), &mss, &t, usager, waiting[0].id)
        .await
        .unwrap();
    let docs = db.store.documents(&t, usager).await.unwrap();
    assert_eq!(docs.len(), before + 1);
    assert!(docs.iter().any(|d| d.title.contains("CR.pdf")));
    assert!(
        escale::services::mss::unattached(db.store.as_ref(), &t)
            .await
            .unwrap()
            .is_empty()
    );

    // Read again: nothing new, nothing twice.
    let again = escale::services::mss::poll(db.store.as_ref(), &mss, &t, 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.read, 0, "{again:?}");
    assert_eq!(
        db.store.mss_messages(&t, usager).await.unwrap().len(),
        file.len() + 1
    );
    for action in ["mss.reception", "mss.avis", "mss.rattachement"] {
        assert!(
            !journal_details(&db.store, &t, action).await.is_empty(),
            "{action}"
        );
    }

    // A certificate of another CA: the IMAP session is refused.
    let stranger = TestPki::generate().unwrap();
    write_pair(
        &dir.path().join("x.pem"),
        &dir.path().join("x.key"),
        &stranger.client_cert("X", "640000014").unwrap(),
    )
    .unwrap();
    let reader = ImapReader::new(&ImapConfig {
        host: sandbox.host.clone(),
        port: sandbox.imap_addr.port(),
        cert_pem: dir.path().join("x.pem"),
        key_pem: dir.path().join("x.key"),
        ca_pem: ca,
        timeout: Duration::from_secs(3),
        mailbox: MAILBOX.into(),
    })
    .unwrap();
    let err = reader.check().await.unwrap_err();
    assert!(
        err.is_transient() && err.to_string().contains("TLS"),
        "{err}"
    );
}

both_backends!(an_attachment_the_antivirus_refuses_is_not_kept);
/// `mss_scan_command` exiting non-zero: the received PDF is not kept as a
/// document, said in the journal; the message itself is kept.
async fn an_attachment_the_antivirus_refuses_is_not_kept(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = f.medecin.tenant.clone();
    let m = MssSetup::start(&f.csapa.finess_geo).await;
    let mss = m.service(escale::config::MssConfig {
        scan_command: Some("false".into()),
        ..Default::default()
    });
    let sandbox = &m.sandbox;
    db.store
        .set_mss_mailbox(&f.directeur.tenant, Some(MAILBOX), &[])
        .await
        .unwrap();
    let (usager, _) = qualified_with_letter(&db.store, &t).await;
    let pdf = crate::documents::pdf("résultats");
    let message = compose(&Outgoing {
        from: DOCTOR,
        from_name: "Dr Martin",
        to: &[MAILBOX.to_string()],
        subject: "Résultats",
        body: "Ci-joint.",
        message_id: "<res-1@hopital.test.mssante.fr>",
        in_reply_to: None,
        references: &[],
        read_receipt_to: None,
        mss: &MssHeaders::new("HOPITAL-LOGICIEL", &[], false, false, true),
        attachments: &[Attached {
            file_name: "RESULTATS.pdf",
            content_type: "application/pdf",
            bytes: &pdf,
        }],
        date: Utc::now(),
    })
    .unwrap();
    // An empty mailbox reads as nothing new.
    let empty = escale::services::mss::poll(db.store.as_ref(), &mss, &t, 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(empty.read, 0, "{empty:?}");
    sandbox.post(MAILBOX, DOCTOR, "Résultats", message);
    let reading = escale::services::mss::poll(db.store.as_ref(), &mss, &t, 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reading.received, 1);
    let waiting = escale::services::mss::unattached(db.store.as_ref(), &t)
        .await
        .unwrap();
    let before = db.store.documents(&t, usager).await.unwrap().len();
    escale::services::mss::attach(db.store.as_ref(), &mss, &t, usager, waiting[0].id)
        .await
        .unwrap();
    assert_eq!(db.store.documents(&t, usager).await.unwrap().len(), before);
    let said = journal_details(&db.store, &t, "mss.reception").await;
    assert!(
        said.iter()
            .any(|d| d.contains("RESULTATS.pdf") && d.contains("refusée par l'antivirus")),
        "{said:?}"
    );
    let kept = db.store.mss_messages(&t, usager).await.unwrap();
    assert!(kept.iter().any(|m| m.subject == "Résultats"));
}
