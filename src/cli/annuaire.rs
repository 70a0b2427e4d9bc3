//! `escale annuaire import|status`: the local copy of the Annuaire Santé.

use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::Config;

use super::open;

#[derive(Subcommand)]
pub enum AnnuaireCommand {
    /// Importe des fichiers en libre accès de l'Annuaire Santé dans la copie
    /// locale : PS_LibreAcces_Personne_activite_*.txt (professionnels et
    /// activités) et Extraction_Correspondance_MSSante_*.txt (BAL MSSanté),
    /// décompressés. Le type de fichier est reconnu à son en-tête.
    Import {
        /// Fichiers à importer, dans l'ordre donné.
        #[arg(required = true, value_name = "FICHIER")]
        files: Vec<PathBuf>,
    },
    /// Affiche le contenu de la copie locale et la date du dernier import.
    Status,
}

pub async fn annuaire(config: Config, cmd: AnnuaireCommand) -> anyhow::Result<ExitCode> {
    use crate::services::annuaire_import::{BAD_LINES_KEPT, import_file, plural, thousands};
    let store = open(&config).await?;
    match cmd {
        AnnuaireCommand::Import { files } => {
            let mut failed = false;
            for path in files {
                let mut bar = ProgressBar::new(&path);
                let result = import_file(store.as_ref(), &path, &mut |p| bar.draw(p)).await;
                bar.clear();
                match result {
                    Ok(summary) => {
                        println!("{}", summary.french());
                        // The summary line lists the first five; the rest kept are detailed here.
                        if summary.bad_line_samples.len() > 5 {
                            for b in &summary.bad_line_samples {
                                println!("  ligne {} : {}", b.line, b.reason);
                            }
                            if summary.bad_lines > BAD_LINES_KEPT as u64 {
                                println!(
                                    "  … et {} autres lignes ignorées",
                                    thousands(summary.bad_lines - BAD_LINES_KEPT as u64)
                                );
                            }
                        }
                    }
                    Err(e) => {
                        eprintln!("escale : {e}");
                        failed = true;
                    }
                }
            }
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        AnnuaireCommand::Status => {
            let c = store.directory_counts().await?;
            let n = |v: i64, one: &str, many: &str| {
                let v = v.max(0) as u64;
                format!("{} {}", thousands(v), plural(v, one, many))
            };
            if !c.is_present() {
                println!(
                    "Annuaire local : vide. Importez les fichiers en libre accès avec « escale annuaire import FICHIER… »."
                );
            } else {
                println!(
                    "Annuaire local : {}, {}, {}.",
                    n(c.persons, "professionnel", "professionnels"),
                    n(c.situations, "activité", "activités"),
                    n(c.mailboxes, "BAL MSSanté", "BAL MSSanté")
                );
            }
            for i in &c.last_imports {
                let at = i.finished_at.unwrap_or(i.started_at);
                println!(
                    "Dernier import, {} : {} le {} ({}, {}, {}).",
                    i.kind.label(),
                    i.file_name,
                    at.with_timezone(&chrono::Local).format("%d/%m/%Y à %H:%M"),
                    n(i.rows_read, "ligne lue", "lignes lues"),
                    n(i.bad_lines, "ignorée", "ignorées"),
                    n(i.removed, "absent supprimé", "absents supprimés")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A progress bar on stderr, redrawn in place at most five times a second,
/// only when stderr is a terminal (not in logs or pipes).
struct ProgressBar {
    name: String,
    enabled: bool,
    drawn_at: Option<std::time::Instant>,
}

impl ProgressBar {
    const WIDTH: usize = 30;

    fn new(path: &Path) -> ProgressBar {
        use std::io::IsTerminal;
        ProgressBar {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            enabled: std::io::stderr().is_terminal(),
            drawn_at: None,
        }
    }

    fn draw(&mut self, p: crate::services::annuaire_import::Progress) {
        if !self.enabled
            || self
                .drawn_at
                .is_some_and(|t| t.elapsed() < std::time::Duration::from_millis(200))
        {
            return;
        }
        self.drawn_at = Some(std::time::Instant::now());
        let fraction = match p.total_bytes {
            Some(total) if total > 0 => (p.bytes as f64 / total as f64).min(1.0),
            _ => 0.0,
        };
        let full = (fraction * Self::WIDTH as f64) as usize;
        eprint!(
            "\r{} [{}{}] {:>3} % — {} lignes",
            self.name,
            "#".repeat(full),
            " ".repeat(Self::WIDTH - full),
            (fraction * 100.0) as u32,
            crate::services::annuaire_import::thousands(p.lines)
        );
    }

    fn clear(&self) {
        if self.drawn_at.is_some() {
            eprint!("\r\x1b[2K");
        }
    }
}
