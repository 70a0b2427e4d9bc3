//! Client of the Annuaire Santé FHIR R4 API (v2,
//! `https://gateway.api.esante.gouv.fr/fhir/v2`, header `ESANTE-API-KEY`):
//! professionals (Practitioner + PractitionerRole), their structures
//! (Organization, FINESS) and MSSanté mailboxes, mapped to the directory types
//! of [`crate::domain::directory`].
//!
//! - [`client`]: HTTP calls (key, timeouts, retries on 429/5xx, paging, cache);
//! - [`query`]: the search URLs sent;
//! - [`fhir`]: lenient parsing of Bundles and resources (missing fields never fail);
//! - [`rate_limit`]: the 17 calls/s per application limit, shared process-wide;
//! - [`cache`]: bounded in-memory cache of search results;
//! - [`error`]: typed errors whose Display is a French sentence saying what to do.
//!
//! The real service has no sandbox: [`crate::sandbox::annuaire`] simulates it.

pub mod cache;
pub mod client;
pub mod error;
pub mod fhir;
pub mod query;
pub mod rate_limit;

pub use client::{AnnuaireClient, AnnuaireConfig, SearchResults};
pub use error::AnnuaireError;
pub use query::OrganizationQuery;

/// Production base URL (FHIR v2).
pub const PRODUCTION_BASE_URL: &str = "https://gateway.api.esante.gouv.fr/fhir/v2";
/// Header carrying the application's key (Gravitee portal).
pub const API_KEY_HEADER: &str = "ESANTE-API-KEY";
/// Environment variable documented in messages about the key.
pub const API_KEY_ENV: &str = "ESCALE_ANNUAIRE_API_KEY";
/// Media type of FHIR JSON.
pub const FHIR_JSON: &str = "application/fhir+json";

/// FHIR identifier systems, type codes, code systems, extensions and profiles
/// used by the Annuaire (spec samples `annuaire/*.json`, `identifier-formats.json`).
pub mod systems {
    /// idNat_PS (TRE_G08), type `IDNPS`.
    pub const ID_NAT_PS: &str = "urn:oid:1.2.250.1.71.4.2.1";
    /// RPPS number, type `RPPS`; also the system of PractitionerRole activity ids.
    pub const RPPS: &str = "https://rpps.esante.gouv.fr";
    /// idNat_Struct (TRE_G07), type `IDNST`.
    pub const ID_NAT_STRUCT: &str = "urn:oid:1.2.250.1.71.4.2.2";
    /// FINESS (types `FINEG` geographic, `FINEJ` legal entity).
    pub const FINESS: &str = "https://finess.esante.gouv.fr";
    /// RPPS-rang of a practice, type `RPPSRG`.
    pub const RPPS_RANG: &str = "https://rppsrang.esante.gouv.fr";
    /// Identifier type codes (`IDNPS`, `RPPS`, `IDNST`, `FINEG`, `FINEJ`, `RPPSRG`).
    pub const IDENTIFIER_TYPE: &str = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203";
    /// Organisation kind (`GEOGRAPHICAL-ENTITY`, `LEGAL-ENTITY`).
    pub const ORGANIZATION_KIND: &str = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-3307";

    pub const TRE_G15_PROFESSION: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante";
    pub const TRE_R09_CATEGORY: &str = "https://mos.esante.gouv.fr/NOS/TRE_R09-CategorieProfessionnelle/FHIR/TRE-R09-CategorieProfessionnelle";
    pub const TRE_R94_SOCIAL_PROFESSION: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R94-ProfessionSocial/FHIR/TRE-R94-ProfessionSocial";
    pub const TRE_R85_ROLE: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R85-RolePriseCharge/FHIR/TRE-R85-RolePriseCharge";
    pub const TRE_R21_FUNCTION: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R21-Fonction/FHIR/TRE-R21-Fonction";
    pub const TRE_R22_ACTIVITY_KIND: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R22-GenreActivite/FHIR/TRE-R22-GenreActivite";
    pub const TRE_R23_MODE: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R23-ModeExercice/FHIR/TRE-R23-ModeExercice";
    pub const TRE_R02_SECTOR: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite";
    pub const TRE_R66_CATEGORY: &str = "https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/TRE-R66-CategorieEtablissement";
    pub const TRE_R256_MESSAGING: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R256-TypeMessagerie/FHIR/TRE-R256-TypeMessagerie";
    pub const TRE_R257_MAILBOX_KIND: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R257-TypeBAL/FHIR/TRE-R257-TypeBAL";

    /// ContactPoint extension whose coding `MSSANTE` marks an MSSanté address.
    pub const EXT_EMAIL_TYPE: &str =
        "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-contact-point-email-type";
    /// MSSanté mailbox metadata (sub-extensions `type`, `description`, `service`, `digitization`).
    pub const EXT_MAILBOX_METADATA: &str = "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-ext-mailbox-mss-metadata";
    /// Names the slice of an `Organization.type` (`organizationType`, `secteurActiviteRASS`…).
    pub const EXT_ORGANIZATION_TYPES: &str = "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-ext-organization-types";
    /// CPx card of a practitioner.
    pub const EXT_SMARTCARD: &str =
        "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-ext-smartcard";

    pub const PROFILE_FR_PRACTITIONER: &str =
        "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-practitioner";
    pub const PROFILE_PRACTITIONER: &str =
        "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-dp-practitioner";
    pub const PROFILE_FR_PRACTITIONER_ROLE: &str =
        "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-practitioner-role";
    pub const PROFILE_PRACTITIONER_ROLE: &str = "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-dp-practitionerrole";
    pub const PROFILE_FR_ORGANIZATION: &str =
        "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-organization";
    pub const PROFILE_ORGANIZATION: &str =
        "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-dp-organization";
}

/// The NOS table named in a code system URL: `…/NOS/TRE_R85-RolePriseCharge/FHIR/…`
/// → `TRE_R85`. Lenient on purpose: the IG spells some systems with a trailing
/// `/TRE_G15-ProfessionSante-FHIR.json`.
pub fn nos_table(system: &str) -> Option<&str> {
    let rest = system.split("/NOS/").nth(1)?;
    let table = rest.split(['-', '/']).next()?;
    (!table.is_empty()).then_some(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nos_tables() {
        assert_eq!(nos_table(systems::TRE_R85_ROLE), Some("TRE_R85"));
        assert_eq!(
            nos_table(
                "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante/TRE_G15-ProfessionSante-FHIR.json"
            ),
            Some("TRE_G15")
        );
        assert_eq!(nos_table(systems::RPPS), None);
    }
}
