//! What the structures' procedures ask to be done without anyone asking:
//! the re-verification « after N months » (RNIV: an INS retrieved long ago is
//! checked again). Once a day per structure, a re-verification limited to the
//! identities that are due is enqueued; its idempotency key is the day, so
//! several processes (or a restart) never enqueue it twice. It runs under the
//! authority of a director of the structure (the procedure is theirs; every
//! INSi call is kept with the professional it is made for, Guide INS).

use chrono::{DateTime, Utc};

use crate::domain::roles::Role;
use crate::jobs::reverification::Payload;
use crate::store::{DynStore, JobKind, NewJob, StoreResult};

/// Who the journal names for jobs started by a policy.
pub const POLICY_ACTOR: &str = "procédure de la structure (revérification planifiée)";

/// Enqueues today's policy re-verification of every structure whose
/// procedure sets a delay; returns the jobs enqueued now (not those that
/// were already there).
pub async fn enqueue_due_reverifications(
    store: &DynStore,
    now: DateTime<Utc>,
) -> StoreResult<Vec<uuid::Uuid>> {
    let mut enqueued = Vec::new();
    for (structure_id, months) in store.reverification_policies().await? {
        if months == 0 {
            continue;
        }
        let Some(t) = store.structure_tenant(structure_id, POLICY_ACTOR).await? else {
            continue;
        };
        let team = store.team(&t).await?;
        let Some(director) = team.iter().find(|m| m.roles.contains(Role::Directeur)) else {
            tracing::warn!(structure = %structure_id, "revérification planifiée sans directeur pour la porter : non lancée");
            continue;
        };
        let total = crate::jobs::reverification::due_count(store.as_ref(), &t).await?;
        let job = NewJob {
            kind: JobKind::InsiReverification,
            idempotency_key: format!("politique-{}", now.format("%Y-%m-%d")),
            started_by: POLICY_ACTOR.to_string(),
            actor_id: Some(director.id),
            total,
            payload: serde_json::to_string(&Payload {
                after: None,
                only_due: true,
            })
            .expect("payload serialises"),
        };
        // Journaled with the enqueue, as the procedure that asked for it.
        let mut entry = crate::services::audit::event(
            &t,
            crate::domain::audit::AuditAction::JobStarted,
            None,
            format!(
                "revérification INSi planifiée par la procédure (après {months} mois) : {total} identité(s), seulement celles dues, sous l'autorité de {}",
                director.display_name
            ),
        );
        entry.actor_id = Some(director.id);
        let (job, created) = store.enqueue_job(structure_id, &job, &[entry]).await?;
        if created {
            enqueued.push(job.id);
        }
    }
    Ok(enqueued)
}
