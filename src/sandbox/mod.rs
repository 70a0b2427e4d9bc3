//! Local simulators of external services, speaking the same protocol over
//! real sockets, as strict as the real service, and able to be slow, down or
//! faulty on demand. Used by the tests and by the demo/sandbox mode.

pub mod annuaire;
pub mod demo;
pub mod dmp;
pub mod generator;
pub mod insi;
pub mod mss;
mod mtls;
pub mod pki;
pub mod professionals;
pub mod psc;
pub(crate) mod web;

pub use insi::{
    Behaviour, FaultKind, InsiSandbox, SANDBOX_IDAM, SandboxError, SandboxHandle, SandboxOptions,
};
