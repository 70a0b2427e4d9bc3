//! MSSanté (issue 14): the real SMTP submission client (lettre, STARTTLS,
//! the structure's certificate) against the MSSanté sandbox over sockets:
//! a letter with its XDM archive to a professional, a message to the user's
//! Mon espace santé mailbox; a client without a certificate of the trusted
//! CA, a message without X-MSS-NIL, an archive whose metadata lies, the
//! server busy or down; a plain connection cannot skip STARTTLS.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use escale::connectors::dmp::xds::{Author, PatientInfo, Submission};
use escale::connectors::mss::message::{Attached, Outgoing, compose};
use escale::connectors::mss::smtp::{SmtpConfig, SmtpError, SmtpSubmission};
use escale::connectors::mss::xdm::{self, Producer};
use escale::domain::ins::{Ins, InsOid, Matricule};
use escale::domain::mss::{MssHeaders, patient_address};
use escale::domain::terminology::Code;
use escale::sandbox::mss::{MssBehaviour, MssSandbox, MssSandboxHandle};
use escale::sandbox::pki::{TestPki, write_pair};

pub(crate) const STRUCTURE: &str = "accueil@csapa.test.mssante.fr";
pub(crate) const DOCTOR: &str = "dr.martin@medecin.test.mssante.fr";
const CDA: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?><ClinicalDocument xmlns="urn:hl7-org:v3"><code code="11488-4" codeSystem="2.16.840.1.113883.6.1"/></ClinicalDocument>"#;

fn ins() -> Ins {
    Ins {
        matricule: Matricule::from_insi("2751263220749", "74").unwrap().0,
        oid: InsOid::NirTest,
    }
}

fn submission(ins: &Ins) -> Submission<'_> {
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
            institution: "CSAPA <Les Embruns> & co",
            idnst: "1640000014",
        },
        content_type: c("19", "1.2.250.1.213.2.2", "Traitement et cure ambulatoire"),
        document_id: "2.25.3".into(),
        title: "Compte rendu <de> consultation",
        created_at: at,
        service_start: at,
        type_code: c("11488-4", "2.16.840.1.113883.6.1", "CR de consultation"),
        class_code: c("10", "1.2.250.1.213.1.1.4.1", "Compte rendu"),
        confidentiality: vec![c("N", "2.16.840.1.113883.5.25", "Normal")],
        facility_type: c("SA41", "1.2.250.1.71.4.2.4", "Autre"),
        practice_setting: c("ESSMS", "1.2.250.1.213.1.1.4.9", "ESSMS"),
        replaces: None,
        cda: CDA,
        signature: None,
    }
}

struct Setup {
    sandbox: MssSandboxHandle,
    dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    escale::install_crypto_provider();
    let pki = TestPki::generate().unwrap();
    let sandbox = MssSandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), &pki)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), pki.ca_pem()).unwrap();
    let d = dir.path();
    write_pair(
        &d.join("bal.pem"),
        &d.join("bal.key"),
        &pki.client_cert("ESCALE-MSS", "640000014").unwrap(),
    )
    .unwrap();
    Setup { sandbox, dir }
}

impl Setup {
    fn client(&self, cert: &str) -> SmtpSubmission {
        let d = self.dir.path();
        SmtpSubmission::new(&SmtpConfig {
            host: self.sandbox.host.clone(),
            port: self.sandbox.smtp_addr.port(),
            cert_pem: d.join(format!("{cert}.pem")),
            key_pem: d.join(format!("{cert}.key")),
            ca_pem: d.join("ca.pem"),
            timeout: Duration::from_secs(3),
            hello_name: "escale.test".into(),
        })
        .unwrap()
    }
}

/// The XDM archive of [`submission`] for `to`.
pub(crate) fn archive(to: &[String]) -> Vec<u8> {
    let ins = ins();
    xdm::archive(
        std::slice::from_ref(&submission(&ins)),
        to,
        &Producer {
            software: "Escale",
            version: "test",
            structure: "CSAPA",
            mailbox: STRUCTURE,
        },
    )
    .unwrap()
}

/// A message from the structure, with `xdm` as its `IHE_XDM.ZIP` if any,
/// `nil` as X-MSS-NIL (empty: none).
pub(crate) fn message(
    to: &[String],
    id: &str,
    xdm: Option<Vec<u8>>,
    nil: &str,
    no_reply: bool,
) -> Vec<u8> {
    let codes: &[&str] = if xdm.is_some() { &["11488-4"] } else { &[] };
    let to_patient = to
        .iter()
        .all(|a| escale::domain::mss::is_patient_address(a));
    let mut mss = MssHeaders::new(nil, codes, true, to_patient, !no_reply);
    // The domain writes FIN only towards a patient: forced here to show
    // that the sandbox refuses it elsewhere.
    mss.no_reply = no_reply;
    let attachments: Vec<Attached<'_>> = xdm
        .as_deref()
        .map(|bytes| Attached {
            file_name: xdm::ARCHIVE_NAME,
            content_type: "application/zip",
            bytes,
        })
        .into_iter()
        .collect();
    let bytes = compose(&Outgoing {
        from: STRUCTURE,
        from_name: "CSAPA",
        to,
        subject: "XDM/1.0/DDM+Compte rendu ADRUN ZOE 31/12/1975",
        body: "Bonjour,\n.\nUne ligne qui commence par un point.",
        message_id: id,
        in_reply_to: None,
        references: &[],
        read_receipt_to: Some(STRUCTURE),
        mss: &mss,
        attachments: &attachments,
        date: Utc::now(),
    })
    .unwrap();
    if nil.is_empty() {
        // Without the header at all, not an empty one.
        let text = String::from_utf8(bytes).unwrap();
        let kept: Vec<&str> = text
            .split_inclusive("\r\n")
            .filter(|l| !l.starts_with("X-MSS-NIL:"))
            .collect();
        return kept.concat().into_bytes();
    }
    bytes
}

#[tokio::test]
async fn a_letter_goes_to_a_professional_and_a_message_to_the_patient() {
    let s = setup().await;
    let client = s.client("bal");
    let to_doctor = vec![DOCTOR.to_string()];
    let letter = message(
        &to_doctor,
        "<m1@escale>",
        Some(archive(&to_doctor)),
        "NIL-1",
        false,
    );
    let answer = client.submit(STRUCTURE, &to_doctor, &letter).await.unwrap();
    assert!(answer.starts_with("250"), "{answer}");
    let got = s.sandbox.mailbox(DOCTOR);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message_id, "<m1@escale>");
    assert_eq!(got[0].cda_code.as_deref(), Some("11488-4"));
    assert!(!got[0].no_reply);
    // The dot-stuffed line came through unchanged.
    assert!(String::from_utf8_lossy(&got[0].bytes).contains("\r\n.\r\nUne ligne"));

    // The same Message-ID again (a retry): delivered once.
    client.submit(STRUCTURE, &to_doctor, &letter).await.unwrap();
    assert_eq!(s.sandbox.mailbox(DOCTOR).len(), 1);

    let patient = vec![patient_address(&ins())];
    client
        .submit(
            STRUCTURE,
            &patient,
            &message(&patient, "<m2@escale>", None, "NIL-1", true),
        )
        .await
        .unwrap();
    let got = s.sandbox.mailbox(&patient[0]);
    assert_eq!(got.len(), 1);
    assert!(got[0].no_reply, "X-MSS-MES: FIN");
    assert_eq!(got[0].cda_code, None);
}

#[tokio::test]
async fn the_sandbox_refuses_what_the_operator_would() {
    let s = setup().await;
    let client = s.client("bal");
    let to = vec![DOCTOR.to_string()];
    // No X-MSS-NIL.
    let err = client
        .submit(
            STRUCTURE,
            &to,
            &message(&to, "<m3@escale>", Some(archive(&to)), "", false),
        )
        .await
        .unwrap_err();
    let SmtpError::Refused(why) = &err else {
        panic!("{err:?}")
    };
    assert!(
        why.starts_with("554 : le serveur a refusé le message"),
        "{why}"
    );
    assert!(why.contains("X-MSS-NIL absent"), "{why}");
    // X-MSS-MES to a professional.
    let err = client
        .submit(
            STRUCTURE,
            &to,
            &message(&to, "<m4@escale>", None, "N", true),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("X-MSS-MES réservé"), "{err}");
    // A recipient outside the MSSanté space.
    let outside = vec!["someone@gmail.com".to_string()];
    let err = client
        .submit(
            STRUCTURE,
            &outside,
            &message(&outside, "<m5@escale>", None, "N", false),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("550 : la boîte du destinataire"),
        "{err}"
    );
    assert!(!err.is_transient());
    // An archive whose metadata does not match its document.
    let forged = message(&to, "<m6@escale>", Some(forge(&archive(&to))), "N", false);
    let err = client.submit(STRUCTURE, &to, &forged).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("hash différent du SHA-1 de DOC0001.XML"),
        "{err}"
    );
    // With the schemas (what the tests of Escale's own messages use): this
    // test's bare CDA is refused by the CDA schema, and metadata with an
    // element ebRS does not define by lcm.xsd.
    if let Some(schemas) = crate::common::mss::xdm_schemas() {
        s.sandbox.set_schemas(Some(schemas));
        let bare = message(&to, "<m7@escale>", Some(archive(&to)), "N", false);
        let err = client.submit(STRUCTURE, &to, &bare).await.unwrap_err();
        assert!(
            err.to_string().contains("DOC0001.XML hors schéma CDA"),
            "{err}"
        );
        let odd = rewrite(&archive(&to), "METADATA.XML", |m| {
            m.replace(
                "<rim:RegistryObjectList>",
                "<rim:RegistryObjectList><rim:Inconnu/>",
            )
        });
        let err = client
            .submit(
                STRUCTURE,
                &to,
                &message(&to, "<m9@escale>", Some(odd), "N", false),
            )
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("METADATA.XML hors schéma ebRS lcm.xsd"),
            "{err}"
        );
    }
    assert!(s.sandbox.mailbox(DOCTOR).is_empty(), "nothing delivered");
}

#[tokio::test]
async fn the_mailboxes_are_shown_as_pages() {
    let mut s = setup().await;
    let site = s
        .sandbox
        .open_site(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let patient = vec![patient_address(&ins())];
    let mut bytes = message(&patient, "<m8@escale>", None, "N", true);
    let text = String::from_utf8(bytes).unwrap().replace(
        "Subject: XDM/1.0/DDM+Compte rendu ADRUN ZOE 31/12/1975",
        "Subject: XDM/1.0/DDM+<script>alert(1)</script> =?utf-8?b?ZCdlbnRyw6ll?=",
    );
    bytes = text.into_bytes();
    s.client("bal")
        .submit(STRUCTURE, &patient, &bytes)
        .await
        .unwrap();
    let list = reqwest::get(format!("{site}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        list.contains(&patient[0]) && list.contains("Mon espace santé d'un patient"),
        "{list}"
    );
    let page = reqwest::get(format!(
        "{site}{}",
        escale::sandbox::mss::site::mailbox_path(&patient[0])
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt; d'entrée"),
        "{page}"
    );
    assert!(!page.contains("XDM/1.0/DDM+"), "prefix hidden");
    assert!(page.contains("interdite (X-MSS-MES: FIN)"));
    assert!(page.contains(STRUCTURE));
}

#[tokio::test]
async fn no_certificate_of_the_trusted_ca_no_plain_text_busy_or_down() {
    let s = setup().await;
    let to = vec![DOCTOR.to_string()];
    let mail = message(&to, "<m7@escale>", None, "N", false);
    // A certificate from another CA: the TLS handshake fails.
    let other = TestPki::generate().unwrap();
    let d = s.dir.path();
    write_pair(
        &d.join("other.pem"),
        &d.join("other.key"),
        &other.client_cert("ESCALE-MSS", "640000014").unwrap(),
    )
    .unwrap();
    let err = s
        .client("other")
        .submit(STRUCTURE, &to, &mail)
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(s.sandbox.mailbox(DOCTOR).is_empty());

    // In clear, nothing but STARTTLS.
    let tcp = tokio::net::TcpStream::connect(s.sandbox.smtp_addr)
        .await
        .unwrap();
    let mut io = BufReader::new(tcp);
    let mut l = String::new();
    io.read_line(&mut l).await.unwrap();
    assert!(l.starts_with("220"), "{l}");
    io.get_mut()
        .write_all(b"MAIL FROM:<accueil@csapa.test.mssante.fr>\r\n")
        .await
        .unwrap();
    l.clear();
    io.read_line(&mut l).await.unwrap();
    assert!(l.starts_with("530 5.7.0"), "{l}");

    // Busy: 421, to retry; down: unreachable, to retry.
    s.sandbox.set_behaviour(MssBehaviour::Busy);
    let err = s
        .client("bal")
        .submit(STRUCTURE, &to, &mail)
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    s.sandbox.set_behaviour(MssBehaviour::Fail451);
    let err = s
        .client("bal")
        .submit(STRUCTURE, &to, &mail)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SmtpError::Transient(ref w) if w.starts_with("451 : ")),
        "{err:?}"
    );
    s.sandbox.set_behaviour(MssBehaviour::Down);
    let err = s
        .client("bal")
        .submit(STRUCTURE, &to, &mail)
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    s.sandbox.set_behaviour(MssBehaviour::Normal);
    s.client("bal").submit(STRUCTURE, &to, &mail).await.unwrap();
    assert_eq!(s.sandbox.mailbox(DOCTOR).len(), 1);
}

/// The same archive with another CDA (same size, other bytes).
fn forge(zip_bytes: &[u8]) -> Vec<u8> {
    rewrite(zip_bytes, "DOC0001.XML", |cda| {
        cda.replace("11488-4", "11488-5")
    })
}

/// The same archive with the file ending in `name` rewritten by `f`.
fn rewrite(zip_bytes: &[u8], name_end: &str, f: impl Fn(&str) -> String) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut zin = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..zin.len() {
        let mut file = zin.by_index(i).unwrap();
        let name = file.name().unwrap().into_owned();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        if name.ends_with(name_end) {
            bytes = f(&String::from_utf8(bytes).unwrap()).into_bytes();
        }
        out.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(&bytes).unwrap();
    }
    out.finish().unwrap().into_inner()
}
