//! What the MSSanté sandbox sends back to a sender, as an operator and its
//! readers do: delivery status notifications (DSN, RFC 3464: delivered, or
//! failed with the reason), message disposition notifications (MDN,
//! RFC 8098: displayed by a person, or a processing error of the recipient's
//! software with an ANS consumer error code 900–906, the subject marked
//! `[KO Intégration système !][code]` as the CI-SIS guide shows), and a
//! patient's reply from Mon espace santé threaded by In-Reply-To/References.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Delivered;

/// The sandbox operator's name in what it writes.
pub const REPORTING_MTA: &str = "mss.bac-a-sable.escale";
/// Who signs its delivery reports.
pub const MAILER_DAEMON: &str = "MAILER-DAEMON@mss.bac-a-sable.escale";

fn message_id() -> String {
    format!("<{}@{REPORTING_MTA}>", Uuid::new_v4())
}

fn date(at: DateTime<Utc>) -> String {
    at.to_rfc2822()
}

/// The header block of `original` (up to the first blank line).
fn original_headers(original: &[u8]) -> String {
    let text = String::from_utf8_lossy(original);
    let end = text
        .find("\r\n\r\n")
        .or_else(|| text.find("\n\n"))
        .unwrap_or(text.len());
    text[..end].replace("\r\n", "\n").replace('\n', "\r\n")
}

/// A `multipart/report`: a readable part, the machine part, and optionally
/// the original's headers.
struct Report<'a> {
    from: &'a str,
    to: &'a str,
    subject: &'a str,
    /// `delivery-status` or `disposition-notification`.
    kind: &'a str,
    text: &'a str,
    machine: &'a str,
    headers: Option<&'a str>,
}

fn report(r: &Report<'_>) -> Vec<u8> {
    let Report {
        from,
        to,
        subject,
        kind,
        text,
        machine,
        headers,
    } = *r;
    let (report_type, machine_type) = (kind, format!("message/{kind}"));
    let boundary = format!("=_rapport_{}", Uuid::new_v4().simple());
    let mut out = format!(
        "From: {from}\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: {}\r\nMessage-ID: {}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type={report_type}; boundary=\"{boundary}\"\r\n\r\n",
        date(Utc::now()),
        message_id()
    );
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n"
    ));
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: {machine_type}\r\n\r\n{machine}\r\n"
    ));
    if let Some(h) = headers {
        out.push_str(&format!(
            "--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n{h}\r\n"
        ));
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out.into_bytes()
}

/// The DSN of `original` for `recipient`: delivered, or failed with
/// `failure` (an enhanced status and the reason).
pub fn dsn(
    sender: &str,
    recipient: &str,
    original: &[u8],
    failure: Option<(&str, &str)>,
) -> Vec<u8> {
    let (subject, text, action, status, diagnostic) = match failure {
        None => (
            "Delivery Status Notification (Success)",
            format!("Votre message a été remis à {recipient}."),
            "delivered",
            "2.0.0",
            String::new(),
        ),
        Some((status, why)) => (
            "Delivery Status Notification (Failure)",
            format!("Votre message n'a pas pu être remis à {recipient} : {why}"),
            "failed",
            status,
            format!("Diagnostic-Code: smtp; 550 {status} {why}\r\n"),
        ),
    };
    let machine = format!(
        "Reporting-MTA: dns; {REPORTING_MTA}\r\nArrival-Date: {}\r\n\r\nFinal-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n{diagnostic}",
        date(Utc::now())
    );
    report(&Report {
        from: &format!("Mail Delivery System <{MAILER_DAEMON}>"),
        to: sender,
        subject,
        kind: "delivery-status",
        text: &text,
        machine: &machine,
        headers: Some(&original_headers(original)),
    })
}

/// What a reader says of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// A person opened it.
    Displayed,
    /// The recipient's software could not integrate it: an ANS consumer
    /// error code and its label.
    ProcessingError { code: u16, label: String },
}

/// The MDN of `m`, received by `reader`, to its `Disposition-Notification-To`.
pub fn mdn(reader: &str, to: &str, m: &Delivered, disposition: &Disposition) -> Vec<u8> {
    let (subject, text, line, error) = match disposition {
        Disposition::Displayed => (
            format!("Read: {}", ascii_subject(&m.subject)),
            format!("Votre message a été lu par {reader}."),
            "manual-action/MDN-sent-manually; displayed".to_string(),
            String::new(),
        ),
        Disposition::ProcessingError { code, label } => (
            format!(
                "[KO Integration systeme !][{code}] {}",
                ascii_subject(&m.subject)
            ),
            format!("Le logiciel de {reader} n'a pas pu intégrer votre message : {code} {label}."),
            "automatic-action/MDN-sent-automatically; processed/error".to_string(),
            format!("Error: {code}^{label}\r\n"),
        ),
    };
    let machine = format!(
        "Reporting-UA: {REPORTING_MTA}; bac a sable Escale\r\nFinal-Recipient: rfc822; {reader}\r\nOriginal-Recipient: rfc822; {reader}\r\nOriginal-Message-ID: {}\r\nDisposition: {line}\r\n{error}",
        m.message_id
    );
    report(&Report {
        from: &format!("<{reader}>"),
        to,
        subject: &subject,
        kind: "disposition-notification",
        text: &text,
        machine: &machine,
        headers: None,
    })
}

/// Headers stay ASCII here: accents dropped, the rest kept.
fn ascii_subject(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'à' | 'â' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'É' | 'È' | 'Ê' => 'E',
            c if c.is_ascii() && !c.is_ascii_control() => c,
            _ => '?',
        })
        .collect()
}

/// The patient's reply to `m` from their Mon espace santé mailbox.
pub fn patient_reply(patient: &str, to: &str, m: &Delivered, text: &str) -> Vec<u8> {
    let subject = format!("RE: {}", crate::domain::mss::display_subject(&m.subject));
    let built = lettre::Message::builder()
        .from(patient.parse().unwrap_or_else(|_| {
            "patient@patient.mssante.fr"
                .parse()
                .expect("a valid address")
        }))
        .to(to.parse().unwrap_or_else(|_| {
            "inconnu@bac-a-sable.mssante.fr"
                .parse()
                .expect("a valid address")
        }))
        .subject(subject)
        .message_id(Some(message_id()))
        .in_reply_to(m.message_id.clone())
        .references(m.message_id.clone())
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(text.to_string());
    match built {
        Ok(b) => b.formatted(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivered() -> Delivered {
        Delivered {
            message_id: "<m1@escale>".into(),
            from: "accueil@csapa.escale-demo.mssante.fr".into(),
            subject: "XDM/1.0/DDM+Lettre ADRUN ZOE 31/12/1975".into(),
            no_reply: false,
            cda_code: None,
            read_receipt_to: Some("accueil@csapa.escale-demo.mssante.fr".into()),
            bytes: b"Message-ID: <m1@escale>\r\nSubject: x\r\n\r\nbody".to_vec(),
            received_at: Utc::now(),
            read: false,
        }
    }

    #[test]
    fn reports_carry_what_a_sender_needs() {
        let d = delivered();
        let ok = String::from_utf8(dsn(&d.from, "x@y.mssante.fr", &d.bytes, None)).unwrap();
        assert!(ok.contains("report-type=delivery-status"));
        assert!(ok.contains("Action: delivered") && ok.contains("Message-ID: <m1@escale>"));
        let ko = String::from_utf8(dsn(
            &d.from,
            "x@y.mssante.fr",
            &d.bytes,
            Some(("5.1.1", "boîte inconnue")),
        ))
        .unwrap();
        assert!(ko.contains("Action: failed") && ko.contains("Status: 5.1.1"));
        let read =
            String::from_utf8(mdn("x@y.mssante.fr", &d.from, &d, &Disposition::Displayed)).unwrap();
        assert!(read.contains("Original-Message-ID: <m1@escale>") && read.contains("; displayed"));
        let error = String::from_utf8(mdn(
            "x@y.mssante.fr",
            &d.from,
            &d,
            &Disposition::ProcessingError {
                code: 902,
                label: "Identifiant patient inconnu".into(),
            },
        ))
        .unwrap();
        assert!(error.contains("Error: 902^Identifiant patient inconnu"));
        assert!(error.contains("Subject: [KO Integration systeme !][902] XDM/1.0/DDM+Lettre"));
        let reply = String::from_utf8(patient_reply(
            "275126322074974@patient.mssante.fr",
            &d.from,
            &d,
            "Merci",
        ))
        .unwrap();
        assert!(reply.contains("In-Reply-To: <m1@escale>"));
        assert!(reply.contains("Subject: RE: Lettre ADRUN ZOE"));
    }
}
