//! Who is who among professionals (Annuaire Santé, RPPS+): a person's
//! professions, practice situations and MSSanté mailboxes, whatever the source
//! (the FHIR API, the open-data extraction files, Pro Santé Connect's userinfo).
//! Records are matched on business identifiers (idNat_PS, RPPS, FINESS): the
//! API and the files share no technical id (ANS, annuaire-sante-fhir-documentation#111).

use serde::{Deserialize, Serialize};

use super::roles::Role;

/// A code with the label shown to people (TRE_G15, TRE_R94, TRE_R85, TRE_R66…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coded {
    pub code: String,
    pub label: String,
}

/// Kind of MSSanté mailbox (TRE_R257-TypeBAL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MailboxKind {
    /// Personal (PER).
    Personnelle,
    /// Organisational (ORG): a service's shared box.
    Organisationnelle,
    /// Applicative (APP).
    Applicative,
    /// A practice's box (CAB).
    Cabinet,
}

impl MailboxKind {
    pub fn from_code(code: &str) -> Option<MailboxKind> {
        match code.trim().to_ascii_uppercase().as_str() {
            "PER" => Some(MailboxKind::Personnelle),
            "ORG" => Some(MailboxKind::Organisationnelle),
            "APP" => Some(MailboxKind::Applicative),
            "CAB" => Some(MailboxKind::Cabinet),
            _ => None,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            MailboxKind::Personnelle => "PER",
            MailboxKind::Organisationnelle => "ORG",
            MailboxKind::Applicative => "APP",
            MailboxKind::Cabinet => "CAB",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            MailboxKind::Personnelle => "personnelle",
            MailboxKind::Organisationnelle => "organisationnelle",
            MailboxKind::Applicative => "applicative",
            MailboxKind::Cabinet => "cabinet",
        }
    }
}

/// An MSSanté address published in the Annuaire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    pub address: String,
    pub kind: MailboxKind,
    /// Free text published with the box (service name, purpose).
    pub description: Option<String>,
}

/// A structure where a professional practises (FINESS site when there is one).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Workplace {
    pub name: String,
    pub finess: Option<String>,
    pub finess_legal: Option<String>,
    /// idNat_Struct (`1`+FINESS, `3`+SIRET, `4`+RPPS-rang…).
    pub id_nat_struct: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
}

/// A practice situation: one activity in one workplace.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Situation {
    /// RPPS+ role (TRE_R85, e.g. 326 Éducateur spécialisé) or function.
    pub role: Option<Coded>,
    /// Mode of practice (TRE_R23: L libéral, S salarié, B bénévole).
    pub mode: Option<String>,
    /// Activity sector (TRE_R02, e.g. SA07).
    pub sector: Option<String>,
    pub workplace: Workplace,
}

/// A professional as the Annuaire knows them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DirectoryPerson {
    /// idNat_PS: `8`+RPPS, `0`+ADELI, `3`+FINESS+internal id…
    pub id_nat_ps: String,
    pub rpps: Option<String>,
    /// Civility of practice (`DR`, `M`, `MME`…).
    pub civility: Option<String>,
    pub last_name: String,
    pub first_name: String,
    /// Professions (TRE_G15 health, TRE_R94 social).
    pub professions: Vec<Coded>,
    pub situations: Vec<Situation>,
    pub mailboxes: Vec<Mailbox>,
}

impl DirectoryPerson {
    pub fn display_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
            .trim()
            .to_string()
    }

    /// The first profession's label, or the first role's, for one-line lists.
    pub fn headline(&self) -> String {
        self.professions
            .first()
            .map(|p| p.label.clone())
            .or_else(|| {
                self.situations
                    .iter()
                    .find_map(|s| s.role.as_ref().map(|r| r.label.clone()))
            })
            .unwrap_or_default()
    }

    /// Escale roles that fit what the Annuaire says (a suggestion: the director decides).
    pub fn suggested_roles(&self) -> Vec<Role> {
        let mut roles: Vec<Role> = Vec::new();
        let codes = self.professions.iter().map(|p| p.code.as_str()).chain(
            self.situations
                .iter()
                .filter_map(|s| s.role.as_ref().map(|r| r.code.as_str())),
        );
        for code in codes {
            if let Some(r) = role_for_code(code)
                && !roles.contains(&r)
            {
                roles.push(r);
            }
        }
        roles
    }
}

/// TRE_G15 profession, TRE_R94 social profession or TRE_R85 role → Escale role.
/// The three code lists do not overlap on the codes used here.
pub fn role_for_code(code: &str) -> Option<Role> {
    match code {
        // TRE_G15
        "10" => Some(Role::Medecin),
        "60" => Some(Role::Infirmier),
        "93" => Some(Role::Psychologue),
        // TRE_R94 / TRE_R85 social work
        "41" | "44" | "300" | "304" | "320" | "330" => Some(Role::TravailleurSocial),
        "48" | "49" | "51" | "52" | "53" | "324" | "325" | "326" | "327" | "328" => {
            Some(Role::Educateur)
        }
        "305" => Some(Role::Psychologue),
        "331" | "332" => Some(Role::Accueil),
        _ => None,
    }
}

/// Label of a profession or role code, for the codes a CSAPA/CAARUD meets
/// (TRE_G15, TRE_R94, TRE_R85 subsets); `None` when unknown (show the code).
pub fn code_label(code: &str) -> Option<&'static str> {
    Some(match code {
        "10" => "Médecin",
        "21" => "Pharmacien",
        "40" => "Chirurgien-dentiste",
        "50" => "Sage-femme",
        "60" => "Infirmier",
        "70" => "Masseur-kinésithérapeute",
        "80" => "Pédicure-podologue",
        "93" => "Psychologue",
        "41" => "Assistant de service social",
        "42" => "Auxiliaire de vie sociale",
        "44" => "Conseiller en économie sociale et familiale",
        "47" => "Aide médico-psychologique (AMP)",
        "48" => "Moniteur éducateur",
        "49" => "Éducateur de jeunes enfants",
        "51" => "Éducateur spécialisé",
        "52" => "Éducateur technique spécialisé",
        "53" => "Accompagnant éducatif et social",
        "312" => "Autre professionnel",
        "313" => "Aide-soignant",
        "324" => "Moniteur éducateur",
        "326" => "Éducateur spécialisé",
        "328" => "Accompagnant éducatif et social",
        "330" => "Coordonnateur de parcours",
        "331" => "Secrétaire médicale",
        "332" => "Assistant médical",
        _ => return None,
    })
}

/// A structure as the Annuaire knows it (FINESS geographic or legal entity).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DirectoryOrganization {
    pub finess: Option<String>,
    pub id_nat_struct: Option<String>,
    pub name: String,
    /// FINESS category (TRE_R66: 197 CSAPA, 178 CAARUD…).
    pub category: Option<Coded>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub mailboxes: Vec<Mailbox>,
}

/// A search in the directory: a name (last name, optionally followed by a
/// first name) or a national identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryQuery {
    Name {
        last_name: String,
        first_name: Option<String>,
    },
    Identifier(String),
}

impl DirectoryQuery {
    /// What a person types in one search box: digits are an identifier
    /// (RPPS, idNat_PS, ADELI), anything else a name (« DUPONT Marie »).
    pub fn parse(input: &str) -> Option<DirectoryQuery> {
        let t = input.trim();
        if t.is_empty() {
            return None;
        }
        let compact: String = t.chars().filter(|c| !c.is_whitespace()).collect();
        let digits = compact.chars().filter(char::is_ascii_digit).count();
        if compact.len() >= 9 && digits * 10 >= compact.len() * 8 {
            return Some(DirectoryQuery::Identifier(compact.to_ascii_uppercase()));
        }
        let mut words = t.split_whitespace();
        let last = words.next()?.to_string();
        let rest: Vec<&str> = words.collect();
        Some(DirectoryQuery::Name {
            last_name: last,
            first_name: (!rest.is_empty()).then(|| rest.join(" ")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        assert_eq!(
            DirectoryQuery::parse(" 10000001916 "),
            Some(DirectoryQuery::Identifier("10000001916".into()))
        );
        assert_eq!(
            DirectoryQuery::parse("0B0193488"),
            Some(DirectoryQuery::Identifier("0B0193488".into()))
        );
        assert_eq!(
            DirectoryQuery::parse("Dupont Marie Anne"),
            Some(DirectoryQuery::Name {
                last_name: "Dupont".into(),
                first_name: Some("Marie Anne".into())
            })
        );
        assert_eq!(DirectoryQuery::parse("   "), None);
    }

    #[test]
    fn roles_are_suggested_from_professions_and_rpps_plus_roles() {
        let p = DirectoryPerson {
            professions: vec![Coded {
                code: "51".into(),
                label: "Éducateur spécialisé".into(),
            }],
            situations: vec![Situation {
                role: Some(Coded {
                    code: "326".into(),
                    label: "Educateur spécialisé".into(),
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(p.suggested_roles(), vec![Role::Educateur]);
        assert_eq!(role_for_code("10"), Some(Role::Medecin));
        assert_eq!(role_for_code("312"), None);
        assert_eq!(p.headline(), "Éducateur spécialisé");
        assert_eq!(
            MailboxKind::from_code("org"),
            Some(MailboxKind::Organisationnelle)
        );
    }
}
