//! `Extraction_Correspondance_MSSante`: one line per mailbox.

use super::*;

pub(super) struct MailboxParser {
    pub(super) kind: usize,
    pub(super) address: usize,
    pub(super) id_type: Option<usize>,
    pub(super) id_pp: Option<usize>,
    pub(super) id_nat: Option<usize>,
    pub(super) structure_type: Option<usize>,
    pub(super) structure_id: Option<usize>,
    pub(super) service: Option<usize>,
    pub(super) structure_name: Option<usize>,
    pub(super) structure_sign: Option<usize>,
}

impl MailboxParser {
    pub(super) fn new(h: &Header) -> Result<MailboxParser, String> {
        Ok(MailboxParser {
            kind: h.required("Type de BAL")?,
            address: h.required("Adresse BAL")?,
            id_type: h.col("Type Identifiant PP"),
            id_pp: h.col("Identifiant PP"),
            id_nat: h.col("Identification nationale PP"),
            structure_type: h.col("Type identifiant structure"),
            structure_id: h.col("Identification Structure"),
            service: h.col("Service de rattachement"),
            structure_name: h.col("Raison Sociale structure BAL"),
            structure_sign: h.col("Enseigne commerciale structure BAL"),
        })
    }

    pub(super) fn parse(&self, f: &[&str]) -> Result<MailboxRecord, String> {
        let kind_code = field(f, Some(self.kind)).unwrap_or_default();
        let kind = MailboxKind::from_code(kind_code)
            .ok_or_else(|| format!("type de BAL « {kind_code} » inconnu"))?;
        let address = field(f, Some(self.address)).unwrap_or_default();
        if !valid_address(address) {
            return Err(format!("adresse BAL « {address} » invalide"));
        }
        let id_nat_ps = match kind {
            MailboxKind::Personnelle => Some(
                person_ids(
                    field(f, self.id_type),
                    field(f, self.id_pp),
                    field(f, self.id_nat),
                )?
                .0,
            ),
            _ => None,
        };
        let structure_id = owned(f, self.structure_id);
        Ok(MailboxRecord {
            mailbox: Mailbox {
                address: address.to_lowercase(),
                kind,
                description: owned(f, self.service),
            },
            id_nat_ps,
            finess: structure_id
                .as_deref()
                .and_then(|id| structure_finess(field(f, self.structure_type), id)),
            structure_id,
            structure_name: owned(f, self.structure_name).or_else(|| owned(f, self.structure_sign)),
        })
    }
}

pub(super) fn valid_address(a: &str) -> bool {
    matches!(a.split_once('@'), Some((local, domain))
        if !local.is_empty() && domain.contains('.') && !a.contains(char::is_whitespace))
}

/// The FINESS of a structure identifier: a bare FINESS, or its idNat_Struct
/// form `1` + FINESS (TRE_G07). Which form the extraction uses was not
/// verified on a real file: both are accepted; other types (SIRET…) give none.
pub(super) fn structure_finess(id_type: Option<&str>, id: &str) -> Option<String> {
    let finess_type = id_type.map(|t| t == "1" || t.to_ascii_uppercase().contains("FINESS"));
    let candidate = match (finess_type, id.len()) {
        (Some(false), _) => return None,
        (Some(true), 9) => id,
        (_, 10) if id.starts_with('1') => &id[1..],
        _ => return None,
    };
    Finess::parse(candidate)
        .ok()
        .map(|f| f.as_str().to_string())
}
