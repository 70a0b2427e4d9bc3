//! What the sandbox checks in a request, as strictly as the real service:
//! HTTP Content-Type (SOAP 1.2), envelope, the four headers of the WSDL input
//! message (XSD CTXBAM V01_02, CTXLPS V01_00, WS-Addressing), the body
//! against `INSi_RECSANS_INS.xsd`, and the lexical rules of the INSi boundary
//! (SEL-MP-043 v05.00.01 §3.4.1 as quoted in research ins.md §1.8;
//! `lexical_cases.csv`).

use chrono::{DateTime, NaiveDateTime};

use super::identities::{SentBeneficiary, SentTraits};
use crate::connectors::insi::{
    ACTION_TRAITS, ACTION_VITALE, CTXBAM_VERSION, CTXLPS_VERSION, NS_CTXBAM, NS_CTXLPS, NS_RECSANS,
    NS_RECVIT, NS_SOAP11, NS_SOAP12, NS_WSA,
};
use crate::connectors::xml::{self, Element};

/// Why a request is refused (becomes a SOAP fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// SOAP 1.2 `env:VersionMismatch` (SOAP 1.1 envelope).
    VersionMismatch(String),
    /// SOAP 1.2 `env:MustUnderstand`.
    MustUnderstand(String),
    /// SOAP 1.2 `env:Sender`: the request is wrong.
    Sender(String),
}

/// A request that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRequest {
    pub message_id: String,
    pub idam: String,
    pub query: SentQuery,
}

/// The body of either operation, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SentQuery {
    Traits(SentTraits),
    Vitale(SentBeneficiary),
}

fn sender(msg: impl Into<String>) -> Violation {
    Violation::Sender(msg.into())
}

/// SOAP 1.2 HTTP binding: `application/soap+xml`, UTF-8; the optional
/// `action` parameter must name the operation (WSDL `soapAction`).
pub fn check_content_type(value: Option<&str>) -> Result<(), Violation> {
    let value = value.ok_or_else(|| {
        sender("en-tête HTTP Content-Type absent : application/soap+xml;charset=utf-8 attendu (SOAP 1.2)")
    })?;
    let mut parts = value.split(';').map(str::trim);
    let media = parts.next().unwrap_or("").to_ascii_lowercase();
    if media != "application/soap+xml" {
        return Err(sender(format!(
            "Content-Type « {media} » refusé : application/soap+xml attendu (le service est en SOAP 1.2, pas en SOAP 1.1 text/xml)"
        )));
    }
    for param in parts.filter(|p| !p.is_empty()) {
        let (k, v) = param.split_once('=').unwrap_or((param, ""));
        let v = v.trim().trim_matches('"');
        match k.trim().to_ascii_lowercase().as_str() {
            "charset" if !v.eq_ignore_ascii_case("utf-8") => {
                return Err(sender(format!("charset « {v} » refusé : utf-8 attendu")));
            }
            "action" if v != ACTION_TRAITS && v != ACTION_VITALE => {
                return Err(sender(format!(
                    "paramètre action « {v} » du Content-Type inconnu : {ACTION_TRAITS} ou {ACTION_VITALE} attendu"
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Everything in the envelope. `Err` carries the first violation found.
pub fn check_envelope(body: &str) -> Result<ValidRequest, Violation> {
    let root = xml::parse(body).map_err(|e| sender(format!("XML invalide : {e}")))?;
    if root.is(NS_SOAP11, "Envelope") {
        return Err(Violation::VersionMismatch(
            "enveloppe SOAP 1.1 reçue : le service attend une enveloppe SOAP 1.2 (http://www.w3.org/2003/05/soap-envelope)".into(),
        ));
    }
    if !root.is(NS_SOAP12, "Envelope") {
        return Err(Violation::VersionMismatch(format!(
            "élément racine « {} » ({}) : soap:Envelope SOAP 1.2 attendu",
            root.name,
            root.namespace.as_deref().unwrap_or("sans espace de noms")
        )));
    }
    let names: Vec<&str> = root.children.iter().map(|c| c.name.as_str()).collect();
    if names != ["Header", "Body"]
        || root
            .children
            .iter()
            .any(|c| c.namespace.as_deref() != Some(NS_SOAP12))
    {
        return Err(sender(format!(
            "l'enveloppe doit contenir soap:Header puis soap:Body (reçu : {})",
            names.join(", ")
        )));
    }
    let header = &root.children[0];
    let body = &root.children[1];
    let (message_id, idam, action) = check_headers(header)?;
    let query = if action == ACTION_VITALE {
        SentQuery::Vitale(check_vitale_body(body)?)
    } else {
        SentQuery::Traits(check_body(body)?)
    };
    Ok(ValidRequest {
        message_id,
        idam,
        query,
    })
}

fn check_headers(header: &Element) -> Result<(String, String, &'static str), Violation> {
    let mut bam = None;
    let mut lps = None;
    let mut action = None;
    let mut message_id = None;
    for h in &header.children {
        let slot = match (h.namespace.as_deref(), h.name.as_str()) {
            (Some(NS_CTXBAM), "ContexteBAM") => &mut bam,
            (Some(NS_CTXLPS), "ContexteLPS") => &mut lps,
            (Some(NS_WSA), "Action") => &mut action,
            (Some(NS_WSA), "MessageID") => &mut message_id,
            _ => {
                // Unknown headers are ignored unless they must be understood
                // (SOAP 1.2 part 1 §5.2.3); wsse:Security is not used in mTLS mode.
                if matches!(h.attribute("mustUnderstand"), Some("true" | "1")) {
                    return Err(Violation::MustUnderstand(format!(
                        "en-tête {} non compris",
                        h.name
                    )));
                }
                continue;
            }
        };
        if slot.replace(h).is_some() {
            return Err(sender(format!("en-tête {} présent plusieurs fois", h.name)));
        }
    }
    let action = action.ok_or_else(|| sender("en-tête wsa:Action absent"))?;
    let action_name = match action.trimmed_text() {
        ACTION_TRAITS => ACTION_TRAITS,
        ACTION_VITALE => ACTION_VITALE,
        other => {
            return Err(sender(format!(
                "wsa:Action « {other} » inconnu : {ACTION_TRAITS} ou {ACTION_VITALE} attendu (WSDL)"
            )));
        }
    };
    let message_id = message_id.ok_or_else(|| sender("en-tête wsa:MessageID absent"))?;
    let mid = message_id.trimmed_text();
    // `uuid:<uuid>` (padoa) or a bare UUID (DMP LPS package example).
    let bare = mid
        .strip_prefix("urn:uuid:")
        .or_else(|| mid.strip_prefix("uuid:"))
        .unwrap_or(mid);
    if uuid::Uuid::parse_str(bare).is_err() {
        return Err(sender(format!(
            "wsa:MessageID « {mid} » invalide : uuid:<UUID> attendu"
        )));
    }
    check_bam(bam.ok_or_else(|| sender("en-tête ctxbam:ContexteBAM absent"))?)?;
    let idam = check_lps(lps.ok_or_else(|| sender("en-tête ctxlps:ContexteLPS absent"))?)?;
    Ok((mid.to_owned(), idam, action_name))
}

/// One child of an XSD `xsd:sequence`: name, minOccurs, maxOccurs.
type Particle = (&'static str, usize, usize);

/// Children of `el`, all in namespace `ns`, follow `sequence` (order and
/// occurrences) with nothing else.
fn check_sequence(el: &Element, ns: &str, sequence: &[Particle]) -> Result<(), Violation> {
    let mut i = 0;
    for &(name, min, max) in sequence {
        let mut n = 0;
        while i < el.children.len() && el.children[i].name == name {
            if el.children[i].namespace.as_deref() != Some(ns) {
                return Err(sender(format!(
                    "{}/{name} : espace de noms {ns} attendu",
                    el.name
                )));
            }
            n += 1;
            i += 1;
        }
        if n < min {
            return Err(sender(format!(
                "{}/{name} obligatoire et absent (ou mal placé)",
                el.name
            )));
        }
        if n > max {
            return Err(sender(format!(
                "{}/{name} présent {n} fois (au plus {max})",
                el.name
            )));
        }
    }
    if let Some(extra) = el.children.get(i) {
        return Err(sender(format!(
            "{}/{} inattendu à cet endroit (ordre du schéma : {})",
            el.name,
            extra.name,
            sequence.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(())
}

fn check_version_and_nature(el: &Element, version: &str, nature: &str) -> Result<(), Violation> {
    match el.attribute("Version") {
        Some(v) if v == version => {}
        Some(v) => {
            return Err(sender(format!(
                "{}@Version « {v} » non supportée : {version} attendue",
                el.name
            )));
        }
        None => return Err(sender(format!("{}@Version obligatoire et absent", el.name))),
    }
    match el.attribute("Nature") {
        Some(n) if n != nature => Err(sender(format!(
            "{}@Nature « {n} » invalide : {nature} attendu",
            el.name
        ))),
        _ => Ok(()),
    }
}

fn check_id_and_time(el: &Element) -> Result<(), Violation> {
    if el.child("Id").is_none_or(|id| id.trimmed_text().is_empty()) {
        return Err(sender(format!("{}/Id vide", el.name)));
    }
    let temps = el.child_text("Temps").unwrap_or_default();
    let ok = DateTime::parse_from_rfc3339(&temps).is_ok()
        || NaiveDateTime::parse_from_str(&temps, "%Y-%m-%dT%H:%M:%S%.f").is_ok();
    if !ok {
        return Err(sender(format!(
            "{}/Temps « {temps} » n'est pas un xs:dateTime (AAAA-MM-JJThh:mm:ss[.sss]Z)",
            el.name
        )));
    }
    Ok(())
}

/// XSD CTXBAM V01_02: Id, Temps, Emetteur?, DateRef?, COUVERTURE.
fn check_bam(bam: &Element) -> Result<(), Violation> {
    check_version_and_nature(bam, CTXBAM_VERSION, "CTXBAM")?;
    check_sequence(
        bam,
        NS_CTXBAM,
        &[
            ("Id", 1, 1),
            ("Temps", 1, 1),
            ("Emetteur", 0, 1),
            ("DateRef", 0, 1),
            ("COUVERTURE", 1, 1),
        ],
    )?;
    check_id_and_time(bam)?;
    let couverture = bam.child("COUVERTURE").expect("checked by the sequence");
    check_sequence(
        couverture,
        NS_CTXBAM,
        &[
            ("GrandRegime", 0, 1),
            ("Organisme", 0, 1),
            ("CodeCentre", 0, 1),
            ("ASSURE", 0, 1),
            ("BENEFICIAIRE", 0, 1),
        ],
    )
}

/// XSD CTXLPS V01_00: Id, Temps, Emetteur?, LPS?{IDAM?, Version?, Instance?,
/// Nom?}; the IDAM (CNDA authorisation number) is functionally required.
fn check_lps(lps: &Element) -> Result<String, Violation> {
    check_version_and_nature(lps, CTXLPS_VERSION, "CTXLPS")?;
    check_sequence(
        lps,
        NS_CTXLPS,
        &[
            ("Id", 1, 1),
            ("Temps", 1, 1),
            ("Emetteur", 0, 1),
            ("LPS", 0, 1),
        ],
    )?;
    check_id_and_time(lps)?;
    let logiciel = lps.child("LPS").ok_or_else(|| {
        sender("ContexteLPS/LPS absent : le numéro d'autorisation (IDAM) est obligatoire")
    })?;
    check_sequence(
        logiciel,
        NS_CTXLPS,
        &[
            ("IDAM", 0, 1),
            ("Version", 0, 1),
            ("Instance", 0, 1),
            ("Nom", 0, 1),
        ],
    )?;
    logiciel
        .child_text("IDAM")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            sender("ContexteLPS/LPS/IDAM absent : le numéro d'autorisation CNDA est obligatoire")
        })
}

/// XSD `INSi_RECSANS_INS.xsd` + functional rules (SEL-MP-043 §3.4.1 via ins.md §1.8).
fn check_body(body: &Element) -> Result<SentTraits, Violation> {
    let [request] = body.children.as_slice() else {
        return Err(sender(
            "soap:Body doit contenir un seul élément RECSANSVITALE",
        ));
    };
    if !request.is(NS_RECSANS, "RECSANSVITALE") {
        return Err(sender(format!(
            "élément {} ({}) inattendu dans soap:Body : RECSANSVITALE ({NS_RECSANS}) attendu",
            request.name,
            request
                .namespace
                .as_deref()
                .unwrap_or("sans espace de noms")
        )));
    }
    check_sequence(
        request,
        NS_RECSANS,
        &[
            ("NomNaissance", 0, 1),
            ("Prenom", 0, usize::MAX),
            ("Sexe", 0, 1),
            ("DateNaissance", 0, 1),
            ("LieuNaissance", 0, 1),
        ],
    )?;
    for child in &request.children {
        if !child.children.is_empty() {
            return Err(sender(format!(
                "RECSANSVITALE/{} ne doit contenir que du texte",
                child.name
            )));
        }
    }
    // Values are taken as sent (no trimming): a leading or trailing space is
    // a lexical error, not something to fix silently.
    let text = |name: &str| request.child(name).map(|e| e.text.clone());
    let birth_name = text("NomNaissance").ok_or_else(|| sender("NomNaissance obligatoire"))?;
    check_name("NomNaissance", &birth_name, false)?;
    let first_names: Vec<String> = request
        .children_named("Prenom")
        .map(|e| e.text.clone())
        .collect();
    if first_names.is_empty() {
        return Err(sender("Prenom obligatoire"));
    }
    for p in &first_names {
        // One Prenom may hold several first names separated by one space.
        check_name("Prenom", p, true)?;
    }
    let sex = text("Sexe").ok_or_else(|| sender("Sexe obligatoire"))?;
    if sex != "F" && sex != "M" {
        return Err(sender(format!("Sexe « {sex} » invalide : F ou M attendu")));
    }
    let birth_date = text("DateNaissance").ok_or_else(|| sender("DateNaissance obligatoire"))?;
    check_lunar_date(&birth_date)?;
    let birth_place = text("LieuNaissance");
    if let Some(place) = &birth_place {
        check_cog(place)?;
    }
    Ok(SentTraits {
        birth_name,
        first_names,
        sex,
        birth_date,
        birth_place,
    })
}

/// Lexical rules of names at the INSi boundary (SEL-MP-043 v05.00.01 §3.4.1,
/// EF_INS10; lexical_cases.csv): A–Z, space, apostrophe, hyphen; first
/// character not a space or a hyphen; no double space, double apostrophe,
/// nor apostrophe next to a space; `--` allowed in a birth name only; a first
/// name does not end with `-` or `'`; no trailing space.
pub fn check_name(field: &str, value: &str, first_name: bool) -> Result<(), Violation> {
    let err = |why: &str| Err(sender(format!("{field} « {value} » invalide : {why}")));
    if value.is_empty() {
        return err("valeur vide");
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_uppercase() || matches!(c, ' ' | '\'' | '-')))
    {
        return err(&format!(
            "caractère « {c} » interdit (seuls A-Z, espace, apostrophe ' et tiret - sont admis : ni minuscule, ni accent, ni ligature)"
        ));
    }
    if value.starts_with([' ', '-']) {
        return err("ne doit pas commencer par un espace ou un tiret");
    }
    if value.ends_with(' ') {
        return err("ne doit pas finir par un espace");
    }
    if value.contains("  ") || value.contains("''") {
        return err("espace ou apostrophe doublé");
    }
    if value.contains("' ") || value.contains(" '") {
        return err("apostrophe accolée à un espace");
    }
    if first_name {
        if value.contains("--") {
            return err("double tiret interdit dans un prénom");
        }
        if value.split(' ').any(|w| w.ends_with(['-', '\''])) {
            return err("un prénom ne doit pas finir par un tiret ou une apostrophe");
        }
    } else if value.contains("---") {
        return err("plus de deux tirets consécutifs");
    }
    Ok(())
}

/// `AAAA-MM-JJ` ("DateLunaire", XSD `\d{4}-\d{2}-\d{2}`). Lunar dates (day or
/// month 00, persons born abroad) are admitted; month > 12 or day > 31 are not
/// (lexical_cases.csv: 1981-13-01 refused).
/// `RECVITALE` (XSD `INSi_RECVITALE_INS.xsd`, type `Beneficiaire`): every
/// element optional, in sequence; a NIR is 13 characters (digits, 2A/2B);
/// the beneficiary must be designated by their NIR, or by the ouvrant
/// droit's NIR with the birth date.
fn check_vitale_body(body: &Element) -> Result<SentBeneficiary, Violation> {
    let [request] = body.children.as_slice() else {
        return Err(sender("soap:Body doit contenir un seul élément RECVITALE"));
    };
    if !request.is(NS_RECVIT, "RECVITALE") {
        return Err(sender(format!(
            "élément {} inattendu dans soap:Body : RECVITALE ({NS_RECVIT}) attendu",
            request.name
        )));
    }
    check_sequence(
        request,
        NS_RECVIT,
        &[
            ("MatriculeIndividu", 0, 1),
            ("MatriculeOD", 0, 1),
            ("NomNaissance", 0, 1),
            ("DateNaissance", 0, 1),
            ("RangNaissance", 0, 1),
        ],
    )?;
    let nir = |name: &str| -> Result<Option<String>, Violation> {
        let Some(m) = request.child(name) else {
            return Ok(None);
        };
        check_sequence(
            m,
            NS_RECVIT,
            &[
                ("NumIdentifiant", 1, 1),
                ("Cle", 0, 1),
                ("TypeMatricule", 0, 1),
            ],
        )?;
        let n = m
            .child("NumIdentifiant")
            .map(|e| e.text.clone())
            .unwrap_or_default();
        let b = n.as_bytes();
        let ok = b.len() == 13
            && b.iter()
                .enumerate()
                .all(|(i, c)| c.is_ascii_digit() || (i == 6 && (*c == b'A' || *c == b'B')));
        if !ok {
            return Err(sender(format!(
                "{name}/NumIdentifiant « {n} » invalide : 13 caractères attendus"
            )));
        }
        Ok(Some(n))
    };
    let text = |name: &str| request.child(name).map(|e| e.text.clone());
    let sent = SentBeneficiary {
        nir: nir("MatriculeIndividu")?,
        nir_ouvrant_droit: nir("MatriculeOD")?,
        birth_name: text("NomNaissance"),
        birth_date: text("DateNaissance"),
        rank: text("RangNaissance"),
    };
    if let Some(d) = &sent.birth_date {
        check_lunar_date(d)?;
    }
    if let Some(name) = &sent.birth_name {
        check_name("NomNaissance", name, false)?;
    }
    if let Some(r) = &sent.rank
        && !(r.len() == 1 && r.as_bytes()[0].is_ascii_digit() && r != "0")
    {
        return Err(sender(format!(
            "RangNaissance « {r} » invalide : 1 à 9 attendu"
        )));
    }
    if sent.nir.is_none() && (sent.nir_ouvrant_droit.is_none() || sent.birth_date.is_none()) {
        return Err(sender(
            "bénéficiaire non désigné : MatriculeIndividu, ou MatriculeOD avec DateNaissance, attendu",
        ));
    }
    Ok(sent)
}

fn check_lunar_date(value: &str) -> Result<(), Violation> {
    let b = value.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    let month: u32 = value.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(99);
    let day: u32 = value.get(8..10).and_then(|d| d.parse().ok()).unwrap_or(99);
    if !shape || month > 12 || day > 31 {
        return Err(sender(format!(
            "DateNaissance « {value} » invalide : format AAAA-MM-JJ attendu"
        )));
    }
    Ok(())
}

/// COG: 5 characters, digits or 2A/2B for Corsica (lexical_cases.csv).
fn check_cog(value: &str) -> Result<(), Violation> {
    let b = value.as_bytes();
    let dept_ok = b.len() == 5
        && (b[..2].iter().all(u8::is_ascii_digit) || &b[..2] == b"2A" || &b[..2] == b"2B");
    if !dept_ok || !b[2..].iter().all(u8::is_ascii_digit) {
        return Err(sender(format!(
            "LieuNaissance « {value} » invalide : code officiel géographique (COG) de 5 caractères attendu"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases of `shared/spec/ins/insi/lexical_cases.csv`, as Rust facts.
    #[test]
    fn lexical_cases() {
        for (v, ok) in [
            ("ADRDEUX", true),
            ("D'ARTAGNAN DE L'HERAULT", true),
            ("DE VINCI", true),
            ("PATB-QUATRE", true),
            ("MARTIN--DUPONT", true),
            ("ADRDEUXa", false),
            ("ADRDEUXé", false),
            ("ADRD+EUX", false),
            ("D\u{2019}ÆION", false),
            ("", false),
            ("-DUPONT", false),
            ("DUPONT  MARTIN", false),
            ("L' HERAULT", false),
        ] {
            assert_eq!(check_name("NomNaissance", v, false).is_ok(), ok, "{v}");
        }
        for (v, ok) in [
            ("PIERRE-ALAIN", true),
            ("PIERRE PAUL JACQUES", true),
            ("LAURaENT", false),
            ("LAUREéNT", false),
            ("LAUR+ENT", false),
            ("CŒUR", false),
            ("JEAN--LUC", false),
            ("JEAN-", false),
        ] {
            assert_eq!(check_name("Prenom", v, true).is_ok(), ok, "{v}");
        }
        assert!(check_lunar_date("1981-01-01").is_ok());
        assert!(check_lunar_date("01/01/1981").is_err());
        assert!(check_lunar_date("1981-13-01").is_err());
        for (v, ok) in [
            ("63220", true),
            ("2B020", true),
            ("99134", true),
            ("2C020", false),
            ("6322", false),
        ] {
            assert_eq!(check_cog(v).is_ok(), ok, "{v}");
        }
    }

    #[test]
    fn content_type() {
        assert!(check_content_type(Some("application/soap+xml;charset=utf-8")).is_ok());
        assert!(check_content_type(Some(&crate::connectors::insi::client::content_type())).is_ok());
        assert!(check_content_type(Some("text/xml; charset=utf-8")).is_err());
        assert!(check_content_type(Some("application/soap+xml;charset=iso-8859-1")).is_err());
        assert!(check_content_type(None).is_err());
    }
}
