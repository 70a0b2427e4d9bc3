//! `escale serve` and `escale migrate`.

use std::process::ExitCode;

use crate::config::Config;

use super::open;

pub async fn serve(mut config: Config) -> anyhow::Result<ExitCode> {
    let listen = config.listen;
    let sandbox = config.is_sandbox();
    // Bound first: with port 0 the address actually served is what the PSC
    // return address (derived from it without a public URL) must name.
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("impossible d'écouter sur {listen} : {e}"))?;
    let addr = listener.local_addr()?;
    config.listen = addr;
    let app = crate::app::prepare(config).await?;
    let mode = if sandbox { " (bac à sable)" } else { "" };
    println!(
        "Escale{mode} : http://{addr}/ — base {}",
        app.store.backend().name()
    );
    crate::app::serve(app, listener, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

pub async fn migrate(config: Config) -> anyhow::Result<ExitCode> {
    let store = open(&config).await?;
    println!("Migrations appliquées (base {}).", store.backend().name());
    Ok(ExitCode::SUCCESS)
}
