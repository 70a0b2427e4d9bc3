//! Staff onboarding by directors (Annuaire search → roles; pre-registration
//! with an invitation code; role changes and end of access, journaled) and the
//! structure's address book of correspondents, over HTTP with the PSC and
//! Annuaire sandboxes.

use escale::sandbox::annuaire::AnnuaireBehaviour;
use reqwest::StatusCode;

use crate::common::app::{
    TestApp, csrf_in, hidden_value, login, login_as, psc_callback, spawn_app,
};
use crate::common::db::TestDb;

const DIRECTOR: &str = "899900000052"; // Anne Roussel, CSAPA and CAARUD
const CLAIRE: &str = "899900000011";
const INES: &str = "899900000086";
const KIT: &str = "899700427885";

struct Setup {
    app: TestApp,
    csapa: uuid::Uuid,
}

async fn setup(db: TestDb) -> Setup {
    escale::sandbox::demo::seed(db.store.as_ref())
        .await
        .expect("seed");
    let csapa = db
        .store
        .find_structure_by_finess(escale::sandbox::demo::CSAPA_FINESS)
        .await
        .unwrap()
        .unwrap()
        .id;
    Setup {
        app: spawn_app(db).await,
        csapa,
    }
}

async fn director(s: &Setup) -> (reqwest::Client, String) {
    let c = s.app.client();
    let anne = s
        .app
        .db
        .store
        .find_professional_by_national_id(DIRECTOR)
        .await
        .unwrap()
        .unwrap();
    let csrf = login(&s.app, &c, anne.id, s.csapa).await;
    (c, csrf)
}

async fn get(c: &reqwest::Client, app: &TestApp, path: &str) -> (StatusCode, String) {
    let r = c.get(app.url(path)).send().await.unwrap();
    let s = r.status();
    (s, r.text().await.unwrap())
}

async fn journal_details(app: &TestApp) -> Vec<String> {
    let mut all = Vec::new();
    for chain in app.db.store.audit_chains().await.unwrap() {
        for e in app.db.store.audit_chain(chain, 0, 1000).await.unwrap() {
            all.push(e.details);
        }
    }
    all
}

async fn directors_add_from_the_annuaire_and_change_roles(db: TestDb) {
    let s = setup(db).await;
    let app = &s.app;
    // Only directors manage the team.
    let claire = app.client();
    login_as(app, &claire, CLAIRE).await;
    assert_eq!(
        get(&claire, app, "/structure/equipe").await.0,
        StatusCode::FORBIDDEN
    );
    let (c, csrf) = director(&s).await;
    // Search by name: Inès Moreau (RPPS+, e-CPS) is in the Annuaire, not in Escale.
    let (status, page) = get(&c, app, "/structure/equipe?q=MOREAU").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Inès MOREAU") || page.contains("Inès Moreau"),
        "{page}"
    );
    assert!(page.contains("Annuaire Santé (API)"), "{page}");
    // The Annuaire's role 326 suggests « éducateur » (pre-checked).
    assert!(
        page.contains(r#"id="a-899900000086-educateur" name="role" value="educateur" checked"#),
        "{page}"
    );
    // Before Inès is added, her PSC login finds no structure.
    let ines = app.client();
    let (_, p) = {
        let r = psc_callback(app, &ines, INES, "ecps").await;
        (r.status(), r.text().await.unwrap())
    };
    assert!(p.contains("rattaché à aucune structure"));
    let r = c
        .post(app.url("/structure/equipe/ajout"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("id_nat", INES),
            ("first_name", "Inès"),
            ("last_name", "MOREAU"),
            ("profession", "Éducateur spécialisé"),
            ("role", "educateur"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = get(&c, app, "/structure/equipe").await;
    assert!(page.contains("MOREAU") && page.contains(INES), "{page}");
    // Now her PSC login lands in the CSAPA.
    let r = psc_callback(app, &ines, INES, "ecps").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, home) = get(&ines, app, "/usagers").await;
    assert!(home.contains("CSAPA"), "{home}");
    // Adding without a role says so and keeps the search.
    let r = c
        .post(app.url("/structure/equipe/ajout"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("id_nat", KIT),
            ("q", "DOC0042788"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("au moins un rôle"));
    // The last director cannot drop their own director role.
    let anne = app
        .db
        .store
        .find_professional_by_national_id(DIRECTOR)
        .await
        .unwrap()
        .unwrap();
    let r = c
        .post(app.url(&format!("/structure/equipe/{}/roles", anne.id)))
        .form(&[("_csrf", csrf.as_str()), ("role", "accueil")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("au moins un directeur"));
    // Claire's access ends: her open session ends with it.
    let claire_id = app
        .db
        .store
        .find_professional_by_national_id(CLAIRE)
        .await
        .unwrap()
        .unwrap()
        .id;
    let r = c
        .post(app.url(&format!("/structure/equipe/{claire_id}/roles")))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(get(&claire, app, "/usagers").await.0, StatusCode::SEE_OTHER);
    let still = app
        .db
        .store
        .get_professional(claire_id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        still.active,
        "directors end access; the person stays on record"
    );
    let journal = journal_details(app).await;
    assert!(
        journal
            .iter()
            .any(|d| d.contains("rôles de Inès MOREAU : aucun → Éducateur")),
        "{journal:?}"
    );
    assert!(
        journal
            .iter()
            .any(|d| d.contains("accès de Claire Martin retiré")),
        "{journal:?}"
    );
}
both_backends!(directors_add_from_the_annuaire_and_change_roles);

async fn preregistration_gives_a_code_that_ties_the_first_psc_login(db: TestDb) {
    let s = setup(db).await;
    let app = &s.app;
    let (c, csrf) = director(&s).await;
    let r = c
        .post(app.url("/structure/equipe/preinscription"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("first_name", "Kit"),
            ("last_name", "Doc"),
            ("profession", "Médecin"),
            ("role", "medecin"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    let start = page.find(r#"id="code-invitation">"#).unwrap() + r#"id="code-invitation">"#.len();
    let code = page[start..start + 14].to_string();
    let (_, team) = get(&c, app, "/structure/equipe").await;
    assert!(
        team.contains("RPPS en attente") && team.contains("invitation en attente"),
        "{team}"
    );
    let newcomer = app.client();
    let page = psc_callback(app, &newcomer, KIT, "carte")
        .await
        .text()
        .await
        .unwrap();
    let r = newcomer
        .post(app.url("/auth/psc/invitation"))
        .form(&[
            ("_csrf", csrf_in(&page)),
            ("attente", hidden_value(&page, "attente")),
            ("code", code),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // The names typed at pre-registration give way to the RPPS's at the PSC login.
    let (_, home) = get(&newcomer, app, "/usagers").await;
    assert!(home.contains("KIT DOC0042788"), "{home}");
    let journal = journal_details(app).await;
    assert!(
        journal
            .iter()
            .any(|d| d.contains("nom mis à jour depuis Pro Santé Connect")
                && d.contains("Kit Doc → KIT DOC0042788")),
        "{journal:?}"
    );
    assert!(
        journal
            .iter()
            .any(|d| d.contains("pré-inscription de Kit Doc")),
        "{journal:?}"
    );
}
both_backends!(preregistration_gives_a_code_that_ties_the_first_psc_login);

async fn an_annuaire_outage_is_said_in_french(db: TestDb) {
    let s = setup(db).await;
    let app = &s.app;
    let (c, _) = director(&s).await;
    app.sandboxes
        .annuaire
        .as_ref()
        .expect("Annuaire sandbox")
        .set_behaviour(AnnuaireBehaviour::Unavailable);
    let (status, page) = get(&c, app, "/structure/equipe?q=INCONNU-PANNE").await;
    assert_eq!(status, StatusCode::OK, "the team page still works");
    assert!(
        page.contains("Annuaire Santé") && page.contains("réessayez"),
        "{page}"
    );
    assert!(
        page.contains(r#"value="INCONNU-PANNE""#),
        "what was typed is kept"
    );
}
both_backends!(an_annuaire_outage_is_said_in_french);

async fn correspondents_come_from_the_annuaire_with_their_mailboxes(db: TestDb) {
    let s = setup(db).await;
    let app = &s.app;
    let c = app.client();
    login_as(app, &c, CLAIRE).await;
    let (_, home) = get(&c, app, "/usagers").await;
    let csrf = csrf_in(&home);
    let (status, page) = get(&c, app, "/correspondants?q=HOSPITALIER&type=structure").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("CENTRE HOSPITALIER DE PAU")
            && page.contains("addictologie@ch-pau.demo.mssante.fr"),
        "{page}"
    );
    let r = c
        .post(app.url("/correspondants/ajout"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("kind", "structure"),
            ("identifier", "640780417"),
            ("note", "ELSA <b>urgent</b>"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = c
        .post(app.url("/correspondants/ajout"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("kind", "professionnel"),
            ("identifier", "899900000045"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, book) = get(&c, app, "/correspondants").await;
    assert!(
        book.contains("CENTRE HOSPITALIER DE PAU")
            && book.contains("urgences@ch-pau.demo.mssante.fr"),
        "{book}"
    );
    assert!(
        book.contains("karim.haddad@csapa-lephare.demo.mssante.fr"),
        "{book}"
    );
    assert!(
        book.contains("ELSA &lt;b&gt;urgent&lt;/b&gt;"),
        "notes are escaped"
    );
    // Another structure's book is its own.
    let other = app.client();
    login_as(app, &other, "899900000060").await;
    let (_, theirs) = get(&other, app, "/correspondants").await;
    assert!(!theirs.contains("CENTRE HOSPITALIER DE PAU"));
    let entry = app
        .db
        .store
        .correspondents(
            &app.db
                .store
                .tenant_for(
                    app.db
                        .store
                        .find_professional_by_national_id(CLAIRE)
                        .await
                        .unwrap()
                        .unwrap()
                        .id,
                    s.csapa,
                )
                .await
                .unwrap()
                .unwrap(),
        )
        .await
        .unwrap()[0]
        .id;
    let (_, theirs) = get(&other, app, "/usagers").await;
    let r = other
        .post(app.url(&format!("/correspondants/{entry}/suppression")))
        .form(&[("_csrf", csrf_in(&theirs))])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "no removal across structures"
    );
}
both_backends!(correspondents_come_from_the_annuaire_with_their_mailboxes);

/// With the open-data copy imported, searches answer from it — also while
/// the API is down; a name the copy lacks says the API could not be reached.
async fn the_local_copy_answers_when_the_api_is_down(db: TestDb) {
    let header_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/spec/psc-annuaire/flat-files/PS_LibreAcces_Personne_activite.header.txt");
    let Ok(header) = std::fs::read_to_string(&header_path) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} missing under CI",
            header_path.display()
        );
        eprintln!("did NOT run: {} absent", header_path.display());
        return;
    };
    let header = header.lines().next().unwrap_or_default().to_string();
    let names: Vec<&str> = header.split('|').collect();
    let line: Vec<&str> = names
        .iter()
        .map(|n| match *n {
            "Type d'identifiant PP" => "8",
            "Identifiant PP" => "99900000094",
            "Identification nationale PP" => "899900000094",
            "Nom d'exercice" => "ZOLA",
            "Prénom d'exercice" => "Émile",
            "Code profession" => "51",
            "Libellé profession" => "Educateur spécialisé",
            "Code mode exercice" => "S",
            "Numéro FINESS site" => "640000022",
            "Raison sociale site" => "CAARUD LA BOUSSOLE",
            _ => "",
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir
        .path()
        .join("PS_LibreAcces_Personne_activite_202611230000.txt");
    std::fs::write(&file, format!("{header}\n{}\n", line.join("|"))).unwrap();
    let s = setup(db).await;
    let app = &s.app;
    let summary =
        escale::services::annuaire_import::import_file(app.db.store.as_ref(), &file, &mut |_| {})
            .await
            .unwrap();
    assert_eq!(summary.bad_lines, 0);
    app.sandboxes
        .annuaire
        .as_ref()
        .expect("Annuaire sandbox")
        .set_behaviour(AnnuaireBehaviour::Unavailable);
    let (c, _) = director(&s).await;
    let (_, page) = get(&c, app, "/structure/equipe?q=zola").await;
    assert!(
        page.contains("copie locale") && page.contains("ZOLA"),
        "{page}"
    );
    let (_, page) = get(&c, app, "/structure/equipe?q=GIRARD").await;
    assert!(
        page.contains("copie locale") && page.contains("réessayez"),
        "{page}"
    );
}
both_backends!(the_local_copy_answers_when_the_api_is_down);

/// Issue 11, finding 10: the address book is kept by the care, social and
/// direction roles (reception reads it), and each addition or removal is in
/// the structure's journal.
async fn correspondents_are_kept_by_care_roles_and_journaled(db: TestDb) {
    let s = setup(db).await;
    let app = &s.app;
    let desk = app.client(); // Lucie: accueil and identity referent
    login_as(app, &desk, "899900000078").await;
    let (status, page) = get(&desk, app, "/correspondants?q=HOSPITALIER&type=structure").await;
    assert_eq!(status, StatusCode::OK, "reception reads the book");
    assert!(
        page.contains("CENTRE HOSPITALIER DE PAU") && !page.contains("Ajouter au carnet"),
        "{page}"
    );
    let desk_csrf = csrf_in(&page);
    let add = |c: &reqwest::Client, csrf: String| {
        c.post(app.url("/correspondants/ajout"))
            .form(&[
                ("_csrf", csrf),
                ("kind", "structure".to_string()),
                ("identifier", "640780417".to_string()),
            ])
            .send()
    };
    assert_eq!(
        add(&desk, desk_csrf.clone()).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let doctor = app.client();
    login_as(app, &doctor, CLAIRE).await;
    let (_, home) = get(&doctor, app, "/usagers").await;
    let csrf = csrf_in(&home);
    assert_eq!(
        add(&doctor, csrf.clone()).await.unwrap().status(),
        StatusCode::SEE_OTHER
    );

    let claire = app
        .db
        .store
        .find_professional_by_national_id(CLAIRE)
        .await
        .unwrap()
        .unwrap();
    let t = app
        .db
        .store
        .tenant_for(claire.id, s.csapa)
        .await
        .unwrap()
        .unwrap();
    let entry = app.db.store.correspondents(&t).await.unwrap()[0].id;
    let remove = |c: &reqwest::Client, csrf: String| {
        c.post(app.url(&format!("/correspondants/{entry}/suppression")))
            .form(&[("_csrf", csrf)])
            .send()
    };
    assert_eq!(
        remove(&desk, desk_csrf).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.db.store.correspondents(&t).await.unwrap().len(), 1);
    assert_eq!(
        remove(&doctor, csrf).await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    assert!(app.db.store.correspondents(&t).await.unwrap().is_empty());

    let journal: Vec<String> = app
        .db
        .store
        .audit_entries(
            &t,
            &escale::store::AuditFilter {
                action: Some("configuration.modification".into()),
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.details)
        .collect();
    assert!(
        journal
            .iter()
            .any(|d| d.contains("CENTRE HOSPITALIER DE PAU ajouté")),
        "{journal:?}"
    );
    assert!(
        journal
            .iter()
            .any(|d| d.contains("CENTRE HOSPITALIER DE PAU retiré")),
        "{journal:?}"
    );
}
both_backends!(correspondents_are_kept_by_care_roles_and_journaled);

/// Issue 11, finding 6: a new team member is who the Annuaire Santé says
/// (names and profession typed into the form are ignored; a number it does
/// not know is refused), the last director cannot drop their role through any
/// form, and a professional's changed name comes from Pro Santé Connect at
/// login, journaled.
async fn team_members_are_who_the_annuaire_and_psc_say(db: TestDb) {
    let s = setup(db).await;
    let app = &s.app;
    let (c, csrf) = director(&s).await;
    let add = |fields: Vec<(&'static str, String)>| {
        let mut form = vec![("_csrf", csrf.clone())];
        form.extend(fields);
        c.post(app.url("/structure/equipe/ajout"))
            .form(&form)
            .send()
    };
    // Forged names and profession: ignored, the Annuaire's are kept.
    let r = add(vec![
        ("id_nat", INES.into()),
        ("first_name", "Jean".into()),
        ("last_name", "IMPOSTEUR".into()),
        ("profession", "Chirurgien".into()),
        ("role", "educateur".into()),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let ines = app
        .db
        .store
        .find_professional_by_national_id(INES)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ines.last_name.to_uppercase(), "MOREAU", "{ines:?}");
    assert!(!ines.profession.contains("Chirurgien"), "{ines:?}");
    // A number the Annuaire does not know: refused, nothing created.
    let r = add(vec![
        ("id_nat", "812345678901".into()),
        ("first_name", "Jean".into()),
        ("last_name", "IMPOSTEUR".into()),
        ("role", "accueil".into()),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("pas dans l'Annuaire Santé"),
        "said why"
    );
    assert!(
        app.db
            .store
            .find_professional_by_national_id("812345678901")
            .await
            .unwrap()
            .is_none()
    );
    // The last director cannot drop the role through the add form either.
    let r = add(vec![
        ("id_nat", DIRECTOR.into()),
        ("role", "accueil".into()),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("au moins un directeur"));
    let (status, _) = get(&c, app, "/structure/equipe").await;
    assert_eq!(status, StatusCode::OK, "still the director");
    // A name changed at the RPPS reaches Escale at the next PSC login.
    let claire = app
        .db
        .store
        .find_professional_by_national_id(CLAIRE)
        .await
        .unwrap()
        .unwrap();
    app.db
        .store
        .rename_professional(claire.id, "Claire", "DUPONT", &[])
        .await
        .unwrap();
    login_as(app, &app.client(), CLAIRE).await;
    let renamed = app
        .db
        .store
        .get_professional(claire.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renamed.last_name.to_uppercase(), "MARTIN", "{renamed:?}");
    let journal = journal_details(app).await;
    assert!(
        journal
            .iter()
            .any(|d| d.contains("nom mis à jour depuis Pro Santé Connect")
                && d.contains("Claire DUPONT →")),
        "{journal:?}"
    );
    // The same name up to case and accents is not a change.
    login_as(app, &app.client(), CLAIRE).await;
    let again = journal_details(app).await;
    assert_eq!(
        again
            .iter()
            .filter(|d| d.contains("nom mis à jour"))
            .count(),
        journal
            .iter()
            .filter(|d| d.contains("nom mis à jour"))
            .count()
    );
}
both_backends!(team_members_are_who_the_annuaire_and_psc_say);
