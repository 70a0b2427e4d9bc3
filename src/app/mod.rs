//! Builds and runs the application: store, migrations, demo data, HTTP server.

pub mod card_agent;
pub mod national;
pub mod telemetry;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::jobs::{Runner, RunnerConfig};
use crate::services::admin_secrets::AdminSecrets;
use crate::services::annuaire::DirectoryService;
use crate::services::insi::InsiService;
use crate::services::psc::PscService;
use crate::store::{self, DynStore};
use crate::web;
pub use national::Sandboxes;

pub struct App {
    pub config: Arc<Config>,
    pub store: DynStore,
    pub insi: Arc<InsiService>,
    pub dmp: Arc<crate::services::dmp::DmpService>,
    pub mss: Arc<crate::services::mss::MssService>,
    pub psc: Arc<PscService>,
    pub directory: Arc<DirectoryService>,
    pub sandboxes: Arc<Sandboxes>,
    /// This process's job runner (started by [`serve`]).
    pub jobs: Runner,
    /// Signs the card agent's session tokens ([`card_agent::load`]).
    pub card_agent: Option<Arc<escale_agent::token::SharedKey>>,
    /// Seals the administrators' TOTP secrets in the database.
    pub admin_secrets: Arc<AdminSecrets>,
}

/// The job runner over this store and these services, with every job kind.
pub fn jobs_runner(
    config: &Config,
    store: &DynStore,
    insi: &Arc<InsiService>,
    dmp: &Arc<crate::services::dmp::DmpService>,
    mss: &Arc<crate::services::mss::MssService>,
) -> Runner {
    Runner::new(
        store.clone(),
        crate::jobs::handlers(
            store,
            insi,
            dmp,
            mss,
            crate::jobs::reverification::DEFAULT_RATE_PER_SECOND,
        ),
        RunnerConfig {
            lease: Duration::from_secs(config.jobs_lease_seconds.max(1)),
            ..RunnerConfig::default()
        },
    )
}

/// Connects the store named by the configuration, applies migrations and, in
/// sandbox mode, loads the demo data.
pub async fn prepare(config: Config) -> anyhow::Result<App> {
    config.prepare_data_dir().map_err(|e| {
        anyhow::anyhow!(
            "impossible de créer le répertoire de données {} : {e}",
            config.data_dir.display()
        )
    })?;
    let url = config.database_url();
    let search_memory = store::SearchMemorySettings {
        budget_bytes: config.search_memory_mb.saturating_mul(1 << 20),
        ..Default::default()
    };
    let store = store::connect_with(&url, config.documents_dir.clone(), search_memory)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "connexion à la base {} impossible : {e}",
                crate::config::redact_url(&url)
            )
        })?;
    store.migrate().await?;
    if !config.is_sandbox() {
        refuse_sandbox_data(store.as_ref(), &url).await?;
    }
    if config.is_sandbox() && config.demo_data && crate::sandbox::demo::seed(store.as_ref()).await?
    {
        tracing::info!("données de démonstration créées");
    }
    let admin_secrets = Arc::new(AdminSecrets::load(&config)?);
    let sealed =
        crate::services::administration::seal_clear_secrets(store.as_ref(), &admin_secrets).await?;
    if sealed > 0 {
        tracing::info!(
            secrets = sealed,
            "secrets TOTP des administrateurs chiffrés en base"
        );
    }
    let national = national::start(&config).await?;
    let jobs = jobs_runner(
        &config,
        &store,
        &national.insi,
        &national.dmp,
        &national.mss,
    );
    Ok(App {
        admin_secrets,
        card_agent: card_agent::load(&config),
        config: Arc::new(config),
        jobs,
        store,
        insi: national.insi,
        dmp: national.dmp,
        mss: national.mss,
        psc: national.psc,
        directory: national.directory,
        sandboxes: national.sandboxes,
    })
}

/// Production never starts on a database the sandbox's demo data went into:
/// its administrator's password and TOTP secret are in the source. The
/// journal being append-only, that data cannot be taken out again: the
/// message names how to start from a new database.
async fn refuse_sandbox_data(store: &dyn crate::store::Store, url: &str) -> anyhow::Result<()> {
    let left = store.sandbox_rows().await?;
    if left.is_empty() {
        return Ok(());
    }
    let what = if left.structures.is_empty() {
        String::new()
    } else {
        format!("structures « {} », ", left.structures.join(" », « "))
    };
    let how = match url.strip_prefix("sqlite://") {
        Some(rest) => {
            let path = rest.split('?').next().unwrap_or(rest);
            format!(
                "sauvegardez ce fichier si besoin, puis supprimez-le : rm {path} {path}-wal {path}-shm — la prochaine ouverture crée une base neuve"
            )
        }
        None => {
            let name = url
                .rsplit('/')
                .next()
                .unwrap_or("")
                .split('?')
                .next()
                .unwrap_or("");
            format!(
                "partez d'une base neuve : dropdb {name} && createdb {name} (ou DATABASE_URL vers une base vide)"
            )
        }
    };
    anyhow::bail!(
        "cette base contient les données de démonstration du bac à sable ({what}{} professionnels, dont l'administrateur {} au mot de passe public) : le mode production refuse de démarrer dessus. Le journal étant inaltérable, elles ne peuvent pas en être retirées : {how}",
        left.professionals,
        crate::services::administration::SANDBOX_LOGIN,
    )
}

/// How often the structures' procedures are looked at for work to enqueue.
const SCHEDULE_EVERY: Duration = Duration::from_secs(3600);

/// Serves until `shutdown` resolves. In the background: the job runner, the
/// jobs the structures' procedures ask for, and the purge of expired sessions.
pub async fn serve(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let break_glass = Arc::new(crate::services::administration::BreakGlassGuard::new(
        crate::domain::login_guard::GuardRules {
            summary_every: chrono::Duration::seconds(app.config.admin_login_summary_seconds as i64),
            ..Default::default()
        },
        app.admin_secrets.clone(),
    ));
    let purge_store = app.store.clone();
    let purge_guard = break_glass.clone();
    let purge = tokio::spawn(async move {
        let mut purge_tick = tokio::time::interval(Duration::from_secs(600));
        // Refused break-glass logins are summarised even when no new attempt comes.
        let mut summary_tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = summary_tick.tick() => {
                    let now = chrono::Utc::now();
                    if let Err(e) = purge_guard.journal_summary(purge_store.as_ref(), now).await {
                        tracing::warn!(error = %e, "résumé des connexions de secours refusées impossible");
                    }
                }
                _ = purge_tick.tick() => {
                    let now = chrono::Utc::now();
                    if let Err(e) = purge_store.purge_expired_sessions(now).await {
                        tracing::warn!(error = %e, "purge des sessions expirées impossible");
                    }
                    // A login must come back from PSC within minutes; older ones are dead.
                    if let Err(e) = purge_store
                        .purge_pending_logins(now - chrono::Duration::hours(1))
                        .await
                    {
                        tracing::warn!(error = %e, "purge des connexions PSC inachevées impossible");
                    }
                }
            }
        }
    });
    let runner = tokio::spawn(app.jobs.clone().serve(std::future::pending()));
    // Each structure's MSSanté mailbox is read every `mss_poll_seconds`.
    let mss_reading = app.mss.domain().is_some().then(|| {
        let (store, jobs) = (app.store.clone(), app.jobs.clone());
        let every = app.config.mss.poll_seconds.max(5);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(every));
            loop {
                tick.tick().await;
                let slot = chrono::Utc::now().timestamp() / every as i64;
                match crate::services::mss::enqueue_readings(&store, slot).await {
                    Ok(n) if n > 0 => jobs.wake(),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "relève MSSanté : planification impossible")
                    }
                }
            }
        })
    });
    let schedule_store = app.store.clone();
    let schedule_jobs = app.jobs.clone();
    let schedule = tokio::spawn(async move {
        let mut tick = tokio::time::interval(SCHEDULE_EVERY);
        loop {
            tick.tick().await;
            match crate::jobs::schedule::enqueue_due_reverifications(
                &schedule_store,
                chrono::Utc::now(),
            )
            .await
            {
                Ok(new) if !new.is_empty() => {
                    tracing::info!(travaux = new.len(), "revérifications planifiées");
                    schedule_jobs.wake();
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "planification des revérifications impossible")
                }
            }
        }
    });
    let router = web::router(web::AppState {
        card_agent: app.card_agent.clone(),
        config: app.config.clone(),
        store: app.store.clone(),
        insi: app.insi.clone(),
        dmp: app.dmp.clone(),
        mss: app.mss.clone(),
        psc: app.psc.clone(),
        directory: app.directory.clone(),
        jobs: app.jobs.clone(),
        team: Default::default(),
        break_glass,
    });
    let result = web::server::serve(listener, router, &app.config.http, shutdown).await;
    purge.abort();
    schedule.abort();
    if let Some(t) = &mss_reading {
        t.abort();
    }
    // A step cut here is done again from its last checkpoint when the lease
    // expires (this process restarted, or another one).
    runner.abort();
    result
}
