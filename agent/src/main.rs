//! `escale-agent`: the reception card reader, wired to its command line.

use anyhow::{Context, bail};
use clap::Parser;
use escale_agent::token::SharedKey;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The key itself, when no file is given (never a command-line argument:
/// every account of the workstation sees those).
const KEY_VARIABLE: &str = "ESCALE_CARD_AGENT_KEY";

/// Agent du poste d'accueil : lit la carte Vitale (PC/SC) et la propose à la
/// page Escale sur la boucle locale. Seule la page Escale de l'origine
/// configurée, avec un jeton de session signé par la clé partagée, peut lire
/// la carte (5 lectures d'affilée, puis 5 par minute).
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
    /// Fichier de la clé partagée avec Escale (la valeur de sa clé card_agent_key, au moins
    /// 32 caractères ; fichier lisible par le seul compte de l'agent). À défaut, la variable
    /// ESCALE_CARD_AGENT_KEY donne la clé elle-même. Bac à sable : le fichier
    /// card-agent-key du répertoire de données d'Escale.
    #[arg(long, value_name = "FICHIER", env = "ESCALE_CARD_AGENT_KEY_FILE")]
    key_file: Option<PathBuf>,
}

fn shared_key(file: Option<&PathBuf>) -> anyhow::Result<SharedKey> {
    if let Some(path) = file {
        return SharedKey::from_file(path)
            .with_context(|| format!("fichier de clé « {} »", path.display()));
    }
    match std::env::var(KEY_VARIABLE) {
        Ok(text) => SharedKey::parse(&text).with_context(|| format!("variable {KEY_VARIABLE}")),
        Err(_) => bail!(
            "clé partagée avec Escale manquante : --key-file FICHIER ou la variable {KEY_VARIABLE} (la valeur de la clé card_agent_key d'Escale)"
        ),
    }
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
    let result = match shared_key(a.key_file.as_ref()) {
        Ok(key) => {
            let mut cfg = escale_agent::AgentConfig::new(a.origin, key);
            cfg.listen = a.listen;
            cfg.reader = a.reader;
            escale_agent::run(cfg).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("escale-agent : {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
