//! Looking professionals and structures up: the local copy of the Annuaire
//! (open-data import) when present — fast, and still there when the API is
//! down — then the Annuaire Santé API; in sandbox mode, the local Annuaire sandbox.

use std::time::Duration;

use crate::config::Config;
use crate::connectors::annuaire::{
    AnnuaireClient, AnnuaireConfig, AnnuaireError, OrganizationQuery,
};
use crate::domain::directory::{DirectoryOrganization, DirectoryPerson, DirectoryQuery};

/// Most people shown from the local copy for one search.
const LOCAL_LIMIT: i64 = 50;

/// Where a result came from (shown to the user).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    LocalCopy,
    Api,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::LocalCopy => "copie locale de l'Annuaire Santé",
            Source::Api => "Annuaire Santé (API)",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Found<T> {
    pub items: Vec<T>,
    pub source: Source,
    /// Said to the user when the API failed and the local copy answered, or
    /// when the search stopped before the end.
    pub notice: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error(
        "Aucun annuaire n'est disponible sur cette instance (ni copie locale importée, ni clé de l'API) : contactez l'administrateur de l'instance."
    )]
    NotConfigured,
    #[error("{0}")]
    Api(#[from] AnnuaireError),
    #[error("copie locale de l'annuaire : {0}")]
    Store(#[from] crate::store::StoreError),
}

pub struct DirectoryService {
    api: Option<AnnuaireClient>,
}

impl DirectoryService {
    pub fn disabled() -> DirectoryService {
        DirectoryService { api: None }
    }

    /// The local copy, then `api` when there is one.
    pub fn new(api: Option<AnnuaireClient>) -> DirectoryService {
        DirectoryService { api }
    }

    /// The API of the configuration's `ESCALE_ANNUAIRE_*` keys; `None` when
    /// they are not set.
    pub fn client_from_config(config: &Config) -> anyhow::Result<Option<AnnuaireClient>> {
        match (&config.annuaire.url, &config.annuaire.api_key) {
            (Some(url), Some(key)) => Ok(Some(Self::client(config, url, key)?)),
            _ => Ok(None),
        }
    }

    /// The API at `base_url` with this key (the cache as configured).
    pub fn client(
        config: &Config,
        base_url: &str,
        api_key: &str,
    ) -> anyhow::Result<AnnuaireClient> {
        Ok(AnnuaireClient::new(AnnuaireConfig {
            base_url: base_url.to_string(),
            api_key: api_key.to_string(),
            cache_ttl: Duration::from_secs(u64::from(config.annuaire.cache_minutes) * 60),
            ..AnnuaireConfig::default()
        })?)
    }

    pub fn api(&self) -> Option<&AnnuaireClient> {
        self.api.as_ref()
    }

    /// Professionals matching a name or an identifier: the local copy first
    /// (fast, and there when the API is down), the API when the copy has no
    /// answer or was never imported.
    pub async fn people(
        &self,
        store: &dyn crate::store::Store,
        q: &DirectoryQuery,
    ) -> Result<Found<DirectoryPerson>, DirectoryError> {
        let local = self.local_people(store, q).await?;
        if local.as_ref().is_some_and(|f| !f.items.is_empty()) {
            return local.ok_or(DirectoryError::NotConfigured);
        }
        let Some(api) = &self.api else {
            return local.ok_or(DirectoryError::NotConfigured);
        };
        match api.find_practitioners(q).await {
            Ok(r) => Ok(Found {
                notice: r.truncated.then(|| {
                    "Beaucoup de résultats : seuls les premiers sont affichés, précisez la recherche (prénom, numéro RPPS).".to_string()
                }),
                items: r.items,
                source: Source::Api,
            }),
            // The copy answered (nothing): say so along with the API's trouble.
            Err(e) if local.is_some() => Ok(Found {
                items: Vec::new(),
                source: Source::LocalCopy,
                notice: Some(format!(
                    "Personne dans la copie locale de l'annuaire, et l'API n'a pas pu être consultée : {e}"
                )),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// The professional with exactly this idNat_PS, if the Annuaire has them.
    pub async fn person(
        &self,
        store: &dyn crate::store::Store,
        id_nat: &str,
    ) -> Result<Option<DirectoryPerson>, DirectoryError> {
        let found = self
            .people(store, &DirectoryQuery::Identifier(id_nat.to_string()))
            .await?;
        Ok(found.items.into_iter().find(|p| p.id_nat_ps == id_nat))
    }

    /// Structures matching a name or a FINESS number.
    pub async fn organizations(
        &self,
        q: &OrganizationQuery,
    ) -> Result<Found<DirectoryOrganization>, DirectoryError> {
        let api = self.api.as_ref().ok_or(DirectoryError::NotConfigured)?;
        let r = api.find_organizations(q).await?;
        Ok(Found {
            notice: r
                .truncated
                .then(|| "Beaucoup de résultats : précisez la recherche.".to_string()),
            items: r.items,
            source: Source::Api,
        })
    }

    /// The local copy's answer, `None` when no copy was imported.
    async fn local_people(
        &self,
        store: &dyn crate::store::Store,
        q: &DirectoryQuery,
    ) -> Result<Option<Found<DirectoryPerson>>, DirectoryError> {
        if !store.directory_copy_present().await? {
            return Ok(None);
        }
        let mut items = store.search_directory(q, LOCAL_LIMIT + 1).await?;
        let truncated = items.len() as i64 > LOCAL_LIMIT;
        items.truncate(LOCAL_LIMIT as usize);
        Ok(Some(Found {
            items,
            source: Source::LocalCopy,
            notice: truncated.then(|| {
                "Beaucoup de résultats : seuls les premiers sont affichés, précisez la recherche (prénom, numéro RPPS).".to_string()
            }),
        }))
    }
}
