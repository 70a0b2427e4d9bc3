//! Identity-quality actions that combine the store and the domain rules:
//! duplicate checks (at creation and in batch), same-INS collisions, merges.

use std::collections::HashMap;
use uuid::Uuid;

use crate::domain::audit::AuditAction;
use crate::domain::duplicates::{self, Collision, Match, PairStatus, Probe};
use crate::domain::merge::{self, MergeRefusal, Side};
use crate::domain::tenant::Tenant;
use crate::domain::usager::Identity;
use crate::services::audit;
use crate::store::{MergeRecord, Store, StoreError, StoreResult, Usager};

/// Candidates for an identity typed at reception (or an existing file):
/// blocked through the indexed keys, scored, best first, at most 20.
pub async fn candidates(
    store: &dyn Store,
    t: &Tenant,
    identity: &Identity,
    exclude: Option<Uuid>,
) -> StoreResult<Vec<(Usager, Match)>> {
    let Some(probe) = Probe::of(identity) else {
        return Ok(Vec::new());
    };
    let block = store
        .duplicate_block(t, &duplicates::lookup_keys(identity), exclude)
        .await?;
    let probes = block.into_iter().filter_map(|l| {
        let p = Probe::of(&l.identity)?;
        Some((l.id, p))
    });
    let ranked = duplicates::rank(&probe, probes);
    // The whole files, for the few that look alike (the warning shows them).
    let ids: Vec<Uuid> = ranked.iter().map(|(id, _)| *id).collect();
    let mut files: HashMap<Uuid, Usager> = store
        .usagers_by_ids(t, &ids)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    Ok(ranked
        .into_iter()
        .filter_map(|(id, m)| Some((files.remove(&id)?, m)))
        .collect())
}

/// Records the pairs of one file (score at or above « à vérifier »). Returns how many.
pub async fn record_pairs_of(store: &dyn Store, t: &Tenant, u: &Usager) -> StoreResult<usize> {
    let found = candidates(store, t, &u.data.identity, Some(u.id)).await?;
    for (other, m) in &found {
        store.upsert_duplicate_pair(t, u.id, other.id, m).await?;
    }
    Ok(found.len())
}

/// One INS on several files (RNIV): when the traits match, a duplicate pair
/// (DPOT, score 100); when they do not, two people claim one INS: a potential
/// collision (COLP) on each file, for the referent.
pub async fn same_ins_found(
    store: &dyn Store,
    t: &Tenant,
    u: &Usager,
    with_same_ins: &[Usager],
) -> StoreResult<Option<String>> {
    let Some(probe) = Probe::of(&u.data.identity) else {
        return Ok(None);
    };
    let mut messages = Vec::new();
    for other in with_same_ins.iter().filter(|o| o.id != u.id) {
        let same_person = Probe::of(&other.data.identity)
            .and_then(|p| duplicates::score(&probe, &p))
            .is_some_and(|m| m.score >= duplicates::PROBABLE);
        if same_person {
            store
                .upsert_duplicate_pair(t, u.id, other.id, &duplicates::same_ins())
                .await?;
            messages.push(format!(
                "Le même INS est porté par le dossier {} : doublon potentiel signalé au référent.",
                other.data.identity.display_name()
            ));
        } else if u.collision.is_some() || other.collision.is_some() {
            // Already flagged (and perhaps verified or decided by the referent).
            continue;
        } else {
            let note = "même INS que le dossier d'une autre personne";
            for id in [u.id, other.id] {
                let entry = audit::event(
                    t,
                    AuditAction::CollisionFlagged,
                    Some(id),
                    format!("{} : {note}", Collision::Potentielle.label()),
                );
                store
                    .set_collision(t, id, Some(Collision::Potentielle), Some(note), &[entry])
                    .await?;
            }
            store
                .add_identity_task(
                    t,
                    u.id,
                    "collision",
                    &format!(
                        "Même INS que le dossier {} dont les traits diffèrent : collision potentielle à examiner.",
                        other.data.identity.display_name()
                    ),
                )
                .await?;
            messages.push(format!(
                "Le même INS est porté par le dossier {}, dont les traits diffèrent : collision potentielle (COLP) signalée au référent.",
                other.data.identity.display_name()
            ));
        }
    }
    Ok((!messages.is_empty()).then(|| messages.join(" ")))
}

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error(transparent)]
    Refused(#[from] MergeRefusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Merges `merged` into `survivor` following the RNIV and anonymity rules.
pub async fn merge_files(
    store: &dyn Store,
    t: &Tenant,
    survivor_id: Uuid,
    merged_id: Uuid,
) -> Result<MergeRecord, MergeError> {
    if survivor_id == merged_id {
        return Err(MergeRefusal::SameFile.into());
    }
    let survivor = store
        .get_usager(t, survivor_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let merged = store
        .get_usager(t, merged_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    if survivor.merged_into.is_some() || merged.merged_into.is_some() {
        return Err(MergeRefusal::AlreadyMerged.into());
    }
    let lift = store.anonymity_lift(t, merged_id).await?;
    let lift_links_them = lift.is_some_and(|l| {
        l.anonymous_id == merged_id && l.real_id == Some(survivor_id) && l.decided_at.is_some()
    });
    merge::may_merge(
        survivor.data.identity.is_anonymous(),
        merged.data.identity.is_anonymous(),
        lift_links_them,
    )?;
    merge::same_person_by_ins(&survivor.vigilance, &merged.vigilance)?;
    let state = merge::survivor_state(
        &Side {
            data: &survivor.data,
            vigilance: &survivor.vigilance,
        },
        &Side {
            data: &merged.data,
            vigilance: &merged.vigilance,
        },
    );
    // Both files' journals name the merge and what it moved.
    let journal = |record: &MergeRecord| {
        [
            (survivor_id, "dossier conservé"),
            (merged_id, "dossier fusionné"),
        ]
        .map(|(id, what)| {
            audit::event(
                t,
                AuditAction::FilesMerged,
                Some(id),
                format!(
                    "{what} ; fusion {} ; {} objet(s) déplacé(s)",
                    record.id,
                    record.moved.count()
                ),
            )
        })
        .to_vec()
    };
    Ok(store
        .merge_usagers(t, survivor_id, merged_id, &state, &journal)
        .await?)
}

/// Undoes a merge: both files as they were, the rows moved back, both
/// journals told, in one transaction.
pub async fn unmerge(store: &dyn Store, t: &Tenant, merge_id: Uuid) -> StoreResult<MergeRecord> {
    let journal = |record: &MergeRecord| {
        [record.survivor_id, record.merged_id]
            .map(|id| {
                audit::event(
                    t,
                    AuditAction::FilesUnmerged,
                    Some(id),
                    format!(
                        "fusion {} annulée : les deux dossiers sont rétablis",
                        record.id
                    ),
                )
            })
            .to_vec()
    };
    store.unmerge(t, merge_id, &journal).await
}

/// The RNIV markers a file carries because of its pairs and collisions.
pub fn markers(
    pairs: &[crate::store::DuplicatePair],
    collision: Option<Collision>,
) -> Vec<&'static str> {
    let mut m: Vec<&'static str> = pairs.iter().filter_map(|p| p.status.marker()).collect();
    m.extend(collision.map(|c| c.code()));
    m.sort();
    m.dedup();
    m
}

/// Pair statuses a person may set from the pairs page.
pub fn decidable(status: PairStatus) -> bool {
    matches!(
        status,
        PairStatus::Ouvert | PairStatus::Avere | PairStatus::Ecarte
    )
}
