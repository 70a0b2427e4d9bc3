//! An outgoing MSSanté message as RFC 5322 bytes (lettre's builder): the
//! structure's mailbox as sender, the `X-MSS-*` headers
//! ([`crate::domain::mss::MssHeaders`]), RFC 5322 threading (Message-ID,
//! In-Reply-To, References), `Disposition-Notification-To` for a read
//! receipt (MDN, RFC 8098), a text body and the attachments (the readable
//! PDF and the `IHE_XDM.ZIP`).

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::{self, ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use thiserror::Error;

use crate::domain::mss::MssHeaders;

#[derive(Debug, Error)]
pub enum MessageError {
    #[error("adresse de messagerie invalide « {0} »")]
    Address(String),
    #[error("type de pièce jointe invalide « {0} »")]
    ContentType(String),
    #[error("message impossible à écrire : {0}")]
    Build(String),
}

/// One attachment.
pub struct Attached<'a> {
    pub file_name: &'a str,
    pub content_type: &'a str,
    pub bytes: &'a [u8],
}

/// Everything a message says.
pub struct Outgoing<'a> {
    /// The structure's mailbox, and the name shown for it.
    pub from: &'a str,
    pub from_name: &'a str,
    pub to: &'a [String],
    pub subject: &'a str,
    pub body: &'a str,
    /// `<…@…>`: stable across retries, so that the same message is never
    /// delivered twice.
    pub message_id: &'a str,
    /// The message this one answers, and the thread before it.
    pub in_reply_to: Option<&'a str>,
    pub references: &'a [String],
    /// Where the read receipt goes (`Disposition-Notification-To`).
    pub read_receipt_to: Option<&'a str>,
    pub mss: &'a MssHeaders,
    pub attachments: &'a [Attached<'a>],
    pub date: DateTime<Utc>,
}

/// The message's bytes, ready for SMTP submission.
pub fn compose(m: &Outgoing<'_>) -> Result<Vec<u8>, MessageError> {
    let mailbox = |name: Option<&str>, address: &str| -> Result<Mailbox, MessageError> {
        let email = address
            .trim()
            .parse()
            .map_err(|_| MessageError::Address(address.chars().take(80).collect()))?;
        Ok(Mailbox::new(name.map(str::to_string), email))
    };
    let mut b = Message::builder()
        .from(mailbox(Some(m.from_name), m.from)?)
        .subject(m.subject)
        .message_id(Some(m.message_id.to_string()))
        .date(SystemTime::from(m.date));
    for to in m.to {
        b = b.to(mailbox(None, to)?);
    }
    if let Some(id) = m.in_reply_to {
        b = b.in_reply_to(id.to_string());
    }
    if !m.references.is_empty() {
        b = b.references(m.references.join(" "));
    }
    if let Some(to) = m.read_receipt_to {
        mailbox(None, to)?;
        b = b.header(DispositionNotificationTo(to.trim().to_string()));
    }
    for (name, value) in m.mss.lines() {
        b = match name {
            "X-MSS-NIL" => b.header(XMssNil(value)),
            "X-MSS-CODECDA" => b.header(XMssCodeCda(value)),
            "X-MSS-INS" => b.header(XMssIns(value)),
            "X-MSS-MES" => b.header(XMssMes(value)),
            other => return Err(MessageError::Build(format!("en-tête inconnu {other}"))),
        };
    }
    let mut parts = MultiPart::mixed().singlepart(
        SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .header(header::ContentTransferEncoding::QuotedPrintable)
            .body(m.body.to_string()),
    );
    for a in m.attachments {
        let kind = ContentType::parse(a.content_type)
            .map_err(|_| MessageError::ContentType(a.content_type.to_string()))?;
        parts =
            parts.singlepart(Attachment::new(a.file_name.to_string()).body(a.bytes.to_vec(), kind));
    }
    let message = b
        .multipart(parts)
        .map_err(|e| MessageError::Build(e.to_string()))?;
    Ok(message.formatted())
}

/// A header whose value is written as given (ASCII values only reach it:
/// product numbers, codes, addresses).
macro_rules! plain_header {
    ($type:ident, $name:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $type(pub String);

        impl Header for $type {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str($name)
            }
            fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
                Ok($type(s.trim().to_string()))
            }
            fn display(&self) -> HeaderValue {
                HeaderValue::new(Self::name(), self.0.clone())
            }
        }
    };
}

plain_header!(XMssNil, "X-MSS-NIL");
plain_header!(XMssCodeCda, "X-MSS-CODECDA");
plain_header!(XMssIns, "X-MSS-INS");
plain_header!(XMssMes, "X-MSS-MES");
plain_header!(DispositionNotificationTo, "Disposition-Notification-To");
