//! FHIR search as the Annuaire's server does it, for the parameters the
//! sandbox simulates: strings (default = starts with, `:contains`, `:exact`;
//! case- and accent-insensitive except `:exact`), tokens (`system|value`,
//! `|value`, `system|`, bare value), `_id`, references, `active`, `_count`,
//! `_include`/`_revinclude`. Commas are OR, repeated parameters AND. Any
//! other parameter is refused, as the real server refuses unknown ones.

use serde_json::Value;

use crate::domain::search::fold;

/// Resource types served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Practitioner,
    PractitionerRole,
    Organization,
}

impl Kind {
    pub fn from_path(segment: &str) -> Option<Kind> {
        match segment {
            "Practitioner" => Some(Kind::Practitioner),
            "PractitionerRole" => Some(Kind::PractitionerRole),
            "Organization" => Some(Kind::Organization),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Practitioner => "Practitioner",
            Kind::PractitionerRole => "PractitionerRole",
            Kind::Organization => "Organization",
        }
    }

    /// Search parameters the sandbox understands for this type (with
    /// modifiers), besides [`COMMON_PARAMETERS`].
    fn parameters(self) -> &'static [&'static str] {
        match self {
            Kind::Practitioner => &[
                "family",
                "family:contains",
                "family:exact",
                "given",
                "given:contains",
                "given:exact",
                "name",
                "name:contains",
                "name:exact",
                "_revinclude",
            ],
            Kind::PractitionerRole => &["practitioner", "organization", "role", "_include"],
            Kind::Organization => &["name", "name:contains", "name:exact", "type"],
        }
    }

    fn knows(self, parameter: &str) -> bool {
        COMMON_PARAMETERS.contains(&parameter) || self.parameters().contains(&parameter)
    }
}

/// Understood on every resource type.
const COMMON_PARAMETERS: [&str; 6] = ["_id", "active", "identifier", "_count", "_total", "_format"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Modifier {
    StartsWith,
    Contains,
    Exact,
}

#[derive(Debug, Clone)]
enum Filter {
    /// Which string fields (family, given, name…), how, any of the values.
    Text {
        field: &'static str,
        modifier: Modifier,
        values: Vec<String>,
    },
    Identifier(Vec<String>),
    /// `role` or `type`: a token against the codings of `code` / `type`.
    Coding {
        element: &'static str,
        tokens: Vec<String>,
    },
    Id(Vec<String>),
    Active(bool),
    Reference {
        element: &'static str,
        target: &'static str,
        ids: Vec<String>,
    },
}

/// What to add beside each page's matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Includes {
    /// Practitioner: `_revinclude=PractitionerRole:practitioner`.
    pub roles_of_practitioners: bool,
    /// PractitionerRole: `_include=PractitionerRole:organization`.
    pub organizations: bool,
    /// PractitionerRole: `_include=PractitionerRole:practitioner`.
    pub practitioners: bool,
}

#[derive(Debug, Clone)]
pub struct Search {
    pub kind: Kind,
    filters: Vec<Filter>,
    pub count: usize,
    pub includes: Includes,
}

/// Refusal of a search: HTTP 400 with this diagnostic.
pub type Refusal = String;

impl Search {
    pub fn parse(
        kind: Kind,
        params: &[(String, String)],
        default_count: usize,
        max_count: usize,
    ) -> Result<Search, Refusal> {
        let mut search = Search {
            kind,
            filters: Vec::new(),
            count: default_count,
            includes: Includes::default(),
        };
        for (name, value) in params {
            if !kind.knows(name) {
                let mut valid: Vec<&str> = COMMON_PARAMETERS
                    .iter()
                    .chain(kind.parameters())
                    .map(|p| p.split(':').next().unwrap_or(p))
                    .collect();
                valid.dedup();
                return Err(format!(
                    "Unknown search parameter \"{name}\" for resource type \"{}\". \
                     Valid search parameters for this search are: [{}]",
                    kind.name(),
                    valid.join(", ")
                ));
            }
            let values = || -> Vec<String> {
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .collect()
            };
            let (base, modifier) = match name.split_once(':') {
                Some((b, "contains")) => (b, Modifier::Contains),
                Some((b, _)) => (b, Modifier::Exact),
                None => (name.as_str(), Modifier::StartsWith),
            };
            let filter = match base {
                "_count" => {
                    let n: usize = value.trim().parse().map_err(|_| {
                        format!(
                            "Invalid _count value \"{value}\": a non-negative integer is expected"
                        )
                    })?;
                    search.count = n.min(max_count);
                    continue;
                }
                "_total" | "_format" => continue,
                "_revinclude" => {
                    if value != "PractitionerRole:practitioner" {
                        return Err(format!(
                            "_revinclude \"{value}\" is not supported for Practitioner (sandbox: PractitionerRole:practitioner)"
                        ));
                    }
                    search.includes.roles_of_practitioners = true;
                    continue;
                }
                "_include" => {
                    match value.as_str() {
                        "PractitionerRole:organization" => search.includes.organizations = true,
                        "PractitionerRole:practitioner" => search.includes.practitioners = true,
                        "*" => {
                            search.includes.organizations = true;
                            search.includes.practitioners = true;
                        }
                        other => {
                            return Err(format!(
                                "_include \"{other}\" is not supported for PractitionerRole"
                            ));
                        }
                    }
                    continue;
                }
                "active" => match value.as_str() {
                    "true" => Filter::Active(true),
                    "false" => Filter::Active(false),
                    _ => return Err(format!("Invalid boolean value \"{value}\" for active")),
                },
                "_id" => Filter::Id(values()),
                "identifier" => Filter::Identifier(values()),
                "role" => Filter::Coding {
                    element: "code",
                    tokens: values(),
                },
                "type" => Filter::Coding {
                    element: "type",
                    tokens: values(),
                },
                "practitioner" => Filter::Reference {
                    element: "practitioner",
                    target: "Practitioner",
                    ids: values(),
                },
                "organization" => Filter::Reference {
                    element: "organization",
                    target: "Organization",
                    ids: values(),
                },
                "family" => text("family", modifier, values()),
                "given" => text("given", modifier, values()),
                "name" => text("name", modifier, values()),
                _ => return Err(format!("Unknown search parameter \"{name}\"")),
            };
            if let Filter::Text { values, .. } | Filter::Identifier(values) | Filter::Id(values) =
                &filter
                && values.is_empty()
            {
                return Err(format!("Empty value for search parameter \"{name}\""));
            }
            search.filters.push(filter);
        }
        Ok(search)
    }

    pub fn matches(&self, resource: &Value) -> bool {
        resource["resourceType"] == self.kind.name()
            && self.filters.iter().all(|f| filter_matches(f, resource))
    }
}

fn text(field: &'static str, modifier: Modifier, values: Vec<String>) -> Filter {
    Filter::Text {
        field,
        modifier,
        values,
    }
}

fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The strings a text parameter looks at.
fn text_fields<'a>(resource: &'a Value, field: &str) -> Vec<&'a str> {
    if resource["resourceType"] == "Organization" {
        let mut out = strings(&resource["name"]);
        out.extend(strings(&resource["alias"]));
        return out;
    }
    let names = resource["name"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    names
        .iter()
        .flat_map(|n| match field {
            "family" => strings(&n["family"]),
            "given" => strings(&n["given"]),
            _ => {
                let mut all = strings(&n["family"]);
                all.extend(strings(&n["given"]));
                all.extend(strings(&n["text"]));
                all
            }
        })
        .collect()
}

fn text_matches(candidate: &str, wanted: &str, modifier: Modifier) -> bool {
    match modifier {
        Modifier::Exact => candidate == wanted,
        Modifier::StartsWith => fold(candidate).starts_with(&fold(wanted)),
        Modifier::Contains => fold(candidate).contains(&fold(wanted)),
    }
}

/// `system|value`, `|value` (no system), `system|` (any value), `value` (any system).
fn token_matches(system: Option<&str>, value: Option<&str>, token: &str) -> bool {
    match token.split_once('|') {
        None => value == Some(token),
        Some(("", v)) => system.is_none() && value == Some(v),
        Some((s, "")) => system == Some(s),
        Some((s, v)) => system == Some(s) && value == Some(v),
    }
}

fn filter_matches(f: &Filter, r: &Value) -> bool {
    match f {
        Filter::Text {
            field,
            modifier,
            values,
        } => {
            let fields = text_fields(r, field);
            values
                .iter()
                .any(|v| fields.iter().any(|c| text_matches(c, v, *modifier)))
        }
        Filter::Identifier(tokens) => {
            let ids = r["identifier"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            tokens.iter().any(|t| {
                ids.iter()
                    .any(|i| token_matches(i["system"].as_str(), i["value"].as_str(), t))
            })
        }
        Filter::Coding { element, tokens } => {
            let concepts = r[*element]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            tokens.iter().any(|t| {
                concepts
                    .iter()
                    .flat_map(|c| {
                        c["coding"]
                            .as_array()
                            .map(Vec::as_slice)
                            .unwrap_or_default()
                    })
                    .any(|c| token_matches(c["system"].as_str(), c["code"].as_str(), t))
            })
        }
        Filter::Id(ids) => r["id"]
            .as_str()
            .is_some_and(|id| ids.iter().any(|x| x == id)),
        // Records without `active` count as active, as in FHIR.
        Filter::Active(a) => r["active"].as_bool().unwrap_or(true) == *a,
        Filter::Reference {
            element,
            target,
            ids,
        } => reference_id(&r[*element], target).is_some_and(|id| {
            ids.iter()
                .any(|x| x == &id || x.strip_prefix(&format!("{target}/")) == Some(id.as_str()))
        }),
    }
}

/// The id a reference points to, when it points to a `target`.
pub fn reference_id(reference: &Value, target: &str) -> Option<String> {
    reference["reference"]
        .as_str()?
        .strip_prefix(&format!("{target}/"))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn strings_tokens_and_refusals() {
        let r = json!({"resourceType": "Practitioner", "id": "x",
            "identifier": [{"system": "https://rpps.esante.gouv.fr", "value": "1"}],
            "name": [{"family": "Hélène-Lefèvre", "given": ["Zoé"]}]});
        let s = |q: &[(&str, &str)]| Search::parse(Kind::Practitioner, &p(q), 50, 100);
        assert!(s(&[("family", "HELENE")]).unwrap().matches(&r));
        assert!(!s(&[("family", "lefevre")]).unwrap().matches(&r));
        assert!(s(&[("family:contains", "lefevre")]).unwrap().matches(&r));
        assert!(
            !s(&[("family:exact", "helene-lefevre")])
                .unwrap()
                .matches(&r)
        );
        assert!(
            s(&[("given", "zoe"), ("family", "x,hel")])
                .unwrap()
                .matches(&r)
        );
        assert!(
            s(&[("identifier", "https://rpps.esante.gouv.fr|1")])
                .unwrap()
                .matches(&r)
        );
        assert!(s(&[("identifier", "1")]).unwrap().matches(&r));
        assert!(
            s(&[("identifier", "https://rpps.esante.gouv.fr|")])
                .unwrap()
                .matches(&r)
        );
        assert!(!s(&[("identifier", "|1")]).unwrap().matches(&r));
        assert!(s(&[("active", "true")]).unwrap().matches(&r));
        assert_eq!(s(&[("_count", "500")]).unwrap().count, 100);
        let refused = s(&[("birthdate", "2000")]).unwrap_err();
        assert!(
            refused.contains("Unknown search parameter \"birthdate\""),
            "{refused}"
        );
        assert!(s(&[("_count", "-1")]).is_err());
        assert!(s(&[("_revinclude", "PractitionerRole:organization")]).is_err());
        assert!(s(&[("family", "")]).is_err());
        assert!(Search::parse(Kind::Organization, &p(&[("family", "x")]), 50, 100).is_err());
    }
}
