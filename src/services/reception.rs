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

/// Files a list page shows first: a receptionist reads a screenful, then
/// narrows the search (issue 12: every row costs, at any size).
pub const LIST_PAGE: usize = 20;

/// The sizes « Afficher plus de dossiers » steps through, the first being
/// `LIST_PAGE`; the store never reads more than the last.
const LIST_SIZES: [usize; 4] = [LIST_PAGE, 50, 100, 200];

// The store reads one more file than the largest page, to say there are others.
const _: () = assert!(LIST_SIZES[LIST_SIZES.len() - 1] < UsagerQuery::MAX_LIMIT as usize);

/// How many files the list shows for the size asked in its address (`n`):
/// the size asked if it is one of the steps, else the first step above it.
pub fn list_size(asked: Option<usize>) -> usize {
    let asked = asked.unwrap_or(LIST_PAGE);
    LIST_SIZES
        .into_iter()
        .find(|&s| s >= asked)
        .unwrap_or(LIST_SIZES[LIST_SIZES.len() - 1])
}

/// The next size after `shown`, `None` at the last one (then only a
/// narrower search finds the others).
fn next_list_size(shown: usize) -> Option<usize> {
    LIST_SIZES.into_iter().find(|&s| s > shown)
}

/// What a search found: at most `limit` files in the receptionist's order,
/// and whether there are others (never a count of the whole structure,
/// whose cost grows with it).
#[derive(Debug)]
pub struct Found {
    pub files: Vec<Listed>,
    pub more: bool,
    /// The next list size when there are others and a larger list exists.
    pub next: Option<usize>,
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
    let next = more.then(|| next_list_size(limit)).flatten();
    Ok(Found { files, more, next })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_sizes_step_up_to_the_last() {
        assert_eq!(list_size(None), LIST_PAGE);
        assert_eq!(list_size(Some(0)), LIST_PAGE);
        assert_eq!(list_size(Some(50)), 50);
        assert_eq!(list_size(Some(51)), 100);
        assert_eq!(list_size(Some(100_000)), 200);
        assert_eq!(next_list_size(LIST_PAGE), Some(50));
        assert_eq!(next_list_size(100), Some(200));
        assert_eq!(next_list_size(200), None);
    }
}
