//! The structure's MSSanté mailbox (issue 14): the director sets an address
//! of the instance operator's domain (another domain, a typed host: refused
//! in French), journaled; « Tester la connexion » opens an SMTP session
//! and an IMAP session (STARTTLS, SASL EXTERNAL) with the structure's
//! certificate against the MSSanté
//! sandbox and says what it came to, also when the server is down; other
//! roles and requests without CSRF token change nothing.

use reqwest::StatusCode;

use escale::sandbox::mss::MssBehaviour;

use crate::common::app::{login, spawn_app};
use crate::common::db::{TestDb, journal_details, seed_two_structures};

both_backends!(the_director_sets_the_mailbox_and_tests_the_connection);
async fn the_director_sets_the_mailbox_and_tests_the_connection(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let app = spawn_app(db).await;
    let c = app.client();
    let csrf = login(&app, &c, f.directeur.professional.id, f.csapa.id).await;
    let page = app.page(&c, "/structure/parametres").await;
    assert!(page.contains("Messagerie sécurisée de santé (MSSanté)"));
    assert!(
        page.contains("escale-demo.mssante.fr"),
        "the operator's domain"
    );

    let post = |c: reqwest::Client, path: &'static str, fields: Vec<(&'static str, String)>| {
        let url = app.url(path);
        async move { c.post(url).form(&fields).send().await.unwrap() }
    };
    let mailbox =
        |csrf: &str, a: &str| vec![("_csrf", csrf.to_string()), ("mailbox", a.to_string())];

    // Testing before any mailbox: said so.
    let r = post(
        c.clone(),
        "/structure/parametres/mss/test",
        vec![("_csrf", csrf.clone())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("indiquez d'abord l'adresse")
    );

    // Another domain, or a host slipped into the address: refused.
    for bad in [
        "accueil@gmail.com",
        "accueil@evil.example/escale-demo.mssante.fr",
        "<script>@escale-demo.mssante.fr",
    ] {
        let r = post(c.clone(), "/structure/parametres/mss", mailbox(&csrf, bad)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body = r.text().await.unwrap();
        assert!(
            body.contains("n'est pas une adresse de l'opérateur"),
            "{body}"
        );
        assert!(!body.contains("<script>@"), "escaped");
    }
    // Another role, or no token: refused.
    let doctor = app.client();
    let doctor_csrf = login(&app, &doctor, f.medecin.professional.id, f.csapa.id).await;
    let ok = "Accueil@CSAPA.escale-demo.mssante.fr";
    let r = post(
        doctor.clone(),
        "/structure/parametres/mss",
        mailbox(&doctor_csrf, ok),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = post(c.clone(), "/structure/parametres/mss", mailbox("", ok)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let s = app
        .db
        .store
        .get_structure(f.csapa.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.mss_mailbox, None);

    // The director's address: kept in lower case, journaled.
    let r = post(c.clone(), "/structure/parametres/mss", mailbox(&csrf, ok)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let s = app
        .db
        .store
        .get_structure(f.csapa.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.mss_mailbox.as_deref(),
        Some("accueil@csapa.escale-demo.mssante.fr")
    );

    // The test: STARTTLS and the certificate the sandbox's PKI made.
    let r = post(
        c.clone(),
        "/structure/parametres/mss/test",
        vec![("_csrf", csrf.clone())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("Test réussi : envoi (SMTP")
            && body.contains("relève (IMAP")
            && body.contains("authentification par certificat) : réussie"),
        "{body}"
    );
    // The server down: said in French, what to do.
    let sandbox = app.sandboxes.mss.as_ref().expect("MSSanté sandbox");
    sandbox.set_behaviour(MssBehaviour::Busy);
    let r = post(
        c.clone(),
        "/structure/parametres/mss/test",
        vec![("_csrf", csrf.clone())],
    )
    .await;
    let body = r.text().await.unwrap();
    assert!(body.contains("Test en échec"), "{body}");
    assert!(
        body.contains("421 : le service de messagerie est indisponible"),
        "{body}"
    );
    sandbox.set_behaviour(MssBehaviour::Normal);

    let details = journal_details(
        &app.db.store,
        &f.directeur.tenant,
        "configuration.modification",
    )
    .await;
    assert!(
        details.iter().any(|d| d.contains(
            "boîte MSSanté de la structure : aucune → accueil@csapa.escale-demo.mssante.fr"
        )),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("test de la messagerie MSSanté : envoi (SMTP"))
    );
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("test de la messagerie MSSanté en échec"))
    );
}

both_backends!(an_opposition_to_messages_is_recorded_from_the_file);
/// From the file: the user's opposition to messages in their Mon espace
/// santé mailbox, recorded and lifted (date, author, journal), apart from
/// their DMP opposition; never twice; nothing for an anonymous user.
async fn an_opposition_to_messages_is_recorded_from_the_file(db: TestDb) {
    use escale::domain::dmp::DmpConsent;
    let f = seed_two_structures(&db.store).await;
    let t = f.medecin.tenant.clone();
    let (user, _) = crate::dmp::qualified_with_letter(&db.store, &t).await;
    let alias = crate::common::db::anonymous(&db.store, &t, "Papillon").await;
    let app = spawn_app(db).await;
    let c = app.client();
    let csrf = login(&app, &c, f.medecin.professional.id, f.csapa.id).await;
    let page = app.page(&c, &format!("/usagers/{user}")).await;
    assert!(page.contains("Messagerie sécurisée (MSSanté)"));
    assert!(page.contains("Enregistrer son opposition aux messages"));
    let record = |id: uuid::Uuid, event: &'static str| {
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
    let r = record(user, "opposition_messagerie").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(crate::common::app::location(&r).ends_with("#messagerie"));
    let consent = DmpConsent::from_records(&app.db.store.dmp_consent(&t, user).await.unwrap());
    assert!(consent.mss_opposed.is_some());
    assert!(
        consent.opposed.is_none(),
        "the DMP opposition is another one"
    );
    let page = app.page(&c, &format!("/usagers/{user}")).await;
    assert!(page.contains("aux messages dans sa messagerie Mon espace santé, enregistrée le"));
    assert!(page.contains("Lever son opposition aux messages"));
    assert_eq!(
        record(user, "opposition_messagerie").await.status(),
        StatusCode::CONFLICT,
        "not twice"
    );
    assert_eq!(
        record(user, "retrait_opposition_messagerie").await.status(),
        StatusCode::SEE_OTHER
    );
    let consent = DmpConsent::from_records(&app.db.store.dmp_consent(&t, user).await.unwrap());
    assert!(consent.mss_opposed.is_none());
    let r = record(alias.id, "opposition_messagerie").await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("accueil anonyme"));
    assert!(
        app.db
            .store
            .dmp_consent(&t, alias.id)
            .await
            .unwrap()
            .is_empty()
    );
    let journal = journal_details(&app.db.store, &t, "dmp.information").await;
    assert!(
        journal
            .iter()
            .any(|d| d == "Opposition aux messages dans sa messagerie Mon espace santé levée"),
        "{journal:?}"
    );
}

both_backends!(readings_are_scheduled_once_per_slot_for_each_structure_with_a_mailbox);
async fn readings_are_scheduled_once_per_slot_for_each_structure_with_a_mailbox(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let enqueue = |slot| escale::services::mss::enqueue_readings(&db.store, slot);
    assert_eq!(enqueue(1).await.unwrap(), 0, "no mailbox, no reading");
    db.store
        .set_mss_mailbox(
            &f.directeur.tenant,
            Some("accueil@csapa.escale-demo.mssante.fr"),
            &[],
        )
        .await
        .unwrap();
    db.store
        .set_mss_mailbox(
            &f.other.tenant,
            Some("accueil@caarud.escale-demo.mssante.fr"),
            &[],
        )
        .await
        .unwrap();
    let mut readers = db.store.mss_readers().await.unwrap();
    readers.sort();
    let mut expected = vec![
        (f.csapa.id, f.directeur.professional.id),
        (f.caarud.id, f.other.professional.id),
    ];
    expected.sort();
    assert_eq!(readers, expected, "each structure read as its director");
    assert_eq!(enqueue(1).await.unwrap(), 2);
    assert_eq!(enqueue(1).await.unwrap(), 0, "once per slot");
    assert_eq!(enqueue(2).await.unwrap(), 2);
}
