//! A file's page in one statement (`UsagerStore::file_contents`), on SQLite
//! and PostgreSQL: exactly what the separate reads give, list by list, for
//! each reader's rights; nothing of another structure.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use escale::domain::care::{ActivityKind, Confidentiality, EpisodeKind};
use escale::domain::duplicates::{Match, PairStatus, Reason};
use escale::domain::tenant::Tenant;
use escale::domain::usager::{Contact, Identity, Sex, UsagerData};
use escale::store::{
    DynStore, FILE_PAIRS, FileContents, NewActivity, NewEpisode, NewInsiCall, NewNote,
};

use crate::common::db::{TestDb, seed_two_structures};

/// Strings a JSON rendering could get wrong.
const HOSTILE: &str = "</script><b>\"guillemets\"</b> 'apostrophe' \\ barre\n\tligne ünïcödé Œ 😀 {\"json\": [1, null]} $1 ?2 ; DROP TABLE usagers; --";

fn person(name: &str, firsts: &str, day: u32) -> UsagerData {
    UsagerData {
        identity: Identity::Traits {
            birth_name: name.into(),
            first_names: firsts.into(),
            used_name: Some("D'ARTAGNAN".into()),
            used_first_name: None,
            birth_date: NaiveDate::from_ymd_opt(1985, 3, day).unwrap(),
            sex: Sex::F,
            birth_place_code: Some("2A004".into()),
        },
        contact: Contact {
            phone: Some("0601020304".into()),
            email: None,
            address: Some(HOSTILE.into()),
        },
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// What the page showed before it read everything in one statement.
async fn separately(store: &DynStore, t: &Tenant, id: Uuid) -> Option<FileContents> {
    Some(FileContents {
        usager: store.get_usager(t, id).await.unwrap()?,
        episodes: store.episodes(t, id).await.unwrap(),
        activities: store.activities(t, id).await.unwrap(),
        notes: store.notes(t, id).await.unwrap(),
        documents: store.documents(t, id).await.unwrap(),
        dmp_consent: store.dmp_consent(t, id).await.unwrap(),
        insi_calls: store.insi_calls(t, id).await.unwrap(),
        anonymity_lift: store.anonymity_lift(t, id).await.unwrap(),
        pairs: store
            .duplicate_pairs(t, None, Some(id), FILE_PAIRS)
            .await
            .unwrap(),
        merges: store.merges_of(t, id).await.unwrap(),
    })
}

async fn file_contents_match_the_separate_reads(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let store = &db.store;
    let t = &f.medecin.tenant;
    let a = store
        .create_usager(t, &person("O'BRIEN-<B>", "ZOÉ LÉA", 12), &[])
        .await
        .unwrap();
    let b = store
        .create_usager(t, &person("OBRIEN", "ZOE", 12), &[])
        .await
        .unwrap();
    let c = store
        .create_usager(t, &person("O BRIEN", "LEA", 13), &[])
        .await
        .unwrap();
    let merged = store
        .create_usager(t, &person("O'BRIEN-<B>", "ZOE", 12), &[])
        .await
        .unwrap();
    let anon = store
        .create_usager(
            t,
            &UsagerData {
                identity: Identity::Anonymous {
                    alias: HOSTILE.into(),
                    sex: None,
                    birth_year: Some(1990),
                },
                contact: Contact::default(),
            },
            &[],
        )
        .await
        .unwrap();

    for (kind, start, end, referent) in [
        (
            EpisodeKind::Ambulatoire,
            date(2026, 1, 5),
            Some(date(2026, 6, 30)),
            Some(f.medecin.professional.id),
        ),
        (EpisodeKind::Caarud, date(2026, 7, 1), None, None),
    ] {
        store
            .add_episode(
                t,
                a.id,
                &NewEpisode {
                    kind,
                    start_date: start,
                    end_date: end,
                    referent_id: referent,
                },
                &[],
            )
            .await
            .unwrap();
    }
    for (participants, minutes, comment) in [
        (
            vec![f.medecin.professional.id, f.social.professional.id],
            Some(45),
            Some(HOSTILE.to_string()),
        ),
        (Vec::new(), None, None),
    ] {
        store
            .add_activity(
                t,
                a.id,
                &NewActivity {
                    kind: ActivityKind::Entretien,
                    date: date(2026, 11, 2),
                    duration_minutes: minutes,
                    participant_ids: participants,
                    comment,
                },
                &[],
            )
            .await
            .unwrap();
    }
    for (class, body) in [
        (Confidentiality::Partagee, HOSTILE.to_string()),
        (Confidentiality::Medicale, "suivi médical".to_string()),
        (Confidentiality::Sociale, "x".repeat(20_000)),
    ] {
        store
            .add_note(
                t,
                a.id,
                &NewNote {
                    confidentiality: class,
                    body,
                },
                &[],
            )
            .await
            .unwrap();
    }
    // Documents of every class, one of them in two versions.
    let mut previous = None;
    for (class, title) in [
        (Confidentiality::Partagee, HOSTILE),
        (Confidentiality::Medicale, "bilan"),
        (Confidentiality::Medicale, "bilan corrigé"),
        (Confidentiality::Sociale, "lettre d'entrée"),
    ] {
        let fields = escale::domain::document::DocumentFields {
            type_code: escale::domain::document::document_type("28653-4").unwrap(),
            title: title.into(),
            date: date(2026, 11, 2),
            confidentiality: class,
        };
        let bytes = crate::documents::pdf(title);
        let doc = store
            .add_document(
                t,
                a.id,
                &escale::store::NewDocument {
                    fields: &fields,
                    media_type: "application/pdf",
                    content: &bytes,
                },
                previous.filter(|_| title == "bilan corrigé"),
                &|_| Vec::new(),
            )
            .await
            .unwrap();
        previous = Some(doc.id);
    }
    let at = DateTime::<Utc>::from_timestamp_micros(1_780_000_000_123_456).unwrap();
    for response in [Some(format!("<r>{}</r>", "é".repeat(5_000))), None] {
        store
            .record_insi_call(
                t,
                &NewInsiCall {
                    usager_id: a.id,
                    at,
                    step: "recherche".into(),
                    outcome: "00".into(),
                    duration_ms: 812,
                    request_xml: "<soap:Envelope/>".into(),
                    response_xml: response,
                },
                &[],
            )
            .await
            .unwrap();
    }
    let close = Match {
        score: 87,
        reasons: vec![Reason::SameBirthDate, Reason::PhoneticName],
    };
    store
        .upsert_duplicate_pair(t, a.id, b.id, &close)
        .await
        .unwrap();
    store
        .upsert_duplicate_pair(t, c.id, a.id, &close)
        .await
        .unwrap();
    store
        .set_pair_status(t, a.id, c.id, PairStatus::Ecarte, &[])
        .await
        .unwrap();
    store
        .merge_usagers(
            t,
            a.id,
            merged.id,
            &(a.data.clone(), a.vigilance.clone()),
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    store
        .request_anonymity_lift(t, anon.id, date(2026, 12, 1), &[])
        .await
        .unwrap();

    // Every reader sees what the separate reads give it: the medical notes
    // only where its roles allow them.
    let readers = [
        &f.medecin.tenant,
        &f.social.tenant,
        &f.accueil.tenant,
        &f.directeur.tenant,
    ];
    for reader in readers {
        for id in [a.id, b.id, c.id, merged.id, anon.id] {
            let got = store.file_contents(reader, id).await.unwrap();
            assert_eq!(got, separately(store, reader, id).await, "file {id}");
        }
    }
    let full = store.file_contents(t, a.id).await.unwrap().unwrap();
    assert_eq!(full.episodes.len(), 2);
    assert_eq!(
        full.activities[0].participants.len() + full.activities[1].participants.len(),
        2
    );
    assert_eq!(full.notes.len(), 3);
    assert_eq!(full.documents.len(), 4);
    assert!(full.documents.iter().any(|d| d.title == HOSTILE));
    assert!(full.notes.iter().any(|n| n.body == HOSTILE));
    assert_eq!(full.insi_calls.len(), 2);
    assert_eq!(full.insi_calls[0].at, at);
    // b (open), c (set aside) and the merged file.
    assert_eq!(full.pairs.len(), 3);
    assert!(full.pairs.iter().any(|p| p.status == PairStatus::Fusionne));
    assert!(
        full.pairs
            .iter()
            .all(|p| !p.first_name.is_empty() && !p.second_name.is_empty())
    );
    assert_eq!(full.merges.len(), 1);
    let shared_only = store
        .file_contents(&f.accueil.tenant, a.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        shared_only
            .notes
            .iter()
            .all(|n| n.confidentiality == Confidentiality::Partagee)
    );
    assert!(
        store
            .file_contents(t, anon.id)
            .await
            .unwrap()
            .unwrap()
            .anonymity_lift
            .is_some()
    );

    // Another structure's file, or no file at all, is nothing.
    assert_eq!(
        store.file_contents(&f.other.tenant, a.id).await.unwrap(),
        None
    );
    assert_eq!(store.file_contents(t, Uuid::new_v4()).await.unwrap(), None);
}
both_backends!(file_contents_match_the_separate_reads);
