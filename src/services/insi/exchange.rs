//! What Escale does with INSi answers, shared by the reception pages and the
//! bulk re-verification: the traits sent, every exchange kept and audited,
//! and integrating a returned identity.

use chrono::{NaiveDate, Utc};
use uuid::Uuid;

use crate::connectors::insi::{Exchange, Individu, InsiError, InsiResponse, LocalTraits};
use crate::domain::audit::AuditAction;
use crate::domain::identity::{InsRetrieval, Refusal};
use crate::domain::ins::{Ins, InsHistoryEntry, InsOid, KeyCheck, Matricule};
use crate::domain::lexical;
use crate::domain::tenant::Tenant;
use crate::domain::usager::{Identity, Sex};
use crate::store::{NewInsiCall, Store, StoreResult};

/// The outcome of one call as kept and shown: `00 Identite trouvee`, `échec : …`.
pub fn outcome_text(outcome: &Result<InsiResponse, InsiError>) -> String {
    match outcome {
        Ok(r) => format!("{} {}", r.code.as_code(), r.label),
        Err(e) => format!("échec : {e}"),
    }
}

/// Keeps one exchange with the file (Guide INS EXI REC 07: raw XML, operator,
/// outcome) and journals it as « {audit_label} : {outcome} », naming no
/// trait (the call log has them). Returns the outcome text.
pub async fn record_exchange(
    store: &dyn Store,
    t: &Tenant,
    usager_id: Uuid,
    step: &str,
    audit_label: &str,
    x: &Exchange,
) -> StoreResult<String> {
    let text = outcome_text(&x.outcome);
    let entry = crate::services::audit::event(
        t,
        AuditAction::InsiQueried,
        Some(usager_id),
        format!("{audit_label} : {text}"),
    );
    store
        .record_insi_call(
            t,
            &NewInsiCall {
                usager_id,
                at: x.started_at,
                step: step.to_string(),
                outcome: text.clone(),
                duration_ms: i64::try_from(x.duration_ms).unwrap_or(i64::MAX),
                request_xml: x.request_xml.clone(),
                response_xml: x.response_xml.clone(),
            },
            &[entry],
        )
        .await?;
    Ok(text)
}

/// The strict traits as INSi must receive them, or why they cannot be sent
/// (SEL-MP-043 §3.4.1: refused *before* calling, CNDA 2.03 cas 3).
pub fn local_traits_for_insi(identity: &Identity) -> Result<LocalTraits, String> {
    let Identity::Traits {
        birth_name,
        first_names,
        birth_date,
        sex,
        birth_place_code,
        ..
    } = identity
    else {
        return Err(Refusal::Fictitious.to_string());
    };
    let names: Vec<String> = first_names.split_whitespace().map(str::to_string).collect();
    let date = birth_date.format("%Y-%m-%d").to_string();
    lexical::check_traits_for_insi(
        birth_name,
        &names,
        sex.code(),
        &date,
        birth_place_code.as_deref(),
    )
    .map_err(|errors| {
        let list: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        format!(
            "Ces traits ne peuvent pas être envoyés au téléservice INSi (aucun appel n'a été fait) : {}. Corrigez l'identité (bouton « Modifier l'identité ») d'après la pièce d'identité, puis relancez la recherche.",
            list.join(" ; ")
        )
    })?;
    Ok(LocalTraits {
        birth_name: birth_name.clone(),
        first_names: names,
        sex: sex.code().to_string(),
        birth_date: *birth_date,
        birth_place: birth_place_code.clone(),
    })
}
/// The INS and the INS traits from a stored answer, or why they cannot be used.
pub fn integrate(
    individu: &Individu,
    current: &Identity,
    operator: &str,
) -> Result<(InsRetrieval, Identity), String> {
    let a = &individu.active;
    let (matricule, check) = Matricule::from_insi(&a.number, &a.key)
        .map_err(|e| format!("matricule INS inexploitable : {e}"))?;
    let oid = InsOid::from_oid(&a.oid)
        .ok_or_else(|| format!("OID « {} » inconnu : rien n'a été intégré", a.oid))?;
    if check != KeyCheck::Valid {
        tracing::warn!(
            "INSi : clé de matricule incohérente dans la réponse (CNDA 2.08), conservée telle quelle"
        );
    }
    let history = individu
        .history
        .iter()
        .filter_map(|h| {
            Matricule::from_insi(&h.number, &h.key)
                .ok()
                .map(|(m, _)| InsHistoryEntry {
                    matricule: m,
                    oid: h.oid.clone(),
                    start: h.start.clone(),
                    end: h.end.clone(),
                })
        })
        .collect();
    let r = &individu.traits;
    let birth_date = NaiveDate::parse_from_str(&r.birth_date, "%Y-%m-%d")
        .map_err(|_| format!("date de naissance renvoyée illisible « {} »", r.birth_date))?;
    let sex = match r.sex.as_str() {
        "M" => Sex::M,
        "F" => Sex::F,
        other => return Err(format!("sexe renvoyé inattendu « {other} »")),
    };
    let Identity::Traits {
        used_name,
        used_first_name,
        ..
    } = current
    else {
        return Err(Refusal::Fictitious.to_string());
    };
    // Strict traits replaced by the INS traits; used name and first name kept
    // (Guide INS EXI ID 08: the used first name is never filled from INSi).
    let identity = Identity::Traits {
        birth_name: r.birth_name.clone(),
        first_names: r
            .first_names
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        used_name: used_name.clone(),
        used_first_name: used_first_name.clone(),
        birth_date,
        sex,
        birth_place_code: r.birth_place.clone(),
    };
    let retrieval = InsRetrieval {
        ins: Ins { matricule, oid },
        history,
        retrieved_at: Utc::now(),
        retrieved_by: operator.to_string(),
        key_mismatch: check != KeyCheck::Valid,
    };
    Ok((retrieval, identity))
}
