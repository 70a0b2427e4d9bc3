//! Reception: search before creating (RNIV), then create the file. Every
//! step is an index lookup whatever the size of the structure (issue 12):
//! the search (store::search), the look-alike check (identity keys), the
//! insert with its keys, search entry and journal entry in one transaction.

use chrono::{NaiveDate, Utc};
use uuid::Uuid;

use crate::domain::audit::AuditAction;
use crate::domain::duplicates::{Match, fingerprint};
use crate::domain::procedure::IdentityAction;
use crate::domain::search;
use crate::domain::tenant::Tenant;
use crate::domain::usager::{FieldErrors, UsagerForm};
use crate::services::error::{ServiceError, ServiceResult};
use crate::services::files::normalise_strict_traits;
use crate::services::{audit, identity_quality};
use crate::store::{Listed, Store, Usager, UsagerQuery};

/// Files a list page shows.
pub const LIST_PAGE: usize = 50;

/// What a search found: at most `limit` files in the receptionist's order,
/// and whether there are others (never a count of the whole structure,
/// whose cost grows with it).
#[derive(Debug)]
pub struct Found {
    pub files: Vec<Listed>,
    pub more: bool,
}

/// The list page's search: free text (every term found in a name or
/// pseudonym) and/or an exact birth date.
pub async fn search(
    store: &dyn Store,
    t: &Tenant,
    text: &str,
    birth_date: Option<NaiveDate>,
    limit: usize,
) -> ServiceResult<Found> {
    let query = UsagerQuery {
        terms: search::terms(text),
        birth_date,
        // One more than shown says whether there are others.
        limit: limit as i64 + 1,
    };
    let mut files = store.search_usagers(t, &query).await?;
    let more = files.len() > limit;
    files.truncate(limit);
    Ok(Found { files, more })
}

/// The anteriority search of the creation page (RNIV): the birth date and
/// the first three letters of the birth name and of the first name.
pub async fn anteriority(
    store: &dyn Store,
    t: &Tenant,
    birth_date: Option<NaiveDate>,
    name: &str,
    first_name: &str,
) -> ServiceResult<Vec<Listed>> {
    let prefix = |s: &str| s.trim().chars().take(3).collect::<String>();
    let query = UsagerQuery {
        terms: search::terms(&format!("{} {}", prefix(name), prefix(first_name))),
        birth_date,
        limit: 20,
    };
    Ok(store.search_usagers(t, &query).await?)
}

/// What became of « Créer le dossier ».
#[derive(Debug)]
pub enum Creation {
    Created {
        id: Uuid,
        /// Strict traits were converted to the INSi format (the page says so).
        converted: bool,
    },
    /// A field is missing or malformed: the form comes back as typed.
    Invalid {
        form: Box<UsagerForm>,
        errors: FieldErrors,
    },
    /// Look-alikes (RNIV: search before creating): the warning advises,
    /// never blocks. The form now carries their fingerprint: sent again
    /// with the same traits, it creates the file.
    LookAlikes {
        form: Box<UsagerForm>,
        found: Vec<(Usager, Match)>,
    },
}

pub async fn create(
    store: &dyn Store,
    t: &Tenant,
    mut form: UsagerForm,
) -> ServiceResult<Creation> {
    if !t.may(IdentityAction::Create) {
        return Err(ServiceError::Forbidden(
            "La procédure d'identitovigilance de la structure ne permet pas à vos rôles de créer un dossier : demandez à l'accueil ou au référent.",
        ));
    }
    let today = Utc::now().date_naive();
    let mut data = match form.validate(today, t.structure_kind.allows_anonymity()) {
        Ok(d) => d,
        Err(errors) => {
            return Ok(Creation::Invalid {
                form: Box::new(form),
                errors,
            });
        }
    };
    // Only what is saved is converted: on error, the form keeps what was typed.
    let converted = normalise_strict_traits(&mut data);
    let found = identity_quality::candidates(store, t, &data.identity, None).await?;
    let seen = fingerprint(&data.identity);
    if !found.is_empty() && form.doublons_vus.as_deref() != Some(seen.as_str()) {
        form.doublons_vus = Some(seen);
        return Ok(Creation::LookAlikes {
            form: Box::new(form),
            found,
        });
    }
    let details = if data.identity.is_anonymous() {
        "accueil anonyme"
    } else {
        ""
    };
    let entry = audit::event(t, AuditAction::FileCreated, None, details);
    let u = store.create_usager(t, &data, &[entry]).await?;
    // Kept for the referent: the pairs the person chose to create anyway.
    for (other, m) in &found {
        store.upsert_duplicate_pair(t, u.id, other.id, m).await?;
    }
    Ok(Creation::Created {
        id: u.id,
        converted,
    })
}
