//! The sandbox's ESMTP submission dialogue (RFC 5321, STARTTLS RFC 3207):
//! nothing but EHLO, NOOP, QUIT and STARTTLS before TLS; then MAIL, RCPT,
//! DATA (dot-unstuffed, size-capped), RSET. Each message is checked
//! ([`super::checks`]) before it is accepted and delivered.

use chrono::Utc;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{Delivered, MssBehaviour, State, checks, notices};

/// The largest message accepted (`SIZE` in EHLO).
pub const MAX_MESSAGE_BYTES: usize = 25 << 20;
/// The longest command line (RFC 5321 §4.5.3.1.4: 512 octets).
const MAX_LINE: usize = 1000;
const HOST: &str = "mss.bac-a-sable.escale";

async fn reply<W: AsyncWrite + Unpin>(w: &mut W, state: &State, text: &str) -> std::io::Result<()> {
    if let MssBehaviour::Slow(d) = state.behaviour() {
        tokio::time::sleep(d).await;
    }
    // One write per answer: two small ones would meet Nagle's algorithm
    // and the peer's delayed ACK (40 ms a command).
    w.write_all(format!("{text}\r\n").as_bytes()).await?;
    w.flush().await
}

/// One line (without CRLF), at most `max` bytes; `None` at end of stream.
pub(super) async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    max: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok((!out.is_empty()).then_some(out));
        }
        let (take, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        out.extend_from_slice(&buf[..take]);
        r.consume(take);
        if out.len() > max {
            return Err(std::io::Error::other("ligne trop longue"));
        }
        if done {
            while out.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                out.pop();
            }
            return Ok(Some(out));
        }
    }
}

fn verb(l: &[u8]) -> String {
    String::from_utf8_lossy(l)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase()
}

pub(super) async fn session(
    tcp: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    state: &State,
) -> std::io::Result<()> {
    let mut plain = BufReader::new(tcp);
    if state.behaviour() == MssBehaviour::Busy {
        return reply(
            &mut plain,
            state,
            &format!("421 4.3.2 {HOST} service momentanément indisponible"),
        )
        .await;
    }
    reply(
        &mut plain,
        state,
        &format!("220 {HOST} ESMTP MSSanté (bac à sable Escale)"),
    )
    .await?;
    // Before TLS: nothing that carries a message (RFC 3207 §4.2).
    loop {
        let Some(l) = read_line(&mut plain, MAX_LINE).await? else {
            return Ok(());
        };
        match verb(&l).as_str() {
            "EHLO" => {
                reply(&mut plain, state, &format!("250-{HOST}\r\n250 STARTTLS")).await?;
            }
            "HELO" | "NOOP" => reply(&mut plain, state, "250 2.0.0 OK").await?,
            "QUIT" => return reply(&mut plain, state, "221 2.0.0 Au revoir").await,
            "STARTTLS" => {
                // Bytes sent after STARTTLS in clear must not be read as
                // commands once encrypted (command injection).
                if !plain.buffer().is_empty() {
                    return reply(&mut plain, state, "554 5.5.1 commandes après STARTTLS").await;
                }
                reply(&mut plain, state, "220 2.0.0 Prêt pour TLS").await?;
                break;
            }
            _ => {
                reply(
                    &mut plain,
                    state,
                    "530 5.7.0 STARTTLS d'abord : l'espace de confiance MSSanté n'accepte que des connexions chiffrées",
                )
                .await?
            }
        }
    }
    // The client certificate is required by the TLS configuration: a
    // connection without one (or from another CA) ends here.
    let tls = acceptor.accept(plain.into_inner()).await?;
    transactions(BufReader::new(tls), state).await
}

async fn transactions<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: BufReader<S>,
    state: &State,
) -> std::io::Result<()> {
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    loop {
        let Some(l) = read_line(&mut s, MAX_LINE).await? else {
            return Ok(());
        };
        let text = String::from_utf8_lossy(&l).to_string();
        match verb(&l).as_str() {
            "EHLO" => {
                let caps = format!(
                    "250-{HOST}\r\n250-SIZE {MAX_MESSAGE_BYTES}\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES"
                );
                reply(&mut s, state, &caps).await?;
            }
            "HELO" | "NOOP" => reply(&mut s, state, "250 2.0.0 OK").await?,
            "RSET" => {
                from = None;
                to.clear();
                reply(&mut s, state, "250 2.0.0 OK").await?;
            }
            "QUIT" => return reply(&mut s, state, "221 2.0.0 Au revoir").await,
            "MAIL" => match path(&text, "FROM:") {
                Some(a) if from.is_none() => {
                    from = Some(a);
                    reply(&mut s, state, "250 2.1.0 OK").await?;
                }
                Some(_) => reply(&mut s, state, "503 5.5.1 MAIL déjà donné").await?,
                None => reply(&mut s, state, "501 5.1.7 adresse d'expéditeur invalide").await?,
            },
            "RCPT" => {
                let answer = match (&from, path(&text, "TO:")) {
                    (None, _) => "503 5.5.1 MAIL d'abord".to_string(),
                    (Some(_), None) => "501 5.1.3 adresse de destinataire invalide".to_string(),
                    (Some(_), Some(a)) if state.behaviour() == MssBehaviour::UnknownRecipient => {
                        format!("550 5.1.1 {a} : boîte aux lettres inconnue (simulée)")
                    }
                    (Some(_), Some(a)) => match checks::recipient(&a) {
                        Ok(()) => {
                            to.push(a);
                            "250 2.1.5 OK".to_string()
                        }
                        Err(why) => why,
                    },
                };
                reply(&mut s, state, &answer).await?;
            }
            "DATA" => {
                let Some(sender) = from.clone().filter(|_| !to.is_empty()) else {
                    reply(&mut s, state, "503 5.5.1 MAIL et RCPT d'abord").await?;
                    continue;
                };
                reply(
                    &mut s,
                    state,
                    "354 Envoyez le message, terminé par <CRLF>.<CRLF>",
                )
                .await?;
                let answer = match data(&mut s).await? {
                    None => format!("552 5.3.4 message de plus de {MAX_MESSAGE_BYTES} octets"),
                    Some(_) if state.behaviour() == MssBehaviour::Fail451 => {
                        "451 4.3.0 erreur de traitement (simulée)".to_string()
                    }
                    Some(bytes) => accept(state, &sender, &to, bytes).await,
                };
                from = None;
                to.clear();
                reply(&mut s, state, &answer).await?;
            }
            _ => reply(&mut s, state, "502 5.5.2 commande inconnue").await?,
        }
    }
}

/// Checks the message and delivers it: the answer line. Each recipient
/// newly served gets its DSN to the sender (delivered; or failed for a
/// mailbox that does not exist — `inconnu…@` here — as a remote operator
/// reports after accepting the submission).
async fn accept(state: &State, from: &str, to: &[String], bytes: Vec<u8>) -> String {
    let schemas = state.schemas();
    match checks::message(&bytes, to, schemas.as_ref()).await {
        Ok(c) => {
            let (unknown, known): (Vec<String>, Vec<String>) = to
                .iter()
                .cloned()
                .partition(|a| a.to_ascii_lowercase().starts_with("inconnu"));
            let d = Delivered {
                message_id: c.message_id.clone(),
                from: from.to_string(),
                subject: c.subject,
                no_reply: c.no_reply,
                cda_code: c.cda_code,
                read_receipt_to: c.read_receipt_to,
                bytes,
                received_at: Utc::now(),
                read: false,
            };
            let added = state.deliver(&known, &d);
            for r in &added {
                let report = notices::dsn(from, r, &d.bytes, None);
                state.post(
                    from,
                    notices::MAILER_DAEMON,
                    "Delivery Status Notification (Success)",
                    report,
                );
            }
            for r in unknown
                .iter()
                .filter(|r| state.bounce_once(&d.message_id, r))
            {
                let report = notices::dsn(
                    from,
                    r,
                    &d.bytes,
                    Some(("5.1.1", "boîte aux lettres inconnue")),
                );
                state.post(
                    from,
                    notices::MAILER_DAEMON,
                    "Delivery Status Notification (Failure)",
                    report,
                );
            }
            format!(
                "250 2.0.0 OK {} ({} boîte(s))",
                c.message_id.trim_matches(['<', '>']),
                added.len()
            )
        }
        Err(why) => why,
    }
}

/// `MAIL FROM:<a@b> …` → `a@b` (the null path is refused: a submission
/// always has a sender).
fn path(command: &str, keyword: &str) -> Option<String> {
    let upper = command.to_ascii_uppercase();
    let start = upper.find(keyword)? + keyword.len();
    let rest = command[start..].trim_start();
    let inner = rest.strip_prefix('<')?.split('>').next()?;
    let (local, domain) = inner.rsplit_once('@')?;
    (!local.is_empty() && domain.contains('.') && !inner.contains(char::is_whitespace))
        .then(|| inner.to_string())
}

/// The message after DATA, dot-unstuffed; `None` when larger than the cap
/// (read to its end all the same).
async fn data<R: AsyncBufRead + Unpin>(r: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let mut too_big = false;
    loop {
        let Some(l) = read_line(r, MAX_LINE * 64).await? else {
            return Err(std::io::Error::other("fin de connexion pendant DATA"));
        };
        if l == b"." {
            return Ok((!too_big).then_some(out));
        }
        let l: &[u8] = l.strip_prefix(b".").unwrap_or(&l[..]);
        if out.len() + l.len() + 2 > MAX_MESSAGE_BYTES {
            too_big = true;
            out.clear();
            continue;
        }
        if !too_big {
            out.extend_from_slice(l);
            out.extend_from_slice(b"\r\n");
        }
    }
}
