//! Carte Vitale data layout and pure parsing (no I/O: everything here works on
//! byte slices and is unit-tested with byte fixtures).
//!
//! # What is sourced and what is assumed
//!
//! Sourced from cardpeek's `dot_cardpeek_dir/scripts/vitale_2.lua` (GPL, read
//! as documentation only, no code copied):
//! - the two application identifiers [`AID_VITALE`] and [`AID_VITALE_MF`];
//! - the traversal: `SELECT` the VITALE AID, `SELECT` the EF `2001` inside it
//!   (cardpeek path `.2001` = `SELECT` P1=`02` "EF under the current DF",
//!   P2=`00`, Le=`00`), then `READ BINARY` in 256-byte chunks (`00 B0 hi lo 00`)
//!   from offset 0 until a chunk is shorter than 256 bytes or the status word
//!   is not `9000`;
//! - the layout of `2001` ("POINTERS"): `E0 { A0 { 82 … } 80 … 80 … }` where
//!   each `82` value is `entry(2) ?(2) AID(…)` (one per application) and each
//!   `80` value is `name(8, printable) entry(2) file id(2)` (one per EF);
//! - a file whose content starts with `00`, or with `04 00`, is not BER-TLV;
//! - the beneficiary template `65` with `80` nom, `81` prénom, `82` date de
//!   naissance (ASCII, read by cardpeek as `AAAAMMJJ`), `90` nationalité,
//!   `93` numéro de sécurité sociale; the card template `66` with `80` date de
//!   début de validité.
//!
//! Assumptions (not in cardpeek; to be checked against a real card dump):
//! - [`TAG_RANG`] `83` holds the rang de naissance as ASCII digits;
//! - [`TAG_NIR_OUVRANT_DROIT`] `94` holds the ouvrant droit's NIR (absent on
//!   the ouvrant droit's own template);
//! - the beneficiary templates are found by reading every EF that `2001` lists
//!   and keeping the top-level `65` templates, in card order;
//! - text is ISO-8859-1 padded with spaces, `00` or `FF`; the NIR is 13 ASCII
//!   characters optionally followed by its 2-digit key, possibly with spaces;
//! - dates written `JJMMAAAA` are accepted too (the brief mentions it): the two
//!   orders cannot be confused when the year is 1850–2100, because the month
//!   field of one order then holds `18`, `19`, `20` or `21`.

use chrono::NaiveDate;
use serde::Serialize;
use thiserror::Error;

/// `…VITALE` application (cardpeek `AID_VITALE`).
pub const AID_VITALE: &[u8] = b"\xD2\x50\x00\x00\x02VITALE";
/// `…MF_VITALE` application (cardpeek `AID_VITALE_MF`).
pub const AID_VITALE_MF: &[u8] = b"\xD2\x50\x00\x00\x02MF_VITALE";
/// The pointer/directory EF inside the VITALE application.
pub const EF_POINTEURS: [u8; 2] = [0x20, 0x01];

/// Beneficiary template (cardpeek `65`).
pub const TAG_BENEFICIAIRE: u32 = 0x65;
/// Card template (cardpeek `66`).
pub const TAG_CARTE: u32 = 0x66;
pub const TAG_NOM: u32 = 0x80;
pub const TAG_PRENOM: u32 = 0x81;
pub const TAG_DATE_NAISSANCE: u32 = 0x82;
/// ASSUMPTION: not in cardpeek.
pub const TAG_RANG: u32 = 0x83;
pub const TAG_NATIONALITE: u32 = 0x90;
pub const TAG_NIR: u32 = 0x93;
/// ASSUMPTION: not in cardpeek.
pub const TAG_NIR_OUVRANT_DROIT: u32 = 0x94;

const TAG_DIRECTORY: u32 = 0xE0;
const TAG_DIRECTORY_APPS: u32 = 0xA0;
const TAG_DIRECTORY_APP: u32 = 0x82;
const TAG_DIRECTORY_FILE: u32 = 0x80;

/// One beneficiary of the card, as served to the Escale page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Beneficiary {
    pub nom: String,
    pub prenom: String,
    /// As written on the card (e.g. `19800131`; lunar dates such as
    /// `19800000` are kept as they are).
    pub date_naissance: String,
    /// The same date when it is a real calendar date (`None` for lunar dates).
    pub date_naissance_iso: Option<NaiveDate>,
    /// 13 characters, followed by the 2-digit key when the card has it.
    pub nir: String,
    pub nir_ouvrant_droit: Option<String>,
    pub rang: Option<u8>,
}

/// Why card bytes could not be understood. Messages are shown to users.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error(
        "données tronquées à l'octet {offset} : {attendu} octet(s) attendu(s), {restant} disponible(s)"
    )]
    Tronque {
        offset: usize,
        attendu: usize,
        restant: usize,
    },
    #[error("longueur BER-TLV non prise en charge à l'octet {offset}")]
    LongueurInvalide { offset: usize },
    #[error("étiquette BER-TLV trop longue à l'octet {offset}")]
    EtiquetteInvalide { offset: usize },
    #[error("le bénéficiaire n° {index} n'a pas de champ « {champ} »")]
    ChampManquant { index: usize, champ: &'static str },
    #[error("le champ « {champ} » du bénéficiaire n° {index} contient des caractères illisibles")]
    TexteIllisible { index: usize, champ: &'static str },
    #[error("NIR illisible sur la carte : « {0} »")]
    NirInvalide(String),
    #[error("la clé du NIR « {0} » ne correspond pas au numéro")]
    CleNirInvalide(String),
    #[error("rang de naissance illisible : « {0} »")]
    RangInvalide(String),
    #[error("répertoire de la carte (fichier 2001) illisible : {0}")]
    RepertoireInvalide(&'static str),
}

/// One BER-TLV data object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u32,
    pub value: &'a [u8],
}

/// Parses a sequence of BER-TLV objects. `00` and `FF` bytes between objects
/// are padding (ISO 7816-4 §5.2.2; unwritten EEPROM of fixed-size EFs reads
/// as `FF`).
pub fn parse_tlvs(data: &[u8]) -> Result<Vec<Tlv<'_>>, ParseError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        if matches!(data[pos], 0x00 | 0xFF) {
            pos += 1;
            continue;
        }
        let (tlv, next) = parse_one(data, pos)?;
        out.push(tlv);
        pos = next;
    }
    Ok(out)
}

fn parse_one(data: &[u8], start: usize) -> Result<(Tlv<'_>, usize), ParseError> {
    let truncated = |offset: usize, attendu: usize| ParseError::Tronque {
        offset,
        attendu,
        restant: data.len().saturating_sub(offset),
    };
    let mut pos = start;
    let mut tag = u32::from(data[pos]);
    pos += 1;
    if tag & 0x1F == 0x1F {
        // Multi-byte tag: subsequent bytes while bit 8 is set (at most 3 bytes).
        loop {
            let b = *data.get(pos).ok_or_else(|| truncated(pos, 1))?;
            tag = (tag << 8) | u32::from(b);
            pos += 1;
            if b & 0x80 == 0 {
                break;
            }
            if pos - start >= 3 {
                return Err(ParseError::EtiquetteInvalide { offset: start });
            }
        }
    }
    let first_len = *data.get(pos).ok_or_else(|| truncated(pos, 1))?;
    let len_offset = pos;
    pos += 1;
    let len = match first_len {
        0x00..=0x7F => usize::from(first_len),
        0x81 | 0x82 => {
            let n = usize::from(first_len & 0x7F);
            let bytes = data.get(pos..pos + n).ok_or_else(|| truncated(pos, n))?;
            pos += n;
            bytes.iter().fold(0, |acc, b| (acc << 8) | usize::from(*b))
        }
        // 0x80 (indefinite length) is not allowed in ISO 7816 files; longer
        // forms cannot fit in a smart-card EF.
        _ => return Err(ParseError::LongueurInvalide { offset: len_offset }),
    };
    let value = data
        .get(pos..pos + len)
        .ok_or_else(|| truncated(pos, len))?;
    Ok((Tlv { tag, value }, pos + len))
}

/// cardpeek's test for files that are not BER-TLV.
pub fn is_raw_file(content: &[u8]) -> bool {
    content.first() == Some(&0x00) || content.starts_with(&[0x04, 0x00])
}

/// One application listed in `2001`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryApp {
    pub entry: [u8; 2],
    pub aid: Vec<u8>,
    pub files: Vec<DirectoryFile>,
}

/// One EF listed in `2001`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryFile {
    pub name: String,
    pub fid: [u8; 2],
}

/// Parses the `2001` pointer file: `E0 { A0 { 82 … } 80 … }`. Applications
/// keep the card's order; files whose entry matches no application are
/// dropped (cardpeek would fail on them).
pub fn parse_directory(content: &[u8]) -> Result<Vec<DirectoryApp>, ParseError> {
    let top = parse_tlvs(content)?;
    let root = top
        .iter()
        .find(|t| t.tag == TAG_DIRECTORY)
        .ok_or(ParseError::RepertoireInvalide("modèle E0 absent"))?;
    let children = parse_tlvs(root.value)?;
    let apps_tlv = children
        .iter()
        .find(|t| t.tag == TAG_DIRECTORY_APPS)
        .ok_or(ParseError::RepertoireInvalide(
            "liste A0 des applications absente",
        ))?;
    let mut apps = Vec::new();
    for app in parse_tlvs(apps_tlv.value)?
        .iter()
        .filter(|t| t.tag == TAG_DIRECTORY_APP)
    {
        if app.value.len() < 5 {
            return Err(ParseError::RepertoireInvalide(
                "entrée d'application trop courte",
            ));
        }
        apps.push(DirectoryApp {
            entry: [app.value[0], app.value[1]],
            aid: app.value[4..].to_vec(),
            files: Vec::new(),
        });
    }
    for file in children.iter().filter(|t| t.tag == TAG_DIRECTORY_FILE) {
        if file.value.len() < 12 {
            return Err(ParseError::RepertoireInvalide(
                "entrée de fichier trop courte",
            ));
        }
        let entry = [file.value[8], file.value[9]];
        if let Some(app) = apps.iter_mut().find(|a| a.entry == entry) {
            app.files.push(DirectoryFile {
                name: latin1_trimmed(&file.value[..8]).unwrap_or_default(),
                fid: [file.value[10], file.value[11]],
            });
        }
    }
    Ok(apps)
}

/// Whether a file holds beneficiaries: its first object is a `65` template.
/// Such a file is parsed strictly; other files are only searched leniently.
pub fn starts_with_beneficiary(content: &[u8]) -> bool {
    content
        .iter()
        .find(|b| !matches!(b, 0x00 | 0xFF))
        .is_some_and(|b| u32::from(*b) == TAG_BENEFICIAIRE)
}

/// Every top-level `65` template of a file, in order. `first_index` numbers
/// beneficiaries across files (1-based, for error messages).
pub fn parse_beneficiaries(
    content: &[u8],
    first_index: usize,
) -> Result<Vec<Beneficiary>, ParseError> {
    parse_tlvs(content)?
        .iter()
        .filter(|t| t.tag == TAG_BENEFICIAIRE)
        .enumerate()
        .map(|(i, t)| parse_beneficiary(t.value, first_index + i))
        .collect()
}

/// The content of one `65` template.
pub fn parse_beneficiary(template: &[u8], index: usize) -> Result<Beneficiary, ParseError> {
    let fields = parse_tlvs(template)?;
    // First occurrence wins; unknown tags (e.g. 90 nationalité) are ignored.
    let raw = |tag: u32| fields.iter().find(|t| t.tag == tag).map(|t| t.value);
    let text = |tag: u32, champ: &'static str| -> Result<Option<String>, ParseError> {
        raw(tag)
            .map(|v| latin1_trimmed(v).ok_or(ParseError::TexteIllisible { index, champ }))
            .transpose()
            .map(|v| v.filter(|s| !s.is_empty()))
    };
    let required = |tag: u32, champ: &'static str| -> Result<String, ParseError> {
        text(tag, champ)?.ok_or(ParseError::ChampManquant { index, champ })
    };

    let nom = required(TAG_NOM, "nom")?;
    let prenom = required(TAG_PRENOM, "prénom")?;
    let date_naissance = required(TAG_DATE_NAISSANCE, "date de naissance")?;
    let nir = normalize_nir(&required(TAG_NIR, "NIR")?)?;
    let nir_ouvrant_droit = text(TAG_NIR_OUVRANT_DROIT, "NIR de l'ouvrant droit")?
        .map(|n| normalize_nir(&n))
        .transpose()?;
    let rang = text(TAG_RANG, "rang de naissance")?
        .map(|r| parse_rank(&r))
        .transpose()?;
    Ok(Beneficiary {
        date_naissance_iso: parse_birth_date(&date_naissance),
        nom,
        prenom,
        date_naissance,
        nir,
        nir_ouvrant_droit,
        rang,
    })
}

/// ISO-8859-1 text without its padding; `None` when it holds control bytes.
fn latin1_trimmed(bytes: &[u8]) -> Option<String> {
    let text: String = bytes.iter().map(|b| char::from(*b)).collect();
    let text = text.trim_matches(|c: char| c == ' ' || c == '\0' || c == '\u{FF}');
    if text.chars().any(char::is_control) {
        return None;
    }
    Some(text.to_string())
}

/// `AAAAMMJJ` (cardpeek) or `JJMMAAAA`; `None` for lunar dates (day or month
/// `00`, impossible days) and anything else.
pub fn parse_birth_date(raw: &str) -> Option<NaiveDate> {
    if raw.len() != 8 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |s: &str| s.parse::<u32>().ok();
    let ymd = |y: u32, m: u32, d: u32| {
        let year = i32::try_from(y)
            .ok()
            .filter(|y| (1850..=2100).contains(y))?;
        NaiveDate::from_ymd_opt(year, m, d)
    };
    ymd(num(&raw[0..4])?, num(&raw[4..6])?, num(&raw[6..8])?)
        .or_else(|| ymd(num(&raw[4..8])?, num(&raw[2..4])?, num(&raw[0..2])?))
}

fn parse_rank(raw: &str) -> Result<u8, ParseError> {
    raw.parse::<u8>()
        .ok()
        .filter(|r| *r > 0)
        .ok_or_else(|| ParseError::RangInvalide(raw.to_string()))
}

/// Removes spaces, checks the format and, when the key is present, the key.
/// In the server crate, `escale::domain::ins::nir_key` does the key part.
fn normalize_nir(raw: &str) -> Result<String, ParseError> {
    let nir: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let invalid = || ParseError::NirInvalide(raw.to_string());
    if nir.len() != 13 && nir.len() != 15 {
        return Err(invalid());
    }
    let corsica = matches!(nir.get(5..7), Some("2A" | "2B"));
    let format_ok = nir
        .char_indices()
        .all(|(i, c)| c.is_ascii_digit() || (corsica && i == 6 && matches!(c, 'A' | 'B')));
    if !format_ok {
        return Err(invalid());
    }
    if nir.len() == 15 {
        let digits = nir[..13].replace("2A", "19").replace("2B", "18");
        let n: u64 = digits.parse().map_err(|_| invalid())?;
        let key: u64 = nir[13..].parse().map_err(|_| invalid())?;
        if 97 - n % 97 != key {
            return Err(ParseError::CleNirInvalide(nir));
        }
    }
    Ok(nir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if value.len() > 0x7F {
            out.extend([0x81, u8::try_from(value.len()).unwrap()]);
        } else {
            out.push(u8::try_from(value.len()).unwrap());
        }
        out.extend_from_slice(value);
        out
    }

    fn template(fields: &[(u8, &[u8])]) -> Vec<u8> {
        let inner: Vec<u8> = fields.iter().flat_map(|(t, v)| tlv(*t, v)).collect();
        tlv(0x65, &inner)
    }

    fn parent() -> Vec<u8> {
        template(&[
            (0x80, b"MARTIN"),
            (0x81, b"CLAIRE"),
            (0x82, b"19800131"),
            (0x83, b"1"),
            (0x90, b"FRA"),
            (0x93, b"280017512345610"),
        ])
    }

    #[test]
    fn two_beneficiaries_with_padding() {
        let mut file = parent();
        file.extend(template(&[
            (0x80, b"MARTIN  "),
            (0x81, b"LOUIS"),
            (0x82, b"05062015"),
            (0x83, b"2"),
            (0x93, b"1 15 06 75 123 457"),
            (0x94, b"2 80 01 75 123 456 10"),
        ]));
        file.extend([0xFF; 40]);
        let list = parse_beneficiaries(&file, 1).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].nom, "MARTIN");
        assert_eq!(list[0].date_naissance, "19800131");
        assert_eq!(
            list[0].date_naissance_iso,
            NaiveDate::from_ymd_opt(1980, 1, 31)
        );
        assert_eq!(list[0].nir, "280017512345610");
        assert_eq!(list[0].rang, Some(1));
        assert_eq!(list[0].nir_ouvrant_droit, None);
        assert_eq!(list[1].prenom, "LOUIS");
        assert_eq!(list[1].nom, "MARTIN");
        // JJMMAAAA is accepted too.
        assert_eq!(
            list[1].date_naissance_iso,
            NaiveDate::from_ymd_opt(2015, 6, 5)
        );
        assert_eq!(list[1].nir, "1150675123457");
        assert_eq!(
            list[1].nir_ouvrant_droit.as_deref(),
            Some("280017512345610")
        );
    }

    #[test]
    fn lunar_date_is_kept_raw() {
        let file = template(&[
            (0x80, b"DIALLO"),
            (0x81, b"AWA"),
            (0x82, b"19750000"),
            (0x93, b"2750599123456"),
        ]);
        let b = &parse_beneficiaries(&file, 1).unwrap()[0];
        assert_eq!(b.date_naissance, "19750000");
        assert_eq!(b.date_naissance_iso, None);
        assert_eq!(b.rang, None);
    }

    #[test]
    fn date_orders() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        assert_eq!(parse_birth_date("20010911"), d(2001, 9, 11));
        assert_eq!(parse_birth_date("11092001"), d(2001, 9, 11));
        assert_eq!(parse_birth_date("19801300"), None);
        assert_eq!(parse_birth_date("1980-01-"), None);
        assert_eq!(parse_birth_date("1980013"), None);
    }

    #[test]
    fn corsican_nir_key() {
        // 2A → 19 before the modulo.
        let n: u64 = "1800119123456".parse().unwrap();
        let key = 97 - n % 97;
        let nir = format!("18001 2A123456{key:02}");
        assert_eq!(
            normalize_nir(&nir).unwrap(),
            format!("180012A123456{key:02}")
        );
    }

    #[test]
    fn wrong_nir_key_is_refused() {
        let err = normalize_nir("280017512345611").unwrap_err();
        assert_eq!(err, ParseError::CleNirInvalide("280017512345611".into()));
        assert!(err.to_string().contains("clé du NIR"));
        assert!(matches!(
            normalize_nir("28001751234"),
            Err(ParseError::NirInvalide(_))
        ));
    }

    #[test]
    fn truncated_template_is_a_typed_error() {
        let file = parent();
        let cut = &file[..file.len() - 5];
        let err = parse_beneficiaries(cut, 1).unwrap_err();
        assert!(
            matches!(err, ParseError::Tronque { offset: 2, .. }),
            "{err:?}"
        );
        assert!(err.to_string().starts_with("données tronquées"));
    }

    #[test]
    fn truncated_length_bytes() {
        assert!(matches!(
            parse_tlvs(&[0x65]),
            Err(ParseError::Tronque { offset: 1, .. })
        ));
        assert!(matches!(
            parse_tlvs(&[0x65, 0x82, 0x01]),
            Err(ParseError::Tronque { offset: 2, .. })
        ));
        assert!(matches!(
            parse_tlvs(&[0x5F]),
            Err(ParseError::Tronque { offset: 1, .. })
        ));
    }

    #[test]
    fn unsupported_lengths_and_tags() {
        assert_eq!(
            parse_tlvs(&[0x65, 0x80, 0x00, 0x00]),
            Err(ParseError::LongueurInvalide { offset: 1 })
        );
        assert_eq!(
            parse_tlvs(&[0x65, 0x83, 0, 0, 1, 0]),
            Err(ParseError::LongueurInvalide { offset: 1 })
        );
        assert_eq!(
            parse_tlvs(&[0x5F, 0x81, 0x81, 0x81, 0x01]),
            Err(ParseError::EtiquetteInvalide { offset: 0 })
        );
    }

    #[test]
    fn multi_byte_tags_and_long_lengths() {
        let mut data = vec![0x7F, 0x21, 0x81, 0x90];
        data.extend([0xAB; 0x90]);
        data.extend([0x5F, 0x37, 0x01, 0x42]);
        let tlvs = parse_tlvs(&data).unwrap();
        assert_eq!(tlvs[0].tag, 0x7F21);
        assert_eq!(tlvs[0].value.len(), 0x90);
        assert_eq!(
            tlvs[1],
            Tlv {
                tag: 0x5F37,
                value: &[0x42]
            }
        );
    }

    #[test]
    fn missing_fields_are_named() {
        let file = template(&[
            (0x80, b"MARTIN"),
            (0x82, b"19800131"),
            (0x93, b"2800175123456"),
        ]);
        let err = parse_beneficiaries(&file, 3).unwrap_err();
        assert_eq!(
            err,
            ParseError::ChampManquant {
                index: 3,
                champ: "prénom"
            }
        );
        assert_eq!(
            err.to_string(),
            "le bénéficiaire n° 3 n'a pas de champ « prénom »"
        );
        let blank = template(&[
            (0x80, b"      "),
            (0x81, b"A"),
            (0x82, b"19800131"),
            (0x93, b"2800175123456"),
        ]);
        assert!(matches!(
            parse_beneficiaries(&blank, 1),
            Err(ParseError::ChampManquant { champ: "nom", .. })
        ));
    }

    #[test]
    fn control_bytes_and_bad_rank() {
        let file = template(&[
            (0x80, b"MAR\x07TIN"),
            (0x81, b"A"),
            (0x82, b"19800131"),
            (0x93, b"2800175123456"),
        ]);
        assert!(matches!(
            parse_beneficiaries(&file, 1),
            Err(ParseError::TexteIllisible { champ: "nom", .. })
        ));
        let file = template(&[
            (0x80, b"MARTIN"),
            (0x81, b"A"),
            (0x82, b"19800131"),
            (0x83, b"X"),
            (0x93, b"2800175123456"),
        ]);
        assert_eq!(
            parse_beneficiaries(&file, 1),
            Err(ParseError::RangInvalide("X".into()))
        );
    }

    #[test]
    fn latin1_names() {
        let file = template(&[
            (0x80, b"L\xC9GER"),
            (0x81, b"Z\xC9LIE"),
            (0x82, b"19800131"),
            (0x93, b"2800175123456"),
        ]);
        let b = &parse_beneficiaries(&file, 1).unwrap()[0];
        assert_eq!(b.nom, "LÉGER");
        assert_eq!(b.prenom, "ZÉLIE");
    }

    fn directory_fixture() -> Vec<u8> {
        let mut apps = tlv(
            0x82,
            &[[0x00, 0x01, 0x00, 0x00].as_slice(), AID_VITALE_MF].concat(),
        );
        apps.extend(tlv(
            0x82,
            &[[0x00, 0x02, 0x00, 0x00].as_slice(), AID_VITALE].concat(),
        ));
        let mut root = tlv(0xA0, &apps);
        root.extend(tlv(0x80, b"CARTE   \x00\x02\x20\x02"));
        root.extend(tlv(0x80, b"BENEF   \x00\x02\x20\x04"));
        root.extend(tlv(0x80, b"ORPHELIN\x00\x09\x20\x09"));
        let mut file = tlv(0xE0, &root);
        file.extend([0xFF; 16]);
        file
    }

    #[test]
    fn directory() {
        let apps = parse_directory(&directory_fixture()).unwrap();
        assert_eq!(apps.len(), 2);
        assert_eq!(apps[0].aid, AID_VITALE_MF);
        assert!(apps[0].files.is_empty());
        assert_eq!(apps[1].aid, AID_VITALE);
        assert_eq!(
            apps[1].files,
            vec![
                DirectoryFile {
                    name: "CARTE".into(),
                    fid: [0x20, 0x02]
                },
                DirectoryFile {
                    name: "BENEF".into(),
                    fid: [0x20, 0x04]
                },
            ]
        );
    }

    #[test]
    fn malformed_directories() {
        assert_eq!(
            parse_directory(&tlv(0x66, b"")),
            Err(ParseError::RepertoireInvalide("modèle E0 absent"))
        );
        let short_app = tlv(0xE0, &tlv(0xA0, &tlv(0x82, &[0, 1, 0])));
        assert!(matches!(
            parse_directory(&short_app),
            Err(ParseError::RepertoireInvalide(_))
        ));
        let full = directory_fixture();
        assert!(matches!(
            parse_directory(&full[..20]),
            Err(ParseError::Tronque { .. })
        ));
    }

    #[test]
    fn file_kinds() {
        assert!(is_raw_file(&[0x00, 0x12]));
        assert!(is_raw_file(&[0x04, 0x00, 0x12]));
        assert!(!is_raw_file(&[0x04, 0x01]));
        assert!(starts_with_beneficiary(&parent()));
        assert!(starts_with_beneficiary(
            &[[0xFF, 0x00].as_slice(), &parent()].concat()
        ));
        assert!(!starts_with_beneficiary(&tlv(0x66, b"")));
    }
}
