//! Lexical rules of the identity traits, at capture and at the INSi boundary.
//!
//! Two moments, never mixed (research/ins.md §1.8):
//! - at capture, [`normalise_capture`] rewrites what the operator typed and
//!   shows it back (`é → E`, `Œ → OE`, `’ → '`);
//! - just before calling INSi, the `check_*` validators refuse, without
//!   rewriting, whatever INSi would reject: the software must not call INSi
//!   with `D’ÆION` / `CŒUR` (CNDA 2.03 cas 3).
//!
//! Rules: SEL-MP-043 v05.00.01 §2 and §3.4.1 as quoted in research/ins.md §1.8.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Longest birth name sent to INSi (Escale's limit; the SEL-MP-043 maximum is
/// not quoted in research/ins.md).
pub const BIRTH_NAME_MAX: usize = 100;

const LIGATURE_HINT: &str = "les ligatures et les apostrophes typographiques doivent être remplacées : Æ → AE, Œ → OE, ’ → '";

/// The identity trait a lexical error is about, with its French label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    BirthName,
    FirstName,
    FirstNames,
    Sex,
    BirthDate,
    BirthPlace,
}

impl Field {
    pub fn label(self) -> &'static str {
        match self {
            Field::BirthName => "nom de naissance",
            Field::FirstName => "prénom",
            Field::FirstNames => "liste des prénoms",
            Field::Sex => "sexe",
            Field::BirthDate => "date de naissance",
            Field::BirthPlace => "lieu de naissance",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Character sequences INSi refuses (SEL-MP-043 §3.4.1 EF_INS10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sequence {
    DoubleSpace,
    DoubleApostrophe,
    SpaceApostrophe,
    ApostropheSpace,
    /// `--` is the « double nom » separator since 2005, `---` is not.
    TripleHyphen,
    /// Only a birth name may hold `--`.
    DoubleHyphen,
}

impl Sequence {
    fn text(self) -> &'static str {
        match self {
            Sequence::DoubleSpace => "  ",
            Sequence::DoubleApostrophe => "''",
            Sequence::SpaceApostrophe => " '",
            Sequence::ApostropheSpace => "' ",
            Sequence::TripleHyphen => "---",
            Sequence::DoubleHyphen => "--",
        }
    }
}

impl fmt::Display for Sequence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sequence::DoubleSpace => "double espace : une seule espace entre deux mots",
            Sequence::DoubleApostrophe => "double apostrophe : une seule apostrophe",
            Sequence::SpaceApostrophe | Sequence::ApostropheSpace => {
                "espace accolée à une apostrophe : retirez l'espace (D'ARTAGNAN)"
            }
            Sequence::TripleHyphen => {
                "triple trait d'union : deux au plus, pour séparer un double nom (MARTIN--DUPONT)"
            }
            Sequence::DoubleHyphen => {
                "double trait d'union : réservé au nom de naissance, un prénom composé prend un seul trait d'union (JEAN-LUC)"
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LexicalError {
    #[error("{field} : champ obligatoire pour interroger INSi, renseignez-le")]
    Empty { field: Field },
    #[error("{field} : {length} caractères, {max} au plus pour INSi ; raccourcissez la saisie")]
    TooLong {
        field: Field,
        length: usize,
        max: usize,
    },
    #[error("{field} : caractère « {character} » non admis (position {position}) ; {hint}")]
    ForbiddenCharacter {
        field: Field,
        character: char,
        position: usize,
        hint: &'static str,
    },
    #[error("{field} : ne peut pas commencer par {}, retirez ce caractère", char_name(.character))]
    ForbiddenStart { field: Field, character: char },
    #[error("{field} : ne peut pas se terminer par {}, retirez ce caractère", char_name(.character))]
    ForbiddenEnd { field: Field, character: char },
    #[error("{field} : séquence non admise en position {position}, {sequence}")]
    ForbiddenSequence {
        field: Field,
        sequence: Sequence,
        position: usize,
    },
    #[error(
        "sexe « {0} » non admis : INSi ne connaît que F (féminin) ou M (masculin), en majuscule ; le sexe indéterminé (I) ne peut pas lui être transmis"
    )]
    SexNotForInsi(String),
    #[error("date de naissance « {0} » : saisissez-la au format AAAA-MM-JJ (ex. 1981-01-01)")]
    BirthDateFormat(String),
    #[error(
        "date de naissance « {0} » : cette date n'existe pas au calendrier ; vérifiez le jour et le mois (une date incomplète se complète selon le Guide INS EXI ID 11-12)"
    )]
    NotACalendarDate(String),
    #[error(
        "lieu de naissance « {0} » : saisissez le code COG sur 5 caractères (commune : 5 chiffres, ou 2A/2B et 3 chiffres pour la Corse ; né à l'étranger : 99 et le code pays)"
    )]
    BirthPlaceFormat(String),
    #[error(
        "lieu de naissance « 99100 » : c'est le code de la France en tant que pays ; pour une naissance en France, saisissez le code COG de la commune de naissance"
    )]
    FranceAsCountry,
}

impl LexicalError {
    /// The trait the error is about, e.g. to show it next to the form field.
    pub fn field(&self) -> Field {
        match self {
            LexicalError::Empty { field }
            | LexicalError::TooLong { field, .. }
            | LexicalError::ForbiddenCharacter { field, .. }
            | LexicalError::ForbiddenStart { field, .. }
            | LexicalError::ForbiddenEnd { field, .. }
            | LexicalError::ForbiddenSequence { field, .. } => *field,
            LexicalError::SexNotForInsi(_) => Field::Sex,
            LexicalError::BirthDateFormat(_) | LexicalError::NotACalendarDate(_) => {
                Field::BirthDate
            }
            LexicalError::BirthPlaceFormat(_) | LexicalError::FranceAsCountry => Field::BirthPlace,
        }
    }
}

fn char_name(c: &char) -> &'static str {
    match c {
        ' ' => "une espace",
        '-' => "un trait d'union",
        '\'' => "une apostrophe",
        _ => "ce caractère",
    }
}

// ---------------------------------------------------------------------------
// Capture: visible normalisation
// ---------------------------------------------------------------------------

/// What the reception form shows back after typing: upper case, no diacritics,
/// ligatures spelled out, typographic apostrophes and dashes replaced, single
/// spaces, no space around hyphens and apostrophes (research/ins.md §1.8:
/// normalise at capture, visible to the operator). Characters it cannot map
/// are left as they are, for the validators to refuse with a clear message.
pub fn normalise_capture(input: &str) -> String {
    let mut mapped = String::with_capacity(input.len());
    for c in input.to_uppercase().chars() {
        push_captured(c, &mut mapped);
    }
    let single_spaced = mapped.split_whitespace().collect::<Vec<_>>().join(" ");
    without_spaces_around_joiners(&single_spaced)
}

/// The birth first names as a list: normalised, split on spaces or commas.
pub fn normalise_first_names(input: &str) -> Vec<String> {
    normalise_capture(&input.replace(',', " "))
        .split(' ')
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect()
}

/// One upper-cased character, as captured.
fn push_captured(c: char, out: &mut String) {
    match c {
        c if is_typographic_apostrophe(c) => out.push('\''),
        c if is_typographic_dash(c) => out.push('-'),
        'Œ' => out.push_str("OE"),
        'Æ' => out.push_str("AE"),
        c if c.is_whitespace() => out.push(' '),
        c if is_combining_diacritic(c) => {}
        c => out.push(without_diacritic(c)),
    }
}

fn is_typographic_apostrophe(c: char) -> bool {
    matches!(c, '\u{2019}' | '\u{2018}' | '\u{02BC}' | '\u{00B4}' | '`')
}

fn is_typographic_dash(c: char) -> bool {
    matches!(c, '\u{2010}' | '\u{2013}' | '\u{2014}')
}

/// Combining diacritical marks (U+0300–U+036F), as left by decomposed input.
fn is_combining_diacritic(c: char) -> bool {
    ('\u{0300}'..='\u{036F}').contains(&c)
}

/// Latin letters beyond ASCII: Latin-1, Extended-A/B, Extended Additional.
fn is_accented_latin_letter(c: char) -> bool {
    c.is_alphabetic()
        && (('\u{00C0}'..='\u{024F}').contains(&c) || ('\u{1E00}'..='\u{1EFF}').contains(&c))
}

/// `É → E`, `Ç → C`: only when the letter is one base letter plus a
/// diacritic; `ß`, `Þ` or non-Latin letters are left alone (nothing invented).
fn without_diacritic(c: char) -> char {
    if !is_accented_latin_letter(c) {
        return c;
    }
    match deunicode::deunicode_char(c).map(str::as_bytes) {
        Some(&[base]) if base.is_ascii_alphabetic() => char::from(base.to_ascii_uppercase()),
        _ => c,
    }
}

/// `D' ARTAGNAN → D'ARTAGNAN`, `JEAN - PIERRE → JEAN-PIERRE`.
fn without_spaces_around_joiners(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let joiner = |i: Option<usize>| {
        i.and_then(|i| chars.get(i))
            .is_some_and(|c| matches!(c, '-' | '\''))
    };
    chars
        .iter()
        .enumerate()
        .filter(|&(i, &c)| !(c == ' ' && (joiner(i.checked_sub(1)) || joiner(Some(i + 1)))))
        .map(|(_, &c)| c)
        .collect()
}

// ---------------------------------------------------------------------------
// INSi boundary: strict validation, no rewriting
// ---------------------------------------------------------------------------

/// Birth name as INSi accepts it (SEL-MP-043 §3.4.1 EF_INS10_01/02): `A–Z`,
/// space, apostrophe (0x27), hyphen; not starting with a space or hyphen
/// (apostrophe allowed first); not ending with space, hyphen or apostrophe; no
/// `  `, `''`, ` '`, `' `; `--` allowed (double nom) but not `---`.
pub fn check_birth_name(name: &str) -> Result<(), LexicalError> {
    let field = Field::BirthName;
    check_not_empty(name, field)?;
    check_length(name, field, BIRTH_NAME_MAX)?;
    check_characters(name, field, |c| matches!(c, 'A'..='Z' | ' ' | '\'' | '-'))?;
    check_first_char(name, field, &[' ', '-'])?;
    check_last_char(name, field, &[' ', '-', '\''])?;
    check_sequences(
        name,
        field,
        &[
            Sequence::DoubleSpace,
            Sequence::DoubleApostrophe,
            Sequence::SpaceApostrophe,
            Sequence::ApostropheSpace,
            Sequence::TripleHyphen,
        ],
    )
}

/// One first name (SEL-MP-043 §3.4.1; [SAPA] `^[A-Z\-']+$`): `A–Z`, hyphen,
/// apostrophe; no space, no `--` nor `''`; neither first nor last character a
/// hyphen or an apostrophe.
pub fn check_first_name(name: &str) -> Result<(), LexicalError> {
    let field = Field::FirstName;
    check_not_empty(name, field)?;
    check_characters(name, field, |c| matches!(c, 'A'..='Z' | '\'' | '-'))?;
    check_first_char(name, field, &['-', '\''])?;
    check_last_char(name, field, &['-', '\''])?;
    check_sequences(
        name,
        field,
        &[Sequence::DoubleHyphen, Sequence::DoubleApostrophe],
    )
}

/// The list of birth first names, separated by single spaces (INSi
/// `ListePrenom`), each one checked by [`check_first_name`].
pub fn check_first_names_list(list: &str) -> Result<(), LexicalError> {
    let field = Field::FirstNames;
    check_not_empty(list, field)?;
    check_first_char(list, field, &[' '])?;
    check_last_char(list, field, &[' '])?;
    check_sequences(list, field, &[Sequence::DoubleSpace])?;
    list.split(' ').try_for_each(check_first_name)
}

/// INSi knows only `F` and `M` (SEL-MP-043 EF_INS25_04; INSi never returns `I`).
pub fn check_sex(sex: &str) -> Result<(), LexicalError> {
    match sex {
        "" => Err(LexicalError::Empty { field: Field::Sex }),
        "F" | "M" => Ok(()),
        other => Err(LexicalError::SexNotForInsi(other.to_string())),
    }
}

/// Strict `AAAA-MM-JJ` (INSi `DateLunaire` pattern `\d{4}-\d{2}-\d{2}`), and a
/// real calendar date: incomplete dates are completed beforehand (Guide INS EXI
/// ID 11-12).
pub fn check_birth_date(date: &str) -> Result<(), LexicalError> {
    if date.is_empty() {
        return Err(LexicalError::Empty {
            field: Field::BirthDate,
        });
    }
    let b = date.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shaped {
        return Err(LexicalError::BirthDateFormat(date.to_string()));
    }
    let number = |range: std::ops::Range<usize>| date[range].parse::<u32>().unwrap_or(0);
    match NaiveDate::from_ymd_opt(number(0..4) as i32, number(5..7), number(8..10)) {
        Some(_) => Ok(()),
        None => Err(LexicalError::NotACalendarDate(date.to_string())),
    }
}

/// A birth place COG code as INSi accepts it (research/ins.md §3.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BirthPlace {
    /// COG commune code valid at the date of birth (5 digits, or 2A/2B + 3).
    Commune(String),
    /// `99xxx`: COG country code, for a birth abroad.
    Abroad(String),
    /// `99999`: allowed, but warn (FR Core PR #262).
    Unknown,
}

impl BirthPlace {
    /// The COG code as sent to INSi.
    pub fn code(&self) -> &str {
        match self {
            BirthPlace::Commune(code) | BirthPlace::Abroad(code) => code,
            BirthPlace::Unknown => UNKNOWN_PLACE,
        }
    }

    /// What to tell the operator even though the code is accepted.
    pub fn warning(&self) -> Option<&'static str> {
        match self {
            BirthPlace::Unknown => Some(
                "lieu de naissance inconnu (99999) : admis pour interroger INSi, mais à compléter dès que possible (une identité validée avec 99999 est signalée)",
            ),
            _ => None,
        }
    }
}

/// COG of an unknown birth place.
const UNKNOWN_PLACE: &str = "99999";
/// COG country code of France: not a substitute for a French commune code.
const FRANCE_AS_COUNTRY: &str = "99100";

/// 5 characters: digits, or `2A`/`2B` + 3 digits (Corsica). `99999` is
/// accepted with a warning, `99100` refused.
pub fn check_birth_place(code: &str) -> Result<BirthPlace, LexicalError> {
    let b = code.as_bytes();
    let corsica = b.len() == 5 && b[0] == b'2' && matches!(b[1], b'A' | b'B');
    let digits_from = if corsica { 2 } else { 0 };
    if b.len() != 5 || !b[digits_from..].iter().all(u8::is_ascii_digit) {
        return Err(LexicalError::BirthPlaceFormat(code.to_string()));
    }
    match code {
        UNKNOWN_PLACE => Ok(BirthPlace::Unknown),
        FRANCE_AS_COUNTRY => Err(LexicalError::FranceAsCountry),
        abroad if abroad.starts_with("99") => Ok(BirthPlace::Abroad(abroad.to_string())),
        commune => Ok(BirthPlace::Commune(commune.to_string())),
    }
}

/// Every lexical error of the traits about to be sent to INSi: when the result
/// is `Err`, INSi must not be called (CNDA 2.03 cas 3). The birth place is
/// optional for the call ([NOTE] §8 in research/ins.md §3.3).
pub fn check_traits_for_insi(
    birth_name: &str,
    first_names: &[String],
    sex: &str,
    birth_date: &str,
    birth_place: Option<&str>,
) -> Result<(), Vec<LexicalError>> {
    let mut errors: Vec<LexicalError> = Vec::new();
    errors.extend(check_birth_name(birth_name).err());
    if first_names.is_empty() {
        errors.push(LexicalError::Empty {
            field: Field::FirstNames,
        });
    }
    errors.extend(first_names.iter().filter_map(|n| check_first_name(n).err()));
    errors.extend(check_sex(sex).err());
    errors.extend(check_birth_date(birth_date).err());
    errors.extend(birth_place.and_then(|p| check_birth_place(p).err()));
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn check_not_empty(text: &str, field: Field) -> Result<(), LexicalError> {
    if text.is_empty() {
        Err(LexicalError::Empty { field })
    } else {
        Ok(())
    }
}

fn check_length(text: &str, field: Field, max: usize) -> Result<(), LexicalError> {
    let length = text.chars().count();
    if length > max {
        Err(LexicalError::TooLong { field, length, max })
    } else {
        Ok(())
    }
}

fn check_characters(
    text: &str,
    field: Field,
    allowed: impl Fn(char) -> bool,
) -> Result<(), LexicalError> {
    match text.chars().enumerate().find(|&(_, c)| !allowed(c)) {
        Some((i, character)) => Err(LexicalError::ForbiddenCharacter {
            field,
            character,
            position: i + 1,
            hint: character_hint(character, field),
        }),
        None => Ok(()),
    }
}

/// How to fix a refused character.
fn character_hint(c: char, field: Field) -> &'static str {
    match c {
        'a'..='z' => "saisissez le texte en majuscules",
        'Œ' | 'œ' | 'Æ' | 'æ' => LIGATURE_HINT,
        c if is_typographic_apostrophe(c) => LIGATURE_HINT,
        c if is_typographic_dash(c) => {
            "remplacez le tiret typographique par le trait d'union : – → -"
        }
        ' ' if field == Field::FirstName => {
            "un prénom ne contient pas d'espace : saisissez chaque prénom séparément"
        }
        c if is_accented_latin_letter(c) || is_combining_diacritic(c) => {
            "retirez les accents et signes diacritiques : É → E, Ç → C, Ü → U"
        }
        _ if field == Field::FirstName => {
            "seuls les lettres A à Z sans accent, l'apostrophe ' et le trait d'union - sont admis par INSi"
        }
        _ => {
            "seuls les lettres A à Z sans accent, l'espace, l'apostrophe ' et le trait d'union - sont admis par INSi"
        }
    }
}

fn check_first_char(text: &str, field: Field, refused: &[char]) -> Result<(), LexicalError> {
    match text.chars().next() {
        Some(character) if refused.contains(&character) => {
            Err(LexicalError::ForbiddenStart { field, character })
        }
        _ => Ok(()),
    }
}

fn check_last_char(text: &str, field: Field, refused: &[char]) -> Result<(), LexicalError> {
    match text.chars().last() {
        Some(character) if refused.contains(&character) => {
            Err(LexicalError::ForbiddenEnd { field, character })
        }
        _ => Ok(()),
    }
}

/// The leftmost refused sequence, if any.
fn check_sequences(text: &str, field: Field, refused: &[Sequence]) -> Result<(), LexicalError> {
    let found = refused
        .iter()
        .filter_map(|&s| text.find(s.text()).map(|at| (at, s)))
        .min_by_key(|&(at, _)| at);
    match found {
        Some((at, sequence)) => Err(LexicalError::ForbiddenSequence {
            field,
            sequence,
            position: text[..at].chars().count() + 1,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::spec_table;

    const LEXICAL_CASES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/spec/ins/insi/lexical_cases.csv"
    );
    const TEST_IDENTITIES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/spec/ins/insi/test_identities.csv"
    );

    /// The validator of a `lexical_cases.csv` field: `Ok(Some(warning))` for
    /// an accepted value that warns.
    fn validate(field: &str, input: &str) -> Result<Option<&'static str>, LexicalError> {
        match field {
            "NomNaissance" => check_birth_name(input).map(|_| None),
            "Prenom" => check_first_name(input).map(|_| None),
            "Sexe" => check_sex(input).map(|_| None),
            "DateNaissance" => check_birth_date(input).map(|_| None),
            "LieuNaissance" => check_birth_place(input).map(|p| p.warning()),
            other => panic!("lexical_cases.csv: unknown field {other}: add its validator"),
        }
    }

    #[test]
    fn every_lexical_case_of_the_spec_table() {
        let Some(rows) = spec_table::load(LEXICAL_CASES) else {
            return;
        };
        assert!(rows.len() >= 30, "only {} lexical cases", rows.len());
        for row in &rows {
            let input = match row["input"].as_str() {
                "(empty)" => "",
                other => other,
            };
            let case = format!("{} {:?} ({})", row["field"], input, row["reason"]);
            match (
                row["valid_for_insi"].as_str(),
                validate(&row["field"], input),
            ) {
                ("yes", Ok(None)) | ("no", Err(_)) => {}
                ("warn", Ok(Some(_))) => {
                    assert_eq!(check_birth_place(input), Ok(BirthPlace::Unknown), "{case}");
                }
                (expected, got) => panic!("{case}: expected {expected}, got {got:?}"),
            }
        }
    }

    #[test]
    fn test_identities_are_sendable_except_the_no_call_case() {
        let Some(rows) = spec_table::load(TEST_IDENTITIES) else {
            return;
        };
        for row in &rows {
            // "PIERRE | PAUL | …" lists alternative queries; "(liste: …)" is a note
            let sent = row["prenoms_envoyes"]
                .split(['|', '('])
                .next()
                .unwrap_or("");
            let first_names: Vec<String> = sent.split_whitespace().map(str::to_string).collect();
            let place = Some(row["lieu_naissance_envoye"].as_str()).filter(|p| !p.is_empty());
            let result = check_traits_for_insi(
                &row["nom_naissance"],
                &first_names,
                &row["sexe"],
                &row["date_naissance"],
                place,
            );
            if row["code_cr_attendu"] == "NO_CALL" {
                let errors = result.expect_err(&row["case_id"]);
                assert_eq!(errors.len(), 2, "{errors:?}");
                assert_eq!(errors[0].field(), Field::BirthName);
                assert_eq!(errors[1].field(), Field::FirstName);
            } else {
                assert_eq!(result, Ok(()), "{}", row["case_id"]);
            }
        }
    }

    #[test]
    fn capture_normalises_visibly() {
        assert_eq!(normalise_capture("d’æion"), "D'AEION");
        assert_eq!(normalise_capture("Cœur"), "COEUR");
        assert_eq!(normalise_capture("élodie  marie"), "ELODIE MARIE");
        assert_eq!(normalise_capture("  François\u{a0}Ç ü  "), "FRANCOIS C U");
        assert_eq!(normalise_capture("D' ARTAGNAN"), "D'ARTAGNAN");
        assert_eq!(normalise_capture("d ‘ artagnan"), "D'ARTAGNAN");
        assert_eq!(normalise_capture("jean – pierre"), "JEAN-PIERRE");
        assert_eq!(normalise_capture("martin—dupont"), "MARTIN-DUPONT");
        assert_eq!(normalise_capture("martin‐‐dupont"), "MARTIN--DUPONT");
        assert_eq!(
            normalise_capture("o´neill o`hara oʼbrien"),
            "O'NEILL O'HARA O'BRIEN"
        );
        assert_eq!(normalise_capture("LÆTITIA"), "LAETITIA");
        assert_eq!(normalise_capture("\tHélène\n"), "HELENE");
        // decomposed input: e + combining acute
        assert_eq!(normalise_capture("Ele\u{301}onore"), "ELEONORE");
        assert_eq!(normalise_capture("Łukasz Øster Ðuro"), "LUKASZ OSTER DURO");
        assert_eq!(normalise_capture(""), "");
        assert_eq!(normalise_capture("   "), "");
    }

    #[test]
    fn capture_invents_nothing() {
        assert_eq!(normalise_capture("dupont+martin"), "DUPONT+MARTIN");
        assert_eq!(normalise_capture("Þór"), "ÞOR");
        assert_eq!(normalise_capture("Иван"), "ИВАН");
        assert_eq!(normalise_capture("o'neill 2"), "O'NEILL 2");
        assert!(check_birth_name(&normalise_capture("Иван")).is_err());
        assert!(check_birth_name(&normalise_capture("dupont+martin")).is_err());
    }

    #[test]
    fn normalised_capture_then_passes_the_validators() {
        for raw in [
            "d’æion",
            "Cœur",
            "élodie  marie",
            "d' artagnan de l’hérault",
            " Müller–Lüdenscheidt ",
        ] {
            let name = normalise_capture(raw);
            assert_eq!(check_birth_name(&name), Ok(()), "{raw} → {name}");
        }
        assert_eq!(check_first_name(&normalise_capture("cœur")), Ok(()));
        assert_eq!(
            check_first_names_list(&normalise_capture("élodie  marie")),
            Ok(())
        );
    }

    #[test]
    fn raw_typographic_input_is_refused_without_calling_insi() {
        // CNDA 2.03 cas 3
        let name = check_birth_name("D’ÆION").unwrap_err();
        assert_eq!(
            name,
            LexicalError::ForbiddenCharacter {
                field: Field::BirthName,
                character: '’',
                position: 2,
                hint: LIGATURE_HINT
            }
        );
        let first = check_first_name("CŒUR").unwrap_err();
        assert!(matches!(
            first,
            LexicalError::ForbiddenCharacter {
                character: 'Œ',
                position: 2,
                ..
            }
        ));
        assert_eq!(
            first.to_string(),
            "prénom : caractère « Œ » non admis (position 2) ; les ligatures et les apostrophes typographiques doivent être remplacées : Æ → AE, Œ → OE, ’ → '"
        );
        assert!(
            check_birth_name("DÆION")
                .unwrap_err()
                .to_string()
                .contains("« Æ »")
        );
        let all =
            check_traits_for_insi("D’ÆION", &["CŒUR".into()], "M", "1987-01-01", Some("2B020"));
        assert_eq!(all.unwrap_err().len(), 2);
    }

    #[test]
    fn first_names_are_split_on_spaces_and_commas() {
        assert_eq!(normalise_first_names("élodie  marie"), ["ELODIE", "MARIE"]);
        assert_eq!(
            normalise_first_names("Pierre-Alain, Muriel,Floriant "),
            ["PIERRE-ALAIN", "MURIEL", "FLORIANT"]
        );
        assert_eq!(
            normalise_first_names("jean - luc , marie"),
            ["JEAN-LUC", "MARIE"]
        );
        assert!(normalise_first_names(" , ").is_empty());
        assert!(normalise_first_names("").is_empty());
    }

    fn sequence(field: Field, sequence: Sequence, position: usize) -> LexicalError {
        LexicalError::ForbiddenSequence {
            field,
            sequence,
            position,
        }
    }

    #[test]
    fn birth_names() {
        let field = Field::BirthName;
        let longest = "A".repeat(BIRTH_NAME_MAX);
        for ok in [
            "ADRDEUX",
            "D'ARTAGNAN DE L'HERAULT",
            "DE VINCI",
            "PATB-QUATRE",
            "MARTIN--DUPONT",
            "'T HOOFT",
            "O",
            &longest,
        ] {
            assert_eq!(check_birth_name(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_birth_name(""), Err(LexicalError::Empty { field }));
        assert_eq!(
            check_birth_name(&"A".repeat(101)),
            Err(LexicalError::TooLong {
                field,
                length: 101,
                max: 100
            })
        );
        assert_eq!(
            check_birth_name(" DUPONT"),
            Err(LexicalError::ForbiddenStart {
                field,
                character: ' '
            })
        );
        assert_eq!(
            check_birth_name("-DUPONT"),
            Err(LexicalError::ForbiddenStart {
                field,
                character: '-'
            })
        );
        for end in [' ', '-', '\''] {
            assert_eq!(
                check_birth_name(&format!("DUPONT{end}")),
                Err(LexicalError::ForbiddenEnd {
                    field,
                    character: end
                })
            );
        }
        assert_eq!(
            check_birth_name("DUPONT  MARTIN"),
            Err(sequence(field, Sequence::DoubleSpace, 7))
        );
        assert_eq!(
            check_birth_name("L''HERAULT"),
            Err(sequence(field, Sequence::DoubleApostrophe, 2))
        );
        assert_eq!(
            check_birth_name("L' HERAULT"),
            Err(sequence(field, Sequence::ApostropheSpace, 2))
        );
        assert_eq!(
            check_birth_name("DE 'HERAULT"),
            Err(sequence(field, Sequence::SpaceApostrophe, 3))
        );
        assert_eq!(
            check_birth_name("MARTIN---DUPONT"),
            Err(sequence(field, Sequence::TripleHyphen, 7))
        );
        // leftmost problem first
        assert_eq!(
            check_birth_name("A  B''C"),
            Err(sequence(field, Sequence::DoubleSpace, 2))
        );
    }

    #[test]
    fn refused_characters_are_named_with_a_hint() {
        let err = |text: &str| match check_birth_name(text) {
            Err(LexicalError::ForbiddenCharacter {
                character,
                position,
                hint,
                ..
            }) => (character, position, hint),
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(
            err("ADRDEUXa"),
            ('a', 8, "saisissez le texte en majuscules")
        );
        assert!(err("ADRDEUXé").2.contains("accents"));
        assert!(err("ADRDEUXE\u{301}").2.contains("accents"));
        assert!(err("ADRD+EUX").2.contains("l'espace, l'apostrophe"));
        assert!(err("MARTIN–DUPONT").2.contains("trait d'union"));
        assert_eq!(err("DUPONT\tMARTIN").1, 7);
        assert_eq!(err("ÉLODIE").1, 1, "positions count characters, not bytes");
        assert_eq!(
            check_birth_name("ADRD+EUX").unwrap_err().to_string(),
            "nom de naissance : caractère « + » non admis (position 5) ; seuls les lettres A à Z sans accent, l'espace, l'apostrophe ' et le trait d'union - sont admis par INSi"
        );
    }

    #[test]
    fn first_names() {
        let field = Field::FirstName;
        for ok in ["PIERRE-ALAIN", "LAURENT", "D'ARTAGNAN", "Z"] {
            assert_eq!(check_first_name(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_first_name(""), Err(LexicalError::Empty { field }));
        assert_eq!(
            check_first_name("JEAN--LUC"),
            Err(sequence(field, Sequence::DoubleHyphen, 5))
        );
        assert_eq!(
            check_first_name("JEAN''LUC"),
            Err(sequence(field, Sequence::DoubleApostrophe, 5))
        );
        assert_eq!(
            check_first_name("JEAN-"),
            Err(LexicalError::ForbiddenEnd {
                field,
                character: '-'
            })
        );
        assert_eq!(
            check_first_name("JEAN'"),
            Err(LexicalError::ForbiddenEnd {
                field,
                character: '\''
            })
        );
        assert_eq!(
            check_first_name("-JEAN"),
            Err(LexicalError::ForbiddenStart {
                field,
                character: '-'
            })
        );
        assert_eq!(
            check_first_name("'JEAN"),
            Err(LexicalError::ForbiddenStart {
                field,
                character: '\''
            })
        );
        match check_first_name("JEAN LUC") {
            Err(LexicalError::ForbiddenCharacter {
                character: ' ',
                position: 5,
                hint,
                ..
            }) => {
                assert!(hint.contains("chaque prénom séparément"))
            }
            other => panic!("{other:?}"),
        }
        assert!(
            check_first_name("LAUR+ENT")
                .unwrap_err()
                .to_string()
                .contains("l'apostrophe ' et")
        );
    }

    #[test]
    fn first_names_lists() {
        let field = Field::FirstNames;
        assert_eq!(
            check_first_names_list("PIERRE-ALAIN MURIEL FLORIANT"),
            Ok(())
        );
        assert_eq!(check_first_names_list("CATARINA"), Ok(()));
        assert_eq!(
            check_first_names_list(""),
            Err(LexicalError::Empty { field })
        );
        assert_eq!(
            check_first_names_list("OLA  BELLA"),
            Err(sequence(field, Sequence::DoubleSpace, 4))
        );
        assert_eq!(
            check_first_names_list(" OLA"),
            Err(LexicalError::ForbiddenStart {
                field,
                character: ' '
            })
        );
        assert_eq!(
            check_first_names_list("OLA "),
            Err(LexicalError::ForbiddenEnd {
                field,
                character: ' '
            })
        );
        assert_eq!(
            check_first_names_list("OLA JEAN--LUC"),
            Err(sequence(Field::FirstName, Sequence::DoubleHyphen, 5))
        );
        assert!(check_first_names_list("OLA CŒUR").is_err());
    }

    #[test]
    fn sexes() {
        assert_eq!(check_sex("M"), Ok(()));
        assert_eq!(check_sex("F"), Ok(()));
        assert_eq!(
            check_sex(""),
            Err(LexicalError::Empty { field: Field::Sex })
        );
        for refused in ["I", "m", "f", "A", " M", "MF"] {
            assert_eq!(
                check_sex(refused),
                Err(LexicalError::SexNotForInsi(refused.into()))
            );
        }
        assert!(
            check_sex("I")
                .unwrap_err()
                .to_string()
                .contains("que F (féminin) ou M (masculin)")
        );
    }

    #[test]
    fn birth_dates() {
        for ok in ["1981-01-01", "2000-02-29", "1907-05-25", "1975-12-31"] {
            assert_eq!(check_birth_date(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            check_birth_date(""),
            Err(LexicalError::Empty {
                field: Field::BirthDate
            })
        );
        for bad in [
            "01/01/1981",
            "1981-1-01",
            "1981/01/01",
            "19810101",
            " 1981-01-01",
            "1981-01-01T00:00",
            "198a-01-01",
            "+981-01-01",
        ] {
            assert_eq!(
                check_birth_date(bad),
                Err(LexicalError::BirthDateFormat(bad.into())),
                "{bad}"
            );
        }
        for unreal in [
            "1981-13-01",
            "1981-00-10",
            "1981-01-00",
            "1900-02-29",
            "1981-04-31",
        ] {
            assert_eq!(
                check_birth_date(unreal),
                Err(LexicalError::NotACalendarDate(unreal.into())),
                "{unreal}"
            );
        }
    }

    #[test]
    fn birth_places() {
        assert_eq!(
            check_birth_place("63220"),
            Ok(BirthPlace::Commune("63220".into()))
        );
        assert_eq!(
            check_birth_place("2A020"),
            Ok(BirthPlace::Commune("2A020".into()))
        );
        assert_eq!(check_birth_place("2B020").unwrap().code(), "2B020");
        assert_eq!(
            check_birth_place("99134"),
            Ok(BirthPlace::Abroad("99134".into()))
        );
        assert_eq!(check_birth_place("99999"), Ok(BirthPlace::Unknown));
        assert_eq!(BirthPlace::Unknown.code(), "99999");
        assert!(BirthPlace::Unknown.warning().unwrap().contains("99999"));
        assert_eq!(BirthPlace::Abroad("99134".into()).warning(), None);
        assert_eq!(
            check_birth_place("99100"),
            Err(LexicalError::FranceAsCountry)
        );
        assert!(
            LexicalError::FranceAsCountry
                .to_string()
                .contains("code COG de la commune")
        );
        for bad in [
            "", "6322", "632200", "2a020", "2C020", "2AB20", "A2020", "63 20", "63220 ",
        ] {
            assert_eq!(
                check_birth_place(bad),
                Err(LexicalError::BirthPlaceFormat(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn traits_errors_are_all_collected() {
        assert_eq!(
            check_traits_for_insi("ADRUN", &["ZOE".into()], "F", "1975-12-31", None),
            Ok(())
        );
        assert_eq!(
            check_traits_for_insi(
                "ECETINSI",
                &["PIERRE-ALAIN".into(), "MURIEL".into()],
                "M",
                "2009-07-14",
                Some("99999")
            ),
            Ok(()),
            "99999 warns but does not block"
        );
        let errors = check_traits_for_insi("", &[], "I", "14/07/2009", Some("99100")).unwrap_err();
        let fields: Vec<Field> = errors.iter().map(LexicalError::field).collect();
        assert_eq!(
            fields,
            [
                Field::BirthName,
                Field::FirstNames,
                Field::Sex,
                Field::BirthDate,
                Field::BirthPlace
            ]
        );
        let errors = check_traits_for_insi(
            "DUPONT",
            &["JEAN".into(), "LUC-".into(), "é".into()],
            "M",
            "1981-01-01",
            None,
        )
        .unwrap_err();
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn messages_name_the_field() {
        assert_eq!(
            LexicalError::Empty {
                field: Field::BirthName
            }
            .to_string(),
            "nom de naissance : champ obligatoire pour interroger INSi, renseignez-le"
        );
        assert_eq!(
            check_birth_name("-DUPONT").unwrap_err().to_string(),
            "nom de naissance : ne peut pas commencer par un trait d'union, retirez ce caractère"
        );
        assert!(
            check_birth_name("DUPONT  MARTIN")
                .unwrap_err()
                .to_string()
                .starts_with("nom de naissance : séquence non admise en position 7, double espace")
        );
        assert!(
            check_birth_date("1981-13-01")
                .unwrap_err()
                .to_string()
                .starts_with("date de naissance")
        );
        assert!(
            check_birth_place("6322")
                .unwrap_err()
                .to_string()
                .starts_with("lieu de naissance")
        );
        assert!(check_sex("A").unwrap_err().to_string().starts_with("sexe"));
    }
}
