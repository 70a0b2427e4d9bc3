//! Bulk re-verification of recovered and qualified identities against INSi,
//! run in the background under the structure's `INSI-AUTO` certificate, at a
//! limited rate, with a report of what changed.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::connectors::insi::{CodeCr, rechercher_avec_strategie};
use crate::domain::audit::AuditAction;
use crate::domain::tenant::Tenant;
use crate::services::insi::InsiService;
use crate::services::insi::{integrate, local_traits_for_insi, record_exchange};
use crate::store::{DynStore, StoreResult, Usager};

pub const JOB_KIND: &str = "reverification-insi";
/// Calls per second: the téléservice is shared; bulk work must not crowd the desk.
pub const DEFAULT_RATE_PER_SECOND: u32 = 5;
/// Statuses re-verified (RNIV: only identities whose INS was retrieved).
pub const STATUSES: [&str; 2] = ["RECUP", "QUAL"];

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Report {
    pub checked: i64,
    pub unchanged: i64,
    pub ins_changed: i64,
    pub downgraded: i64,
    pub failed: i64,
    /// Not due yet under the structure's policy (job limited to due files).
    #[serde(default)]
    pub skipped: i64,
    /// One line per changed file: (file id, what happened).
    pub changes: Vec<(Uuid, String)>,
    pub error: Option<String>,
}

/// What happened to one file.
enum Outcome {
    Unchanged,
    InsChanged(String),
    Downgraded(String),
    Failed(String),
}

/// Runs the job. With `only_due`, files the structure's policy does not
/// mark as due yet are skipped (the job started « by the policy »).
pub async fn run(
    store: DynStore,
    insi: Arc<InsiService>,
    t: Tenant,
    job_id: Uuid,
    ids: Vec<Uuid>,
    rate_per_second: u32,
    only_due: bool,
) {
    let mut report = Report::default();
    let result: StoreResult<()> = async {
        let structure = store.get_structure(t.structure_id).await?;
        let client = match structure {
            Some(s) => insi.client_auto_for(store.as_ref(), &s).await,
            None => return Ok(()),
        };
        let client = match client {
            Ok(c) => c,
            Err(e) => {
                report.error = Some(e.to_string());
                return Ok(());
            }
        };
        let mut tick = tokio::time::interval(Duration::from_millis(
            1000 / u64::from(rate_per_second.max(1)),
        ));
        for id in ids {
            let Some(u) = store.get_usager(&t, id).await? else {
                continue;
            };
            let last = u.vigilance.ins().map(|r| r.retrieved_at.date_naive());
            let today = chrono::Utc::now().date_naive();
            if only_due && t.policy.reverification_due(last, today, false).is_none() {
                report.skipped += 1;
                continue;
            }
            tick.tick().await;
            let outcome = verify_one(store.as_ref(), &t, &client, &u).await?;
            report.checked += 1;
            match outcome {
                Outcome::Unchanged => report.unchanged += 1,
                Outcome::InsChanged(m) => {
                    report.ins_changed += 1;
                    report.changes.push((u.id, m));
                }
                Outcome::Downgraded(m) => {
                    report.downgraded += 1;
                    report.changes.push((u.id, m));
                }
                Outcome::Failed(m) => {
                    report.failed += 1;
                    report.changes.push((u.id, m));
                }
            }
            store
                .job_progress(&t, job_id, report.checked, &json(&report))
                .await?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "revérification INSi interrompue");
        report.error = Some(e.to_string());
    }
    let state = if report.error.is_some() {
        "echec"
    } else {
        "termine"
    };
    if let Err(e) = store.finish_job(&t, job_id, state, &json(&report)).await {
        tracing::error!(error = %e, "fin de revérification non enregistrée");
    }
}

fn json(r: &Report) -> String {
    serde_json::to_string(r).expect("report serialises")
}

async fn verify_one(
    store: &dyn crate::store::Store,
    t: &Tenant,
    client: &crate::connectors::insi::InsiClient,
    u: &Usager,
) -> StoreResult<Outcome> {
    let Some(current) = u.vigilance.ins() else {
        return Ok(Outcome::Unchanged);
    };
    if u.vigilance.may_call_insi().is_err() {
        return Ok(Outcome::Unchanged);
    }
    let local = match local_traits_for_insi(&u.data.identity) {
        Ok(l) => l,
        Err(m) => return Ok(Outcome::Failed(m)),
    };
    let outcome = rechercher_avec_strategie(client, &local).await;
    for step in &outcome.steps {
        record_exchange(
            store,
            t,
            u.id,
            &format!("revérification (INSI-AUTO) : {}", step.label),
            "revérification de masse",
            &step.exchange,
        )
        .await?;
    }
    let name = u.data.identity.display_name();
    let response = match outcome.final_response() {
        Ok(r) => r,
        Err(e) => {
            return Ok(Outcome::Failed(format!(
                "{name} : INSi n'a pas répondu ({e}) — rien n'a changé"
            )));
        }
    };
    let downgrade = |why: String| {
        let name = name.clone();
        async move {
            let v = match u.vigilance.insi_inconsistent() {
                Ok(v) => v,
                Err(e) => return Ok::<_, crate::store::StoreError>(Outcome::Failed(e.to_string())),
            };
            store.set_vigilance(t, u.id, &u.data.identity, &v).await?;
            store
                .add_identity_task(t, u.id, "reverification", &why)
                .await?;
            crate::services::audit::record(
                store,
                t,
                AuditAction::IdentityAttributeChanged,
                Some(u.id),
                format!("revérification : {why}"),
            )
            .await?;
            Ok(Outcome::Downgraded(format!("{name} : {why}")))
        }
    };
    let individu = match (&response.code, &response.individu) {
        (CodeCr::Found, Some(i)) => i,
        // Only « no identity » contradicts the INS held; 02 or a technical
        // code says nothing about it: reported, nothing changed.
        (CodeCr::NotFound, _) => {
            return downgrade(format!(
                "INSi ne retrouve plus cette identité (réponse {}) : identité repassée provisoire, INS invalidé — à vérifier avec la pièce d'identité",
                response.code.as_code()
            ))
            .await;
        }
        _ => {
            return Ok(Outcome::Failed(format!(
                "{name} : réponse INSi {} « {} » — rien n'a changé",
                response.code.as_code(),
                response.label
            )));
        }
    };
    let (retrieval, identity) = match integrate(individu, &u.data.identity, "revérification INSi")
    {
        Ok(x) => x,
        Err(m) => return Ok(Outcome::Failed(format!("{name} : {m}"))),
    };
    if identity != u.data.identity {
        return downgrade(
            "les traits renvoyés par INSi diffèrent des traits enregistrés : identité repassée provisoire — comparez avec la pièce d'identité puis relancez la recherche".into(),
        )
        .await;
    }
    let changed = retrieval.ins != current.ins;
    let message = format!(
        "{name} : INS modifié {} → {}",
        current.ins.display(),
        retrieval.ins.display()
    );
    let v = match u.vigilance.confirm_insi(retrieval) {
        Ok(v) => v,
        Err(e) => return Ok(Outcome::Failed(e.to_string())),
    };
    store.set_vigilance(t, u.id, &identity, &v).await?;
    if changed {
        crate::services::audit::record(
            store,
            t,
            AuditAction::IdentityConfirmed,
            Some(u.id),
            "revérification : INS modifié",
        )
        .await?;
        Ok(Outcome::InsChanged(message))
    } else {
        Ok(Outcome::Unchanged)
    }
}
