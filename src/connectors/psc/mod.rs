//! Pro Santé Connect (OpenID Connect, Keycloak realm `esante-wallet`): the
//! client, and the PSC claims mapped to Escale's directory types.

pub mod claims;
pub mod client;

pub use claims::{AuthMeans, PscClaims};
pub use client::{LoginStart, PscClient, PscError, PscIdentity, PscSettings};
