//! Matricule INS (NIR or NIA), its control key, and the OIDs that type it.
//!
//! A matricule is 13 characters — sexe (1), année (2), mois (2), lieu (5:
//! département + commune, or 99 + pays), ordre (3) — followed by a 2-digit
//! key (décret 82-103 art. 4). The type shown (NIR / NIA / test / démo) always
//! comes from the OID, never from the number (CNDA 1.10).

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Length of the number without its key (décret 82-103 art. 4).
const NUMBER_LEN: usize = 13;
/// Length of the key.
const KEY_LEN: usize = 2;
/// 0-based index of the department's second character: `2A` / `2B` (Corsica).
const CORSICA_LETTER: usize = 6;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MatriculeError {
    #[error(
        "matricule INS absent : saisissez les 13 caractères du NIR ou du NIA suivis des 2 chiffres de la clé"
    )]
    Empty,
    #[error(
        "le matricule comporte {found} caractères au lieu de {expected} : vérifiez la saisie (13 caractères du NIR ou du NIA, puis la clé de 2 chiffres)"
    )]
    Length { expected: usize, found: usize },
    #[error(
        "le matricule commence par « {0} » : le premier chiffre (sexe, ou numéro provisoire) va de 1 à 8, vérifiez la saisie"
    )]
    FirstCharacter(char),
    #[error(
        "caractère « {character} » non admis en position {position} : le matricule ne contient que des chiffres, sauf 2A ou 2B (Corse) en positions 6-7"
    )]
    Character { character: char, position: usize },
    #[error("la clé « {0} » doit comporter exactement 2 chiffres : vérifiez la saisie")]
    KeyFormat(String),
    #[error(
        "la clé de contrôle ne correspond pas au numéro : vérifiez chacun des 15 caractères saisis"
    )]
    KeyMismatch,
}

/// Control key of a 13-character NIR/NIA: 97 − (n mod 97), with the Corsican
/// departments `2A` → 19 and `2B` → 18 before the modulo (décret 82-103 art. 4;
/// verified on every test identity of `shared/spec/ins/insi/test_identities.csv`).
pub fn nir_key(number13: &str) -> Result<u8, MatriculeError> {
    check_number(number13)?;
    let digits = match &number13[CORSICA_LETTER - 1..=CORSICA_LETTER] {
        "2A" => format!("{}19{}", &number13[..5], &number13[7..]),
        "2B" => format!("{}18{}", &number13[..5], &number13[7..]),
        _ => number13.to_string(),
    };
    let n: u64 = digits
        .parse()
        .expect("a checked number holds 13 ASCII digits");
    Ok(97 - (n % 97) as u8)
}

/// Format of the 13-character number: first character 1-8 (sexe, or 3/4/7/8 for
/// provisional numbers — research/ins.md §2), digits only except `2A`/`2B` at
/// the department (positions 6-7).
fn check_number(number: &str) -> Result<(), MatriculeError> {
    let chars: Vec<char> = number.chars().collect();
    if chars.is_empty() {
        return Err(MatriculeError::Empty);
    }
    if chars.len() != NUMBER_LEN {
        return Err(MatriculeError::Length {
            expected: NUMBER_LEN,
            found: chars.len(),
        });
    }
    if !('1'..='8').contains(&chars[0]) {
        return Err(MatriculeError::FirstCharacter(chars[0]));
    }
    let corsica = chars[CORSICA_LETTER - 1] == '2' && matches!(chars[CORSICA_LETTER], 'A' | 'B');
    match chars
        .iter()
        .enumerate()
        .find(|&(i, c)| !(c.is_ascii_digit() || (corsica && i == CORSICA_LETTER)))
    {
        Some((i, &c)) => Err(MatriculeError::Character {
            character: c,
            position: i + 1,
        }),
        None => Ok(()),
    }
}

fn check_key_format(key: &str) -> Result<(), MatriculeError> {
    if key.len() == KEY_LEN && key.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(MatriculeError::KeyFormat(key.to_string()))
    }
}

/// Outcome of the key check on a matricule returned by INSi.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyCheck {
    Valid,
    /// The returned key does not verify: kept, logged and shown, never refused
    /// (CNDA 2.08 cas 2, HERMANN GATIEN).
    Mismatch {
        expected: String,
    },
}

/// A matricule INS: 13-character number + 2-digit key. The format is always
/// valid; the key verifies unless the matricule came from INSi with a key
/// that does not ([`Matricule::from_insi`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "MatriculeFields")]
pub struct Matricule {
    number: String,
    key: String,
}

/// Stored form, checked on the way back in (format only, like INSi answers).
#[derive(Deserialize)]
struct MatriculeFields {
    number: String,
    key: String,
}

impl TryFrom<MatriculeFields> for Matricule {
    type Error = MatriculeError;

    fn try_from(f: MatriculeFields) -> Result<Self, Self::Error> {
        check_number(&f.number)?;
        check_key_format(&f.key)?;
        Ok(Matricule {
            number: f.number,
            key: f.key,
        })
    }
}

impl Matricule {
    /// Human or DataMatrix input: spaces ignored, `2a`/`2b` accepted, 15
    /// characters, and the key must verify.
    pub fn parse(input: &str) -> Result<Matricule, MatriculeError> {
        let compact: Vec<char> = input
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if compact.is_empty() {
            return Err(MatriculeError::Empty);
        }
        if compact.len() != NUMBER_LEN + KEY_LEN {
            return Err(MatriculeError::Length {
                expected: NUMBER_LEN + KEY_LEN,
                found: compact.len(),
            });
        }
        let number: String = compact[..NUMBER_LEN].iter().collect();
        let key: String = compact[NUMBER_LEN..].iter().collect();
        check_number(&number)?;
        check_key_format(&key)?;
        let matricule = Matricule { number, key };
        if matricule.key_is_valid() {
            Ok(matricule)
        } else {
            Err(MatriculeError::KeyMismatch)
        }
    }

    /// An INSi answer (`\d{6}[A-Za-z0-9]\d{6}` + `\d{2}`): the format must be
    /// valid, but a key that does not verify is reported, not refused
    /// (CNDA 2.08 cas 2: never reject an INSi answer on key mismatch).
    pub fn from_insi(number13: &str, key: &str) -> Result<(Matricule, KeyCheck), MatriculeError> {
        let number = number13.to_ascii_uppercase();
        let expected = format!("{:02}", nir_key(&number)?);
        check_key_format(key)?;
        let check = if expected == key {
            KeyCheck::Valid
        } else {
            KeyCheck::Mismatch { expected }
        };
        let matricule = Matricule {
            number,
            key: key.to_string(),
        };
        Ok((matricule, check))
    }

    /// The 13-character number, without its key.
    pub fn number(&self) -> &str {
        &self.number
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The 15 characters, number then key, without spaces.
    pub fn as_string(&self) -> String {
        format!("{}{}", self.number, self.key)
    }

    /// Display form, grouped as on the carte Vitale: `2 75 12 63 220 749 74`.
    pub fn formatted(&self) -> String {
        let n = &self.number;
        format!(
            "{} {} {} {} {} {} {}",
            &n[0..1],
            &n[1..3],
            &n[3..5],
            &n[5..7],
            &n[7..10],
            &n[10..13],
            self.key
        )
    }

    pub fn key_is_valid(&self) -> bool {
        nir_key(&self.number).is_ok_and(|k| format!("{k:02}") == self.key)
    }
}

/// The OIDs that type a matricule INS (research/ins.md §2, `ins_oids.csv`;
/// FR Core `FRCorePatientINSProfile`). `.11` is the *démonstration* NIR, not a
/// NIA. The obsolete INS-C (`.2`) is not an INS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InsOid {
    Nir,
    Nia,
    NirTest,
    NirDemo,
}

impl InsOid {
    pub const ALL: [InsOid; 4] = [InsOid::Nir, InsOid::Nia, InsOid::NirTest, InsOid::NirDemo];

    pub fn from_oid(oid: &str) -> Option<InsOid> {
        InsOid::ALL.into_iter().find(|o| o.oid() == oid)
    }

    pub fn oid(self) -> &'static str {
        match self {
            InsOid::Nir => "1.2.250.1.213.1.4.8",
            InsOid::Nia => "1.2.250.1.213.1.4.9",
            InsOid::NirTest => "1.2.250.1.213.1.4.10",
            InsOid::NirDemo => "1.2.250.1.213.1.4.11",
        }
    }

    pub fn type_label(self) -> &'static str {
        match self {
            InsOid::Nir => "INS-NIR",
            InsOid::Nia => "INS-NIA",
            InsOid::NirTest => "INS-NIR de test",
            InsOid::NirDemo => "INS-NIR de démonstration",
        }
    }

    /// A NIA is a waiting number (persons born abroad, awaiting a NIR).
    pub fn is_nia(self) -> bool {
        self == InsOid::Nia
    }
}

/// An INS: matricule + OID. Its type is the OID's, whatever the number looks like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ins {
    pub matricule: Matricule,
    pub oid: InsOid,
}

impl Ins {
    /// `INS-NIR 2 75 12 63 220 749 74`.
    pub fn display(&self) -> String {
        format!("{} {}", self.oid.type_label(), self.matricule.formatted())
    }
}

/// One INSHISTO entry, kept « à l'identique » (Guide INS EXI REC 07/08): OID
/// and dates are stored as returned, without reinterpretation (CNDA 2.04 cas 2
/// returns DateDeb > DateFin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsHistoryEntry {
    pub matricule: Matricule,
    pub oid: String,
    pub start: Option<String>,
    pub end: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::spec_table;

    const TEST_IDENTITIES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/spec/ins/insi/test_identities.csv"
    );
    const INS_OIDS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/spec/ins/ins_oids.csv"
    );

    #[test]
    fn key_of_every_test_identity_is_the_recomputed_key() {
        let Some(rows) = spec_table::load(TEST_IDENTITIES) else {
            return;
        };
        let mut checked = 0;
        for row in rows.iter().filter(|r| !r["num_identifiant_13"].is_empty()) {
            let number = &row["num_identifiant_13"];
            let key = nir_key(number).unwrap_or_else(|e| panic!("{}: {e}", row["case_id"]));
            assert_eq!(
                format!("{key:02}"),
                row["cle_recalculee_97"],
                "{}",
                row["case_id"]
            );
            checked += 1;
        }
        assert!(checked >= 10, "only {checked} identities with a matricule");
    }

    #[test]
    fn insi_answers_are_kept_and_key_mismatch_is_reported() {
        let Some(rows) = spec_table::load(TEST_IDENTITIES) else {
            return;
        };
        let mut mismatches = Vec::new();
        for row in rows.iter().filter(|r| !r["num_identifiant_13"].is_empty()) {
            let (number, key) = (&row["num_identifiant_13"], &row["cle"]);
            let (matricule, check) = Matricule::from_insi(number, key)
                .unwrap_or_else(|e| panic!("{}: {e}", row["case_id"]));
            assert_eq!(matricule.as_string(), format!("{number}{key}"));
            if *key == row["cle_recalculee_97"] {
                assert_eq!(check, KeyCheck::Valid, "{}", row["case_id"]);
                assert!(matricule.key_is_valid());
            } else {
                let expected = row["cle_recalculee_97"].clone();
                assert_eq!(check, KeyCheck::Mismatch { expected }, "{}", row["case_id"]);
                assert!(!matricule.key_is_valid());
                mismatches.push(row["case_id"].clone());
            }
        }
        assert_eq!(mismatches, ["HERMANN-GATIEN"]);
    }

    #[test]
    fn insi_history_of_test_identities_is_readable_even_with_wrong_keys() {
        let Some(rows) = spec_table::load(TEST_IDENTITIES) else {
            return;
        };
        let entries: Vec<(Matricule, KeyCheck)> = rows
            .iter()
            .flat_map(|r| r["inshisto"].split(';').map(str::trim))
            .filter(|e| !e.is_empty())
            .map(|e| {
                let (number, rest) = e.split_once('/').expect("number/key");
                Matricule::from_insi(number, &rest[..2]).unwrap_or_else(|err| panic!("{e}: {err}"))
            })
            .collect();
        assert_eq!(entries.len(), 5);
        let wrong: Vec<&str> = entries
            .iter()
            .filter(|(_, c)| *c != KeyCheck::Valid)
            .map(|(m, _)| m.number())
            .collect();
        assert_eq!(wrong, ["1810363220456", "2810363220456"]);
    }

    #[test]
    fn type_comes_from_the_returned_oid() {
        let Some(rows) = spec_table::load(TEST_IDENTITIES) else {
            return;
        };
        for row in rows.iter().filter(|r| !r["oid_retourne"].is_empty()) {
            let oid = InsOid::from_oid(&row["oid_retourne"])
                .unwrap_or_else(|| panic!("{}: unknown OID", row["case_id"]));
            let (matricule, _) =
                Matricule::from_insi(&row["num_identifiant_13"], &row["cle"]).unwrap();
            let ins = Ins { matricule, oid };
            let expected = match row["case_id"].as_str() {
                "ECETINSI-NIA-OID" | "PROVISOIRE-MATRICULE" => "INS-NIA",
                "PAT-TROIS-DOMINIQUE" => "INS-NIR de test",
                _ => "INS-NIR",
            };
            assert_eq!(oid.type_label(), expected, "{}", row["case_id"]);
            assert!(ins.display().starts_with(&format!("{expected} ")));
        }
    }

    #[test]
    fn oids_and_labels_match_the_oid_table() {
        let Some(rows) = spec_table::load(INS_OIDS) else {
            return;
        };
        for row in rows {
            match InsOid::from_oid(&row["oid"]) {
                Some(oid) => {
                    assert_eq!(oid.type_label(), row["name"]);
                    assert_eq!(oid.oid(), row["oid"]);
                }
                None => assert!(row["name"].contains("obsolete"), "{}", row["oid"]),
            }
        }
    }

    #[test]
    fn oids() {
        for oid in InsOid::ALL {
            assert_eq!(InsOid::from_oid(oid.oid()), Some(oid));
        }
        assert_eq!(
            InsOid::from_oid("1.2.250.1.213.1.4.11"),
            Some(InsOid::NirDemo)
        );
        assert_eq!(InsOid::NirDemo.type_label(), "INS-NIR de démonstration");
        assert!(!InsOid::NirDemo.is_nia());
        assert!(InsOid::Nia.is_nia());
        assert!(!InsOid::Nir.is_nia());
        assert_eq!(InsOid::from_oid("1.2.250.1.213.1.4.2"), None, "INS-C");
        assert_eq!(InsOid::from_oid("1.2.250.1.213.1.4.8 "), None);
        assert_eq!(InsOid::from_oid(""), None);
    }

    #[test]
    fn nia_oid_wins_over_a_nir_looking_number() {
        // CNDA 1.10
        let (matricule, check) = Matricule::from_insi("1090763220834", "89").unwrap();
        assert_eq!(check, KeyCheck::Valid);
        let ins = Ins {
            matricule,
            oid: InsOid::Nia,
        };
        assert_eq!(ins.display(), "INS-NIA 1 09 07 63 220 834 89");
    }

    #[test]
    fn keys() {
        assert_eq!(nir_key("2751263220749"), Ok(74));
        assert_eq!(nir_key("1810163220751"), Ok(40));
        assert_eq!(nir_key("297022A020778"), Ok(78));
        assert_eq!(nir_key("160012B020777"), Ok(13));
        assert_eq!(nir_key("180032B020401"), Ok(23));
        // n ≡ 0 (mod 97) gives 97, still two digits
        assert_eq!(nir_key("1000000000047"), Ok(97));
        // 97 − (n mod 97) is never 0
        assert_eq!(nir_key("1000000000048"), Ok(96));
    }

    #[test]
    fn corsica_is_only_2a_or_2b_at_the_department() {
        assert_eq!(nir_key("297022C020778"), Err(character('C', 7)));
        assert_eq!(nir_key("29702A2020778"), Err(character('A', 6)));
        assert_eq!(nir_key("297023A020778"), Err(character('A', 7)));
        assert_eq!(nir_key("2970220A20778"), Err(character('A', 8)));
        assert_eq!(nir_key("297022a020778"), Err(character('a', 7)));
    }

    fn character(character: char, position: usize) -> MatriculeError {
        MatriculeError::Character {
            character,
            position,
        }
    }

    #[test]
    fn number_format() {
        assert_eq!(nir_key(""), Err(MatriculeError::Empty));
        assert_eq!(
            nir_key("275126322074"),
            Err(MatriculeError::Length {
                expected: 13,
                found: 12
            })
        );
        assert_eq!(
            nir_key("27512632207490"),
            Err(MatriculeError::Length {
                expected: 13,
                found: 14
            })
        );
        assert_eq!(
            nir_key("0751263220749"),
            Err(MatriculeError::FirstCharacter('0'))
        );
        assert_eq!(
            nir_key("9751263220749"),
            Err(MatriculeError::FirstCharacter('9'))
        );
        assert_eq!(
            nir_key("A751263220749"),
            Err(MatriculeError::FirstCharacter('A'))
        );
        assert_eq!(nir_key("27512632207O9"), Err(character('O', 12)));
        assert_eq!(nir_key("2751263220 49"), Err(character(' ', 11)));
        assert_eq!(nir_key("2751263220é49"), Err(character('é', 11)));
        for first in '1'..='8' {
            assert!(nir_key(&format!("{first}751263220749")).is_ok());
        }
    }

    #[test]
    fn parse_accepts_spaces_and_lowercase_corsica() {
        let m = Matricule::parse(" 2 75 12 63 220 749 74 ").unwrap();
        assert_eq!(m.number(), "2751263220749");
        assert_eq!(m.key(), "74");
        assert_eq!(m.as_string(), "275126322074974");
        assert_eq!(m.formatted(), "2 75 12 63 220 749 74");
        assert!(m.key_is_valid());
        let corsica = Matricule::parse("2970 22a0 2077 878").unwrap();
        assert_eq!(corsica.as_string(), "297022A02077878");
        assert_eq!(corsica.formatted(), "2 97 02 2A 020 778 78");
        assert_eq!(
            Matricule::parse("1\t60012B020777\n13").unwrap().number(),
            "160012B020777"
        );
    }

    #[test]
    fn parse_refuses_a_wrong_key_and_bad_formats() {
        // ABAK fixture key 42 for ADRDEUX LAURENT does not verify (40 does)
        assert_eq!(
            Matricule::parse("181016322075142"),
            Err(MatriculeError::KeyMismatch)
        );
        assert_eq!(Matricule::parse("181016322075140").unwrap().key(), "40");
        assert_eq!(Matricule::parse("   "), Err(MatriculeError::Empty));
        assert_eq!(
            Matricule::parse("2751263220749"),
            Err(MatriculeError::Length {
                expected: 15,
                found: 13
            })
        );
        assert_eq!(
            Matricule::parse("2751263220749740"),
            Err(MatriculeError::Length {
                expected: 15,
                found: 16
            })
        );
        assert_eq!(
            Matricule::parse("27512632207497A"),
            Err(MatriculeError::KeyFormat("7A".into()))
        );
        assert_eq!(
            Matricule::parse("975126322074974"),
            Err(MatriculeError::FirstCharacter('9'))
        );
        assert_eq!(
            Matricule::parse("2-75-12-63-220-749-74"),
            Err(MatriculeError::Length {
                expected: 15,
                found: 21
            })
        );
    }

    #[test]
    fn from_insi_checks_format_but_not_key() {
        let (m, check) = Matricule::from_insi("1810363220456", "60").unwrap();
        assert_eq!(
            check,
            KeyCheck::Mismatch {
                expected: "76".into()
            }
        );
        assert_eq!(m.key(), "60");
        let (m, check) = Matricule::from_insi("297022a020778", "78").unwrap();
        assert_eq!(check, KeyCheck::Valid);
        assert_eq!(m.number(), "297022A020778");
        assert_eq!(
            Matricule::from_insi("1810363220456", "6"),
            Err(MatriculeError::KeyFormat("6".into()))
        );
        assert_eq!(
            Matricule::from_insi("1810363220456", "6O"),
            Err(MatriculeError::KeyFormat("6O".into()))
        );
        assert_eq!(
            Matricule::from_insi("181036322045", "60"),
            Err(MatriculeError::Length {
                expected: 13,
                found: 12
            })
        );
        assert_eq!(
            Matricule::from_insi(" 1810363220456", "60"),
            Err(MatriculeError::Length {
                expected: 13,
                found: 14
            })
        );
        assert_eq!(
            Matricule::from_insi("18103632X0456", "60"),
            Err(character('X', 9))
        );
    }

    #[test]
    fn serde_round_trip_keeps_a_mismatched_key_but_refuses_a_bad_format() {
        let (m, _) = Matricule::from_insi("1810363220456", "60").unwrap();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"number":"1810363220456","key":"60"}"#);
        assert_eq!(serde_json::from_str::<Matricule>(&json).unwrap(), m);
        let bad = r#"{"number":"181036322045X","key":"60"}"#;
        assert!(serde_json::from_str::<Matricule>(bad).is_err());
        let ins = Ins {
            matricule: m,
            oid: InsOid::NirDemo,
        };
        let back: Ins = serde_json::from_str(&serde_json::to_string(&ins).unwrap()).unwrap();
        assert_eq!(back, ins);
    }

    #[test]
    fn history_is_kept_as_returned() {
        // CNDA 2.04 cas 2: DateDeb after DateFin, kept as is
        let (matricule, _) = Matricule::from_insi("2090763220834", "39").unwrap();
        let entry = InsHistoryEntry {
            matricule,
            oid: "1.2.250.1.213.1.4.8".into(),
            start: Some("2019-03-01".into()),
            end: Some("2019-02-28".into()),
        };
        let json = serde_json::to_string(&entry).unwrap();
        let back: InsHistoryEntry = serde_json::from_str(&json).unwrap();
        assert_eq!(back, entry);
        assert_eq!(back.start.as_deref(), Some("2019-03-01"));
    }

    #[test]
    fn errors_tell_what_to_fix() {
        assert!(MatriculeError::KeyMismatch.to_string().contains("vérifiez"));
        assert!(character('C', 7).to_string().contains("2A ou 2B"));
        assert!(
            MatriculeError::FirstCharacter('9')
                .to_string()
                .contains("de 1 à 8")
        );
    }
}
