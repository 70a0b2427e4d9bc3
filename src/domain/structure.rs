//! Structures hosted by an instance: kind and FINESS numbers.

use serde::{Deserialize, Serialize};
use std::str::FromStr;
use thiserror::Error;

use super::identifiers::luhn_valid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StructureKind {
    Csapa,
    CsapaHebergement,
    Caarud,
    Act,
    Lhss,
    Lam,
}

impl StructureKind {
    pub const ALL: [StructureKind; 6] = [
        StructureKind::Csapa,
        StructureKind::CsapaHebergement,
        StructureKind::Caarud,
        StructureKind::Act,
        StructureKind::Lhss,
        StructureKind::Lam,
    ];

    pub fn code(self) -> &'static str {
        match self {
            StructureKind::Csapa => "csapa",
            StructureKind::CsapaHebergement => "csapa_hebergement",
            StructureKind::Caarud => "caarud",
            StructureKind::Act => "act",
            StructureKind::Lhss => "lhss",
            StructureKind::Lam => "lam",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            StructureKind::Csapa => "CSAPA",
            StructureKind::CsapaHebergement => "CSAPA avec hébergement",
            StructureKind::Caarud => "CAARUD",
            StructureKind::Act => "ACT",
            StructureKind::Lhss => "LHSS",
            StructureKind::Lam => "LAM",
        }
    }

    /// CSP L.3414-1 (CSAPA) and R.3121-33-1 (CAARUD): users may be cared for
    /// anonymously. Other kinds of structure always record an identity.
    pub fn allows_anonymity(self) -> bool {
        matches!(
            self,
            StructureKind::Csapa | StructureKind::CsapaHebergement | StructureKind::Caarud
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "type de structure inconnu « {0} » (attendu : csapa, csapa_hebergement, caarud, act, lhss, lam)"
)]
pub struct UnknownStructureKind(pub String);

impl FromStr for StructureKind {
    type Err = UnknownStructureKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StructureKind::ALL
            .into_iter()
            .find(|k| k.code() == s.trim())
            .ok_or_else(|| UnknownStructureKind(s.to_string()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FinessError {
    #[error("le numéro FINESS doit comporter 9 caractères (reçu {0})")]
    Length(usize),
    #[error(
        "le numéro FINESS doit être de la forme 1 chiffre, 1 chiffre ou lettre, puis 7 chiffres (ex. 640012345)"
    )]
    Pattern,
}

/// A FINESS number: 9 characters `[0-9][0-9A-Z][0-9]{7}` (FINESS flux XSD).
/// The last digit is a Luhn key on purely numeric numbers; test numbers of the
/// national sandboxes contain letters, so a key mismatch is reported, not refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Finess(String);

impl Finess {
    pub fn parse(input: &str) -> Result<Finess, FinessError> {
        let value: String = input.trim().to_ascii_uppercase();
        let len = value.chars().count();
        if len != 9 {
            return Err(FinessError::Length(len));
        }
        let b = value.as_bytes();
        let ok = b[0].is_ascii_digit()
            && (b[1].is_ascii_digit() || b[1].is_ascii_uppercase())
            && b[2..].iter().all(u8::is_ascii_digit);
        if !ok {
            return Err(FinessError::Pattern);
        }
        Ok(Finess(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `Some(false)` when the number is numeric and its Luhn key does not match.
    pub fn key_matches(&self) -> Option<bool> {
        self.0
            .bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| luhn_valid(&self.0))
    }
}

impl std::fmt::Display for Finess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finess_pattern() {
        assert!(Finess::parse("770816478").is_ok());
        assert!(Finess::parse(" 0b0193488 ").is_ok());
        assert_eq!(Finess::parse("2A0000001").unwrap().as_str(), "2A0000001");
        assert_eq!(Finess::parse("12345678"), Err(FinessError::Length(8)));
        assert_eq!(Finess::parse("A70816478"), Err(FinessError::Pattern));
        assert_eq!(Finess::parse("77081647X"), Err(FinessError::Pattern));
        assert_eq!(Finess::parse("77<script"), Err(FinessError::Pattern));
    }

    #[test]
    fn finess_key() {
        assert_eq!(
            Finess::parse("770816478").unwrap().key_matches(),
            Some(true)
        );
        assert_eq!(
            Finess::parse("770816479").unwrap().key_matches(),
            Some(false)
        );
        assert_eq!(Finess::parse("0B0193488").unwrap().key_matches(), None);
    }

    #[test]
    fn anonymity_only_in_csapa_caarud() {
        assert!(StructureKind::Csapa.allows_anonymity());
        assert!(StructureKind::CsapaHebergement.allows_anonymity());
        assert!(StructureKind::Caarud.allows_anonymity());
        assert!(!StructureKind::Act.allows_anonymity());
        assert!(!StructureKind::Lhss.allows_anonymity());
        assert!(!StructureKind::Lam.allows_anonymity());
        for k in StructureKind::ALL {
            assert_eq!(k.code().parse::<StructureKind>().unwrap(), k);
        }
    }
}
