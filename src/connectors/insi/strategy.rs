//! Search strategy by traits (regional guidance
//! esante-bretagne.fr « la gestion de l'INS »; CNDA cases 2.06 and 2.07;
//! padoa `insi-person.class.ts`): first the first birth first name alone,
//! without birthplace; on 01/02, each other first name alone, then the whole
//! list as one `Prenom`, then the first first name with the birthplace COG.
//! Never the same query twice; stop at the first 00 or the first error (no
//! retry storm).

use chrono::NaiveDate;

use super::client::{Exchange, InsiClient};
use super::envelope::TraitsQuery;
use super::error::InsiError;
use super::response::{CodeCr, InsiResponse};

/// Strict traits of the local identity, as captured (already valid for INSi).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTraits {
    pub birth_name: String,
    /// All birth first names, in order.
    pub first_names: Vec<String>,
    pub sex: String,
    pub birth_date: NaiveDate,
    pub birth_place: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StrategyStep {
    /// French, e.g. « prénom OLA », « liste des prénoms »,
    /// « avec le lieu de naissance 63220 ».
    pub label: String,
    pub query: TraitsQuery,
    pub exchange: Exchange,
}

#[derive(Debug, Clone)]
pub struct StrategyOutcome {
    pub steps: Vec<StrategyStep>,
}

impl StrategyOutcome {
    /// The answer of the last call (00 if one was found, else the last 01/02,
    /// or the error that stopped the strategy).
    pub fn final_response(&self) -> Result<&InsiResponse, &InsiError> {
        match self.steps.last() {
            Some(step) => step.exchange.outcome.as_ref(),
            None => Err(&NO_STEP),
        }
    }
}

static NO_STEP: InsiError = InsiError::Malformed(String::new());

/// The planned queries, in order, without duplicates (pure: tested without
/// network). The caller stops at the first 00 or error.
pub fn plan(local: &LocalTraits) -> Vec<(String, TraitsQuery)> {
    let names: Vec<&str> = local
        .first_names
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .collect();
    let query = |first_name: &str, birth_place: Option<String>| TraitsQuery {
        birth_name: local.birth_name.clone(),
        first_name: first_name.to_owned(),
        sex: local.sex.clone(),
        birth_date: local.birth_date,
        birth_place,
    };
    let mut steps: Vec<(String, TraitsQuery)> = Vec::new();
    let mut push = |label: String, q: TraitsQuery| {
        if !steps.iter().any(|(_, existing)| *existing == q) {
            steps.push((label, q));
        }
    };
    let Some(first) = names.first() else {
        return Vec::new();
    };
    push(format!("prénom {first}"), query(first, None));
    for other in names.iter().skip(1) {
        push(format!("prénom {other}"), query(other, None));
    }
    if names.len() >= 2 {
        push(
            "liste des prénoms".to_owned(),
            query(&names.join(" "), None),
        );
    }
    if let Some(place) = local.birth_place.as_deref().filter(|p| !p.is_empty()) {
        push(
            format!("avec le lieu de naissance {place}"),
            query(first, Some(place.to_owned())),
        );
    }
    steps
}

/// Runs the strategy against the téléservice.
pub async fn rechercher_avec_strategie(
    client: &InsiClient,
    local: &LocalTraits,
) -> StrategyOutcome {
    let mut steps = Vec::new();
    for (label, query) in plan(local) {
        let exchange = client.rechercher(&query).await;
        let stop = match &exchange.outcome {
            Ok(r) => !matches!(r.code, CodeCr::NotFound | CodeCr::Several),
            Err(_) => true,
        };
        steps.push(StrategyStep {
            label,
            query,
            exchange,
        });
        if stop {
            break;
        }
    }
    StrategyOutcome { steps }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(names: &[&str], place: Option<&str>) -> LocalTraits {
        LocalTraits {
            birth_name: "TCHITCHI".into(),
            first_names: names.iter().map(|s| s.to_string()).collect(),
            sex: "F".into(),
            birth_date: NaiveDate::from_ymd_opt(1936, 6, 21).unwrap(),
            birth_place: place.map(str::to_owned),
        }
    }

    #[test]
    fn order_and_labels() {
        let p = plan(&local(&["OLA", "CATARINA", "BELLA"], Some("63220")));
        let labels: Vec<&str> = p.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(
            labels,
            [
                "prénom OLA",
                "prénom CATARINA",
                "prénom BELLA",
                "liste des prénoms",
                "avec le lieu de naissance 63220"
            ]
        );
        assert_eq!(p[3].1.first_name, "OLA CATARINA BELLA");
        assert_eq!(p[4].1.first_name, "OLA");
        assert!(p[..4].iter().all(|(_, q)| q.birth_place.is_none()));
    }

    #[test]
    fn single_name_no_place_and_no_duplicates() {
        assert_eq!(plan(&local(&["OLA"], None)).len(), 1);
        assert_eq!(plan(&local(&["OLA", "OLA"], None)).len(), 2);
        assert!(plan(&local(&[], None)).is_empty());
    }
}
