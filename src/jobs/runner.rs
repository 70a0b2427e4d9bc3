//! The job runner: claims a job (the oldest ready one, or one whose lease
//! expired because its process died), runs it step by step, writes what is
//! left to do and the progress after each step (extending its lease), and
//! ends it done, retried later (backoff) or failed with a French reason.
//! Several runners, in one process or many, share the table: a claim is one
//! `UPDATE … RETURNING` (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so no two
//! runners ever hold the same job.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::Notify;

use crate::domain::tenant::Tenant;
use crate::store::{DynStore, Job, JobKind, JobState, StoreError};

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// More to do: the runner checkpoints and calls `step` again.
    More,
    /// Nothing left: the job is done.
    Done,
}

/// Why a step could not be done.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt later (database or service unavailable…).
    #[error("{0}")]
    Retry(String),
    /// No attempt will do better: the job fails with this French reason.
    #[error("{0}")]
    Fatal(String),
}

/// The database's own message (English, technical) goes to the log; the
/// desk reads a French reason.
impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        tracing::warn!(error = %e, "travail de fond : erreur de la base de données");
        JobError::Retry(
            "la base de données n'a pas pu enregistrer ce pas (détail dans le journal technique du serveur)".into(),
        )
    }
}

/// A claimed job as its handler sees it: what is left to do (`payload`) and
/// what was done (`done`, `report`), both JSON, written back after each step.
pub struct Running {
    pub job: Job,
    pub payload: serde_json::Value,
    pub report: serde_json::Value,
}

impl Running {
    /// The payload as the handler's type (a job written by an older version
    /// that cannot be read fails rather than redoing work blindly).
    pub fn payload<T: serde::de::DeserializeOwned>(&self) -> Result<T, JobError> {
        serde_json::from_value(self.payload.clone()).map_err(|e| {
            tracing::error!(error = %e, "travail illisible");
            JobError::Fatal(
                "travail illisible (écrit par une autre version d'Escale ?) : relancez-le".into(),
            )
        })
    }
    pub fn set_payload<T: serde::Serialize>(&mut self, p: &T) {
        self.payload = serde_json::to_value(p).expect("payload serialises");
    }
    pub fn report<T: serde::de::DeserializeOwned + Default>(&self) -> T {
        serde_json::from_value(self.report.clone()).unwrap_or_default()
    }
    pub fn set_report<T: serde::Serialize>(&mut self, r: &T) {
        self.report = serde_json::to_value(r).expect("report serialises");
    }
}

/// One kind of job. A step must be idempotent: after a crash the step that
/// was running is done again from the last checkpoint.
#[async_trait]
pub trait JobHandler: Send + Sync {
    /// Time to leave between two steps (rate limits of a national service).
    fn pace(&self) -> Option<Duration> {
        None
    }
    async fn step(&self, t: &Tenant, job: &mut Running) -> Result<Step, JobError>;
}

#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Names this runner in the table (`leased_by`) and the logs.
    pub worker: String,
    /// A job not checkpointed for this long is taken up by another runner.
    pub lease: Duration,
    /// How long an idle runner waits before looking again (an enqueue in
    /// this process wakes it at once).
    pub poll: Duration,
    /// A job that ran this long goes back to the queue behind the others
    /// (one structure's long re-verification does not hold up the rest).
    pub slice: Duration,
    /// Backoff of the first retry; doubled at each attempt, at most `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            worker: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            lease: Duration::from_secs(60),
            poll: Duration::from_secs(2),
            slice: Duration::from_secs(60),
            backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(3600),
        }
    }
}

/// The runner of one process; cheap to clone.
#[derive(Clone)]
pub struct Runner {
    store: DynStore,
    handlers: Arc<HashMap<JobKind, Arc<dyn JobHandler>>>,
    config: Arc<RunnerConfig>,
    wake: Arc<Notify>,
}

impl Runner {
    pub fn new(
        store: DynStore,
        handlers: HashMap<JobKind, Arc<dyn JobHandler>>,
        config: RunnerConfig,
    ) -> Runner {
        Runner {
            store,
            handlers: Arc::new(handlers),
            config: Arc::new(config),
            wake: Arc::new(Notify::new()),
        }
    }

    pub fn worker(&self) -> &str {
        &self.config.worker
    }

    /// Something was enqueued: look now rather than at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Claims one ready job and runs it until it is done, failed or handed
    /// back for a later attempt. `Ok(None)`: nothing was ready.
    pub async fn run_one(&self) -> Result<Option<Job>, StoreError> {
        let now = Utc::now();
        let Some(job) = self
            .store
            .claim_job(&self.config.worker, now, now + self.lease())
            .await?
        else {
            return Ok(None);
        };
        tracing::info!(job = %job.id, kind = job.kind.code(), attempt = job.attempts, "travail pris en charge");
        let id = job.id;
        // A task of its own: a panic in a step fails this job, not the runner.
        let this = self.clone();
        match tokio::spawn(async move { this.run_claimed(job).await }).await {
            Ok(result) => result?,
            Err(e) => {
                tracing::error!(job = %id, error = %e, "travail interrompu par une erreur interne");
                if let Some(job) = self.store.job_by_id(id).await? {
                    self.end(
                        &job,
                        JobState::Failed,
                        &job.report.clone(),
                        Some("erreur interne du serveur pendant ce travail (voir le journal technique) : relancez-le"),
                    )
                    .await?;
                }
            }
        }
        self.store.job_by_id(id).await
    }

    /// Runs jobs until none is ready (tests, the CLI).
    pub async fn run_until_idle(&self) -> Result<usize, StoreError> {
        let mut n = 0;
        while self.run_one().await?.is_some() {
            n += 1;
        }
        Ok(n)
    }

    /// Runs jobs until `shutdown` completes; a store error is logged and
    /// retried at the next poll.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let idle = match self.run_one().await {
                Ok(Some(_)) => false,
                Ok(None) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "travaux de fond : base indisponible");
                    true
                }
            };
            if idle {
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(self.config.poll) => {}
                }
            }
        }
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.config.lease).unwrap_or(chrono::Duration::seconds(60))
    }

    async fn run_claimed(&self, job: Job) -> Result<(), StoreError> {
        let worker = self.config.worker.clone();
        let Some(handler) = self.handlers.get(&job.kind).cloned() else {
            self.end(
                &job,
                JobState::Failed,
                &job.report.clone(),
                Some("type de travail inconnu de ce serveur"),
            )
            .await?;
            return Ok(());
        };
        let tenant = match self.store.job_tenant(&job).await? {
            Some(t) => t,
            None => {
                let why = "la personne qui a lancé ce travail n'a plus accès à la structure : relancez-le";
                self.end(&job, JobState::Failed, &job.report.clone(), Some(why))
                    .await?;
                return Ok(());
            }
        };
        let mut running = Running {
            payload: serde_json::from_str(&job.payload).unwrap_or(serde_json::Value::Null),
            report: serde_json::from_str(&job.report).unwrap_or(serde_json::Value::Null),
            job,
        };
        let mut pace = handler.pace().map(|p| {
            let mut i = tokio::time::interval(p);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        let started = std::time::Instant::now();
        loop {
            if let Some(p) = pace.as_mut() {
                p.tick().await;
            }
            let step = {
                // A long step (several INSi calls) keeps its lease alive.
                let id = running.job.id;
                let step = handler.step(&tenant, &mut running);
                tokio::pin!(step);
                let mut beat = tokio::time::interval(self.config.lease / 3);
                beat.tick().await;
                loop {
                    tokio::select! {
                        r = &mut step => break r,
                        _ = beat.tick() => {
                            let until = Utc::now() + self.lease();
                            if !self.store.renew_job_lease(id, &worker, until).await? {
                                tracing::warn!(job = %id, "bail perdu pendant un pas");
                            }
                        }
                    }
                }
            };
            let report = running.report.to_string();
            match step {
                Ok(Step::More) => {
                    let now = Utc::now();
                    let kept = self
                        .store
                        .checkpoint_job(
                            running.job.id,
                            &worker,
                            running.job.done,
                            &running.payload.to_string(),
                            &report,
                            now + self.lease(),
                        )
                        .await?;
                    if !kept {
                        // Our lease expired and another runner took the job over.
                        tracing::warn!(job = %running.job.id, "bail perdu : le travail continue ailleurs");
                        return Ok(());
                    }
                    if started.elapsed() >= self.config.slice {
                        self.store
                            .release_job(running.job.id, &worker, Utc::now())
                            .await?;
                        return Ok(());
                    }
                }
                Ok(Step::Done) => {
                    self.end(&running.job, JobState::Done, &report, None)
                        .await?;
                    return Ok(());
                }
                Err(JobError::Fatal(why)) => {
                    tracing::error!(job = %running.job.id, raison = %why, "travail en échec");
                    self.end(&running.job, JobState::Failed, &report, Some(&why))
                        .await?;
                    return Ok(());
                }
                Err(JobError::Retry(why)) => {
                    let job = &running.job;
                    if job.attempts >= job.max_attempts {
                        let why = format!("abandonné après {} tentatives : {why}", job.attempts);
                        tracing::error!(job = %job.id, raison = %why, "travail en échec");
                        self.end(job, JobState::Failed, &report, Some(&why)).await?;
                    } else {
                        let wait = self.backoff(job.attempts);
                        tracing::warn!(job = %job.id, raison = %why, attente = ?wait, "travail reporté");
                        self.store
                            .retry_job(
                                job.id,
                                &worker,
                                job.done,
                                &running.payload.to_string(),
                                &report,
                                &why,
                                Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default(),
                            )
                            .await?;
                    }
                    return Ok(());
                }
            }
        }
    }

    /// `backoff × 2^(attempt-1)`, at most `max_backoff`, then between half
    /// and all of it at random (jitter: the jobs a service outage failed
    /// together do not all come back at the same second).
    fn backoff(&self, attempt: i32) -> Duration {
        let exp = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(0)
            .min(20);
        let full = self
            .config
            .backoff
            .saturating_mul(1 << exp)
            .min(self.config.max_backoff);
        full.mul_f64(rand::random_range(0.5..=1.0))
    }

    async fn end(
        &self,
        job: &Job,
        state: JobState,
        report: &str,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.store
            .finish_job(
                job.id,
                &self.config.worker,
                state,
                job.done,
                report,
                error,
                Utc::now(),
            )
            .await?;
        Ok(())
    }
}
