//! A change and its trace are written together (DESIGN principle 5), and no
//! update is lost (optimistic check on a file's version): on both databases.

use chrono::NaiveDate;
use reqwest::StatusCode;
use sqlx::Connection;

use escale::domain::audit::AuditAction;
use escale::domain::care::EpisodeKind;
use escale::domain::identity::IdentityStatus;
use escale::domain::procedure::IdentityAction;
use escale::domain::roles::Role;
use escale::domain::usager::{Identity, Sex, UsagerData, UsagerForm};
use escale::services::audit;
use escale::services::files;
use escale::services::identity::vigilance;
use escale::store::{AuditChain, NewEpisode, StoreError};

use crate::common::app::{hidden_value, login, spawn_app};
use crate::common::db::{TestBackend, TestDb, seed_two_structures};

fn person(birth_name: &str, first_names: &str) -> UsagerData {
    UsagerData {
        identity: Identity::Traits {
            birth_name: birth_name.into(),
            first_names: first_names.into(),
            used_name: None,
            used_first_name: None,
            birth_date: NaiveDate::from_ymd_opt(1980, 4, 7).unwrap(),
            sex: Sex::F,
            birth_place_code: None,
        },
        contact: Default::default(),
    }
}

/// Every INSERT into the journal fails from now on, through a connection of
/// its own (another process, as far as the store can tell).
async fn break_the_journal(db: &TestDb) {
    match db.backend {
        TestBackend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::raw_sql(
                "CREATE TRIGGER journal_indisponible BEFORE INSERT ON audit_entries
                 BEGIN SELECT RAISE(ABORT, 'journal indisponible'); END;",
            )
            .execute(&mut c)
            .await
            .unwrap();
            c.close().await.unwrap();
        }
        TestBackend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::raw_sql(
                "CREATE FUNCTION journal_indisponible() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN RAISE EXCEPTION 'journal indisponible'; END $$;
                 CREATE TRIGGER journal_indisponible BEFORE INSERT ON audit_entries
                 FOR EACH ROW EXECUTE FUNCTION journal_indisponible();",
            )
            .execute(&mut c)
            .await
            .unwrap();
            c.close().await.unwrap();
        }
    }
}

async fn repair_the_journal(db: &TestDb) {
    let sql = match db.backend {
        TestBackend::Sqlite => "DROP TRIGGER journal_indisponible",
        TestBackend::Postgres => "DROP TRIGGER journal_indisponible ON audit_entries",
    };
    match db.backend {
        TestBackend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
            c.close().await.unwrap();
        }
        TestBackend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
            c.close().await.unwrap();
        }
    }
}

/// The journal refuses every entry: each change fails and nothing of it is
/// kept — the identity edit, the doubt, the episode, the structure setting,
/// the new file. Once the journal is back, the chain is whole.
async fn a_change_whose_trace_fails_is_not_kept(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = &f.medecin.tenant;
    let store = db.store.as_ref();
    let u = store
        .create_usager(
            t,
            &person("MARTIN", "ANNE"),
            &[audit::event(t, AuditAction::FileCreated, None, "")],
        )
        .await
        .unwrap();
    let entries_before = store
        .audit_chain(AuditChain::Structure(t.structure_id), 0, 1000)
        .await
        .unwrap()
        .len();
    let settings = store.get_structure(t.structure_id).await.unwrap().unwrap();
    assert_ne!(settings.medical_roles, vec![Role::Medecin]);
    break_the_journal(&db).await;

    // The edit form (service).
    let form = UsagerForm {
        version: Some(u.version.to_string()),
        phone: "0601020304".into(),
        ..UsagerForm::from_data(&u.data)
    };
    let r = files::update(store, t, u.id, form).await;
    assert!(r.is_err(), "{r:?}");
    // A doubt (identity vigilance).
    let r = vigilance::set_doubt(store, t, &u, true).await;
    assert!(r.is_err(), "{r:?}");
    // An episode.
    let r = store
        .add_episode(
            t,
            u.id,
            &NewEpisode {
                kind: EpisodeKind::Ambulatoire,
                start_date: NaiveDate::from_ymd_opt(2025, 1, 6).unwrap(),
                end_date: None,
                referent_id: None,
            },
            &[audit::event(t, AuditAction::EpisodeAdded, Some(u.id), "")],
        )
        .await;
    assert!(r.is_err(), "{r:?}");
    // A structure setting.
    let r = store
        .set_medical_roles(
            t,
            &[Role::Medecin],
            &[audit::event(t, AuditAction::ConfigurationChanged, None, "")],
        )
        .await;
    assert!(r.is_err(), "{r:?}");
    // The identity procedure's roles (director).
    let d = &f.directeur.tenant;
    let mut policy = d.policy.clone();
    policy.set_roles(IdentityAction::Merge, vec![Role::Directeur]);
    let r = store
        .set_identity_policy(
            d,
            &policy,
            &[audit::event(d, AuditAction::ConfigurationChanged, None, "")],
        )
        .await;
    assert!(r.is_err(), "{r:?}");
    // A team member's roles.
    let r = store
        .set_roles(
            d,
            f.accueil.professional.id,
            &[],
            &[audit::event(d, AuditAction::RoleGranted, None, "")],
        )
        .await;
    assert!(r.is_err(), "{r:?}");
    // A new file.
    let count = store.count_usagers(t).await.unwrap();
    let r = store
        .create_usager(
            t,
            &person("DURAND", "PAUL"),
            &[audit::event(t, AuditAction::FileCreated, None, "")],
        )
        .await;
    assert!(r.is_err(), "{r:?}");

    // Nothing was kept.
    let now = store.get_usager(t, u.id).await.unwrap().unwrap();
    assert_eq!(now.data, u.data, "the edit was not kept");
    assert_eq!(now.vigilance, u.vigilance, "the doubt was not kept");
    assert_eq!(now.version, u.version);
    assert!(store.episodes(t, u.id).await.unwrap().is_empty());
    let s = store.get_structure(t.structure_id).await.unwrap().unwrap();
    assert_eq!(
        s.medical_roles, settings.medical_roles,
        "the setting was not kept"
    );
    assert_eq!(store.count_usagers(t).await.unwrap(), count);
    let still = store
        .tenant_for(f.directeur.professional.id, t.structure_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(still.policy, d.policy, "the procedure was not changed");
    assert!(
        store
            .tenant_for(f.accueil.professional.id, t.structure_id)
            .await
            .unwrap()
            .is_some(),
        "the team was not changed"
    );

    // The journal back: the same change goes through with its trace, and
    // the chain (with the reads group-committed in between) is whole.
    repair_the_journal(&db).await;
    vigilance::set_doubt(store, t, &u, true).await.unwrap();
    audit::record(store, t, AuditAction::FileOpened, Some(u.id), "lecture")
        .await
        .unwrap();
    let doubtful = store.get_usager(t, u.id).await.unwrap().unwrap();
    assert!(doubtful.vigilance.attributes().dout);
    let chain = store
        .audit_chain(AuditChain::Structure(t.structure_id), 0, 1000)
        .await
        .unwrap();
    assert_eq!(chain.len(), entries_before + 2, "{chain:?}");
    let v = audit::verify_chain(store, AuditChain::Structure(t.structure_id))
        .await
        .unwrap();
    assert_eq!(v.first_break, None);
}

/// Writes in flight on one file with the version they read: the first wins,
/// the others are told (`Stale`) and write nothing; the version counts the
/// writes that went through. Reads group-committed meanwhile keep the chain whole.
async fn concurrent_writes_of_one_file_never_lose_one(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = f.medecin.tenant.clone();
    let u = db
        .store
        .create_usager(&t, &person("MARTIN", "ANNE"), &[])
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let (store, t, u) = (db.store.clone(), t.clone(), u.clone());
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                vigilance::set_doubt(store.as_ref(), &t, &u, true)
                    .await
                    .map(|_| ())
            } else {
                audit::record(store.as_ref(), &t, AuditAction::FileOpened, Some(u.id), "")
                    .await
                    .map_err(Into::into)
            }
        }));
    }
    let mut written = 0;
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(()) if i % 2 == 0 => written += 1,
            Ok(()) => {}
            Err(escale::services::error::ServiceError::Store(StoreError::Stale(id))) => {
                assert_eq!(id, u.id)
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(written, 1, "one doubt written, the others told");
    let now = db.store.get_usager(&t, u.id).await.unwrap().unwrap();
    assert_eq!(now.version, u.version + 1);
    let v = audit::verify_chain(db.store.as_ref(), AuditChain::Structure(t.structure_id))
        .await
        .unwrap();
    assert_eq!(v.first_break, None);
}

/// Two people edit one file at once over HTTP: one edit is saved, the other
/// gets the French 409 with what was typed kept; sent again, it applies. A
/// vigilance action from a page read before a change is refused the same way.
async fn two_edits_of_one_file_over_http(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = f.medecin.tenant.clone();
    let app = spawn_app(db).await;
    let u = app
        .db
        .store
        .create_usager(&t, &person("MARTIN", "ANNE"), &[])
        .await
        .unwrap();
    let (a, b) = (app.client(), app.client());
    let csrf_a = login(&app, &a, f.medecin.professional.id, t.structure_id).await;
    let csrf_b = login(&app, &b, f.accueil.professional.id, t.structure_id).await;
    let edit = format!("/usagers/{}/modifier", u.id);
    let form_a = a
        .get(app.url(&edit))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form_b = b
        .get(app.url(&edit))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let version = hidden_value(&form_a, "version");
    assert_eq!(version, hidden_value(&form_b, "version"));
    // The identity panel of the file, read before any change.
    let panel = a
        .get(app.url(&format!("/usagers/{}", u.id)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let panel_version = hidden_value(&panel, "version");

    let fields = |csrf: &str, phone: &str, address: &str, version: &str| {
        vec![
            ("_csrf".to_string(), csrf.to_string()),
            ("birth_name".into(), "MARTIN".into()),
            ("first_names".into(), "ANNE".into()),
            ("birth_date".into(), "07/04/1980".into()),
            ("sex".into(), "F".into()),
            ("phone".into(), phone.to_string()),
            ("address".into(), address.to_string()),
            ("version".into(), version.to_string()),
        ]
    };
    let path = app.url(&format!("/usagers/{}", u.id));
    let (ra, rb) = tokio::join!(
        a.post(&path)
            .form(&fields(&csrf_a, "0601020304", "1 rue A", &version))
            .send(),
        b.post(&path)
            .form(&fields(&csrf_b, "0699999999", "9 rue B", &version))
            .send(),
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let statuses = (ra.status(), rb.status());
    let (ta, tb) = (ra.text().await.unwrap(), rb.text().await.unwrap());
    let (lost_page, lost_phone, lost_client, lost_csrf, won_phone) = match statuses {
        (StatusCode::SEE_OTHER, StatusCode::CONFLICT) => {
            (tb, "0699999999", &b, &csrf_b, "0601020304")
        }
        (StatusCode::CONFLICT, StatusCode::SEE_OTHER) => {
            (ta, "0601020304", &a, &csrf_a, "0699999999")
        }
        other => panic!("one edit wins, the other is told: {other:?}\n{ta}\n{tb}"),
    };
    assert!(
        lost_page.contains("modifié par quelqu'un d'autre"),
        "{lost_page}"
    );
    assert!(lost_page.contains(lost_phone), "what was typed is kept");
    let saved = app.db.store.get_usager(&t, u.id).await.unwrap().unwrap();
    assert_eq!(saved.data.contact.phone.as_deref(), Some(won_phone));
    assert_eq!(saved.version, u.version + 1);
    // The page now carries the current version: sent again, it applies.
    let current = hidden_value(&lost_page, "version");
    assert_eq!(current, saved.version.to_string());
    let lost_address = if lost_phone == "0699999999" {
        "9 rue B"
    } else {
        "1 rue A"
    };
    let r = lost_client
        .post(&path)
        .form(&fields(lost_csrf, lost_phone, lost_address, &current))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let saved = app.db.store.get_usager(&t, u.id).await.unwrap().unwrap();
    assert_eq!(saved.data.contact.phone.as_deref(), Some(lost_phone));

    // A doubt raised from the panel read before both edits: refused, in French.
    let r = a
        .post(app.url(&format!("/usagers/{}/doute", u.id)))
        .form(&[
            ("_csrf", csrf_a.as_str()),
            ("action", "signaler"),
            ("version", panel_version.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let page = r.text().await.unwrap();
    assert!(page.contains("Dossier modifié entre-temps"), "{page}");
    assert!(page.contains(&format!("/usagers/{}", u.id)), "{page}");
    let now = app.db.store.get_usager(&t, u.id).await.unwrap().unwrap();
    assert!(!now.vigilance.attributes().dout);
    assert_eq!(now.vigilance.status(), IdentityStatus::Prov);
}

both_backends!(
    a_change_whose_trace_fails_is_not_kept,
    concurrent_writes_of_one_file_never_lose_one,
    two_edits_of_one_file_over_http,
);
