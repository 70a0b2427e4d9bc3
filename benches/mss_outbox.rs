//! MSSanté from the files (issue 14), on SQLite, against the MSSanté sandbox
//! over real sockets (STARTTLS, the structure's certificate):
//!
//! - Outbox: `ESCALE_BENCH_MSS_OUTBOX` (default 200) messages written from a
//!   qualified user's file (each with the 100 KiB letter: PDF + IHE_XDM.ZIP
//!   with its CDA) by `services::mss::request`, then sent by the job runner:
//!   messages/s from queued to « envoyé », every one checked delivered once.
//! - IMAP poll: `ESCALE_BENCH_MSS_INBOX` (default 10,000) messages waiting in
//!   the structure's mailbox (1 KiB each, from a professional), read as the
//!   scheduled job does (batches of 100 by UID, each recorded with the cursor
//!   in one transaction): total time, messages/s, and a second reading that
//!   finds nothing.
//!
//! `cargo bench --bench mss_outbox`

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use criterion::{Criterion, criterion_group, criterion_main};

use escale::config::Config;
use escale::domain::care::Confidentiality;
use escale::domain::document::{DocumentFields, document_type};
use escale::domain::identity::{DocumentCheck, InsRetrieval, Vigilance};
use escale::domain::ins::{Ins, InsOid, Matricule};
use escale::domain::roles::Role;
use escale::domain::structure::StructureKind;
use escale::domain::usager::{Contact, Identity, Sex, UsagerData};
use escale::jobs::{Runner, RunnerConfig};
use escale::sandbox::mss::MssSandbox;
use escale::sandbox::pki::{TestPki, write_pair};
use escale::services::mss::{Draft, MssCredentials, MssService, Operator, Recipients};
use escale::store::{DynStore, NewDocument, NewProfessional, NewStructure};

const MAILBOX: &str = "accueil@csapa.escale-demo.mssante.fr";
const DOCTOR: &str = "dr.martin@hopital.bench.mssante.fr";

fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pdf() -> Vec<u8> {
    let mut b = b"%PDF-1.7\n".to_vec();
    b.resize(100 * 1024 - 6, b'x');
    b.extend_from_slice(b"\n%%EOF");
    b
}

fn outbox_and_poll(_: &mut Criterion) {
    let (n, inbox) = (
        count("ESCALE_BENCH_MSS_OUTBOX", 200),
        count("ESCALE_BENCH_MSS_INBOX", 10_000),
    );
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
                    first_name: "Karim".into(),
                    last_name: "Haddad".into(),
                    national_id: Some("899900000045".into()),
                    profession: "Assistant de service social".into(),
                    instance_admin: false,
                },
                &|_| Vec::new(),
            )
            .await
            .unwrap();
        store
            .grant_role(s.id, p.id, Role::TravailleurSocial, &[])
            .await
            .unwrap();
        store.grant_role(s.id, p.id, Role::Directeur, &[]).await.unwrap();
        let t = store.tenant_for(p.id, s.id).await.unwrap().unwrap();
        store.set_mss_mailbox(&t, Some(MAILBOX), &[]).await.unwrap();

        let pki = TestPki::generate().unwrap();
        let sandbox = MssSandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), &pki)
            .await
            .unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, pki.ca_pem()).unwrap();
        let creds = MssCredentials::under(dir.path(), &s.finess_geo);
        std::fs::create_dir_all(creds.cert.parent().unwrap()).unwrap();
        write_pair(&creds.cert, &creds.key, &pki.client_cert("ESCALE-MSS", &s.finess_geo).unwrap())
            .unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        };
        let mss = Arc::new(MssService::new(
            &config,
            Operator {
                domain: "escale-demo.mssante.fr".into(),
                smtp_host: sandbox.host.clone(),
                smtp_port: sandbox.smtp_addr.port(),
                imap_host: sandbox.host.clone(),
                imap_port: sandbox.imap_addr.port(),
                ca,
            },
            None,
        ));
        let insi = Arc::new(escale::services::insi::InsiService::disabled());
        let dmp = Arc::new(escale::services::dmp::DmpService::disabled(&config));
        let runner = Runner::new(
            store.clone(),
            escale::jobs::handlers(&store, &insi, &dmp, &mss, 10),
            RunnerConfig::default(),
        );

        // One qualified user and their letter.
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
        let qualified = Vigilance::provisional()
            .confirm_insi(InsRetrieval {
                ins: Ins {
                    matricule: Matricule::from_insi("2751263220749", "74").unwrap().0,
                    oid: InsOid::NirTest,
                },
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
        store
            .set_vigilance(&t, u.id, u.version, &u.data.identity, &qualified, &[])
            .await
            .unwrap();
        let fields = DocumentFields {
            type_code: document_type("88348-8").unwrap(),
            title: "Lettre de liaison".into(),
            date: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            confidentiality: Confidentiality::Partagee,
        };
        let letter = store
            .add_document(
                &t,
                u.id,
                &NewDocument {
                    fields: &fields,
                    media_type: "application/pdf",
                    content: &pdf(),
                },
                None,
                &|_| vec![],
            )
            .await
            .unwrap();

        let started = Instant::now();
        for i in 0..n {
            escale::services::mss::request(
                store.as_ref(),
                &mss,
                &t,
                u.id,
                &Draft {
                    to: Recipients::Professionals {
                        chosen: vec![],
                        typed: DOCTOR.into(),
                    },
                    subject: format!("Lettre {i}"),
                    body: "Bonjour, voici la lettre.".into(),
                    documents: vec![letter.id],
                    confirm_unknown: true,
                    form_key: None,
                    reply_to: None,
                },
            )
            .await
            .unwrap()
            .unwrap();
        }
        let written = started.elapsed();
        let started = Instant::now();
        runner.run_until_idle().await.unwrap();
        let sent = started.elapsed();
        assert_eq!(sandbox.mailbox(DOCTOR).len(), n, "each delivered once");
        println!(
            "mss/outbox: {n} messages written in {:.2} s ({:.0}/s), sent by the outbox in {:.2} s = {:.1} messages/s (letter 100 KiB: PDF + IHE_XDM.ZIP with its CDA, a STARTTLS session each)",
            written.as_secs_f64(),
            n as f64 / written.as_secs_f64(),
            sent.as_secs_f64(),
            n as f64 / sent.as_secs_f64()
        );

        // The mailbox: the n delivery notices, and `inbox` messages more.
        for i in 0..inbox {
            let body = format!(
                "From: {DOCTOR}\r\nTo: {MAILBOX}\r\nSubject: Compte rendu {i}\r\nMessage-ID: <cr-{i}@hopital.bench.mssante.fr>\r\nDate: Sat, 05 Dec 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
                "Bonjour, voici le compte rendu de la consultation. ".repeat(18)
            );
            sandbox.post(MAILBOX, DOCTOR, &format!("Compte rendu {i}"), body.into_bytes());
        }
        let total = n + inbox;
        let started = Instant::now();
        let mut read = 0;
        loop {
            let r = escale::services::mss::poll(store.as_ref(), &mss, &t, escale::services::mss::BATCH)
                .await
                .unwrap()
                .unwrap();
            read += r.read;
            if !r.more {
                break;
            }
        }
        let polled = started.elapsed();
        assert_eq!(read, total);
        let again = escale::services::mss::poll(store.as_ref(), &mss, &t, 100)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.read, 0);
        println!(
            "mss/imap_poll: {total} messages ({n} delivery notices, {inbox} messages of ~1 KiB) read in {:.2} s = {:.0} messages/s ({} IMAP sessions of {} messages, each message recorded with the cursor in its own transaction); a second reading: 0 new",
            polled.as_secs_f64(),
            total as f64 / polled.as_secs_f64(),
            total.div_ceil(escale::services::mss::BATCH),
            escale::services::mss::BATCH
        );
    });
}

criterion_group!(benches, outbox_and_poll);
criterion_main!(benches);
