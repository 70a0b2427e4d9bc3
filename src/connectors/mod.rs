//! Connectors to external services (real protocols only; the local
//! simulators live in `crate::sandbox`).

pub mod annuaire;
pub mod certificate;
pub mod dmp;
pub mod insi;
pub mod mss;
pub mod psc;
pub mod tls;
pub mod xml;
