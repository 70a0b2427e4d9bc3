//! MSSanté messages (issue 14).
//!
//! - Criterion `mss/compose_with_xdm`: per message, the `IHE_XDM.ZIP` of a
//!   CDA wrapping a 100 KiB PDF and the RFC 5322 message carrying the PDF
//!   and the archive (nothing sent).
//! - Submissions to the MSSanté sandbox: `ESCALE_BENCH_MSS_MESSAGES`
//!   (default 200) messages sent one after the other by the real client
//!   (a new SMTP session each: STARTTLS with the structure's certificate),
//!   each checked by the sandbox (headers, archive against its CDA):
//!   messages/s printed, and every one checked delivered once.
//!
//! This measures the client and the protocol alone; the outbox from the
//! files and the IMAP reading are measured by `benches/mss_outbox.rs`.
//!
//! `cargo bench --bench mss`

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};

use escale::connectors::dmp::xds::{Author, PatientInfo, Submission};
use escale::connectors::mss::message::{Attached, Outgoing, compose};
use escale::connectors::mss::smtp::{SmtpConfig, SmtpSubmission};
use escale::connectors::mss::xdm::{self, Producer};
use escale::domain::ins::{Ins, InsOid, Matricule};
use escale::domain::mss::MssHeaders;
use escale::domain::terminology::Code;
use escale::sandbox::mss::MssSandbox;
use escale::sandbox::pki::{TestPki, write_pair};

const FROM: &str = "accueil@csapa.bench.mssante.fr";
const TO: &str = "dr.martin@medecin.bench.mssante.fr";

fn ins() -> Ins {
    Ins {
        matricule: Matricule::from_insi("2751263220749", "74").unwrap().0,
        oid: InsOid::NirTest,
    }
}

/// A CDA-looking document of about 140 KiB (a 100 KiB PDF in base64).
fn cda() -> Vec<u8> {
    let mut b = br#"<?xml version="1.0" encoding="UTF-8"?><ClinicalDocument xmlns="urn:hl7-org:v3"><code code="88348-8"/><text>"#.to_vec();
    b.resize(b.len() + 140 * 1024, b'A');
    b.extend_from_slice(b"</text></ClinicalDocument>");
    b
}

fn submission<'a>(ins: &'a Ins, cda: &'a [u8]) -> Submission<'a> {
    let at = Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap();
    let c = Code::new;
    Submission {
        submission_id: "2.25.1".into(),
        source_id: "2.25.2",
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
            family: "BERNARD",
            given: "CLAIRE",
            specialty: None,
            institution: "CSAPA",
            idnst: "1640000014",
        },
        content_type: c("19", "1.2.250.1.213.2.2", "Traitement et cure ambulatoire"),
        document_id: "2.25.3".into(),
        title: "Lettre de liaison d'entrée",
        created_at: at,
        service_start: at,
        type_code: c(
            "88348-8",
            "2.16.840.1.113883.6.1",
            "Lettre de liaison d'entrée",
        ),
        class_code: c("11", "1.2.250.1.213.1.1.4.1", "Synthèse"),
        confidentiality: vec![c("N", "2.16.840.1.113883.5.25", "Normal")],
        facility_type: c("SA41", "1.2.250.1.71.4.2.4", "Autre"),
        practice_setting: c("ESSMS", "1.2.250.1.213.1.1.4.9", "ESSMS"),
        replaces: None,
        cda,
        signature: None,
    }
}

/// The whole message: archive, PDF, headers.
fn message(s: &Submission<'_>, pdf: &[u8], id: &str) -> Vec<u8> {
    let to = vec![TO.to_string()];
    let archive = xdm::archive(
        std::slice::from_ref(s),
        &to,
        &Producer {
            software: "Escale",
            version: "bench",
            structure: "CSAPA",
            mailbox: FROM,
        },
    )
    .unwrap();
    let mss = MssHeaders::new("BENCH", &["88348-8"], true, false, true);
    compose(&Outgoing {
        from: FROM,
        from_name: "CSAPA",
        to: &to,
        subject: "XDM/1.0/DDM+Lettre de liaison d'entrée ADRUN ZOE 31/12/1975",
        body: "Bonjour,\nCi-joint la lettre de liaison.\n",
        message_id: id,
        in_reply_to: None,
        references: &[],
        read_receipt_to: Some(FROM),
        mss: &mss,
        attachments: &[
            Attached {
                file_name: "DOC0001.PDF",
                content_type: "application/pdf",
                bytes: pdf,
            },
            Attached {
                file_name: xdm::ARCHIVE_NAME,
                content_type: "application/zip",
                bytes: &archive,
            },
        ],
        date: Utc::now(),
    })
    .unwrap()
}

fn pdf() -> Vec<u8> {
    let mut b = b"%PDF-1.7\n".to_vec();
    b.resize(100 * 1024, b'x');
    b
}

fn compose_with_xdm(c: &mut Criterion) {
    let (ins, cda, pdf) = (ins(), cda(), pdf());
    let s = submission(&ins, &cda);
    let mut i = 0u64;
    c.bench_function("mss/compose_with_xdm", |b| {
        b.iter(|| {
            i += 1;
            message(&s, &pdf, &format!("<{i}@bench>"))
        })
    });
}

fn submissions(_: &mut Criterion) {
    let n: usize = std::env::var("ESCALE_BENCH_MSS_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    escale::install_crypto_provider();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pki = TestPki::generate().unwrap();
        let sandbox = MssSandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), &pki)
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("ca.pem"), pki.ca_pem()).unwrap();
        write_pair(
            &d.join("bal.pem"),
            &d.join("bal.key"),
            &pki.client_cert("ESCALE-MSS", "640000014").unwrap(),
        )
        .unwrap();
        let client = SmtpSubmission::new(&SmtpConfig {
            host: sandbox.host.clone(),
            port: sandbox.smtp_addr.port(),
            cert_pem: d.join("bal.pem"),
            key_pem: d.join("bal.key"),
            ca_pem: d.join("ca.pem"),
            timeout: Duration::from_secs(10),
            hello_name: "bench".into(),
        })
        .unwrap();
        let (ins, cda, pdf) = (ins(), cda(), pdf());
        let s = submission(&ins, &cda);
        let messages: Vec<Vec<u8>> = (0..n)
            .map(|i| message(&s, &pdf, &format!("<{i}@bench>")))
            .collect();
        let to = vec![TO.to_string()];
        let started = Instant::now();
        for m in &messages {
            client.submit(FROM, &to, m).await.unwrap();
        }
        let elapsed = started.elapsed();
        assert_eq!(sandbox.mailbox(TO).len(), n, "each delivered once");
        println!(
            "mss/submissions: {n} messages of {} KiB in {:.2} s = {:.1} messages/s (one client, a STARTTLS session each, checked by the sandbox)",
            messages[0].len() / 1024,
            elapsed.as_secs_f64(),
            n as f64 / elapsed.as_secs_f64()
        );
    });
}

criterion_group!(benches, compose_with_xdm, submissions);
criterion_main!(benches);
