//! Identity vigilance through HTTP: the real router, the real INSi client and
//! the INSi sandbox over mutual TLS, on both databases.

use reqwest::StatusCode;
use uuid::Uuid;

use escale::domain::identity::IdentityStatus;
use escale::domain::usager::{Contact, Identity, Sex, UsagerData};
use escale::sandbox::Behaviour;

use crate::common::app::{TestApp, login, spawn_app, spawn_with_config, test_config};
use crate::common::db::{Fixture, TestDb, seed_two_structures};

async fn setup(db: TestDb) -> (TestApp, Fixture) {
    let f = seed_two_structures(&db.store).await;
    (spawn_app(db).await, f)
}

/// Creates a file through the reception form; returns its id.
async fn create(app: &TestApp, c: &reqwest::Client, csrf: &str, fields: &[(&str, &str)]) -> Uuid {
    let mut form = vec![("_csrf", csrf)];
    form.extend_from_slice(fields);
    let r = c
        .post(app.url("/usagers"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "file created");
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    loc.trim_start_matches("/usagers/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

async fn post(
    app: &TestApp,
    c: &reqwest::Client,
    path: &str,
    csrf: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut form = vec![("_csrf", csrf)];
    form.extend_from_slice(fields);
    let r = c.post(app.url(path)).form(&form).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn get(app: &TestApp, c: &reqwest::Client, path: &str) -> String {
    c.get(app.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The `call_id` hidden field of the comparison page.
fn call_id(page: &str) -> String {
    crate::common::app::hidden_value(page, "call_id")
}

fn insi_requests(app: &TestApp) -> usize {
    app.sandboxes
        .insi
        .as_ref()
        .expect("INSi sandbox")
        .request_count()
}

async fn reception_qualifies_a_cnda_test_person(db: TestDb) {
    let (app, f) = setup(db).await;
    let c = app.client();
    let csrf = login(&app, &c, f.accueil.professional.id, f.csapa.id).await;
    let id = create(
        &app,
        &c,
        &csrf,
        &[
            ("birth_name", "Adrun"),
            ("first_names", "Zoé"),
            ("used_name", "Martin"),
            ("birth_date", "31/12/1975"),
            ("sex", "F"),
        ],
    )
    .await;
    let page = get(&app, &c, &format!("/usagers/{id}")).await;
    assert!(page.contains("Identité provisoire") && page.contains("Rechercher l'INS"));
    assert!(!page.contains("2 75 12 63 220 749 74"));

    let (status, page) = post(&app, &c, &format!("/usagers/{id}/insi"), &csrf, &[]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("INS-NIR 2 75 12 63 220 749 74"), "{page}");
    assert!(page.contains("63220"), "returned birth place shown");
    assert!(
        page.contains("complété par l'INS"),
        "local birth place missing: flagged as completed by the INS"
    );
    let call = call_id(&page);
    // Not yet integrated: nothing changes before the operator confirms.
    let t = &f.accueil.tenant;
    let u = app.db.store.get_usager(t, id).await.unwrap().unwrap();
    assert_eq!(u.vigilance.status(), IdentityStatus::Prov);

    let (status, _) = post(
        &app,
        &c,
        &format!("/usagers/{id}/insi/confirmation"),
        &csrf,
        &[("call_id", &call), ("decision", "meme")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let u = app.db.store.get_usager(t, id).await.unwrap().unwrap();
    assert_eq!(u.vigilance.status(), IdentityStatus::Recup);
    match &u.data.identity {
        Identity::Traits {
            birth_name,
            used_name,
            birth_place_code,
            ..
        } => {
            assert_eq!(birth_name, "ADRUN");
            assert_eq!(used_name.as_deref(), Some("Martin"), "used name kept");
            assert_eq!(birth_place_code.as_deref(), Some("63220"), "INS traits");
        }
        other => panic!("{other:?}"),
    }
    let page = get(&app, &c, &format!("/usagers/{id}")).await;
    assert!(page.contains("Identité récupérée"));
    assert!(
        !page.contains("2 75 12 63 220 749 74"),
        "the INS is shown only once qualified"
    );

    // A document outside the structure's list is refused; a passport qualifies.
    let (status, page) = post(
        &app,
        &c,
        &format!("/usagers/{id}/piece"),
        &csrf,
        &[("kind", "IN")],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    let (status, _) = post(
        &app,
        &c,
        &format!("/usagers/{id}/piece"),
        &csrf,
        &[("kind", "PA")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let page = get(&app, &c, &format!("/usagers/{id}")).await;
    assert!(page.contains("Identité qualifiée"), "{page}");
    assert!(page.contains("INS-NIR") && page.contains("2 75 12 63 220 749 74"));
    assert!(page.contains("Passeport"));
    assert!(page.contains("INS à scanner"));
    let r = c
        .get(app.url(&format!("/usagers/{id}/ins-datamatrix.svg")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    assert!(r.text().await.unwrap().starts_with("<svg"));

    // Strict traits of a qualified identity are not edited directly.
    let (status, page) = post(
        &app,
        &c,
        &format!("/usagers/{id}"),
        &csrf,
        &[
            ("birth_name", "ADRUNE"),
            ("first_names", "ZOE"),
            ("birth_date", "1975-12-31"),
            ("sex", "F"),
            ("birth_place_code", "63220"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("Signalez un doute") && page.contains("value=\"ADRUNE\""));

    // A doubt downgrades to PROV and hides the INS.
    let (status, _) = post(
        &app,
        &c,
        &format!("/usagers/{id}/doute"),
        &csrf,
        &[("action", "signaler")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let page = get(&app, &c, &format!("/usagers/{id}")).await;
    assert!(page.contains("Identité provisoire") && page.contains("Identité douteuse"));
    assert!(!page.contains("INS à scanner"));
    let r = c
        .get(app.url(&format!("/usagers/{id}/ins-datamatrix.svg")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "no DataMatrix while doubtful"
    );
    assert!(!page.contains("2 75 12 63 220 749 74"));
    let (status, page) = post(&app, &c, &format!("/usagers/{id}/insi"), &csrf, &[]).await;
    assert_eq!(status, StatusCode::CONFLICT, "no INSi while doubtful");
    assert!(page.contains("levez d'abord le doute"));

    // Every call and decision is in the journal; the calls are kept whole.
    let calls = app.db.store.insi_calls(t, id).await.unwrap();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].request_xml.contains("<") && calls[0].request_xml.contains("ADRUN"));
    assert!(
        calls[0]
            .response_xml
            .as_deref()
            .unwrap()
            .contains("2751263220749")
    );
    let journal = get(&app, &c, "/journal").await;
    let _ = journal;
    let chain = escale::store::AuditChain::Structure(f.csapa.id);
    let entries = app.db.store.audit_chain(chain, 0, 1000).await.unwrap();
    for action in [
        "insi.appel",
        "identite.insi_confirmee",
        "identite.piece_verifiee",
        "identite.attribut",
    ] {
        assert!(
            entries
                .iter()
                .any(|e| e.action == action && e.usager_id == Some(id)),
            "{action} audited"
        );
    }
}
both_backends!(reception_qualifies_a_cnda_test_person);

async fn anonymous_users_never_reach_insi(db: TestDb) {
    let (app, f) = setup(db).await;
    let c = app.client();
    let csrf = login(&app, &c, f.medecin.professional.id, f.csapa.id).await;
    let anon = create(
        &app,
        &c,
        &csrf,
        &[("anonymous", "on"), ("alias", "Le Marin"), ("sex", "M")],
    )
    .await;
    let real = create(
        &app,
        &c,
        &csrf,
        &[
            ("birth_name", "ADRUN"),
            ("first_names", "ZOE"),
            ("birth_date", "1975-12-31"),
            ("sex", "F"),
        ],
    )
    .await;
    let page = get(&app, &c, &format!("/usagers/{anon}")).await;
    assert!(page.contains("Identité fictive") && !page.contains("Rechercher l'INS"));
    // A real file's INSi answer, replayed on the anonymous file.
    let (_, real_page) = post(&app, &c, &format!("/usagers/{real}/insi"), &csrf, &[]).await;
    let call = call_id(&real_page);
    let before = insi_requests(&app);
    for (path, fields) in [
        (format!("/usagers/{anon}/insi"), vec![]),
        (
            format!("/usagers/{anon}/insi/confirmation"),
            vec![("call_id", call.as_str()), ("decision", "meme")],
        ),
        (format!("/usagers/{anon}/piece"), vec![("kind", "PA")]),
        (
            format!("/usagers/{anon}/homonyme"),
            vec![("homonyme", "oui")],
        ),
        (
            format!("/usagers/{anon}/doute"),
            vec![("action", "signaler")],
        ),
    ] {
        let (status, page) = post(&app, &c, &path, &csrf, &fields).await;
        assert_eq!(status, StatusCode::CONFLICT, "{path}");
        assert!(page.contains("identité fictive"), "{path}: {page}");
    }
    // Turning the file into an identified one through the edit form is ignored.
    let (status, _) = post(
        &app,
        &c,
        &format!("/usagers/{anon}"),
        &csrf,
        &[
            ("alias", "Le Marin"),
            ("birth_name", "ADRUN"),
            ("first_names", "ZOE"),
            ("birth_date", "1975-12-31"),
            ("sex", "F"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = post(&app, &c, &format!("/usagers/{anon}/insi"), &csrf, &[]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        insi_requests(&app),
        before,
        "INSi never called for the alias"
    );
    let r = c
        .get(app.url(&format!("/usagers/{anon}/ins-datamatrix.svg")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "no DataMatrix for an alias"
    );
    let u = app
        .db
        .store
        .get_usager(&f.medecin.tenant, anon)
        .await
        .unwrap()
        .unwrap();
    assert!(u.vigilance.is_fictitious() && u.vigilance.ins().is_none());
    assert!(
        app.db
            .store
            .insi_calls(&f.medecin.tenant, anon)
            .await
            .unwrap()
            .is_empty()
    );

    // Lifting anonymity: the request, then a decision linking to the real file.
    let (status, _) = post(
        &app,
        &c,
        &format!("/usagers/{anon}/anonymat/levee"),
        &csrf,
        &[("real", &format!("http://x/usagers/{real}"))],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "no request recorded yet");
    let (status, _) = post(
        &app,
        &c,
        &format!("/usagers/{anon}/anonymat/demande"),
        &csrf,
        &[("requested_on", "2026-11-20")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = post(
        &app,
        &c,
        &format!("/usagers/{anon}/anonymat/levee"),
        &csrf,
        &[("real", &format!("http://x/usagers/{real}"))],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let page = get(&app, &c, &format!("/usagers/{anon}")).await;
    assert!(page.contains("20/11/2026") && page.contains(&format!("/usagers/{real}")));
    let u = app
        .db
        .store
        .get_usager(&f.medecin.tenant, anon)
        .await
        .unwrap()
        .unwrap();
    assert!(
        u.vigilance.is_fictitious(),
        "the pseudonym is never promoted"
    );
}
both_backends!(anonymous_users_never_reach_insi);

async fn who_qualifies_is_the_structures_choice(db: TestDb) {
    let (app, f) = setup(db).await;
    let social = app.client();
    let csrf = login(&app, &social, f.social.professional.id, f.csapa.id).await;
    let id = create(
        &app,
        &social,
        &csrf,
        &[
            ("birth_name", "ADRDEUX"),
            ("first_names", "LAURENT"),
            ("birth_date", "1981-01-01"),
            ("sex", "M"),
        ],
    )
    .await;
    let page = get(&app, &social, &format!("/usagers/{id}")).await;
    assert!(!page.contains("Rechercher l'INS"));
    let (status, _) = post(&app, &social, &format!("/usagers/{id}/insi"), &csrf, &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(insi_requests(&app), 0);
    // The director allows social workers to qualify.
    let director = app.client();
    let dcsrf = login(&app, &director, f.directeur.professional.id, f.csapa.id).await;
    let (status, _) = post(
        &app,
        &director,
        "/structure/parametres",
        &dcsrf,
        &[
            ("medical_roles", "infirmier"),
            ("qualifier_roles", "accueil"),
            ("qualifier_roles", "travailleur_social"),
            ("identity_documents", "PA"),
            ("identity_documents", "CN"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, page) = post(&app, &social, &format!("/usagers/{id}/insi"), &csrf, &[]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("INS-NIR 1 81 01 63 220 751 40"), "{page}");
    // Others still cannot (the doctor is no longer in the list).
    let doctor = app.client();
    let mcsrf = login(&app, &doctor, f.medecin.professional.id, f.csapa.id).await;
    let (status, _) = post(&app, &doctor, &format!("/usagers/{id}/insi"), &mcsrf, &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A director cannot leave the structure without anyone to qualify.
    let (status, page) = post(
        &app,
        &director,
        "/structure/parametres",
        &dcsrf,
        &[("identity_documents", "PA")],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    let s = app
        .db
        .store
        .get_structure(f.csapa.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.identity_documents, vec!["PA", "CN"]);
}
both_backends!(who_qualifies_is_the_structures_choice);

async fn insi_trouble_loses_nothing(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let mut config = test_config(&db, escale::config::Mode::Sandbox);
    config.insi.timeout_seconds = 1;
    let app = spawn_with_config(db, config).await;
    let c = app.client();
    let csrf = login(&app, &c, f.accueil.professional.id, f.csapa.id).await;
    // Typed with a ligature and a typographic apostrophe (CNDA 2.03 cas 3), stored
    // as typed through the store: refused before any call.
    let t = &f.accueil.tenant;
    let raw = app
        .db
        .store
        .create_usager(
            t,
            &UsagerData {
                identity: Identity::Traits {
                    birth_name: "D’ÆION".into(),
                    first_names: "CŒUR".into(),
                    used_name: None,
                    used_first_name: None,
                    birth_date: chrono::NaiveDate::from_ymd_opt(1987, 1, 1).unwrap(),
                    sex: Sex::M,
                    birth_place_code: Some("2B020".into()),
                },
                contact: Contact::default(),
            },
            &[],
        )
        .await
        .unwrap();
    let (status, page) = post(&app, &c, &format!("/usagers/{}/insi", raw.id), &csrf, &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("aucun appel n'a été fait") && page.contains("Æ"),
        "{page}"
    );
    assert_eq!(insi_requests(&app), 0, "INSi not called");

    let id = create(
        &app,
        &c,
        &csrf,
        &[
            ("birth_name", "TCHITCHI"),
            ("first_names", "OLA CATARINA BELLA"),
            ("birth_date", "1936-06-21"),
            ("sex", "F"),
        ],
    )
    .await;
    // Slow beyond the timeout: a French message, one call, the identity unchanged.
    let sandbox = app.sandboxes.insi.as_ref().unwrap();
    sandbox.set_behaviour(Behaviour::Slow(std::time::Duration::from_secs(3)));
    let (status, page) = post(&app, &c, &format!("/usagers/{id}/insi"), &csrf, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("n'a pas répondu à temps"), "{page}");
    assert!(page.contains("rien n'est perdu"));
    // Down: the same.
    sandbox.set_behaviour(Behaviour::Down);
    let (_, page) = post(&app, &c, &format!("/usagers/{id}/insi"), &csrf, &[]).await;
    assert!(page.contains("rien n'est perdu"), "{page}");
    // A SOAP fault for an unknown authorisation number names the setting to fix.
    sandbox.set_behaviour(Behaviour::Fault(escale::sandbox::FaultKind::IdamUnknown));
    let (_, page) = post(&app, &c, &format!("/usagers/{id}/insi"), &csrf, &[]).await;
    assert!(page.contains("IDAM"), "{page}");
    let calls = app.db.store.insi_calls(t, id).await.unwrap();
    assert_eq!(calls.len(), 3, "each failed call is kept, no retry storm");
    assert!(calls.iter().all(|c| c.outcome.starts_with("échec")));
    // Back to normal: the strategy tries OLA (01), then CATARINA (00).
    sandbox.set_behaviour(Behaviour::Normal);
    let (status, page) = post(&app, &c, &format!("/usagers/{id}/insi"), &csrf, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("prénom OLA") && page.contains("prénom CATARINA"),
        "{page}"
    );
    assert!(page.contains("CATARINA BELLA") && page.contains("différent"));
    let u = app.db.store.get_usager(t, id).await.unwrap().unwrap();
    assert_eq!(u.vigilance.status(), IdentityStatus::Prov);
    match &u.data.identity {
        Identity::Traits { first_names, .. } => assert_eq!(first_names, "OLA CATARINA BELLA"),
        other => panic!("{other:?}"),
    }
    // « Not the same person » integrates nothing and may record a doubt.
    let call = call_id(&page);
    let (status, _) = post(
        &app,
        &c,
        &format!("/usagers/{id}/insi/confirmation"),
        &csrf,
        &[("call_id", &call), ("decision", "autre"), ("doute", "oui")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let u = app.db.store.get_usager(t, id).await.unwrap().unwrap();
    assert!(u.vigilance.attributes().dout && u.vigilance.ins().is_none());
}
both_backends!(insi_trouble_loses_nothing);

async fn another_structure_cannot_touch_the_identity(db: TestDb) {
    let (app, f) = setup(db).await;
    let c = app.client();
    let csrf = login(&app, &c, f.accueil.professional.id, f.csapa.id).await;
    let id = create(
        &app,
        &c,
        &csrf,
        &[
            ("birth_name", "ADRUN"),
            ("first_names", "ZOE"),
            ("birth_date", "1975-12-31"),
            ("sex", "F"),
        ],
    )
    .await;
    let other = app.client();
    let ocsrf = login(&app, &other, f.other.professional.id, f.caarud.id).await;
    for path in ["insi", "piece", "doute", "homonyme", "anonymat/demande"] {
        let (status, _) = post(
            &app,
            &other,
            &format!("/usagers/{id}/{path}"),
            &ocsrf,
            &[("kind", "PA")],
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(insi_requests(&app), 0);
    let r = other
        .get(app.url(&format!("/usagers/{id}/ins-datamatrix.svg")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
both_backends!(another_structure_cannot_touch_the_identity);

async fn anteriority_search_and_bad_input(db: TestDb) {
    let (app, f) = setup(db).await;
    let c = app.client();
    let csrf = login(&app, &c, f.accueil.professional.id, f.csapa.id).await;
    let zoe = create(
        &app,
        &c,
        &csrf,
        &[
            ("birth_name", "ADRUN"),
            ("first_names", "ZOE"),
            ("birth_date", "1975-12-31"),
            ("sex", "F"),
        ],
    )
    .await;
    // Birth date first, then the first letters, in separate fields.
    let page = get(
        &app,
        &c,
        "/usagers/nouveau?ant_date=31%2F12%2F1975&ant_nom=Adr&ant_prenom=zo",
    )
    .await;
    assert!(
        page.contains(&format!("/usagers/{zoe}")),
        "existing file proposed"
    );
    assert!(page.contains("pourrai(en)t correspondre"));
    let page = get(
        &app,
        &c,
        "/usagers/nouveau?ant_date=01%2F01%2F1980&ant_nom=Adr",
    )
    .await;
    assert!(!page.contains(&format!("/usagers/{zoe}")));
    assert!(
        page.contains("Aucun dossier existant") && page.contains("value=\"Adr\""),
        "prefilled"
    );
    let page = get(&app, &c, "/usagers/nouveau?ant_date=31%2F13%2F1975").await;
    assert!(page.contains("date invalide"));

    // An unknown birth-place format: a French message, nothing lost.
    let (status, page) = post(
        &app,
        &c,
        "/usagers",
        &csrf,
        &[
            ("birth_name", "DE VINCI"),
            ("first_names", "LEONARDO"),
            ("birth_date", "2014-02-01"),
            ("sex", "M"),
            ("birth_place_code", "VINCI"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("code du lieu de naissance invalide") && page.contains("value=\"DE VINCI\"")
    );
    // A 02 answer has no candidate: a French message, the identity unchanged.
    let leo = create(
        &app,
        &c,
        &csrf,
        &[
            ("birth_name", "DE VINCI"),
            ("first_names", "LEONARDO"),
            ("birth_date", "2014-02-01"),
            ("sex", "M"),
        ],
    )
    .await;
    let (status, page) = post(&app, &c, &format!("/usagers/{leo}/insi"), &csrf, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Plusieurs identités correspondent (02)"),
        "{page}"
    );
    assert!(!page.contains("call_id"), "nothing to confirm");
    let u = app
        .db
        .store
        .get_usager(&f.accueil.tenant, leo)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.vigilance.status(), IdentityStatus::Prov);
    // With the birth place the strategy resolves it (CNDA 2.06).
    let (status, _) = post(
        &app,
        &c,
        &format!("/usagers/{leo}"),
        &csrf,
        &[
            ("birth_name", "DE VINCI"),
            ("first_names", "LEONARDO"),
            ("birth_date", "2014-02-01"),
            ("sex", "M"),
            ("birth_place_code", "63220"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = post(&app, &c, &format!("/usagers/{leo}/insi"), &csrf, &[]).await;
    assert!(
        page.contains("avec le lieu de naissance") && page.contains("call_id"),
        "{page}"
    );
}
both_backends!(anteriority_search_and_bad_input);

/// The beneficiary chosen on the Carte Vitale queries INSi by card
/// (`rechercherInsAvecCarteVitale`): same comparison and confirmation as a
/// traits search; an anonymous file never reaches INSi this way either.
async fn carte_vitale_search_through_the_sandbox(db: TestDb) {
    let (app, f) = setup(db).await;
    let c = app.client();
    let csrf = login(&app, &c, f.accueil.professional.id, f.csapa.id).await;
    let id = create(
        &app,
        &c,
        &csrf,
        &[
            ("birth_name", "Adrun"),
            ("first_names", "Zoé"),
            ("birth_date", "31/12/1975"),
            ("sex", "F"),
        ],
    )
    .await;
    let page = get(&app, &c, &format!("/usagers/{id}")).await;
    assert!(page.contains("data-vitale-read") && page.contains("/static/vitale.js"));
    // The widget hands the card agent a session token signed with the key the
    // sandbox shares with it, for two hours at most (issue 11, finding 8).
    let marker = "data-jeton=\"";
    let start = page.find(marker).expect("the widget has a token") + marker.len();
    let token = &page[start..start + page[start..].find('"').unwrap()];
    let key = app.card_agent_key();
    let now = chrono::Utc::now().timestamp();
    assert!(key.verify(token, now).is_ok());
    assert_eq!(
        key.verify(token, now + 2 * 3600 + 1),
        Err(escale_agent::token::TokenError::Expired)
    );
    let before = insi_requests(&app);
    let path = format!("/usagers/{id}/insi/vitale");
    let (status, page) = post(
        &app,
        &c,
        &path,
        &csrf,
        &[
            ("nir", "275126322074974"),
            ("nom", "ADRUN"),
            ("date_naissance", "1975-12-31"),
            ("rang", "1"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("INS-NIR 2 75 12 63 220 749 74"), "{page}");
    assert_eq!(insi_requests(&app), before + 1);
    let t = &f.accueil.tenant;
    let calls = app.db.store.insi_calls(t, id).await.unwrap();
    let last = calls.last().unwrap();
    assert_eq!(last.step, "carte Vitale");
    assert!(last.request_xml.contains("rechercherInsAvecCarteVitale"));
    crate::insi::assert_insi_request_valid(&last.request_xml);
    let (status, _) = post(
        &app,
        &c,
        &format!("/usagers/{id}/insi/confirmation"),
        &csrf,
        &[("call_id", &call_id(&page)), ("decision", "meme")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let u = app.db.store.get_usager(t, id).await.unwrap().unwrap();
    assert_eq!(
        u.vigilance.status(),
        IdentityStatus::Recup,
        "the card is a key, not a proof: RECUP, not QUAL"
    );
    // A lunar date read on a card reaches INSi as such (DateLunaire).
    let (status, _) = post(
        &app,
        &c,
        &path,
        &csrf,
        &[("nir", "1800175123456"), ("date_naissance", "19800000")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let calls = app.db.store.insi_calls(t, id).await.unwrap();
    assert!(calls.last().unwrap().request_xml.contains("1980-00-00"));
    crate::insi::assert_insi_request_valid(&calls.last().unwrap().request_xml);
    // Unknown beneficiary: 01, nothing integrated. Unreadable number: 400, no call.
    let (status, page) = post(
        &app,
        &c,
        &path,
        &csrf,
        &[("nir", "1800175123456"), ("date_naissance", "1980-01-01")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("pas trouvé une identité unique"), "{page}");
    let n = insi_requests(&app);
    let (status, page) = post(&app, &c, &path, &csrf, &[("nir", "<script>")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert_eq!(insi_requests(&app), n);
    // Anonymity is absolute: a crafted card search on an anonymous file is refused before any call.
    let anon = create(&app, &c, &csrf, &[("anonymous", "on"), ("alias", "Zorro")]).await;
    let (status, page) = post(
        &app,
        &c,
        &format!("/usagers/{anon}/insi/vitale"),
        &csrf,
        &[("nir", "275126322074974"), ("date_naissance", "1975-12-31")],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert_eq!(insi_requests(&app), n);
}
both_backends!(carte_vitale_search_through_the_sandbox);
