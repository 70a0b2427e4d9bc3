//! A user file ("dossier usager"): identity traits or an alias, and contact details.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::search::fold;
use super::text::{self, TextError};

pub const NAME_MAX: usize = 100;
pub const CONTACT_MAX: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sex {
    /// RNIV: sexe « M ».
    M,
    /// RNIV: sexe « F ».
    F,
    /// RNIV: sexe « I », indéterminé.
    I,
}

impl Sex {
    pub fn parse(input: &str) -> Option<Sex> {
        match input.trim() {
            "M" | "m" => Some(Sex::M),
            "F" | "f" => Some(Sex::F),
            "I" | "i" => Some(Sex::I),
            _ => None,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Sex::M => "M",
            Sex::F => "F",
            Sex::I => "I",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Sex::M => "Masculin",
            Sex::F => "Féminin",
            Sex::I => "Indéterminé",
        }
    }
}

/// Parses a birth date typed as `AAAA-MM-JJ` (date field) or `JJ/MM/AAAA`,
/// refusing dates in the future and before 1900. A partly unknown date is
/// typed with zeros and completed by rule (Guide INS v3.0 EXI ID 11-12):
/// unknown day → 01 (`00/MM/AAAA`), unknown month → 01 (`JJ/00/AAAA`), both
/// unknown → 31/12 (`00/00/AAAA`).
pub fn parse_birth_date(input: &str, today: NaiveDate) -> Result<NaiveDate, &'static str> {
    let v = input.trim();
    if v.is_empty() {
        return Err("la date de naissance est obligatoire");
    }
    let date = NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(v, "%d/%m/%Y"))
        .ok()
        .or_else(|| complete_incomplete_date(v))
        .ok_or("date de naissance invalide : saisissez-la sous la forme JJ/MM/AAAA (00 pour un jour ou un mois inconnu)")?;
    if date > today {
        return Err("la date de naissance est dans le futur");
    }
    if date.year() < 1900 {
        return Err("la date de naissance est antérieure à 1900 : vérifiez l'année");
    }
    Ok(date)
}

/// `00/MM/AAAA`, `JJ/00/AAAA` or `00/00/AAAA` completed by rule (EXI ID 11-12).
fn complete_incomplete_date(v: &str) -> Option<NaiveDate> {
    let mut parts = v.split('/');
    let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || d.len() != 2 || m.len() != 2 {
        return None;
    }
    let (d, m, y): (u32, u32, i32) = (d.parse().ok()?, m.parse().ok()?, y.parse().ok()?);
    match (d, m) {
        (0, 0) => NaiveDate::from_ymd_opt(y, 12, 31),
        (0, m) => NaiveDate::from_ymd_opt(y, m, 1),
        (d, 0) => NaiveDate::from_ymd_opt(y, 1, d),
        _ => None,
    }
}

/// A date as a date field sends it (`AAAA-MM-JJ`) or as it is typed
/// (`JJ/MM/AAAA`).
pub fn typed_date(v: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(v, "%d/%m/%Y"))
        .ok()
}

/// A date typed for an episode or an activity: `AAAA-MM-JJ` or `JJ/MM/AAAA`,
/// within a plausible window (from 1950 to one year ahead).
pub fn parse_event_date(input: &str, today: NaiveDate) -> Result<NaiveDate, &'static str> {
    let v = input.trim();
    if v.is_empty() {
        return Err("la date est obligatoire");
    }
    let date = typed_date(v).ok_or("date invalide : saisissez-la sous la forme JJ/MM/AAAA")?;
    if date.year() < 1950 || date > today + chrono::Days::new(366) {
        return Err("cette date n'est pas plausible : vérifiez l'année");
    }
    Ok(date)
}

/// INSEE COG code of the birth place: 5 digits, or `2A`/`2B` + 3 digits
/// (Corsica), `99xxx` for a birth abroad, `99999` when unknown (RNIV).
pub fn parse_birth_place(input: &str) -> Result<Option<String>, &'static str> {
    let v = input.trim().to_ascii_uppercase();
    if v.is_empty() {
        return Ok(None);
    }
    let b = v.as_bytes();
    let ok = b.len() == 5
        && ((b[0].is_ascii_digit() && b[1].is_ascii_digit())
            || (b[0] == b'2' && (b[1] == b'A' || b[1] == b'B')))
        && b[2..].iter().all(u8::is_ascii_digit);
    if ok {
        Ok(Some(v))
    } else {
        Err(
            "code du lieu de naissance invalide : 5 caractères (code commune INSEE, 2A/2B pour la Corse, 99xxx à l'étranger, 99999 si inconnu)",
        )
    }
}

/// The identity part of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Identity {
    /// Identity traits (strict traits of the RNIV, plus used name and first name).
    Traits {
        birth_name: String,
        /// Birth first names, in order, separated by spaces.
        first_names: String,
        used_name: Option<String>,
        used_first_name: Option<String>,
        birth_date: NaiveDate,
        sex: Sex,
        birth_place_code: Option<String>,
    },
    /// Anonymous care (CSAPA, CAARUD): an alias chosen by the user, nothing that identifies.
    Anonymous {
        alias: String,
        sex: Option<Sex>,
        birth_year: Option<i32>,
    },
}

impl Identity {
    pub fn is_anonymous(&self) -> bool {
        matches!(self, Identity::Anonymous { .. })
    }

    /// Birth name first, then the first first name, then the used name (RNIV:
    /// the birth name is the reference trait): "DURAND Marie (usage : DUPONT)".
    pub fn display_name(&self) -> String {
        match self {
            Identity::Traits {
                birth_name,
                first_names,
                used_name,
                used_first_name,
                ..
            } => {
                let first = used_first_name
                    .clone()
                    .unwrap_or_else(|| first_names.split(' ').next().unwrap_or("").to_string());
                match used_name {
                    Some(used) if used != birth_name => {
                        format!("{birth_name} {first} (usage : {used})")
                    }
                    _ => format!("{birth_name} {first}"),
                }
            }
            Identity::Anonymous { alias, .. } => format!("{alias} (anonyme)"),
        }
    }

    /// Folded search key of every name the file may be searched by.
    pub fn search_key(&self) -> String {
        match self {
            Identity::Traits {
                birth_name,
                first_names,
                used_name,
                used_first_name,
                ..
            } => {
                let mut parts = vec![birth_name.as_str(), first_names.as_str()];
                parts.extend(used_name.as_deref());
                parts.extend(used_first_name.as_deref());
                fold(&parts.join(" "))
            }
            Identity::Anonymous { alias, .. } => fold(alias),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
}

/// What a reception form sends, as typed. Kept whole to show it again on error.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UsagerForm {
    #[serde(default)]
    pub anonymous: Option<String>,
    #[serde(default)]
    pub alias: String,
    #[serde(default)]
    pub birth_name: String,
    #[serde(default)]
    pub first_names: String,
    #[serde(default)]
    pub used_name: String,
    #[serde(default)]
    pub used_first_name: String,
    #[serde(default)]
    pub birth_date: String,
    #[serde(default)]
    pub birth_year: String,
    #[serde(default)]
    pub sex: String,
    #[serde(default)]
    pub birth_place_code: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub address: String,
    /// Set once the duplicate warning was shown: creating anyway is a choice.
    #[serde(default)]
    pub doublons_vus: Option<String>,
    /// The file's version the edit form was read at (optimistic check).
    #[serde(default)]
    pub version: Option<String>,
}

/// Field name → French message.
pub type FieldErrors = BTreeMap<&'static str, String>;

fn text_msg(e: TextError) -> String {
    e.to_string()
}

/// A validated file, ready to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsagerData {
    pub identity: Identity,
    pub contact: Contact,
}

impl UsagerForm {
    pub fn wants_anonymity(&self) -> bool {
        matches!(self.anonymous.as_deref(), Some("on" | "true" | "1" | "oui"))
    }

    /// Validates the form. `anonymity_allowed` comes from the structure's kind.
    pub fn validate(
        &self,
        today: NaiveDate,
        anonymity_allowed: bool,
    ) -> Result<UsagerData, FieldErrors> {
        let mut errors = FieldErrors::new();
        fn field(
            errors: &mut FieldErrors,
            name: &'static str,
            r: Result<Option<String>, String>,
        ) -> Option<String> {
            r.unwrap_or_else(|e| {
                errors.insert(name, e);
                None
            })
        }
        let contact = Contact {
            phone: field(
                &mut errors,
                "phone",
                text::optional_line(&self.phone, 40).map_err(text_msg),
            ),
            email: field(
                &mut errors,
                "email",
                text::optional_line(&self.email, CONTACT_MAX).map_err(text_msg),
            ),
            address: field(
                &mut errors,
                "address",
                text::optional_line(&self.address, CONTACT_MAX).map_err(text_msg),
            ),
        };
        let identity = if self.wants_anonymity() {
            if !anonymity_allowed {
                errors.insert(
                    "anonymous",
                    "l'accueil anonyme n'est possible qu'en CSAPA ou en CAARUD".to_string(),
                );
            }
            let alias = match text::single_line(&self.alias, NAME_MAX) {
                Ok(a) => Some(a),
                Err(TextError::Empty) => {
                    errors.insert("alias", "choisissez un pseudonyme avec la personne".into());
                    None
                }
                Err(e) => {
                    errors.insert("alias", e.to_string());
                    None
                }
            };
            let sex = if self.sex.trim().is_empty() {
                None
            } else {
                Sex::parse(&self.sex)
            };
            let birth_year = match self.birth_year.trim() {
                "" => None,
                y => match y.parse::<i32>() {
                    Ok(y) if (1900..=today.year()).contains(&y) => Some(y),
                    _ => {
                        errors.insert(
                            "birth_year",
                            format!("année de naissance invalide : de 1900 à {}", today.year()),
                        );
                        None
                    }
                },
            };
            alias.map(|alias| Identity::Anonymous {
                alias,
                sex,
                birth_year,
            })
        } else {
            let birth_name = field(
                &mut errors,
                "birth_name",
                required(&self.birth_name, "le nom de naissance"),
            );
            let first_names = field(
                &mut errors,
                "first_names",
                required(&self.first_names, "le ou les prénoms de naissance"),
            )
            .map(|f| f.split_whitespace().collect::<Vec<_>>().join(" "));
            let used_name = field(
                &mut errors,
                "used_name",
                text::optional_line(&self.used_name, NAME_MAX).map_err(text_msg),
            );
            let used_first_name = field(
                &mut errors,
                "used_first_name",
                text::optional_line(&self.used_first_name, NAME_MAX).map_err(text_msg),
            );
            let birth_date = match parse_birth_date(&self.birth_date, today) {
                Ok(d) => Some(d),
                Err(e) => {
                    errors.insert("birth_date", e.to_string());
                    None
                }
            };
            let sex = Sex::parse(&self.sex);
            if sex.is_none() {
                errors.insert(
                    "sex",
                    "indiquez le sexe (masculin, féminin ou indéterminé)".into(),
                );
            }
            let birth_place_code = field(
                &mut errors,
                "birth_place_code",
                parse_birth_place(&self.birth_place_code).map_err(String::from),
            );
            match (birth_name, first_names, birth_date, sex) {
                (Some(birth_name), Some(first_names), Some(birth_date), Some(sex)) => {
                    Some(Identity::Traits {
                        birth_name,
                        first_names,
                        used_name,
                        used_first_name,
                        birth_date,
                        sex,
                        birth_place_code,
                    })
                }
                _ => None,
            }
        };
        match identity {
            Some(identity) if errors.is_empty() => Ok(UsagerData { identity, contact }),
            _ => Err(errors),
        }
    }

    /// The form filled from a stored file (for editing).
    pub fn from_data(data: &UsagerData) -> UsagerForm {
        let c = &data.contact;
        let mut form = UsagerForm {
            phone: c.phone.clone().unwrap_or_default(),
            email: c.email.clone().unwrap_or_default(),
            address: c.address.clone().unwrap_or_default(),
            ..Default::default()
        };
        match &data.identity {
            Identity::Traits {
                birth_name,
                first_names,
                used_name,
                used_first_name,
                birth_date,
                sex,
                birth_place_code,
            } => {
                form.birth_name = birth_name.clone();
                form.first_names = first_names.clone();
                form.used_name = used_name.clone().unwrap_or_default();
                form.used_first_name = used_first_name.clone().unwrap_or_default();
                form.birth_date = birth_date.format("%Y-%m-%d").to_string();
                form.sex = sex.code().to_string();
                form.birth_place_code = birth_place_code.clone().unwrap_or_default();
            }
            Identity::Anonymous {
                alias,
                sex,
                birth_year,
            } => {
                form.anonymous = Some("on".into());
                form.alias = alias.clone();
                form.sex = sex.map(|s| s.code().to_string()).unwrap_or_default();
                form.birth_year = birth_year.map(|y| y.to_string()).unwrap_or_default();
            }
        }
        form
    }
}

fn required(input: &str, what: &str) -> Result<Option<String>, String> {
    match text::single_line(input, NAME_MAX) {
        Ok(v) => Ok(Some(v)),
        Err(TextError::Empty) => Err(format!("{what} est obligatoire")),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    fn form() -> UsagerForm {
        UsagerForm {
            birth_name: "Dupont".into(),
            first_names: "Marie  Zoé".into(),
            birth_date: "12/03/1985".into(),
            sex: "F".into(),
            ..Default::default()
        }
    }

    #[test]
    fn valid_traits() {
        let data = form().validate(today(), false).unwrap();
        match &data.identity {
            Identity::Traits {
                first_names,
                birth_date,
                ..
            } => {
                assert_eq!(first_names, "Marie Zoé");
                assert_eq!(*birth_date, NaiveDate::from_ymd_opt(1985, 3, 12).unwrap());
            }
            _ => panic!(),
        }
        assert_eq!(data.identity.search_key(), "DUPONT MARIE ZOE");
        assert_eq!(
            UsagerForm::from_data(&data)
                .validate(today(), false)
                .unwrap(),
            data
        );
    }

    #[test]
    fn absurd_dates_refused() {
        for (d, fragment) in [
            ("", "obligatoire"),
            ("2027-01-01", "futur"),
            ("1899-12-31", "1900"),
            ("31/02/1990", "invalide"),
            ("hier", "invalide"),
        ] {
            let mut f = form();
            f.birth_date = d.into();
            let errs = f.validate(today(), false).unwrap_err();
            assert!(errs["birth_date"].contains(fragment), "{d}: {errs:?}");
        }
    }

    #[test]
    fn hostile_names_are_text() {
        let mut f = form();
        f.birth_name = "<img src=x onerror=alert(1)>".into();
        f.used_name = "'); DROP TABLE usagers;--".into();
        assert!(f.validate(today(), false).is_ok());
        f.birth_name = "a".repeat(300);
        assert!(f.validate(today(), false).unwrap_err()["birth_name"].contains("trop long"));
    }

    #[test]
    fn anonymity_rules() {
        let f = UsagerForm {
            anonymous: Some("on".into()),
            alias: "Le Chat".into(),
            ..Default::default()
        };
        let data = f.validate(today(), true).unwrap();
        assert!(data.identity.is_anonymous());
        assert_eq!(data.identity.search_key(), "LE CHAT");
        assert!(
            f.validate(today(), false)
                .unwrap_err()
                .contains_key("anonymous")
        );
        let f = UsagerForm {
            anonymous: Some("on".into()),
            ..Default::default()
        };
        assert!(f.validate(today(), true).unwrap_err().contains_key("alias"));
        let f = UsagerForm {
            anonymous: Some("on".into()),
            alias: "X".into(),
            birth_year: "3000".into(),
            ..Default::default()
        };
        assert!(
            f.validate(today(), true)
                .unwrap_err()
                .contains_key("birth_year")
        );
    }

    #[test]
    fn birth_place_codes() {
        assert_eq!(parse_birth_place("64445"), Ok(Some("64445".into())));
        assert_eq!(parse_birth_place("2a004"), Ok(Some("2A004".into())));
        assert_eq!(parse_birth_place("99999"), Ok(Some("99999".into())));
        assert_eq!(parse_birth_place(""), Ok(None));
        assert!(parse_birth_place("2C004").is_err());
        assert!(parse_birth_place("6444").is_err());
        assert!(parse_birth_place("ABCDE").is_err());
    }

    #[test]
    fn event_dates() {
        assert!(parse_event_date("2026-11-23", today()).is_ok());
        assert!(parse_event_date("1949-01-01", today()).is_err());
        assert!(parse_event_date("2099-01-01", today()).is_err());
    }

    #[test]
    fn display_names() {
        let data = UsagerData {
            identity: Identity::Traits {
                birth_name: "DURAND".into(),
                first_names: "Marie Zoé".into(),
                used_name: Some("DUPONT".into()),
                used_first_name: None,
                birth_date: NaiveDate::from_ymd_opt(1980, 1, 1).unwrap(),
                sex: Sex::F,
                birth_place_code: None,
            },
            contact: Contact::default(),
        };
        assert_eq!(
            data.identity.display_name(),
            "DURAND Marie (usage : DUPONT)"
        );
    }

    #[test]
    fn incomplete_birth_dates_are_completed_by_rule() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        assert_eq!(parse_birth_date("00/05/1980", today), Ok(d(1980, 5, 1)));
        assert_eq!(parse_birth_date("17/00/1980", today), Ok(d(1980, 1, 17)));
        assert_eq!(parse_birth_date("00/00/1980", today), Ok(d(1980, 12, 31)));
        assert!(parse_birth_date("00/13/1980", today).is_err());
        assert!(parse_birth_date("31/00/1980", today).is_ok());
        assert!(parse_birth_date("00/00/2030", today).is_err(), "future");
        assert!(
            parse_birth_date("00/00/1880", today).is_err(),
            "before 1900"
        );
    }
}
