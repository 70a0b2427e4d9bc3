//! Durable jobs: the job store's contract, a re-verification that survives
//! the death of its process, two runners sharing one database, and the
//! re-verification the structure's procedure schedules by itself. On both
//! databases.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use escale::domain::audit::AuditAction;
use escale::domain::identity::IdentityStatus;
use escale::domain::tenant::Tenant;
use escale::jobs::{Runner, RunnerConfig};
use escale::services::identity::insi_search::{self, SearchOutcome};
use escale::services::insi::{InsiService, integrate};
use escale::store::{DynStore, Job, JobKind, JobState, NewJob};
use uuid::Uuid;

use crate::common::db::{Fixture, TestDb, seed_two_structures};

fn new_job(kind: JobKind, key: &str, t: &Tenant, payload: &str) -> NewJob {
    NewJob {
        kind,
        idempotency_key: key.into(),
        started_by: t.actor_label.clone(),
        actor_id: Some(t.professional_id),
        total: 0,
        payload: payload.into(),
    }
}

async fn job_store_contract(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = &f.directeur.tenant;
    let s = &db.store;
    let j = new_job(JobKind::DuplicateBatch, "k1", t, "{}");
    let (job, created) = s.enqueue_job(t.structure_id, &j, &[]).await.unwrap();
    assert!(created);
    assert_eq!((job.state, job.attempts), (JobState::Queued, 0));
    // The same key is the same job: a double click enqueues once.
    let (again, created) = s.enqueue_job(t.structure_id, &j, &[]).await.unwrap();
    assert!(!created);
    assert_eq!(again.id, job.id);
    assert_eq!(s.open_jobs().await.unwrap(), 1);

    let now = Utc::now();
    let lease = now + chrono::Duration::seconds(30);
    let claimed = s.claim_job("a", now, lease).await.unwrap().unwrap();
    assert_eq!(claimed.id, job.id);
    assert_eq!((claimed.state, claimed.attempts), (JobState::Running, 1));
    assert_eq!(claimed.leased_by.as_deref(), Some("a"));
    assert!(
        s.claim_job("b", now, lease).await.unwrap().is_none(),
        "held by a"
    );
    // Only the holder writes.
    assert!(
        !s.checkpoint_job(job.id, "b", 1, "{\"x\":1}", "{}", lease)
            .await
            .unwrap()
    );
    assert!(
        s.checkpoint_job(job.id, "a", 1, "{\"x\":1}", "{}", lease)
            .await
            .unwrap()
    );

    // a dies: once its lease has expired, b takes the job over where a left it.
    let later = lease + chrono::Duration::seconds(1);
    let taken = s
        .claim_job("b", later, later + chrono::Duration::seconds(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((taken.id, taken.attempts, taken.done), (job.id, 2, 1));
    assert_eq!(taken.payload, "{\"x\":1}");
    assert!(
        !s.checkpoint_job(job.id, "a", 2, "{}", "{}", later)
            .await
            .unwrap(),
        "a lost it"
    );

    // A failed attempt waits for its backoff.
    let retry_at = later + chrono::Duration::seconds(60);
    assert!(
        s.retry_job(
            job.id,
            "b",
            1,
            "{\"x\":1}",
            "{}",
            "INSi indisponible",
            retry_at
        )
        .await
        .unwrap()
    );
    let waiting = s.job(t, job.id).await.unwrap().unwrap();
    assert_eq!(waiting.state, JobState::Queued);
    assert_eq!(waiting.last_error.as_deref(), Some("INSi indisponible"));
    assert!(
        s.claim_job("c", later, later).await.unwrap().is_none(),
        "not before its time"
    );
    let c = s
        .claim_job("c", retry_at, retry_at + chrono::Duration::seconds(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.attempts, 3);
    assert!(
        s.finish_job(job.id, "c", JobState::Done, 7, "{\"r\":1}", None, retry_at)
            .await
            .unwrap()
    );
    let done = s.job(t, job.id).await.unwrap().unwrap();
    assert_eq!((done.state, done.done), (JobState::Done, 7));
    assert!(done.finished_at.is_some());
    assert_eq!(s.open_jobs().await.unwrap(), 0);
    assert!(
        s.claim_job("d", retry_at, retry_at)
            .await
            .unwrap()
            .is_none()
    );

    // Another structure neither sees nor shares keys with it.
    assert!(s.job(&f.other.tenant, job.id).await.unwrap().is_none());
    let (theirs, created) = s
        .enqueue_job(
            f.other.tenant.structure_id,
            &new_job(JobKind::DuplicateBatch, "k1", &f.other.tenant, "{}"),
            &[],
        )
        .await
        .unwrap();
    assert!(created);
    assert_ne!(theirs.id, job.id);

    // The tenant of a job: its professional's, or the structure's own.
    let tenant = s.job_tenant(&theirs).await.unwrap().unwrap();
    assert_eq!(tenant.professional_id, f.other.tenant.professional_id);
    let mut policy = new_job(JobKind::InsiReverification, "p", t, "{}");
    policy.actor_id = None;
    policy.started_by = "procédure".into();
    let (pj, _) = s.enqueue_job(t.structure_id, &policy, &[]).await.unwrap();
    let system = s.job_tenant(&pj).await.unwrap().unwrap();
    assert_eq!(system.structure_id, t.structure_id);
    assert_eq!(system.actor_label, "procédure");
    assert!(system.roles.is_empty());
}

/// A runner whose lease is `lease_ms` (short only where a takeover is tested).
fn runner(
    store: &DynStore,
    insi: &Arc<InsiService>,
    worker: &str,
    rate: u32,
    lease_ms: u64,
) -> Runner {
    Runner::new(
        store.clone(),
        escale::jobs::handlers(store, insi, &no_dmp(), &crate::dmp::no_mss(), rate),
        RunnerConfig {
            worker: worker.into(),
            lease: Duration::from_millis(lease_ms),
            poll: Duration::from_millis(50),
            slice: Duration::from_secs(600),
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        },
    )
}

/// The national services in sandbox mode (INSi simulator, test PKI), without
/// the web application (and so without its own runner).
async fn national(db: &TestDb, dir: &tempfile::TempDir) -> escale::app::national::National {
    let mut config = crate::common::app::test_config(db, escale::config::Mode::Sandbox);
    config.data_dir = dir.path().to_path_buf();
    escale::app::national::start(&config)
        .await
        .expect("national services")
}

/// `n` files of CNDA test person ADRUN ZOE, each « récupérée » (the INS of a
/// real INSi search, retrieved `age_days` ago).
async fn recovered_files(
    store: &DynStore,
    insi: &InsiService,
    t: &Tenant,
    n: usize,
    age_days: i64,
) -> Vec<Uuid> {
    let data = escale::domain::usager::UsagerData {
        identity: escale::domain::usager::Identity::Traits {
            birth_name: "ADRUN".into(),
            first_names: "ZOE".into(),
            used_name: None,
            used_first_name: None,
            birth_date: chrono::NaiveDate::from_ymd_opt(1975, 12, 31).unwrap(),
            sex: escale::domain::usager::Sex::F,
            birth_place_code: None,
        },
        contact: Default::default(),
    };
    let first = store.create_usager(t, &data, &[]).await.unwrap();
    let report = insi_search::search_by_traits(store.as_ref(), insi, t, &first)
        .await
        .unwrap();
    let SearchOutcome::Found { individu, .. } = report.outcome else {
        panic!("ADRUN ZOE is a CNDA test person the sandbox knows");
    };
    let (mut retrieval, identity) = integrate(&individu, &first.data.identity, "test").unwrap();
    retrieval.retrieved_at = Utc::now() - chrono::Duration::days(age_days);
    let v = first.vigilance.confirm_insi(retrieval).unwrap();
    assert_eq!(v.status(), IdentityStatus::Recup);
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let u = if i == 0 {
            first.clone()
        } else {
            store.create_usager(t, &data, &[]).await.unwrap()
        };
        store
            .set_vigilance(t, u.id, u.version, &identity, &v, &[])
            .await
            .unwrap();
        ids.push(u.id);
    }
    ids
}

async fn start_reverification(store: &DynStore, t: &Tenant, only_due: bool) -> Job {
    escale::jobs::reverification::start(store.as_ref(), t, only_due, None)
        .await
        .unwrap()
}

async fn wait_done(store: &DynStore, id: Uuid) -> Job {
    for _ in 0..600 {
        let j = store.job_by_id(id).await.unwrap().unwrap();
        if !j.state.is_open() {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let j = store.job_by_id(id).await.unwrap().unwrap();
    panic!("job {id} never finished: {j:?}");
}

/// The process running a re-verification dies in the middle (its runtime is
/// dropped, tasks cut wherever they are); after its lease expires another
/// runner finishes the job from the last step: every identity is handled
/// once, and INSi is asked again only for the one step that was cut.
async fn reverification_survives_the_death_of_its_process(db: TestDb) {
    let f: Fixture = seed_two_structures(&db.store).await;
    let t = f.accueil.tenant.clone();
    let dir = tempfile::tempdir().unwrap();
    let nat = national(&db, &dir).await;
    const N: usize = 150;
    let ids = recovered_files(&db.store, &nat.insi, &t, N, 1).await;
    // The desk's credentials, for the process that will die (no test PKI there).
    let structure = db
        .store
        .get_structure(t.structure_id)
        .await
        .unwrap()
        .unwrap();
    nat.insi
        .client_for(db.store.as_ref(), &structure)
        .await
        .unwrap();
    let sandbox = nat.sandboxes.insi.as_ref().unwrap();
    let director = f.directeur.tenant.clone();
    let job = start_reverification(&db.store, &director, false).await;
    let before = sandbox.request_count();
    let calls_before = count_calls(&db.store, &t, &ids).await;

    // The first process: its own runtime, store and INSi client.
    let (url, sandbox_url) = (db.url.clone(), sandbox.url.clone());
    let data_dir = dir.path().to_path_buf();
    let ca = dir.path().join("pki").join("ca.pem");
    let (kill, killed) = std::sync::mpsc::channel::<()>();
    let first = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.spawn(async move {
            let store = escale::store::connect(&url).await.unwrap();
            let config = escale::config::Config {
                data_dir,
                ..Default::default()
            };
            let insi = Arc::new(InsiService::new(&config, sandbox_url, ca, None).unwrap());
            runner(&store, &insi, "premier", 60, 1000)
                .serve(std::future::pending())
                .await;
        });
        killed.recv().unwrap();
        rt.shutdown_background();
    });
    // Let it go part of the way, then kill it.
    loop {
        let j = db.store.job_by_id(job.id).await.unwrap().unwrap();
        if j.done >= (N / 3) as i64 {
            break;
        }
        assert!(j.state.is_open(), "{j:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    kill.send(()).unwrap();
    first.join().unwrap();
    let cut = db.store.job_by_id(job.id).await.unwrap().unwrap();
    assert_eq!(
        cut.state,
        JobState::Running,
        "left as its dead runner held it"
    );
    assert!(cut.done < N as i64, "killed before the end: {}", cut.done);
    let requests_when_killed = sandbox.request_count() - before;

    // The second process takes it over once the lease has expired.
    let second = runner(&db.store, &nat.insi, "second", 400, 1000);
    let mut finished = None;
    for _ in 0..100 {
        if let Some(j) = second.run_one().await.unwrap() {
            finished = Some(j);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let done = finished.expect("the second runner took the job over");
    assert_eq!(done.id, job.id);
    assert_eq!(done.state, JobState::Done, "{:?}", done.last_error);
    assert_eq!(done.attempts, 2);
    let report: escale::jobs::reverification::Report = serde_json::from_str(&done.report).unwrap();
    assert_eq!(
        report.checked, N as i64,
        "each identity counted once: {report:?}"
    );
    assert_eq!(report.unchanged, N as i64, "{report:?}");

    // Every identity was asked about; only the step cut by the kill (if the
    // kill fell inside one) may have reached INSi twice.
    let requests = sandbox.request_count() - before;
    let calls = count_calls(&db.store, &t, &ids).await - calls_before;
    assert!(
        (N..=N + 1).contains(&(requests as usize)),
        "{requests} INSi requests for {N} identities ({requests_when_killed} before the kill)"
    );
    assert!(
        (N..=N + 1).contains(&(calls as usize)),
        "{calls} calls kept"
    );
    assert!(requests >= calls);
    let mut twice = 0;
    for (i, id) in ids.iter().enumerate() {
        // The first file also keeps the desk's search that recovered it.
        let by_job = db.store.insi_calls(&t, *id).await.unwrap().len() - usize::from(i == 0);
        assert!((1..=2).contains(&by_job), "file {id}: {by_job} calls kept");
        twice += usize::from(by_job == 2);
    }
    assert!(twice <= 1, "{twice} files asked twice");
    eprintln!(
        "re-verification killed after {} of {N}; {requests} INSi requests, {calls} kept",
        cut.done
    );
}

async fn count_calls(store: &DynStore, t: &Tenant, ids: &[Uuid]) -> usize {
    let mut n = 0;
    for id in ids {
        n += store.insi_calls(t, *id).await.unwrap().len();
    }
    n
}

/// Two runners on one database (each with its own pool, as two processes)
/// share the queue: every job is run, by one of them only, in one attempt.
async fn two_runners_never_take_the_same_job(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = f.directeur.tenant.clone();
    for i in 0..5 {
        db.store
            .create_usager(
                &t,
                &crate::common::synthetic::Generator::new(i).identity(),
                &[],
            )
            .await
            .unwrap();
    }
    const JOBS: usize = 24;
    let mut all = HashSet::new();
    for i in 0..JOBS {
        let (j, _) = db
            .store
            .enqueue_job(
                t.structure_id,
                &new_job(JobKind::DuplicateBatch, &format!("k{i}"), &t, "{}"),
                &[],
            )
            .await
            .unwrap();
        all.insert(j.id);
    }
    let insi = Arc::new(InsiService::disabled());
    let mut handles = Vec::new();
    for name in ["un", "deux"] {
        let store = escale::store::connect(&db.url).await.unwrap();
        let r = runner(&store, &insi, name, 5, 30_000);
        handles.push(tokio::spawn(async move {
            let mut ran = Vec::new();
            while let Some(j) = r.run_one().await.unwrap() {
                ran.push(j.id);
            }
            ran
        }));
    }
    let mut seen = HashSet::new();
    let mut per_runner = Vec::new();
    for h in handles {
        let ran = h.await.unwrap();
        per_runner.push(ran.len());
        for id in ran {
            assert!(seen.insert(id), "job {id} run twice");
        }
    }
    assert_eq!(seen, all, "every job run");
    for id in &all {
        let j = db.store.job_by_id(*id).await.unwrap().unwrap();
        assert_eq!((j.state, j.attempts), (JobState::Done, 1), "{j:?}");
    }
    eprintln!("jobs per runner: {per_runner:?}");
}

/// « After N months »: the structure's procedure enqueues, once a day, a
/// re-verification of the identities that are due, and it runs by itself.
async fn the_procedure_schedules_its_reverification(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = f.accueil.tenant.clone();
    let dir = tempfile::tempdir().unwrap();
    let nat = national(&db, &dir).await;
    let old = recovered_files(&db.store, &nat.insi, &t, 2, 400).await;
    let recent = recovered_files(&db.store, &nat.insi, &t, 1, 10).await;
    let now = Utc::now();
    let none = escale::jobs::schedule::enqueue_due_reverifications(&db.store, now)
        .await
        .unwrap();
    assert!(none.is_empty(), "no delay in the procedure yet");
    let mut policy = t.policy.clone();
    policy.reverify_after_months = Some(12);
    db.store
        .set_identity_policy(&f.directeur.tenant, &policy, &[])
        .await
        .unwrap();

    let enqueued = escale::jobs::schedule::enqueue_due_reverifications(&db.store, now)
        .await
        .unwrap();
    assert_eq!(enqueued.len(), 1, "one structure has a delay");
    let again = escale::jobs::schedule::enqueue_due_reverifications(&db.store, now)
        .await
        .unwrap();
    assert!(again.is_empty(), "once a day, whoever asks");

    let sandbox = nat.sandboxes.insi.as_ref().unwrap();
    let before = sandbox.request_count();
    let r = runner(&db.store, &nat.insi, "planifie", 50, 30_000);
    r.run_until_idle().await.unwrap();
    let job = wait_done(&db.store, enqueued[0]).await;
    assert_eq!(job.state, JobState::Done, "{:?}", job.last_error);
    assert_eq!(
        job.actor_id,
        Some(f.directeur.professional.id),
        "under the director's authority"
    );
    assert_eq!(job.started_by, escale::jobs::schedule::POLICY_ACTOR);
    let report: escale::jobs::reverification::Report = serde_json::from_str(&job.report).unwrap();
    assert_eq!((report.checked, report.skipped), (2, 1), "{report:?}");
    assert_eq!(
        sandbox.request_count() - before,
        2,
        "only the due ones reach INSi"
    );
    for id in old {
        let u = db.store.get_usager(&t, id).await.unwrap().unwrap();
        let at = u.vigilance.ins().unwrap().retrieved_at;
        assert!(
            Utc::now() - at < chrono::Duration::days(1),
            "re-verified today"
        );
    }
    let u = db.store.get_usager(&t, recent[0]).await.unwrap().unwrap();
    assert!(Utc::now() - u.vigilance.ins().unwrap().retrieved_at > chrono::Duration::days(9));
    // The journal keeps each INSi call of the job, and each write of its
    // outcome, under the director.
    let journal = |action: AuditAction| {
        let store = db.store.clone();
        let (t, director) = (t.clone(), f.directeur.professional.id);
        async move {
            store
                .audit_entries(
                    &t,
                    &escale::store::AuditFilter {
                        limit: 50,
                        actor_id: Some(director),
                        action: Some(action.code().to_string()),
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
        }
    };
    let calls = journal(AuditAction::InsiQueried).await;
    assert_eq!(calls.len(), 2, "{calls:?}");
    let outcomes = journal(AuditAction::IdentityConfirmed).await;
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
}

/// The referent raises a doubt while the re-verification waits for INSi
/// (a slow téléservice): the doubt stays — the job, whose decision was made
/// on the state read before, writes nothing and reports the file as changed
/// meanwhile.
async fn a_doubt_raised_during_a_reverification_stays(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = f.accueil.tenant.clone();
    let dir = tempfile::tempdir().unwrap();
    let nat = national(&db, &dir).await;
    let id = recovered_files(&db.store, &nat.insi, &t, 1, 30).await[0];
    let sandbox = nat.sandboxes.insi.as_ref().unwrap();
    sandbox.set_behaviour(escale::sandbox::Behaviour::Slow(Duration::from_millis(800)));
    let job = start_reverification(&db.store, &f.directeur.tenant, false).await;
    let before = sandbox.request_count();
    let r = runner(&db.store, &nat.insi, "lent", 400, 30_000);
    let running = tokio::spawn(async move { r.run_until_idle().await.unwrap() });
    for _ in 0..400 {
        if sandbox.request_count() > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        sandbox.request_count() > before,
        "the INSi call is in flight"
    );
    let u = db.store.get_usager(&t, id).await.unwrap().unwrap();
    assert_eq!(u.vigilance.status(), IdentityStatus::Recup);
    escale::services::identity::vigilance::set_doubt(db.store.as_ref(), &t, &u, true)
        .await
        .unwrap();
    let doubtful = db.store.get_usager(&t, id).await.unwrap().unwrap();
    running.await.unwrap();
    let done = wait_done(&db.store, job.id).await;
    assert_eq!(done.state, JobState::Done, "{:?}", done.last_error);
    let report: escale::jobs::reverification::Report = serde_json::from_str(&done.report).unwrap();
    assert_eq!((report.checked, report.left_alone), (1, 1), "{report:?}");
    assert_eq!(report.unchanged + report.ins_changed + report.downgraded, 0);
    let (file, line) = &report.changes[0];
    assert_eq!(*file, id);
    assert!(
        line.contains("modifiée pendant la revérification") && line.contains("rien n'a changé"),
        "{line}"
    );
    let now = db.store.get_usager(&t, id).await.unwrap().unwrap();
    assert!(now.vigilance.attributes().dout, "the doubt stays");
    assert_eq!(now.vigilance, doubtful.vigilance, "nothing written over it");
    assert_eq!(now.version, doubtful.version);
    sandbox.set_behaviour(escale::sandbox::Behaviour::Normal);
}

/// A handler that fails with `Retry` its first `fail` steps, then finishes.
struct Flaky {
    fail: i32,
    fatal: bool,
}

/// A handler whose step panics (a bug).
struct Panics;

#[async_trait::async_trait]
impl escale::jobs::JobHandler for Panics {
    async fn step(
        &self,
        _t: &Tenant,
        _job: &mut escale::jobs::Running,
    ) -> Result<escale::jobs::Step, escale::jobs::JobError> {
        panic!("bogue d'un type de travail");
    }
}

#[async_trait::async_trait]
impl escale::jobs::JobHandler for Flaky {
    async fn step(
        &self,
        _t: &Tenant,
        job: &mut escale::jobs::Running,
    ) -> Result<escale::jobs::Step, escale::jobs::JobError> {
        if self.fatal {
            return Err(escale::jobs::JobError::Fatal(
                "pièce jointe illisible".into(),
            ));
        }
        if job.job.attempts <= self.fail {
            return Err(escale::jobs::JobError::Retry("INSi indisponible".into()));
        }
        Ok(escale::jobs::Step::Done)
    }
}

/// Failed attempts come back after a growing wait; after the last one the
/// job fails with its reason in French; a fatal error fails it at once.
async fn retries_back_off_then_give_up_with_a_french_reason(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = f.directeur.tenant.clone();
    for (key, fail, fatal, state, attempts, error) in [
        ("deux-echecs", 2, false, JobState::Done, 3, None),
        (
            "toujours",
            i32::MAX,
            false,
            JobState::Failed,
            escale::store::jobs::MAX_ATTEMPTS,
            Some("abandonné après 5 tentatives : INSi indisponible"),
        ),
        (
            "fatal",
            0,
            true,
            JobState::Failed,
            1,
            Some("pièce jointe illisible"),
        ),
    ] {
        let (job, _) = db
            .store
            .enqueue_job(
                t.structure_id,
                &new_job(JobKind::DuplicateBatch, key, &t, "{}"),
                &[],
            )
            .await
            .unwrap();
        let mut handlers: std::collections::HashMap<JobKind, Arc<dyn escale::jobs::JobHandler>> =
            std::collections::HashMap::new();
        handlers.insert(JobKind::DuplicateBatch, Arc::new(Flaky { fail, fatal }));
        let r = Runner::new(
            db.store.clone(),
            handlers,
            RunnerConfig {
                worker: "essais".into(),
                lease: Duration::from_secs(5),
                poll: Duration::from_millis(10),
                slice: Duration::from_secs(600),
                backoff: Duration::from_millis(20),
                max_backoff: Duration::from_millis(80),
            },
        );
        let started = std::time::Instant::now();
        let end = loop {
            let j = db.store.job_by_id(job.id).await.unwrap().unwrap();
            if !j.state.is_open() {
                break j;
            }
            r.run_one().await.unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert!(started.elapsed() < Duration::from_secs(20), "{key}: {j:?}");
        };
        assert_eq!(
            (end.state, end.attempts),
            (state, attempts),
            "{key}: {end:?}"
        );
        assert_eq!(end.last_error.as_deref(), error, "{key}");
        if key == "toujours" {
            // Waits of 20, 40, 80 and 80 ms (capped) between the 5 attempts,
            // each jittered down to half at most: 110 ms at least.
            assert!(
                started.elapsed() >= Duration::from_millis(110),
                "{:?}",
                started.elapsed()
            );
        }
    }
}

/// A step that panics fails its job with a French reason; the runner goes
/// on with the next job.
async fn a_panicking_step_fails_its_job_not_the_runner(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = f.directeur.tenant.clone();
    let mut ids = Vec::new();
    for key in ["a", "b"] {
        let (j, _) = db
            .store
            .enqueue_job(
                t.structure_id,
                &new_job(JobKind::DuplicateBatch, key, &t, "{}"),
                &[],
            )
            .await
            .unwrap();
        ids.push(j.id);
    }
    let mut handlers: std::collections::HashMap<JobKind, Arc<dyn escale::jobs::JobHandler>> =
        std::collections::HashMap::new();
    handlers.insert(JobKind::DuplicateBatch, Arc::new(Panics));
    let r = Runner::new(db.store.clone(), handlers, RunnerConfig::default());
    assert_eq!(r.run_until_idle().await.unwrap(), 2, "both jobs were taken");
    for id in ids {
        let j = db.store.job_by_id(id).await.unwrap().unwrap();
        assert_eq!((j.state, j.attempts), (JobState::Failed, 1), "{j:?}");
        assert!(j.last_error.unwrap().contains("erreur interne"));
    }
}

/// INSi down: the re-verification does not run through every identity in
/// vain; it waits (backoff) and asks again about the same one.
async fn insi_down_retries_the_same_identity(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = f.accueil.tenant.clone();
    let dir = tempfile::tempdir().unwrap();
    let nat = national(&db, &dir).await;
    recovered_files(&db.store, &nat.insi, &t, 3, 1).await;
    let sandbox = nat.sandboxes.insi.as_ref().unwrap();
    sandbox.set_behaviour(escale::sandbox::Behaviour::Down);
    let job = start_reverification(&db.store, &f.directeur.tenant, false).await;
    let r = runner(&db.store, &nat.insi, "panne", 400, 30_000);
    r.run_one().await.unwrap();
    let waiting = db.store.job_by_id(job.id).await.unwrap().unwrap();
    assert_eq!(
        (waiting.state, waiting.done, waiting.attempts),
        (JobState::Queued, 0, 1),
        "{waiting:?}"
    );
    assert!(
        waiting
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("INSi ne répond pas"),
        "{waiting:?}"
    );
    assert!(waiting.run_after > Utc::now(), "after a backoff");
    assert_eq!(
        waiting.payload,
        serde_json::json!({"after": null, "only_due": false}).to_string()
    );
    sandbox.set_behaviour(escale::sandbox::Behaviour::Normal);
    tokio::time::sleep(Duration::from_millis(150)).await;
    r.run_until_idle().await.unwrap();
    let done = db.store.job_by_id(job.id).await.unwrap().unwrap();
    assert_eq!((done.state, done.attempts), (JobState::Done, 2), "{done:?}");
    let report: escale::jobs::reverification::Report = serde_json::from_str(&done.report).unwrap();
    assert_eq!((report.checked, report.failed), (3, 0), "{report:?}");
}

/// A job that had its time slice goes back behind the others, its progress
/// kept and no attempt counted: a long job does not hold up other structures'.
async fn a_long_job_takes_turns_with_the_others(db: TestDb) {
    let f = seed_two_structures(&db.store).await;
    let t = f.directeur.tenant.clone();
    for i in 0..120 {
        db.store
            .create_usager(
                &t,
                &crate::common::synthetic::Generator::new(i).identity(),
                &[],
            )
            .await
            .unwrap();
    }
    let mut jobs = Vec::new();
    for key in ["premier", "second"] {
        let (j, _) = db
            .store
            .enqueue_job(
                t.structure_id,
                &new_job(JobKind::DuplicateBatch, key, &t, "{}"),
                &[],
            )
            .await
            .unwrap();
        jobs.push(j.id);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let insi = Arc::new(InsiService::disabled());
    let r = Runner::new(
        db.store.clone(),
        escale::jobs::handlers(&db.store, &insi, &no_dmp(), &crate::dmp::no_mss(), 5),
        RunnerConfig {
            slice: Duration::ZERO,
            ..RunnerConfig::default()
        },
    );
    let first = r.run_one().await.unwrap().unwrap();
    assert_eq!(first.id, jobs[0]);
    assert_eq!(
        (first.state, first.attempts, first.done),
        (JobState::Queued, 0, 50),
        "{first:?}"
    );
    let second = r.run_one().await.unwrap().unwrap();
    assert_eq!(second.id, jobs[1], "the other job's turn");
    r.run_until_idle().await.unwrap();
    for id in jobs {
        let j = db.store.job_by_id(id).await.unwrap().unwrap();
        assert_eq!(
            (j.state, j.done, j.attempts),
            (JobState::Done, 120, 1),
            "{j:?}"
        );
    }
}

both_backends!(
    a_long_job_takes_turns_with_the_others,
    insi_down_retries_the_same_identity,
    a_panicking_step_fails_its_job_not_the_runner,
    retries_back_off_then_give_up_with_a_french_reason,
    job_store_contract,
    a_doubt_raised_during_a_reverification_stays,
    reverification_survives_the_death_of_its_process,
    two_runners_never_take_the_same_job,
    the_procedure_schedules_its_reverification,
);

/// No DMP on these runners (their jobs are others).
fn no_dmp() -> Arc<escale::services::dmp::DmpService> {
    Arc::new(escale::services::dmp::DmpService::disabled(
        &escale::config::Config::default(),
    ))
}
