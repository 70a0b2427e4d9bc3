//! The key Escale shares with the reception card agent (issue 11, finding 8):
//! it signs the session token each page hands to the agent
//! (`escale_agent::token`). Configured (`card_agent_key`), or, in sandbox mode
//! only, generated once in the data directory so that `cargo run` and a local
//! `escale-agent --key-file <data_dir>/card-agent-key` read a card end to end.
//! Without a key, pages offer no card reading.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use escale_agent::token::{KeyError, SharedKey};

use crate::config::Config;

/// The sandbox's key, under the data directory.
pub const SANDBOX_KEY_FILE: &str = "card-agent-key";

#[derive(Debug, thiserror::Error)]
pub enum CardAgentKeyError {
    #[error("clé de l'agent carte Vitale « {} » : {source}", path.display())]
    Sandbox { path: PathBuf, source: KeyError },
    #[error("clé de l'agent carte Vitale « {} » impossible à écrire : {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("clé `card_agent_key` (ESCALE_CARD_AGENT_KEY) : {0}")]
    Configured(KeyError),
}

/// The configured key; else, in sandbox mode, the one kept in the data
/// directory (made on first use, `0600`); else none.
pub fn shared_key(config: &Config) -> Result<Option<SharedKey>, CardAgentKeyError> {
    if let Some(text) = &config.card_agent_key {
        return SharedKey::parse(text)
            .map(Some)
            .map_err(CardAgentKeyError::Configured);
    }
    if !config.is_sandbox() {
        return Ok(None);
    }
    let path = config.data_dir.join(SANDBOX_KEY_FILE);
    if !path.exists() {
        write_new_key(&config.data_dir, &path)?;
    }
    SharedKey::from_file(&path)
        .map(Some)
        .map_err(|source| CardAgentKeyError::Sandbox { path, source })
}

fn write_new_key(dir: &Path, path: &Path) -> Result<(), CardAgentKeyError> {
    let write = |source| CardAgentKeyError::Write {
        path: path.to_path_buf(),
        source,
    };
    crate::config::data_dir::create(dir).map_err(write)?;
    crate::config::data_dir::write_private(path, crate::web::random_token().as_bytes())
        .map_err(write)
}

/// The key for the app ([`shared_key`]), saying in the log where it is or
/// that card reading is off (never the key itself).
pub fn load(config: &Config) -> Option<Arc<SharedKey>> {
    let key = shared_key(config);
    announce(config, &key);
    key.ok().flatten().map(Arc::new)
}

fn announce(config: &Config, key: &Result<Option<SharedKey>, CardAgentKeyError>) {
    match key {
        Ok(Some(_)) if config.card_agent_key.is_none() => tracing::info!(
            "agent carte Vitale (bac à sable) : escale-agent --origin {} --key-file {}",
            config.base_url(),
            config.data_dir.join(SANDBOX_KEY_FILE).display()
        ),
        Ok(Some(_)) => {}
        Ok(None) => tracing::info!(
            "card_agent_key absente : les pages ne proposent pas la lecture de la carte Vitale"
        ),
        Err(e) => tracing::warn!(
            erreur = %e,
            "lecture de la carte Vitale désactivée"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mode;

    fn config(dir: &Path, mode: Mode) -> Config {
        Config {
            data_dir: dir.to_path_buf(),
            mode,
            ..Config::default()
        }
    }

    #[test]
    fn the_sandbox_makes_its_key_once_production_needs_one() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = config(dir.path(), Mode::Sandbox);
        let key = shared_key(&sandbox).unwrap().unwrap();
        let token = key.issue(b"s", i64::MAX);
        let again = shared_key(&sandbox).unwrap().unwrap();
        assert!(
            again.verify(&token, 0).is_ok(),
            "the same key at each start"
        );

        let production = config(dir.path(), Mode::Production);
        assert!(shared_key(&production).unwrap().is_none());
        let configured = Config {
            card_agent_key: Some("cle-configuree-pour-la-production-0123".into()),
            ..production
        };
        let key = shared_key(&configured).unwrap().unwrap();
        assert!(key.verify(&token, 0).is_err(), "not the sandbox's");
    }
}
