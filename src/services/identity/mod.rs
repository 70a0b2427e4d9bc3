//! Identity vigilance on one file: INSi searches and the integration of an
//! answer ([`insi_search`]), and the other changes of its vigilance state
//! ([`vigilance`]). Every rule is in `domain::identity`; these put the rules
//! together with the store, INSi and the journal.

pub mod insi_search;
pub mod vigilance;

use crate::domain::tenant::Tenant;
use crate::services::error::{ServiceError, ServiceResult};
use crate::store::{Store, Usager};

/// The file, if it is in the tenant's structure and still open to changes
/// (a merged file is read-only: its surviving file is where work goes on).
pub async fn live_usager(store: &dyn Store, t: &Tenant, id: uuid::Uuid) -> ServiceResult<Usager> {
    live_usager_or(
        store,
        t,
        id,
        "Ce dossier a été fusionné dans un autre : il ne se modifie plus. Ouvrez le dossier conservé (lien en haut de ce dossier) pour continuer.",
    )
    .await
}

/// The tenant's file if it was not merged; `merged` says why not otherwise.
pub async fn live_usager_or(
    store: &dyn Store,
    t: &Tenant,
    id: uuid::Uuid,
    merged: &str,
) -> ServiceResult<Usager> {
    let u = store
        .get_usager(t, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    if u.merged_into.is_some() {
        return Err(ServiceError::Refused(merged.into()));
    }
    Ok(u)
}

/// Qualifying is for the roles the structure names.
pub fn require_qualifier(t: &Tenant) -> ServiceResult<()> {
    if t.may_qualify() {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(
            "Votre rôle ne permet pas de qualifier les identités dans cette structure.",
        ))
    }
}
