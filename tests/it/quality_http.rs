//! Identity vigilance II through HTTP, on both databases: the duplicate
//! desk and merges (roles from the director's procedure), the procedure and
//! its acknowledgements, the batch finder and the INSi re-verification jobs.

use std::time::Duration;

use reqwest::StatusCode;
use uuid::Uuid;

use escale::domain::identity::IdentityStatus;
use escale::domain::usager::Identity;

use crate::common::app::{TestApp, login, spawn_app};
use crate::common::db::{Fixture, TestDb, seed_two_structures};

async fn setup(db: TestDb) -> (TestApp, Fixture) {
    let f = seed_two_structures(&db.store).await;
    (spawn_app(db).await, f)
}

async fn post(
    app: &TestApp,
    c: &reqwest::Client,
    path: &str,
    csrf: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String, Option<String>) {
    let mut form = vec![("_csrf", csrf)];
    form.extend_from_slice(fields);
    let r = c.post(app.url(path)).form(&form).send().await.unwrap();
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    (r.status(), r.text().await.unwrap(), location)
}

async fn get(app: &TestApp, c: &reqwest::Client, path: &str) -> (StatusCode, String) {
    let r = c.get(app.url(path)).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

fn id_from(location: &str) -> Uuid {
    location
        .trim_start_matches("/usagers/")
        .split(['?', '#'])
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Creates a file, confirming through the duplicate warning if it shows.
async fn create(app: &TestApp, c: &reqwest::Client, csrf: &str, fields: &[(&str, &str)]) -> Uuid {
    let (status, page, location) = post(app, c, "/usagers", csrf, fields).await;
    if status == StatusCode::SEE_OTHER {
        return id_from(&location.unwrap());
    }
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(page.contains("Doublon possible"));
    let seen = crate::common::app::hidden_value(&page, "doublons_vus");
    let mut again = fields.to_vec();
    again.push(("doublons_vus", &seen));
    let (status, _, location) = post(app, c, "/usagers", csrf, &again).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    id_from(&location.unwrap())
}

/// A CNDA test person (Zoé ADRUN) created at the desk and recovered
/// through INSi (the traits confirmed, no identity document): RECUP.
async fn recovered_at_the_desk(app: &TestApp, acc: &reqwest::Client, csrf_acc: &str) -> Uuid {
    let id = create(
        app,
        acc,
        csrf_acc,
        &[
            ("birth_name", "Adrun"),
            ("first_names", "Zoé"),
            ("birth_date", "31/12/1975"),
            ("sex", "F"),
        ],
    )
    .await;
    let (_, page, _) = post(app, acc, &format!("/usagers/{id}/insi"), csrf_acc, &[]).await;
    let call = crate::common::app::hidden_value(&page, "call_id");
    post(
        app,
        acc,
        &format!("/usagers/{id}/insi/confirmation"),
        csrf_acc,
        &[("call_id", &call), ("decision", "meme")],
    )
    .await;
    id
}

const POLICY_DIRECTOR_MERGES: &[(&str, &str)] = &[
    ("part", "policy"),
    ("edit", "accueil"),
    ("edit", "directeur"),
    ("edit", "medecin"),
    ("create", "accueil"),
    ("create", "directeur"),
    ("create", "medecin"),
    ("doubt", "accueil"),
    ("doubt", "directeur"),
    ("merge", "directeur"),
    ("export", "directeur"),
];

async fn merges_follow_the_procedure_and_are_reversible(db: TestDb) {
    let (app, f) = setup(db).await;
    let dir = app.client();
    let csrf = login(&app, &dir, f.directeur.professional.id, f.csapa.id).await;
    let desk = app.client();
    let csrf_acc = login(&app, &desk, f.accueil.professional.id, f.csapa.id).await;

    let a = create(
        &app,
        &desk,
        &csrf_acc,
        &[
            ("birth_name", "Lefebvre"),
            ("first_names", "Anne Marie"),
            ("birth_date", "07/04/1980"),
            ("sex", "F"),
            ("phone", "0601020304"),
        ],
    )
    .await;
    // Same person typed differently: warned, created anyway, the pair kept.
    let fields = [
        ("birth_name", "LEFEVRE"),
        ("first_names", "Marie"),
        ("birth_date", "04/07/1980"),
        ("sex", "F"),
    ];
    let (status, page, _) = post(&app, &desk, "/usagers", &csrf_acc, &fields).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        page.contains("jour et mois de naissance inversés"),
        "{page}"
    );
    assert!(page.contains(&format!("/usagers/{a}")));
    assert!(
        page.contains(r#"value="LEFEVRE""#),
        "what was typed is kept"
    );
    // Confirming for other traits than those checked shows the warning again.
    let seen = crate::common::app::hidden_value(&page, "doublons_vus");
    let other = [
        ("birth_name", "LEFEVRE"),
        ("first_names", "Anne"),
        ("birth_date", "04/07/1980"),
        ("sex", "F"),
        ("doublons_vus", seen.as_str()),
    ];
    let (status, _, _) = post(&app, &desk, "/usagers", &csrf_acc, &other).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "changed traits are checked again"
    );
    let b = create(&app, &desk, &csrf_acc, &fields).await;
    let (_, page) = get(&app, &desk, &format!("/usagers/{b}")).await;
    assert!(page.contains("DPOT"), "{page}");

    // Reception neither sees the desk nor merges.
    assert_eq!(
        get(&app, &desk, "/identitovigilance").await.0,
        StatusCode::FORBIDDEN
    );
    let ids = [("survivant", a.to_string()), ("fusionne", b.to_string())];
    let ids: Vec<(&str, &str)> = ids.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        post(&app, &desk, "/identitovigilance/fusion", &csrf_acc, &ids)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // By default only the referent merges; the director gives it to directors.
    assert_eq!(
        post(&app, &dir, "/identitovigilance/fusion", &csrf, &ids)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (status, _, _) = post(
        &app,
        &dir,
        "/structure/identitovigilance",
        &csrf,
        POLICY_DIRECTOR_MERGES,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // A policy without anyone to create is refused.
    let (status, page, _) = post(
        &app,
        &dir,
        "/structure/identitovigilance",
        &csrf,
        &[
            ("part", "policy"),
            ("edit", "accueil"),
            ("edit", "directeur"),
            ("edit", "medecin"),
            ("merge", "directeur"),
            ("doubt", "accueil"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");

    let (status, page) = get(&app, &dir, "/identitovigilance").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Doublons potentiels ouverts") && page.contains("LEFEVRE"),
        "{page}"
    );
    assert!(page.contains("Appels INSi par mois"), "indicators");
    let before_a = get(&app, &dir, &format!("/usagers/{a}/export.json"))
        .await
        .1;
    let before_b = get(&app, &dir, &format!("/usagers/{b}/export.json"))
        .await
        .1;
    let (status, page) = get(
        &app,
        &dir,
        &format!("/identitovigilance/fusion?survivant={a}&fusionne={b}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Ce qui sera déplacé"), "{page}");
    let (status, _, location) = post(&app, &dir, "/identitovigilance/fusion", &csrf, &ids).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(id_from(&location.unwrap()), a);
    let (_, page) = get(&app, &dir, &format!("/usagers/{b}")).await;
    assert!(page.contains("Dossier fusionné"), "{page}");
    let (_, page) = get(&app, &dir, &format!("/usagers/{a}")).await;
    assert!(page.contains("Annuler cette fusion"), "{page}");
    // The merged file is read-only: nothing lands in a hidden file.
    let (status, page, _) = post(
        &app,
        &dir,
        &format!("/usagers/{b}/notes"),
        &csrf,
        &[("confidentiality", "partagee"), ("body", "perdue ?")],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(page.contains("a été fusionné"));
    let (status, _, _) = post(&app, &desk, &format!("/usagers/{b}/insi"), &csrf_acc, &[]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, list) = get(&app, &dir, "/usagers?q=lefe").await;
    assert!(
        !list.contains(&b.to_string()),
        "merged file hidden from lists"
    );
    // Another structure cannot undo it.
    let t = &f.directeur.tenant;
    let merge_id = app.db.store.merges_of(t, a).await.unwrap()[0].id;
    let other = app.client();
    let csrf_other = login(&app, &other, f.other.professional.id, f.caarud.id).await;
    let path = format!("/identitovigilance/fusions/{merge_id}/annulation");
    let (status, _, _) = post(&app, &other, &path, &csrf_other, &[]).await;
    assert!(
        status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN,
        "{status}"
    );
    let (status, _, _) = post(&app, &dir, &path, &csrf, &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        get(&app, &dir, &format!("/usagers/{a}/export.json"))
            .await
            .1,
        before_a
    );
    assert_eq!(
        get(&app, &dir, &format!("/usagers/{b}/export.json"))
            .await
            .1,
        before_b
    );
    let (status, page, _) = post(&app, &dir, &path, &csrf, &[]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    // The journal holds the merge and its undoing.
    let journal = get(&app, &dir, "/journal").await.1;
    assert!(
        journal.contains("Fusion de deux dossiers") && journal.contains("Annulation d'une fusion")
    );
}
both_backends!(merges_follow_the_procedure_and_are_reversible);

async fn an_anonymous_file_is_never_merged_by_hand(db: TestDb) {
    let (app, f) = setup(db).await;
    let dir = app.client();
    let csrf = login(&app, &dir, f.directeur.professional.id, f.csapa.id).await;
    post(
        &app,
        &dir,
        "/structure/identitovigilance",
        &csrf,
        POLICY_DIRECTOR_MERGES,
    )
    .await;
    let anon = create(
        &app,
        &dir,
        &csrf,
        &[("anonymous", "on"), ("alias", "Zorro")],
    )
    .await;
    let real = create(
        &app,
        &dir,
        &csrf,
        &[
            ("birth_name", "MARTIN"),
            ("first_names", "Paul"),
            ("birth_date", "01/02/1970"),
            ("sex", "M"),
        ],
    )
    .await;
    for (s, m) in [(real, anon), (anon, real)] {
        let (s, m) = (s.to_string(), m.to_string());
        let (status, page, _) = post(
            &app,
            &dir,
            "/identitovigilance/fusion",
            &csrf,
            &[("survivant", &s), ("fusionne", &m)],
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(
            page.contains("levée d&#39;anonymat")
                || page.contains("levée d'anonymat")
                || page.contains("anonymes"),
            "{page}"
        );
    }
    let (_, page) = get(&app, &dir, &format!("/usagers/{anon}")).await;
    assert!(
        !page.contains("fiche-identite.pdf"),
        "no identity sheet for an alias"
    );
}
both_backends!(an_anonymous_file_is_never_merged_by_hand);

async fn the_procedure_is_published_read_and_acknowledged(db: TestDb) {
    let (app, f) = setup(db).await;
    let dir = app.client();
    let csrf = login(&app, &dir, f.directeur.professional.id, f.csapa.id).await;
    let acc = app.client();
    let csrf_acc = login(&app, &acc, f.accueil.professional.id, f.csapa.id).await;
    let (_, page) = get(&app, &acc, "/identitovigilance/procedure").await;
    assert!(page.contains("pas encore publié"));
    // Reception cannot publish.
    let (status, _, _) = post(
        &app,
        &acc,
        "/structure/identitovigilance",
        &csrf_acc,
        &[("part", "procedure"), ("body", "x")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // An empty text is refused; the guidance typed with it is kept.
    let (status, page, _) = post(
        &app,
        &dir,
        "/structure/identitovigilance",
        &csrf,
        &[
            ("part", "procedure"),
            ("body", "  "),
            ("guidance_01", "Garder ce conseil"),
            ("guidance_02", "Et celui-ci"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("texte de la procédure : ce champ est obligatoire")
            && page.contains("Garder ce conseil"),
        "{page}"
    );
    let body = "# Accueil\n\nDemander **une pièce d'identité**.\n\n<script>alert(1)</script>";
    let (status, _, _) = post(
        &app,
        &dir,
        "/structure/identitovigilance",
        &csrf,
        &[
            ("part", "procedure"),
            ("body", body),
            ("guidance_01", "Relire la pièce"),
            ("guidance_02", "Ajouter le lieu de naissance"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = get(&app, &acc, "/identitovigilance/procedure").await;
    assert!(
        page.contains("<strong>une pièce d&#39;identité</strong>")
            || page.contains("<strong>une pièce d'identité</strong>"),
        "{page}"
    );
    assert!(page.contains("&lt;script&gt;") && !page.contains("<script>alert"));
    assert!(page.contains("Relire la pièce") && page.contains("Version 1"));
    let (status, _, _) = post(
        &app,
        &acc,
        "/identitovigilance/procedure/lecture",
        &csrf_acc,
        &[("version", "1")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = get(&app, &acc, "/identitovigilance/procedure").await;
    assert!(page.contains("Vous avez pris connaissance"));
    // At reception, INSi's 01 comes with the structure's guidance.
    let unknown = create(
        &app,
        &acc,
        &csrf_acc,
        &[
            ("birth_name", "INCONNU"),
            ("first_names", "Personne"),
            ("birth_date", "02/03/1990"),
            ("sex", "M"),
        ],
    )
    .await;
    let (_, page, _) = post(
        &app,
        &acc,
        &format!("/usagers/{unknown}/insi"),
        &csrf_acc,
        &[],
    )
    .await;
    assert!(
        page.contains("Procédure de la structure : Relire la pièce"),
        "{page}"
    );
    let (_, page) = get(&app, &dir, "/structure/identitovigilance").await;
    assert!(page.contains("1 lecture(s), 3 en attente"), "{page}");
    // A new version must be read again; confirming the old one is refused.
    post(
        &app,
        &dir,
        "/structure/identitovigilance",
        &csrf,
        &[
            ("part", "procedure"),
            ("body", "v2"),
            ("guidance_01", "a"),
            ("guidance_02", "b"),
        ],
    )
    .await;
    let (status, _, _) = post(
        &app,
        &acc,
        "/identitovigilance/procedure/lecture",
        &csrf_acc,
        &[("version", "1")],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, page) = get(&app, &acc, "/identitovigilance/procedure").await;
    assert!(page.contains("J&#39;ai lu") || page.contains("J'ai lu"));
    let journal = get(&app, &dir, "/journal").await.1;
    assert!(journal.contains("Publication de la procédure"));
}
both_backends!(the_procedure_is_published_read_and_acknowledged);

async fn wait_for_job(app: &TestApp, c: &reqwest::Client, location: &str) -> String {
    for _ in 0..200 {
        let (status, page) = get(app, c, &format!("{location}?fragment=1")).await;
        assert_eq!(status, StatusCode::OK);
        if !page.contains("en cours") && !page.contains("en attente") {
            app.drain_jobs().await;
            return page;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job still running");
}

async fn batch_finder_and_insi_reverification(db: TestDb) {
    let (app, f) = setup(db).await;
    let acc = app.client();
    let csrf_acc = login(&app, &acc, f.accueil.professional.id, f.csapa.id).await;
    let dir = app.client();
    let csrf = login(&app, &dir, f.directeur.professional.id, f.csapa.id).await;
    // Two near-duplicates created without the desk (e.g. imported).
    let t = &f.accueil.tenant;
    let gen_a = app
        .db
        .store
        .create_usager(
            t,
            &crate::common::synthetic::Generator::new(3).identity(),
            &[],
        )
        .await
        .unwrap();
    let mut g = crate::common::synthetic::Generator::new(3);
    let base = g.identity();
    let variant = g
        .variant(&base, crate::common::synthetic::Variation::Typo)
        .unwrap();
    app.db.store.create_usager(t, &variant, &[]).await.unwrap();
    let (status, _, location) = post(
        &app,
        &dir,
        "/identitovigilance/doublons/recherche",
        &csrf,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let page = wait_for_job(&app, &dir, &location.unwrap()).await;
    assert!(page.contains("2 dossier(s) examiné(s)"), "{page}");
    let (_, desk) = get(&app, &dir, "/identitovigilance").await;
    assert!(desk.contains(&format!("/usagers/{}", gen_a.id)), "{desk}");

    // A CNDA test person, recovered through INSi at the desk.
    let id = recovered_at_the_desk(&app, &acc, &csrf_acc).await;
    assert_eq!(
        app.db
            .store
            .get_usager(t, id)
            .await
            .unwrap()
            .unwrap()
            .vigilance
            .status(),
        IdentityStatus::Recup
    );

    // Reception does not start bulk jobs.
    let (status, _, _) = post(
        &app,
        &acc,
        "/identitovigilance/reverification",
        &csrf_acc,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let sandbox = app.sandboxes.insi.as_ref().unwrap();
    let before = sandbox.request_count();
    let (_, _, location) = post(&app, &dir, "/identitovigilance/reverification", &csrf, &[]).await;
    let location = location.unwrap();
    let page = wait_for_job(&app, &dir, &location).await;
    assert!(page.contains("1 vérifiée(s) : 1 inchangée(s)"), "{page}");
    assert!(sandbox.request_count() > before);
    assert!(
        sandbox.client_cns()[before..]
            .iter()
            .all(|cn| cn == "INSI-AUTO"),
        "{:?}",
        sandbox.client_cns()
    );

    // Limited to the files due under the policy: none is due yet (retrieved today).
    let (status, _, _) = post(
        &app,
        &dir,
        "/identitovigilance/reverification",
        &csrf,
        &[("dues", "on")],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "no delay set in the procedure yet"
    );
    post(
        &app,
        &dir,
        "/structure/identitovigilance",
        &csrf,
        &[
            ("part", "policy"),
            ("edit", "accueil"),
            ("edit", "directeur"),
            ("edit", "medecin"),
            ("create", "accueil"),
            ("doubt", "accueil"),
            ("merge", "referent_identitovigilance"),
            ("export", "directeur"),
            ("reverify_after_months", "12"),
        ],
    )
    .await;
    let n = sandbox.request_count();
    let (_, _, location) = post(
        &app,
        &dir,
        "/identitovigilance/reverification",
        &csrf,
        &[("dues", "on")],
    )
    .await;
    let page = wait_for_job(&app, &dir, &location.unwrap()).await;
    assert!(page.contains("1 pas encore due(s)"), "{page}");
    assert_eq!(sandbox.request_count(), n);

    // The stored traits drift from the INS traits: downgraded, task for the referent.
    let u = app.db.store.get_usager(t, id).await.unwrap().unwrap();
    let Identity::Traits {
        birth_name,
        used_name,
        used_first_name,
        birth_date,
        sex,
        birth_place_code,
        ..
    } = u.data.identity.clone()
    else {
        panic!()
    };
    let drifted = Identity::Traits {
        birth_name,
        first_names: "ZOEY".into(),
        used_name,
        used_first_name,
        birth_date,
        sex,
        birth_place_code,
    };
    app.db
        .store
        .set_vigilance(t, id, u.version, &drifted, &u.vigilance, &[])
        .await
        .unwrap();
    let (_, _, location) = post(&app, &dir, "/identitovigilance/reverification", &csrf, &[]).await;
    let page = wait_for_job(&app, &dir, &location.unwrap()).await;
    assert!(page.contains("1 repassée(s) provisoire(s)"), "{page}");
    let u = app.db.store.get_usager(t, id).await.unwrap().unwrap();
    assert_eq!(u.vigilance.status(), IdentityStatus::Prov);
    let (_, desk) = get(&app, &dir, "/identitovigilance").await;
    assert!(
        desk.contains("Tâches du référent") && desk.contains("identité repassée provisoire")
            || desk.contains("repassée provisoire"),
        "{desk}"
    );
}
both_backends!(batch_finder_and_insi_reverification);

async fn a_scanned_ins_prefills_the_form_without_qualifying(db: TestDb) {
    let (app, f) = setup(db).await;
    let c = app.client();
    let csrf = login(&app, &c, f.accueil.professional.id, f.csapa.id).await;
    let (_, page) = get(&app, &c, "/usagers/nouveau").await;
    assert!(page.contains("scanner le DataMatrix INS"));
    let dir = tempfile::tempdir().unwrap();
    escale::cli::samples(dir.path()).unwrap();
    let payload =
        std::fs::read_to_string(dir.path().join(escale::cli::SAMPLE_DATAMATRIX_TXT)).unwrap();
    // Keyboard-wedge scanners often drop the GS separator.
    for typed in [payload.clone(), payload.replace('\u{1d}', "")] {
        let (status, page, _) = post(
            &app,
            &c,
            "/usagers/nouveau/scan",
            &csrf,
            &[("scan", &typed)],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(
            page.contains("DataMatrix lu : INS-NIR 2 97 02 2A 020 778 78"),
            "{page}"
        );
        assert!(page.contains(r#"value="ADRTROIS""#) && page.contains(r#"value="1997-02-26""#));
        assert!(page.contains("ne qualifie pas"));
    }
    let t = &f.accueil.tenant;
    assert_eq!(
        app.db.store.count_usagers(t).await.unwrap(),
        0,
        "nothing created by a scan"
    );
    let (status, page, _) = post(
        &app,
        &c,
        "/usagers/nouveau/scan",
        &csrf,
        &[("scan", "<script>IS01")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("&lt;script&gt;IS01") && !page.contains("<script>IS01"),
        "kept and escaped"
    );
    assert!(page.contains("Rescannez le code"));
}
both_backends!(a_scanned_ins_prefills_the_form_without_qualifying);

/// Issue 11, finding 10: a merged file prints no identity sheet (its
/// identity may be the one the merge set aside); the kept file does.
async fn a_merged_file_prints_no_identity_sheet(db: TestDb) {
    let (app, f) = setup(db).await;
    let t = &f.directeur.tenant;
    let traits = |first: &str| escale::domain::usager::UsagerData {
        identity: Identity::Traits {
            birth_name: "LEFEVRE".into(),
            first_names: first.into(),
            used_name: None,
            used_first_name: None,
            birth_date: chrono::NaiveDate::from_ymd_opt(1980, 4, 7).unwrap(),
            sex: escale::domain::usager::Sex::F,
            birth_place_code: None,
        },
        contact: Default::default(),
    };
    let kept = app
        .db
        .store
        .create_usager(t, &traits("ANNE"), &[])
        .await
        .unwrap();
    let merged = app
        .db
        .store
        .create_usager(t, &traits("ANNE MARIE"), &[])
        .await
        .unwrap();
    escale::services::identity_quality::merge_files(app.db.store.as_ref(), t, kept.id, merged.id)
        .await
        .unwrap();
    let dir = app.client();
    login(&app, &dir, f.directeur.professional.id, f.csapa.id).await;
    let (status, page) = get(
        &app,
        &dir,
        &format!("/usagers/{}/fiche-identite.pdf", merged.id),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(
        page.contains("fusionné") && page.contains("dossier conservé"),
        "{page}"
    );
    let r = dir
        .get(app.url(&format!("/usagers/{}/fiche-identite.pdf", kept.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
}
both_backends!(a_merged_file_prints_no_identity_sheet);

/// Issue 11, finding 9: changing a file's identity and contact details
/// follows the roles the director's procedure names (before: any role).
async fn identity_edits_follow_the_procedure_roles(db: TestDb) {
    let (app, f) = setup(db).await;
    let dir = app.client();
    let csrf = login(&app, &dir, f.directeur.professional.id, f.csapa.id).await;
    let desk = app.client();
    let csrf_acc = login(&app, &desk, f.accueil.professional.id, f.csapa.id).await;
    let id = create(
        &app,
        &desk,
        &csrf_acc,
        &[
            ("birth_name", "GARNIER"),
            ("first_names", "Lou"),
            ("birth_date", "03/04/1990"),
            ("sex", "F"),
        ],
    )
    .await;
    let edit = [
        ("birth_name", "GARNIER"),
        ("first_names", "Lou"),
        ("birth_date", "03/04/1990"),
        ("sex", "F"),
        ("phone", "0601020304"),
    ];
    let path = format!("/usagers/{id}");
    let form_path = format!("/usagers/{id}/modifier");
    // By default (and in policies saved before the setting), every role may.
    let (status, _, _) = post(&app, &desk, &path, &csrf_acc, &edit).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = post(
        &app,
        &dir,
        "/structure/identitovigilance",
        &csrf,
        &[
            ("part", "policy"),
            ("create", "accueil"),
            ("edit", "directeur"),
            ("doubt", "accueil"),
            ("merge", "directeur"),
            ("export", "directeur"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let mut changed = edit.to_vec();
    changed.push(("email", "lou@example.org"));
    let (status, page, _) = post(&app, &desk, &path, &csrf_acc, &changed).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("procédure d'identitovigilance"), "{page}");
    let (status, _) = get(&app, &desk, &form_path).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, file) = get(&app, &desk, &path).await;
    assert!(
        !file.contains(&form_path),
        "no edit link for a role the procedure does not name"
    );
    let u = app
        .db
        .store
        .get_usager(&f.accueil.tenant, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.data.contact.email, None, "nothing was changed");
    let (status, _, _) = post(&app, &dir, &path, &csrf, &changed).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the director may");
}
both_backends!(identity_edits_follow_the_procedure_roles);

/// Issue 11, finding 4: the export is an action of the director's procedure
/// (reception: 403 by default), its identity part goes through the sharing
/// gate (a recovered, not qualified INS never leaves), medical notes are left
/// out by the query for roles that do not read them, the INSi XML goes only to
/// roles that qualify identities, it is journaled as an export, and a merged
/// file exports nothing. The merge preview does not count unreadable notes.
async fn the_export_follows_the_procedure_and_the_sharing_gate(db: TestDb) {
    let (app, f) = setup(db).await;
    let t = &f.directeur.tenant;
    let (dir, acc, doc) = (app.client(), app.client(), app.client());
    let csrf = login(&app, &dir, f.directeur.professional.id, f.csapa.id).await;
    let csrf_acc = login(&app, &acc, f.accueil.professional.id, f.csapa.id).await;
    let csrf_doc = login(&app, &doc, f.medecin.professional.id, f.csapa.id).await;
    // A CNDA test person recovered through INSi at the desk: an INS, not qualified.
    let id = recovered_at_the_desk(&app, &acc, &csrf_acc).await;
    let u = app.db.store.get_usager(t, id).await.unwrap().unwrap();
    assert_eq!(u.vigilance.status(), IdentityStatus::Recup);
    let ins = u.vigilance.ins().expect("an INS").ins.matricule.as_string();
    for (class, body) in [
        ("medicale", "Suivi TSO très confidentiel"),
        ("partagee", "Venue ce matin"),
    ] {
        let (status, page, _) = post(
            &app,
            &doc,
            &format!("/usagers/{id}/notes"),
            &csrf_doc,
            &[("confidentiality", class), ("body", body)],
        )
        .await;
        assert!(status.is_success() || status.is_redirection(), "{page}");
    }
    let export = format!("/usagers/{id}/export.json");

    // Reception: not named by the procedure (by default the director and the referent).
    let (status, page) = get(&app, &acc, &export).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("procédure"), "{page}");

    // The director: no INS (not qualified), no medical note, no INSi XML.
    let (status, json) = get(&app, &dir, &export).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert!(!json.contains(&ins), "a recovered INS never leaves: {json}");
    assert!(
        json.contains("non_partageable") && json.contains("Venue ce matin"),
        "{json}"
    );
    assert!(
        !json.contains("très confidentiel"),
        "medical note left out: {json}"
    );
    assert!(
        !json.contains("request_xml"),
        "no INSi XML for the director: {json}"
    );

    // Reception, once named: the exchanges' XML (it qualifies identities), still
    // no medical note and no INS in the identity part.
    let (status, _, _) = post(
        &app,
        &dir,
        "/structure/identitovigilance",
        &csrf,
        &[POLICY_DIRECTOR_MERGES, &[("export", "accueil")]].concat(),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, json) = get(&app, &acc, &export).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert!(
        json.contains("request_xml") && json.contains("response_xml"),
        "{json}"
    );
    assert!(!json.contains("très confidentiel"), "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["dossier"].get("ins_matricule").is_none(), "{json}");
    assert!(
        v["dossier"]["identite_ins"]["non_partageable"].is_string(),
        "{json}"
    );

    // Journaled as exports.
    let journal = app
        .db
        .store
        .audit_entries(
            t,
            &escale::store::AuditFilter {
                action: Some("dossier.export".into()),
                usager_id: Some(id),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(journal.len(), 2, "two exports, two entries: {journal:?}");
    assert!(journal.iter().any(|e| e.details.contains("sans XML")));

    // The merge preview for the director (no medical notes) does not count the
    // doctor's medical note, and says so whatever the file holds.
    let other = create(
        &app,
        &acc,
        &csrf_acc,
        &[
            ("birth_name", "Adrun"),
            ("first_names", "Zoe"),
            ("birth_date", "31/12/1975"),
            ("sex", "F"),
        ],
    )
    .await;
    post(
        &app,
        &doc,
        &format!("/usagers/{other}/notes"),
        &csrf_doc,
        &[
            ("confidentiality", "medicale"),
            ("body", "Autre note médicale"),
        ],
    )
    .await;
    let (status, page) = get(
        &app,
        &dir,
        &format!("/identitovigilance/fusion?survivant={id}&fusionne={other}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        !page.contains("1 notes"),
        "an unreadable note is not counted: {page}"
    );
    assert!(page.contains("ne sont pas comptées"), "{page}");
    let (status, _, _) = post(
        &app,
        &dir,
        "/identitovigilance/fusion",
        &csrf,
        &[
            ("survivant", &id.to_string()),
            ("fusionne", &other.to_string()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // A merged file exports nothing: its content is in the kept file.
    let (status, page) = get(&app, &dir, &format!("/usagers/{other}/export.json")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(page.contains("a été fusionné"), "{page}");
}
both_backends!(the_export_follows_the_procedure_and_the_sharing_gate);
