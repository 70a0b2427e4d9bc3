//! The `Store` contract: every scenario runs on SQLite and on PostgreSQL.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use std::collections::{BTreeSet, HashSet};
use uuid::Uuid;

use escale::domain::audit::{AuditAction, AuditRecord, ChainVerifier};
use escale::domain::care::{ActivityKind, Confidentiality, EpisodeKind};
use escale::domain::roles::Role;
use escale::domain::search::terms;
use escale::domain::structure::StructureKind;
use escale::domain::usager::{Contact, Identity, Sex, UsagerData};
use escale::store::{
    AuditChain, AuditEvent, AuditFilter, Backend, DynStore, NewActivity, NewEpisode, NewNote,
    NewProfessional, NewSession, NewStructure, StoreError, UsagerQuery,
};

use crate::common::db::{self, CSAPA_FINESS, TestBackend, TestDb, seed_two_structures};

// ---- helpers ----------------------------------------------------------------

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

/// Now, at the microsecond: the precision both databases keep.
fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).expect("in range")
}

fn traits(birth_name: &str, first_names: &str, birth_date: NaiveDate, sex: Sex) -> UsagerData {
    UsagerData {
        identity: Identity::Traits {
            birth_name: birth_name.to_string(),
            first_names: first_names.to_string(),
            used_name: None,
            used_first_name: None,
            birth_date,
            sex,
            birth_place_code: None,
        },
        contact: Contact::default(),
    }
}

fn anonymous(alias: &str) -> UsagerData {
    UsagerData {
        identity: Identity::Anonymous {
            alias: alias.to_string(),
            sex: None,
            birth_year: None,
        },
        contact: Contact::default(),
    }
}

fn query(text: &str) -> UsagerQuery {
    UsagerQuery {
        terms: terms(text),
        birth_date: None,
        limit: 50,
    }
}

fn event(action: AuditAction, details: &str) -> AuditEvent {
    AuditEvent {
        actor_id: None,
        actor_label: "test".to_string(),
        action: action.code().to_string(),
        usager_id: None,
        details: details.to_string(),
    }
}

async fn whole_chain(store: &DynStore, chain: AuditChain) -> Vec<AuditRecord> {
    let mut out = Vec::new();
    loop {
        let after = out.last().map(|r: &AuditRecord| r.seq).unwrap_or(0);
        let page = store
            .audit_chain(chain, after, 7)
            .await
            .expect("audit_chain");
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

fn verify(records: &[AuditRecord]) -> u64 {
    let mut v = ChainVerifier::default();
    for r in records {
        v.check(r).unwrap_or_else(|b| panic!("chain broken: {b}"));
    }
    v.checked
}

fn expect_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>, what: &str) {
    match r {
        Err(StoreError::NotFound) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

// ---- instance administration -------------------------------------------------

both_backends!(backend_ping_and_migrate_again);
async fn backend_ping_and_migrate_again(db: TestDb) {
    let expected = match db.backend {
        TestBackend::Sqlite => Backend::Sqlite,
        TestBackend::Postgres => Backend::Postgres,
    };
    assert_eq!(db.store.backend(), expected);
    db.store.ping().await.expect("ping");
    // Migrations are idempotent (every process runs them at start).
    db.store.migrate().await.expect("second migrate");
    // The URL opens the same database.
    let again = escale::store::connect(&db.url).await.expect("connect url");
    again.ping().await.expect("ping second store");
    assert!(again.list_structures().await.unwrap().is_empty());
}

both_backends!(structures_and_finess_conflict);
async fn structures_and_finess_conflict(db: TestDb) {
    let store = &db.store;
    let b = db::create_structure(
        store,
        "Zéphyr",
        StructureKind::Caarud,
        "330000027",
        "330000043",
    )
    .await;
    let a = db::create_structure(
        store,
        "Aurore",
        StructureKind::Csapa,
        CSAPA_FINESS,
        "640000030",
    )
    .await;
    assert_eq!(a.name, "Aurore");
    assert_eq!(a.kind, StructureKind::Csapa);
    assert_eq!(a.finess_geo, CSAPA_FINESS);
    assert_eq!(a.finess_juridique, "640000030");
    assert_eq!(
        a.medical_roles,
        vec![Role::Medecin, Role::Infirmier, Role::Psychologue]
    );
    assert!((Utc::now() - a.created_at).num_seconds().abs() < 60);

    assert_eq!(store.get_structure(a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.get_structure(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(
        store.find_structure_by_finess(CSAPA_FINESS).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store.find_structure_by_finess("640000022").await.unwrap(),
        None
    );
    // Sorted by name.
    assert_eq!(
        store.list_structures().await.unwrap(),
        vec![a.clone(), b.clone()]
    );

    let dup = store
        .create_structure(
            &NewStructure {
                name: "Doublon".into(),
                kind: StructureKind::Act,
                finess_geo: CSAPA_FINESS.into(),
                finess_juridique: "640000030".into(),
            },
            &|_| Vec::new(),
        )
        .await;
    match dup {
        Err(StoreError::Conflict(msg)) => assert!(msg.contains(CSAPA_FINESS), "{msg}"),
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(store.list_structures().await.unwrap().len(), 2);
}

both_backends!(professionals_and_national_id_conflict);
async fn professionals_and_national_id_conflict(db: TestDb) {
    let store = &db.store;
    let new = NewProfessional {
        first_name: "Élodie".into(),
        last_name: "N'Guyen-Łukasz".into(),
        national_id: Some("810000000017".into()),
        profession: "Médecin".into(),
        instance_admin: true,
    };
    let p = store
        .create_professional(&new, &|_| Vec::new())
        .await
        .expect("create");
    assert_eq!(p.first_name, "Élodie");
    assert_eq!(p.last_name, "N'Guyen-Łukasz");
    assert_eq!(p.national_id.as_deref(), Some("810000000017"));
    assert_eq!(p.profession, "Médecin");
    assert!(p.instance_admin);
    assert!(p.active);
    assert_eq!(store.get_professional(p.id).await.unwrap(), Some(p.clone()));
    assert_eq!(store.get_professional(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(
        store
            .find_professional_by_national_id("810000000017")
            .await
            .unwrap(),
        Some(p.clone())
    );
    assert_eq!(
        store
            .find_professional_by_national_id("899999999999")
            .await
            .unwrap(),
        None
    );

    let dup = store
        .create_professional(
            &NewProfessional {
                first_name: "Autre".into(),
                ..new.clone()
            },
            &|_| Vec::new(),
        )
        .await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(_))),
        "expected Conflict, got {dup:?}"
    );
    // Several professionals without a national identifier are fine.
    for i in 0..2 {
        let q = store
            .create_professional(
                &NewProfessional {
                    first_name: format!("Sans{i}"),
                    national_id: None,
                    instance_admin: false,
                    ..new.clone()
                },
                &|_| Vec::new(),
            )
            .await
            .expect("no national id");
        assert_eq!(q.national_id, None);
        assert!(!q.instance_admin);
    }
}

both_backends!(roles_tenants_and_login_choices);
async fn roles_tenants_and_login_choices(db: TestDb) {
    let store = &db.store;
    let f = seed_two_structures(store).await;

    // Idempotent grants; several roles are aggregated.
    let id = f.medecin.professional.id;
    store
        .grant_role(f.csapa.id, id, Role::Medecin, &[])
        .await
        .unwrap();
    store
        .grant_role(f.csapa.id, id, Role::Medecin, &[])
        .await
        .unwrap();
    store
        .grant_role(f.csapa.id, id, Role::ReferentIdentitovigilance, &[])
        .await
        .unwrap();
    let t = store.tenant_for(id, f.csapa.id).await.unwrap().unwrap();
    assert_eq!(t.structure_id, f.csapa.id);
    assert_eq!(t.structure_kind, StructureKind::Csapa);
    assert_eq!(t.professional_id, id);
    assert_eq!(t.actor_label, "Claire Bernard");
    assert_eq!(
        t.roles.iter().collect::<Vec<_>>(),
        vec![Role::Medecin, Role::ReferentIdentitovigilance]
    );
    assert_eq!(
        t.medical_roles,
        vec![Role::Medecin, Role::Infirmier, Role::Psychologue]
    );
    assert_eq!(f.other.tenant.structure_kind, StructureKind::Caarud);
    assert_eq!(f.other.tenant.actor_label, "Inès Roux");

    // No membership, no tenant.
    assert_eq!(store.tenant_for(id, f.caarud.id).await.unwrap(), None);
    assert_eq!(
        store
            .tenant_for(f.other.professional.id, f.csapa.id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.tenant_for(Uuid::new_v4(), f.csapa.id).await.unwrap(),
        None
    );
    let loner = db::create_professional(store, "Sans", "Rôle", None, "Infirmier").await;
    assert_eq!(store.tenant_for(loner.id, f.csapa.id).await.unwrap(), None);

    // Login choices: every active professional, sorted by name, with memberships.
    let choices = store.login_choices().await.unwrap();
    let names: Vec<_> = choices
        .iter()
        .map(|c| c.professional.last_name.as_str())
        .collect();
    assert_eq!(
        names,
        vec!["Bernard", "Durand", "Martin", "Petit", "Roux", "Rôle"]
    );
    let bernard = &choices[0];
    assert_eq!(bernard.memberships.len(), 1);
    assert_eq!(bernard.memberships[0].structure_id, f.csapa.id);
    assert_eq!(bernard.memberships[0].structure_name, "CSAPA Les Embruns");
    assert!(
        bernard.memberships[0]
            .roles
            .contains(Role::ReferentIdentitovigilance)
    );
    let roux = choices
        .iter()
        .find(|c| c.professional.id == f.other.professional.id)
        .unwrap();
    assert_eq!(roux.memberships.len(), 1);
    assert_eq!(roux.memberships[0].structure_id, f.caarud.id);
    assert!(roux.memberships[0].roles.contains(Role::Directeur));
    assert!(choices.last().unwrap().memberships.is_empty());

    // A professional in both structures has two memberships, one tenant each.
    store
        .grant_role(f.caarud.id, f.social.professional.id, Role::Educateur, &[])
        .await
        .unwrap();
    let durand = store
        .login_choices()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.professional.id == f.social.professional.id)
        .unwrap();
    let mut in_structures: Vec<_> = durand.memberships.iter().map(|m| m.structure_id).collect();
    in_structures.sort();
    let mut expected = vec![f.csapa.id, f.caarud.id];
    expected.sort();
    assert_eq!(in_structures, expected);
    let in_b = store
        .tenant_for(f.social.professional.id, f.caarud.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(in_b.roles.iter().collect::<Vec<_>>(), vec![Role::Educateur]);
}

both_backends!(team_lists_active_members_of_the_structure);
async fn team_lists_active_members_of_the_structure(db: TestDb) {
    let store = &db.store;
    let f = seed_two_structures(store).await;
    let team = store.team(&f.accueil.tenant).await.unwrap();
    let names: Vec<_> = team.iter().map(|m| m.display_name.as_str()).collect();
    assert_eq!(
        names,
        vec!["Claire Bernard", "Karim Durand", "Léa Martin", "Paul Petit"]
    );
    assert_eq!(team[0].id, f.medecin.professional.id);
    assert!(team[0].roles.contains(Role::Medecin));
    assert!(team[3].roles.contains(Role::Directeur));

    let team_b = store.team(&f.other.tenant).await.unwrap();
    assert_eq!(team_b.len(), 1);
    assert_eq!(team_b[0].id, f.other.professional.id);
    assert_eq!(
        team_b[0].roles.iter().collect::<Vec<_>>(),
        vec![Role::Medecin, Role::Directeur]
    );
}

// ---- sessions -----------------------------------------------------------------

both_backends!(sessions_lifecycle);
async fn sessions_lifecycle(db: TestDb) {
    let store = &db.store;
    let f = seed_two_structures(store).await;
    let now = now_micros();
    let live = NewSession {
        token_hash: "a".repeat(64),
        professional_id: f.social.professional.id,
        structure_id: f.csapa.id,
        csrf_token: "csrf-\u{e9}t\u{e9}".into(),
        auth_method: "sandbox".into(),
        created_at: now,
        expires_at: now + Duration::hours(8),
    };
    let expired = NewSession {
        token_hash: "b".repeat(64),
        created_at: now - Duration::hours(10),
        expires_at: now - Duration::hours(2),
        ..live.clone()
    };
    let other = NewSession {
        token_hash: "c".repeat(64),
        professional_id: f.other.professional.id,
        structure_id: f.caarud.id,
        ..live.clone()
    };
    for s in [&live, &expired, &other] {
        store.create_session(s).await.expect("create session");
    }

    let (row, tenant) = store
        .session_with_tenant(&live.token_hash)
        .await
        .unwrap()
        .expect("session found");
    assert_eq!(row.token_hash, live.token_hash);
    assert_eq!(row.professional_id, live.professional_id);
    assert_eq!(row.structure_id, live.structure_id);
    assert_eq!(row.csrf_token, live.csrf_token);
    assert_eq!(row.auth_method, "sandbox");
    assert_eq!(row.created_at, now);
    assert_eq!(row.last_seen_at, now);
    assert_eq!(row.expires_at, live.expires_at);
    assert_eq!(row.professional_name, "Karim Durand");
    assert_eq!(row.structure_name, "CSAPA Les Embruns");
    assert_eq!(tenant, f.social.tenant);

    let (_, tenant_b) = store
        .session_with_tenant(&other.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tenant_b, f.other.tenant);
    assert!(
        store
            .session_with_tenant("inconnu")
            .await
            .unwrap()
            .is_none()
    );

    // Touch.
    let later = now + Duration::minutes(5) + Duration::microseconds(123_456);
    store.touch_session(&live.token_hash, later).await.unwrap();
    let (row, _) = store
        .session_with_tenant(&live.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.last_seen_at, later);
    assert_eq!(row.created_at, now);

    // A role granted later shows in the session's tenant.
    store
        .grant_role(f.csapa.id, f.social.professional.id, Role::Educateur, &[])
        .await
        .unwrap();
    let (_, tenant) = store
        .session_with_tenant(&live.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert!(tenant.roles.contains(Role::Educateur));
    assert!(tenant.roles.contains(Role::TravailleurSocial));

    // Purge removes only expired sessions.
    assert_eq!(store.purge_expired_sessions(now).await.unwrap(), 1);
    assert!(
        store
            .session_with_tenant(&expired.token_hash)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .session_with_tenant(&live.token_hash)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.purge_expired_sessions(now).await.unwrap(), 0);

    // Delete (idempotent).
    store.delete_session(&live.token_hash).await.unwrap();
    store.delete_session(&live.token_hash).await.unwrap();
    assert!(
        store
            .session_with_tenant(&live.token_hash)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .session_with_tenant(&other.token_hash)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store
            .purge_expired_sessions(now + Duration::days(1))
            .await
            .unwrap(),
        1
    );
}

// ---- user files -------------------------------------------------------------------

/// Values a database or a template could mangle.
const NASTY: [&str; 6] = [
    "'); DROP TABLE usagers;--",
    "<script>alert('x')</script>",
    "Zoé-Léa d’Aubigné 🦊",
    "Ærø \"Œuvre\" \\ % _ ; --",
    "二郎 Łódź Ñandú",
    "ligne 1\nligne 2\ttab",
];

both_backends!(usagers_round_trip_exactly);
async fn usagers_round_trip_exactly(db: TestDb) {
    let store = &db.store;
    let f = seed_two_structures(store).await;
    let t = &f.accueil.tenant;
    assert_eq!(store.count_usagers(t).await.unwrap(), 0);

    let full = UsagerData {
        identity: Identity::Traits {
            birth_name: "D'ARTAGNAN-Élisabeth 🦊".into(),
            first_names: "Zoé Marie-Noëlle".into(),
            used_name: Some("<script>alert('x')</script>".into()),
            used_first_name: Some("'); DROP TABLE usagers;--".into()),
            birth_date: date(1985, 3, 12),
            sex: Sex::F,
            birth_place_code: Some("2A004".into()),
        },
        contact: Contact {
            phone: Some("+33 6 12 34 56 78".into()),
            email: Some("zoé@exemple.fr".into()),
            address: Some("12, rue de l'Église\n64100 Bayonne".into()),
        },
    };
    let created = store.create_usager(t, &full, &[]).await.expect("create");
    assert_eq!(created.data, full);
    assert_eq!(created.structure_id, f.csapa.id);
    assert_eq!(created.created_at, created.updated_at);
    let got = store.get_usager(t, created.id).await.unwrap().unwrap();
    assert_eq!(got, created);

    for (i, nasty) in NASTY.iter().enumerate() {
        let data = UsagerData {
            identity: Identity::Traits {
                birth_name: nasty.to_string(),
                first_names: format!("{nasty} {i}"),
                used_name: Some(nasty.to_string()),
                used_first_name: None,
                birth_date: date(1950 + i as i32, 1 + i as u32, 28),
                sex: Sex::I,
                birth_place_code: None,
            },
            contact: Contact {
                phone: None,
                email: None,
                address: Some(nasty.to_string()),
            },
        };
        let u = store.create_usager(t, &data, &[]).await.unwrap();
        assert_eq!(store.get_usager(t, u.id).await.unwrap().unwrap().data, data);
        let anon = UsagerData {
            identity: Identity::Anonymous {
                alias: nasty.to_string(),
                sex: Some(Sex::M),
                birth_year: Some(1990 + i as i32),
            },
            contact: Contact::default(),
        };
        let a = store.create_usager(t, &anon, &[]).await.unwrap();
        assert_eq!(store.get_usager(t, a.id).await.unwrap().unwrap().data, anon);
    }
    assert_eq!(
        store.count_usagers(t).await.unwrap(),
        1 + 2 * NASTY.len() as i64
    );

    // Update: traits → anonymous → traits; the creation time stays.
    let anon = UsagerData {
        identity: Identity::Anonymous {
            alias: "Renard 🦊".into(),
            sex: None,
            birth_year: None,
        },
        contact: Contact {
            phone: Some("06".into()),
            email: None,
            address: None,
        },
    };
    let updated = store
        .update_usager(t, created.id, created.version, &anon, &[])
        .await
        .unwrap();
    assert_eq!(updated.data, anon);
    assert_eq!(updated.created_at, created.created_at);
    assert!(updated.updated_at >= created.updated_at);
    assert_eq!(
        store.get_usager(t, created.id).await.unwrap().unwrap(),
        updated
    );
    let back = store
        .update_usager(t, created.id, updated.version, &full, &[])
        .await
        .unwrap();
    assert_eq!(back.data, full);
    assert_eq!(
        store.get_usager(t, created.id).await.unwrap().unwrap(),
        back
    );

    expect_not_found(
        store.update_usager(t, Uuid::new_v4(), 0, &full, &[]).await,
        "update of an unknown file",
    );
    assert_eq!(store.get_usager(t, Uuid::new_v4()).await.unwrap(), None);

    // The tables survived the injection attempts.
    assert_eq!(
        store.count_usagers(t).await.unwrap(),
        1 + 2 * NASTY.len() as i64
    );
}

both_backends!(tenant_isolation);
async fn tenant_isolation(db: TestDb) {
    let store = &db.store;
    let f = seed_two_structures(store).await;
    let a = &f.medecin.tenant;
    let b = &f.other.tenant; // médecin and directeur, but in structure B
    let data = traits("Dupont", "Marie", date(1985, 3, 12), Sex::F);
    let u = store.create_usager(a, &data, &[]).await.unwrap();
    let ep = store
        .add_episode(
            a,
            u.id,
            &NewEpisode {
                kind: EpisodeKind::Ambulatoire,
                start_date: date(2025, 1, 6),
                end_date: None,
                referent_id: None,
            },
            &[],
        )
        .await
        .unwrap();
    store
        .add_note(
            a,
            u.id,
            &NewNote {
                confidentiality: Confidentiality::Partagee,
                body: "visible dans A seulement".into(),
            },
            &[],
        )
        .await
        .unwrap();
    store
        .add_activity(
            a,
            u.id,
            &NewActivity {
                kind: ActivityKind::Entretien,
                date: date(2025, 1, 6),
                duration_minutes: Some(30),
                participant_ids: vec![],
                comment: None,
            },
            &[],
        )
        .await
        .unwrap();

    assert_eq!(store.get_usager(b, u.id).await.unwrap(), None);
    expect_not_found(
        store
            .update_usager(
                b,
                u.id,
                u.version,
                &traits("Pirate", "Eve", date(1990, 1, 1), Sex::F),
                &[],
            )
            .await,
        "update from B",
    );
    assert!(
        store
            .search_usagers(b, &query("dupont"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .search_usagers(
                b,
                &UsagerQuery {
                    terms: vec![],
                    birth_date: Some(date(1985, 3, 12)),
                    limit: 50
                }
            )
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.count_usagers(b).await.unwrap(), 0);
    expect_not_found(
        store
            .add_episode(
                b,
                u.id,
                &NewEpisode {
                    kind: EpisodeKind::Caarud,
                    start_date: date(2025, 2, 1),
                    end_date: None,
                    referent_id: None,
                },
                &[],
            )
            .await,
        "episode from B",
    );
    expect_not_found(
        store
            .close_episode(b, u.id, ep.id, date(2025, 3, 1), &[])
            .await,
        "closing A's episode from B",
    );
    assert!(store.episodes(b, u.id).await.unwrap().is_empty());
    expect_not_found(
        store
            .add_note(
                b,
                u.id,
                &NewNote {
                    confidentiality: Confidentiality::Medicale,
                    body: "intrusion".into(),
                },
                &[],
            )
            .await,
        "note from B",
    );
    assert!(store.notes(b, u.id).await.unwrap().is_empty());
    expect_not_found(
        store
            .add_activity(
                b,
                u.id,
                &NewActivity {
                    kind: ActivityKind::ReductionRisques,
                    date: date(2025, 2, 1),
                    duration_minutes: None,
                    participant_ids: vec![],
                    comment: None,
                },
                &[],
            )
            .await,
        "activity from B",
    );
    assert!(store.activities(b, u.id).await.unwrap().is_empty());

    // A's file is untouched, and B's attempts left nothing behind.
    assert_eq!(store.get_usager(a, u.id).await.unwrap().unwrap(), u);
    assert_eq!(store.episodes(a, u.id).await.unwrap(), vec![ep]);
    let notes = store.notes(a, u.id).await.unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].body, "visible dans A seulement");
    assert_eq!(store.activities(a, u.id).await.unwrap().len(), 1);

    // And the other way round: B's own file is invisible to A.
    let ub = store
        .create_usager(b, &anonymous("Dupont"), &[])
        .await
        .unwrap();
    assert_eq!(store.get_usager(a, ub.id).await.unwrap(), None);
    let found: Vec<_> = store
        .search_usagers(a, &query("dupont"))
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(found, vec![u.id]);
}

both_backends!(search_usagers);
async fn search_usagers(db: TestDb) {
    let store = &db.store;
    let f = seed_two_structures(store).await;
    let t = &f.accueil.tenant;
    let zoe = store
        .create_usager(
            t,
            &UsagerData {
                identity: Identity::Traits {
                    birth_name: "Dupont".into(),
                    first_names: "Zoé Léa".into(),
                    used_name: Some("Lefèvre".into()),
                    used_first_name: Some("Zoza".into()),
                    birth_date: date(1985, 3, 12),
                    sex: Sex::F,
                    birth_place_code: None,
                },
                contact: Contact::default(),
            },
            &[],
        )
        .await
        .unwrap();
    let marc = store
        .create_usager(
            t,
            &traits("Dupontel", "Marc", date(1990, 7, 1), Sex::M),
            &[],
        )
        .await
        .unwrap();
    let aube = store
        .create_usager(
            t,
            &traits("Aubigné", "Éloïse", date(1985, 3, 12), Sex::F),
            &[],
        )
        .await
        .unwrap();
    let renard = store
        .create_usager(t, &anonymous("Renard bleu 🦊"), &[])
        .await
        .unwrap();

    let ids = |v: Vec<escale::store::Listed>| v.into_iter().map(|u| u.id).collect::<Vec<_>>();
    let set = |v: Vec<escale::store::Listed>| v.into_iter().map(|u| u.id).collect::<BTreeSet<_>>();

    // Partial, case- and accent-insensitive; ordered by search key.
    assert_eq!(
        ids(store.search_usagers(t, &query("dup")).await.unwrap()),
        vec![zoe.id, marc.id]
    );
    assert_eq!(
        ids(store.search_usagers(t, &query("ZOE")).await.unwrap()),
        vec![zoe.id]
    );
    assert_eq!(
        ids(store.search_usagers(t, &query("zoé")).await.unwrap()),
        vec![zoe.id]
    );
    assert_eq!(
        ids(store
            .search_usagers(t, &query("eloise aubigne"))
            .await
            .unwrap()),
        vec![aube.id]
    );
    assert_eq!(
        ids(store
            .search_usagers(t, &query("  AUBIGNÉ  "))
            .await
            .unwrap()),
        vec![aube.id]
    );
    // Every term must match.
    assert_eq!(
        ids(store
            .search_usagers(t, &query("dupont marc"))
            .await
            .unwrap()),
        vec![marc.id]
    );
    assert!(
        store
            .search_usagers(t, &query("dupont eloise"))
            .await
            .unwrap()
            .is_empty()
    );
    // Used name and used first name.
    assert_eq!(
        ids(store.search_usagers(t, &query("lefevre")).await.unwrap()),
        vec![zoe.id]
    );
    assert_eq!(
        ids(store.search_usagers(t, &query("zoza")).await.unwrap()),
        vec![zoe.id]
    );
    // Alias of an anonymous file.
    assert_eq!(
        ids(store.search_usagers(t, &query("bleu")).await.unwrap()),
        vec![renard.id]
    );
    assert_eq!(
        ids(store.search_usagers(t, &query("RENARD")).await.unwrap()),
        vec![renard.id]
    );
    // Characters that mean something to LIKE or SQL match nothing special.
    assert!(store.search_usagers(t, &query("%")).await.unwrap().len() == 4);
    assert!(
        store
            .search_usagers(
                t,
                &UsagerQuery {
                    terms: vec!["%".into(), "_".into()],
                    birth_date: None,
                    limit: 50
                }
            )
            .await
            .is_ok()
    );
    assert!(
        store
            .search_usagers(t, &query("'); DROP TABLE usagers;--"))
            .await
            .unwrap()
            .is_empty()
    );
    // Birth date alone, and with a term.
    let by_date = UsagerQuery {
        terms: vec![],
        birth_date: Some(date(1985, 3, 12)),
        limit: 50,
    };
    assert_eq!(
        set(store.search_usagers(t, &by_date).await.unwrap()),
        BTreeSet::from([zoe.id, aube.id])
    );
    let by_date_and_name = UsagerQuery {
        terms: terms("dup"),
        ..by_date.clone()
    };
    assert_eq!(
        ids(store.search_usagers(t, &by_date_and_name).await.unwrap()),
        vec![zoe.id]
    );
    assert!(
        store
            .search_usagers(
                t,
                &UsagerQuery {
                    terms: vec![],
                    birth_date: Some(date(2000, 1, 1)),
                    limit: 50
                }
            )
            .await
            .unwrap()
            .is_empty()
    );
    // No criterion: everything, sorted; the limit is respected.
    let all = store.search_usagers(t, &query("")).await.unwrap();
    assert_eq!(ids(all), vec![aube.id, zoe.id, marc.id, renard.id]);
    let limited = UsagerQuery {
        limit: 2,
        ..query("")
    };
    assert_eq!(
        ids(store.search_usagers(t, &limited).await.unwrap()),
        vec![aube.id, zoe.id]
    );
    let one = UsagerQuery {
        limit: 1,
        ..query("dup")
    };
    assert_eq!(
        ids(store.search_usagers(t, &one).await.unwrap()),
        vec![zoe.id]
    );

    // The search key follows updates.
    store
        .update_usager(
            t,
            marc.id,
            marc.version,
            &traits("Durand", "Marc", date(1990, 7, 1), Sex::M),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        ids(store.search_usagers(t, &query("dup")).await.unwrap()),
        vec![zoe.id]
    );
    assert_eq!(
        ids(store.search_usagers(t, &query("durand")).await.unwrap()),
        vec![marc.id]
    );
}

// ---- care -----------------------------------------------------------------------------

both_backends!(episodes_add_and_close);
async fn episodes_add_and_close(db: TestDb) {
    let store = &db.store;
    let f = seed_two_structures(store).await;
    let t = &f.social.tenant;
    let u = store
        .create_usager(t, &anonymous("Mistral"), &[])
        .await
        .unwrap();

    let first = store
        .add_episode(
            t,
            u.id,
            &NewEpisode {
                kind: EpisodeKind::Ambulatoire,
                start_date: date(2024, 9, 2),
                end_date: None,
                referent_id: Some(f.medecin.professional.id),
            },
            &[],
        )
        .await
        .unwrap();
    assert_eq!(first.usager_id, u.id);
    assert_eq!(first.kind, EpisodeKind::Ambulatoire);
    assert_eq!(first.start_date, date(2024, 9, 2));
    assert_eq!(first.end_date, None);
    assert_eq!(first.referent_id, Some(f.medecin.professional.id));
    assert_eq!(first.referent_name.as_deref(), Some("Claire Bernard"));

    let second = store
        .add_episode(
            t,
            u.id,
            &NewEpisode {
                kind: EpisodeKind::Hebergement,
                start_date: date(2025, 1, 15),
                end_date: Some(date(2025, 6, 30)),
                referent_id: None,
            },
            &[],
        )
        .await
        .unwrap();
    assert_eq!(second.referent_id, None);
    assert_eq!(second.referent_name, None);
    assert_eq!(second.end_date, Some(date(2025, 6, 30)));

    // Newest start first.
    assert_eq!(
        store.episodes(t, u.id).await.unwrap(),
        vec![second.clone(), first.clone()]
    );

    // A referent from another structure (or nobody) is refused.
    for referent in [f.other.professional.id, Uuid::new_v4()] {
        expect_not_found(
            store
                .add_episode(
                    t,
                    u.id,
                    &NewEpisode {
                        kind: EpisodeKind::Ambulatoire,
                        start_date: date(2025, 2, 1),
                        end_date: None,
                        referent_id: Some(referent),
                    },
                    &[],
                )
                .await,
            "foreign referent",
        );
    }
    expect_not_found(
        store
            .add_episode(
                t,
                Uuid::new_v4(),
                &NewEpisode {
                    kind: EpisodeKind::Ambulatoire,
                    start_date: date(2025, 2, 1),
                    end_date: None,
                    referent_id: None,
                },
                &[],
            )
            .await,
        "unknown file",
    );
    assert_eq!(store.episodes(t, u.id).await.unwrap().len(), 2);

    // Close: not before the start, not someone else's episode.
    expect_not_found(
        store
            .close_episode(t, u.id, first.id, date(2024, 9, 1), &[])
            .await,
        "close before start",
    );
    expect_not_found(
        store
            .close_episode(t, u.id, Uuid::new_v4(), date(2025, 1, 1), &[])
            .await,
        "close unknown episode",
    );
    let other_file = store
        .create_usager(t, &anonymous("Autan"), &[])
        .await
        .unwrap();
    expect_not_found(
        store
            .close_episode(t, other_file.id, first.id, date(2025, 1, 1), &[])
            .await,
        "close through another file",
    );
    store
        .close_episode(t, u.id, first.id, date(2024, 9, 2), &[])
        .await
        .expect("close on the start day");
    store
        .close_episode(t, u.id, first.id, date(2024, 12, 20), &[])
        .await
        .expect("close");
    let eps = store.episodes(t, u.id).await.unwrap();
    assert_eq!(eps[1].id, first.id);
    assert_eq!(eps[1].end_date, Some(date(2024, 12, 20)));
    assert_eq!(eps[0], second);
}

both_backends!(activities_with_participants);
async fn activities_with_participants(db: TestDb) {
    let store = &db.store;
    let f = seed_two_structures(store).await;
    let t = &f.social.tenant;
    let u = store
        .create_usager(t, &anonymous("Sirocco"), &[])
        .await
        .unwrap();

    let a = store
        .add_activity(
            t,
            u.id,
            &NewActivity {
                kind: ActivityKind::AccompagnementSocial,
                date: date(2025, 3, 4),
                duration_minutes: Some(45),
                participant_ids: vec![
                    f.directeur.professional.id,
                    f.other.professional.id, // structure B: dropped
                    f.medecin.professional.id,
                    Uuid::new_v4(),              // nobody: dropped
                    f.directeur.professional.id, // twice: once
                ],
                comment: Some("Dossier CAF <b>urgent</b> — 'ok'".into()),
            },
            &[],
        )
        .await
        .unwrap();
    assert_eq!(a.usager_id, u.id);
    assert_eq!(a.kind, ActivityKind::AccompagnementSocial);
    assert_eq!(a.date, date(2025, 3, 4));
    assert_eq!(a.duration_minutes, Some(45));
    assert_eq!(a.participants, vec!["Claire Bernard", "Paul Petit"]);
    assert_eq!(
        a.comment.as_deref(),
        Some("Dossier CAF <b>urgent</b> — 'ok'")
    );
    assert_eq!(a.created_by, f.social.professional.id);

    let b = store
        .add_activity(
            t,
            u.id,
            &NewActivity {
                kind: ActivityKind::DistributionMateriel,
                date: date(2025, 3, 10),
                duration_minutes: None,
                participant_ids: vec![f.other.professional.id],
                comment: None,
            },
            &[],
        )
        .await
        .unwrap();
    assert!(b.participants.is_empty());
    assert_eq!(b.duration_minutes, None);
    assert_eq!(b.comment, None);

    // Newest first.
    assert_eq!(store.activities(t, u.id).await.unwrap(), vec![b, a]);
    expect_not_found(
        store
            .add_activity(
                t,
                Uuid::new_v4(),
                &NewActivity {
                    kind: ActivityKind::Entretien,
                    date: date(2025, 3, 10),
                    duration_minutes: None,
                    participant_ids: vec![],
                    comment: None,
                },
                &[],
            )
            .await,
        "activity on an unknown file",
    );
}

both_backends!(notes_confidentiality);
async fn notes_confidentiality(db: TestDb) {
    let store = &db.store;
    let f = seed_two_structures(store).await;
    let u = store
        .create_usager(&f.accueil.tenant, &anonymous("Tramontane"), &[])
        .await
        .unwrap();
    let note = |c: Confidentiality, body: &str| NewNote {
        confidentiality: c,
        body: body.to_string(),
    };

    // Nobody writes a class they cannot read.
    for (tenant, class) in [
        (&f.social.tenant, Confidentiality::Medicale),
        (&f.directeur.tenant, Confidentiality::Medicale),
        (&f.accueil.tenant, Confidentiality::Medicale),
        (&f.accueil.tenant, Confidentiality::Sociale),
    ] {
        let r = store
            .add_note(tenant, u.id, &note(class, "interdit"), &[])
            .await;
        assert!(
            matches!(r, Err(StoreError::Forbidden)),
            "{:?} writing {class:?}: {r:?}",
            tenant.roles
        );
    }

    let medical = store
        .add_note(
            &f.medecin.tenant,
            u.id,
            &note(
                Confidentiality::Medicale,
                "Traitement : <b>méthadone</b> 60 mg",
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(medical.author_id, f.medecin.professional.id);
    assert_eq!(medical.author_name, "Claire Bernard");
    assert_eq!(medical.confidentiality, Confidentiality::Medicale);
    assert_eq!(medical.body, "Traitement : <b>méthadone</b> 60 mg");
    assert_eq!(medical.usager_id, u.id);
    let social = store
        .add_note(
            &f.social.tenant,
            u.id,
            &note(Confidentiality::Sociale, "Demande de RSA en cours"),
            &[],
        )
        .await
        .unwrap();
    let shared = store
        .add_note(
            &f.accueil.tenant,
            u.id,
            &note(Confidentiality::Partagee, "'); DELETE FROM notes;--"),
            &[],
        )
        .await
        .unwrap();

    let classes = |notes: Vec<escale::store::Note>| {
        notes
            .into_iter()
            .map(|n| n.confidentiality)
            .collect::<HashSet<_>>()
    };
    let all = store.notes(&f.medecin.tenant, u.id).await.unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.contains(&medical) && all.contains(&social) && all.contains(&shared));
    // Newest first.
    assert!(all.windows(2).all(|w| w[0].created_at >= w[1].created_at));

    let for_social = store.notes(&f.social.tenant, u.id).await.unwrap();
    assert_eq!(
        classes(for_social.clone()),
        HashSet::from([Confidentiality::Partagee, Confidentiality::Sociale])
    );
    assert!(for_social.iter().all(|n| !n.body.contains("méthadone")));
    assert_eq!(
        classes(store.notes(&f.directeur.tenant, u.id).await.unwrap()),
        HashSet::from([Confidentiality::Partagee, Confidentiality::Sociale])
    );
    assert_eq!(
        store.notes(&f.accueil.tenant, u.id).await.unwrap(),
        vec![shared.clone()]
    );

    // A structure that does not count psychologists as medical readers.
    let psy = db::seed_member(
        store,
        &f.csapa,
        ("Nora", "Psy", None, "Psychologue"),
        &[Role::Psychologue],
    )
    .await;
    let mut restricted = psy.tenant.clone();
    restricted.medical_roles = vec![Role::Medecin];
    assert!(
        !classes(store.notes(&restricted, u.id).await.unwrap())
            .contains(&Confidentiality::Medicale)
    );
    assert!(
        classes(store.notes(&psy.tenant, u.id).await.unwrap()).contains(&Confidentiality::Medicale)
    );

    expect_not_found(
        store
            .add_note(
                &f.medecin.tenant,
                Uuid::new_v4(),
                &note(Confidentiality::Partagee, "x"),
                &[],
            )
            .await,
        "note on an unknown file",
    );
}

// ---- audit journal ---------------------------------------------------------------------

both_backends!(audit_chains_filters_and_verification);
async fn audit_chains_filters_and_verification(db: TestDb) {
    let store = &db.store;
    let f = seed_two_structures(store).await;
    let chain_a = AuditChain::Structure(f.csapa.id);
    let chain_b = AuditChain::Structure(f.caarud.id);
    assert!(store.audit_chains().await.unwrap().is_empty());
    assert!(store.audit_chain(chain_a, 0, 100).await.unwrap().is_empty());

    let u1 = Uuid::new_v4();
    let u2 = Uuid::new_v4();
    let actor = &f.medecin.tenant;
    let mut appended = Vec::new();
    for i in 0..12 {
        let (action, usager) = match i % 3 {
            0 => (AuditAction::FileOpened, Some(u1)),
            1 => (AuditAction::NoteAdded, Some(u2)),
            _ => (AuditAction::Login, None),
        };
        let rec = store
            .append_audit(
                chain_a,
                &AuditEvent {
                    actor_id: Some(if i % 2 == 0 {
                        actor.professional_id
                    } else {
                        f.social.tenant.professional_id
                    }),
                    actor_label: actor.actor_label.clone(),
                    action: action.code().to_string(),
                    usager_id: usager,
                    details: format!("entrée {i} — « détails » <i>🦊</i> ';--"),
                },
            )
            .await
            .unwrap();
        assert_eq!(rec.seq, i + 1);
        appended.push(rec);
        // Interleave the other chains: each has its own numbering.
        if i % 4 == 0 {
            let r = store
                .append_audit(
                    AuditChain::Instance,
                    &event(AuditAction::StructureCreated, "x"),
                )
                .await
                .unwrap();
            assert_eq!(r.seq, i / 4 + 1);
        }
    }
    let b_rec = store
        .append_audit(chain_b, &event(AuditAction::Login, "dans B"))
        .await
        .unwrap();
    assert_eq!(b_rec.seq, 1);

    // Read back exactly (the hash covers the microsecond timestamp), and verify.
    let chain = whole_chain(store, chain_a).await;
    assert_eq!(chain, appended);
    assert_eq!(verify(&chain), 12);
    assert_eq!(verify(&whole_chain(store, AuditChain::Instance).await), 3);
    assert_eq!(whole_chain(store, chain_b).await, vec![b_rec.clone()]);
    assert_eq!(
        store.audit_chain(chain_a, 10, 100).await.unwrap(),
        appended[10..].to_vec()
    );
    assert_eq!(
        store.audit_chain(chain_a, 0, 3).await.unwrap(),
        appended[..3].to_vec()
    );

    let mut chains = store.audit_chains().await.unwrap();
    chains.sort();
    let mut expected = vec![AuditChain::Instance, chain_a, chain_b];
    expected.sort();
    assert_eq!(chains, expected);

    // Filters; newest first; only the tenant's structure.
    let seqs = |v: Vec<AuditRecord>| v.into_iter().map(|r| r.seq).collect::<Vec<_>>();
    let all = AuditFilter {
        limit: 100,
        ..Default::default()
    };
    let director = &f.directeur.tenant;
    assert_eq!(
        seqs(store.audit_entries(director, &all).await.unwrap()),
        (1..=12).rev().collect::<Vec<_>>()
    );
    assert_eq!(
        store.audit_entries(&f.other.tenant, &all).await.unwrap(),
        vec![b_rec]
    );
    let f_action = AuditFilter {
        action: Some(AuditAction::NoteAdded.code().into()),
        ..all.clone()
    };
    assert_eq!(
        seqs(store.audit_entries(director, &f_action).await.unwrap()),
        vec![11, 8, 5, 2]
    );
    let f_usager = AuditFilter {
        usager_id: Some(u1),
        ..all.clone()
    };
    assert_eq!(
        seqs(store.audit_entries(director, &f_usager).await.unwrap()),
        vec![10, 7, 4, 1]
    );
    let f_actor = AuditFilter {
        actor_id: Some(actor.professional_id),
        usager_id: Some(u1),
        ..all.clone()
    };
    assert_eq!(
        seqs(store.audit_entries(director, &f_actor).await.unwrap()),
        vec![7, 1]
    );
    let f_before = AuditFilter {
        before_seq: Some(5),
        limit: 3,
        ..all.clone()
    };
    assert_eq!(
        seqs(store.audit_entries(director, &f_before).await.unwrap()),
        vec![4, 3, 2]
    );
    let f_limit = AuditFilter {
        limit: 2,
        ..all.clone()
    };
    assert_eq!(
        seqs(store.audit_entries(director, &f_limit).await.unwrap()),
        vec![12, 11]
    );
    // Date range: today's entries are in [today, today], none in earlier days.
    let today = Utc::now().date_naive();
    let f_today = AuditFilter {
        from: Some(today - chrono::Days::new(1)),
        to: Some(today + chrono::Days::new(1)),
        ..all.clone()
    };
    assert_eq!(
        store.audit_entries(director, &f_today).await.unwrap().len(),
        12
    );
    let f_past = AuditFilter {
        from: Some(date(2020, 1, 1)),
        to: Some(today - chrono::Days::new(2)),
        ..all.clone()
    };
    assert!(
        store
            .audit_entries(director, &f_past)
            .await
            .unwrap()
            .is_empty()
    );
    let f_future = AuditFilter {
        from: Some(today + chrono::Days::new(2)),
        ..all.clone()
    };
    assert!(
        store
            .audit_entries(director, &f_future)
            .await
            .unwrap()
            .is_empty()
    );
    let f_until = AuditFilter {
        to: Some(today + chrono::Days::new(1)),
        action: Some(AuditAction::Login.code().into()),
        ..all.clone()
    };
    assert_eq!(
        seqs(store.audit_entries(director, &f_until).await.unwrap()),
        vec![12, 9, 6, 3]
    );
}

// `from` and `to` are inclusive days, whatever the time of the entry.
both_backends!(audit_date_range_bounds);
async fn audit_date_range_bounds(db: TestDb) {
    let store = &db.store;
    let f = seed_two_structures(store).await;
    let chain = AuditChain::Structure(f.csapa.id);
    let rec = store
        .append_audit(chain, &event(AuditAction::Login, "maintenant"))
        .await
        .unwrap();
    let day = rec.at.date_naive();
    let filter = |from: Option<NaiveDate>, to: Option<NaiveDate>| AuditFilter {
        from,
        to,
        limit: 10,
        ..Default::default()
    };
    let count = |v: Vec<AuditRecord>| v.len();
    let d = &f.directeur.tenant;
    assert_eq!(
        count(
            store
                .audit_entries(d, &filter(Some(day), Some(day)))
                .await
                .unwrap()
        ),
        1
    );
    assert_eq!(
        count(
            store
                .audit_entries(d, &filter(Some(day), None))
                .await
                .unwrap()
        ),
        1
    );
    assert_eq!(
        count(
            store
                .audit_entries(d, &filter(None, Some(day)))
                .await
                .unwrap()
        ),
        1
    );
    let next = day.succ_opt().unwrap();
    let prev = day.pred_opt().unwrap();
    assert_eq!(
        count(
            store
                .audit_entries(d, &filter(Some(next), None))
                .await
                .unwrap()
        ),
        0
    );
    assert_eq!(
        count(
            store
                .audit_entries(d, &filter(None, Some(prev)))
                .await
                .unwrap()
        ),
        0
    );
}

both_backends!(audit_rows_cannot_be_changed);
async fn audit_rows_cannot_be_changed(db: TestDb) {
    let store = &db.store;
    let f = seed_two_structures(store).await;
    let chain = AuditChain::Structure(f.csapa.id);
    for i in 0..3 {
        store
            .append_audit(chain, &event(AuditAction::FileOpened, &format!("n{i}")))
            .await
            .unwrap();
    }
    let before = whole_chain(store, chain).await;

    let key = chain.key();
    let attempts = [
        format!("UPDATE audit_entries SET details = 'falsifié' WHERE chain = '{key}' AND seq = 2"),
        format!("DELETE FROM audit_entries WHERE chain = '{key}' AND seq = 3"),
        "DELETE FROM audit_entries".to_string(),
    ];
    for sql in &attempts {
        let result = match db.backend {
            TestBackend::Sqlite => {
                use sqlx::Connection;
                let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
                    .execute(&mut c)
                    .await
                    .map(|r| r.rows_affected())
            }
            TestBackend::Postgres => {
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
                    .execute(&mut c)
                    .await
                    .map(|r| r.rows_affected())
            }
        };
        let err = result.expect_err(&format!("{sql} must fail"));
        assert!(
            err.to_string().contains("append-only"),
            "unexpected error for {sql}: {err}"
        );
    }
    if db.backend == TestBackend::Postgres {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let err = sqlx::raw_sql("TRUNCATE audit_entries")
            .execute(&mut c)
            .await
            .expect_err("TRUNCATE must fail");
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    let after = whole_chain(store, chain).await;
    assert_eq!(after, before);
    assert_eq!(verify(&after), 3);
}

both_backends!(audit_concurrent_appends);
async fn audit_concurrent_appends(db: TestDb) {
    let store = db.store.clone();
    let f = seed_two_structures(&store).await;
    // A second store on the same database: another application process.
    let second = escale::store::connect(&db.url).await.unwrap();
    let chain = AuditChain::Structure(f.csapa.id);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let s = if i % 2 == 0 {
            store.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move {
            let chain_for_task = if i % 10 == 9 {
                AuditChain::Instance
            } else {
                chain
            };
            s.append_audit(
                chain_for_task,
                &event(AuditAction::FileOpened, &format!("tâche {i}")),
            )
            .await
            .map(|r| (chain_for_task, r))
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        let (c, rec) = t.await.expect("task").expect("append");
        if c == chain {
            seqs.push(rec.seq);
        }
    }
    seqs.sort();
    assert_eq!(seqs, (1..=45).collect::<Vec<_>>());
    let records = whole_chain(&store, chain).await;
    assert_eq!(records.len(), 45);
    assert_eq!(verify(&records), 45);
    let details: BTreeSet<_> = records.iter().map(|r| r.details.clone()).collect();
    assert_eq!(details.len(), 45);
    assert_eq!(verify(&whole_chain(&second, AuditChain::Instance).await), 5);
}

// PostgreSQL keeps each chain's head in `audit_heads`; a journal without heads
// (imported, or heads lost) continues from its last entry instead of forking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_audit_head_rebuilt_from_entries() {
    use sqlx::Connection;
    let Some(db) = db::test_store(TestBackend::Postgres).await else {
        return;
    };
    let store = &db.store;
    let chain = AuditChain::Instance;
    for i in 0..3 {
        store
            .append_audit(
                chain,
                &event(AuditAction::StructureCreated, &format!("n{i}")),
            )
            .await
            .unwrap();
    }
    let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let head: (i64, String) = sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE chain = $1")
        .bind(chain.key())
        .fetch_one(&mut c)
        .await
        .unwrap();
    let records = whole_chain(store, chain).await;
    assert_eq!(head, (3, records[2].hash.clone()));
    sqlx::raw_sql("DELETE FROM audit_heads")
        .execute(&mut c)
        .await
        .unwrap();
    let next = store
        .append_audit(chain, &event(AuditAction::StructureCreated, "n3"))
        .await
        .unwrap();
    assert_eq!(next.seq, 4);
    assert_eq!(verify(&whole_chain(store, chain).await), 4);
}

// The server ends the application's connections (a restart, an
// administrator): the next statements get new ones. A connection that sat
// idle is tested before it serves; one that breaks during a statement fails
// that statement only and is not handed out again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_ended_by_the_server_are_replaced() {
    use sqlx::Connection;
    let Some(db) = db::test_store(TestBackend::Postgres).await else {
        return;
    };
    let store = &db.store;
    let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let end_others = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                      WHERE datname = current_database() AND pid <> pg_backend_pid()";
    store.ping().await.unwrap();

    // Ended while idle: tested, replaced, nothing fails.
    let ended: i64 = sqlx::query_scalar(end_others)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(ended >= 1, "the store had a connection open");
    tokio::time::sleep(escale::store::RETEST_AFTER_IDLE + std::time::Duration::from_millis(200))
        .await;
    store
        .ping()
        .await
        .expect("an idle connection ended by the server is replaced");
    store
        .list_structures()
        .await
        .expect("and the next statements run");

    // Ended just after use: at most the next statement fails, then new connections serve.
    sqlx::query_scalar::<_, i64>(end_others)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    let failures = {
        let mut failures = 0;
        for _ in 0..3 {
            if store.ping().await.is_err() {
                failures += 1;
            }
        }
        failures
    };
    assert!(
        failures <= 1,
        "{failures} statements failed after one broken connection"
    );
    store.ping().await.unwrap();
}
