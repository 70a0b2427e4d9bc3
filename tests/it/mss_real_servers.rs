//! The MSSanté clients against a real mail server nobody here wrote (issue
//! 14): Debian's postfix takes the submission (STARTTLS, the structure's
//! certificate required) and delivers over LMTP to Debian's dovecot, which
//! the IMAP reader opens (STARTTLS, certificate, SASL EXTERNAL). A letter
//! with its XDM archive arrives whole in the correspondent's mailbox; the
//! recipient dovecot does not know comes back as postfix's own DSN, read as
//! a failure of that message; an unknown recipient, a certificate of another
//! CA, another box's certificate and a plain session are refused.

use std::time::Duration;

use escale::connectors::mss::imap::{Batch, ImapConfig, ImapError, ImapReader};
use escale::connectors::mss::incoming::{self, Caps, Incoming};
use escale::connectors::mss::smtp::{SmtpConfig, SmtpError, SmtpSubmission};
use escale::sandbox::pki::TestPki;
use mail_parser::MessageParser;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use chrono::Utc;
use escale::config::{Config, MssConfig};
use escale::connectors::mss::message::{Outgoing, compose};
use escale::domain::mss::{MssHeaders, patient_address};
use escale::domain::mss_message::MessageState;
use escale::sandbox::pki::write_pair;
use escale::services::mss::{Draft, MssCredentials, MssService, Operator, Recipients};
use escale::store::MssMessage;

use crate::common::db::{TestDb, seed_two_structures, zoe_ins};
use crate::common::mail_servers::{MailServers, missing, not_run};
use crate::common::mss::{pro, send_now};
use crate::dmp::qualified_with_letter;
use crate::mss::{DOCTOR, STRUCTURE, archive, message};

/// Accepted by postfix, unknown to dovecot: bounced at delivery.
const GONE: &str = "ancien@medecin.test.mssante.fr";

async fn servers(test: &str, pki: &TestPki) -> Option<MailServers> {
    start(
        test,
        pki,
        &["csapa.test.mssante.fr", "medecin.test.mssante.fr"],
        &[STRUCTURE, DOCTOR, GONE],
        &[STRUCTURE, DOCTOR],
    )
    .await
}

async fn start(
    test: &str,
    pki: &TestPki,
    domains: &[&str],
    accepted: &[&str],
    mailboxes: &[&str],
) -> Option<MailServers> {
    if let Some(reason) = missing() {
        not_run(test, &reason);
        return None;
    }
    escale::install_crypto_provider();
    let servers = MailServers::start(pki, domains, accepted, mailboxes)
        .await
        .unwrap_or_else(|e| panic!("postfix and dovecot did not start: {e}"));
    Some(servers)
}

fn submission(s: &MailServers, cert: &(std::path::PathBuf, std::path::PathBuf)) -> SmtpSubmission {
    SmtpSubmission::new(&SmtpConfig {
        host: s.host.clone(),
        port: s.smtp_port,
        cert_pem: cert.0.clone(),
        key_pem: cert.1.clone(),
        ca_pem: s.ca.clone(),
        timeout: Duration::from_secs(10),
        hello_name: "escale.test".into(),
    })
    .unwrap()
}

fn reader(
    s: &MailServers,
    cert: &(std::path::PathBuf, std::path::PathBuf),
    mailbox: &str,
) -> ImapReader {
    ImapReader::new(&ImapConfig {
        host: s.host.clone(),
        port: s.imap_port,
        cert_pem: cert.0.clone(),
        key_pem: cert.1.clone(),
        ca_pem: s.ca.clone(),
        timeout: Duration::from_secs(10),
        mailbox: mailbox.into(),
    })
    .unwrap()
}

/// What the mailbox holds once something arrived (postfix delivers in the
/// background): waits for it, up to a minute.
async fn arrived(s: &MailServers, reader: &ImapReader) -> Batch {
    arrived_n(s, reader, 1).await
}

/// The mailbox once it holds `n` messages.
async fn arrived_n(s: &MailServers, reader: &ImapReader, n: usize) -> Batch {
    for _ in 0..600 {
        let batch = reader
            .fetch_after(0, 10, 25 << 20)
            .await
            .map_err(|e| s.with_logs(e.to_string()))
            .unwrap();
        if batch.messages.len() >= n {
            return batch;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{}", s.with_logs("nothing arrived in a minute".into()));
}

#[tokio::test]
async fn postfix_and_dovecot_carry_the_letter_and_bounce_the_unknown_box() {
    let pki = TestPki::generate().unwrap();
    let Some(s) = servers("postfix_and_dovecot_carry_the_letter", &pki).await else {
        return;
    };
    let structure = s.certificate(&pki, STRUCTURE, "640000014");
    let doctor = s.certificate(&pki, DOCTOR, "Cabinet Martin");

    let to = vec![DOCTOR.to_string(), GONE.to_string()];
    let xdm = archive(&to);
    let letter = message(&to, "<real-1@escale>", Some(xdm.clone()), "NIL-1", false);
    let answer = submission(&s, &structure)
        .submit(STRUCTURE, &to, &letter)
        .await
        .map_err(|e| s.with_logs(e.to_string()))
        .unwrap();
    assert!(answer.starts_with("250"), "{answer}");

    // The correspondent reads it with their own certificate: whole.
    let doctor_box = reader(&s, &doctor, DOCTOR);
    let batch = arrived(&s, &doctor_box).await;
    assert_eq!(batch.messages.len(), 1);
    let got = &batch.messages[0];
    let bytes = got.bytes.clone().expect("downloaded");
    let parsed = MessageParser::default().parse(&bytes).unwrap();
    let header = |name: &str| {
        parsed
            .header_raw(name)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    assert_eq!(header("X-MSS-NIL"), "NIL-1");
    assert_eq!(header("X-MSS-CODECDA"), "11488-4");
    assert!(header("Disposition-Notification-To").contains(STRUCTURE));
    assert!(
        String::from_utf8_lossy(&bytes).contains("\r\n.\r\nUne ligne"),
        "the dot-stuffed line came through unchanged"
    );
    let Incoming::Message(received) = incoming::read(&bytes, &Caps::default()).unwrap() else {
        panic!("a message");
    };
    assert_eq!(received.message_id.as_deref(), Some("<real-1@escale>"));
    assert_eq!(received.from, STRUCTURE);
    let zip = received
        .attachments
        .iter()
        .find(|a| a.name == "IHE_XDM.ZIP")
        .expect("the XDM archive");
    assert_eq!(zip.bytes, xdm, "the archive arrived byte for byte");
    // Read by UID: nothing new after what was read, same validity.
    let again = doctor_box.fetch_after(got.uid, 10, 25 << 20).await.unwrap();
    assert!(again.messages.is_empty());
    assert_eq!(again.uid_validity, batch.uid_validity);

    // The box dovecot does not know: postfix's own DSN, in the
    // structure's mailbox, read as this message failing for that address.
    let batch = arrived(&s, &reader(&s, &structure, STRUCTURE)).await;
    let bytes = batch.messages[0].bytes.clone().unwrap();
    match incoming::read(&bytes, &Caps::default()).unwrap() {
        Incoming::Dsn {
            original,
            deliveries,
        } => {
            assert_eq!(original.as_deref(), Some("<real-1@escale>"));
            let gone = deliveries
                .iter()
                .find(|d| d.recipient == GONE)
                .unwrap_or_else(|| panic!("{deliveries:?}"));
            assert_eq!(gone.action, "failed");
            assert!(gone.status.starts_with("5."), "{gone:?}");
            assert!(gone.diagnostic.is_some(), "{gone:?}");
            assert!(!deliveries.iter().any(|d| d.recipient == DOCTOR));
        }
        other => panic!("a DSN, not {other:?}\n{}", String::from_utf8_lossy(&bytes)),
    }
}

#[tokio::test]
async fn postfix_and_dovecot_refuse_what_the_operator_refuses() {
    let pki = TestPki::generate().unwrap();
    let Some(s) = servers("postfix_and_dovecot_refuse", &pki).await else {
        return;
    };
    let structure = s.certificate(&pki, STRUCTURE, "640000014");
    let client = submission(&s, &structure);
    // « Tester la connexion » (EHLO, STARTTLS with the certificate, EHLO).
    client
        .check()
        .await
        .map_err(|e| s.with_logs(e.to_string()))
        .unwrap();

    // An address postfix does not know: refused at RCPT, explained.
    let nobody = vec!["personne@medecin.test.mssante.fr".to_string()];
    let letter = message(&nobody, "<real-2@escale>", None, "NIL-1", false);
    match client.submit(STRUCTURE, &nobody, &letter).await {
        Err(SmtpError::Refused(text)) => {
            assert!(text.starts_with("550 : "), "{text}");
            assert!(text.contains("5.1.1"), "{text}");
        }
        other => panic!("{other:?}"),
    }

    // A certificate of another CA: neither server lets it in.
    let other = TestPki::generate().unwrap();
    let stranger = s.certificate(&other, "intrus@csapa.test.mssante.fr", "640000014");
    let to = vec![DOCTOR.to_string()];
    let err = submission(&s, &stranger)
        .submit(
            STRUCTURE,
            &to,
            &message(&to, "<real-3@escale>", None, "NIL-1", false),
        )
        .await
        .unwrap_err();
    // Postfix ends the handshake, then answers « 421 4.7.1 Client
    // certificate not trusted »: a temporary refusal (the outbox retries,
    // then gives up with this reason), nothing delivered.
    match &err {
        SmtpError::Transient(t) => {
            assert!(
                t.starts_with("421 : ") && t.contains("certificate not trusted"),
                "{t}"
            )
        }
        SmtpError::Unreachable(t) => assert!(t.contains("TLS"), "{t}"),
        other => panic!("{other:?}"),
    }
    let doctor = s.certificate(&pki, DOCTOR, "Cabinet Martin");
    assert_eq!(reader(&s, &doctor, DOCTOR).check().await.unwrap(), 0);
    let tested = submission(&s, &stranger).check().await;
    assert!(
        tested.is_err(),
        "« Tester la connexion » says it: {tested:?}"
    );
    let err = reader(&s, &stranger, STRUCTURE).check().await.unwrap_err();
    assert!(
        matches!(err, ImapError::Refused(_) | ImapError::Unreachable(_)),
        "{err:?}"
    );
    // The structure's certificate does not open another box.
    let err = reader(&s, &structure, DOCTOR).check().await.unwrap_err();
    assert!(
        matches!(&err, ImapError::Refused(t) if t.contains(DOCTOR)),
        "{err:?}"
    );
    // Its own box, yes (empty).
    assert_eq!(reader(&s, &structure, STRUCTURE).check().await.unwrap(), 0);

    // Without STARTTLS postfix takes nothing.
    let tcp = tokio::net::TcpStream::connect((s.host.as_str(), s.smtp_port))
        .await
        .unwrap();
    let (r, mut w) = tcp.into_split();
    let mut lines = BufReader::new(r).lines();
    let greeting = lines.next_line().await.unwrap().unwrap();
    assert!(greeting.starts_with("220"), "{greeting}");
    w.write_all(b"HELO plain.test\r\nMAIL FROM:<accueil@csapa.test.mssante.fr>\r\n")
        .await
        .unwrap();
    let helo = lines.next_line().await.unwrap().unwrap();
    assert!(helo.starts_with("250"), "{helo}");
    let mail = lines.next_line().await.unwrap().unwrap();
    assert!(mail.starts_with("530"), "{mail}");
}

/// The structure's mailbox in the escale-demo operator's domain.
const MAILBOX: &str = "accueil@csapa.escale-demo.mssante.fr";
const CORRESPONDENT: &str = "dr.martin@hopital.test.mssante.fr";
const CLOSED: &str = "ancien@hopital.test.mssante.fr";

both_backends!(the_outbox_and_the_reading_job_work_through_postfix_and_dovecot);
async fn the_outbox_and_the_reading_job_work_through_postfix_and_dovecot(db: TestDb) {
    let pki = TestPki::generate().unwrap();
    let patient = patient_address(&zoe_ins());
    let Some(s) = start(
        "the_outbox_and_the_reading_job_work_through_postfix_and_dovecot",
        &pki,
        &[
            "csapa.escale-demo.mssante.fr",
            "hopital.test.mssante.fr",
            "patient.mssante.fr",
        ],
        &[MAILBOX, CORRESPONDENT, CLOSED, &patient],
        &[MAILBOX, CORRESPONDENT, &patient],
    )
    .await
    else {
        return;
    };
    let f = seed_two_structures(&db.store).await;
    let t = f.medecin.tenant.clone();
    db.store
        .set_mss_mailbox(&f.directeur.tenant, Some(MAILBOX), &[])
        .await
        .unwrap();
    // The structure's certificate where the service looks for it; its CN
    // is the mailbox (dovecot's EXTERNAL user).
    let data = tempfile::tempdir().unwrap();
    let creds = MssCredentials::under(data.path(), &f.csapa.finess_geo);
    write_pair(
        &creds.cert,
        &creds.key,
        &pki.client_cert(MAILBOX, &f.csapa.finess_geo).unwrap(),
    )
    .unwrap();
    let config = Config {
        data_dir: data.path().to_path_buf(),
        mss: MssConfig {
            timeout_seconds: 10,
            ..Default::default()
        },
        ..Default::default()
    };
    let mss = MssService::new(
        &config,
        Operator {
            domain: "escale-demo.mssante.fr".into(),
            smtp_host: s.host.clone(),
            smtp_port: s.smtp_port,
            imap_host: s.host.clone(),
            imap_port: s.imap_port,
            ca: s.ca.clone(),
        },
        None,
    );
    let (usager, letter) = qualified_with_letter(&db.store, &t).await;
    let send = |to: Recipients, subject: &'static str| {
        send_now(db.store.as_ref(), &mss, &t, usager, letter, to, subject)
    };
    let to_doctor = send(pro(CORRESPONDENT), "Lettre au médecin").await;
    let to_closed = send(pro(CLOSED), "Lettre à une boîte fermée").await;
    let to_patient = send(
        Recipients::Patient {
            reply_allowed: true,
        },
        "Votre courrier",
    )
    .await;
    let now = |m: &MssMessage| {
        let (store, id, s) = (db.store.clone(), m.id, t.structure_id);
        async move { store.mss_message(s, id).await.unwrap().unwrap() }
    };
    let sent = now(&to_doctor).await;
    assert_eq!(sent.state, MessageState::Envoye, "{:?}", sent.reason);
    assert!(
        sent.server_answer
            .clone()
            .unwrap_or_default()
            .contains("queued as"),
        "postfix's own answer kept: {:?}",
        sent.server_answer
    );

    // The correspondent's box holds the letter, its PDF and its XDM archive.
    let doctor = s.certificate(&pki, CORRESPONDENT, "Cabinet Martin");
    let batch = arrived(&s, &reader(&s, &doctor, CORRESPONDENT)).await;
    let bytes = batch.messages[0].bytes.clone().unwrap();
    let Incoming::Message(letter_read) = incoming::read(&bytes, &Caps::default()).unwrap() else {
        panic!("a message");
    };
    assert_eq!(letter_read.message_id, Some(to_doctor.message_id.clone()));
    let names: Vec<&str> = letter_read
        .attachments
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert!(names.contains(&"IHE_XDM.ZIP"), "{names:?}");
    assert!(
        names
            .iter()
            .any(|n| n.to_ascii_lowercase().ends_with(".pdf")),
        "{names:?}"
    );

    // The patient answers from their Mon espace santé box.
    let patient_cert = s.certificate(&pki, &patient, "Mon espace santé");
    let reply = compose(&Outgoing {
        from: &patient,
        from_name: "Zoé Adrun",
        to: &[MAILBOX.to_string()],
        subject: "RE: Votre courrier",
        body: "Merci, je viendrai mardi <b>",
        message_id: "<reponse-1@patient.mssante.fr>",
        in_reply_to: Some(&to_patient.message_id),
        references: std::slice::from_ref(&to_patient.message_id),
        read_receipt_to: None,
        mss: &MssHeaders::new("MES", &[], false, false, true),
        attachments: &[],
        date: Utc::now(),
    })
    .unwrap();
    submission(&s, &patient_cert)
        .submit(&patient, &[MAILBOX.to_string()], &reply)
        .await
        .unwrap();

    // The reading job's service reads postfix's DSN and the reply (they
    // arrive in the background: read until both are in).
    let mut read = 0;
    for _ in 0..600 {
        let reading = escale::services::mss::poll(db.store.as_ref(), &mss, &t, 100)
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{}", s.with_logs(e)));
        read += reading.read;
        let replied = db
            .store
            .mss_messages(&t, usager)
            .await
            .unwrap()
            .iter()
            .any(|m| !m.outgoing);
        if replied && now(&to_closed).await.state == MessageState::Echec {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(read, 2, "{}", s.with_logs(String::new()));
    let failed = now(&to_closed).await;
    assert_eq!(failed.state, MessageState::Echec);
    let reason = failed.reason.unwrap_or_default();
    assert!(
        reason.contains("non remis à") && reason.contains(CLOSED),
        "{reason}"
    );
    // Postfix reports success only when asked (NOTIFY=SUCCESS): the others
    // stay « envoyé ».
    assert_eq!(now(&to_doctor).await.state, MessageState::Envoye);
    let file = db.store.mss_messages(&t, usager).await.unwrap();
    let answer = file.iter().find(|m| !m.outgoing).unwrap();
    assert_eq!(answer.thread_id, to_patient.message_id);
    assert!(answer.to_patient);
    assert!(answer.body.contains("je viendrai mardi <b>"));

    // Read again: nothing new, nothing twice.
    let again = escale::services::mss::poll(db.store.as_ref(), &mss, &t, 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.read, 0);
    assert_eq!(
        db.store.mss_messages(&t, usager).await.unwrap().len(),
        file.len()
    );

    // « Répondre »: Escale answers the patient; the conversation goes on.
    let draft = |reply_to| Draft {
        to: Recipients::Patient {
            reply_allowed: true,
        },
        subject: "RE: Votre courrier".into(),
        body: "À mardi".into(),
        documents: vec![],
        confirm_unknown: false,
        form_key: None,
        reply_to: Some(reply_to),
    };
    let back =
        escale::services::mss::request(db.store.as_ref(), &mss, &t, usager, &draft(answer.id))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(back.thread_id, to_patient.message_id);
    assert_eq!(
        back.in_reply_to.as_deref(),
        Some("<reponse-1@patient.mssante.fr>")
    );
    escale::services::mss::perform(db.store.as_ref(), &mss, &t, back.id)
        .await
        .unwrap();
    let batch = arrived_n(&s, &reader(&s, &patient_cert, &patient), 2).await;
    let bytes = batch.messages[1].bytes.clone().unwrap();
    let Incoming::Message(got) = incoming::read(&bytes, &Caps::default()).unwrap() else {
        panic!("a message");
    };
    assert_eq!(got.message_id, Some(back.message_id.clone()));
    assert_eq!(
        got.in_reply_to,
        vec!["<reponse-1@patient.mssante.fr>".to_string()]
    );
    assert_eq!(
        got.references,
        vec![
            to_patient.message_id.clone(),
            "<reponse-1@patient.mssante.fr>".to_string()
        ]
    );
    // A message that is not of this file cannot be answered from it.
    let stranger = escale::services::mss::request(
        db.store.as_ref(),
        &mss,
        &t,
        usager,
        &draft(uuid::Uuid::new_v4()),
    )
    .await;
    assert!(
        matches!(
            stranger,
            Err(escale::services::error::ServiceError::NotFound)
        ),
        "{stranger:?}"
    );
    // Nor one of the structure's own messages.
    let own =
        escale::services::mss::request(db.store.as_ref(), &mss, &t, usager, &draft(to_doctor.id))
            .await;
    assert!(
        matches!(own, Err(escale::services::error::ServiceError::NotFound)),
        "{own:?}"
    );
}
