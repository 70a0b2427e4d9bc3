//! Use cases: the domain, the store and the connectors put together. No HTTP,
//! no HTML, no simulator: `web/` calls these, `app/` wires them.

pub mod admin_secrets;
pub mod administration;
pub mod annuaire;
pub mod annuaire_import;
pub mod audit;
pub mod dmp;
pub mod documents;
pub mod error;
pub mod files;
pub mod identity;
pub mod identity_quality;
pub mod insi;
pub mod mss;
pub mod psc;
pub mod reception;
pub mod team;

/// The structure's settings are its directors' (checked here as well as by
/// the routes).
pub(crate) fn director_only(t: &crate::domain::tenant::Tenant) -> error::ServiceResult<()> {
    if t.roles.contains(crate::domain::roles::Role::Directeur) {
        Ok(())
    } else {
        Err(error::ServiceError::Forbidden(
            "les paramètres de la structure sont réservés à la direction",
        ))
    }
}
