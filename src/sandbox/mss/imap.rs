//! The MSSanté sandbox's IMAP service (RFC 3501, the part a mailbox reader
//! uses): a plain greeting, nothing but CAPABILITY, NOOP, LOGOUT and
//! STARTTLS before TLS (`LOGINDISABLED`), then TLS with a required client
//! certificate of the test PKI and `AUTHENTICATE EXTERNAL` naming the
//! mailbox (SASL EXTERNAL, RFC 4422: the certificate authenticates, the
//! authorization identity says which box); `SELECT INBOX`, `UID SEARCH`,
//! `UID FETCH` (UID, RFC822.SIZE, BODY.PEEK[]), `LOGOUT`. A message's UID is
//! its rank in the mailbox (nothing is ever expunged), UIDVALIDITY is fixed.

use base64::Engine;
use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{MssBehaviour, State};

/// Fixed for the sandbox's life: UIDs never change meaning.
pub const UID_VALIDITY: u32 = 1;
const MAX_LINE: usize = 8192;

async fn send<W: AsyncWrite + Unpin>(w: &mut W, state: &State, text: &[u8]) -> std::io::Result<()> {
    if let MssBehaviour::Slow(d) = state.behaviour() {
        tokio::time::sleep(d).await;
    }
    w.write_all(text).await?;
    w.flush().await
}

async fn line<R: AsyncBufRead + Unpin>(r: &mut R) -> std::io::Result<Option<String>> {
    super::smtp::read_line(r, MAX_LINE)
        .await
        .map(|l| l.map(|b| String::from_utf8_lossy(&b).to_string()))
}

/// `tag COMMAND rest` (the command upper-cased).
fn parse(l: &str) -> (String, String, String) {
    let mut it = l.splitn(3, ' ');
    let tag = it.next().unwrap_or("*").to_string();
    let command = it.next().unwrap_or_default().to_ascii_uppercase();
    let rest = it.next().unwrap_or_default().trim().to_string();
    (tag, command, rest)
}

pub(super) async fn session(
    tcp: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    state: &State,
) -> std::io::Result<()> {
    let mut plain = BufReader::new(tcp);
    if state.behaviour() == MssBehaviour::Busy {
        return send(
            &mut plain,
            state,
            b"* BYE service momentan\xc3\xa9ment indisponible\r\n",
        )
        .await;
    }
    send(
        &mut plain,
        state,
        b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] MSSante IMAP (bac a sable Escale)\r\n",
    )
    .await?;
    loop {
        let Some(l) = line(&mut plain).await? else {
            return Ok(());
        };
        let (tag, command, _) = parse(&l);
        match command.as_str() {
            "CAPABILITY" => {
                let out = format!(
                    "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n{tag} OK CAPABILITY\r\n"
                );
                send(&mut plain, state, out.as_bytes()).await?;
            }
            "NOOP" => send(&mut plain, state, format!("{tag} OK NOOP\r\n").as_bytes()).await?,
            "LOGOUT" => {
                let out = format!("* BYE au revoir\r\n{tag} OK LOGOUT\r\n");
                return send(&mut plain, state, out.as_bytes()).await;
            }
            "STARTTLS" => {
                // Bytes sent in clear after STARTTLS are never read as
                // commands once encrypted (command injection, RFC 2595).
                if !plain.buffer().is_empty() {
                    let out = format!("{tag} BAD commandes apres STARTTLS\r\n");
                    return send(&mut plain, state, out.as_bytes()).await;
                }
                send(
                    &mut plain,
                    state,
                    format!("{tag} OK Begin TLS\r\n").as_bytes(),
                )
                .await?;
                break;
            }
            _ => {
                let out = format!(
                    "{tag} BAD STARTTLS d'abord : l'espace de confiance MSSante n'accepte que des connexions chiffrees\r\n"
                );
                send(&mut plain, state, out.as_bytes()).await?;
            }
        }
    }
    // The client certificate is required by the TLS configuration.
    let tls = acceptor.accept(plain.into_inner()).await?;
    authenticated(BufReader::new(tls), state).await
}

async fn authenticated<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: BufReader<S>,
    state: &State,
) -> std::io::Result<()> {
    let mut mailbox: Option<String> = None;
    let mut selected = false;
    loop {
        let Some(l) = line(&mut s).await? else {
            return Ok(());
        };
        let (tag, command, rest) = parse(&l);
        let out = match command.as_str() {
            "CAPABILITY" => {
                format!("* CAPABILITY IMAP4rev1 AUTH=EXTERNAL\r\n{tag} OK CAPABILITY\r\n")
            }
            "NOOP" => format!("{tag} OK NOOP\r\n"),
            "LOGOUT" => {
                let out = format!("* BYE au revoir\r\n{tag} OK LOGOUT\r\n");
                return send(&mut s, state, out.as_bytes()).await;
            }
            "LOGIN" => format!(
                "{tag} NO [PRIVACYREQUIRED] LOGIN desactive : AUTHENTICATE EXTERNAL avec le certificat de la boite\r\n"
            ),
            "AUTHENTICATE" if rest.eq_ignore_ascii_case("EXTERNAL") => {
                send(&mut s, state, b"+ \r\n").await?;
                let answer = line(&mut s).await?.unwrap_or_default();
                match authorize(&answer) {
                    Some(a) => {
                        mailbox = Some(a);
                        format!("{tag} OK AUTHENTICATE EXTERNAL\r\n")
                    }
                    None => format!(
                        "{tag} NO [AUTHENTICATIONFAILED] identite d'autorisation : l'adresse de la boite est attendue\r\n"
                    ),
                }
            }
            "AUTHENTICATE" => format!("{tag} NO [CANNOT] seul EXTERNAL est propose\r\n"),
            "SELECT" | "EXAMINE" => match &mailbox {
                None => format!("{tag} NO authentifiez-vous d'abord\r\n"),
                Some(_) if !rest.trim_matches('"').eq_ignore_ascii_case("INBOX") => {
                    format!("{tag} NO [NONEXISTENT] seule INBOX existe\r\n")
                }
                Some(m) => {
                    selected = true;
                    let n = state.messages_of(m).len();
                    format!(
                        "* FLAGS (\\Seen)\r\n* {n} EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY {UID_VALIDITY}] UIDs valides\r\n* OK [UIDNEXT {}] prochain UID\r\n{tag} OK [READ-ONLY] {command} termine\r\n",
                        n + 1
                    )
                }
            },
            "UID" if selected => {
                let m = mailbox.clone().unwrap_or_default();
                uid_command(&mut s, state, &m, &tag, &rest).await?
            }
            "UID" => format!("{tag} NO selectionnez INBOX d'abord\r\n"),
            _ => format!("{tag} BAD commande inconnue\r\n"),
        };
        send(&mut s, state, out.as_bytes()).await?;
    }
}

/// SASL EXTERNAL's authorization identity: a mailbox address of the
/// MSSanté space, never a patient's (those are read in Mon espace santé).
fn authorize(answer: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(answer.trim())
        .ok()?;
    let address = String::from_utf8(bytes).ok()?.trim().to_ascii_lowercase();
    (super::checks::recipient(&address).is_ok()
        && !crate::domain::mss::is_patient_address(&address))
    .then_some(address)
}

/// `a:b`, `a:*`, `a,b,c` → the UIDs of `1..=last` it names (`*` is the
/// last UID, so `n:*` past the end names the last message, RFC 3501 §6.4.8).
fn uid_set(set: &str, last: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if last == 0 {
        return out;
    }
    let value = |v: &str| -> Option<u32> { if v == "*" { Some(last) } else { v.parse().ok() } };
    for part in set.split(',') {
        let (a, b) = match part.split_once(':') {
            Some((a, b)) => (value(a), value(b)),
            None => (value(part), value(part)),
        };
        if let (Some(a), Some(b)) = (a, b) {
            let (lo, hi) = (a.min(b).max(1), a.max(b).min(last));
            out.extend(lo..=hi);
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

async fn uid_command<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
    state: &State,
    mailbox: &str,
    tag: &str,
    rest: &str,
) -> std::io::Result<String> {
    let messages = state.messages_of(mailbox);
    let last = messages.len() as u32;
    let mut words = rest.splitn(3, ' ');
    let sub = words.next().unwrap_or_default().to_ascii_uppercase();
    match sub.as_str() {
        "SEARCH" => {
            // `UID SEARCH UID <set>` or `UID SEARCH ALL`.
            let args: Vec<&str> = rest.split_whitespace().skip(1).collect();
            let uids = match args.as_slice() {
                [k, set] if k.eq_ignore_ascii_case("UID") => uid_set(set, last),
                [k] if k.eq_ignore_ascii_case("ALL") => (1..=last).collect(),
                _ => return Ok(format!("{tag} BAD recherche : UID <ensemble> ou ALL\r\n")),
            };
            // `* SEARCH` alone when nothing matches (RFC 3501 §7.2.5).
            let list: String = uids.iter().map(|u| format!(" {u}")).collect();
            Ok(format!("* SEARCH{list}\r\n{tag} OK UID SEARCH termine\r\n"))
        }
        "FETCH" => {
            let set = words.next().unwrap_or_default();
            let items = words.next().unwrap_or_default().to_ascii_uppercase();
            let with_body = items.contains("BODY.PEEK[]") || items.contains("BODY[]");
            for uid in uid_set(set, last) {
                let m = &messages[(uid - 1) as usize];
                let mut out =
                    format!("* {uid} FETCH (UID {uid} RFC822.SIZE {}", m.bytes.len()).into_bytes();
                if with_body {
                    out.extend_from_slice(format!(" BODY[] {{{}}}\r\n", m.bytes.len()).as_bytes());
                    out.extend_from_slice(&m.bytes);
                }
                out.extend_from_slice(b")\r\n");
                send(s, state, &out).await?;
            }
            Ok(format!("{tag} OK UID FETCH termine\r\n"))
        }
        _ => Ok(format!("{tag} BAD UID SEARCH ou UID FETCH\r\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_as_rfc_3501_reads_them() {
        assert_eq!(uid_set("1:*", 3), vec![1, 2, 3]);
        assert_eq!(uid_set("5:*", 3), vec![3], "n:* past the end: the last");
        assert_eq!(uid_set("2,3:4", 9), vec![2, 3, 4]);
        assert!(uid_set("1:*", 0).is_empty());
        assert!(uid_set("x", 3).is_empty());
    }

    #[test]
    fn the_authorization_identity_is_a_structure_mailbox() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(
            authorize(&b64("Accueil@CSAPA.escale-demo.mssante.fr")).as_deref(),
            Some("accueil@csapa.escale-demo.mssante.fr")
        );
        assert!(authorize(&b64("x@gmail.com")).is_none());
        assert!(authorize(&b64("275126322074974@patient.mssante.fr")).is_none());
        assert!(authorize("%%%").is_none());
    }
}
