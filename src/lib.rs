//! Escale: a web DUI (dossier usager informatisé) for CSAPA, CAARUD and other
//! French medico-social structures. `main.rs` only wires; everything else is here
//! so tests start the real application.

#![forbid(unsafe_code)]

#[cfg(feature = "carte-vitale")]
pub mod agent;
pub mod annuaire_import;
pub mod app;
pub mod audit;
pub mod cli;
pub mod config;
pub mod connectors;
pub mod datamatrix_symbol;
pub mod demo;
pub mod directory_service;
pub mod domain;
pub mod identity_quality;
pub mod identity_sheet;
pub mod insi_identity;
pub mod insi_service;
pub mod instance_admin;
pub mod pki;
pub mod psc_service;
pub mod reverification;
pub mod sandbox;
pub mod store;
pub mod synthetic;
pub mod telemetry;
pub mod web;

/// rustls needs one process-wide crypto provider (ring: faster to build than
/// aws-lc-rs); every HTTPS client and server of the process uses it.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
