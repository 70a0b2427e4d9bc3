//! Bulk re-verification of recovered and qualified identities against INSi,
//! under the structure's `INSI-AUTO` certificate, one identity per step at a
//! limited rate (the téléservice is shared: bulk work must not crowd the
//! desk), with a report of what changed. Durable: what is left is the id
//! after which to go on; an identity whose step was cut by a crash is done
//! again (re-read, re-decided). Started by the referent, or by the
//! structure's policy (« after N months », `jobs::schedule`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::connectors::insi::{CodeCr, InsiClient, InsiError, rechercher_avec_strategie};
use crate::domain::audit::AuditAction;
use crate::domain::identity::Vigilance;
use crate::domain::roles::Role;
use crate::domain::tenant::Tenant;
use crate::domain::usager::Identity;
use crate::jobs::idempotency_key;
use crate::jobs::runner::{JobError, JobHandler, Running, Step};
use crate::services::audit;
use crate::services::error::{ServiceError, ServiceResult};
use crate::services::insi::{InsiService, integrate, local_traits_for_insi, record_exchange};
use crate::store::{
    AuditEvent, DynStore, Job, JobKind, NewJob, Store, StoreError, StoreResult, Usager,
};

/// Calls per second: the téléservice is shared; bulk work must not crowd the desk.
pub const DEFAULT_RATE_PER_SECOND: u32 = 5;
/// Statuses re-verified (RNIV: only identities whose INS was retrieved).
pub const STATUSES: [&str; 2] = ["RECUP", "QUAL"];

/// What is left to do.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Payload {
    /// The identities after this id.
    pub after: Option<Uuid>,
    /// Only those the structure's policy marks as due.
    pub only_due: bool,
}

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
    /// Changed by someone else (a doubt raised, a merge…) while INSi was
    /// being asked: left as it was, whatever INSi answered.
    #[serde(default)]
    pub left_alone: i64,
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
    /// The file changed while INSi was being asked: nothing written.
    LeftAlone(String),
    /// INSi did not answer (down, timeout, TLS): the job waits and retries
    /// this identity rather than run through all of them in vain.
    Unreachable(String),
}

pub struct Reverification {
    pub store: DynStore,
    pub insi: Arc<InsiService>,
    pub rate_per_second: u32,
}

impl Reverification {
    async fn client(&self, t: &Tenant) -> Result<Arc<InsiClient>, JobError> {
        let structure = self
            .store
            .get_structure(t.structure_id)
            .await?
            .ok_or_else(|| JobError::Fatal("structure introuvable".into()))?;
        // Not configured, no certificate: no attempt will do better.
        self.insi
            .client_auto_for(self.store.as_ref(), &structure)
            .await
            .map_err(|e| JobError::Fatal(e.to_string()))
    }
}

#[async_trait]
impl JobHandler for Reverification {
    fn pace(&self) -> Option<Duration> {
        Some(Duration::from_millis(
            1000 / u64::from(self.rate_per_second.max(1)),
        ))
    }

    async fn step(&self, t: &Tenant, job: &mut Running) -> Result<Step, JobError> {
        let mut payload: Payload = job.payload()?;
        let mut report: Report = job.report();
        let store = self.store.as_ref();
        let ids = store.identity_ids(t, &STATUSES, payload.after, 1).await?;
        let Some(&id) = ids.first() else {
            return Ok(Step::Done);
        };
        // What is left moves past this identity only once it is handled:
        // a step that fails is done again from the same place.
        payload.after = Some(id);
        let Some(u) = store.get_usager(t, id).await? else {
            job.set_payload(&payload);
            return Ok(Step::More);
        };
        let last = u.vigilance.ins().map(|r| r.retrieved_at.date_naive());
        let today = chrono::Utc::now().date_naive();
        if payload.only_due && t.policy.reverification_due(last, today, false).is_none() {
            report.skipped += 1;
            job.job.done = report.checked + report.skipped;
            job.set_report(&report);
            job.set_payload(&payload);
            return Ok(Step::More);
        }
        let client = self.client(t).await?;
        let outcome = verify_one(store, t, &client, &u).await?;
        if let Outcome::Unreachable(why) = &outcome {
            return Err(JobError::Retry(format!("INSi ne répond pas : {why}")));
        }
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
            Outcome::LeftAlone(m) => {
                report.left_alone += 1;
                report.changes.push((u.id, m));
            }
            Outcome::Unreachable(_) => unreachable!("handled above"),
        }
        job.job.done = report.checked + report.skipped;
        job.set_report(&report);
        job.set_payload(&payload);
        Ok(Step::More)
    }
}

/// « Revérifier auprès d'INSi… » (all, or only those due under the procedure).
pub async fn start(
    store: &dyn Store,
    t: &Tenant,
    only_due: bool,
    form_key: Option<&str>,
) -> ServiceResult<Job> {
    if only_due && t.policy.reverify_after_months.is_none() {
        return Err(ServiceError::Refused(
            "La procédure de la structure ne fixe pas de délai de revérification : choisissez-en un (paramètres de la procédure) ou revérifiez toutes les identités.".into(),
        ));
    }
    if !t
        .roles
        .any(&[Role::ReferentIdentitovigilance, Role::Directeur])
    {
        return Err(ServiceError::Forbidden(
            "La revérification de masse est lancée par le référent identitovigilance ou la direction.",
        ));
    }
    let total = due_count(store, t).await?;
    let entry = audit::event(
        t,
        AuditAction::JobStarted,
        None,
        format!(
            "revérification INSi de {total} identité(s) (certificat INSI-AUTO){}",
            if only_due {
                ", seulement celles dues selon la procédure"
            } else {
                ""
            }
        ),
    );
    let (job, _) = store
        .enqueue_job(
            t.structure_id,
            &NewJob {
                kind: JobKind::InsiReverification,
                idempotency_key: idempotency_key(form_key),
                started_by: t.actor_label.clone(),
                actor_id: Some(t.professional_id),
                total,
                payload: serde_json::to_string(&Payload {
                    after: None,
                    only_due,
                })
                .expect("payload serialises"),
            },
            &[entry],
        )
        .await?;
    Ok(job)
}

/// The identities a re-verification goes through (RECUP and QUAL).
pub async fn due_count(store: &dyn Store, t: &Tenant) -> StoreResult<i64> {
    let counts = store.identity_counts(t).await?;
    Ok(counts
        .by_status
        .iter()
        .filter(|(status, _)| STATUSES.contains(&status.as_str()))
        .map(|(_, n)| n)
        .sum())
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
        // No answer at all: the service is down for everyone, wait and retry.
        Err(
            e @ (InsiError::Timeout
            | InsiError::Unreachable(_)
            | InsiError::Tls(_)
            | InsiError::Http(_)),
        ) => return Ok(Outcome::Unreachable(e.french_message())),
        // An answer that refuses this identity: reported, nothing changed.
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
                Err(e) => return Ok::<_, StoreError>(Outcome::Failed(e.to_string())),
            };
            let entry = audit::event(
                t,
                AuditAction::IdentityAttributeChanged,
                Some(u.id),
                format!("revérification : {why}"),
            );
            if let Some(left) =
                write_unless_changed(store, t, u, &u.data.identity, &v, entry).await?
            {
                return Ok(left);
            }
            store
                .add_identity_task(t, u.id, "reverification", &why)
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
    let entry = audit::event(
        t,
        AuditAction::IdentityConfirmed,
        Some(u.id),
        if changed {
            "revérification : INS modifié"
        } else {
            "revérification : INS confirmé"
        },
    );
    if let Some(left) = write_unless_changed(store, t, u, &identity, &v, entry).await? {
        return Ok(left);
    }
    if changed {
        Ok(Outcome::InsChanged(message))
    } else {
        Ok(Outcome::Unchanged)
    }
}

/// Writes the state decided from `u` as it was read before INSi was asked,
/// only if the file is still at that version: a doubt raised, a merge, an
/// edit meanwhile wins (the decision was made on an old state), and the file
/// is reported, untouched. `None` when written.
async fn write_unless_changed(
    store: &dyn Store,
    t: &Tenant,
    u: &Usager,
    identity: &Identity,
    v: &Vigilance,
    entry: AuditEvent,
) -> StoreResult<Option<Outcome>> {
    match store
        .set_vigilance(t, u.id, u.version, identity, v, &[entry])
        .await
    {
        Ok(_) => Ok(None),
        Err(StoreError::Stale(_)) => {
            let now = store.get_usager(t, u.id).await?;
            let name = u.data.identity.display_name();
            let why = match now {
                Some(n) if n.merged_into.is_some() => "fusionnée dans un autre dossier",
                Some(n) if n.vigilance.may_call_insi().is_err() => {
                    "identité signalée douteuse ou modifiée"
                }
                _ => "dossier modifié",
            };
            Ok(Some(Outcome::LeftAlone(format!(
                "{name} : modifiée pendant la revérification ({why}) : rien n'a changé"
            ))))
        }
        Err(e) => Err(e),
    }
}
