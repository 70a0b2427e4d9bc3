//! Identity vigilance in the store, on SQLite and PostgreSQL: the vigilance
//! state round trip, INSi call log, structure settings, anonymity lifting.

use chrono::{DateTime, NaiveDate, Utc};

use escale::domain::identity::{DocumentCheck, IdentityStatus, InsRetrieval, Vigilance};
use escale::domain::ins::{Ins, InsHistoryEntry, InsOid, Matricule};
use escale::domain::roles::Role;
use escale::domain::usager::{Contact, Identity, Sex, UsagerData};
use escale::store::{IdentitySettings, NewInsiCall, StoreError, StructureInsi};

use crate::common::db::{TestDb, seed_two_structures};

fn now_micros() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap()
}

fn zoe_typed() -> UsagerData {
    UsagerData {
        identity: Identity::Traits {
            birth_name: "ADRUN".into(),
            first_names: "ZOE".into(),
            used_name: Some("MARTIN".into()),
            used_first_name: None,
            birth_date: NaiveDate::from_ymd_opt(1975, 12, 31).unwrap(),
            sex: Sex::F,
            birth_place_code: None,
        },
        contact: Contact::default(),
    }
}

fn retrieval() -> InsRetrieval {
    InsRetrieval {
        ins: Ins {
            matricule: Matricule::from_insi("2751263220749", "74").unwrap().0,
            oid: InsOid::Nir,
        },
        history: vec![InsHistoryEntry {
            matricule: Matricule::from_insi("2751263220750", "43").unwrap().0,
            oid: "1.2.250.1.213.1.4.8".into(),
            start: Some("2019-03-01".into()),
            end: None,
        }],
        retrieved_at: now_micros(),
        retrieved_by: "Léa Martin".into(),
        key_mismatch: false,
    }
}

async fn vigilance_round_trip_and_tenancy(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = &f.accueil.tenant;
    let u = db.store.create_usager(t, &zoe_typed(), &[]).await.unwrap();
    assert_eq!(u.vigilance, Vigilance::provisional());
    assert_eq!(u.vigilance.status(), IdentityStatus::Prov);

    // INS traits replace the strict traits; the used name stays.
    let recup = u.vigilance.confirm_insi(retrieval()).unwrap();
    let ins_identity = Identity::Traits {
        birth_name: "ADRUN".into(),
        first_names: "ZOE".into(),
        used_name: Some("MARTIN".into()),
        used_first_name: None,
        birth_date: NaiveDate::from_ymd_opt(1975, 12, 31).unwrap(),
        sex: Sex::F,
        birth_place_code: Some("63220".into()),
    };
    let stored = db
        .store
        .set_vigilance(t, u.id, u.version, &ins_identity, &recup, &[])
        .await
        .unwrap();
    assert_eq!(stored.vigilance, recup, "the state survives the round trip");
    assert_eq!(stored.vigilance.status(), IdentityStatus::Recup);
    assert_eq!(stored.data.identity, ins_identity);
    let qual = recup
        .record_document(DocumentCheck {
            kind: "PA".into(),
            checked_by: "Léa Martin".into(),
            checked_at: now_micros(),
        })
        .unwrap();
    let stored = db
        .store
        .set_vigilance(t, u.id, stored.version, &ins_identity, &qual, &[])
        .await
        .unwrap();
    assert_eq!(stored.vigilance.status(), IdentityStatus::Qual);
    let again = db.store.get_usager(t, u.id).await.unwrap().unwrap();
    assert_eq!(again.vigilance, qual);

    // Another structure cannot write it.
    let r = db
        .store
        .set_vigilance(
            &f.other.tenant,
            u.id,
            again.version,
            &ins_identity,
            &Vigilance::provisional(),
            &[],
        )
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    let again = db.store.get_usager(t, u.id).await.unwrap().unwrap();
    assert_eq!(again.vigilance.status(), IdentityStatus::Qual);
}
both_backends!(vigilance_round_trip_and_tenancy);

async fn anonymous_files_stay_fictitious(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = &f.accueil.tenant;
    let alias = UsagerData {
        identity: Identity::Anonymous {
            alias: "Zébulon".into(),
            sex: None,
            birth_year: None,
        },
        contact: Contact::default(),
    };
    let u = db.store.create_usager(t, &alias, &[]).await.unwrap();
    assert!(u.vigilance.is_fictitious());
    assert_eq!(u.vigilance.status(), IdentityStatus::Prov);
    // Even a crafted call cannot put traits and an INS on an anonymous file.
    let forged = Vigilance::provisional().confirm_insi(retrieval()).unwrap();
    let r = db
        .store
        .set_vigilance(t, u.id, u.version, &zoe_typed().identity, &forged, &[])
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    let r = db
        .store
        .set_vigilance(t, u.id, u.version, &alias.identity, &forged, &[])
        .await;
    assert!(matches!(r, Err(StoreError::Forbidden)), "{r:?}");
    let again = db.store.get_usager(t, u.id).await.unwrap().unwrap();
    assert!(again.vigilance.is_fictitious() && again.vigilance.ins().is_none());
}
both_backends!(anonymous_files_stay_fictitious);

async fn insi_calls_are_kept_whole(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = &f.accueil.tenant;
    let u = db.store.create_usager(t, &zoe_typed(), &[]).await.unwrap();
    let call = |step: &str, outcome: &str, response: Option<&str>| NewInsiCall {
        usager_id: u.id,
        at: now_micros(),
        step: step.into(),
        outcome: outcome.into(),
        duration_ms: 42,
        request_xml: "<soap:Envelope>…<NomNaissance>ADRUN</NomNaissance></soap:Envelope>".into(),
        response_xml: response.map(str::to_string),
    };
    db.store
        .record_insi_call(t, &call("prénom ZOE", "00", Some("<RESULTAT/>")), &[])
        .await
        .unwrap();
    db.store
        .record_insi_call(t, &call("prénom ZOE", "délai dépassé", None), &[])
        .await
        .unwrap();
    let calls = db.store.insi_calls(t, u.id).await.unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].operator, t.actor_label);
    assert_eq!(calls[0].response_xml.as_deref(), Some("<RESULTAT/>"));
    assert!(calls[0].request_xml.contains("ADRUN"));
    assert_eq!(calls[1].response_xml, None);
    // Another structure neither reads nor writes them.
    assert!(
        db.store
            .insi_calls(&f.other.tenant, u.id)
            .await
            .unwrap()
            .is_empty()
    );
    let r = db
        .store
        .record_insi_call(&f.other.tenant, &call("x", "00", None), &[])
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
}
both_backends!(insi_calls_are_kept_whole);

async fn identity_settings_and_insi_credentials(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let s = db.store.get_structure(f.csapa.id).await.unwrap().unwrap();
    assert_eq!(
        s.qualifier_roles,
        vec![
            Role::Accueil,
            Role::Infirmier,
            Role::Medecin,
            Role::ReferentIdentitovigilance
        ]
    );
    assert_eq!(s.identity_documents, vec!["PA", "CN", "CS", "eCN"]);
    assert_eq!(s.insi, None);
    db.store
        .set_identity_settings(
            &f.directeur.tenant,
            &IdentitySettings {
                qualifier_roles: vec![Role::Accueil, Role::TravailleurSocial],
                identity_documents: vec!["PA".into(), "CN".into()],
            },
            &[],
        )
        .await
        .unwrap();
    let insi = StructureInsi {
        certificate: "/etc/escale/insi-manu.p12".into(),
        key: None,
        idam: "RP-ESCALE-0001".into(),
    };
    db.store
        .set_structure_insi(f.csapa.id, &insi, &[])
        .await
        .unwrap();
    let s = db.store.get_structure(f.csapa.id).await.unwrap().unwrap();
    assert_eq!(
        s.qualifier_roles,
        vec![Role::Accueil, Role::TravailleurSocial]
    );
    assert_eq!(s.identity_documents, vec!["PA", "CN"]);
    assert_eq!(s.insi, Some(insi));
    // The other structure is untouched.
    let other = db.store.get_structure(f.caarud.id).await.unwrap().unwrap();
    assert_eq!(other.identity_documents, vec!["PA", "CN", "CS", "eCN"]);
    assert!(matches!(
        db.store
            .set_structure_insi(uuid::Uuid::new_v4(), &other_insi(), &[])
            .await,
        Err(StoreError::NotFound)
    ));
}
both_backends!(identity_settings_and_insi_credentials);

fn other_insi() -> StructureInsi {
    StructureInsi {
        certificate: "a.pem".into(),
        key: Some("a.key".into()),
        idam: "X".into(),
    }
}

async fn lifting_anonymity_links_two_files(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = &f.medecin.tenant;
    let anon = db
        .store
        .create_usager(
            t,
            &UsagerData {
                identity: Identity::Anonymous {
                    alias: "Le Marin".into(),
                    sex: Some(Sex::M),
                    birth_year: Some(1980),
                },
                contact: Contact::default(),
            },
            &[],
        )
        .await
        .unwrap();
    let real = db.store.create_usager(t, &zoe_typed(), &[]).await.unwrap();
    let on = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    // Only an anonymous file can carry a request.
    assert!(matches!(
        db.store.request_anonymity_lift(t, real.id, on, &[]).await,
        Err(StoreError::NotFound)
    ));
    db.store
        .request_anonymity_lift(t, anon.id, on, &[])
        .await
        .unwrap();
    assert!(matches!(
        db.store.request_anonymity_lift(t, anon.id, on, &[]).await,
        Err(StoreError::Conflict(_))
    ));
    let lift = db.store.anonymity_lift(t, anon.id).await.unwrap().unwrap();
    assert_eq!(lift.requested_on, on);
    assert_eq!(lift.real_id, None);
    // The real side must be a real identity of the same structure.
    assert!(matches!(
        db.store
            .decide_anonymity_lift(t, anon.id, anon.id, &[])
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        db.store
            .decide_anonymity_lift(&f.other.tenant, anon.id, real.id, &[])
            .await,
        Err(StoreError::NotFound)
    ));
    db.store
        .decide_anonymity_lift(t, anon.id, real.id, &[])
        .await
        .unwrap();
    let lift = db.store.anonymity_lift(t, real.id).await.unwrap().unwrap();
    assert_eq!(lift.anonymous_id, anon.id);
    assert_eq!(lift.real_id, Some(real.id));
    assert_eq!(lift.decided_by.as_deref(), Some(t.actor_label.as_str()));
    // Decided once only.
    assert!(matches!(
        db.store
            .decide_anonymity_lift(t, anon.id, real.id, &[])
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(
        db.store
            .anonymity_lift(&f.other.tenant, anon.id)
            .await
            .unwrap()
            .is_none()
    );
}
both_backends!(lifting_anonymity_links_two_files);
