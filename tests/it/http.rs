//! HTTP-level tests: the real router, real sessions, real cookies, on both databases.

use chrono::{Duration, Utc};
use escale::config::Mode;
use escale::store::{DynStore, UsagerQuery};
use reqwest::StatusCode;
use uuid::Uuid;

use crate::common::app::{
    TestApp, login, spawn_app, spawn_app_with, spawn_with_config, test_config,
};
use crate::common::db::TestDb;

/// Demo data: ids of people and structures by name.
struct Demo {
    csapa: Uuid,
    caarud: Uuid,
    doctor: Uuid,
    social: Uuid,
    reception: Uuid,
    director: Uuid,
    educator: Uuid,
    marie: Uuid,
    caarud_file: Uuid,
}

async fn demo(store: &DynStore) -> Demo {
    escale::sandbox::demo::seed(store.as_ref())
        .await
        .expect("seed");
    let choices = store.login_choices().await.unwrap();
    let pro = |last: &str| {
        choices
            .iter()
            .find(|c| c.professional.last_name == last)
            .expect(last)
            .professional
            .id
    };
    let structures = store.list_structures().await.unwrap();
    let structure = |finess: &str| {
        structures
            .iter()
            .find(|s| s.finess_geo == finess)
            .unwrap()
            .id
    };
    let (csapa, caarud) = (
        structure(escale::sandbox::demo::CSAPA_FINESS),
        structure(escale::sandbox::demo::CAARUD_FINESS),
    );
    let doctor_t = store
        .tenant_for(pro("Martin"), csapa)
        .await
        .unwrap()
        .unwrap();
    let educ_t = store
        .tenant_for(pro("Girard"), caarud)
        .await
        .unwrap()
        .unwrap();
    let find = |t: escale::domain::tenant::Tenant, name: &'static str| {
        let store = store.clone();
        async move {
            let q = UsagerQuery {
                terms: escale::domain::search::terms(name),
                birth_date: None,
                limit: 5,
            };
            store.search_usagers(&t, &q).await.unwrap()[0].id
        }
    };
    Demo {
        csapa,
        caarud,
        doctor: pro("Martin"),
        social: pro("Haddad"),
        reception: pro("Bernard"),
        director: pro("Roussel"),
        educator: pro("Girard"),
        marie: find(doctor_t, "durand").await,
        caarud_file: find(educ_t, "moreau").await,
    }
}

async fn setup(db: TestDb) -> (TestApp, Demo) {
    let d = demo(&db.store).await;
    (spawn_app(db).await, d)
}

/// The tenant context of a professional in a structure (both must exist).
async fn tenant(
    app: &TestApp,
    professional: Uuid,
    structure: Uuid,
) -> escale::domain::tenant::Tenant {
    app.db
        .store
        .tenant_for(professional, structure)
        .await
        .unwrap()
        .expect("a member of the structure")
}

async fn body(resp: reqwest::Response) -> (StatusCode, String) {
    let status = resp.status();
    (status, resp.text().await.unwrap())
}

async fn isolation_between_structures(db: TestDb) {
    let (app, d) = setup(db).await;
    let c = app.client();
    let csrf = login(&app, &c, d.doctor, d.csapa).await;
    // Another structure's file: 404, the same page as an id that exists nowhere.
    let (status, other) = body(
        c.get(app.url(&format!("/usagers/{}", d.caarud_file)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!other.contains("MOREAU"));
    let (_, random) = body(
        c.get(app.url(&format!("/usagers/{}", Uuid::new_v4())))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        other, random,
        "another structure's file must look like a file that does not exist"
    );
    // Not in search, not editable, no note can be added to it.
    let (_, list) = body(c.get(app.url("/usagers?q=moreau")).send().await.unwrap()).await;
    assert!(!list.contains("MOREAU"));
    for path in ["", "/modifier"] {
        let r = c
            .get(app.url(&format!("/usagers/{}{path}", d.caarud_file)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "GET {path}");
    }
    let posts = [
        (
            "",
            vec![
                ("_csrf", csrf.clone()),
                ("birth_name", "X".into()),
                ("first_names", "Y".into()),
                ("birth_date", "1990-01-01".into()),
                ("sex", "F".into()),
            ],
        ),
        (
            "/notes",
            vec![
                ("_csrf", csrf.clone()),
                ("confidentiality", "partagee".into()),
                ("body", "intrusion".into()),
            ],
        ),
        (
            "/activites",
            vec![
                ("_csrf", csrf.clone()),
                ("kind", "entretien".into()),
                ("date", "2026-01-02".into()),
            ],
        ),
        (
            "/prises-en-charge",
            vec![
                ("_csrf", csrf.clone()),
                ("kind", "ambulatoire".into()),
                ("start_date", "2026-01-02".into()),
            ],
        ),
    ];
    for (path, form) in posts {
        let r = c
            .post(app.url(&format!("/usagers/{}{path}", d.caarud_file)))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "POST {path}");
    }
    // The CAARUD's file is untouched and its journal holds no trace of the doctor.
    let educ = tenant(&app, d.educator, d.caarud).await;
    let u = app
        .db
        .store
        .get_usager(&educ, d.caarud_file)
        .await
        .unwrap()
        .unwrap();
    assert!(u.data.identity.display_name().contains("MOREAU"));
    assert!(
        app.db
            .store
            .notes(&educ, d.caarud_file)
            .await
            .unwrap()
            .is_empty()
    );
    let journal = app
        .db
        .store
        .audit_entries(
            &educ,
            &escale::store::AuditFilter {
                limit: 500,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(journal.iter().all(|e| e.actor_id != Some(d.doctor)));
    // The doctor's own journal records no opening of it either.
    let doc = tenant(&app, d.doctor, d.csapa).await;
    let mine = app
        .db
        .store
        .audit_entries(
            &doc,
            &escale::store::AuditFilter {
                usager_id: Some(d.caarud_file),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(mine.is_empty());
}
both_backends!(isolation_between_structures);

async fn medical_notes_only_for_health_professionals(db: TestDb) {
    let (app, d) = setup(db).await;
    let medical = "bilan hépatique";
    let social = app.client();
    let csrf = login(&app, &social, d.social, d.csapa).await;
    let (status, page) = body(
        social
            .get(app.url(&format!("/usagers/{}", d.marie)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Demande de logement"),
        "social note visible to the social worker"
    );
    assert!(
        !page.contains(medical),
        "medical note hidden from the social worker"
    );
    assert!(
        !page.contains("value=\"medicale\""),
        "no medical class offered to write"
    );
    // A crafted request for a medical note is refused and stores nothing.
    let r = social
        .post(app.url(&format!("/usagers/{}/notes", d.marie)))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("confidentiality", "medicale"),
            ("body", "tentative"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (_, page) = body(r).await;
    assert!(page.contains("vos rôles ne permettent pas"));
    let doctor = app.client();
    login(&app, &doctor, d.doctor, d.csapa).await;
    let (_, page) = body(
        doctor
            .get(app.url(&format!("/usagers/{}", d.marie)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(page.contains(medical), "the doctor reads the medical note");
    assert!(!page.contains("tentative"));
    // Reception reads shared notes only.
    let reception = app.client();
    login(&app, &reception, d.reception, d.csapa).await;
    let (_, page) = body(
        reception
            .get(app.url(&format!("/usagers/{}", d.marie)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(page.contains("Préfère être appelée le matin"));
    assert!(!page.contains(medical) && !page.contains("Demande de logement"));
}
both_backends!(medical_notes_only_for_health_professionals);

async fn csrf_is_required_on_every_state_change(db: TestDb) {
    let (app, d) = setup(db).await;
    let c = app.client();
    let csrf = login(&app, &c, d.doctor, d.csapa).await;
    fn form(token: Option<&str>) -> Vec<(&'static str, String)> {
        let mut f: Vec<(&'static str, String)> = vec![
            ("birth_name", "CSRF"),
            ("first_names", "Test"),
            ("birth_date", "1990-01-01"),
            ("sex", "M"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect();
        if let Some(t) = token {
            f.push(("_csrf", t.to_string()));
        }
        f
    }
    let r = c
        .post(app.url("/usagers"))
        .form(&form(None))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no token");
    assert!(r.text().await.unwrap().contains("Formulaire expiré"));
    let r = c
        .post(app.url("/usagers"))
        .form(&form(Some("faux-jeton")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "wrong token");
    let r = c
        .post(app.url("/usagers"))
        .header("Origin", "https://evil.example")
        .form(&form(Some(&csrf)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "cross-origin");
    let r = c
        .post(app.url("/usagers"))
        .header("Sec-Fetch-Site", "cross-site")
        .form(&form(Some(&csrf)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "cross-site fetch");
    let r = c.post(app.url("/deconnexion")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "logout without token");
    // Nothing was created by the refused requests.
    let t = tenant(&app, d.doctor, d.csapa).await;
    let q = UsagerQuery {
        terms: vec!["CSRF".into()],
        birth_date: None,
        limit: 5,
    };
    assert!(
        app.db
            .store
            .search_usagers(&t, &q)
            .await
            .unwrap()
            .is_empty()
    );
    // The right token (form field, or htmx header) works.
    let r = c
        .post(app.url("/usagers"))
        .header("Origin", app.url(""))
        .form(&form(Some(&csrf)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // The same person again: the duplicate warning (409) keeps what was
    // typed; creating anyway is one more click.
    let r = c
        .post(app.url("/usagers"))
        .header("X-CSRF-Token", &csrf)
        .header("HX-Request", "true")
        .form(&form(None))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let page = r.text().await.unwrap();
    assert!(page.contains("Doublon possible"), "{page}");
    assert!(page.contains(r#"name="doublons_vus""#));
    assert!(page.contains(r#"value="CSRF""#));
    let mut again = form(None);
    again.push((
        "doublons_vus",
        crate::common::app::hidden_value(&page, "doublons_vus"),
    ));
    let r = c
        .post(app.url("/usagers"))
        .header("X-CSRF-Token", &csrf)
        .header("HX-Request", "true")
        .form(&again)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // The forms shown before login need their pre-session token too.
    let fresh = app.client();
    let r = fresh
        .post(app.url("/auth/psc/structure"))
        .form(&[
            ("choix", "x".to_string()),
            ("structure_id", d.csapa.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
both_backends!(csrf_is_required_on_every_state_change);

async fn sandbox_login_does_not_exist_in_production(db: TestDb) {
    let d = demo(&db.store).await;
    let app = spawn_app_with(db, Mode::Production).await;
    let c = app.client();
    let (status, page) = body(c.get(app.url("/connexion")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Pro Santé Connect"));
    assert!(
        !page.contains("Claire Martin") && !page.contains("/connexion/demo"),
        "no demo professionals listed"
    );
    assert!(!page.contains("Bac à sable"));
    // Without PSC settings, production has no login provider at all (no sandbox).
    assert!(page.contains("pas encore configuré"), "{page}");
    let (status, page) = body(c.get(app.url("/auth/psc/login")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.contains("administrateur"), "{page}");
    let r = c
        .post(app.url("/connexion/demo"))
        .header(
            "Cookie",
            "escale_csrf=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        )
        .form(&[
            ("_csrf", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            ("professional_id", &d.doctor.to_string()),
            ("structure_id", &d.csapa.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.headers().get("set-cookie").is_none(), "no session opened");
    let r = c.get(app.url("/usagers")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}
both_backends!(sandbox_login_does_not_exist_in_production);

async fn bad_input_gets_french_messages_and_loses_nothing(db: TestDb) {
    let (app, d) = setup(db).await;
    let c = app.client();
    let csrf = login(&app, &c, d.doctor, d.csapa).await;
    // Absurd dates: 422, a French message, what was typed is still there.
    for (date, msg) in [
        ("", "obligatoire"),
        ("2999-01-01", "futur"),
        ("1850-06-01", "1900"),
        ("31/02/1990", "invalide"),
        ("n'importe quoi", "invalide"),
    ] {
        let r = c
            .post(app.url("/usagers"))
            .form(&[
                ("_csrf", csrf.as_str()),
                ("birth_name", "Gardé"),
                ("first_names", "Prénom Conservé"),
                ("birth_date", date),
                ("sex", "F"),
                ("phone", "06 12 34 56 78"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{date}");
        let page = r.text().await.unwrap();
        assert!(page.contains(msg), "{date}: {msg}");
        assert!(
            page.contains("value=\"Gardé\"")
                && page.contains("value=\"Prénom Conservé\"")
                && page.contains("06 12 34 56 78"),
            "typed values kept"
        );
    }
    // Hostile names are stored (upper case, the INS format) and shown escaped.
    let hostile = "<script>alert('x')</script> O'Brien\"; DROP TABLE usagers;-- 🌈";
    let r = c
        .post(app.url("/usagers"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("birth_name", hostile),
            ("first_names", "Zoé"),
            ("birth_date", "1990-05-17"),
            ("sex", "F"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let page = c
        .get(app.url(&location))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.to_lowercase().contains("<script>alert"), "escaped");
    let shown = escale::domain::lexical::normalise_capture(hostile)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    assert!(page.contains(&shown), "{shown}");
    // A 300-character name and control characters: refused with a message.
    for bad in ["a".repeat(300), "Nom\u{0}Nul".to_string()] {
        let r = c
            .post(app.url("/usagers"))
            .form(&[
                ("_csrf", csrf.as_str()),
                ("birth_name", bad.as_str()),
                ("first_names", "X"),
                ("birth_date", "1990-05-17"),
                ("sex", "F"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    // A 10 MB form: 413 with a French page, never a 500.
    let big = "x".repeat(10 * 1024 * 1024);
    let r = c
        .post(app.url("/usagers"))
        .form(&[("_csrf", csrf.as_str()), ("birth_name", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.text().await.unwrap().contains("trop volumineux"));
    let big_note = "y".repeat(10 * 1024 * 1024);
    let r = c
        .post(app.url(&format!("/usagers/{}/notes", d.marie)))
        .header("X-CSRF-Token", &csrf)
        .form(&[("body", big_note.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Unknown or malformed ids in URLs: 404.
    for path in [
        format!("/usagers/{}", Uuid::new_v4()),
        "/usagers/abc".to_string(),
        "/usagers/1%27%20OR%201=1--".to_string(),
        format!("/usagers/{}/modifier", Uuid::new_v4()),
        "/structures/00000000-0000-0000-0000-000000000000".to_string(),
        "/../../etc/passwd".to_string(),
    ] {
        let r = c.get(app.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(r.text().await.unwrap().contains("Page introuvable"));
    }
    let r = c
        .post(app.url(&format!(
            "/usagers/{}/prises-en-charge/pas-un-id/cloture",
            d.marie
        )))
        .form(&[("_csrf", csrf.as_str()), ("end_date", "2026-01-01")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // A failed edit keeps the saved file as it was.
    let t = tenant(&app, d.doctor, d.csapa).await;
    let before = app.db.store.get_usager(&t, d.marie).await.unwrap().unwrap();
    let r = c
        .post(app.url(&format!("/usagers/{}", d.marie)))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("birth_name", ""),
            ("first_names", "Marie"),
            ("birth_date", "2999-01-01"),
            ("sex", "F"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.db.store.get_usager(&t, d.marie).await.unwrap().unwrap(),
        before
    );
    // Bad activity and note input: 422, the rest of the file still shown.
    let r = c
        .post(app.url(&format!("/usagers/{}/activites", d.marie)))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("kind", "entretien"),
            ("date", "1800-01-01"),
            ("duration", "-5"),
            ("comment", "gardé"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("plausible") && page.contains("minutes") && page.contains("value=\"gardé\"")
    );
    let r = c
        .post(app.url(&format!("/usagers/{}/notes", d.marie)))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("confidentiality", "partagee"),
            ("body", "   "),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A form with a missing or wrong-typed field is a 4xx, not a 500.
    let r = c
        .post(app.url("/auth/psc/structure"))
        .form(&[("_csrf", csrf.as_str()), ("choix", "x")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
}
both_backends!(bad_input_gets_french_messages_and_loses_nothing);

async fn a_file_is_created_searched_edited_and_every_access_audited(db: TestDb) {
    let (app, d) = setup(db).await;
    let c = app.client();
    let csrf = login(&app, &c, d.reception, d.csapa).await;
    let r = c
        .post(app.url("/usagers"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("birth_name", "Lefèvre"),
            ("first_names", "Éloïse Anne"),
            ("used_name", "Martin-Lefèvre"),
            ("birth_date", "03/04/1975"),
            ("sex", "F"),
            ("birth_place_code", "2a004"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let id: Uuid = r.headers()["location"]
        .to_str()
        .unwrap()
        .trim_start_matches("/usagers/")
        .trim_end_matches("?traits=format-ins")
        .parse()
        .unwrap();
    // Partial, accent- and case-insensitive search, by birth name, used name, first name, birth date.
    for q in [
        "/usagers?q=lefev",
        "/usagers?q=ELOISE",
        "/usagers?q=martin-lef",
        "/usagers?q=eloise+lefevre",
        "/usagers?date=03%2F04%2F1975",
        "/usagers?date=1975-04-03&q=anne",
    ] {
        let page = c
            .get(app.url(q))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains(&format!("/usagers/{id}")), "{q}");
    }
    let page = c
        .get(app.url("/usagers?q=zzzz"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains(&format!("/usagers/{id}")));
    let page = c
        .get(app.url("/usagers?date=32%2F13%2F2000"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("date invalide"));
    // Anonymous users are found by their alias.
    let page = c
        .get(app.url("/usagers?q=zebu"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Zébulon (anonyme)"));
    // Edit, episode, activity with participants, note.
    let r = c
        .post(app.url(&format!("/usagers/{id}")))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("birth_name", "LEFÈVRE"),
            ("first_names", "Éloïse Anne"),
            ("birth_date", "1975-04-03"),
            ("sex", "F"),
            ("phone", "05 59 00 00 00"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = c
        .post(app.url(&format!("/usagers/{id}/prises-en-charge")))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("kind", "ambulatoire"),
            ("start_date", "2026-01-05"),
            ("referent_id", &d.social.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = c
        .post(app.url(&format!("/usagers/{id}/activites")))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("kind", "entretien"),
            ("date", "2026-01-05"),
            ("duration", "45"),
            ("participants", &d.social.to_string()),
            ("participants", &d.reception.to_string()),
            ("comment", "Premier accueil"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = c
        .post(app.url(&format!("/usagers/{id}/notes")))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("confidentiality", "partagee"),
            ("body", "Vient le mardi.\nAvec son chien."),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = c
        .get(app.url(&format!("/usagers/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "LEFEVRE",
        "05 59 00 00 00",
        "Ambulatoire",
        "Karim Haddad",
        "Lucie Bernard",
        "Premier accueil",
        "Vient le mardi.\nAvec son chien.",
        "45 min",
    ] {
        assert!(page.contains(expected), "{expected}");
    }
    // Close the episode: a date before its start is refused, a later one accepted.
    let t = tenant(&app, d.reception, d.csapa).await;
    let ep = app.db.store.episodes(&t, id).await.unwrap()[0].id;
    let r = c
        .post(app.url(&format!("/usagers/{id}/prises-en-charge/{ep}/cloture")))
        .form(&[("_csrf", csrf.as_str()), ("end_date", "2025-12-31")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = c
        .post(app.url(&format!("/usagers/{id}/prises-en-charge/{ep}/cloture")))
        .form(&[("_csrf", csrf.as_str()), ("end_date", "2026-02-01")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // The journal: reception may not read it, the director may, and sees every step.
    let r = c.get(app.url("/journal")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let dir = app.client();
    login(&app, &dir, d.director, d.csapa).await;
    let page = dir
        .get(app.url(&format!("/journal?usager={id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for label in [
        "Création d'un dossier",
        "Ouverture d'un dossier",
        "Modification d'un dossier",
        "Ajout d'une prise en charge",
        "Modification d'une prise en charge",
        "Ajout d'une activité",
        "Ajout d'une note",
    ] {
        assert!(page.contains(label), "{label}");
    }
    let page = dir
        .get(app.url("/journal?action=connexion"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Lucie Bernard") && page.contains("Connexion"));
    let page = dir
        .get(app.url("/journal/verification"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Journal intègre"));
    let v = escale::services::audit::verify_chain(
        app.db.store.as_ref(),
        escale::store::AuditChain::Structure(d.csapa),
    )
    .await
    .unwrap();
    assert!(v.first_break.is_none() && v.checked > 10);
}
both_backends!(a_file_is_created_searched_edited_and_every_access_audited);

async fn sessions_expire_and_logout_ends_them(db: TestDb) {
    let d = demo(&db.store).await;
    let app = spawn_app(db).await;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let c = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Not logged in: every page leads to the login page; htmx gets HX-Redirect.
    let r = c.get(app.url("/usagers")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/connexion");
    let r = c
        .get(app.url("/usagers"))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["hx-redirect"], "/connexion");
    // The login sets a HttpOnly, SameSite cookie.
    let doctor = app
        .db
        .store
        .get_professional(d.doctor)
        .await
        .unwrap()
        .unwrap();
    let id_nat = crate::common::app::register_with_psc(&app, &doctor);
    let r = crate::common::app::psc_callback(&app, &c, &id_nat, "carte").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set_cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("escale_session="))
        .expect("a session cookie");
    assert!(
        set_cookie.starts_with("escale_session=")
            && set_cookie.contains("HttpOnly")
            && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    assert!(!set_cookie.contains("Secure"), "plain HTTP in tests");
    // A structure choice that was never offered to this browser is refused.
    let other = app.client();
    let page = other
        .get(app.url("/connexion"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("/auth/psc/login"));
    let r = other
        .post(app.url("/auth/psc/structure"))
        .header(
            "Cookie",
            "escale_csrf=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        )
        .form(&[
            ("_csrf", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            ("choix", "invente"),
            ("structure_id", &d.caarud.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Idle for longer than the idle timeout: the session is gone.
    let cookies =
        reqwest::cookie::CookieStore::cookies(jar.as_ref(), &app.url("/").parse().unwrap())
            .unwrap();
    let token = cookies
        .to_str()
        .unwrap()
        .split("; ")
        .find_map(|kv| kv.strip_prefix("escale_session="))
        .unwrap()
        .to_string();
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()));
    assert!(
        app.db
            .store
            .session_with_tenant(&hash)
            .await
            .unwrap()
            .is_some(),
        "the database holds the token's hash"
    );
    app.db
        .store
        .touch_session(&hash, Utc::now() - Duration::minutes(31))
        .await
        .unwrap();
    let r = c.get(app.url("/usagers")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/connexion?expiree=1");
    assert!(
        app.db
            .store
            .session_with_tenant(&hash)
            .await
            .unwrap()
            .is_none()
    );
    // Log in again, then log out: the old cookie no longer opens anything.
    let csrf = login(&app, &c, d.doctor, d.csapa).await;
    let r = c.get(app.url("/usagers")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c
        .post(app.url("/deconnexion"))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    // Logged out of Escale; the page sends the browser on to PSC's end-session.
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["refresh"]
            .to_str()
            .unwrap()
            .contains("id_token_hint=")
    );
    let r = c.get(app.url("/usagers")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}
both_backends!(sessions_expire_and_logout_ends_them);

async fn secure_cookie_and_security_headers_over_https(db: TestDb) {
    let mut config = test_config(&db, Mode::Sandbox);
    config.public_url = Some("https://escale.test".into());
    let app = spawn_with_config(db, config).await;
    let r = app
        .client()
        .get(app.url("/auth/psc/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        set_cookie.contains("Secure") && set_cookie.contains("HttpOnly"),
        "{set_cookie}"
    );
    let h = r.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'")
            && csp.contains("script-src 'self'")
            && !csp.contains("unsafe-inline")
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert_eq!(h["cache-control"], "no-store");
}
both_backends!(secure_cookie_and_security_headers_over_https);

async fn healthz_reports_the_database(db: TestDb) {
    let backend = db.store.backend().name();
    let app = spawn_app(db).await;
    let r = app.client().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let json: serde_json::Value = r.json().await.unwrap();
    assert_eq!(json["status"], "ok");
    assert_eq!(json["database"], backend);
}
both_backends!(healthz_reports_the_database);

#[tokio::test]
async fn healthz_is_503_when_the_database_is_unreachable() {
    escale::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("h.sqlite").display()
    );
    let store = escale::store::SqlStore::connect(&url).await.unwrap();
    escale::store::Store::migrate(&store).await.unwrap();
    store.close().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = escale::config::Config {
        database_url: Some(url),
        demo_data: false,
        ..Default::default()
    };
    let store: escale::store::DynStore = std::sync::Arc::new(store);
    let insi = std::sync::Arc::new(escale::services::insi::InsiService::disabled());
    let dmp = std::sync::Arc::new(escale::services::dmp::DmpService::disabled(&config));
    let mss = std::sync::Arc::new(escale::services::mss::MssService::disabled(&config));
    let jobs = escale::app::jobs_runner(&config, &store, &insi, &dmp, &mss);
    let app = escale::app::App {
        config: std::sync::Arc::new(config),
        jobs,
        store,
        insi,
        dmp,
        mss,
        psc: std::sync::Arc::new(escale::services::psc::PscService::disabled()),
        directory: std::sync::Arc::new(escale::services::annuaire::DirectoryService::disabled()),
        sandboxes: Default::default(),
        card_agent: None,
        admin_secrets: std::sync::Arc::new(crate::common::app::test_secrets()),
    };
    tokio::spawn(escale::app::serve(app, listener, std::future::pending()));
    let r = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let json: serde_json::Value = r.json().await.unwrap();
    assert_eq!(json["status"], "unavailable");
    assert_eq!(json["database"], "sqlite");
}

/// Issue 12, point 3: the list page never counts the whole structure (that
/// count grew with it on every search); it asks for one file more than it
/// shows, says when the search should be narrowed, and offers to show more
/// (20, then 50, 100, 200: the store never reads more).
async fn the_list_says_when_to_narrow_without_counting_the_structure(db: TestDb) {
    let (app, d) = setup(db).await;
    let t = tenant(&app, d.reception, d.csapa).await;
    let c = app.client();
    login(&app, &c, d.reception, d.csapa).await;
    let get = async |path: &str| body(c.get(app.url(path)).send().await.unwrap()).await;
    let (_, page) = get("/usagers").await;
    assert!(page.contains("dossier(s) trouvé(s)"), "{page}");
    assert!(!page.contains("précisez la recherche"), "{page}");
    let rows = |page: &str| page.matches("<tr><td><a href=\"/usagers/").count();
    let before = rows(&page);
    for i in 0..60 {
        app.db
            .store
            .create_usager(
                &t,
                &crate::common::synthetic::Generator::new(1_000 + i).identity(),
                &[],
            )
            .await
            .unwrap();
    }
    let all = before + 60;
    assert!(all > 50 && all <= 100, "{all} files");
    let (_, page) = get("/usagers").await;
    assert!(
        page.contains("Les 20 premiers dossiers sont affichés : précisez la recherche"),
        "{page}"
    );
    assert_eq!(rows(&page), 20);
    assert!(!page.contains(" sur "), "no total of the structure: {page}");
    // The link keeps the search as typed (here, none) and asks for 50.
    assert!(
        page.contains(r#"href="/usagers?q=&amp;date=&amp;n=50""#)
            && page.contains(r#"hx-get="/usagers?q=&amp;date=&amp;n=50""#)
            && page.contains(">Afficher jusqu'à 50 dossiers</a>"),
        "{page}"
    );
    let (_, page) = get("/usagers?q=&date=&n=50").await;
    assert!(
        page.contains("Les 50 premiers dossiers sont affichés"),
        "{page}"
    );
    assert_eq!(rows(&page), 50);
    assert!(page.contains("n=100"), "{page}");
    let (_, page) = get("/usagers?n=100").await;
    assert_eq!(rows(&page), all);
    assert!(
        page.contains(&format!("{all} dossier(s) trouvé(s)")),
        "{page}"
    );
    assert!(!page.contains("Afficher jusqu"), "{page}");
    // A size that is not a step is the next step; not a number, the first page.
    let (_, page) = get("/usagers?n=21").await;
    assert_eq!(rows(&page), 50);
    let (s, page) = get("/usagers?n=%3Cscript%3E").await;
    assert_eq!(s, 200);
    assert_eq!(rows(&page), 20);
    // What was typed is carried by the link, encoded (here a date the page
    // refuses: every file is listed, the date kept as typed).
    let (_, page) = get("/usagers?date=x%26y").await;
    assert!(page.contains("date invalide"), "{page}");
    assert!(
        page.contains("/usagers?q=&amp;date=x%26y&amp;n=50"),
        "{page}"
    );
}
both_backends!(the_list_says_when_to_narrow_without_counting_the_structure);
