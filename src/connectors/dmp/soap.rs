//! SOAP 1.2 messages to the DMP: the envelope (WS-Addressing headers, the
//! signed VIHF in `wsse:Security`) and, for a deposit, the MTOM/XOP
//! `multipart/related` package whose root part is the envelope and whose
//! other parts are the documents' bytes (W3C XOP; the DMP package's TD2.1
//! example).

use uuid::Uuid;

pub const NS_SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const NS_WSA: &str = "http://www.w3.org/2005/08/addressing";
pub const NS_WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";

/// The envelope of one call. `vihf` is the signed assertion in its
/// canonical form, put in unchanged (its signature covers those bytes);
/// `body` is the operation's element. Values are escaped by the caller's
/// writers; `action`, `to` and the message id are Escale's own.
pub fn envelope(action: &str, to: &str, message_id: Uuid, vihf: &str, body: &str) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    format!(
        concat!(
            r#"<soap:Envelope xmlns:soap="{soap}" xmlns:wsa="{wsa}">"#,
            r#"<soap:Header>"#,
            r#"<wsa:Action soap:mustUnderstand="true">{action}</wsa:Action>"#,
            r#"<wsa:MessageID>urn:uuid:{id}</wsa:MessageID>"#,
            r#"<wsa:To>{to}</wsa:To>"#,
            r#"<wsa:ReplyTo><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address></wsa:ReplyTo>"#,
            r#"<wsse:Security xmlns:wsse="{wsse}" soap:mustUnderstand="true">{vihf}</wsse:Security>"#,
            r#"</soap:Header>"#,
            r#"<soap:Body>{body}</soap:Body>"#,
            r#"</soap:Envelope>"#
        ),
        soap = NS_SOAP12,
        wsa = NS_WSA,
        wsse = NS_WSSE,
        action = escape(action),
        id = message_id,
        to = escape(to),
        vihf = vihf,
        body = body,
    )
}

/// One binary part of an MTOM package.
pub struct Part<'a> {
    /// Without the angle brackets; the XML refers to it as `cid:<id>`.
    pub content_id: &'a str,
    pub content_type: &'a str,
    pub bytes: &'a [u8],
}

/// An MTOM package: the `Content-Type` header to send, and the body.
pub struct Mtom {
    pub content_type: String,
    pub body: Vec<u8>,
}

/// The root part's Content-ID.
pub const ROOT_ID: &str = "root.message@escale";

/// Packs the envelope (holding `xop:Include` references) and its parts.
/// The boundary is random, so no document's bytes can hold it by design
/// (and a part that happens to is refused rather than sent broken).
pub fn mtom(envelope: &str, action: &str, parts: &[Part<'_>]) -> Result<Mtom, String> {
    let boundary = format!("MIMEBoundary_{}", Uuid::new_v4().simple());
    let delimiter = format!("\r\n--{boundary}");
    if parts.iter().any(|p| {
        p.bytes
            .windows(delimiter.len())
            .any(|w| w == delimiter.as_bytes())
    }) {
        return Err("un document contient la frontière MIME : nouvel essai nécessaire".into());
    }
    let mut body = Vec::with_capacity(
        envelope.len() + parts.iter().map(|p| p.bytes.len() + 200).sum::<usize>(),
    );
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"; action=\"{action}\"\r\nContent-Transfer-Encoding: 8bit\r\nContent-ID: <{ROOT_ID}>\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(envelope.as_bytes());
    for p in parts {
        body.extend_from_slice(
            format!(
                "\r\n--{boundary}\r\nContent-Type: {}\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{}>\r\n\r\n",
                p.content_type, p.content_id
            )
            .as_bytes(),
        );
        body.extend_from_slice(p.bytes);
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Ok(Mtom {
        content_type: format!(
            "multipart/related; type=\"application/xop+xml\"; boundary=\"{boundary}\"; start=\"<{ROOT_ID}>\"; start-info=\"application/soap+xml\"; action=\"{action}\""
        ),
        body,
    })
}
