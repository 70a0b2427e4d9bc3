//! The `escale` command: wiring only; the application lives in the library.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

use escale::cli;
use escale::config::{Config, Overrides};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

#[tokio::main]
async fn main() -> std::process::ExitCode {
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
