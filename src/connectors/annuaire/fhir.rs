//! Lenient reading of Annuaire FHIR resources into directory types. Only the
//! Bundle shape is required; inside a resource every element is optional
//! (closed records keep only their identifiers, names and qualifications may
//! be absent, references may point to structures that do not exist — ANS
//! issues #181, #246): what is there is returned, nothing fails.

use std::collections::HashMap;

use serde_json::Value;

use super::{nos_table, systems};
use crate::domain::directory::{
    Coded, DirectoryOrganization, DirectoryPerson, Mailbox, MailboxKind, Situation, Workplace,
    code_label,
};

/// One page of a search.
#[derive(Debug, Clone, Default)]
pub struct BundlePage {
    /// `entry[].resource`, in order (matches and includes alike).
    pub resources: Vec<Value>,
    /// The `next` link, absolute, to follow verbatim.
    pub next: Option<String>,
    pub total: Option<u64>,
}

/// Reads a search Bundle; `Err` says why the JSON is not one.
pub fn parse_bundle(v: &Value) -> Result<BundlePage, String> {
    match v.get("resourceType").and_then(Value::as_str) {
        Some("Bundle") => {}
        Some("OperationOutcome") => {
            return Err(format!(
                "OperationOutcome au lieu d'un Bundle : {}",
                operation_outcome_text(v).unwrap_or_default()
            ));
        }
        Some(other) => return Err(format!("ressource {other} au lieu d'un Bundle")),
        None => return Err("pas de resourceType : ce n'est pas du FHIR".to_owned()),
    }
    let resources = array(v, "entry")
        .filter_map(|e| e.get("resource").cloned())
        .filter(Value::is_object)
        .collect();
    let next = array(v, "link")
        .find(|l| str_of(l, "relation") == Some("next"))
        .and_then(|l| str_of(l, "url"))
        .map(str::to_owned);
    Ok(BundlePage {
        resources,
        next,
        total: v.get("total").and_then(Value::as_u64),
    })
}

/// `issue[].diagnostics` (or `details.text`) of an OperationOutcome, joined.
pub fn operation_outcome_text(v: &Value) -> Option<String> {
    if str_of(v, "resourceType") != Some("OperationOutcome") {
        return None;
    }
    let texts: Vec<&str> = array(v, "issue")
        .filter_map(|i| {
            str_of(i, "diagnostics").or_else(|| i.get("details").and_then(|d| str_of(d, "text")))
        })
        .collect();
    (!texts.is_empty()).then(|| texts.join(" ; "))
}

fn array<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> + use<'a> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn resource_type(v: &Value) -> Option<&str> {
    str_of(v, "resourceType")
}

fn is_inactive(v: &Value) -> bool {
    v.get("active").and_then(Value::as_bool) == Some(false)
}

/// The id in a reference to `resource`: `Organization/1`, an absolute URL,
/// with or without `/_history/n`.
pub fn reference_id(reference: &Value, resource: &str) -> Option<String> {
    let text = str_of(reference, "reference")?;
    let mut segments = text.split(['/', '?']);
    segments.find(|s| *s == resource)?;
    non_empty(segments.next())
}

/// Codings of a CodeableConcept.
fn codings(concept: &Value) -> impl Iterator<Item = &Value> {
    array(concept, "coding")
}

/// A coding as shown to people: the server's display, else our label, else the code.
fn coded(coding: &Value) -> Option<Coded> {
    let code = non_empty(str_of(coding, "code"))?;
    let label = non_empty(str_of(coding, "display"))
        .or_else(|| code_label(&code).map(str::to_owned))
        .unwrap_or_else(|| code.clone());
    Some(Coded { code, label })
}

fn coding_in_table<'a>(
    concepts: impl Iterator<Item = &'a Value>,
    tables: &[&str],
) -> impl Iterator<Item = &'a Value> {
    concepts.flat_map(codings).filter(move |c| {
        str_of(c, "system")
            .and_then(nos_table)
            .is_some_and(|t| tables.contains(&t))
    })
}

/// Value of the first identifier with this system or this type code.
fn identifier(v: &Value, system: &str, type_code: &str) -> Option<String> {
    array(v, "identifier")
        .find(|i| {
            str_of(i, "system") == Some(system)
                || i.get("type")
                    .is_some_and(|t| codings(t).any(|c| str_of(c, "code") == Some(type_code)))
        })
        .and_then(|i| non_empty(str_of(i, "value")))
}

fn extension<'a>(v: &'a Value, url: &str) -> Option<&'a Value> {
    array(v, "extension").find(|e| str_of(e, "url") == Some(url))
}

/// A sub-extension's code, whatever its value type.
fn extension_code(e: &Value) -> Option<&str> {
    if let Some(c) = str_of(e, "valueCode") {
        return Some(c);
    }
    if let Some(c) = e.get("valueCoding").and_then(|c| str_of(c, "code")) {
        return Some(c);
    }
    e.get("valueCodeableConcept")
        .and_then(|cc| codings(cc).find_map(|c| str_of(c, "code")))
}

/// MSSanté addresses among a resource's `telecom` and `contact[].telecom`.
/// A box without a published type gets `default_kind` (PER on a person, ORG
/// on a structure).
pub fn mailboxes(v: &Value, default_kind: MailboxKind) -> Vec<Mailbox> {
    let contact_telecoms = array(v, "contact").flat_map(|c| array(c, "telecom"));
    let mut out: Vec<Mailbox> = Vec::new();
    for t in array(v, "telecom").chain(contact_telecoms) {
        if str_of(t, "system") != Some("email") {
            continue;
        }
        let Some(address) = non_empty(str_of(t, "value")) else {
            continue;
        };
        let mssante = extension(t, systems::EXT_EMAIL_TYPE)
            .and_then(extension_code)
            .is_some_and(|c| c.eq_ignore_ascii_case("MSSANTE"));
        let metadata = extension(t, systems::EXT_MAILBOX_METADATA);
        if !mssante && metadata.is_none() {
            continue;
        }
        let sub = |name: &str| metadata.and_then(|m| extension(m, name));
        let kind = sub("type")
            .and_then(extension_code)
            .and_then(MailboxKind::from_code)
            .unwrap_or(default_kind);
        let description = sub("description")
            .or_else(|| sub("service"))
            .and_then(|e| non_empty(str_of(e, "valueString")));
        if out.iter().any(|m| m.address.eq_ignore_ascii_case(&address)) {
            continue;
        }
        out.push(Mailbox {
            address,
            kind,
            description,
        });
    }
    out
}

/// Practitioners, their situations and structures gathered from search pages.
#[derive(Debug, Default)]
pub struct Index<'a> {
    pub practitioners: Vec<&'a Value>,
    roles: HashMap<String, Vec<&'a Value>>,
    organizations: HashMap<String, &'a Value>,
}

impl<'a> Index<'a> {
    pub fn new(resources: impl IntoIterator<Item = &'a Value>) -> Self {
        let mut index = Index::default();
        index.add(resources);
        index
    }

    pub fn add(&mut self, resources: impl IntoIterator<Item = &'a Value>) {
        for r in resources {
            match resource_type(r) {
                Some("Practitioner") => {
                    let id = str_of(r, "id");
                    if id.is_none() || !self.practitioners.iter().any(|p| str_of(p, "id") == id) {
                        self.practitioners.push(r);
                    }
                }
                Some("PractitionerRole") => {
                    if let Some(p) = r
                        .get("practitioner")
                        .and_then(|p| reference_id(p, "Practitioner"))
                    {
                        let roles = self.roles.entry(p).or_default();
                        let id = str_of(r, "id");
                        if id.is_none() || !roles.iter().any(|x| str_of(x, "id") == id) {
                            roles.push(r);
                        }
                    }
                }
                Some("Organization") => {
                    if let Some(id) = str_of(r, "id") {
                        self.organizations.insert(id.to_owned(), r);
                    }
                }
                _ => {}
            }
        }
    }

    /// Structures referenced by situations (and legal entities of those
    /// present) that the pages did not bring.
    pub fn missing_organizations(&self) -> Vec<String> {
        let from_roles = self
            .roles
            .values()
            .flatten()
            .filter_map(|r| r.get("organization"))
            .filter_map(|o| reference_id(o, "Organization"));
        let from_sites = self
            .organizations
            .values()
            .filter_map(|o| o.get("partOf"))
            .filter_map(|o| reference_id(o, "Organization"));
        let mut missing: Vec<String> = from_roles
            .chain(from_sites)
            .filter(|id| !self.organizations.contains_key(id))
            .collect();
        missing.sort();
        missing.dedup();
        missing
    }

    /// Every practitioner found, in the order of the pages.
    pub fn persons(&self) -> Vec<DirectoryPerson> {
        self.practitioners.iter().map(|p| self.person(p)).collect()
    }

    fn roles_of(&self, practitioner: &Value) -> &[&'a Value] {
        str_of(practitioner, "id")
            .and_then(|id| self.roles.get(id))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    pub fn person(&self, practitioner: &Value) -> DirectoryPerson {
        let mut person = person_without_situations(practitioner);
        let roles: Vec<&Value> = self
            .roles_of(practitioner)
            .iter()
            .copied()
            .filter(|r| !is_inactive(r))
            .collect();
        for role in &roles {
            person.situations.push(self.situation(role));
            for m in mailboxes(role, MailboxKind::Personnelle) {
                if !person
                    .mailboxes
                    .iter()
                    .any(|x| x.address.eq_ignore_ascii_case(&m.address))
                {
                    person.mailboxes.push(m);
                }
            }
        }
        if person.professions.is_empty() {
            // Older shapes put the profession on the situation.
            for c in coding_in_table(roles.iter().flat_map(|r| array(r, "code")), PROFESSIONS)
                .filter_map(coded)
            {
                if !person.professions.iter().any(|p| p.code == c.code) {
                    person.professions.push(c);
                }
            }
        }
        person
    }

    fn situation(&self, role: &Value) -> Situation {
        let codes = || array(role, "code");
        let role_code = coding_in_table(codes(), &["TRE_R85"])
            .chain(coding_in_table(codes(), &["TRE_R21"]))
            .find_map(coded);
        let mode =
            coding_in_table(codes(), &["TRE_R23"]).find_map(|c| non_empty(str_of(c, "code")));
        let reference = role.get("organization");
        let org = reference
            .and_then(|r| reference_id(r, "Organization"))
            .and_then(|id| self.organizations.get(&id));
        let (workplace, sector) = match org {
            Some(o) => (self.workplace(o), sector(o)),
            None => (
                Workplace {
                    name: reference
                        .and_then(|r| non_empty(str_of(r, "display")))
                        .unwrap_or_default(),
                    ..Workplace::default()
                },
                None,
            ),
        };
        Situation {
            role: role_code,
            mode,
            sector,
            workplace,
        }
    }

    fn workplace(&self, org: &Value) -> Workplace {
        let legal = org
            .get("partOf")
            .and_then(|p| reference_id(p, "Organization"))
            .and_then(|id| self.organizations.get(&id));
        let o = organization(org);
        Workplace {
            name: o.name,
            finess: o.finess,
            finess_legal: legal.and_then(|l| identifier(l, systems::FINESS, "FINEJ")),
            id_nat_struct: o.id_nat_struct,
            postal_code: o.postal_code,
            city: o.city,
        }
    }

    /// Every structure of the pages, in no particular order.
    pub fn organizations(&self) -> impl Iterator<Item = &'a Value> + '_ {
        self.organizations.values().copied()
    }
}

/// Code tables of professions (health, social, title users, others, RPPS+ roles
/// standing for a profession).
const PROFESSIONS: &[&str] = &["TRE_G15", "TRE_R94", "TRE_R95", "TRE_R291", "TRE_R85"];

fn person_without_situations(p: &Value) -> DirectoryPerson {
    let rpps = identifier(p, systems::RPPS, "RPPS");
    let id_nat_ps = identifier(p, systems::ID_NAT_PS, "IDNPS")
        .or_else(|| rpps.as_ref().map(|r| format!("8{r}")))
        .unwrap_or_default();
    let names: Vec<&Value> = array(p, "name").collect();
    let name = names
        .iter()
        .find(|n| matches!(str_of(n, "use"), Some("official" | "usual")))
        .or(names.first())
        .copied();
    let first_of = |key: &str| name.and_then(|n| array(n, key).find_map(|s| non_empty(s.as_str())));
    let last_name = name
        .and_then(|n| non_empty(str_of(n, "family")).or_else(|| non_empty(str_of(n, "text"))))
        .unwrap_or_default();
    let first_name = name
        .map(|n| {
            array(n, "given")
                .filter_map(Value::as_str)
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let mut professions: Vec<Coded> = Vec::new();
    for c in coding_in_table(
        array(p, "qualification").filter_map(|q| q.get("code")),
        PROFESSIONS,
    )
    .filter_map(coded)
    {
        if !professions.iter().any(|x| x.code == c.code) {
            professions.push(c);
        }
    }
    DirectoryPerson {
        id_nat_ps,
        rpps,
        civility: first_of("suffix").or_else(|| first_of("prefix")),
        last_name,
        first_name,
        professions,
        situations: Vec::new(),
        mailboxes: mailboxes(p, MailboxKind::Personnelle),
    }
}

/// Activity sector (TRE_R02) published on a structure.
fn sector(org: &Value) -> Option<String> {
    coding_in_table(array(org, "type"), &["TRE_R02"]).find_map(|c| non_empty(str_of(c, "code")))
}

/// A structure as the directory shows it.
pub fn organization(o: &Value) -> DirectoryOrganization {
    let address =
        array(o, "address").find(|a| a.get("postalCode").is_some() || a.get("city").is_some());
    DirectoryOrganization {
        finess: identifier(o, systems::FINESS, "FINEG")
            .or_else(|| identifier(o, systems::FINESS, "FINEJ")),
        id_nat_struct: identifier(o, systems::ID_NAT_STRUCT, "IDNST"),
        name: non_empty(str_of(o, "name")).unwrap_or_default(),
        category: coding_in_table(array(o, "type"), &["TRE_R66"]).find_map(coded),
        postal_code: address.and_then(|a| non_empty(str_of(a, "postalCode"))),
        city: address.and_then(|a| non_empty(str_of(a, "city"))),
        mailboxes: mailboxes(o, MailboxKind::Organisationnelle),
    }
}

/// Structures of search pages that matched (legal entities fetched for
/// `partOf` are not results), in page order.
pub fn organizations(resources: &[Value]) -> Vec<DirectoryOrganization> {
    resources
        .iter()
        .filter(|r| resource_type(r) == Some("Organization"))
        .map(organization)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mss(address: &str, kind: Option<&str>, description: Option<&str>) -> Value {
        let mut meta = vec![];
        if let Some(k) = kind {
            meta.push(json!({"url": "type", "valueCodeableConcept": {"coding": [
                {"system": systems::TRE_R257_MAILBOX_KIND, "code": k}]}}));
        }
        if let Some(d) = description {
            meta.push(json!({"url": "description", "valueString": d}));
        }
        json!({
            "system": "email",
            "value": address,
            "extension": [
                {"url": systems::EXT_EMAIL_TYPE, "valueCoding": {"system": systems::TRE_R256_MESSAGING, "code": "MSSANTE"}},
                {"url": systems::EXT_MAILBOX_METADATA, "extension": meta}
            ]
        })
    }

    #[test]
    fn bundle_and_links() {
        let b = json!({"resourceType": "Bundle", "type": "searchset", "total": 3,
            "link": [{"relation": "self", "url": "https://h/fhir/v2/Practitioner"},
                     {"relation": "next", "url": "https://h/fhir/v2?_getpages=x&_pageId=y"}],
            "entry": [{"resource": {"resourceType": "Practitioner", "id": "1"}}, {"fullUrl": "no resource"}]});
        let page = parse_bundle(&b).unwrap();
        assert_eq!(page.resources.len(), 1);
        assert_eq!(
            page.next.as_deref(),
            Some("https://h/fhir/v2?_getpages=x&_pageId=y")
        );
        assert_eq!(page.total, Some(3));
        let oo = json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing", "diagnostics": "Unknown search parameter"}]});
        assert!(
            parse_bundle(&oo)
                .unwrap_err()
                .contains("Unknown search parameter")
        );
        assert!(parse_bundle(&json!([1])).is_err());
        assert_eq!(
            operation_outcome_text(&json!({"resourceType": "OperationOutcome", "issue": [{"details": {"text": "a"}}, {"diagnostics": "b"}]})).as_deref(),
            Some("a ; b")
        );
    }

    #[test]
    fn references() {
        let r = |s: &str| json!({"reference": s});
        assert_eq!(
            reference_id(&r("Organization/158480"), "Organization").as_deref(),
            Some("158480")
        );
        assert_eq!(
            reference_id(
                &r("https://h/fhir/v2/Organization/001-01-x/_history/2"),
                "Organization"
            )
            .as_deref(),
            Some("001-01-x")
        );
        assert_eq!(reference_id(&r("Practitioner/1"), "Organization"), None);
        assert_eq!(reference_id(&json!({"display": "x"}), "Organization"), None);
    }

    #[test]
    fn sparse_records_do_not_fail() {
        let closed = json!({"resourceType": "Practitioner", "id": "p", "active": false,
            "identifier": [{"system": systems::RPPS, "value": "10000001916"}]});
        let role_without_anything = json!({"resourceType": "PractitionerRole", "id": "r",
            "practitioner": {"reference": "Practitioner/p"},
            "organization": {"reference": "Organization/nowhere", "display": "CSAPA X"}});
        let resources = [closed, role_without_anything];
        let index = Index::new(&resources);
        assert_eq!(index.missing_organizations(), vec!["nowhere".to_owned()]);
        let people = index.persons();
        assert_eq!(people.len(), 1);
        let p = &people[0];
        assert_eq!(p.id_nat_ps, "810000001916");
        assert_eq!(p.rpps.as_deref(), Some("10000001916"));
        assert!(p.last_name.is_empty() && p.first_name.is_empty() && p.professions.is_empty());
        assert_eq!(p.situations.len(), 1);
        assert_eq!(p.situations[0].workplace.name, "CSAPA X");
        assert_eq!(p.situations[0].role, None);

        let nothing = json!({"resourceType": "Practitioner"});
        let p = Index::new([&nothing]).persons().remove(0);
        assert_eq!(p, DirectoryPerson::default());
        assert_eq!(
            organization(&json!({"resourceType": "Organization"})),
            DirectoryOrganization::default()
        );
    }

    #[test]
    fn person_with_situation_structure_and_mailboxes() {
        let resources = vec![
            json!({"resourceType": "Practitioner", "id": "p1", "active": true,
                "identifier": [
                    {"type": {"coding": [{"system": systems::IDENTIFIER_TYPE, "code": "IDNPS"}]}, "system": systems::ID_NAT_PS, "value": "899900000060"},
                    {"system": systems::RPPS, "value": "99900000060"}],
                "name": [{"use": "usual", "family": "GIRARD", "given": ["Thomas"], "prefix": ["M"]}],
                "telecom": [{"system": "phone", "value": "0102030405"},
                            {"system": "email", "value": "not.mss@example.org"},
                            mss("t.girard@x.mssante.fr", None, None)],
                "qualification": [{"code": {"coding": [
                    {"system": systems::TRE_R94_SOCIAL_PROFESSION, "code": "51"},
                    {"system": systems::TRE_R09_CATEGORY, "code": "C"}]}}]}),
            json!({"resourceType": "PractitionerRole", "id": "r1", "active": true,
                "practitioner": {"reference": "Practitioner/p1"},
                "organization": {"reference": "Organization/eg"},
                "code": [{"coding": [{"system": systems::TRE_R23_MODE, "code": "S"}]},
                         {"coding": [{"system": systems::TRE_R85_ROLE, "code": "326", "display": "Educateur spécialisé"}]}]}),
            json!({"resourceType": "PractitionerRole", "id": "r0", "active": false,
                "practitioner": {"reference": "Practitioner/p1"}}),
            json!({"resourceType": "Organization", "id": "eg", "name": "CAARUD LA BOUSSOLE",
                "partOf": {"reference": "Organization/ej"},
                "identifier": [{"system": systems::FINESS, "value": "640000022"},
                               {"system": systems::ID_NAT_STRUCT, "value": "1640000022"}],
                "type": [{"coding": [{"system": systems::TRE_R02_SECTOR, "code": "SA05"}]},
                         {"coding": [{"system": systems::TRE_R66_CATEGORY, "code": "178"}]}],
                "address": [{"line": ["1 rue"]}, {"postalCode": "64000", "city": "PAU"}],
                "telecom": [mss("equipe@caarud.mssante.fr", Some("ORG"), Some(" Équipe "))]}),
            json!({"resourceType": "Organization", "id": "ej",
                "identifier": [{"type": {"coding": [{"code": "FINEJ"}]}, "system": systems::FINESS, "value": "640000139"}]}),
        ];
        let index = Index::new(&resources);
        assert!(index.missing_organizations().is_empty());
        let p = index.persons().remove(0);
        assert_eq!(p.id_nat_ps, "899900000060");
        assert_eq!(p.display_name(), "Thomas GIRARD");
        assert_eq!(p.civility.as_deref(), Some("M"));
        assert_eq!(
            p.professions,
            vec![Coded {
                code: "51".into(),
                label: "Éducateur spécialisé".into()
            }]
        );
        assert_eq!(p.mailboxes.len(), 1);
        assert_eq!(p.mailboxes[0].kind, MailboxKind::Personnelle);
        assert_eq!(p.situations.len(), 1, "closed situations are left out");
        let s = &p.situations[0];
        assert_eq!(
            s.role.as_ref().map(|r| r.label.as_str()),
            Some("Educateur spécialisé")
        );
        assert_eq!(s.mode.as_deref(), Some("S"));
        assert_eq!(s.sector.as_deref(), Some("SA05"));
        assert_eq!(s.workplace.finess.as_deref(), Some("640000022"));
        assert_eq!(s.workplace.finess_legal.as_deref(), Some("640000139"));
        assert_eq!(s.workplace.postal_code.as_deref(), Some("64000"));
        let org = organization(&resources[3]);
        assert_eq!(org.category.as_ref().map(|c| c.code.as_str()), Some("178"));
        assert_eq!(org.mailboxes[0].kind, MailboxKind::Organisationnelle);
        assert_eq!(org.mailboxes[0].description.as_deref(), Some("Équipe"));
    }
}
