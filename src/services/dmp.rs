//! The user's DMP (Mon espace santé): recording what they were told and
//! their opposition (issue 13). Deposits come with the outbox jobs.

use uuid::Uuid;

use super::audit;
use super::error::{ServiceError, ServiceResult};
use crate::domain::audit::AuditAction;
use crate::domain::dmp::{ConsentEvent, DmpConsent};
use crate::domain::tenant::Tenant;
use crate::store::Store;

/// Records one event, journaled with it. An anonymous user has no DMP here
/// (nothing about one is recorded); an event that does not follow from the
/// current state (a second opposition, lifting none) is refused.
pub async fn record_consent(
    store: &dyn Store,
    t: &Tenant,
    usager_id: Uuid,
    event: ConsentEvent,
) -> ServiceResult<()> {
    let u = super::identity::live_usager(store, t, usager_id).await?;
    if u.data.identity.is_anonymous() {
        return Err(ServiceError::Refused(
            "accueil anonyme : aucun document ne part vers un DMP pour cette personne, rien n'est à enregistrer".into(),
        ));
    }
    let consent = DmpConsent::from_records(&store.dmp_consent(t, usager_id).await?);
    if !consent.next_events().contains(&event) {
        return Err(ServiceError::Refused(match event {
            ConsentEvent::Opposition => "une opposition est déjà enregistrée".into(),
            _ => "aucune opposition n'est enregistrée".into(),
        }));
    }
    let entry = audit::event(
        t,
        AuditAction::DmpConsentRecorded,
        Some(usager_id),
        event.label(),
    );
    store
        .record_dmp_consent(t, usager_id, event, &[entry])
        .await?;
    Ok(())
}
