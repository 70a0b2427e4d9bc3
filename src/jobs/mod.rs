//! Durable background work. A job is a row of the `jobs` table (`store::jobs`):
//! its kind, what is left to do, progress, report, a lease and attempts. The
//! [`runner::Runner`] of any process claims ready jobs and runs them step by
//! step; a job whose process died is taken up again when its lease expires
//! and resumes from its last step. One file per job kind; [`schedule`] is
//! what the structures' procedures enqueue by themselves.

pub mod dmp;
pub mod duplicates;
pub mod mss;
pub mod mss_inbox;
pub mod reverification;
pub mod runner;
pub mod schedule;

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

pub use runner::{JobError, JobHandler, Runner, RunnerConfig, Running, Step};

use crate::services::dmp::DmpService;
use crate::services::insi::InsiService;
use crate::services::mss::MssService;
use crate::store::{DynStore, JobKind};

/// The handler of every job kind, over these store and services.
pub fn handlers(
    store: &DynStore,
    insi: &Arc<InsiService>,
    dmp: &Arc<DmpService>,
    mss: &Arc<MssService>,
    insi_rate_per_second: u32,
) -> HashMap<JobKind, Arc<dyn JobHandler>> {
    let mut h: HashMap<JobKind, Arc<dyn JobHandler>> = HashMap::new();
    h.insert(
        JobKind::DuplicateBatch,
        Arc::new(duplicates::DuplicateBatch {
            store: store.clone(),
        }),
    );
    h.insert(
        JobKind::InsiReverification,
        Arc::new(reverification::Reverification {
            store: store.clone(),
            insi: insi.clone(),
            rate_per_second: insi_rate_per_second,
        }),
    );
    h.insert(
        JobKind::Dmp,
        Arc::new(dmp::DmpOutbox {
            store: store.clone(),
            dmp: dmp.clone(),
        }),
    );
    h.insert(
        JobKind::Mss,
        Arc::new(mss::MssOutbox {
            store: store.clone(),
            mss: mss.clone(),
        }),
    );
    h.insert(
        JobKind::MssInbox,
        Arc::new(mss_inbox::MssInbox {
            store: store.clone(),
            mss: mss.clone(),
        }),
    );
    h
}

/// The idempotency key of a start: the form's (a UUID), or a fresh one.
pub fn idempotency_key(form_key: Option<&str>) -> String {
    match form_key.and_then(|k| Uuid::parse_str(k.trim()).ok()) {
        Some(k) => format!("formulaire-{k}"),
        None => format!("formulaire-{}", Uuid::new_v4()),
    }
}
