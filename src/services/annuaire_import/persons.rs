//! `PS_LibreAcces_Personne_activite`: one line per professional × activity.

use super::*;

pub(super) struct PersonParser {
    pub(super) id_type: Option<usize>,
    pub(super) id_pp: Option<usize>,
    pub(super) id_nat: usize,
    pub(super) civility: Option<usize>,
    pub(super) civility_fallback: Option<usize>,
    pub(super) last_name: usize,
    pub(super) first_name: usize,
    pub(super) profession: (Option<usize>, Option<usize>),
    pub(super) role: (Option<usize>, Option<usize>),
    pub(super) mode: Option<usize>,
    pub(super) sector: Option<usize>,
    pub(super) site_finess: Option<usize>,
    pub(super) legal_finess: Option<usize>,
    pub(super) id_nat_struct: Option<usize>,
    pub(super) name: Option<usize>,
    pub(super) sign: Option<usize>,
    pub(super) postal_code: Option<usize>,
    pub(super) city: Option<usize>,
}

impl PersonParser {
    pub(super) fn new(h: &Header) -> Result<PersonParser, String> {
        Ok(PersonParser {
            id_type: h.col("Type d'identifiant PP"),
            id_pp: h.col("Identifiant PP"),
            id_nat: h.required("Identification nationale PP")?,
            civility: h.col("Code civilité d'exercice"),
            civility_fallback: h.col("Code civilité"),
            last_name: h.required("Nom d'exercice")?,
            first_name: h.required("Prénom d'exercice")?,
            profession: (h.col("Code profession"), h.col("Libellé profession")),
            // Absent from the files of 2024 and before.
            role: (h.col("Code fonction"), h.col("Libellé fonction")),
            mode: h.col("Code mode exercice"),
            sector: h.col("Code secteur d'activité"),
            site_finess: h.col("Numéro FINESS site"),
            legal_finess: h.col("Numéro FINESS établissement juridique"),
            id_nat_struct: h.col("Ancien identifiant de la structure"),
            name: h.col("Raison sociale site"),
            sign: h.col("Enseigne commerciale site"),
            postal_code: h.col("Code postal (coord. structure)"),
            city: h.col("Libellé commune (coord. structure)"),
        })
    }

    pub(super) fn parse(&self, f: &[&str]) -> Result<(PersonRecord, ActivityRecord), String> {
        let (id_nat_ps, rpps) = person_ids(
            field(f, self.id_type),
            field(f, self.id_pp),
            field(f, Some(self.id_nat)),
        )?;
        let last_name = field(f, Some(self.last_name))
            .ok_or_else(|| format!("nom d'exercice vide pour {id_nat_ps}"))?;
        let person = PersonRecord {
            id_nat_ps,
            rpps,
            civility: owned(f, self.civility).or_else(|| owned(f, self.civility_fallback)),
            last_name: last_name.to_string(),
            first_name: owned(f, Some(self.first_name)).unwrap_or_default(),
            activities: Vec::new(),
        };
        let activity = ActivityRecord {
            profession: coded(f, self.profession.0, self.profession.1),
            situation: Situation {
                role: coded(f, self.role.0, self.role.1),
                mode: owned(f, self.mode),
                sector: owned(f, self.sector),
                workplace: Workplace {
                    name: owned(f, self.name)
                        .or_else(|| owned(f, self.sign))
                        .unwrap_or_default(),
                    finess: owned(f, self.site_finess),
                    finess_legal: owned(f, self.legal_finess),
                    id_nat_struct: owned(f, self.id_nat_struct),
                    postal_code: owned(f, self.postal_code),
                    city: owned(f, self.city),
                },
            },
        };
        Ok((person, activity))
    }
}
