//! `escale audit verify`: the journal's hash chains.

use clap::Subcommand;
use std::process::ExitCode;

use crate::config::Config;
use crate::store::AuditChain;

use super::{find_structure, open};

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Vérifie le chaînage du journal et signale le premier maillon rompu.
    Verify {
        /// FINESS géographique d'une structure (par défaut : toutes les chaînes).
        #[arg(long)]
        structure: Option<String>,
    },
}

pub async fn audit(config: Config, cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    let store = open(&config).await?;
    let AuditCommand::Verify { structure } = cmd;
    let chains = match structure {
        Some(f) => vec![AuditChain::Structure(find_structure(&store, &f).await?.id)],
        None => store.audit_chains().await?,
    };
    let mut broken = false;
    for chain in chains {
        let v = crate::services::audit::verify_chain(store.as_ref(), chain).await?;
        let name = match chain {
            AuditChain::Instance => "instance".to_string(),
            AuditChain::Structure(id) => match store.get_structure(id).await? {
                Some(s) => format!("{} ({})", s.name, s.finess_geo),
                None => id.to_string(),
            },
        };
        match v.first_break {
            None => println!("OK      {name} : {} entrées vérifiées", v.checked),
            Some(b) => {
                broken = true;
                println!("ROMPU   {name} : {} entrées intègres, puis {b}", v.checked);
            }
        }
    }
    Ok(if broken {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
