//! The codes that place a structure in the DMP's metadata, as its director
//! sets them (or the default of its kind): XDS healthcareFacilityTypeCode
//! (JDV_J61, also the CDA's facility code, JDV_J02, and the VIHF's sector),
//! practiceSettingCode (JDV_J04) and the submission set's contentTypeCode
//! (JDV_J59). The choices come from `reference/dmp_structure_codes.csv`.

use std::sync::OnceLock;

use thiserror::Error;

use super::structure::StructureKind;
use super::terminology::Code;

/// One of the three codes a director chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmpCodeField {
    FacilityType,
    PracticeSetting,
    ContentType,
}

impl DmpCodeField {
    pub const ALL: [DmpCodeField; 3] = [
        DmpCodeField::FacilityType,
        DmpCodeField::PracticeSetting,
        DmpCodeField::ContentType,
    ];

    /// The column of the reference file, and the form field.
    pub fn code(self) -> &'static str {
        match self {
            DmpCodeField::FacilityType => "facility_type",
            DmpCodeField::PracticeSetting => "practice_setting",
            DmpCodeField::ContentType => "content_type",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            DmpCodeField::FacilityType => {
                "Secteur d'activité (type d'établissement, tel que l'Annuaire Santé le donne)"
            }
            DmpCodeField::PracticeSetting => "Cadre d'exercice",
            DmpCodeField::ContentType => "Modalité de prise en charge",
        }
    }

    /// The codes a director may choose.
    pub fn options(self) -> impl Iterator<Item = &'static Code> {
        options()
            .iter()
            .filter(move |(f, _)| *f == self)
            .map(|(_, c)| c)
    }

    /// The option of this code, if it is one.
    pub fn option(self, code: &str) -> Option<&'static Code> {
        self.options().find(|c| c.code == code.trim())
    }
}

fn options() -> &'static [(DmpCodeField, Code)] {
    static OPTIONS: OnceLock<Vec<(DmpCodeField, Code)>> = OnceLock::new();
    OPTIONS.get_or_init(|| parse(include_str!("../../reference/dmp_structure_codes.csv")))
}

/// `field,code,codeSystem,displayName` after a header; Escale's own file
/// (no quoted commas): a malformed line is a build mistake.
fn parse(text: &str) -> Vec<(DmpCodeField, Code)> {
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.splitn(4, ',').collect();
            let [field, code, system, label] = f.as_slice() else {
                panic!("reference/dmp_structure_codes.csv: four columns in « {line} »");
            };
            let field = DmpCodeField::ALL
                .into_iter()
                .find(|x| x.code() == *field)
                .unwrap_or_else(|| panic!("reference/dmp_structure_codes.csv: « {field} »"));
            (field, Code::new(code, system, label))
        })
        .collect()
}

/// What the director chose; `None`: the default of the structure's kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DmpCodeChoice {
    pub facility_type: Option<String>,
    pub practice_setting: Option<String>,
    pub content_type: Option<String>,
}

impl DmpCodeChoice {
    /// The same choice, each default of `kind` left unset (so that a later
    /// change of the default reaches the structures that kept it).
    pub fn without_defaults(self, kind: StructureKind) -> DmpCodeChoice {
        let keep =
            |field: DmpCodeField, c: Option<String>| c.filter(|c| c != default_code(kind, field));
        DmpCodeChoice {
            facility_type: keep(DmpCodeField::FacilityType, self.facility_type),
            practice_setting: keep(DmpCodeField::PracticeSetting, self.practice_setting),
            content_type: keep(DmpCodeField::ContentType, self.content_type),
        }
    }

    pub fn get(&self, field: DmpCodeField) -> Option<&str> {
        match field {
            DmpCodeField::FacilityType => self.facility_type.as_deref(),
            DmpCodeField::PracticeSetting => self.practice_setting.as_deref(),
            DmpCodeField::ContentType => self.content_type.as_deref(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field} : code « {code} » absent de la liste proposée")]
pub struct UnknownDmpCode {
    pub field: &'static str,
    pub code: String,
}

/// The director's form: one code per field, each from its list (an empty
/// field: the default of the kind).
pub fn choose(
    facility_type: &str,
    practice_setting: &str,
    content_type: &str,
) -> Result<DmpCodeChoice, UnknownDmpCode> {
    let pick = |field: DmpCodeField, code: &str| -> Result<Option<String>, UnknownDmpCode> {
        if code.trim().is_empty() {
            return Ok(None);
        }
        field
            .option(code)
            .map(|c| Some(c.code.clone()))
            .ok_or_else(|| UnknownDmpCode {
                field: field.label(),
                code: code.chars().take(40).collect(),
            })
    };
    Ok(DmpCodeChoice {
        facility_type: pick(DmpCodeField::FacilityType, facility_type)?,
        practice_setting: pick(DmpCodeField::PracticeSetting, practice_setting)?,
        content_type: pick(DmpCodeField::ContentType, content_type)?,
    })
}

/// The default of a kind: every kind Escale serves is a social or
/// medico-social establishment (SA41, ESSMS); how it takes people in
/// differs (TRE_R209).
pub fn default_code(kind: StructureKind, field: DmpCodeField) -> &'static str {
    match field {
        DmpCodeField::FacilityType => "SA41",
        DmpCodeField::PracticeSetting => "ESSMS",
        DmpCodeField::ContentType => match kind {
            StructureKind::Csapa => "19",
            StructureKind::Caarud => "21",
            StructureKind::Act => "37",
            StructureKind::CsapaHebergement | StructureKind::Lhss | StructureKind::Lam => "43",
        },
    }
}

/// The codes of one structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructureCodes {
    pub facility_type: Code,
    pub practice_setting: Code,
    /// The VIHF's `Secteur_Activite`: the facility type (JDV_J61).
    pub sector: Code,
    pub content_type: Code,
}

/// The structure's codes: the director's choice, else its kind's default
/// (a code no longer offered falls back to the default too).
pub fn structure_codes(kind: StructureKind, choice: &DmpCodeChoice) -> StructureCodes {
    let code = |field: DmpCodeField| -> Code {
        choice
            .get(field)
            .and_then(|c| field.option(c))
            .or_else(|| field.option(default_code(kind, field)))
            .cloned()
            .unwrap_or_else(|| panic!("reference/dmp_structure_codes.csv lacks a default"))
    };
    let facility_type = code(DmpCodeField::FacilityType);
    StructureCodes {
        sector: facility_type.clone(),
        facility_type,
        practice_setting: code(DmpCodeField::PracticeSetting),
        content_type: code(DmpCodeField::ContentType),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::spec_table;

    #[test]
    fn every_kind_has_its_defaults_and_a_choice_replaces_them() {
        for kind in StructureKind::ALL {
            let codes = structure_codes(kind, &DmpCodeChoice::default());
            assert_eq!(codes.facility_type.code, "SA41");
            assert_eq!(codes.sector, codes.facility_type);
            assert_eq!(codes.practice_setting.code, "ESSMS");
        }
        let content = |k| {
            structure_codes(k, &DmpCodeChoice::default())
                .content_type
                .code
        };
        assert_eq!(content(StructureKind::Csapa), "19");
        assert_eq!(content(StructureKind::Act), "37");
        assert_eq!(content(StructureKind::Lhss), "43");
        let chosen = choose("SA01", "", "42").unwrap();
        assert_eq!(
            choose("SA41", "ESSMS", "42")
                .unwrap()
                .without_defaults(StructureKind::Caarud),
            DmpCodeChoice {
                content_type: Some("42".into()),
                ..Default::default()
            }
        );
        let codes = structure_codes(StructureKind::Caarud, &chosen);
        assert_eq!(codes.facility_type.code, "SA01");
        assert_eq!(codes.sector.code, "SA01");
        assert_eq!(codes.practice_setting.code, "ESSMS");
        assert_eq!(codes.content_type.label, "Equipe mobile de rue");
        // Not offered: refused from the form, ignored if already stored.
        let err = choose("SA99", "", "").unwrap_err();
        assert!(err.to_string().contains("« SA99 »"), "{err}");
        assert!(choose("", "<script>", "").is_err());
        let stale = DmpCodeChoice {
            content_type: Some("99".into()),
            ..Default::default()
        };
        assert_eq!(
            structure_codes(StructureKind::Csapa, &stale)
                .content_type
                .code,
            "19"
        );
    }

    #[test]
    fn the_options_are_those_of_the_dmp_tables() {
        for (field, table) in [
            (
                DmpCodeField::FacilityType,
                "JDV_J61_HealthcareFacilityTypeCode_DMP.csv",
            ),
            (
                DmpCodeField::FacilityType,
                "JDV_J02_XdsHealthcareFacilityTypeCode_CISIS.csv",
            ),
            (
                DmpCodeField::PracticeSetting,
                "JDV_J04_XdsPracticeSettingCode_CISIS.csv",
            ),
            (DmpCodeField::ContentType, "JDV_J59_ContentTypeCode_DMP.csv"),
        ] {
            let Some(rows) =
                spec_table::load(&format!("../shared/spec/dmp-mss/terminology/{table}"))
            else {
                return;
            };
            for c in field.options() {
                let row = rows
                    .iter()
                    .find(|r| r["code"] == c.code && r["codeSystem"] == c.system)
                    .unwrap_or_else(|| panic!("{} {} not in {table}", c.code, c.system));
                assert_eq!(row["displayName"], c.label, "{table}");
            }
        }
    }
}
