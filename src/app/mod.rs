//! Builds and runs the application: store, migrations, demo data, HTTP server.

pub mod national;
pub mod telemetry;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

use crate::config::Config;
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
    pub psc: Arc<PscService>,
    pub directory: Arc<DirectoryService>,
    pub sandboxes: Arc<Sandboxes>,
}

/// Connects the store named by the configuration, applies migrations and, in
/// sandbox mode, loads the demo data.
pub async fn prepare(config: Config) -> anyhow::Result<App> {
    if config.database_url.is_none() {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "impossible de créer le répertoire de données {} : {e}",
                config.data_dir.display()
            )
        })?;
    }
    let url = config.database_url();
    let store = store::connect(&url).await.map_err(|e| {
        anyhow::anyhow!(
            "connexion à la base {} impossible : {e}",
            crate::config::redact_url(&url)
        )
    })?;
    store.migrate().await?;
    if config.is_sandbox() && config.demo_data && crate::sandbox::demo::seed(store.as_ref()).await?
    {
        tracing::info!("données de démonstration créées");
    }
    let national = national::start(&config).await?;
    Ok(App {
        config: Arc::new(config),
        store,
        insi: national.insi,
        psc: national.psc,
        directory: national.directory,
        sandboxes: national.sandboxes,
    })
}

/// Serves until `shutdown` resolves. Expired sessions are purged in the background.
pub async fn serve(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let purge_store = app.store.clone();
    let purge = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
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
    });
    let router = web::router(web::AppState {
        config: app.config.clone(),
        store: app.store.clone(),
        insi: app.insi.clone(),
        psc: app.psc.clone(),
        directory: app.directory.clone(),
    });
    let result = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await;
    purge.abort();
    result
}
