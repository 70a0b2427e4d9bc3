//! The sandbox's FHIR resources, shaped like the Annuaire's v2 ones (spec
//! samples): Practitioner (IDNPS/RPPS identifiers, name with civility,
//! qualification TRE_G15/TRE_R94 + TRE_R09, MSSanté telecom), PractitionerRole
//! (TRE_R22/TRE_R23 codes, TRE_R85 role for RPPS+ staff), Organization (site
//! FINEG/IDNST with sector, FINESS category and ORG mailboxes, `partOf` its
//! legal entity FINEJ).
//!
//! The API publishes a situation's sector on its structure (`Organization.type`,
//! TRE_R02): a situation without a structure has no sector once read back.

use serde_json::{Map, Value, json};

use crate::connectors::annuaire::systems;
use crate::domain::directory::{
    Coded, DirectoryOrganization, DirectoryPerson, Mailbox, Situation, Workplace,
};
use crate::domain::identifiers::luhn_valid;
use crate::sandbox::professionals::{SandboxProfessional, test_professionals};

const LAST_UPDATED: &str = "2026-10-01T08:00:00.000+02:00";

fn meta(profiles: [&str; 2]) -> Value {
    json!({
        "versionId": "1",
        "lastUpdated": LAST_UPDATED,
        "source": "https://annuaire.sante.fr",
        "profile": profiles,
    })
}

fn identifier(type_code: &str, system: &str, value: &str) -> Value {
    json!({
        "use": "official",
        "type": {"coding": [{"system": systems::IDENTIFIER_TYPE, "code": type_code}]},
        "system": system,
        "value": value,
    })
}

fn concept(system: &str, code: &str, display: Option<&str>) -> Value {
    let mut coding = json!({"system": system, "code": code});
    if let Some(d) = display {
        coding["display"] = json!(d);
    }
    json!({"coding": [coding]})
}

/// An `Organization.type` entry named by its slice (`as-ext-organization-types`).
fn organization_type(slice: &str, system: &str, code: &str, display: Option<&str>) -> Value {
    let mut t = concept(system, code, display);
    t["extension"] = json!([{"url": systems::EXT_ORGANIZATION_TYPES, "valueCode": slice}]);
    t
}

/// An MSSanté address with its metadata (spec: `uc-bal-mss` telecom block).
pub fn mailbox_telecom(m: &Mailbox) -> Value {
    let mut metadata = vec![json!({
        "url": "type",
        "valueCodeableConcept": {"coding": [
            {"system": systems::TRE_R257_MAILBOX_KIND, "code": m.kind.code()}
        ]}
    })];
    if let Some(d) = &m.description {
        metadata.push(json!({"url": "description", "valueString": d}));
    }
    metadata.push(json!({"url": "digitization", "valueBoolean": false}));
    json!({
        "extension": [
            {
                "url": systems::EXT_EMAIL_TYPE,
                "valueCoding": {"system": systems::TRE_R256_MESSAGING, "code": "MSSANTE", "display": "MSSANTE"}
            },
            {"url": systems::EXT_MAILBOX_METADATA, "extension": metadata}
        ],
        "system": "email",
        "value": m.address,
        "use": "work",
    })
}

/// Code system of a profession code: TRE_R94 for social professions,
/// TRE_G15 for health ones; longer codes are RPPS+ roles (TRE_R85) standing
/// for a profession, as the sandbox's professionals use them.
fn profession_system(code: &str) -> &'static str {
    const SOCIAL: [&str; 12] = [
        "41", "42", "43", "44", "45", "46", "47", "48", "49", "51", "52", "53",
    ];
    if SOCIAL.contains(&code) {
        systems::TRE_R94_SOCIAL_PROFESSION
    } else if code.len() <= 2 {
        systems::TRE_G15_PROFESSION
    } else {
        systems::TRE_R85_ROLE
    }
}

pub fn practitioner_id(person: &DirectoryPerson) -> String {
    format!("003-{}", person.id_nat_ps)
}

/// `prefix`: civility of the person (`M`, `MME`); `DR` goes to `suffix`.
pub fn practitioner(person: &DirectoryPerson, prefix: Option<&str>) -> Value {
    let mut identifiers = vec![identifier("IDNPS", systems::ID_NAT_PS, &person.id_nat_ps)];
    if let Some(rpps) = &person.rpps {
        identifiers.push(identifier("RPPS", systems::RPPS, rpps));
    }
    let mut name = Map::new();
    name.insert("use".into(), json!("usual"));
    if !person.last_name.is_empty() {
        name.insert("family".into(), json!(person.last_name));
    }
    if !person.first_name.is_empty() {
        name.insert("given".into(), json!([person.first_name]));
    }
    let civility = person.civility.as_deref();
    if let Some(p) = prefix.or(civility.filter(|c| *c != "DR")) {
        name.insert("prefix".into(), json!([p]));
    }
    if civility == Some("DR") {
        name.insert("suffix".into(), json!(["DR"]));
    }
    let qualification: Vec<Value> = person
        .professions
        .iter()
        .map(|p| {
            json!({"code": {"coding": [
                {"system": profession_system(&p.code), "code": p.code, "display": p.label},
                {"system": systems::TRE_R09_CATEGORY, "code": "C"}
            ]}})
        })
        .collect();
    let mut r = json!({
        "resourceType": "Practitioner",
        "id": practitioner_id(person),
        "meta": meta([systems::PROFILE_FR_PRACTITIONER, systems::PROFILE_PRACTITIONER]),
        "language": "fr",
        "identifier": identifiers,
        "active": true,
        "name": [name],
    });
    if !person.mailboxes.is_empty() {
        r["telecom"] = person.mailboxes.iter().map(mailbox_telecom).collect();
    }
    if !qualification.is_empty() {
        r["qualification"] = json!(qualification);
    }
    r
}

pub fn practitioner_role(
    person: &DirectoryPerson,
    index: usize,
    s: &Situation,
    organization_id: Option<&str>,
) -> Value {
    let site = s
        .workplace
        .finess
        .as_deref()
        .map(|f| format!("F{f}"))
        .or_else(|| {
            s.workplace
                .id_nat_struct
                .as_deref()
                .map(|i| format!("R{i}"))
        })
        .unwrap_or_else(|| "X".to_owned());
    let mut codes = vec![concept(systems::TRE_R22_ACTIVITY_KIND, "GENR01", None)];
    if let Some(mode) = &s.mode {
        codes.push(concept(systems::TRE_R23_MODE, mode, None));
    }
    if let Some(Coded { code, label }) = &s.role {
        codes.push(concept(systems::TRE_R85_ROLE, code, Some(label)));
    }
    let mut r = json!({
        "resourceType": "PractitionerRole",
        "id": format!("005-{}-{index}", person.id_nat_ps),
        "meta": meta([systems::PROFILE_FR_PRACTITIONER_ROLE, systems::PROFILE_PRACTITIONER_ROLE]),
        "language": "fr",
        "active": true,
        "identifier": [{"system": systems::RPPS, "value": format!("{site}{}", person.rpps.as_deref().unwrap_or(&person.id_nat_ps))}],
        "practitioner": {"reference": format!("Practitioner/{}", practitioner_id(person))},
        "code": codes,
    });
    if let Some(id) = organization_id {
        r["organization"] = json!({"reference": format!("Organization/{id}")});
    }
    r
}

/// A structure being assembled from the structures list and the workplaces.
#[derive(Debug, Clone)]
struct Draft {
    id: String,
    org: DirectoryOrganization,
    sector: Option<String>,
    legal_finess: Option<String>,
}

impl Draft {
    fn key(&self) -> String {
        structure_key(
            self.org.finess.as_deref(),
            self.org.id_nat_struct.as_deref(),
            &self.org.name,
        )
    }
}

fn structure_key(finess: Option<&str>, id_nat: Option<&str>, name: &str) -> String {
    finess
        .map(|f| format!("F{f}"))
        .or_else(|| id_nat.map(|i| format!("S{i}")))
        .unwrap_or_else(|| format!("N{name}"))
}

/// Every resource the sandbox serves, in a stable order.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub resources: Vec<Value>,
}

impl Dataset {
    /// The sandbox professionals and structures, then `extra` people, then raw resources.
    pub fn build(
        professionals: &[SandboxProfessional],
        organizations: &[DirectoryOrganization],
        extra: &[DirectoryPerson],
        raw: Vec<Value>,
    ) -> Dataset {
        let mut drafts: Vec<Draft> = organizations
            .iter()
            .map(|o| Draft {
                id: String::new(),
                org: o.clone(),
                sector: None,
                legal_finess: None,
            })
            .collect();
        let people: Vec<(&DirectoryPerson, Option<&str>)> = professionals
            .iter()
            .map(|p| (&p.person, Some(p.civility)))
            .chain(extra.iter().map(|p| (p, None)))
            .collect();
        for (person, _) in &people {
            for s in &person.situations {
                if let Some(i) = draft_for(&mut drafts, &s.workplace) {
                    let d = &mut drafts[i];
                    d.sector = d.sector.take().or_else(|| s.sector.clone());
                    d.legal_finess = d
                        .legal_finess
                        .take()
                        .or_else(|| s.workplace.finess_legal.clone());
                }
            }
        }
        for (i, d) in drafts.iter_mut().enumerate() {
            let tail = d
                .org
                .finess
                .clone()
                .or_else(|| d.org.id_nat_struct.clone())
                .unwrap_or_else(|| i.to_string());
            d.id = format!("001-01-{tail}");
        }
        let mut resources = Vec::new();
        for (person, prefix) in &people {
            resources.push(practitioner(person, *prefix));
            for (i, s) in person.situations.iter().enumerate() {
                let key = workplace_key(&s.workplace);
                let org_id = key.and_then(|k| drafts.iter().find(|d| d.key() == k));
                resources.push(practitioner_role(
                    person,
                    i,
                    s,
                    org_id.map(|d| d.id.as_str()),
                ));
            }
        }
        let mut legal_done: Vec<String> = Vec::new();
        for d in &drafts {
            resources.push(site(d));
            if let Some(ej) = &d.legal_finess
                && !legal_done.contains(ej)
            {
                resources.push(legal_entity(ej));
                legal_done.push(ej.clone());
            }
        }
        resources.extend(raw);
        Dataset { resources }
    }

    /// [`test_professionals`] and [`test_organizations`](crate::sandbox::professionals::test_organizations).
    pub fn sandbox(extra: &[DirectoryPerson], raw: Vec<Value>) -> Dataset {
        Dataset::build(
            &test_professionals(),
            &crate::sandbox::professionals::test_organizations(),
            extra,
            raw,
        )
    }
}

fn workplace_key(w: &Workplace) -> Option<String> {
    (w.finess.is_some() || w.id_nat_struct.is_some() || !w.name.is_empty())
        .then(|| structure_key(w.finess.as_deref(), w.id_nat_struct.as_deref(), &w.name))
}

/// Index of the draft for a workplace, created when new; `None` for a
/// workplace with no identity at all.
fn draft_for(drafts: &mut Vec<Draft>, w: &Workplace) -> Option<usize> {
    let key = workplace_key(w)?;
    if let Some(i) = drafts.iter().position(|d| d.key() == key) {
        return Some(i);
    }
    drafts.push(Draft {
        id: String::new(),
        org: DirectoryOrganization {
            finess: w.finess.clone(),
            id_nat_struct: w.id_nat_struct.clone(),
            name: w.name.clone(),
            category: None,
            postal_code: w.postal_code.clone(),
            city: w.city.clone(),
            mailboxes: Vec::new(),
        },
        sector: None,
        legal_finess: None,
    });
    Some(drafts.len() - 1)
}

fn legal_entity_id(finess: &str) -> String {
    format!("001-02-{finess}")
}

fn organization_base(id: &str, identifiers: Vec<Value>, name: &str, kind: &str) -> Value {
    json!({
        "resourceType": "Organization",
        "id": id,
        "meta": meta([systems::PROFILE_FR_ORGANIZATION, systems::PROFILE_ORGANIZATION]),
        "language": "fr",
        "active": true,
        "identifier": identifiers,
        "name": name,
        "type": [organization_type("organizationType", systems::ORGANIZATION_KIND, kind, None)],
    })
}

fn site(d: &Draft) -> Value {
    let o = &d.org;
    let mut identifiers = Vec::new();
    if let Some(n) = &o.id_nat_struct {
        identifiers.push(identifier("IDNST", systems::ID_NAT_STRUCT, n));
    }
    if let Some(f) = &o.finess {
        identifiers.push(identifier("FINEG", systems::FINESS, f));
    }
    let mut r = organization_base(&d.id, identifiers, &o.name, "GEOGRAPHICAL-ENTITY");
    if let Some(types) = r["type"].as_array_mut() {
        if let Some(sector) = &d.sector {
            types.push(organization_type(
                "secteurActiviteRASS",
                systems::TRE_R02_SECTOR,
                sector,
                None,
            ));
        }
        if let Some(c) = &o.category {
            types.push(organization_type(
                "categorieEtablissement",
                systems::TRE_R66_CATEGORY,
                &c.code,
                Some(&c.label),
            ));
        }
    }
    if !o.mailboxes.is_empty() {
        r["telecom"] = o.mailboxes.iter().map(mailbox_telecom).collect();
    }
    let mut address = Map::new();
    if let Some(pc) = &o.postal_code {
        address.insert("postalCode".into(), json!(pc));
    }
    if let Some(city) = &o.city {
        address.insert("city".into(), json!(city));
    }
    if !address.is_empty() {
        r["address"] = json!([address]);
    }
    if let Some(ej) = &d.legal_finess {
        r["partOf"] = json!({"reference": format!("Organization/{}", legal_entity_id(ej))});
    }
    r
}

fn legal_entity(finess: &str) -> Value {
    organization_base(
        &legal_entity_id(finess),
        vec![
            identifier("IDNST", systems::ID_NAT_STRUCT, &format!("1{finess}")),
            identifier("FINEJ", systems::FINESS, finess),
        ],
        &format!("ORGANISME GESTIONNAIRE {finess}"),
        "LEGAL-ENTITY",
    )
}

/// `n` made-up professionals sharing `family` (for paging), with RPPS
/// numbers `998…` (Luhn-valid) and a situation at the demo CSAPA.
pub fn generated_practitioners(n: usize, family: &str) -> Vec<DirectoryPerson> {
    const FIRST: [&str; 8] = [
        "Alice", "Bruno", "Chloé", "David", "Élise", "Fabien", "Gaëlle", "Hugo",
    ];
    const PROFESSIONS: [(&str, &str); 4] = [
        ("10", "Médecin"),
        ("60", "Infirmier"),
        ("51", "Éducateur spécialisé"),
        ("41", "Assistant de service social"),
    ];
    let workplace = test_professionals()
        .into_iter()
        .flat_map(|p| p.person.situations)
        .map(|s| s.workplace)
        .find(|w| w.finess.is_some())
        .unwrap_or_default();
    (0..n)
        .map(|i| {
            let stem = format!("998{:07}", i);
            let key = (0..10u8)
                .map(|d| format!("{stem}{d}"))
                .find(|r| luhn_valid(r))
                .unwrap_or_else(|| format!("{stem}0"));
            let (code, label) = PROFESSIONS[i % PROFESSIONS.len()];
            DirectoryPerson {
                id_nat_ps: format!("8{key}"),
                rpps: Some(key),
                civility: Some(if code == "10" { "DR" } else { "MME" }.into()),
                last_name: family.to_owned(),
                first_name: format!("{} {}", FIRST[i % FIRST.len()], i + 1),
                professions: vec![Coded {
                    code: code.into(),
                    label: label.into(),
                }],
                situations: vec![Situation {
                    role: None,
                    mode: Some("S".into()),
                    sector: Some("SA05".into()),
                    workplace: workplace.clone(),
                }],
                mailboxes: Vec::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_links_people_to_structures() {
        let d = Dataset::sandbox(&generated_practitioners(3, "ZED"), Vec::new());
        let count = |t: &str| {
            d.resources
                .iter()
                .filter(|r| r["resourceType"] == t)
                .count()
        };
        assert_eq!(count("Practitioner"), test_professionals().len() + 3);
        // CSAPA, CAARUD, CH de Pau, KIT's practice and hospital, and 3 legal entities.
        assert_eq!(count("Organization"), 8);
        let caarud = d
            .resources
            .iter()
            .find(|r| r["id"] == "001-01-640000022")
            .unwrap();
        assert_eq!(
            caarud["partOf"]["reference"],
            "Organization/001-02-640000139"
        );
        let generated = generated_practitioners(20, "ZED");
        assert!(
            generated
                .iter()
                .all(|p| luhn_valid(p.rpps.as_deref().unwrap()))
        );
        assert_eq!(generated[1].first_name, "Bruno 2");
    }
}
