//! The structure's DMP codes as its director sets them (issue 13): the
//! settings page offers the codes of the DMP's tables with the kind's
//! default chosen; a change is journaled; a code not offered, another
//! role or a missing CSRF token changes nothing; a deposit then carries
//! the chosen codes, which the DMP sandbox checks against its tables.

use reqwest::StatusCode;

use crate::common::app::{login, spawn_app};
use crate::common::db::{TestDb, journal_details, seed_two_structures};

both_backends!(the_director_sets_the_codes_a_deposit_carries);
async fn the_director_sets_the_codes_a_deposit_carries(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = f.medecin.tenant.clone();
    let (usager, doc) = crate::dmp::qualified_with_letter(&db.store, &t).await;
    let app = spawn_app(db).await;
    let c = app.client();
    let csrf = login(&app, &c, f.directeur.professional.id, f.csapa.id).await;
    let page = app.page(&c, "/structure/parametres").await;
    assert!(page.contains("Mon espace santé (DMP) : codes de la structure"));
    assert!(
        page.contains(r#"<option value="19" selected>"#),
        "a CSAPA's default: traitement et cure ambulatoire"
    );
    assert!(page.contains("Equipe mobile de rue (42)"));

    let save = |c: reqwest::Client, fields: Vec<(&'static str, String)>| {
        let url = app.url("/structure/parametres/dmp");
        async move { c.post(url).form(&fields).send().await.unwrap() }
    };
    let form = |csrf: &str, facility: &str, content: &str| {
        vec![
            ("_csrf", csrf.to_string()),
            ("facility_type", facility.to_string()),
            ("practice_setting", "ESSMS".to_string()),
            ("content_type", content.to_string()),
        ]
    };
    // A code not offered: refused, said in French, nothing changed.
    let r = save(c.clone(), form(&csrf, "SA01", "<script>x</script>")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.unwrap();
    assert!(body.contains("absent de la liste proposée"), "{body}");
    assert!(!body.contains("<script>x"), "escaped");
    // Without the CSRF token, or by a doctor: refused.
    let r = save(c.clone(), form("", "SA01", "42")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let doctor = app.client();
    let doctor_csrf = login(&app, &doctor, f.medecin.professional.id, f.csapa.id).await;
    let r = save(doctor.clone(), form(&doctor_csrf, "SA01", "42")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let s = app
        .db
        .store
        .get_structure(f.csapa.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.dmp_codes, Default::default());

    // The director's choice: kept (the default left unset), journaled.
    let r = save(c.clone(), form(&csrf, "SA01", "42")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let s = app
        .db
        .store
        .get_structure(f.csapa.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.dmp_codes.facility_type.as_deref(), Some("SA01"));
    assert_eq!(s.dmp_codes.practice_setting, None);
    assert_eq!(s.dmp_codes.content_type.as_deref(), Some("42"));
    let page = app.page(&c, "/structure/parametres").await;
    assert!(page.contains(r#"<option value="42" selected>"#));
    let journal = journal_details(
        &app.db.store,
        &f.directeur.tenant,
        "configuration.modification",
    )
    .await;
    assert!(
        journal
            .iter()
            .any(|d| d.contains("SA41 / ESSMS / 19 → SA01 / ESSMS / 42")),
        "{journal:?}"
    );

    // A deposit carries them, and the DMP sandbox takes them.
    let r = doctor
        .post(app.url(&format!("/usagers/{usager}/dmp/envoi")))
        .form(&[
            ("_csrf", doctor_csrf.as_str()),
            ("dmp_document", doc.to_string().as_str()),
            ("visibility", "N"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.drain_jobs().await;
    let sandbox = app.sandboxes.dmp.as_ref().expect("DMP sandbox");
    let entries = sandbox.entries();
    assert_eq!(entries.len(), 1, "accepted");
    assert_eq!(entries[0].structure_codes, ["SA01", "ESSMS", "42"]);
    let d = app.db.store.dmp_deposits(&t, usager).await.unwrap();
    assert_eq!(
        d[0].state,
        escale::domain::dmp::DepositState::Accepte,
        "{:?}",
        d[0].reason
    );
}
