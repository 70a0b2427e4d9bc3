//! National identifiers of professionals (idNat_PS, RPPS, ADELI).

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Luhn check over a string of ASCII digits.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, c) in digits.bytes().rev().enumerate() {
        if !c.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NationalIdError {
    #[error("un numéro RPPS comporte 11 chiffres")]
    Rpps,
    #[error("un numéro ADELI comporte 9 chiffres ou lettres")]
    Adeli,
    #[error(
        "un idNat_PS de personnel d'établissement s'écrit 3 + FINESS (9 caractères) + / + identifiant interne"
    )]
    Establishment,
    #[error(
        "un idNat_PS de personnel d'entreprise s'écrit 5 + SIRET (14 chiffres) + / + identifiant interne"
    )]
    Siret,
    #[error(
        "identifiant national non reconnu : saisissez un RPPS (11 chiffres), un ADELI (9 caractères) ou un idNat_PS (8+RPPS, 0+ADELI, 3+FINESS/…, 5+SIRET/…)"
    )]
    Unknown,
}

/// A professional's national identifier, normalised to its idNat_PS form
/// (TRE_G08: `8` + RPPS, `0` + ADELI, `3` + FINESS / internal id for staff
/// registered by an establishment — CPE holders —, `5` + SIRET / internal id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NationalId {
    Rpps(String),
    Adeli(String),
    Establishment { finess: String, internal: String },
    Siret { siret: String, internal: String },
}

/// `<id>/<internal>` after the type digit; the internal id is the
/// establishment's own (letters, digits, at most 30).
fn split_internal(rest: &str, id_len: usize) -> Option<(String, String)> {
    let (id, internal) = rest.split_once('/')?;
    let ok = id.len() == id_len
        && !internal.is_empty()
        && internal.len() <= 30
        && internal.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then(|| (id.to_string(), internal.to_string()))
}

impl NationalId {
    /// Accepts a bare RPPS (11 digits), a bare ADELI (9 chars) or an idNat_PS.
    pub fn parse(input: &str) -> Result<NationalId, NationalIdError> {
        let v: String = input.trim().to_ascii_uppercase();
        let all_digits = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
        let alnum = !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric());
        if let Some(rest) = v.strip_prefix('3').filter(|r| r.contains('/')) {
            return split_internal(rest, 9)
                .filter(|(f, _)| crate::domain::structure::Finess::parse(f).is_ok())
                .map(|(finess, internal)| NationalId::Establishment { finess, internal })
                .ok_or(NationalIdError::Establishment);
        }
        if let Some(rest) = v.strip_prefix('5').filter(|r| r.contains('/')) {
            return split_internal(rest, 14)
                .filter(|(s, _)| s.bytes().all(|b| b.is_ascii_digit()))
                .map(|(siret, internal)| NationalId::Siret { siret, internal })
                .ok_or(NationalIdError::Siret);
        }
        match v.len() {
            11 if all_digits => Ok(NationalId::Rpps(v)),
            12 if v.starts_with('8') && all_digits => Ok(NationalId::Rpps(v[1..].to_string())),
            12 if v.starts_with('8') => Err(NationalIdError::Rpps),
            9 if alnum => Ok(NationalId::Adeli(v)),
            10 if v.starts_with('0') && alnum => Ok(NationalId::Adeli(v[1..].to_string())),
            _ => Err(NationalIdError::Unknown),
        }
    }

    /// The idNat_PS form stored and matched against Pro Santé Connect's `SubjectNameID`.
    pub fn id_nat_ps(&self) -> String {
        match self {
            NationalId::Rpps(n) => format!("8{n}"),
            NationalId::Adeli(n) => format!("0{n}"),
            NationalId::Establishment { finess, internal } => format!("3{finess}/{internal}"),
            NationalId::Siret { siret, internal } => format!("5{siret}/{internal}"),
        }
    }

    /// A Luhn mismatch on an RPPS is a warning, not a refusal (ANS test numbers).
    pub fn key_warning(&self) -> Option<&'static str> {
        match self {
            NationalId::Rpps(n) if !luhn_valid(n) => {
                Some("la clé de contrôle du numéro RPPS ne correspond pas : vérifiez la saisie")
            }
            _ => None,
        }
    }

    pub fn label(&self) -> String {
        match self {
            NationalId::Rpps(n) => format!("RPPS {n}"),
            NationalId::Adeli(n) => format!("ADELI {n}"),
            NationalId::Establishment { finess, internal } => {
                format!("personnel de l'établissement FINESS {finess} (n° {internal})")
            }
            NationalId::Siret { siret, internal } => {
                format!("personnel de l'entreprise SIRET {siret} (n° {internal})")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn() {
        for n in [
            "10000001916",
            "10000005479",
            "10005355572",
            "99700218896",
            "770816478",
        ] {
            assert!(luhn_valid(n), "{n}");
        }
        assert!(!luhn_valid("10000001917"));
        assert!(!luhn_valid(""));
        assert!(!luhn_valid("12a"));
    }

    #[test]
    fn national_ids() {
        assert_eq!(
            NationalId::parse("10000001916").unwrap().id_nat_ps(),
            "810000001916"
        );
        assert_eq!(
            NationalId::parse("810000001916").unwrap(),
            NationalId::Rpps("10000001916".into())
        );
        assert_eq!(
            NationalId::parse("0B0193488").unwrap().id_nat_ps(),
            "00B0193488"
        );
        let cpe = NationalId::parse(" 3640000014/ab12 ").unwrap();
        assert_eq!(
            cpe,
            NationalId::Establishment {
                finess: "640000014".into(),
                internal: "AB12".into()
            }
        );
        assert_eq!(cpe.id_nat_ps(), "3640000014/AB12");
        assert_eq!(NationalId::parse(&cpe.id_nat_ps()).unwrap(), cpe);
        assert_eq!(
            NationalId::parse("512345678900012/7").unwrap().id_nat_ps(),
            "512345678900012/7"
        );
        assert_eq!(
            NationalId::parse("3640000014/"),
            Err(NationalIdError::Establishment)
        );
        assert_eq!(
            NationalId::parse("364000001/12"),
            Err(NationalIdError::Establishment)
        );
        assert_eq!(NationalId::parse("5123/12"), Err(NationalIdError::Siret));
        assert_eq!(
            NationalId::parse("3640000014/a-b"),
            Err(NationalIdError::Establishment)
        );
        assert!(NationalId::parse("123").is_err());
        assert!(NationalId::parse("8ABCDEFGHIJK").is_err());
        assert!(
            NationalId::parse("10000001917")
                .unwrap()
                .key_warning()
                .is_some()
        );
        assert!(
            NationalId::parse("10000001916")
                .unwrap()
                .key_warning()
                .is_none()
        );
    }
}
