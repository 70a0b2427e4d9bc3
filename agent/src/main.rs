//! `escale-agent`: the reception card reader, wired to its command line.

use clap::Parser;
use std::net::SocketAddr;

/// Agent du poste d'accueil : lit la carte Vitale (PC/SC) et la propose à la
/// page Escale sur la boucle locale.
#[derive(Parser)]
#[command(name = "escale-agent", version)]
struct Args {
    /// Adresse d'écoute (boucle locale uniquement).
    #[arg(long, default_value = "127.0.0.1:8765", value_name = "HOST:PORT")]
    listen: SocketAddr,
    /// Origine exacte du site Escale autorisé (https://escale.example).
    #[arg(long, value_name = "ORIGINE")]
    origin: String,
    /// Nom exact du lecteur PC/SC (par défaut : le premier qui contient une carte Vitale).
    #[arg(long, value_name = "LECTEUR")]
    reader: Option<String>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ESCALE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let a = Args::parse();
    let cfg = escale_agent::AgentConfig {
        listen: a.listen,
        origin: a.origin,
        reader: a.reader,
    };
    match escale_agent::run(cfg).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("escale-agent : {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
