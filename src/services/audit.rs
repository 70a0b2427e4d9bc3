//! Writing to and verifying the audit journal.

use uuid::Uuid;

use crate::domain::audit::{AuditAction, ChainBreak, ChainVerifier};
use crate::domain::tenant::Tenant;
use crate::store::{AuditChain, AuditEvent, Store, StoreResult};

/// The entry of `action` by the tenant's professional, to give a store
/// write: the change and its trace are then written in one transaction.
pub fn event(
    t: &Tenant,
    action: AuditAction,
    usager_id: Option<Uuid>,
    details: impl Into<String>,
) -> AuditEvent {
    AuditEvent {
        // A job of the structure's own procedure acts as no one (nil id).
        actor_id: (!t.professional_id.is_nil()).then_some(t.professional_id),
        actor_label: t.actor_label.clone(),
        action: action.code().to_string(),
        usager_id,
        details: details.into(),
    }
}

/// Records `action` by the tenant's professional in the tenant's structure
/// journal, on its own (group-committed with other entries). For what
/// changes nothing (a file opened, an export, a login): a change gives its
/// [`event`] to the store write instead.
pub async fn record(
    store: &dyn Store,
    t: &Tenant,
    action: AuditAction,
    usager_id: Option<Uuid>,
    details: impl Into<String>,
) -> StoreResult<()> {
    store
        .append_audit(
            AuditChain::Structure(t.structure_id),
            &event(t, action, usager_id, details),
        )
        .await?;
    Ok(())
}

/// The entry of an instance-level action (CLI, administrator) in `chain`,
/// to give an instance-level store write.
pub fn instance_event(
    chain: AuditChain,
    actor_label: &str,
    action: AuditAction,
    details: impl Into<String>,
) -> (AuditChain, AuditEvent) {
    (
        chain,
        AuditEvent {
            actor_id: None,
            actor_label: actor_label.to_string(),
            action: action.code().to_string(),
            usager_id: None,
            details: details.into(),
        },
    )
}

/// Records an instance-level action (CLI, administrator) on its own: for
/// what changes nothing (a login, a refusal); a change gives its
/// [`instance_event`] to the store write instead.
pub async fn record_instance(
    store: &dyn Store,
    chain: AuditChain,
    actor_label: &str,
    action: AuditAction,
    details: impl Into<String>,
) -> StoreResult<()> {
    let event = AuditEvent {
        actor_id: None,
        actor_label: actor_label.to_string(),
        action: action.code().to_string(),
        usager_id: None,
        details: details.into(),
    };
    store.append_audit(chain, &event).await?;
    Ok(())
}

/// Outcome of verifying one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub chain: AuditChain,
    pub checked: u64,
    pub first_break: Option<ChainBreak>,
}

/// Walks a chain from the start, page by page, and stops at the first broken link.
pub async fn verify_chain(store: &dyn Store, chain: AuditChain) -> StoreResult<Verification> {
    let mut verifier = ChainVerifier::default();
    let mut after = 0;
    loop {
        let page = store.audit_chain(chain, after, 1000).await?;
        if page.is_empty() {
            return Ok(Verification {
                chain,
                checked: verifier.checked,
                first_break: None,
            });
        }
        for r in &page {
            if let Err(b) = verifier.check(r) {
                return Ok(Verification {
                    chain,
                    checked: verifier.checked,
                    first_break: Some(b),
                });
            }
            after = r.seq;
        }
    }
}
