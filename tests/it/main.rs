//! Integration tests, in one binary: the store contract (run on SQLite and,
//! when a server is configured, on PostgreSQL).

// `#[macro_use]`: `both_backends!` is in scope in every module declared below.
#[macro_use]
mod common;
mod admin;
mod annuaire;
mod annuaire_import;
mod audit_versions;
mod browser;
mod cda;
mod cli;
mod datamatrix;
mod dmp;
mod dmp_crash;
mod dmp_settings;
mod documents;
mod equipe;
mod file_contents;
mod hardening;
mod http;
mod identite_http;
mod insi;
mod jobs;
mod mss;
mod mss_faults;
mod mss_inbox;
mod mss_outbox;
mod mss_real_servers;
mod mss_settings;
mod psc;
mod quality_http;
mod quality_store;
mod samples;
mod search;
mod store;
mod vigilance_store;
mod vihf;
mod xds;
