//! The DMP (Mon espace santé) client: the VIHF assertion every call
//! carries, signed with the structure's SIGN certificate, written in
//! canonical form (`c14n`) and signed (`xmldsig`); the XDS metadata of a
//! deposit (`xds`) and its XAdES signature document (`xades`); the other
//! requests (`requests`); the SOAP 1.2 envelope and the MTOM/XOP package
//! (`soap`); the answers (`response`, `error`); the calls over mutual TLS
//! (`client`).

pub mod c14n;
pub mod client;
pub mod error;
pub mod requests;
pub mod response;
pub mod soap;
pub mod vihf;
pub mod xades;
pub mod xds;
pub mod xmldsig;

pub use client::{Caller, DepositRequest, DmpClient, DmpClientConfig};
pub use error::{DmpError, RegistryError};
