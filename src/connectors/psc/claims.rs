//! What Pro Santé Connect's userinfo says about a professional (claim names
//! as PSC sends them: `SubjectNameID`, `SubjectRefPro.exercices[].activities[]`,
//! `authMode`…). Every field is optional: samples from 2021 to 2026 differ.

use openidconnect::AdditionalClaims;
use serde::{Deserialize, Serialize};

use crate::domain::directory::{Coded, DirectoryPerson, Situation, Workplace, code_label};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PscClaims {
    /// idNat_PS: the national identifier Escale keys professionals on.
    #[serde(rename = "SubjectNameID", default)]
    pub subject_name_id: Option<String>,
    /// `CARD` (CPx card) or `MOBILE` (e-CPS); absent in older tokens.
    #[serde(rename = "authMode", default)]
    pub auth_mode: Option<String>,
    #[serde(rename = "SubjectRefPro", default)]
    pub ref_pro: Option<RefPro>,
    #[serde(rename = "codeCivilite", default)]
    pub civility: Option<String>,
    #[serde(rename = "otherIds", default)]
    pub other_ids: Vec<OtherId>,
}

impl AdditionalClaims for PscClaims {}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherId {
    #[serde(default)]
    pub identifiant: Option<String>,
    #[serde(default)]
    pub origine: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefPro {
    #[serde(rename = "codeCivilite", default)]
    pub civility: Option<String>,
    #[serde(default)]
    pub exercices: Vec<Exercice>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Exercice {
    #[serde(default)]
    pub code_profession: Option<String>,
    #[serde(default)]
    pub code_categorie_professionnelle: Option<String>,
    #[serde(rename = "codeCiviliteDexercice", default)]
    pub civility: Option<String>,
    #[serde(rename = "nomDexercice", default)]
    pub last_name: Option<String>,
    #[serde(rename = "prenomDexercice", default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub activities: Vec<Activity>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    #[serde(rename = "codeModeExercice", default)]
    pub mode: Option<String>,
    #[serde(rename = "codeSecteurDactivite", default)]
    pub sector: Option<String>,
    #[serde(rename = "codeRole", default)]
    pub role: Option<String>,
    #[serde(rename = "numeroFinessSite", default)]
    pub finess_site: Option<String>,
    #[serde(rename = "numeroFinessetablissementJuridique", default)]
    pub finess_legal: Option<String>,
    #[serde(rename = "raisonSocialeSite", default)]
    pub name: Option<String>,
    #[serde(rename = "codePostal", default)]
    pub postal_code: Option<String>,
    #[serde(rename = "bureauCedex", default)]
    pub bureau_cedex: Option<String>,
    #[serde(rename = "ancienIdentifiantDeLaStructure", default)]
    pub id_nat_struct: Option<String>,
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn coded(code: &str) -> Coded {
    Coded {
        code: code.to_string(),
        label: code_label(code)
            .map(str::to_string)
            .unwrap_or_else(|| format!("code {code}")),
    }
}

impl PscClaims {
    /// The professional as PSC describes them: professions and workplaces
    /// (PSC has no « profile » choice: the application picks what it needs).
    pub fn person(&self, given_name: Option<&str>, family_name: Option<&str>) -> DirectoryPerson {
        let exercices = self
            .ref_pro
            .as_ref()
            .map(|r| r.exercices.as_slice())
            .unwrap_or_default();
        let first = exercices.first();
        let pick = |claim: Option<&str>, ex: Option<String>| {
            claim
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .or(ex)
                .unwrap_or_default()
        };
        let id_nat_ps = self.subject_name_id.clone().unwrap_or_default();
        let mut professions: Vec<Coded> = Vec::new();
        let mut situations = Vec::new();
        for ex in exercices {
            if let Some(code) = non_empty(&ex.code_profession)
                && !professions.iter().any(|p| p.code == code)
            {
                professions.push(coded(&code));
            }
            for a in &ex.activities {
                let city = non_empty(&a.bureau_cedex).map(|b| {
                    // « 75009 PARIS » → « PARIS »
                    b.split_once(' ')
                        .filter(|(cp, _)| cp.chars().all(|c| c.is_ascii_digit()))
                        .map(|(_, c)| c.to_string())
                        .unwrap_or(b)
                });
                situations.push(Situation {
                    role: non_empty(&a.role).map(|c| coded(&c)),
                    mode: non_empty(&a.mode),
                    sector: non_empty(&a.sector),
                    workplace: Workplace {
                        name: non_empty(&a.name).unwrap_or_default(),
                        finess: non_empty(&a.finess_site),
                        finess_legal: non_empty(&a.finess_legal),
                        id_nat_struct: non_empty(&a.id_nat_struct),
                        postal_code: non_empty(&a.postal_code),
                        city,
                    },
                });
            }
        }
        DirectoryPerson {
            rpps: id_nat_ps
                .strip_prefix('8')
                .filter(|r| r.len() == 11 && r.bytes().all(|b| b.is_ascii_digit()))
                .map(str::to_string),
            id_nat_ps,
            civility: first.and_then(|e| non_empty(&e.civility)).or_else(|| {
                non_empty(&self.civility)
                    .or_else(|| self.ref_pro.as_ref().and_then(|r| non_empty(&r.civility)))
            }),
            last_name: pick(family_name, first.and_then(|e| non_empty(&e.last_name))),
            first_name: pick(given_name, first.and_then(|e| non_empty(&e.first_name))),
            professions,
            situations,
            mailboxes: Vec::new(),
        }
    }
}

/// How the professional authenticated, as shown in the session and the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMeans {
    /// A CPx card in a reader (`authMode` = `CARD`).
    Card,
    /// The e-CPS mobile application (`authMode` = `MOBILE`).
    ECps,
    /// PSC did not say (older tokens).
    Unknown,
}

impl AuthMeans {
    pub fn from_auth_mode(mode: Option<&str>) -> AuthMeans {
        match mode.map(|m| m.trim().to_ascii_uppercase()).as_deref() {
            Some("CARD") => AuthMeans::Card,
            Some("MOBILE") | Some("ECPS") | Some("E-CPS") => AuthMeans::ECps,
            _ => AuthMeans::Unknown,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            AuthMeans::Card => "carte CPS",
            AuthMeans::ECps => "e-CPS",
            AuthMeans::Unknown => "moyen non précisé",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_professions_and_workplaces() {
        let json = r#"{"SubjectNameID":"899700427885","authMode":"CARD","SubjectRefPro":{"codeCivilite":"M","exercices":[
          {"codeProfession":"10","codeCiviliteDexercice":"DR","nomDexercice":"DOC0042788","prenomDexercice":"KIT","activities":[
            {"codeModeExercice":"S","codeSecteurDactivite":"SA01","codeRole":"","numeroFinessSite":"0B0193488",
             "raisonSocialeSite":"HOPITAL","bureauCedex":"75009 PARIS","codePostal":"75009","unknown":"x"}]}]}}"#;
        let c: PscClaims = serde_json::from_str(json).unwrap();
        let p = c.person(None, Some("DOC0042788"));
        assert_eq!(p.id_nat_ps, "899700427885");
        assert_eq!(p.rpps.as_deref(), Some("99700427885"));
        assert_eq!(p.first_name, "KIT");
        assert_eq!(p.civility.as_deref(), Some("DR"));
        assert_eq!(p.professions[0].label, "Médecin");
        let s = &p.situations[0];
        assert_eq!(s.role, None);
        assert_eq!(s.workplace.finess.as_deref(), Some("0B0193488"));
        assert_eq!(s.workplace.city.as_deref(), Some("PARIS"));
        assert_eq!(
            AuthMeans::from_auth_mode(c.auth_mode.as_deref()),
            AuthMeans::Card
        );
        assert_eq!(AuthMeans::from_auth_mode(None), AuthMeans::Unknown);
    }

    #[test]
    fn reads_every_userinfo_sample_of_the_spec_folder() {
        let dir = std::path::Path::new("../shared/spec/psc-annuaire/psc");
        if !dir.exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{} is missing under CI",
                dir.display()
            );
            eprintln!("did NOT run: {} absent", dir.display());
            return;
        }
        let mut seen = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if !name.starts_with("userinfo-") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let c: PscClaims =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            let p = c.person(v["given_name"].as_str(), v["family_name"].as_str());
            assert!(!p.id_nat_ps.is_empty(), "{name}");
            assert!(!p.last_name.is_empty(), "{name}");
            assert!(!p.professions.is_empty(), "{name}");
            seen += 1;
        }
        assert!(seen >= 3);
    }
}
