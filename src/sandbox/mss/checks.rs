//! What the MSSanté sandbox checks in a message, as the operator and the
//! reading software would: recipients in the MSSanté space; a Message-ID;
//! `X-MSS-NIL` on every message; `X-MSS-MES` only towards Mon espace santé
//! and only `FIN`; with an `IHE_XDM.ZIP`: its 8.3 upper-case names, its
//! `METADATA.XML` (an `lcm:SubmitObjectsRequest` whose document entry names
//! a file of the archive, with its size and SHA-1), the CDA's
//! `ClinicalDocument/code/@code` in `X-MSS-CODECDA` and `X-MSS-INS` O or
//! N; without an archive, neither of those two headers. A refusal is the
//! SMTP answer line.

use std::io::Read;

use base64::Engine;
use sha1::Digest;

use super::schemas::XdmSchemas;
use crate::connectors::xml;
use crate::domain::mss::is_patient_address;

/// What the sandbox keeps of an accepted message.
pub(super) struct Checked {
    pub message_id: String,
    pub subject: String,
    pub no_reply: bool,
    pub cda_code: Option<String>,
    /// `Disposition-Notification-To`: where the reader's MDN goes.
    pub read_receipt_to: Option<String>,
}

fn refuse(what: &str) -> String {
    format!("554 5.6.0 message refusé : {what}")
}

/// A recipient of the MSSanté space (`*.mssante.fr`).
pub(super) fn recipient(address: &str) -> Result<(), String> {
    let domain = address
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase());
    match domain {
        Some(d) if d == "mssante.fr" || d.ends_with(".mssante.fr") => Ok(()),
        _ => Err(format!(
            "550 5.7.1 {address} : destinataire hors de l'espace de confiance MSSanté"
        )),
    }
}

/// The header block, unfolded: (lower-case name, value).
fn headers(head: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for l in head.split("\r\n") {
        if l.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push(' ');
                v.push_str(l.trim());
            }
        } else if let Some((n, v)) = l.split_once(':') {
            out.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    out
}

fn get<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// `boundary=` of a Content-Type value.
fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

pub(super) async fn message(
    bytes: &[u8],
    to: &[String],
    schemas: Option<&XdmSchemas>,
) -> Result<Checked, String> {
    let text = String::from_utf8_lossy(bytes);
    let (head, _) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| refuse("en-têtes sans corps"))?;
    let h = headers(head);
    let message_id = get(&h, "message-id")
        .filter(|v| v.starts_with('<') && v.ends_with('>') && v.contains('@'))
        .ok_or_else(|| refuse("Message-ID absent ou invalide (RFC 5322)"))?
        .to_string();
    if get(&h, "x-mss-nil").is_none_or(str::is_empty) {
        return Err(refuse(
            "X-MSS-NIL absent : chaque message porte la référence du logiciel (Référentiel socle MSSanté #2, ECO.2.4.3)",
        ));
    }
    let no_reply = match get(&h, "x-mss-mes") {
        None => false,
        Some("FIN") if to.iter().all(|a| is_patient_address(a)) => true,
        Some("FIN") => {
            return Err(refuse(
                "X-MSS-MES réservé aux messages vers Mon espace santé",
            ));
        }
        Some(other) => return Err(refuse(&format!("X-MSS-MES « {other} » : seul FIN existe"))),
    };
    let archive = match get(&h, "content-type").and_then(boundary) {
        Some(b) => xdm_part(bytes, &b).await?,
        None => None,
    };
    let cda_code = match archive {
        Some(zip) => {
            let Archive {
                codes,
                metadata,
                cdas,
            } = check_xdm(&zip)?;
            if let Some(x) = schemas {
                x.validate(&x.metadata, &metadata).await.map_err(|e| {
                    refuse(&format!(
                        "IHE_XDM.ZIP : METADATA.XML hors schéma ebRS lcm.xsd ({e})"
                    ))
                })?;
                for (n, cda) in cdas.iter().enumerate() {
                    x.validate(&x.cda, cda).await.map_err(|e| {
                        refuse(&format!(
                            "IHE_XDM.ZIP : DOC{:04}.XML hors schéma CDA ({e})",
                            n + 1
                        ))
                    })?;
                }
            }
            let listed = get(&h, "x-mss-codecda").unwrap_or_default();
            for code in &codes {
                if !listed.split(',').any(|c| c.trim() == code) {
                    return Err(refuse(&format!(
                        "X-MSS-CODECDA « {listed} » ne cite pas le code d'un CDA de l'archive ({code})"
                    )));
                }
            }
            let code = codes.join(",");
            if !matches!(get(&h, "x-mss-ins"), Some("O" | "N")) {
                return Err(refuse(
                    "X-MSS-INS (O ou N) absent alors qu'un CDA est joint",
                ));
            }
            Some(code)
        }
        None => {
            if get(&h, "x-mss-codecda").is_some() || get(&h, "x-mss-ins").is_some() {
                return Err(refuse(
                    "X-MSS-CODECDA ou X-MSS-INS sans archive IHE_XDM.ZIP qui contienne un CDA",
                ));
            }
            None
        }
    };
    Ok(Checked {
        message_id,
        subject: decode_words(get(&h, "subject").unwrap_or_default()),
        no_reply,
        read_receipt_to: get(&h, "disposition-notification-to").map(|v| {
            v.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_ascii_lowercase()
        }),
        cda_code,
    })
}

/// The decoded `IHE_XDM.ZIP` part, if the message has one.
async fn xdm_part(bytes: &[u8], boundary: &str) -> Result<Option<Vec<u8>>, String> {
    let start = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(bytes.len(), |i| i + 4);
    let body = bytes::Bytes::copy_from_slice(&bytes[start..]);
    let mut parts = multer::Multipart::new(
        futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) }),
        boundary.to_string(),
    );
    while let Some(field) = parts
        .next_field()
        .await
        .map_err(|e| refuse(&format!("structure MIME illisible ({e})")))?
    {
        let header = |name: &str| {
            field
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let named = format!(
            "{} {}",
            header("content-disposition"),
            header("content-type")
        );
        if !named.to_ascii_uppercase().contains("IHE_XDM.ZIP") {
            continue;
        }
        let encoding = header("content-transfer-encoding").to_ascii_lowercase();
        let raw = field
            .bytes()
            .await
            .map_err(|e| refuse(&format!("pièce jointe illisible ({e})")))?;
        return if encoding == "base64" {
            let clean: Vec<u8> = raw
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(clean)
                .map(Some)
                .map_err(|_| refuse("IHE_XDM.ZIP : base64 invalide"))
        } else {
            Ok(Some(raw.to_vec()))
        };
    }
    Ok(None)
}

/// An 8.3 upper-case path (each component).
fn is_8_3(path: &str) -> bool {
    path.split('/').all(|part| {
        let (name, ext) = part.split_once('.').unwrap_or((part, ""));
        let ok = |s: &str, max: usize| {
            s.len() <= max
                && s.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        };
        !name.is_empty() && ok(name, 8) && ok(ext, 3) && !ext.contains('.')
    })
}

/// The archive's structure and metadata against its documents: each CDA's
/// code, in the metadata's order.
/// What an archive holds, once its structure is checked.
struct Archive {
    /// Each CDA's code, in the metadata's order.
    codes: Vec<String>,
    /// `METADATA.XML` and each CDA, for the schemas.
    metadata: Vec<u8>,
    cdas: Vec<Vec<u8>>,
}

fn check_xdm(zip_bytes: &[u8]) -> Result<Archive, String> {
    let bad = |what: String| refuse(&format!("IHE_XDM.ZIP : {what}"));
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes))
        .map_err(|e| bad(format!("archive illisible ({e})")))?;
    let mut names = Vec::new();
    for i in 0..zip.len() {
        let f = zip.by_index(i).map_err(|e| bad(e.to_string()))?;
        let name = f
            .name()
            .map_err(|e| bad(format!("nom illisible ({e})")))?
            .trim_end_matches('/')
            .to_string();
        if f.size() > super::smtp::MAX_MESSAGE_BYTES as u64 {
            return Err(bad(format!("{name} trop gros une fois décompressé")));
        }
        names.push(name);
    }
    if let Some(n) = names.iter().find(|n| !is_8_3(n)) {
        return Err(bad(format!(
            "nom « {n} » hors norme ISO-9660 8.3 en majuscules"
        )));
    }
    for required in ["README.TXT", "INDEX.HTM", "IHE_XDM/SUBSET01/METADATA.XML"] {
        if !names.iter().any(|n| n == required) {
            return Err(bad(format!("{required} absent")));
        }
    }
    let mut read = |name: &str| -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        zip.by_name(name)
            .map_err(|_| bad(format!("{name} absent")))?
            .read_to_end(&mut out)
            .map_err(|e| bad(format!("{name} illisible ({e})")))?;
        Ok(out)
    };
    let metadata = read("IHE_XDM/SUBSET01/METADATA.XML")?;
    let root = xml::parse(&String::from_utf8_lossy(&metadata))
        .map_err(|e| bad(format!("METADATA.XML illisible ({e})")))?;
    if root.name != "SubmitObjectsRequest" {
        return Err(bad(
            "METADATA.XML n'est pas un lcm:SubmitObjectsRequest".into()
        ));
    }
    let list = root
        .find("RegistryObjectList")
        .ok_or_else(|| bad("RegistryObjectList absente".into()))?;
    let (mut codes, mut cdas) = (Vec::new(), Vec::new());
    for entry in list.children_named("ExtrinsicObject") {
        let (code, cda) = check_document(entry, &mut read)?;
        codes.push(code);
        cdas.push(cda);
    }
    if codes.is_empty() {
        return Err(bad("fiche de document (ExtrinsicObject) absente".into()));
    }
    Ok(Archive {
        codes,
        metadata,
        cdas,
    })
}

/// One document entry: its file in the archive, of the size and SHA-1 the
/// entry gives, a CDA; its `ClinicalDocument/code`.
fn check_document(
    entry: &xml::Element,
    read: &mut impl FnMut(&str) -> Result<Vec<u8>, String>,
) -> Result<(String, Vec<u8>), String> {
    let bad = |what: String| refuse(&format!("IHE_XDM.ZIP : {what}"));
    let slot = |name: &str| {
        entry
            .children_named("Slot")
            .find(|s| s.attribute("name") == Some(name))
            .and_then(|s| s.find("Value"))
            .map(|v| v.trimmed_text().to_string())
    };
    let uri = slot("URI").ok_or_else(|| bad("URI du document absente".into()))?;
    let cda = read(&format!("IHE_XDM/SUBSET01/{uri}"))?;
    if slot("size").as_deref() != Some(&cda.len().to_string()) {
        return Err(bad(format!("size différente de la taille de {uri}")));
    }
    if slot("hash").as_deref() != Some(&hex::encode(sha1::Sha1::digest(&cda))) {
        return Err(bad(format!("hash différent du SHA-1 de {uri}")));
    }
    let doc = xml::parse(&String::from_utf8_lossy(&cda))
        .map_err(|e| bad(format!("{uri} illisible ({e})")))?;
    if doc.name != "ClinicalDocument" {
        return Err(bad(format!("{uri} n'est pas un CDA")));
    }
    let code = doc
        .child("code")
        .and_then(|c| c.attribute("code"))
        .map(str::to_string)
        .ok_or_else(|| bad(format!("{uri} sans ClinicalDocument/code")))?;
    Ok((code, cda))
}

/// RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`) decoded, the
/// blanks between two of them dropped; anything else kept as written.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut last_was_word = false;
    for token in value.split(' ') {
        let decoded = token
            .strip_prefix("=?")
            .and_then(|t| t.strip_suffix("?="))
            .and_then(|t| {
                let mut parts = t.splitn(3, '?');
                let (charset, enc, text) = (parts.next()?, parts.next()?, parts.next()?);
                if !charset.eq_ignore_ascii_case("utf-8") {
                    return None;
                }
                let bytes = match enc {
                    "b" | "B" => base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .ok()?,
                    "q" | "Q" => q_decode(text)?,
                    _ => return None,
                };
                String::from_utf8(bytes).ok()
            });
        match decoded {
            Some(d) => {
                if !out.is_empty() && !last_was_word {
                    out.push(' ');
                }
                out.push_str(&d);
                last_was_word = true;
            }
            None => {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(token);
                last_was_word = false;
            }
        }
    }
    out
}

fn q_decode(text: &str) -> Option<Vec<u8>> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_words_are_decoded() {
        assert_eq!(
            decode_words("XDM/1.0/DDM+Lettre de liaison =?utf-8?b?ZCdlbnRyw6ll?= ADRTROIS"),
            "XDM/1.0/DDM+Lettre de liaison d'entrée ADRTROIS"
        );
        assert_eq!(
            decode_words("=?utf-8?q?caf=C3=A9_cr=C3=A8me?= ok"),
            "café crème ok"
        );
        assert_eq!(decode_words("=?utf-8?b?YQ==?= =?utf-8?b?Yg==?="), "ab");
        assert_eq!(decode_words("=?latin1?b?YQ==?="), "=?latin1?b?YQ==?=");
        assert_eq!(decode_words("plain"), "plain");
    }
}
