//! Connectors to external services (real protocols only; the local
//! simulators live in `crate::sandbox`).

pub mod insi;
pub mod xml;
