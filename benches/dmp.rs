//! The DMP deposit (issue 13).
//!
//! - Criterion `dmp/deposit_request`: per document, the CDA R2 N1 around a
//!   100 KiB PDF, the signed VIHF, the XAdES signature of the submission set
//!   and the MTOM package (`DmpClient::deposit_request`: nothing sent).
//! - Deposits through the outbox against the DMP sandbox over mutual TLS:
//!   `ESCALE_BENCH_DMP_DEPOSITS` (default 200) requests written as users
//!   write them (request + job in one transaction, SQLite in a temporary
//!   file), then one runner sends them all: deposits/s printed, and every
//!   one checked accepted and in the sandbox's registry once.
//!
//! `cargo bench --bench dmp`

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use uuid::Uuid;

use escale::config::Config;
use escale::connectors::dmp::vihf::{AuthenticationMode, Software};
use escale::connectors::dmp::xds::{Author, PatientInfo, Submission};
use escale::connectors::dmp::{Caller, DmpClient, DmpClientConfig};
use escale::documents::cda::{self, Cda, Organization, Professional, uuid_oid};
use escale::domain::care::Confidentiality;
use escale::domain::dmp::{ConsentEvent, DepositState, DmpOperation, DmpVisibility};
use escale::domain::dmp_codes::structure_codes;
use escale::domain::document::{DocumentFields, document_type};
use escale::domain::identity::{DocumentCheck, InsRetrieval, Vigilance};
use escale::domain::ins::{Ins, InsOid, Matricule};
use escale::domain::roles::Role;
use escale::domain::sharing::ShareableIdentity;
use escale::domain::structure::StructureKind;
use escale::domain::terminology::Code;
use escale::domain::usager::{Contact, Identity, Sex, UsagerData};
use escale::jobs::{Runner, RunnerConfig};
use escale::sandbox::dmp::DmpSandbox;
use escale::sandbox::pki::{TestPki, write_pair};
use escale::services::dmp::{DmpCredentials, DmpService};
use escale::store::{DynStore, NewDocument, NewProfessional, NewStructure};

fn ins() -> Ins {
    Ins {
        matricule: Matricule::from_insi("2751263220749", "74").unwrap().0,
        oid: InsOid::NirTest,
    }
}

/// A PDF-looking body of 100 KiB (the deposit does not open it).
fn pdf() -> Vec<u8> {
    let mut b = b"%PDF-1.7\n".to_vec();
    b.resize(100 * 1024 - 6, b'x');
    b.extend_from_slice(b"\n%%EOF");
    b
}

fn deposit_request(c: &mut Criterion) {
    escale::install_crypto_provider();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate().unwrap();
    let _sandbox = rt
        .block_on(DmpSandbox::start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            &pki,
        ))
        .unwrap();
    let d = dir.path();
    write_pair(
        &d.join("auth.pem"),
        &d.join("auth.key"),
        &pki.client_cert("AUTH", "640000014").unwrap(),
    )
    .unwrap();
    write_pair(
        &d.join("sign.pem"),
        &d.join("sign.key"),
        &pki.signing_cert("SIGN", "640000014").unwrap(),
    )
    .unwrap();
    std::fs::write(d.join("ca.pem"), pki.ca_pem()).unwrap();
    let client = rt.block_on(async {
        DmpClient::new(DmpClientConfig {
            base_url: "https://localhost/si-dmp-server/v2/services".into(),
            auth_cert_pem: d.join("auth.pem"),
            auth_key_pem: d.join("auth.key"),
            sign_cert_pem: d.join("sign.pem"),
            sign_key_pem: d.join("sign.key"),
            ca_bundle_pem: d.join("ca.pem"),
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            software: Software {
                id: "escale".into(),
                name: "Escale".into(),
                version: "bench".into(),
                homologation: "BENCH".into(),
            },
        })
        .unwrap()
    });
    let ins = ins();
    let pdf = pdf();
    let codes = structure_codes(
        escale::domain::structure::StructureKind::Csapa,
        &Default::default(),
    );
    let doc_type = document_type("88348-8").unwrap();
    let at = Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap();
    let caller = Caller {
        professional_id: "810000000017",
        professional_name: "Claire BERNARD",
        roles: vec![Code::new("10", "1.2.250.1.71.1.2.7", "Médecin")],
        structure_id: "1640000014",
        sector: "SA41",
        mode: AuthenticationMode::Indirecte,
    };
    let author = Author {
        idnps: "810000000017",
        family: "Bernard",
        given: "Claire",
        specialty: None,
        institution: "CSAPA",
        idnst: "1640000014",
    };
    c.bench_function("dmp/deposit_request", |b| {
        b.iter(|| {
            let id = Uuid::new_v4();
            let professional = Professional {
                idnps: "810000000017",
                given: "Claire",
                family: "Bernard",
                specialty: None,
            };
            let xml = cda::render(&Cda {
                id,
                set_id: id,
                version: 1,
                replaces: None,
                doc_type,
                title: "Lettre de liaison",
                effective_time: at,
                service_time: at,
                patient: ShareableIdentity {
                    ins: &ins,
                    birth_name: "ADRUN",
                    first_names: "ZOE",
                    birth_date: NaiveDate::from_ymd_opt(1975, 12, 31).unwrap(),
                    sex: Sex::F,
                    birth_place_code: Some("63220"),
                },
                author: professional.clone(),
                legal_authenticator: professional,
                structure: Organization {
                    finess: "640000014",
                    name: "CSAPA",
                    facility_type: codes.facility_type.clone(),
                    practice_setting: codes.practice_setting.clone(),
                },
                pdf: &pdf,
            });
            let s = Submission {
                submission_id: uuid_oid(Uuid::new_v4()),
                source_id: "1.2.250.1.999.1.1.7898",
                submitted_at: at,
                patient: &ins,
                patient_info: PatientInfo {
                    family: "ADRUN",
                    given: "ZOE",
                    birth_date: NaiveDate::from_ymd_opt(1975, 12, 31).unwrap(),
                    sex: "F",
                },
                author: author.clone(),
                content_type: codes.content_type.clone(),
                document_id: uuid_oid(id),
                title: "Lettre de liaison",
                created_at: at,
                service_start: at,
                type_code: Code::new(&doc_type.code, &doc_type.system, &doc_type.label),
                class_code: Code::new(&doc_type.class_code, "1.2.250.1.213.1.1.4.1", "Classe"),
                confidentiality: vec![Code::new("N", "2.16.840.1.113883.5.25", "Normal")],
                facility_type: codes.facility_type.clone(),
                practice_setting: codes.practice_setting.clone(),
                replaces: None,
                cda: xml.as_bytes(),
                signature: None,
            };
            client
                .deposit_request(&caller, &s, at)
                .unwrap()
                .mtom
                .body
                .len()
        })
    });
}

fn outbox(_: &mut Criterion) {
    let n: usize = std::env::var("ESCALE_BENCH_DMP_DEPOSITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        escale::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
        let store: DynStore = escale::store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let s = store
            .create_structure(
                &NewStructure {
                    name: "CSAPA de mesure".into(),
                    kind: StructureKind::Csapa,
                    finess_geo: "640000014".into(),
                    finess_juridique: "640000121".into(),
                },
                &|_| Vec::new(),
            )
            .await
            .unwrap();
        let p = store
            .create_professional(
                &NewProfessional {
                    first_name: "Claire".into(),
                    last_name: "Bernard".into(),
                    national_id: Some("810000000017".into()),
                    profession: "Médecin addictologue".into(),
                    instance_admin: false,
                },
                &|_| Vec::new(),
            )
            .await
            .unwrap();
        store.grant_role(s.id, p.id, Role::Medecin, &[]).await.unwrap();
        let t = store.tenant_for(p.id, s.id).await.unwrap().unwrap();

        let pki = TestPki::generate().unwrap();
        let sandbox = DmpSandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), &pki)
            .await
            .unwrap();
        std::fs::write(dir.path().join("ca.pem"), pki.ca_pem()).unwrap();
        let creds = DmpCredentials::under(dir.path(), &s.finess_geo);
        write_pair(&creds.auth_cert, &creds.auth_key, &pki.client_cert("AUTH", &s.finess_geo).unwrap()).unwrap();
        write_pair(&creds.sign_cert, &creds.sign_key, &pki.signing_cert("SIGN", &s.finess_geo).unwrap()).unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        };
        let dmp = Arc::new(DmpService::new(&config, sandbox.url.clone(), dir.path().join("ca.pem"), None));
        let insi = Arc::new(escale::services::insi::InsiService::disabled());
        let runner = Runner::new(
            store.clone(),
            escale::jobs::handlers(&store, &insi, &dmp, &Arc::new(escale::services::mss::MssService::disabled(&config)), 10),
            RunnerConfig::default(),
        );

        // One qualified, informed user per 10 documents.
        let bytes = pdf();
        let mut requests = Vec::with_capacity(n);
        let mut usager = None;
        let qualified = Vigilance::provisional()
            .confirm_insi(InsRetrieval {
                ins: ins(),
                history: vec![],
                retrieved_at: Utc::now(),
                retrieved_by: "bench".into(),
                key_mismatch: false,
            })
            .unwrap()
            .record_document(DocumentCheck {
                kind: "CN".into(),
                checked_by: "bench".into(),
                checked_at: Utc::now(),
            })
            .unwrap();
        let started = Instant::now();
        for i in 0..n {
            if i % 10 == 0 {
                let u = store
                    .create_usager(
                        &t,
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
                store
                    .set_vigilance(&t, u.id, u.version, &u.data.identity, &qualified, &[])
                    .await
                    .unwrap();
                store
                    .record_dmp_consent(&t, u.id, ConsentEvent::Information, &[])
                    .await
                    .unwrap();
                usager = Some(u.id);
            }
            let u = usager.unwrap();
            let fields = DocumentFields {
                type_code: document_type("88348-8").unwrap(),
                title: format!("Lettre {i}"),
                date: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
                confidentiality: Confidentiality::Partagee,
            };
            let mut content = bytes.clone();
            content.extend_from_slice(i.to_string().as_bytes());
            let doc = store
                .add_document(
                    &t,
                    u,
                    &NewDocument {
                        fields: &fields,
                        media_type: "application/pdf",
                        content: &content,
                    },
                    None,
                    &|_| vec![],
                )
                .await
                .unwrap();
            let (d, _) = escale::services::dmp::request(
                store.as_ref(),
                &t,
                u,
                doc.id,
                DmpOperation::Depot,
                DmpVisibility::Normale,
            )
            .await
            .unwrap();
            requests.push(d.id);
        }
        let written = started.elapsed();
        let started = Instant::now();
        let ran = runner.run_until_idle().await.unwrap();
        let sent = started.elapsed();
        for id in &requests {
            let d = store.dmp_deposit(t.structure_id, *id).await.unwrap().unwrap();
            assert_eq!(d.state, DepositState::Accepte, "{:?}", d.reason);
        }
        assert_eq!(ran, n);
        assert_eq!(sandbox.entries().len(), n);
        println!(
            "dmp/outbox: {n} requests written in {:.2} s ({:.0}/s, document + request + job), sent in {:.2} s: {:.1} deposits/s (one runner, SQLite, sandbox over mTLS, 100 KiB PDF)",
            written.as_secs_f64(),
            n as f64 / written.as_secs_f64(),
            sent.as_secs_f64(),
            n as f64 / sent.as_secs_f64()
        );
    });
}

criterion_group!(benches, deposit_request, outbox);
criterion_main!(benches);
