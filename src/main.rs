//! The `escale` command: wiring only; the application lives in the library.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

use escale::cli;
use escale::config::{Config, Overrides};

#[derive(Parser)]
#[command(
    name = "escale",
    version,
    about = "Escale — dossier usager informatisé pour CSAPA, CAARUD et structures médico-sociales",
    long_about = "Escale — dossier usager informatisé (DUI) pour CSAPA, CAARUD, ACT, LHSS et LAM.\n\n\
Sans argument, `escale` démarre le serveur en mode bac à sable sur une base SQLite sous ./data.\n\
Configuration : fichier TOML (--config), variables ESCALE_* et DATABASE_URL ; voir README.md."
)]
struct Cli {
    /// Fichier de configuration TOML (facultatif).
    #[arg(long, global = true, env = "ESCALE_CONFIG", value_name = "FICHIER")]
    config: Option<PathBuf>,
    /// Répertoire des données (base SQLite par défaut) ; remplace ESCALE_DATA_DIR.
    #[arg(long, global = true, value_name = "RÉPERTOIRE")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Démarre le serveur web (commande par défaut).
    Serve(ServeArgs),
    /// Applique les migrations de la base de données puis s'arrête.
    Migrate,
    /// Administration de l'instance : structures, professionnels, rôles.
    #[command(subcommand)]
    Admin(cli::AdminCommand),
    /// Copie locale de l'Annuaire Santé (fichiers en libre accès) : import, état.
    #[command(subcommand)]
    Annuaire(cli::AnnuaireCommand),
    /// Journal d'audit.
    #[command(subcommand)]
    Audit(cli::AuditCommand),
    /// Outils de développement et de mesure (bac à sable seulement).
    #[command(subcommand)]
    Dev(cli::DevCommand),
    /// Écrit un exemple de chaque artefact émis par Escale (données du bac à sable).
    Samples {
        /// Répertoire où écrire les fichiers (créé au besoin).
        #[arg(long, value_name = "RÉPERTOIRE")]
        out: PathBuf,
    },
}

#[derive(Args, Default)]
struct ServeArgs {
    /// Adresse d'écoute HOST:PORT ; remplace ESCALE_LISTEN.
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<SocketAddr>,
}

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime")
        .block_on(run())
}

/// glibc gives the top of a heap back to the kernel as soon as 128 KiB are
/// free there, and SQLite frees a connection's whole page cache each time
/// another connection has written (WAL): with one journal write per file
/// view, every read then faulted its pages in again — 2.3 times the CPU per
/// view (BENCHMARKS.md section 1, 2026-12-05). A threshold of 64 MiB keeps
/// that memory in the process between statements.
fn keep_freed_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets an allocator parameter; it is called here,
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

async fn run() -> std::process::ExitCode {
    escale::install_crypto_provider();
    let cli = Cli::parse();
    let listen = match &cli.command {
        Some(Command::Serve(a)) => a.listen,
        _ => None,
    };
    let overrides = Overrides {
        listen,
        data_dir: cli.data_dir.clone(),
    };
    let config = match Config::load(cli.config.as_deref(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("escale : {e}");
            return std::process::ExitCode::from(2);
        }
    };
    escale::app::telemetry::init(&config.log);
    for var in Config::unknown_env_vars() {
        tracing::warn!(variable = %var, "variable d'environnement ESCALE_* inconnue, ignorée");
    }
    let result = match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(_) => cli::serve(config).await,
        Command::Migrate => cli::migrate(config).await,
        Command::Admin(cmd) => cli::admin(config, cmd).await,
        Command::Annuaire(cmd) => cli::annuaire(config, cmd).await,
        Command::Audit(cmd) => cli::audit(config, cmd).await,
        Command::Samples { out } => cli::samples(&out),
        Command::Dev(cmd) => cli::dev(config, cmd).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("escale : {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
