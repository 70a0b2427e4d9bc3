//! Escale: a web DUI (dossier usager informatisé) for CSAPA, CAARUD and other
//! French medico-social structures. `main.rs` only wires; everything else is here
//! so tests start the real application.

#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod config;
pub mod connectors;
pub mod documents;
pub mod domain;
pub mod jobs;
pub mod sandbox;
pub mod services;
pub mod store;
pub mod web;

/// rustls needs one process-wide crypto provider (ring: faster to build than
/// aws-lc-rs); every HTTPS client and server of the process uses it.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
