//! The header line: columns by folded name; fields and identifiers of a line.

use super::*;

/// Column positions by folded name (case, accents and punctuation ignored:
/// `Indice répétition voie (coord. Structure)` has changed case over time).
pub(super) struct Header {
    pub(super) index: HashMap<String, usize>,
    pub(super) fields: usize,
    /// The PS_LibreAcces files end every line with `|`.
    pub(super) trailing_separator: bool,
}

impl Header {
    pub(super) fn parse(line: &str) -> Header {
        let names: Vec<&str> = line.split('|').collect();
        let mut index = HashMap::new();
        for (i, name) in names.iter().enumerate() {
            let key = fold(name);
            if !key.is_empty() {
                index.entry(key).or_insert(i);
            }
        }
        Header {
            index,
            fields: names.len(),
            trailing_separator: names.last().is_some_and(|n| n.trim().is_empty()),
        }
    }

    pub(super) fn col(&self, name: &str) -> Option<usize> {
        self.index.get(&fold(name)).copied()
    }

    pub(super) fn required(&self, name: &str) -> Result<usize, String> {
        self.col(name)
            .ok_or_else(|| format!("colonne « {name} » absente"))
    }

    pub(super) fn kind(&self) -> Result<DirectoryFileKind, String> {
        if self.col("Type de BAL").is_some() && self.col("Adresse BAL").is_some() {
            return Ok(DirectoryFileKind::Mailboxes);
        }
        if self.col("Identification nationale PP").is_none() {
            return Err("pas de colonne « Identification nationale PP » ni « Adresse BAL »".into());
        }
        if self.col("Code mode exercice").is_none() {
            return Err(
                "pas de colonne « Code mode exercice » : fichier des savoir-faire ou des diplômes ?"
                    .into(),
            );
        }
        Ok(DirectoryFileKind::PersonActivity)
    }

    /// A line has as many fields as the header; a missing trailing `|` is tolerated.
    pub(super) fn check_count(&self, fields: &[&str]) -> Result<(), String> {
        let n = fields.len();
        if n == self.fields || (self.trailing_separator && n + 1 == self.fields) {
            return Ok(());
        }
        let trailing = |empty: bool| usize::from(self.trailing_separator && empty);
        let got = n - trailing(fields.last().is_some_and(|l| l.is_empty()));
        let expected = self.fields - trailing(true);
        Err(format!(
            "{got} {} au lieu de {expected}",
            plural(got as u64, "colonne", "colonnes")
        ))
    }
}

/// A field, trimmed; `None` when the column is absent or the field empty.
pub(super) fn field<'a>(fields: &[&'a str], col: Option<usize>) -> Option<&'a str> {
    col.and_then(|i| fields.get(i))
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

pub(super) fn owned(fields: &[&str], col: Option<usize>) -> Option<String> {
    field(fields, col).map(str::to_string)
}

pub(super) fn coded(fields: &[&str], code: Option<usize>, label: Option<usize>) -> Option<Coded> {
    let code = field(fields, code)?;
    let label = field(fields, label)
        .or_else(|| code_label(code))
        .unwrap_or(code);
    Some(Coded {
        code: code.to_string(),
        label: label.to_string(),
    })
}

/// The idNat_PS and RPPS of a line, checked against each other
/// (`Type d'identifiant PP` 8 = RPPS, 0 = ADELI; TRE_G08).
pub(super) fn person_ids(
    id_type: Option<&str>,
    id_pp: Option<&str>,
    id_nat: Option<&str>,
) -> Result<(String, Option<String>), String> {
    let id_nat = match (id_nat, id_type, id_pp) {
        (Some(n), _, _) => n.to_ascii_uppercase(),
        (None, Some(t), Some(pp)) if t == "8" || t == "0" => format!("{t}{pp}"),
        _ => return Err("identification nationale PP absente".into()),
    };
    if id_nat.len() > 32 || !id_nat.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("identification nationale « {id_nat} » invalide"));
    }
    let declared = id_type.or(if id_nat.starts_with('8') && id_nat.len() == 12 {
        Some("8")
    } else {
        None
    });
    match declared {
        Some("8") => {
            let rpps = id_pp.unwrap_or(&id_nat[1..]);
            let Ok(NationalId::Rpps(rpps)) = NationalId::parse(rpps) else {
                return Err(format!(
                    "RPPS « {rpps} » invalide : {}",
                    NationalIdError::Rpps
                ));
            };
            if id_nat != format!("8{rpps}") {
                return Err(format!(
                    "identification nationale « {id_nat} » différente de 8 + RPPS {rpps}"
                ));
            }
            Ok((id_nat, Some(rpps)))
        }
        Some("0") => {
            let adeli = id_pp.unwrap_or(&id_nat[1..]);
            let Ok(NationalId::Adeli(adeli)) = NationalId::parse(adeli) else {
                return Err(format!(
                    "ADELI « {adeli} » invalide : {}",
                    NationalIdError::Adeli
                ));
            };
            if id_nat != format!("0{adeli}") {
                return Err(format!(
                    "identification nationale « {id_nat} » différente de 0 + ADELI {adeli}"
                ));
            }
            Ok((id_nat, None))
        }
        _ => Ok((id_nat, None)),
    }
}
