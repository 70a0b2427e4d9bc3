//! The DMP client against the DMP sandbox over mutual TLS (issue 13):
//! deposit, search, replacement, deletion, a refused deposit read in
//! French, a VIHF signed with the AUTH key refused as the DMP does; the
//! outbox (idempotent after a lost answer, dead-lettered then retried);
//! and through HTTP the gate (anonymous, unqualified, opposed, forbidden
//! type: no job, whatever is posted) and a deposit seen by the patient.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use reqwest::StatusCode;
use uuid::Uuid;

use escale::connectors::dmp::requests::{STATUS_APPROVED, STATUS_DELETED, StatusChange};
use escale::connectors::dmp::response::EntryStatus;
use escale::connectors::dmp::vihf::{AuthenticationMode, Software, patient_id};
use escale::connectors::dmp::xds::{Author, PatientInfo, Submission};
use escale::connectors::dmp::{Caller, DmpClient, DmpClientConfig, DmpError};
use escale::documents::cda::{self, Cda, Organization, Professional, uuid_oid};
use escale::domain::care::Confidentiality;
use escale::domain::dmp::{ConsentEvent, DepositState, DmpOperation, DmpVisibility};
use escale::domain::dmp_codes::structure_codes;
use escale::domain::document::{DocumentFields, document_type};
use escale::domain::ins::Ins;
use escale::domain::sharing::ShareableIdentity;
use escale::domain::terminology::Code;
use escale::domain::usager::{Contact, Identity, Sex, UsagerData};
use escale::jobs::{Runner, RunnerConfig};
use escale::sandbox::dmp::{DmpBehaviour, DmpSandbox, DmpSandboxHandle};
use escale::sandbox::pki::{TestPki, write_pair};
use escale::store::{DynStore, JobKind, NewDocument};

use crate::common::app::{login, spawn_app};
use crate::common::db::{TestDb, anonymous, qualify, seed_two_structures, zoe_ins};

fn software() -> Software {
    Software {
        id: "escale".into(),
        name: "Escale".into(),
        version: "test".into(),
        homologation: "HOMOLOGATION-TEST".into(),
    }
}

/// Sandbox, its PKI and a client whose SIGN pair is `sign` (default: a
/// real SIGN certificate).
async fn setup(dir: &Path, sign_with_auth: bool) -> (TestPki, DmpSandboxHandle, DmpClient) {
    escale::install_crypto_provider();
    let pki = TestPki::generate().unwrap();
    let sandbox = DmpSandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), &pki)
        .await
        .unwrap();
    let auth = pki.client_cert("ESCALE-DMP-AUTH", "640000014").unwrap();
    // An RSA key with the AUTH profile (TLS client, no nonRepudiation).
    let auth_rsa = pki.rsa_client_cert("ESCALE-DMP-AUTH", "640000014").unwrap();
    let sign = pki.signing_cert("ESCALE-DMP-SIGN", "640000014").unwrap();
    write_pair(&dir.join("auth.pem"), &dir.join("auth.key"), &auth).unwrap();
    let signer = if sign_with_auth { &auth_rsa } else { &sign };
    write_pair(&dir.join("sign.pem"), &dir.join("sign.key"), signer).unwrap();
    std::fs::write(dir.join("ca.pem"), pki.ca_pem()).unwrap();
    let client = DmpClient::new(DmpClientConfig {
        base_url: sandbox.url.clone(),
        auth_cert_pem: dir.join("auth.pem"),
        auth_key_pem: dir.join("auth.key"),
        sign_cert_pem: dir.join("sign.pem"),
        sign_key_pem: dir.join("sign.key"),
        ca_bundle_pem: dir.join("ca.pem"),
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(2),
        software: software(),
    })
    .unwrap();
    (pki, sandbox, client)
}

fn caller() -> Caller<'static> {
    Caller {
        professional_id: "810000000017",
        professional_name: "Claire BERNARD",
        roles: vec![Code::new("10", "1.2.250.1.71.1.2.7", "Médecin")],
        structure_id: "1640000014",
        sector: "SA41",
        mode: AuthenticationMode::Indirecte,
    }
}

/// A CDA of `id` (replacing `replaces`) and the submission around it.
fn cda_of(ins: &Ins, id: Uuid, version: i32, replaces: Option<Uuid>) -> String {
    let author = Professional {
        idnps: "810000000017",
        given: "Claire",
        family: "Bernard",
        specialty: None,
    };
    let codes = structure_codes(
        escale::domain::structure::StructureKind::Csapa,
        &Default::default(),
    );
    let at = Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap();
    cda::render(&Cda {
        id,
        set_id: Uuid::from_u128(77),
        version,
        replaces,
        doc_type: document_type("88348-8").unwrap(),
        title: "Lettre d'entrée <b>&",
        effective_time: at,
        service_time: at,
        patient: ShareableIdentity {
            ins,
            birth_name: "ADRUN",
            first_names: "ZOE",
            birth_date: NaiveDate::from_ymd_opt(1975, 12, 31).unwrap(),
            sex: Sex::F,
            birth_place_code: Some("63220"),
        },
        author: author.clone(),
        legal_authenticator: author,
        structure: Organization {
            finess: "640000014",
            name: "CSAPA Les Embruns",
            facility_type: codes.facility_type,
            practice_setting: codes.practice_setting,
        },
        pdf: &crate::documents::pdf("dmp"),
    })
}

fn submission<'a>(
    ins: &'a Ins,
    id: Uuid,
    cda: &'a [u8],
    type_code: &str,
    replaces: Option<&'a str>,
) -> Submission<'a> {
    let codes = structure_codes(
        escale::domain::structure::StructureKind::Csapa,
        &Default::default(),
    );
    let t = document_type("88348-8").unwrap();
    let at = Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap();
    Submission {
        submission_id: uuid_oid(Uuid::new_v4()),
        source_id: "1.2.250.1.999.1.1.7898",
        submitted_at: at,
        patient: ins,
        patient_info: PatientInfo {
            family: "ADRUN",
            given: "ZOE",
            birth_date: NaiveDate::from_ymd_opt(1975, 12, 31).unwrap(),
            sex: "F",
        },
        author: Author {
            idnps: "810000000017",
            family: "Bernard",
            given: "Claire",
            specialty: None,
            institution: "CSAPA Les Embruns",
            idnst: "1640000014",
        },
        content_type: codes.content_type,
        document_id: uuid_oid(id),
        title: "Lettre d'entrée <b>&",
        created_at: at,
        service_start: at,
        type_code: Code::new(type_code, &t.system, &t.label),
        class_code: Code::new(&t.class_code, "1.2.250.1.213.1.1.4.1", "Classe"),
        confidentiality: vec![
            Code::new("N", "2.16.840.1.113883.5.25", "Normal"),
            Code::new("INVISIBLE_PATIENT", "1.2.250.1.213.1.1.4.13", "Invisible"),
        ],
        facility_type: codes.facility_type,
        practice_setting: codes.practice_setting,
        replaces,
        cda,
        signature: None,
    }
}

#[tokio::test]
async fn the_client_deposits_searches_replaces_and_deletes_in_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let (_pki, sandbox, client) = setup(dir.path(), false).await;
    let ins = zoe_ins();
    let who = caller();

    let status = client.test_existence(&who, &ins).await.unwrap();
    assert!(status.exists && status.authorised && !status.closed);

    let v1 = Uuid::new_v4();
    let cda1 = cda_of(&ins, v1, 1, None);
    client
        .deposit(
            &who,
            &submission(&ins, v1, cda1.as_bytes(), "88348-8", None),
        )
        .await
        .unwrap();
    let found = client.find_documents(&who, &ins).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].unique_id, uuid_oid(v1));
    assert_eq!(found[0].status, EntryStatus::Approved);
    assert!(found[0].entry_uuid.starts_with("urn:uuid:"));
    // INVISIBLE_PATIENT: the patient does not see it.
    assert!(sandbox.patient_view(&patient_id(&ins)).is_empty());

    // The same document again: the registry refuses a second copy.
    let again = client
        .deposit(
            &who,
            &submission(&ins, v1, cda1.as_bytes(), "88348-8", None),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&again, DmpError::Registry(e) if e[0].code == "XDSDuplicateUniqueIdInRegistry"),
        "{again}"
    );

    // A new version replaces it (RPLC on the entryUUID).
    let v2 = Uuid::new_v4();
    let cda2 = cda_of(&ins, v2, 2, Some(v1));
    client
        .deposit(
            &who,
            &submission(
                &ins,
                v2,
                cda2.as_bytes(),
                "88348-8",
                Some(&found[0].entry_uuid),
            ),
        )
        .await
        .unwrap();
    let found = client.find_documents(&who, &ins).await.unwrap();
    assert_eq!(found.len(), 1, "the old version is deprecated");
    assert_eq!(found[0].unique_id, uuid_oid(v2));
    // A uniqueId where an entryUUID is expected: refused (pitfall §7.4).
    let wrong = client
        .deposit(
            &who,
            &submission(
                &ins,
                Uuid::new_v4(),
                cda_of(&ins, Uuid::new_v4(), 3, Some(v2)).as_bytes(),
                "88348-8",
                Some(&uuid_oid(v2)),
            ),
        )
        .await
        .unwrap_err();
    assert!(
        wrong.to_string().contains("refusé") || wrong.to_string().contains("refusée"),
        "{wrong}"
    );

    // Deletion (TD3.3c).
    client
        .update_status(
            &who,
            &StatusChange {
                ins: &ins,
                entry_uuid: &found[0].entry_uuid,
                from: STATUS_APPROVED,
                to: STATUS_DELETED,
                submission_id: &uuid_oid(Uuid::new_v4()),
                source_id: "1.2.250.1.999.1.1.7898",
                at: Utc::now(),
                author: "810000000017^Bernard^Claire^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS",
            },
        )
        .await
        .unwrap();
    assert!(client.find_documents(&who, &ins).await.unwrap().is_empty());
    let statuses: Vec<String> = sandbox.entries().into_iter().map(|e| e.status).collect();
    assert!(statuses.contains(&STATUS_DELETED.to_string()));

    // Bad metadata: a type the DMP does not take, read in French.
    let bad = Uuid::new_v4();
    let err = client
        .deposit(
            &who,
            &submission(
                &ins,
                bad,
                cda_of(&ins, bad, 1, None).as_bytes(),
                "00000-0",
                None,
            ),
        )
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("les métadonnées du document sont refusées"),
        "{text}"
    );
    assert!(text.contains("00000-0"), "{text}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn a_vihf_signed_with_the_auth_key_is_refused_as_the_dmp_does() {
    let dir = tempfile::tempdir().unwrap();
    let (_pki, sandbox, client) = setup(dir.path(), true).await;
    let ins = zoe_ins();
    let err = client.find_documents(&caller(), &ins).await.unwrap_err();
    match &err {
        DmpError::Fault {
            code,
            subcode,
            reason,
        } => {
            assert!(code.ends_with("Sender"));
            assert_eq!(subcode.as_deref(), Some("DMPInvalidCertificate"));
            assert!(
                reason.contains("Not a valid signature certificate"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_transient());
    assert!(sandbox.request_count() >= 1);
}

#[tokio::test]
async fn the_sandbox_can_be_down_slow_or_faulty() {
    let dir = tempfile::tempdir().unwrap();
    let (_pki, sandbox, client) = setup(dir.path(), false).await;
    let ins = zoe_ins();
    for (behaviour, check) in [
        (DmpBehaviour::Down, "injoignable"),
        (
            DmpBehaviour::Slow(Duration::from_secs(4)),
            "pas répondu à temps",
        ),
        (DmpBehaviour::ServerError, "HTTP 500"),
        (DmpBehaviour::ReceiverFault, "DMPTechnicalError"),
    ] {
        sandbox.set_behaviour(behaviour.clone());
        let err = client.find_documents(&caller(), &ins).await.unwrap_err();
        assert!(err.is_transient(), "{behaviour:?}: {err}");
        assert!(err.to_string().contains(check), "{behaviour:?}: {err}");
    }
}

/// A qualified user of the CSAPA, informed, with one letter.
pub(crate) async fn qualified_with_letter(
    store: &DynStore,
    t: &escale::domain::tenant::Tenant,
) -> (Uuid, Uuid) {
    let created = store
        .create_usager(
            t,
            &UsagerData {
                identity: Identity::Traits {
                    birth_name: "ADRUN".into(),
                    first_names: "ZOE".into(),
                    used_name: None,
                    used_first_name: None,
                    birth_date: NaiveDate::from_ymd_opt(1975, 12, 31).unwrap(),
                    sex: Sex::F,
                    birth_place_code: Some("63220".into()),
                },
                contact: Contact::default(),
            },
            &[],
        )
        .await
        .unwrap();
    qualify(store, t, &created).await;
    store
        .record_dmp_consent(t, created.id, ConsentEvent::Information, &[])
        .await
        .unwrap();
    let doc = letter(store, t, created.id, "88348-8").await;
    (created.id, doc)
}

pub(crate) async fn letter(
    store: &DynStore,
    t: &escale::domain::tenant::Tenant,
    usager: Uuid,
    code: &str,
) -> Uuid {
    let bytes = crate::documents::pdf(&Uuid::new_v4().to_string());
    let fields = DocumentFields {
        type_code: document_type(code).unwrap(),
        title: "Lettre de liaison".into(),
        date: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
        confidentiality: Confidentiality::Partagee,
    };
    store
        .add_document(
            t,
            usager,
            &NewDocument {
                fields: &fields,
                media_type: "application/pdf",
                content: &bytes,
            },
            None,
            &|_| vec![],
        )
        .await
        .unwrap()
        .id
}

both_backends!(the_outbox_deposits_once_retries_and_dead_letters);
/// Through the outbox against the sandbox: accepted; an answer lost after
/// the registry kept the document → the retry finds it, exactly one copy;
/// the DMP down → retried, then dead-lettered with the reason in French,
/// nothing lost: « Relancer » sends it.
async fn the_outbox_deposits_once_retries_and_dead_letters(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = f.medecin.tenant.clone();
    let dir = tempfile::tempdir().unwrap();
    escale::install_crypto_provider();
    let pki = TestPki::generate().unwrap();
    let sandbox = DmpSandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), &pki)
        .await
        .unwrap();
    std::fs::write(dir.path().join("ca.pem"), pki.ca_pem()).unwrap();
    let config = escale::config::Config {
        data_dir: dir.path().to_path_buf(),
        dmp: escale::config::DmpConfig {
            timeout_seconds: 2,
            ..Default::default()
        },
        ..Default::default()
    };
    let creds = escale::services::dmp::DmpCredentials::under(dir.path(), &f.csapa.finess_geo);
    write_pair(
        &creds.auth_cert,
        &creds.auth_key,
        &pki.client_cert("ESCALE-DMP-AUTH", &f.csapa.finess_geo)
            .unwrap(),
    )
    .unwrap();
    write_pair(
        &creds.sign_cert,
        &creds.sign_key,
        &pki.signing_cert("ESCALE-DMP-SIGN", &f.csapa.finess_geo)
            .unwrap(),
    )
    .unwrap();
    let dmp = std::sync::Arc::new(escale::services::dmp::DmpService::new(
        &config,
        sandbox.url.clone(),
        dir.path().join("ca.pem"),
        None,
    ));
    let insi = std::sync::Arc::new(escale::services::insi::InsiService::disabled());
    let runner = Runner::new(
        db.store.clone(),
        escale::jobs::handlers(&db.store, &insi, &dmp, &no_mss(), 10),
        RunnerConfig {
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            ..RunnerConfig::default()
        },
    );
    let run = || async {
        // Retries wait their (tiny) backoff.
        for _ in 0..20 {
            runner.run_until_idle().await.unwrap();
            if db.store.open_jobs().await.unwrap() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (usager, doc) = qualified_with_letter(&db.store, &t).await;
    let ask = |doc: Uuid, operation: DmpOperation, visibility: DmpVisibility| {
        let (store, t) = (db.store.clone(), t.clone());
        async move {
            escale::services::dmp::request(store.as_ref(), &t, usager, doc, operation, visibility)
                .await
                .unwrap()
        }
    };
    let (d, created) = ask(doc, DmpOperation::Depot, DmpVisibility::Normale).await;
    assert!(created);
    assert_eq!(d.state, DepositState::EnAttente);
    // Asked twice: the same request.
    let (again, created) = ask(doc, DmpOperation::Depot, DmpVisibility::Normale).await;
    assert!(!created);
    assert_eq!(again.id, d.id);
    run().await;
    let d = db
        .store
        .dmp_deposit(t.structure_id, d.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.state, DepositState::Accepte, "{:?}", d.reason);
    assert_eq!(sandbox.patient_view(&patient_id(&zoe_ins())).len(), 1);

    // The answer is lost after the registry kept it.
    let doc2 = letter(&db.store, &t, usager, "88348-8").await;
    sandbox.set_behaviour(DmpBehaviour::LoseAnswer);
    let (d2, _) = ask(doc2, DmpOperation::Depot, DmpVisibility::MasquePs).await;
    runner.run_one().await.unwrap();
    sandbox.set_behaviour(DmpBehaviour::Normal);
    run().await;
    let d2 = db
        .store
        .dmp_deposit(t.structure_id, d2.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d2.state, DepositState::Accepte, "{:?}", d2.reason);
    let copies = sandbox
        .entries()
        .into_iter()
        .filter(|e| e.unique_id == uuid_oid(doc2))
        .count();
    assert_eq!(copies, 1, "one document in the DMP after the retry");

    // Down: retried, then given up with the reason; « Relancer » sends it.
    let doc3 = letter(&db.store, &t, usager, "88348-8").await;
    sandbox.set_behaviour(DmpBehaviour::Down);
    let (d3, _) = ask(doc3, DmpOperation::Depot, DmpVisibility::Normale).await;
    run().await;
    let d3r = db
        .store
        .dmp_deposit(t.structure_id, d3.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d3r.state, DepositState::Echec);
    let reason = d3r.reason.unwrap_or_default();
    assert!(
        reason.contains("abandonné après 5 tentatives") && reason.contains("DMP injoignable"),
        "{reason}"
    );
    let failures = escale::services::dmp::failures(db.store.as_ref(), &t)
        .await
        .unwrap();
    assert!(failures.iter().any(|x| x.id == d3.id));
    sandbox.set_behaviour(DmpBehaviour::Normal);
    escale::services::dmp::retry(db.store.as_ref(), &t, usager, d3.id)
        .await
        .unwrap();
    run().await;
    let d3r = db
        .store
        .dmp_deposit(t.structure_id, d3.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d3r.state, DepositState::Accepte);

    // Taken back out of the DMP (TD3.3c), even once the user opposes its
    // feeding: an opposition is no reason to keep a document there.
    db.store
        .record_dmp_consent(&t, usager, ConsentEvent::Opposition, &[])
        .await
        .unwrap();
    ask(doc, DmpOperation::Suppression, DmpVisibility::Normale).await;
    run().await;
    assert!(
        sandbox
            .entries()
            .iter()
            .any(|e| e.unique_id == uuid_oid(doc) && e.status == STATUS_DELETED)
    );
    let journal = db
        .store
        .audit_entries(
            &t,
            &escale::store::AuditFilter {
                action: Some("dmp.accepte".into()),
                limit: 20,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(journal.len(), 4);
}

both_backends!(no_dmp_job_is_ever_created_for_a_user_the_rules_exclude);
/// Through HTTP: anonymous, unqualified, opposed → refused in French and no job, even for a crafted POST; a
/// qualified, informed user's letter → accepted, seen by the patient.
async fn no_dmp_job_is_ever_created_for_a_user_the_rules_exclude(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = f.medecin.tenant.clone();
    let (ok_user, ok_doc) = qualified_with_letter(&db.store, &t).await;
    // An export of the file (for a transfer): a type the DMP does not take.
    let export_doc = letter(&db.store, &t, ok_user, "EXPORT_DUI").await;
    let anonymous = anonymous(&db.store, &t, "Papillon").await;
    let anon_doc = letter(&db.store, &t, anonymous.id, "88348-8").await;
    let provisional = provisional_user(&db.store, &t).await;
    let prov_doc = letter(&db.store, &t, provisional.id, "88348-8").await;
    let app = spawn_app(db).await;
    let c = app.client();
    let csrf = login(&app, &c, f.medecin.professional.id, f.csapa.id).await;
    let send = |usager: Uuid, doc: Uuid| {
        let c = c.clone();
        let url = app.url(&format!("/usagers/{usager}/dmp/envoi"));
        let csrf = csrf.clone();
        async move {
            c.post(url)
                .form(&[
                    ("_csrf", csrf.as_str()),
                    ("dmp_document", doc.to_string().as_str()),
                    ("visibility", "N"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let jobs = || async {
        app.db
            .store
            .recent_jobs(&t, JobKind::Dmp, 100)
            .await
            .unwrap()
            .len()
    };
    let r = send(anonymous.id, anon_doc).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("anonyme"));
    let r = send(provisional.id, prov_doc).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // A type the DMP does not take: not offered, and a crafted request for
    // it is refused in French.
    let page = app.page(&c, &format!("/usagers/{ok_user}")).await;
    let form = page
        .split("id=\"envoi-dmp\"")
        .nth(1)
        .and_then(|rest| rest.split("</form>").next())
        .expect("the send form of a qualified, informed user");
    assert!(form.contains(&ok_doc.to_string()), "{form}");
    assert!(!form.contains(&export_doc.to_string()), "{form}");
    let r = send(ok_user, export_doc).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body = r.text().await.unwrap();
    assert!(body.contains("ne se dépose pas dans le DMP"), "{body}");
    assert_eq!(jobs().await, 0);
    // A crafted request: another user's document under the anonymous file,
    // a deletion of what was never sent, no CSRF token.
    assert_eq!(
        send(anonymous.id, ok_doc).await.status(),
        StatusCode::NOT_FOUND
    );
    let r = c
        .post(app.url(&format!(
            "/usagers/{}/documents/{anon_doc}/dmp",
            anonymous.id
        )))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("operation", "depot"),
            ("visibility", "N"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = c
        .post(app.url(&format!("/usagers/{ok_user}/dmp/envoi")))
        .form(&[
            ("dmp_document", ok_doc.to_string().as_str()),
            ("visibility", "N"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(jobs().await, 0, "no job for a refused request");

    // Opposed: refused too.
    app.db
        .store
        .record_dmp_consent(&t, ok_user, ConsentEvent::Opposition, &[])
        .await
        .unwrap();
    assert_eq!(send(ok_user, ok_doc).await.status(), StatusCode::CONFLICT);
    assert_eq!(jobs().await, 0);
    app.db
        .store
        .record_dmp_consent(&t, ok_user, ConsentEvent::OppositionLifted, &[])
        .await
        .unwrap();

    // The qualified, informed user's letter goes, and is accepted.
    let r = send(ok_user, ok_doc).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.drain_jobs().await;
    assert_eq!(jobs().await, 1);
    let page = app.page(&c, &format!("/usagers/{ok_user}")).await;
    assert!(page.contains("data-etat=\"accepte\""), "{page}");
    let sandbox = app.sandboxes.dmp.as_ref().expect("DMP sandbox");
    assert_eq!(sandbox.patient_view(&patient_id(&zoe_ins())).len(), 1);
    // Another structure cannot see or send it.
    let other = app.client();
    let other_csrf = login(&app, &other, f.other.professional.id, f.caarud.id).await;
    let r = other
        .post(app.url(&format!("/usagers/{ok_user}/dmp/envoi")))
        .form(&[
            ("_csrf", other_csrf.as_str()),
            ("dmp_document", ok_doc.to_string().as_str()),
            ("visibility", "N"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let page = app.page(&c, "/dmp/echecs").await;
    assert!(page.contains("Aucun envoi en échec"));
}

pub(crate) fn no_mss() -> std::sync::Arc<escale::services::mss::MssService> {
    std::sync::Arc::new(escale::services::mss::MssService::disabled(
        &escale::config::Config::default(),
    ))
}

/// A user with traits only (provisional identity).
pub(crate) async fn provisional_user(
    store: &DynStore,
    t: &escale::domain::tenant::Tenant,
) -> escale::store::Usager {
    store
        .create_usager(
            t,
            &UsagerData {
                identity: Identity::Traits {
                    birth_name: "MARTIN".into(),
                    first_names: "PAUL".into(),
                    used_name: None,
                    used_first_name: None,
                    birth_date: NaiveDate::from_ymd_opt(1980, 1, 1).unwrap(),
                    sex: Sex::M,
                    birth_place_code: None,
                },
                contact: Contact::default(),
            },
            &[],
        )
        .await
        .unwrap()
}
