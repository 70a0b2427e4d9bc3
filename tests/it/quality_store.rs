//! Identity quality in the store, on SQLite and PostgreSQL: duplicate
//! detection through the indexed keys (precision and recall on a generated
//! set), pairs and collisions, reversible merges, the procedure, tasks, jobs.

use std::collections::BTreeMap;

use chrono::{NaiveDate, Utc};

use crate::common::synthetic::{Generator, Variation};
use escale::domain::care::{ActivityKind, Confidentiality, EpisodeKind};
use escale::domain::duplicates::{self, Collision, PairStatus};
use escale::domain::identity::DocumentCheck;
use escale::domain::procedure::{IdentityAction, IdentityPolicy};
use escale::domain::roles::Role;
use escale::domain::usager::{Contact, Identity, Sex, UsagerData};
use escale::services::identity_quality;
use escale::store::{
    NewActivity, NewEpisode, NewInsiCall, NewNote, NewProcedure, StoreError, UsagerQuery,
};

use crate::common::db::{TestDb, seed_two_structures};

#[derive(Default)]
struct Tally {
    probes: usize,
    found: usize,
    probable: usize,
}

/// Recall per variation and precision over every listed candidate, on a
/// generated set of identities with known near-duplicates.
async fn duplicate_detection_precision_and_recall(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = &f.accueil.tenant;
    let mut g = Generator::new(7);
    let bases: Vec<UsagerData> = (0..1500).map(|_| g.identity()).collect();
    let mut ids = Vec::new();
    let started = std::time::Instant::now();
    for b in &bases {
        ids.push(db.store.create_usager(t, b, &[]).await.unwrap().id);
    }
    // The other structure's files are never candidates.
    db.store
        .create_usager(&f.other.tenant, &bases[0], &[])
        .await
        .unwrap();

    eprintln!("inserted in {:?}", started.elapsed());
    let started = std::time::Instant::now();
    let mut tally: BTreeMap<Variation, Tally> = BTreeMap::new();
    let (mut listed, mut listed_true, mut probable, mut probable_true) = (0, 0, 0, 0);
    let mut longest = 0;
    let probes = Variation::ALL
        .into_iter()
        .flat_map(|v| (0..bases.len()).map(move |i| (v, i)));
    for (v, i) in probes {
        if tally.get(&v).is_some_and(|n| n.probes >= 200) {
            continue;
        }
        let Some(variant) = g.variant(&bases[i], v) else {
            continue;
        };
        let found = identity_quality::candidates(db.store.as_ref(), t, &variant.identity, None)
            .await
            .unwrap();
        longest = longest.max(found.len());
        let entry = tally.entry(v).or_default();
        entry.probes += 1;
        for (u, m) in &found {
            assert_eq!(u.structure_id, t.structure_id);
            let truth = u.id == ids[i];
            listed += 1;
            listed_true += usize::from(truth);
            if m.score >= duplicates::PROBABLE {
                probable += 1;
                probable_true += usize::from(truth);
            }
            if truth {
                entry.found += 1;
                entry.probable += usize::from(m.score >= duplicates::PROBABLE);
            }
        }
    }
    eprintln!("probed in {:?}", started.elapsed());
    // Homonyms: listed « à vérifier », not « probable ».
    let (mut homonyms, mut homonyms_probable) = (0, 0);
    for (i, base) in bases.iter().enumerate().take(300) {
        let Some(h) = g.homonym(base) else { continue };
        let found = identity_quality::candidates(db.store.as_ref(), t, &h.identity, None)
            .await
            .unwrap();
        if let Some((_, m)) = found.iter().find(|(u, _)| u.id == ids[i]) {
            homonyms += 1;
            homonyms_probable += usize::from(m.score >= duplicates::PROBABLE);
        }
    }
    eprintln!("duplicate detection ({:?}), 1500 identities:", db.backend);
    for (v, n) in &tally {
        let recall = n.found as f64 / n.probes as f64;
        eprintln!(
            "  {:<32} {:>4} probes, recall {:.1} % (probable {:.1} %)",
            v.label(),
            n.probes,
            100.0 * recall,
            100.0 * n.probable as f64 / n.probes as f64
        );
        assert!(n.probes >= 200, "{v:?}: too few probes");
        assert!(recall >= 0.95, "{v:?}: recall {recall}");
    }
    let precision = listed_true as f64 / listed as f64;
    let precision_probable = probable_true as f64 / probable.max(1) as f64;
    eprintln!(
        "  precision: {:.1} % of listed candidates, {:.1} % of « probable » ones; longest list {longest}",
        100.0 * precision,
        100.0 * precision_probable
    );
    eprintln!("  homonyms found {homonyms}/300, of which « probable » {homonyms_probable}");
    assert!(longest <= duplicates::MAX_CANDIDATES);
    assert!(precision_probable >= 0.9, "precision {precision_probable}");
    assert!(homonyms >= 250);
    assert!(homonyms_probable * 10 < homonyms);
}
both_backends!(duplicate_detection_precision_and_recall);

fn person(name: &str, used: Option<&str>, firsts: &str, date: (i32, u32, u32)) -> UsagerData {
    UsagerData {
        identity: Identity::Traits {
            birth_name: name.into(),
            first_names: firsts.into(),
            used_name: used.map(str::to_string),
            used_first_name: None,
            birth_date: NaiveDate::from_ymd_opt(date.0, date.1, date.2).unwrap(),
            sex: Sex::F,
            birth_place_code: None,
        },
        contact: Contact::default(),
    }
}

async fn pairs_collisions_and_tenancy(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = &f.accueil.tenant;
    let a = db
        .store
        .create_usager(
            t,
            &person("LEFEBVRE", None, "ANNE MARIE", (1980, 4, 7)),
            &[],
        )
        .await
        .unwrap();
    let b = db
        .store
        .create_usager(t, &person("LEFEVRE", None, "MARIE", (1980, 7, 4)), &[])
        .await
        .unwrap();
    let n = identity_quality::record_pairs_of(db.store.as_ref(), t, &a)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let pairs = db.store.duplicate_pairs(t, None, None, 50).await.unwrap();
    assert_eq!(pairs.len(), 1);
    assert_eq!(pairs[0].status, PairStatus::Ouvert);
    assert!(pairs[0].score >= duplicates::PROBABLE, "{pairs:?}");
    assert!(
        pairs[0]
            .reasons
            .contains(&duplicates::Reason::DayMonthSwapped)
    );
    // Running the finder again refreshes the open pair, it does not duplicate it.
    identity_quality::record_pairs_of(db.store.as_ref(), t, &b)
        .await
        .unwrap();
    assert_eq!(
        db.store
            .duplicate_pairs(t, None, Some(b.id), 50)
            .await
            .unwrap()
            .len(),
        1
    );
    // Another structure sees nothing and cannot decide.
    assert!(
        db.store
            .duplicate_pairs(&f.other.tenant, None, None, 50)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        db.store
            .set_pair_status(&f.other.tenant, a.id, b.id, PairStatus::Ecarte, &[])
            .await,
        Err(StoreError::NotFound)
    ));
    db.store
        .set_pair_status(t, b.id, a.id, PairStatus::Ecarte, &[])
        .await
        .unwrap();
    // A decided pair keeps its status when found again.
    identity_quality::record_pairs_of(db.store.as_ref(), t, &a)
        .await
        .unwrap();
    let p = db
        .store
        .duplicate_pairs(t, None, Some(a.id), 50)
        .await
        .unwrap();
    assert_eq!(p[0].status, PairStatus::Ecarte);
    assert_eq!(p[0].decided_by.as_deref(), Some(t.actor_label.as_str()));

    db.store
        .set_collision(
            t,
            a.id,
            Some(Collision::Potentielle),
            Some("deux personnes ?"),
            &[],
        )
        .await
        .unwrap();
    let a2 = db.store.get_usager(t, a.id).await.unwrap().unwrap();
    assert_eq!(a2.collision, Some(Collision::Potentielle));
    assert!(matches!(
        db.store
            .set_collision(&f.other.tenant, a.id, None, None, &[])
            .await,
        Err(StoreError::NotFound)
    ));
    let counts = db.store.identity_counts(t).await.unwrap();
    assert_eq!(counts.by_status, vec![("PROV".to_string(), 2)]);
    assert_eq!(counts.collisions, vec![("COLP".to_string(), 1)]);
    assert_eq!(counts.pairs, vec![("ecarte".to_string(), 1)]);
}
both_backends!(pairs_collisions_and_tenancy);

async fn attach_everything(
    db: &TestDb,
    t: &escale::domain::tenant::Tenant,
    id: uuid::Uuid,
    n: u32,
) {
    let day = NaiveDate::from_ymd_opt(2026, 1, n).unwrap();
    db.store
        .add_episode(
            t,
            id,
            &NewEpisode {
                kind: EpisodeKind::ALL[0],
                start_date: day,
                end_date: None,
                referent_id: Some(t.professional_id),
            },
            &[],
        )
        .await
        .unwrap();
    db.store
        .add_activity(
            t,
            id,
            &NewActivity {
                kind: ActivityKind::ALL[0],
                date: day,
                duration_minutes: Some(30 + n),
                participant_ids: vec![t.professional_id],
                comment: Some(format!("entretien {n} <b>&'\"")),
            },
            &[],
        )
        .await
        .unwrap();
    db.store
        .add_note(
            t,
            id,
            &NewNote {
                confidentiality: Confidentiality::Partagee,
                body: format!("note {n}"),
            },
            &[],
        )
        .await
        .unwrap();
    db.store
        .record_insi_call(
            t,
            &NewInsiCall {
                usager_id: id,
                at: Utc::now(),
                step: "recherche".into(),
                outcome: "00".into(),
                duration_ms: 12,
                request_xml: "<a/>".into(),
                response_xml: Some("<b/>".into()),
            },
            &[],
        )
        .await
        .unwrap();
    db.store
        .add_identity_task(t, id, "verification", "à revoir")
        .await
        .unwrap();
}

fn export_text(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}

async fn merge_and_unmerge_restore_both_files(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = &f.medecin.tenant;
    let mut a_data = person("DUPONT", Some("DURAND"), "ZOE LEA", (1985, 3, 12));
    a_data.contact.phone = Some("0601020304".into());
    let a = db.store.create_usager(t, &a_data, &[]).await.unwrap();
    let mut b_data = person("DURAND", None, "ZOE", (1985, 3, 12));
    b_data.contact.email = Some("zoe@example.org".into());
    let b = db.store.create_usager(t, &b_data, &[]).await.unwrap();
    // B is validated (document checked): its identity is the better one.
    let vali = b
        .vigilance
        .record_document(DocumentCheck {
            kind: "CN".into(),
            checked_by: "Accueil".into(),
            checked_at: Utc::now(),
        })
        .unwrap();
    db.store
        .set_vigilance(t, b.id, b.version, &b.data.identity, &vali, &[])
        .await
        .unwrap();
    attach_everything(&db, t, a.id, 1).await;
    attach_everything(&db, t, b.id, 2).await;
    identity_quality::record_pairs_of(db.store.as_ref(), t, &a)
        .await
        .unwrap();
    db.store
        .set_pair_status(t, a.id, b.id, PairStatus::Avere, &[])
        .await
        .unwrap();

    let before_a = export_text(&db.store.export_usager(t, a.id, true).await.unwrap());
    let before_b = export_text(&db.store.export_usager(t, b.id, true).await.unwrap());
    let preview = db.store.merge_preview(t, b.id).await.unwrap();
    assert_eq!(preview.count(), 5, "{preview:?}");

    // Other structures can neither merge nor undo.
    assert!(
        identity_quality::merge_files(db.store.as_ref(), &f.other.tenant, a.id, b.id)
            .await
            .is_err()
    );
    let record = identity_quality::merge_files(db.store.as_ref(), t, a.id, b.id)
        .await
        .unwrap();
    assert_eq!(record.moved, preview);
    let merged_a = db.store.get_usager(t, a.id).await.unwrap().unwrap();
    assert_eq!(merged_a.vigilance.status().code(), "VALI");
    assert!(
        matches!(&merged_a.data.identity, Identity::Traits { birth_name, .. } if birth_name == "DURAND")
    );
    assert_eq!(merged_a.data.contact.phone.as_deref(), Some("0601020304"));
    assert_eq!(
        merged_a.data.contact.email.as_deref(),
        Some("zoe@example.org")
    );
    assert_eq!(db.store.episodes(t, a.id).await.unwrap().len(), 2);
    assert_eq!(db.store.activities(t, a.id).await.unwrap().len(), 2);
    assert_eq!(db.store.notes(t, a.id).await.unwrap().len(), 2);
    assert_eq!(db.store.insi_calls(t, a.id).await.unwrap().len(), 2);
    assert!(db.store.episodes(t, b.id).await.unwrap().is_empty());
    let hidden = db.store.get_usager(t, b.id).await.unwrap().unwrap();
    assert_eq!(hidden.merged_into, Some(a.id));
    let search = UsagerQuery {
        terms: vec!["ZOE".into()],
        birth_date: None,
        limit: 50,
    };
    let found = db.store.search_usagers(t, &search).await.unwrap();
    assert_eq!(found.iter().map(|u| u.id).collect::<Vec<_>>(), vec![a.id]);
    assert_eq!(db.store.count_usagers(t).await.unwrap(), 1);
    // A merged file is never a candidate again.
    let c = identity_quality::candidates(db.store.as_ref(), t, &b_data.identity, None)
        .await
        .unwrap();
    assert!(c.iter().all(|(u, _)| u.id != b.id));
    assert!(matches!(
        identity_quality::merge_files(db.store.as_ref(), t, a.id, b.id).await,
        Err(identity_quality::MergeError::Refused(_))
    ));
    assert_eq!(db.store.merges_of(t, b.id).await.unwrap().len(), 1);

    assert!(matches!(
        db.store
            .unmerge(&f.other.tenant, record.id, &|_| Vec::new())
            .await,
        Err(StoreError::NotFound)
    ));
    let undone = db
        .store
        .unmerge(t, record.id, &|_| Vec::new())
        .await
        .unwrap();
    assert!(undone.undone_at.is_some());
    assert_eq!(
        export_text(&db.store.export_usager(t, a.id, true).await.unwrap()),
        before_a
    );
    assert_eq!(
        export_text(&db.store.export_usager(t, b.id, true).await.unwrap()),
        before_b
    );
    let pair = db
        .store
        .duplicate_pairs(t, None, Some(a.id), 10)
        .await
        .unwrap();
    assert_eq!(pair[0].status, PairStatus::Avere);
    assert!(matches!(
        db.store.unmerge(t, record.id, &|_| Vec::new()).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(db.store.count_usagers(t).await.unwrap(), 2);
}
both_backends!(merge_and_unmerge_restore_both_files);

async fn anonymous_files_merge_only_along_a_lift(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = &f.accueil.tenant;
    let anon = db
        .store
        .create_usager(
            t,
            &UsagerData {
                identity: Identity::Anonymous {
                    alias: "Zorro".into(),
                    sex: None,
                    birth_year: None,
                },
                contact: Contact::default(),
            },
            &[],
        )
        .await
        .unwrap();
    let real = db
        .store
        .create_usager(t, &person("MARTIN", None, "LUCIE", (1990, 1, 1)), &[])
        .await
        .unwrap();
    for (s, m) in [(real.id, anon.id), (anon.id, real.id)] {
        assert!(matches!(
            identity_quality::merge_files(db.store.as_ref(), t, s, m).await,
            Err(identity_quality::MergeError::Refused(_))
        ));
    }
    db.store
        .request_anonymity_lift(t, anon.id, Utc::now().date_naive(), &[])
        .await
        .unwrap();
    db.store
        .decide_anonymity_lift(t, anon.id, real.id, &[])
        .await
        .unwrap();
    attach_everything(&db, t, anon.id, 3).await;
    let r = identity_quality::merge_files(db.store.as_ref(), t, real.id, anon.id)
        .await
        .unwrap();
    assert_eq!(r.survivor_id, real.id);
    let kept = db.store.get_usager(t, real.id).await.unwrap().unwrap();
    assert!(!kept.data.identity.is_anonymous());
    assert_eq!(db.store.episodes(t, real.id).await.unwrap().len(), 1);
}
both_backends!(anonymous_files_merge_only_along_a_lift);

async fn procedure_policy_tasks_and_jobs(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = &f.directeur.tenant;
    assert!(db.store.current_procedure(t).await.unwrap().is_none());
    let v1 = db
        .store
        .publish_procedure(
            t,
            &NewProcedure {
                body: "# Procédure\n\nVérifier la **pièce**.".into(),
                guidance_01: "Relire la pièce".into(),
                guidance_02: "Ajouter le lieu".into(),
            },
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(v1.version, 1);
    db.store
        .acknowledge_procedure(&f.accueil.tenant, 1, &[])
        .await
        .unwrap();
    db.store
        .acknowledge_procedure(&f.accueil.tenant, 1, &[])
        .await
        .unwrap();
    assert!(
        db.store
            .has_acknowledged(&f.accueil.tenant, 1)
            .await
            .unwrap()
    );
    assert!(
        !db.store
            .has_acknowledged(&f.social.tenant, 1)
            .await
            .unwrap()
    );
    let readers = db.store.procedure_readers(t, 1).await.unwrap();
    assert_eq!(readers.acknowledged.len(), 1);
    assert_eq!(readers.pending.len(), 3, "{readers:?}");
    let v2 = db
        .store
        .publish_procedure(
            t,
            &NewProcedure {
                body: "v2".into(),
                guidance_01: String::new(),
                guidance_02: String::new(),
            },
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(
        db.store.current_procedure(t).await.unwrap().unwrap().body,
        "v2"
    );
    assert_eq!(
        db.store
            .procedure_readers(t, 2)
            .await
            .unwrap()
            .pending
            .len(),
        4
    );
    assert!(
        db.store
            .current_procedure(&f.other.tenant)
            .await
            .unwrap()
            .is_none()
    );

    let mut policy = IdentityPolicy::default();
    policy.set_roles(IdentityAction::Merge, vec![Role::Directeur]);
    policy.reverify_after_months = Some(24);
    db.store.set_identity_policy(t, &policy, &[]).await.unwrap();
    let reread = db
        .store
        .tenant_for(f.directeur.professional.id, t.structure_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reread.policy, policy);
    assert!(reread.may(IdentityAction::Merge));
    assert!(!f.accueil.tenant.may(IdentityAction::Merge));

    let u = db
        .store
        .create_usager(t, &person("ROUX", None, "ANNA", (2001, 2, 3)), &[])
        .await
        .unwrap();
    db.store
        .add_identity_task(t, u.id, "collision", "à voir")
        .await
        .unwrap();
    let tasks = db.store.open_identity_tasks(t).await.unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].usager_name, u.data.identity.display_name());
    assert!(
        db.store
            .open_identity_tasks(&f.other.tenant)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        db.store
            .close_identity_task(&f.other.tenant, tasks[0].id, &[])
            .await,
        Err(StoreError::NotFound)
    ));
    db.store
        .close_identity_task(t, tasks[0].id, &[])
        .await
        .unwrap();
    assert!(db.store.open_identity_tasks(t).await.unwrap().is_empty());

    // Jobs are the structure's: another tenant sees none (the job store's
    // own contract is in `jobs.rs`).
    let (job, created) = db
        .store
        .enqueue_job(
            t.structure_id,
            &escale::store::NewJob {
                kind: escale::store::JobKind::DuplicateBatch,
                idempotency_key: "cle".into(),
                started_by: t.actor_label.clone(),
                actor_id: Some(t.professional_id),
                total: 10,
                payload: "{}".into(),
            },
            &[],
        )
        .await
        .unwrap();
    assert!(created);
    let j = db.store.job(t, job.id).await.unwrap().unwrap();
    assert_eq!((j.done, j.state), (0, escale::store::JobState::Queued));
    assert!(
        db.store
            .job(&f.other.tenant, job.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        db.store
            .recent_jobs(t, escale::store::JobKind::DuplicateBatch, 5)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        db.store
            .recent_jobs(&f.other.tenant, escale::store::JobKind::DuplicateBatch, 5)
            .await
            .unwrap()
            .is_empty()
    );

    db.store
        .record_insi_call(
            t,
            &NewInsiCall {
                usager_id: u.id,
                at: Utc::now(),
                step: "recherche".into(),
                outcome: "00".into(),
                duration_ms: 3,
                request_xml: "<a/>".into(),
                response_xml: None,
            },
            &[],
        )
        .await
        .unwrap();
    let months = db.store.insi_months(t, 12).await.unwrap();
    assert_eq!(months.len(), 1);
    assert_eq!(months[0].month, Utc::now().format("%Y-%m").to_string());
    assert_eq!((months[0].outcome.as_str(), months[0].count), ("00", 1));
}
both_backends!(procedure_policy_tasks_and_jobs);

/// Two merges touching the same file at the same moment: they run one after
/// the other; a hidden file never keeps rows, none is lost.
async fn concurrent_merges_stay_consistent(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = &f.medecin.tenant;
    let mut ids = Vec::new();
    for (i, first) in ["ZOE", "ZOE LEA", "ZOE MARIE"].into_iter().enumerate() {
        let u = db
            .store
            .create_usager(t, &person("DUPONT", None, first, (1985, 3, 12)), &[])
            .await
            .unwrap();
        attach_everything(&db, t, u.id, i as u32 + 1).await;
        ids.push(u.id);
    }
    let (x, y, z) = (ids[0], ids[1], ids[2]);
    let store = db.store.clone();
    let (r1, r2) = tokio::join!(
        identity_quality::merge_files(store.as_ref(), t, x, y),
        identity_quality::merge_files(store.as_ref(), t, y, z),
    );
    assert!(r1.is_ok() || r2.is_ok(), "{r1:?} {r2:?}");
    let mut episodes = 0;
    for id in [x, y, z] {
        let u = db.store.get_usager(t, id).await.unwrap().unwrap();
        let n = db.store.episodes(t, id).await.unwrap().len();
        if u.merged_into.is_some() {
            assert_eq!(n, 0, "a hidden file keeps no episode");
        }
        episodes += n;
    }
    assert_eq!(episodes, 3, "no episode lost");
}
both_backends!(concurrent_merges_stay_consistent);
