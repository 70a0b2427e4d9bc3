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
        "identifiant national non reconnu : saisissez un RPPS (11 chiffres), un ADELI (9 caractères) ou un idNat_PS (8+RPPS, 0+ADELI)"
    )]
    Unknown,
}

/// A professional's national identifier, normalised to its idNat_PS form
/// (TRE_G08: `8` + RPPS, `0` + ADELI).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NationalId {
    Rpps(String),
    Adeli(String),
}

impl NationalId {
    /// Accepts a bare RPPS (11 digits), a bare ADELI (9 chars) or an idNat_PS.
    pub fn parse(input: &str) -> Result<NationalId, NationalIdError> {
        let v: String = input.trim().to_ascii_uppercase();
        let all_digits = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
        let alnum = !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric());
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
