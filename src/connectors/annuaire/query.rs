//! The search URLs sent to the Annuaire (FHIR search parameters of the v2
//! CapabilityStatement). One search = one first URL (also the cache key);
//! the following pages are the server's `next` links, followed verbatim.
//!
//! Practitioners come with their situations in one search:
//! `_revinclude=PractitionerRole:practitioner` puts each page's
//! PractitionerRoles beside its Practitioners. Their structures are then read
//! by id (`Organization?_id=a,b…`), legal entities (`partOf`) likewise.

use crate::domain::directory::DirectoryQuery;
use crate::domain::identifiers::NationalId;
use crate::domain::structure::Finess;

use super::systems;

/// A structure search typed in one box: a FINESS number or part of a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrganizationQuery {
    /// `name:contains`, case- and accent-insensitive at the server.
    Name(String),
    Finess(String),
}

impl OrganizationQuery {
    pub fn parse(input: &str) -> Option<OrganizationQuery> {
        let t = input.trim();
        if t.is_empty() {
            return None;
        }
        Some(match Finess::parse(t) {
            Ok(f) => OrganizationQuery::Finess(f.as_str().to_owned()),
            Err(_) => OrganizationQuery::Name(t.to_owned()),
        })
    }
}

/// Most ids put in one `_id=a,b,…` search (keeps URLs short).
pub const IDS_PER_SEARCH: usize = 40;

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn url(base: &str, resource: &str, params: &[(&str, &str)]) -> String {
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    format!(
        "{}/{resource}?{}",
        base.trim_end_matches('/'),
        query.join("&")
    )
}

/// `identifier` token for a professional's id: RPPS (11 digits) and idNat_PS
/// (`8`+RPPS, `0`+ADELI, bare ADELI) with their system; anything else bare,
/// which the API matches against every system.
pub fn practitioner_identifier_token(id: &str) -> String {
    let id = id.trim().to_ascii_uppercase();
    match NationalId::parse(&id) {
        Ok(NationalId::Rpps(rpps)) if id.len() == 11 => format!("{}|{rpps}", systems::RPPS),
        Ok(n) => format!("{}|{}", systems::ID_NAT_PS, n.id_nat_ps()),
        Err(_) => id,
    }
}

/// Practitioners with their PractitionerRoles; `None` for an empty name.
pub fn practitioner_search(base: &str, q: &DirectoryQuery, count: u32) -> Option<String> {
    let count = count.to_string();
    let revinclude = ("_revinclude", "PractitionerRole:practitioner");
    match q {
        DirectoryQuery::Name {
            last_name,
            first_name,
        } => {
            let last = last_name.trim();
            if last.is_empty() {
                return None;
            }
            let mut params = vec![("family", last)];
            if let Some(first) = first_name
                .as_deref()
                .map(str::trim)
                .filter(|f| !f.is_empty())
            {
                params.push(("given", first));
            }
            params.extend([revinclude, ("_count", &count)]);
            Some(url(base, "Practitioner", &params))
        }
        DirectoryQuery::Identifier(id) => {
            if id.trim().is_empty() {
                return None;
            }
            let token = practitioner_identifier_token(id);
            Some(url(
                base,
                "Practitioner",
                &[("identifier", &token), revinclude, ("_count", &count)],
            ))
        }
    }
}

/// Active structures by name part, or any structure by FINESS.
pub fn organization_search(base: &str, q: &OrganizationQuery, count: u32) -> Option<String> {
    let count = count.to_string();
    match q {
        OrganizationQuery::Name(name) if name.trim().is_empty() => None,
        OrganizationQuery::Name(name) => Some(url(
            base,
            "Organization",
            &[
                ("name:contains", name.trim()),
                ("active", "true"),
                ("_count", &count),
            ],
        )),
        OrganizationQuery::Finess(finess) => {
            let token = format!("{}|{}", systems::FINESS, finess.trim().to_ascii_uppercase());
            Some(url(
                base,
                "Organization",
                &[("identifier", &token), ("_count", &count)],
            ))
        }
    }
}

/// Structures by technical id, [`IDS_PER_SEARCH`] at most per URL.
pub fn organizations_by_id(base: &str, ids: &[String]) -> Vec<String> {
    ids.chunks(IDS_PER_SEARCH)
        .map(|chunk| {
            let count = chunk.len().to_string();
            url(
                base,
                "Organization",
                &[("_id", &chunk.join(",")), ("_count", &count)],
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://gateway.api.esante.gouv.fr/fhir/v2/";

    #[test]
    fn identifier_tokens() {
        assert_eq!(
            practitioner_identifier_token("99900000060"),
            "https://rpps.esante.gouv.fr|99900000060"
        );
        assert_eq!(
            practitioner_identifier_token(" 899900000060 "),
            "urn:oid:1.2.250.1.71.4.2.1|899900000060"
        );
        assert_eq!(
            practitioner_identifier_token("012807590"),
            "urn:oid:1.2.250.1.71.4.2.1|0012807590"
        );
        assert_eq!(
            practitioner_identifier_token("ANS2023112213"),
            "ANS2023112213"
        );
    }

    #[test]
    fn search_urls() {
        let q = DirectoryQuery::Name {
            last_name: "Girard".into(),
            first_name: Some("Thomas Jean".into()),
        };
        assert_eq!(
            practitioner_search(BASE, &q, 50).unwrap(),
            "https://gateway.api.esante.gouv.fr/fhir/v2/Practitioner?family=Girard&given=Thomas+Jean\
             &_revinclude=PractitionerRole%3Apractitioner&_count=50"
        );
        let q = DirectoryQuery::Identifier("99900000060".into());
        assert!(
            practitioner_search(BASE, &q, 10)
                .unwrap()
                .contains("identifier=https%3A%2F%2Frpps.esante.gouv.fr%7C99900000060")
        );
        let blank = DirectoryQuery::Name {
            last_name: " ".into(),
            first_name: None,
        };
        assert_eq!(practitioner_search(BASE, &blank, 10), None);
        assert_eq!(
            OrganizationQuery::parse("640000022"),
            Some(OrganizationQuery::Finess("640000022".into()))
        );
        assert_eq!(
            OrganizationQuery::parse(" caarud "),
            Some(OrganizationQuery::Name("caarud".into()))
        );
        let org = organization_search(BASE, &OrganizationQuery::Name("Boussole".into()), 20);
        assert_eq!(
            org.unwrap(),
            "https://gateway.api.esante.gouv.fr/fhir/v2/Organization?name:contains=Boussole&active=true&_count=20"
        );
        let ids: Vec<String> = (0..45).map(|i| format!("o{i}")).collect();
        let urls = organizations_by_id(BASE, &ids);
        assert_eq!(urls.len(), 2);
        assert!(urls[1].ends_with("_id=o40%2Co41%2Co42%2Co43%2Co44&_count=5"));
    }
}
