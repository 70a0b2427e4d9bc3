//! « Rechercher l'INS »: by the strict traits (the search strategy) or with the
//! Carte Vitale, every call kept with the file and journaled; then « c'est la
//! même personne » integrates the answer (RNIV: the INS and its traits replace
//! the strict traits, the identity becomes « récupérée »).

use chrono::{Duration, NaiveDate, Utc};
use uuid::Uuid;

use crate::connectors::insi::{
    CodeCr, Individu, VitaleQuery, parse_response, rechercher_avec_strategie,
};
use crate::domain::audit::AuditAction;
use crate::domain::tenant::Tenant;
use crate::services::audit;
use crate::services::error::{ServiceError, ServiceResult};
use crate::services::identity::require_qualifier;
use crate::services::identity::vigilance::set_vigilance;
use crate::services::identity_quality;
use crate::services::insi::{InsiService, integrate, local_traits_for_insi, record_exchange};
use crate::store::{AuditChain, Procedure, Store, Usager};

/// An INSi answer may be integrated within this delay after the call.
pub const CONFIRMATION_WINDOW_MINUTES: i64 = 30;

/// What a search did: each call (label, outcome as kept) and what came of it.
pub struct SearchReport {
    pub steps: Vec<(String, String)>,
    pub outcome: SearchOutcome,
}

pub enum SearchOutcome {
    /// One identity: to compare with the file's, then confirm (`call_id`).
    Found {
        call_id: Uuid,
        individu: Box<Individu>,
    },
    /// Nothing integrated; what the person at the desk should know or do.
    Told(String),
    /// The traits cannot be sent to INSi: no call was made.
    TraitsRejected(String),
    /// INSi cannot be called now (not configured, no certificate…).
    Unavailable(String),
}

impl SearchReport {
    fn without_call(outcome: SearchOutcome) -> SearchReport {
        SearchReport {
            steps: vec![],
            outcome,
        }
    }
}

/// Anonymity first: a fictitious identity never reaches INSi, whoever asks;
/// then only the roles that qualify.
fn may_search(t: &Tenant, usager: &Usager) -> ServiceResult<()> {
    usager.vigilance.may_call_insi()?;
    require_qualifier(t)
}

/// The search by strict traits (first names one by one, then with the birth
/// place), every call kept and journaled.
pub async fn search_by_traits(
    store: &dyn Store,
    insi: &InsiService,
    t: &Tenant,
    usager: &Usager,
) -> ServiceResult<SearchReport> {
    may_search(t, usager)?;
    let local = match local_traits_for_insi(&usager.data.identity) {
        Ok(l) => l,
        Err(m) => return Ok(SearchReport::without_call(SearchOutcome::TraitsRejected(m))),
    };
    let client = match structure_client(store, insi, t).await? {
        Ok(c) => c,
        Err(m) => return Ok(SearchReport::without_call(SearchOutcome::Unavailable(m))),
    };
    let outcome = rechercher_avec_strategie(&client, &local).await;
    let mut steps = Vec::with_capacity(outcome.steps.len());
    for (n, step) in outcome.steps.iter().enumerate() {
        let text = record_exchange(
            store,
            t,
            usager.id,
            &step.label,
            &format!("étape {}", n + 1),
            &step.exchange,
        )
        .await?;
        steps.push((step.label.clone(), text));
    }
    let told = match outcome.final_response() {
        Ok(r) if r.code == CodeCr::Found && r.individu.is_some() => {
            let individu = Box::new(r.individu.clone().expect("checked"));
            let call_id = last_call(store, t, usager.id).await?;
            return Ok(SearchReport {
                steps,
                outcome: SearchOutcome::Found { call_id, individu },
            });
        }
        Ok(r) if r.code == CodeCr::NotFound && usager.vigilance.ins().is_some() => {
            // Re-query of an identity holding an INS: an inconsistent answer
            // downgrades to PROV and invalidates the INS (Guide INS EXI ID 26).
            let v = usager.vigilance.insi_inconsistent()?;
            set_vigilance(
                store,
                t,
                usager,
                &usager.data.identity,
                &v,
                "INS invalidé : INSi ne retrouve plus l'identité (01)",
            )
            .await?;
            "INSi ne retrouve plus cette identité (01) : l'INS est invalidé et l'identité redevient provisoire. Vérifiez les traits avec la personne et sa pièce d'identité, puis relancez la recherche.".to_string()
        }
        Ok(r) if r.code == CodeCr::NotFound => {
            let guidance = structure_guidance(store, t, |p| &p.guidance_01).await?;
            format!(
                "Aucune identité trouvée (01), même en essayant chaque prénom, la liste des prénoms et le lieu de naissance. Vérifiez les traits sur la pièce d'identité ; l'identité reste provisoire.{guidance}"
            )
        }
        Ok(r) if r.code == CodeCr::Several => {
            let guidance = structure_guidance(store, t, |p| &p.guidance_02).await?;
            format!(
                "Plusieurs identités correspondent (02), même avec les autres prénoms et le lieu de naissance. Saisissez le lieu de naissance (code INSEE) ou tous les prénoms de la pièce d'identité, puis relancez ; l'identité reste provisoire.{guidance}"
            )
        }
        Ok(r) => format!(
            "Réponse INSi inattendue (code {} « {} ») : rien n'a été intégré.",
            r.code.as_code(),
            r.label
        ),
        Err(e) => e.french_message(),
    };
    Ok(SearchReport {
        steps,
        outcome: SearchOutcome::Told(told),
    })
}

/// What the reception page sends of the beneficiary chosen on the card, as read.
#[derive(Debug, Default, Clone)]
pub struct CardBeneficiary {
    pub nir: String,
    pub nir_ouvrant_droit: String,
    pub nom: String,
    pub date_naissance: String,
    pub rang: String,
}

impl CardBeneficiary {
    /// The INSi query, or what is unreadable on the card.
    pub fn query(&self) -> ServiceResult<VitaleQuery> {
        let query = VitaleQuery {
            nir: card_nir(&self.nir, "NIR du bénéficiaire")?,
            nir_ouvrant_droit: card_nir(&self.nir_ouvrant_droit, "NIR de l'ouvrant droit")?,
            birth_name: Some(self.nom.trim().to_string()).filter(|n| !n.is_empty()),
            birth_date: card_date(&self.date_naissance),
            rank: self
                .rang
                .trim()
                .parse()
                .ok()
                .filter(|r| (1..=9).contains(r)),
        };
        if query.nir.is_none() && (query.nir_ouvrant_droit.is_none() || query.birth_date.is_none())
        {
            return Err(ServiceError::Invalid(
                "la carte ne désigne pas le bénéficiaire (ni son NIR, ni celui de l'ouvrant droit avec sa date de naissance) : recherchez par les traits".into(),
            ));
        }
        Ok(query)
    }
}

/// A NIR as read on the card: 13 characters (Corsica: A or B in 7th
/// position), optionally followed by its key, which INSi does not take.
fn card_nir(raw: &str, label: &str) -> ServiceResult<Option<String>> {
    let v = raw.trim().to_ascii_uppercase();
    if v.is_empty() {
        return Ok(None);
    }
    let b = v.as_bytes();
    let ok = (b.len() == 13 || b.len() == 15)
        && b.iter()
            .enumerate()
            .all(|(i, c)| c.is_ascii_digit() || (i == 6 && (*c == b'A' || *c == b'B')));
    if ok {
        Ok(Some(v[..13].to_string()))
    } else {
        Err(ServiceError::Invalid(format!(
            "{label} lu sur la carte illisible : relisez la carte ou recherchez par les traits"
        )))
    }
}

/// The birth date read on the card, for INSi's `DateLunaire`: a calendar
/// date (`AAAA-MM-JJ`), or the card's raw `AAAAMMJJ` where a lunar date
/// (00 for an unknown day or month) is kept as it is.
fn card_date(raw: &str) -> Option<String> {
    let v = raw.trim();
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Some(d.format("%Y-%m-%d").to_string());
    }
    let b = v.as_bytes();
    if b.len() == 8 && b.iter().all(u8::is_ascii_digit) {
        let (month, day): (u32, u32) = (v[4..6].parse().ok()?, v[6..8].parse().ok()?);
        if month <= 12 && day <= 31 {
            return Some(format!("{}-{}-{}", &v[..4], &v[4..6], &v[6..8]));
        }
    }
    None
}

/// « Rechercher avec la carte Vitale » (`rechercherInsAvecCarteVitale`). The
/// card is a key to query INSi, not a proof of identity: the answer goes
/// through the same comparison and confirmation as a traits search.
pub async fn search_by_card(
    store: &dyn Store,
    insi: &InsiService,
    t: &Tenant,
    usager: &Usager,
    card: &CardBeneficiary,
) -> ServiceResult<SearchReport> {
    may_search(t, usager)?;
    let query = card.query()?;
    let client = match structure_client(store, insi, t).await? {
        Ok(c) => c,
        Err(m) => return Ok(SearchReport::without_call(SearchOutcome::Unavailable(m))),
    };
    let x = client.rechercher_vitale(&query).await;
    let text = record_exchange(store, t, usager.id, "carte Vitale", "carte Vitale", &x).await?;
    let steps = vec![("carte Vitale".to_string(), text)];
    let outcome = match &x.outcome {
        Ok(r) if r.code == CodeCr::Found && r.individu.is_some() => SearchOutcome::Found {
            call_id: last_call(store, t, usager.id).await?,
            individu: Box::new(r.individu.clone().expect("checked")),
        },
        Ok(r) => SearchOutcome::Told(format!(
            "INSi n'a pas trouvé une identité unique pour ce bénéficiaire (code {} « {} ») : recherchez par les traits de la pièce d'identité.",
            r.code.as_code(),
            r.label
        )),
        Err(e) => SearchOutcome::Told(e.french_message()),
    };
    Ok(SearchReport { steps, outcome })
}

/// The person at the desk compared the answer with the person in front of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Same,
    /// Not the same person; `doubt`: the file's identity becomes doubtful.
    NotSame {
        doubt: bool,
    },
}

/// Integrates the answer of `call_id` (a call made for this very file, less
/// than 30 minutes ago), or records that it was set aside.
pub async fn confirm(
    store: &dyn Store,
    t: &Tenant,
    usager: &Usager,
    call_id: Option<Uuid>,
    decision: Decision,
) -> ServiceResult<()> {
    may_search(t, usager)?;
    let call_id =
        call_id.ok_or_else(|| ServiceError::Invalid("réponse INSi non désignée".into()))?;
    let calls = store.insi_calls(t, usager.id).await?;
    let call = calls
        .iter()
        .find(|c| c.id == call_id)
        .ok_or(ServiceError::NotFound)?;
    if Utc::now() - call.at > Duration::minutes(CONFIRMATION_WINDOW_MINUTES) {
        return Err(ServiceError::Refused(
            "Cette réponse INSi date de plus de 30 minutes : relancez la recherche de l'INS."
                .into(),
        ));
    }
    if let Decision::NotSame { doubt } = decision {
        let set_aside = audit::event(
            t,
            AuditAction::IdentityNotMatched,
            Some(usager.id),
            "réponse INSi écartée : rien n'a été intégré",
        );
        if doubt {
            // The decision and the doubt it raises are kept together.
            let v = usager.vigilance.mark_doubtful()?;
            let doubt = audit::event(
                t,
                AuditAction::IdentityAttributeChanged,
                Some(usager.id),
                format!(
                    "attribut « identité douteuse » ajouté ; statut : {}",
                    v.status().label()
                ),
            );
            store
                .set_vigilance(
                    t,
                    usager.id,
                    usager.version,
                    &usager.data.identity,
                    &v,
                    &[set_aside, doubt],
                )
                .await?;
        } else {
            // Nothing changes: only the decision is traced.
            store
                .append_audit(AuditChain::Structure(t.structure_id), &set_aside)
                .await?;
        }
        return Ok(());
    }
    let individu = call
        .response_xml
        .as_deref()
        .and_then(|x| parse_response(x).ok())
        .filter(|r| r.code == CodeCr::Found)
        .and_then(|r| r.individu)
        .ok_or_else(|| {
            ServiceError::Refused(
                "Cette réponse INSi ne contient pas d'identité à intégrer.".into(),
            )
        })?;
    let (retrieval, identity) = integrate(&individu, &usager.data.identity, &t.actor_label)
        .map_err(ServiceError::Refused)?;
    let label = format!("{} récupéré", retrieval.ins.oid.type_label());
    let matricule = retrieval.ins.matricule.as_string();
    let v = usager.vigilance.confirm_insi(retrieval)?;
    let entry = audit::event(
        t,
        AuditAction::IdentityConfirmed,
        Some(usager.id),
        format!("{label} ; statut : {}", v.status().label()),
    );
    let updated = store
        .set_vigilance(t, usager.id, usager.version, &identity, &v, &[entry])
        .await?;
    // RNIV: the same INS on another file is a duplicate or a collision.
    let others = store.usagers_with_ins(t, &matricule).await?;
    if others.len() > 1 {
        identity_quality::same_ins_found(store, t, &updated, &others).await?;
    }
    Ok(())
}

/// The id of the call just kept for this file.
async fn last_call(store: &dyn Store, t: &Tenant, usager_id: Uuid) -> ServiceResult<Uuid> {
    let calls = store.insi_calls(t, usager_id).await?;
    calls.last().map(|c| c.id).ok_or(ServiceError::NotFound)
}

/// The structure's INSi client, or why it cannot call INSi now (in French).
async fn structure_client(
    store: &dyn Store,
    insi: &InsiService,
    t: &Tenant,
) -> ServiceResult<Result<std::sync::Arc<crate::connectors::insi::InsiClient>, String>> {
    let structure = store
        .get_structure(t.structure_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    Ok(insi
        .client_for(store, &structure)
        .await
        .map_err(|e| e.to_string()))
}

/// What the structure's procedure says to do on this INSi answer (director's text).
async fn structure_guidance(
    store: &dyn Store,
    t: &Tenant,
    pick: impl Fn(&Procedure) -> &String,
) -> ServiceResult<String> {
    Ok(store
        .current_procedure(t)
        .await?
        .map(|p| pick(&p).trim().to_string())
        .filter(|g| !g.is_empty())
        .map(|g| format!(" Procédure de la structure : {g}"))
        .unwrap_or_default())
}
