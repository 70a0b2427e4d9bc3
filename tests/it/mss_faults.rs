//! The MSSanté outbox against the sandbox's faults (issue 14), over real
//! sockets with STARTTLS and the structure's certificate: the server down or
//! a TLS failure → retried, then « en échec » with the reason in French,
//! nothing lost (« Relancer » sends it); a 4xx answer → retried; a 5xx answer
//! → failed at once with the ANS table's explanation; a send whose outcome
//! was lost → sent again with the same Message-ID, delivered once; an
//! opposition recorded after the message was written → the job sends nothing.

use std::sync::Arc;
use std::time::Duration;

use escale::domain::dmp::ConsentEvent;
use escale::domain::mss::patient_address;
use escale::domain::mss_message::MessageState;
use escale::jobs::{Runner, RunnerConfig};
use escale::sandbox::mss::MssBehaviour;
use escale::sandbox::pki::{TestPki, write_pair};
use escale::services::mss::{Draft, Recipients};
use escale::store::{MssMessage, MssStore};

use crate::common::db::{TestDb, journal_details, seed_two_structures, zoe_ins};
use crate::common::mss::MssSetup;
use crate::dmp::qualified_with_letter;

both_backends!(the_outbox_retries_fails_with_the_reason_and_never_delivers_twice);
async fn the_outbox_retries_fails_with_the_reason_and_never_delivers_twice(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = f.medecin.tenant.clone();
    let m = MssSetup::start(&f.csapa.finess_geo).await;
    let mss = Arc::new(m.service(escale::config::MssConfig {
        timeout_seconds: 2,
        ..Default::default()
    }));
    let (sandbox, creds) = (&m.sandbox, &m.creds);
    let good = m
        .pki
        .client_cert("ESCALE-MSS", &f.csapa.finess_geo)
        .unwrap();
    let config = escale::config::Config::default();
    MssStore::set_mss_mailbox(
        db.store.as_ref(),
        &f.directeur.tenant,
        Some("accueil@csapa.escale-demo.mssante.fr"),
        &[],
    )
    .await
    .unwrap();
    let insi = Arc::new(escale::services::insi::InsiService::disabled());
    let dmp = Arc::new(escale::services::dmp::DmpService::disabled(&config));
    let runner = Runner::new(
        db.store.clone(),
        escale::jobs::handlers(&db.store, &insi, &dmp, &mss, 10),
        RunnerConfig {
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            ..RunnerConfig::default()
        },
    );
    let run = || async {
        for _ in 0..40 {
            runner.run_until_idle().await.unwrap();
            if db.store.open_jobs().await.unwrap() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (usager, letter) = qualified_with_letter(&db.store, &t).await;
    let ask = |subject: &'static str| {
        let (store, t, mss) = (db.store.clone(), t.clone(), mss.clone());
        async move {
            escale::services::mss::request(
                store.as_ref(),
                &mss,
                &t,
                usager,
                &Draft {
                    to: Recipients::Patient {
                        reply_allowed: true,
                    },
                    subject: subject.into(),
                    body: "Bonjour".into(),
                    documents: vec![letter],
                    confirm_unknown: false,
                    form_key: None,
                    reply_to: None,
                },
            )
            .await
            .unwrap()
            .unwrap()
        }
    };
    let now = |m: &MssMessage| {
        let (store, id) = (db.store.clone(), m.id);
        let s = t.structure_id;
        async move { store.mss_message(s, id).await.unwrap().unwrap() }
    };
    let mailbox = patient_address(&zoe_ins());
    let delivered = || sandbox.mailbox(&mailbox).len();

    // Down: retried, then given up with the reason; « Relancer » sends it.
    sandbox.set_behaviour(MssBehaviour::Down);
    let m = ask("Serveur arrêté").await;
    run().await;
    let failed = now(&m).await;
    assert_eq!(failed.state, MessageState::Echec);
    let reason = failed.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("abandonné après") && reason.contains("injoignable"),
        "{reason}"
    );
    let attention = escale::services::mss::needing_attention(db.store.as_ref(), &mss, &t)
        .await
        .unwrap();
    assert!(attention.iter().any(|x| x.id == m.id));
    sandbox.set_behaviour(MssBehaviour::Normal);
    escale::services::mss::retry(db.store.as_ref(), &t, usager, m.id)
        .await
        .unwrap();
    run().await;
    let sent = now(&m).await;
    assert_eq!(sent.state, MessageState::Envoye, "{:?}", sent.reason);
    assert!(sent.server_answer.unwrap_or_default().starts_with("250"));
    assert_eq!(delivered(), 1);

    // 451 once: retried, then sent.
    sandbox.set_behaviour(MssBehaviour::Fail451);
    let m = ask("Refus temporaire").await;
    runner.run_one().await.unwrap();
    let waiting = now(&m).await;
    assert_eq!(waiting.state, MessageState::EnAttente);
    assert!(
        waiting.reason.clone().unwrap_or_default().contains("451"),
        "{:?}",
        waiting.reason
    );
    sandbox.set_behaviour(MssBehaviour::Normal);
    run().await;
    assert_eq!(now(&m).await.state, MessageState::Envoye);
    assert_eq!(delivered(), 2);

    // 550: failed at once, explained from the ANS table.
    sandbox.set_behaviour(MssBehaviour::UnknownRecipient);
    let m = ask("Boîte fermée").await;
    run().await;
    let refused = now(&m).await;
    assert_eq!(refused.state, MessageState::Echec);
    assert_eq!(refused.attempts, 1, "a 5xx answer is not retried");
    let reason = refused.reason.unwrap_or_default();
    let ans = escale::domain::mss::smtp_answer(550).unwrap();
    assert!(
        reason.contains("550") && reason.contains(&ans.meaning),
        "{reason}"
    );
    sandbox.set_behaviour(MssBehaviour::Normal);
    assert_eq!(delivered(), 2);

    // A TLS failure (a certificate of another CA): retried, then failed.
    let stranger = TestPki::generate().unwrap();
    write_pair(
        &creds.cert,
        &creds.key,
        &stranger
            .client_cert("ESCALE-MSS", &f.csapa.finess_geo)
            .unwrap(),
    )
    .unwrap();
    let m = ask("Mauvais certificat").await;
    run().await;
    let tls = now(&m).await;
    assert_eq!(tls.state, MessageState::Echec);
    assert!(
        tls.reason
            .clone()
            .unwrap_or_default()
            .contains("injoignable"),
        "{:?}",
        tls.reason
    );
    write_pair(&creds.cert, &creds.key, &good).unwrap();
    escale::services::mss::retry(db.store.as_ref(), &t, usager, m.id)
        .await
        .unwrap();
    run().await;
    assert_eq!(now(&m).await.state, MessageState::Envoye);
    assert_eq!(delivered(), 3);

    // The outcome of a send is lost (a crash after the server took it):
    // the same Message-ID goes again, the server delivers it once.
    let m = ask("Réponse perdue").await;
    run().await;
    assert_eq!(delivered(), 4);
    db.store
        .set_mss_state(&t, m.id, MessageState::Echec, Some("simulé"), None, &[])
        .await
        .unwrap();
    escale::services::mss::retry(db.store.as_ref(), &t, usager, m.id)
        .await
        .unwrap();
    run().await;
    assert_eq!(now(&m).await.state, MessageState::Envoye);
    assert_eq!(delivered(), 4, "not delivered twice");

    // An opposition recorded after the message was written: nothing goes.
    let m = ask("Après opposition").await;
    db.store
        .record_dmp_consent(&t, usager, ConsentEvent::MssOpposition, &[])
        .await
        .unwrap();
    run().await;
    let opposed = now(&m).await;
    assert_eq!(opposed.state, MessageState::Echec);
    assert!(
        opposed.reason.unwrap_or_default().contains("opposée"),
        "the job checks the rules again"
    );
    assert_eq!(delivered(), 4);
    let failures = journal_details(&db.store, &t, "mss.echec").await;
    assert!(failures.len() >= 2, "{failures:?}");
}

both_backends!(the_same_form_sent_by_someone_who_cannot_read_it_is_refused_plainly);
async fn the_same_form_sent_by_someone_who_cannot_read_it_is_refused_plainly(db: TestDb) {
    use escale::domain::care::Confidentiality;
    use escale::domain::document::{DocumentFields, document_type};
    use escale::services::error::ServiceError;
    use escale::store::{NewDocument, StoreError};

    let f = seed_two_structures(&db.store).await;
    let t = f.medecin.tenant.clone();
    let m = MssSetup::start(&f.csapa.finess_geo).await;
    let mss = m.service(escale::config::MssConfig::default());
    MssStore::set_mss_mailbox(
        db.store.as_ref(),
        &f.directeur.tenant,
        Some("accueil@csapa.escale-demo.mssante.fr"),
        &[],
    )
    .await
    .unwrap();
    let (usager, letter) = qualified_with_letter(&db.store, &t).await;
    let medical = db
        .store
        .add_document(
            &t,
            usager,
            &NewDocument {
                fields: &DocumentFields {
                    type_code: document_type("11488-4").unwrap(),
                    title: "Compte rendu médical".into(),
                    date: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
                    confidentiality: Confidentiality::Medicale,
                },
                media_type: "application/pdf",
                content: &crate::documents::pdf("compte rendu"),
            },
            None,
            &|_| vec![],
        )
        .await
        .unwrap()
        .id;
    let key = uuid::Uuid::new_v4().to_string();
    let draft = |document| Draft {
        to: Recipients::Patient {
            reply_allowed: true,
        },
        subject: "Vos résultats".into(),
        body: "Bonjour".into(),
        documents: document,
        confirm_unknown: false,
        form_key: Some(key.clone()),
        reply_to: None,
    };
    let request = |t: escale::domain::tenant::Tenant, d: Draft| {
        let (store, mss) = (db.store.clone(), &mss);
        async move { escale::services::mss::request(store.as_ref(), mss, &t, usager, &d).await }
    };
    let first = request(t.clone(), draft(vec![medical]))
        .await
        .unwrap()
        .unwrap();
    // Its author sends the form again: the same message.
    let again = request(t.clone(), draft(vec![medical]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.id, first.id);
    // The same form key from a social worker, who does not read the medical
    // document: said plainly, not a database error; nothing written.
    let err = request(f.social.tenant.clone(), draft(vec![]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ServiceError::Store(StoreError::Conflict(why)) if why.contains("déjà été écrit")),
        "{err:?}"
    );
    assert_eq!(db.store.mss_messages(&t, usager).await.unwrap().len(), 1);

    // A message with a shared letter and the medical report: listed to the
    // doctor with its two documents, never to the social worker (who reads
    // the letter only).
    let mut both = draft(vec![letter, medical]);
    both.form_key = None;
    let two = request(t.clone(), both).await.unwrap().unwrap();
    assert_eq!(two.document_count, 2);
    assert_eq!(
        db.store
            .mss_documents(t.structure_id, two.id)
            .await
            .unwrap(),
        vec![letter, medical]
    );
    let doctor_sees = db.store.mss_messages(&t, usager).await.unwrap();
    assert!(doctor_sees.iter().any(|m| m.id == two.id));
    let social_sees = db
        .store
        .mss_messages(&f.social.tenant, usager)
        .await
        .unwrap();
    assert!(social_sees.is_empty(), "{social_sees:?}");
}
