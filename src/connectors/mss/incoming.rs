//! What arrives in the structure's mailbox, read with mail-parser: a
//! delivery status notification (DSN, RFC 3464), a disposition notification
//! (MDN, RFC 8098, with the ANS consumer error code of a processing error),
//! or a message (a reply threaded by In-Reply-To/References, or a new one)
//! with its text and attachments. Caps: the whole message, each attachment,
//! the number of MIME parts (a MIME bomb is refused, not unpacked).

use thiserror::Error;

use mail_parser::{MessageParser, MimeHeaders};

/// Limits of what is read.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub message_bytes: usize,
    pub attachment_bytes: usize,
    pub parts: usize,
    pub attachments: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            message_bytes: 25 << 20,
            attachment_bytes: 10 << 20,
            parts: 64,
            attachments: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Unreadable {
    #[error("message illisible (MIME invalide)")]
    Malformed,
    #[error("message de {0} octets : au-delà de la limite de {1} octets")]
    TooLarge(usize, usize),
    #[error("message de {0} parties MIME : au-delà de la limite de {1} (refusé sans être déballé)")]
    TooManyParts(usize, usize),
}

/// A recipient's delivery, as the operator reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub recipient: String,
    /// `delivered`, `failed`, `delayed`, `relayed`, `expanded`.
    pub action: String,
    /// `2.0.0`, `5.1.1`…
    pub status: String,
    pub diagnostic: Option<String>,
}

/// What a reader says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    Displayed,
    Processed,
    Deleted,
    /// The reader's software could not process it: the ANS consumer error
    /// code (900–906) and its label, when given.
    Error {
        code: Option<u16>,
        label: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// One message read from the mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Dsn {
        /// The Message-ID of the message it is about (`<…>`).
        original: Option<String>,
        deliveries: Vec<Delivery>,
    },
    Mdn {
        original: Option<String>,
        reader: Option<String>,
        disposition: Disposition,
    },
    Message(Received),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub from: String,
    pub subject: String,
    pub text: String,
    pub attachments: Vec<Attachment>,
    /// Attachments left aside (over the cap), by name.
    pub skipped: Vec<String>,
}

fn bracket(id: &str) -> String {
    let id = id.trim();
    if id.starts_with('<') {
        id.to_string()
    } else {
        format!("<{id}>")
    }
}

/// `Name: value` fields of a report part (continuation lines unfolded).
fn fields(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    out
}

fn field<'a>(f: &'a [(String, String)], name: &str) -> Option<&'a str> {
    f.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `rfc822; a@b` → `a@b`.
fn address_field(v: &str) -> String {
    v.split_once(';')
        .map_or(v, |(_, a)| a)
        .trim()
        .trim_matches(['<', '>'])
        .to_ascii_lowercase()
}

/// `… ; processed/error` with `Error: 902^Identifiant patient inconnu`, or
/// `…; processed/Error: 902^…` on one line (both seen in the CI-SIS guide).
fn disposition(line: &str, error: Option<&str>) -> Disposition {
    let after = line.split_once(';').map_or(line, |(_, d)| d).trim();
    let (kind, modifier) = after.split_once('/').unwrap_or((after, ""));
    let kind = kind.trim().to_ascii_lowercase();
    let inline = modifier
        .split_once(':')
        .map(|(m, rest)| (m.trim().to_ascii_lowercase(), Some(rest.trim())));
    let (modifier, inline_error) = inline.unwrap_or((modifier.trim().to_ascii_lowercase(), None));
    if modifier == "error" || kind == "failed" {
        let text = inline_error.or(error).unwrap_or_default();
        let (code, label) = match text.split_once('^') {
            Some((c, l)) => (c.trim().parse().ok(), l.trim().to_string()),
            None => (text.trim().parse().ok(), text.trim().to_string()),
        };
        return Disposition::Error { code, label };
    }
    match kind.as_str() {
        "displayed" => Disposition::Displayed,
        "deleted" => Disposition::Deleted,
        _ => Disposition::Processed,
    }
}

/// Reads one message of the mailbox.
pub fn read(bytes: &[u8], caps: &Caps) -> Result<Incoming, Unreadable> {
    if bytes.len() > caps.message_bytes {
        return Err(Unreadable::TooLarge(bytes.len(), caps.message_bytes));
    }
    let m = MessageParser::default()
        .parse(bytes)
        .ok_or(Unreadable::Malformed)?;
    if m.parts.len() > caps.parts {
        return Err(Unreadable::TooManyParts(m.parts.len(), caps.parts));
    }
    let report = m
        .content_type()
        .filter(|c| {
            c.ctype().eq_ignore_ascii_case("multipart")
                && c.subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        })
        .and_then(|c| c.attribute("report-type"))
        .map(str::to_ascii_lowercase);
    let part_text = |subtype: &str| {
        m.parts.iter().find_map(|p| {
            let c = p.content_type()?;
            (c.ctype().eq_ignore_ascii_case("message") || c.ctype().eq_ignore_ascii_case("text"))
                .then_some(())?;
            c.subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case(subtype))
                .then(|| String::from_utf8_lossy(p.contents()).to_string())
        })
    };
    match report.as_deref() {
        Some("delivery-status") => {
            let status = part_text("delivery-status").unwrap_or_default();
            // Per-recipient blocks follow the per-message one, blank-line separated.
            let deliveries = status
                .replace("\r\n", "\n")
                .split("\n\n")
                .map(fields)
                .filter_map(|f| {
                    Some(Delivery {
                        recipient: address_field(field(&f, "final-recipient")?),
                        action: field(&f, "action")?.to_ascii_lowercase(),
                        status: field(&f, "status").unwrap_or_default().to_string(),
                        diagnostic: field(&f, "diagnostic-code")
                            .map(|d| d.split_once(';').map_or(d, |(_, t)| t).trim().to_string()),
                    })
                })
                .collect();
            let returned = part_text("rfc822-headers")
                .or_else(|| part_text("rfc822"))
                .unwrap_or_default();
            let original = field(&fields(&returned), "message-id").map(bracket);
            Ok(Incoming::Dsn {
                original,
                deliveries,
            })
        }
        Some("disposition-notification") => {
            let text = part_text("disposition-notification").unwrap_or_default();
            let f = fields(&text);
            Ok(Incoming::Mdn {
                original: field(&f, "original-message-id").map(bracket),
                reader: field(&f, "final-recipient").map(address_field),
                disposition: disposition(
                    field(&f, "disposition").unwrap_or_default(),
                    field(&f, "error"),
                ),
            })
        }
        _ => {
            let ids = |v: &mail_parser::HeaderValue<'_>| -> Vec<String> {
                match v {
                    mail_parser::HeaderValue::Text(t) => vec![bracket(t)],
                    mail_parser::HeaderValue::TextList(l) => l.iter().map(|t| bracket(t)).collect(),
                    _ => Vec::new(),
                }
            };
            let mut attachments = Vec::new();
            let mut skipped = Vec::new();
            for (i, a) in m.attachments().enumerate() {
                let name = a
                    .attachment_name()
                    .unwrap_or("piece-jointe")
                    .chars()
                    .filter(|c| !c.is_control() && !"/\\".contains(*c))
                    .take(120)
                    .collect::<String>();
                if i >= caps.attachments || a.len() > caps.attachment_bytes {
                    skipped.push(name);
                    continue;
                }
                let content_type = a
                    .content_type()
                    .map(|c| {
                        format!("{}/{}", c.ctype(), c.subtype().unwrap_or("octet-stream"))
                            .to_ascii_lowercase()
                    })
                    .unwrap_or_else(|| "application/octet-stream".into());
                attachments.push(Attachment {
                    name,
                    content_type,
                    bytes: a.contents().to_vec(),
                });
            }
            Ok(Incoming::Message(Received {
                message_id: m.message_id().map(bracket),
                in_reply_to: ids(m.in_reply_to()),
                references: ids(m.references()),
                from: m
                    .from()
                    .and_then(|a| a.first())
                    .and_then(|a| a.address())
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
                subject: m.subject().unwrap_or_default().to_string(),
                text: m.body_text(0).map(|t| t.to_string()).unwrap_or_default(),
                attachments,
                skipped,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_as_the_guide_writes_them() {
        assert_eq!(
            disposition("manual-action/MDN-sent-manually; displayed", None),
            Disposition::Displayed
        );
        assert_eq!(
            disposition("automatic-action/MDN-sent-automatically; processed", None),
            Disposition::Processed
        );
        assert_eq!(
            disposition(
                "automatic-action/MDN-sent-automatically; processed/error",
                Some("902^Identifiant patient inconnu")
            ),
            Disposition::Error {
                code: Some(902),
                label: "Identifiant patient inconnu".into()
            }
        );
        assert_eq!(
            disposition(
                "automatic-action/MDN-sent-automatically; processed/Error: 904^INS différent",
                None
            ),
            Disposition::Error {
                code: Some(904),
                label: "INS différent".into()
            }
        );
    }

    #[test]
    fn too_many_parts_is_refused_unread() {
        let mut m = String::from(
            "From: a@b.mssante.fr\r\nMessage-ID: <x@y>\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n",
        );
        for _ in 0..100 {
            m.push_str("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n");
        }
        m.push_str("--b--\r\n");
        assert!(matches!(
            read(m.as_bytes(), &Caps::default()),
            Err(Unreadable::TooManyParts(..))
        ));
        assert!(matches!(
            read(
                m.as_bytes(),
                &Caps {
                    message_bytes: 10,
                    ..Caps::default()
                }
            ),
            Err(Unreadable::TooLarge(..))
        ));
    }
}
