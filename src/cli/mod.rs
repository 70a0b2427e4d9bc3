//! The command-line actions behind `escale serve|migrate|admin|annuaire|audit|samples|dev`,
//! one file per command group.

mod admin;
mod annuaire;
mod audit;
mod dev;
mod samples;
mod samples_dmp;
mod samples_mss;
mod serve;

pub use admin::{AdminCommand, admin};
pub use annuaire::{AnnuaireCommand, annuaire};
pub use audit::{AuditCommand, audit};
pub use dev::{DevCommand, dev};
pub use samples::*;
pub use samples_dmp::*;
pub use samples_mss::*;
pub use serve::{migrate, serve};

use crate::config::Config;
use crate::domain::structure::Finess;
use crate::store::{self, DynStore};

pub(crate) const CLI_ACTOR: &str = "ligne de commande";

pub(crate) async fn open(config: &Config) -> anyhow::Result<DynStore> {
    config.prepare_data_dir().map_err(|e| {
        anyhow::anyhow!(
            "impossible de créer le répertoire de données {} : {e}",
            config.data_dir.display()
        )
    })?;
    let store = store::connect(&config.database_url()).await?;
    store.migrate().await?;
    Ok(store)
}

pub(crate) async fn find_structure(
    store: &DynStore,
    finess: &str,
) -> anyhow::Result<store::Structure> {
    let f = Finess::parse(finess)?;
    store
        .find_structure_by_finess(f.as_str())
        .await?
        .ok_or_else(|| anyhow::anyhow!("aucune structure avec le FINESS géographique {f}"))
}
