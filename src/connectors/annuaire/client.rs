//! HTTP client of the Annuaire Santé API: `ESANTE-API-KEY` and
//! `Accept: application/fhir+json` on every call, the application's rate
//! limit, a total timeout per call, retries with backoff on 5xx and on 429
//! (`Retry-After` honoured up to a bound), `next` links followed verbatim up
//! to a page cap, and a cache of whole searches.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, HeaderValue, RETRY_AFTER, USER_AGENT};
use serde_json::Value;

use super::cache::{Collected, SearchCache};
use super::error::{AnnuaireError, sanitize_diagnostics};
use super::fhir::{self, Index};
use super::query::{self, OrganizationQuery};
use super::rate_limit::RateLimiter;
use super::{API_KEY_HEADER, FHIR_JSON, PRODUCTION_BASE_URL};
use crate::domain::directory::{DirectoryOrganization, DirectoryPerson, DirectoryQuery};

/// Settings of the connector. `Debug` never shows the key.
#[derive(Clone)]
pub struct AnnuaireConfig {
    /// FHIR base, e.g. [`PRODUCTION_BASE_URL`].
    pub base_url: String,
    /// The application's `ESANTE-API-KEY`.
    pub api_key: String,
    /// Total time allowed for one HTTP call.
    pub timeout: Duration,
    /// How long a search result is reused (zero: no cache).
    pub cache_ttl: Duration,
    /// Most searches kept in the cache.
    pub cache_capacity: usize,
    /// Most pages read for one search (the rest is reported as truncated).
    pub max_pages: u32,
    /// Results asked per page (`_count`; the API's default is 50).
    pub page_size: u32,
    /// Calls per second allowed to the application (17 at the ANS gateway).
    pub rate_per_second: u32,
    /// Retries after a 429 or 5xx answer.
    pub max_retries: u32,
    /// First backoff delay, doubled at each retry (capped at 8 s).
    pub retry_backoff: Duration,
    /// Longest `Retry-After` waited for; a longer one ends the call.
    pub max_retry_after: Duration,
}

impl Default for AnnuaireConfig {
    fn default() -> Self {
        AnnuaireConfig {
            base_url: PRODUCTION_BASE_URL.to_owned(),
            api_key: String::new(),
            timeout: Duration::from_secs(10),
            cache_ttl: Duration::from_secs(600),
            cache_capacity: 256,
            max_pages: 10,
            page_size: 50,
            rate_per_second: 17,
            max_retries: 3,
            retry_backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(10),
        }
    }
}

impl std::fmt::Debug for AnnuaireConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnnuaireConfig")
            .field("base_url", &self.base_url)
            .field(
                "api_key",
                &if self.api_key.is_empty() {
                    "(aucune)"
                } else {
                    "***"
                },
            )
            .field("timeout", &self.timeout)
            .field("cache_ttl", &self.cache_ttl)
            .field("cache_capacity", &self.cache_capacity)
            .field("max_pages", &self.max_pages)
            .field("page_size", &self.page_size)
            .field("rate_per_second", &self.rate_per_second)
            .field("max_retries", &self.max_retries)
            .field("retry_backoff", &self.retry_backoff)
            .field("max_retry_after", &self.max_retry_after)
            .finish()
    }
}

/// Results of a search, and whether the page cap cut it short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchResults<T> {
    pub items: Vec<T>,
    /// More results exist than were read: the search should be narrowed.
    pub truncated: bool,
}

impl<T> SearchResults<T> {
    fn empty() -> Self {
        SearchResults {
            items: Vec::new(),
            truncated: false,
        }
    }
}

/// Cheap to clone; clones share the cache and the rate limit.
#[derive(Debug, Clone)]
pub struct AnnuaireClient {
    http: reqwest::Client,
    base_url: String,
    origin: reqwest::Url,
    api_key: Option<HeaderValue>,
    /// Kept only to mask it in server texts.
    key_text: Arc<str>,
    max_pages: u32,
    page_size: u32,
    max_retries: u32,
    retry_backoff: Duration,
    max_retry_after: Duration,
    limiter: RateLimiter,
    cache: SearchCache,
}

impl AnnuaireClient {
    pub fn new(config: AnnuaireConfig) -> Result<Self, AnnuaireError> {
        crate::install_crypto_provider();
        let base_url = config.base_url.trim().trim_end_matches('/').to_owned();
        let origin = reqwest::Url::parse(&base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http") && u.has_host())
            .ok_or_else(|| AnnuaireError::Config {
                detail: format!(
                    "adresse de l'API « {base_url} » invalide (attendu par exemple {PRODUCTION_BASE_URL})"
                ),
            })?;
        let key = config.api_key.trim();
        let api_key = if key.is_empty() {
            None
        } else {
            let mut v = HeaderValue::from_str(key).map_err(|_| AnnuaireError::Config {
                detail: "la clé d'API contient des caractères non admis dans un en-tête HTTP \
                         (copiez-la de nouveau depuis le portail)"
                    .to_owned(),
            })?;
            v.set_sensitive(true);
            Some(v)
        };
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            // Retries are ours (counted against the rate limit, typed errors).
            .retry(reqwest::retry::never())
            // A redirect could carry the key elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| AnnuaireError::Config {
                detail: format!("client HTTPS impossible à construire ({e})"),
            })?;
        Ok(AnnuaireClient {
            http,
            limiter: RateLimiter::shared(&base_url, key, config.rate_per_second),
            base_url,
            origin,
            api_key,
            key_text: Arc::from(key),
            max_pages: config.max_pages.max(1),
            page_size: config.page_size.clamp(1, 1000),
            max_retries: config.max_retries,
            retry_backoff: config.retry_backoff,
            max_retry_after: config.max_retry_after,
            cache: SearchCache::new(config.cache_ttl, config.cache_capacity),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Forgets every cached search.
    pub fn clear_cache(&self) {
        self.cache.clear();
    }

    /// Professionals by name (`family`, `given`) or national identifier
    /// (RPPS, idNat_PS…), with their situations, structures and mailboxes.
    pub async fn search_practitioners(
        &self,
        q: &DirectoryQuery,
    ) -> Result<Vec<DirectoryPerson>, AnnuaireError> {
        Ok(self.find_practitioners(q).await?.items)
    }

    /// Same as [`Self::search_practitioners`], saying whether the page cap cut it short.
    pub async fn find_practitioners(
        &self,
        q: &DirectoryQuery,
    ) -> Result<SearchResults<DirectoryPerson>, AnnuaireError> {
        let Some(url) = query::practitioner_search(&self.base_url, q, self.page_size) else {
            return Ok(SearchResults::empty());
        };
        let found = self.collect(&url).await?;
        let structures = self.structures_for(&found.resources).await?;
        let mut index = Index::new(&found.resources);
        for s in &structures {
            index.add(&s.resources);
        }
        Ok(SearchResults {
            items: index.persons(),
            truncated: found.truncated,
        })
    }

    /// One professional by RPPS or idNat_PS; `None` when the Annuaire does not know them.
    pub async fn practitioner(&self, id: &str) -> Result<Option<DirectoryPerson>, AnnuaireError> {
        let wanted = id.trim().to_ascii_uppercase();
        let people = self
            .search_practitioners(&DirectoryQuery::Identifier(wanted.clone()))
            .await?;
        let exact = people
            .iter()
            .position(|p| p.id_nat_ps == wanted || p.rpps.as_deref() == Some(wanted.as_str()));
        Ok(match exact {
            Some(i) => people.into_iter().nth(i),
            None => people.into_iter().next(),
        })
    }

    /// Structures by name part (active ones) or FINESS, with their ORG/APP mailboxes.
    pub async fn search_organizations(
        &self,
        q: &OrganizationQuery,
    ) -> Result<Vec<DirectoryOrganization>, AnnuaireError> {
        Ok(self.find_organizations(q).await?.items)
    }

    pub async fn find_organizations(
        &self,
        q: &OrganizationQuery,
    ) -> Result<SearchResults<DirectoryOrganization>, AnnuaireError> {
        let Some(url) = query::organization_search(&self.base_url, q, self.page_size) else {
            return Ok(SearchResults::empty());
        };
        let found = self.collect(&url).await?;
        Ok(SearchResults {
            items: fhir::organizations(&found.resources),
            truncated: found.truncated,
        })
    }

    /// One structure by FINESS.
    pub async fn organization(
        &self,
        finess: &str,
    ) -> Result<Option<DirectoryOrganization>, AnnuaireError> {
        let q = OrganizationQuery::Finess(finess.trim().to_ascii_uppercase());
        Ok(self.search_organizations(&q).await?.into_iter().next())
    }

    /// The structures referenced by the situations found (then their legal
    /// entities), read by id: two rounds at most.
    async fn structures_for(
        &self,
        resources: &[Value],
    ) -> Result<Vec<Arc<Collected>>, AnnuaireError> {
        let mut fetched: Vec<Arc<Collected>> = Vec::new();
        for _round in 0..2 {
            let missing = {
                let mut index = Index::new(resources);
                for f in &fetched {
                    index.add(&f.resources);
                }
                index.missing_organizations()
            };
            if missing.is_empty() {
                break;
            }
            for url in query::organizations_by_id(&self.base_url, &missing) {
                fetched.push(self.collect(&url).await?);
            }
        }
        Ok(fetched)
    }

    /// Every page of a search from its first URL (cached as a whole).
    async fn collect(&self, first_url: &str) -> Result<Arc<Collected>, AnnuaireError> {
        if let Some(hit) = self.cache.get(first_url) {
            tracing::debug!(url = first_url, "annuaire : recherche servie par le cache");
            return Ok(hit);
        }
        let mut collected = Collected::default();
        let mut url = first_url.to_owned();
        let mut pages = 0;
        loop {
            let json = self.get_json(&url).await?;
            let page = fhir::parse_bundle(&json).map_err(|detail| AnnuaireError::Malformed {
                detail: sanitize_diagnostics(&detail, &self.key_text),
            })?;
            pages += 1;
            collected.resources.extend(page.resources);
            match page.next {
                Some(next) if pages >= self.max_pages => {
                    tracing::info!(pages, url = first_url, next = %next, "annuaire : plafond de pages atteint, recherche tronquée");
                    collected.truncated = true;
                    break;
                }
                Some(next) => url = self.checked_next(next)?,
                None => break,
            }
        }
        let collected = Arc::new(collected);
        self.cache.put(first_url, collected.clone());
        Ok(collected)
    }

    /// A `next` link is followed as given, but only on the configured host:
    /// the key must never go elsewhere.
    fn checked_next(&self, next: String) -> Result<String, AnnuaireError> {
        match reqwest::Url::parse(&next) {
            Ok(u) if u.origin() == self.origin.origin() => Ok(next),
            _ => Err(AnnuaireError::Malformed {
                detail: "lien vers la page suivante hors de l'adresse de l'API".to_owned(),
            }),
        }
    }

    /// One GET, retried on 429/5xx.
    async fn get_json(&self, url: &str) -> Result<Value, AnnuaireError> {
        let Some(key) = &self.api_key else {
            return Err(AnnuaireError::MissingApiKey);
        };
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            self.limiter.acquire().await;
            let sent = self
                .http
                .get(url)
                .header(API_KEY_HEADER, key.clone())
                .header(ACCEPT, FHIR_JSON)
                .header(USER_AGENT, concat!("Escale/", env!("CARGO_PKG_VERSION")))
                .send()
                .await;
            let response = match sent {
                Ok(r) => r,
                // Not retried: a timeout already cost the whole delay, a refused
                // connection says the service is down.
                Err(e) => return Err(classify(&e)),
            };
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let body = match response.text().await {
                Ok(t) => t,
                Err(e) => return Err(classify(&e)),
            };
            tracing::debug!(status = status.as_u16(), attempt, "appel Annuaire Santé");
            if status.is_success() {
                return serde_json::from_str(&body).map_err(|e| AnnuaireError::Malformed {
                    detail: format!("JSON invalide : {e}"),
                });
            }
            let diagnostics = self.diagnostics(&body);
            let retries_left = attempt <= self.max_retries;
            match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(AnnuaireError::ApiKey {
                        status: status.as_u16(),
                        diagnostics,
                    });
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    let wait = match retry_after {
                        Some(s) => Duration::from_secs(s),
                        None => self.backoff(attempt),
                    };
                    if !retries_left || wait > self.max_retry_after {
                        return Err(AnnuaireError::RateLimited {
                            retry_after_secs: retry_after,
                        });
                    }
                    tracing::info!(
                        wait_ms = wait.as_millis() as u64,
                        attempt,
                        "annuaire : 429, nouvel essai après le délai demandé"
                    );
                    tokio::time::sleep(wait).await;
                }
                s if s.is_server_error() => {
                    if !retries_left {
                        return Err(AnnuaireError::Unavailable {
                            status: s.as_u16(),
                            attempts: attempt,
                            diagnostics,
                        });
                    }
                    let wait = self.backoff(attempt);
                    tracing::info!(
                        status = s.as_u16(),
                        wait_ms = wait.as_millis() as u64,
                        attempt,
                        "annuaire : erreur du service, nouvel essai"
                    );
                    tokio::time::sleep(wait).await;
                }
                s => {
                    return Err(AnnuaireError::Rejected {
                        status: s.as_u16(),
                        diagnostics,
                    });
                }
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(10);
        (self.retry_backoff * factor).min(Duration::from_secs(8))
    }

    /// OperationOutcome diagnostics, else the start of a plain body; masked and cut.
    fn diagnostics(&self, body: &str) -> Option<String> {
        let text = match serde_json::from_str::<Value>(body) {
            Ok(v) => fhir::operation_outcome_text(&v)
                .or_else(|| v.get("message").and_then(Value::as_str).map(str::to_owned)),
            Err(_) => Some(body.to_owned()),
        }?;
        let clean = sanitize_diagnostics(&text, &self.key_text);
        (!clean.is_empty()).then_some(clean)
    }
}

fn classify(e: &reqwest::Error) -> AnnuaireError {
    if e.is_timeout() {
        return AnnuaireError::Timeout;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut last = e.to_string();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return AnnuaireError::Timeout;
        }
        last = err.to_string();
        source = err.source();
    }
    AnnuaireError::Unreachable { detail: last }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_debug_hides_the_key() {
        let c = AnnuaireConfig {
            api_key: "secret-key".into(),
            ..AnnuaireConfig::default()
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("secret-key") && shown.contains("***"));
        assert_eq!(c.rate_per_second, 17);
        assert_eq!(c.timeout, Duration::from_secs(10));
    }

    #[test]
    fn bad_configuration_is_refused() {
        let bad = AnnuaireClient::new(AnnuaireConfig {
            base_url: "gateway sans schéma".into(),
            ..AnnuaireConfig::default()
        });
        assert!(matches!(bad, Err(AnnuaireError::Config { .. })));
        let bad_key = AnnuaireClient::new(AnnuaireConfig {
            api_key: "a\nb".into(),
            ..AnnuaireConfig::default()
        });
        assert!(matches!(bad_key, Err(AnnuaireError::Config { .. })));
    }

    #[tokio::test]
    async fn no_key_no_call() {
        let client = AnnuaireClient::new(AnnuaireConfig {
            base_url: "http://127.0.0.1:9/fhir/v2".into(),
            ..AnnuaireConfig::default()
        })
        .unwrap();
        let e = client
            .search_practitioners(&DirectoryQuery::Identifier("99900000060".into()))
            .await
            .unwrap_err();
        assert_eq!(e, AnnuaireError::MissingApiKey);
    }
}
