//! One typed configuration: defaults (the sandbox) → optional TOML file →
//! `ESCALE_*` environment variables (and `DATABASE_URL`) → command-line flags.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub mod data_dir;
mod keys;
mod sections;

pub use keys::{KEYS, SECRET_FILES, key_of, path_of};
pub use sections::{
    AnnuaireConfig, DmpConfig, HttpConfig, InsiConfig, MssConfig, PscConfig, SessionConfig,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every national service is a local simulator, demo data and demo login exist.
    Sandbox,
    /// Real services only: no demo login, no demo data, ever.
    Production,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub mode: Mode,
    pub public_url: Option<String>,
    pub demo_data: bool,
    pub max_body_bytes: usize,
    /// A job whose process died is taken up again after this long
    /// (its runner renews the lease while it works).
    pub jobs_lease_seconds: u64,
    /// PostgreSQL only: where the documents' bytes are kept instead of the
    /// database (`None`: in the database).
    pub documents_dir: Option<PathBuf>,
    /// Mebibytes reception's search may hold in memory for big structures.
    pub search_memory_mb: usize,
    pub admin_login_summary_seconds: u64,
    /// Seals the administrators' TOTP secrets (`services::admin_secrets`).
    pub admin_secret_key: Option<String>,
    pub sandbox_public: bool,
    pub log: String,
    pub http: HttpConfig,
    /// Signs the session tokens the card agent checks (issue 11, finding 8);
    /// `None`: generated in the data directory in sandbox mode, no card
    /// reading otherwise.
    pub card_agent_key: Option<String>,
    pub session: SessionConfig,
    pub insi: InsiConfig,
    pub dmp: DmpConfig,
    pub mss: MssConfig,
    pub psc: PscConfig,
    pub annuaire: AnnuaireConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            mode: Mode::Sandbox,
            public_url: None,
            demo_data: true,
            max_body_bytes: 256 * 1024,
            jobs_lease_seconds: 60,
            documents_dir: None,
            search_memory_mb: 48,
            admin_login_summary_seconds: 600,
            admin_secret_key: None,
            sandbox_public: false,
            log: "info".to_string(),
            http: HttpConfig::default(),
            card_agent_key: None,
            session: SessionConfig::default(),
            insi: InsiConfig::default(),
            dmp: DmpConfig::default(),
            mss: MssConfig::default(),
            psc: PscConfig::default(),
            annuaire: AnnuaireConfig::default(),
        }
    }
}

/// Redacts the database password (the sections redact their own secrets).
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("mode", &self.mode)
            .field("public_url", &self.public_url)
            .field("demo_data", &self.demo_data)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("documents_dir", &self.documents_dir)
            .field("search_memory_mb", &self.search_memory_mb)
            .field(
                "admin_login_summary_seconds",
                &self.admin_login_summary_seconds,
            )
            .field("sandbox_public", &self.sandbox_public)
            .field(
                "admin_secret_key",
                &self.admin_secret_key.as_ref().map(|_| "***"),
            )
            .field("log", &self.log)
            .field("http", &self.http)
            .field(
                "card_agent_key",
                &self.card_agent_key.as_ref().map(|_| "***"),
            )
            .field("session", &self.session)
            .field("insi", &self.insi)
            .field("dmp", &self.dmp)
            .field("mss", &self.mss)
            .field("psc", &self.psc)
            .field("annuaire", &self.annuaire)
            .finish()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration invalide : {0}")]
    Invalid(String),
    #[error("configuration incomplète pour le mode production : {0}")]
    Production(String),
}

/// Overrides given on the command line.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
}

impl Config {
    /// Loads from an optional TOML file and the process environment.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut fig = Self::figment(file);
        for (key, var) in SECRET_FILES {
            if let Some(secret) = secret_from_file(var)? {
                fig = fig.merge(Serialized::default(&path_of(key), secret));
            }
        }
        Self::from_figment(fig, overrides)
    }

    pub fn figment(file: Option<&Path>) -> Figment {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            fig = fig.merge(Toml::file_exact(path));
        }
        let known: Vec<String> = KEYS.iter().map(|k| k.0.to_string()).collect();
        fig.merge(
            Env::prefixed("ESCALE_")
                .filter(move |k| known.iter().any(|n| k.as_str().eq_ignore_ascii_case(n)))
                .map(|k| path_of(&k.as_str().to_ascii_lowercase()).into()),
        )
        .merge(
            Env::raw()
                .only(&["DATABASE_URL"])
                .map(|_| "database_url".into()),
        )
    }

    pub fn from_figment(fig: Figment, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut config: Config = fig
            .extract()
            .map_err(|e| ConfigError::Invalid(describe(&e)))?;
        if let Some(l) = overrides.listen {
            config.listen = l;
        }
        if let Some(d) = &overrides.data_dir {
            config.data_dir = d.clone();
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&mut self) -> Result<(), ConfigError> {
        if let Some(url) = &self.database_url {
            let ok = ["sqlite:", "postgres://", "postgresql://"]
                .iter()
                .any(|p| url.starts_with(p));
            if !ok {
                return Err(ConfigError::Invalid(format!(
                    "clé `database_url` (DATABASE_URL) : attendu sqlite://CHEMIN ou postgres://UTILISATEUR@HÔTE/BASE, reçu « {} »",
                    redact_url(url)
                )));
            }
        }
        let on_postgres = self
            .database_url
            .as_deref()
            .is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"));
        if self.documents_dir.is_some() && !on_postgres {
            return Err(ConfigError::Invalid(
                "clé `documents_dir` (ESCALE_DOCUMENTS_DIR) : seulement avec PostgreSQL ; avec SQLite, les documents restent dans le fichier de la base (une seule sauvegarde)".into(),
            ));
        }
        if let Some(u) = &self.public_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(ConfigError::Invalid(format!(
                    "clé `public_url` (ESCALE_PUBLIC_URL) : attendu une URL http(s)://HÔTE, reçu « {u} »"
                )));
            }
            self.public_url = Some(u.trim_end_matches('/').to_string());
        }
        if let Some(u) = &self.insi.url
            && !u.starts_with("https://")
        {
            return Err(ConfigError::Invalid(format!(
                "clé `insi_url` (ESCALE_INSI_URL) : attendu une URL https:// (authentification mutuelle TLS), reçu « {u} »"
            )));
        }
        if self.insi.url.is_some() && self.insi.ca.is_none() {
            return Err(ConfigError::Invalid(
                "clé `insi_ca` (ESCALE_INSI_CA) : obligatoire avec insi_url — fichier PEM des autorités de certification du serveur INSi".into(),
            ));
        }
        if self.insi.timeout_seconds == 0 || self.insi.timeout_seconds > 120 {
            return Err(ConfigError::Invalid(
                "clé `insi_timeout_seconds` (ESCALE_INSI_TIMEOUT_SECONDS) : attendu un nombre de secondes entre 1 et 120".into(),
            ));
        }
        if let Some(u) = &self.dmp.url
            && !u.starts_with("https://")
        {
            return Err(ConfigError::Invalid(format!(
                "clé `dmp_url` (ESCALE_DMP_URL) : attendu une URL https:// (authentification mutuelle TLS), reçu « {u} »"
            )));
        }
        if self.dmp.url.is_some() && self.dmp.ca.is_none() {
            return Err(ConfigError::Invalid(
                "clé `dmp_ca` (ESCALE_DMP_CA) : obligatoire avec dmp_url — fichier PEM des autorités de certification du DMP".into(),
            ));
        }
        self.mss.validate(self.mode == Mode::Production)?;
        if self.dmp.timeout_seconds == 0 || self.dmp.timeout_seconds > 300 {
            return Err(ConfigError::Invalid(
                "clé `dmp_timeout_seconds` (ESCALE_DMP_TIMEOUT_SECONDS) : attendu un nombre de secondes entre 1 et 300".into(),
            ));
        }
        self.validate_psc()?;
        self.validate_http()?;
        if let Some(key) = &self.card_agent_key {
            escale_agent::token::SharedKey::parse(key).map_err(|e| {
                ConfigError::Invalid(format!(
                    "clé `card_agent_key` (ESCALE_CARD_AGENT_KEY) : {e}"
                ))
            })?;
        }
        if self.session.idle_minutes == 0 || self.session.max_hours == 0 {
            return Err(ConfigError::Invalid(
                "clés `session_idle_minutes` et `session_max_hours` : attendu un nombre supérieur à 0".into(),
            ));
        }
        // The sandbox's demo administrator has a public password and TOTP secret.
        if self.mode == Mode::Sandbox && !self.listen.ip().is_loopback() && !self.sandbox_public {
            return Err(ConfigError::Invalid(format!(
                "le bac à sable (mode sandbox) a un administrateur de démonstration dont le mot de passe est public : il n'écoute que sur une adresse locale (127.0.0.1), pas sur {}. Pour un service réel : ESCALE_MODE=production ; pour une démonstration sur le réseau, en connaissance de cause : ESCALE_SANDBOX_PUBLIC=true",
                self.listen
            )));
        }
        if self.mode == Mode::Production {
            if self.database_url.is_none() {
                return Err(ConfigError::Production(
                    "DATABASE_URL doit désigner explicitement la base de production".into(),
                ));
            }
            match &self.public_url {
                Some(u) if u.starts_with("https://") => {}
                _ => {
                    return Err(ConfigError::Production(
                        "ESCALE_PUBLIC_URL doit être l'adresse https:// publique du service".into(),
                    ));
                }
            }
            // Never demo data in production, whatever was asked.
            self.demo_data = false;
        }
        Ok(())
    }

    fn validate_http(&self) -> Result<(), ConfigError> {
        let h = &self.http;
        for (key, v, max) in [
            ("http_header_timeout_seconds", h.header_timeout_seconds, 600),
            (
                "http_request_timeout_seconds",
                h.request_timeout_seconds,
                3600,
            ),
            ("http_body_timeout_seconds", h.body_timeout_seconds, 600),
        ] {
            if v == 0 || v > max {
                return Err(ConfigError::Invalid(format!(
                    "clé `{key}` (ESCALE_{}) : attendu un nombre de secondes entre 1 et {max}",
                    key.to_ascii_uppercase()
                )));
            }
        }
        if h.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "clé `http_max_connections` (ESCALE_HTTP_MAX_CONNECTIONS) : attendu un nombre supérieur à 0".into(),
            ));
        }
        if let Some(name) = &h.trusted_proxy_header
            && axum::http::HeaderName::from_bytes(name.as_bytes()).is_err()
        {
            return Err(ConfigError::Invalid(format!(
                "clé `http_trusted_proxy_header` (ESCALE_HTTP_TRUSTED_PROXY_HEADER) : « {name} » n'est pas un nom d'en-tête HTTP (ex. X-Forwarded-For)"
            )));
        }
        h.proxies().map_err(|bad| {
            ConfigError::Invalid(format!(
                "clé `http_trusted_proxies` (ESCALE_HTTP_TRUSTED_PROXIES) : « {bad} » n'est pas une adresse IP (liste séparée par des virgules, ex. 10.0.0.5,::1)"
            ))
        })?;
        Ok(())
    }

    /// The PSC keys go together: an issuer needs a client id, and a secret or a certificate.
    fn validate_psc(&self) -> Result<(), ConfigError> {
        for (key, env, v) in [
            ("psc_issuer", "ESCALE_PSC_ISSUER", &self.psc.issuer),
            (
                "psc_discovery_url",
                "ESCALE_PSC_DISCOVERY_URL",
                &self.psc.discovery_url,
            ),
            (
                "psc_redirect_url",
                "ESCALE_PSC_REDIRECT_URL",
                &self.psc.redirect_url,
            ),
            (
                "psc_post_logout_url",
                "ESCALE_PSC_POST_LOGOUT_URL",
                &self.psc.post_logout_url,
            ),
            ("annuaire_url", "ESCALE_ANNUAIRE_URL", &self.annuaire.url),
        ] {
            if let Some(u) = v
                && !(u.starts_with("https://") || u.starts_with("http://"))
            {
                return Err(ConfigError::Invalid(format!(
                    "clé `{key}` ({env}) : attendu une URL https://…, reçu « {u} »"
                )));
            }
        }
        if self.psc.issuer.is_some() {
            if self.psc.client_id.is_none() {
                return Err(ConfigError::Invalid(
                    "clé `psc_client_id` (ESCALE_PSC_CLIENT_ID) : obligatoire avec ESCALE_PSC_ISSUER".into(),
                ));
            }
            if self.psc.client_secret.is_none() && self.psc.client_certificate.is_none() {
                return Err(ConfigError::Invalid(
                    "Pro Santé Connect : indiquez ESCALE_PSC_CLIENT_SECRET ou ESCALE_PSC_CLIENT_CERTIFICATE (TLS mutuel)".into(),
                ));
            }
        } else if self.psc.client_id.is_some() || self.psc.client_secret.is_some() {
            return Err(ConfigError::Invalid(
                "clé `psc_issuer` (ESCALE_PSC_ISSUER) : obligatoire avec ESCALE_PSC_CLIENT_ID / ESCALE_PSC_CLIENT_SECRET".into(),
            ));
        }
        if self.annuaire.url.is_some() && self.annuaire.api_key.is_none() {
            return Err(ConfigError::Invalid(
                "clé `annuaire_api_key` (ESCALE_ANNUAIRE_API_KEY) : obligatoire avec ESCALE_ANNUAIRE_URL".into(),
            ));
        }
        Ok(())
    }

    /// The address browsers use to reach this instance.
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.clone(),
            None => {
                let host = if self.listen.ip().is_unspecified() {
                    std::net::SocketAddr::from(([127, 0, 0, 1], self.listen.port()))
                } else {
                    self.listen
                };
                format!("http://{host}")
            }
        }
    }

    pub fn psc_redirect(&self) -> String {
        self.psc
            .redirect_url
            .clone()
            .unwrap_or_else(|| format!("{}/auth/psc/callback", self.base_url()))
    }

    pub fn psc_post_logout(&self) -> String {
        self.psc
            .post_logout_url
            .clone()
            .unwrap_or_else(|| format!("{}/connexion?deconnecte=1", self.base_url()))
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", self.sqlite_path().display()))
    }

    fn sqlite_path(&self) -> std::path::PathBuf {
        self.data_dir.join("escale.sqlite")
    }

    /// Creates the data directory (`0700`) and, when the database is the
    /// embedded SQLite file, that file (`0600`) before SQLite opens it.
    pub fn prepare_data_dir(&self) -> std::io::Result<()> {
        data_dir::create(&self.data_dir)?;
        if self.database_url.is_none() {
            data_dir::create_private_file(&self.sqlite_path())?;
        }
        Ok(())
    }

    pub fn is_sandbox(&self) -> bool {
        self.mode == Mode::Sandbox
    }

    /// Cookies get `Secure` when the public URL is HTTPS.
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }

    /// `ESCALE_*` variables that are not configuration keys (typos), to warn about.
    pub fn unknown_env_vars() -> Vec<String> {
        std::env::vars()
            .map(|(k, _)| k)
            .filter(|k| k.starts_with("ESCALE_"))
            // Not configuration keys: the CLI's config file, build and test settings.
            .filter(|k| !["ESCALE_CONFIG", "ESCALE_HTMX_JS"].contains(&k.as_str()))
            .filter(|k| !k.starts_with("ESCALE_TEST_") && !k.starts_with("ESCALE_BENCH_"))
            .filter(|k| {
                !SECRET_FILES
                    .iter()
                    .any(|(_, var)| *k == format!("{var}_FILE"))
            })
            .filter(|k| {
                let key = k.trim_start_matches("ESCALE_").to_ascii_lowercase();
                !KEYS.iter().any(|(name, ..)| *name == key)
            })
            .collect()
    }
}

/// The secret in the file named by `<var>_FILE`, without its final newline;
/// `None` when that variable is not set.
fn secret_from_file(var: &str) -> Result<Option<String>, ConfigError> {
    let name = format!("{var}_FILE");
    let Some(path) = std::env::var_os(&name) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        ConfigError::Invalid(format!(
            "variable {name} : fichier « {} » illisible ({e})",
            Path::new(&path).display()
        ))
    })?;
    Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()))
}

/// A figment error as one French sentence naming the key and where it came from.
fn describe(e: &figment::Error) -> String {
    let key = if e.path.is_empty() {
        "?".to_string()
    } else {
        e.path.join(".")
    };
    let source = e
        .metadata
        .as_ref()
        .map(|m| match &m.source {
            Some(src) => format!(" ({}, {})", m.name, src),
            None => format!(" ({})", m.name),
        })
        .unwrap_or_default();
    let flat = key_of(&key);
    let expected = match KEYS.iter().find(|k| k.0 == flat) {
        Some((_, env, default, what)) => {
            format!(" — {what} ; variable {env}, par défaut {default}")
        }
        None => String::new(),
    };
    format!("clé `{key}`{source} : {}{expected}", e.kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Serialized;

    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        for (k, v) in pairs {
            fig = fig.merge(Toml::string(&format!("{} = {v}", path_of(k))));
        }
        Config::from_figment(fig, &Overrides::default())
    }

    #[test]
    fn defaults_are_the_sandbox() {
        let c = with(&[]).unwrap();
        assert!(c.is_sandbox());
        assert!(c.database_url().starts_with("sqlite://"));
        assert!(!c.secure_cookies());
    }

    #[test]
    fn invalid_listen_names_the_key() {
        let err = with(&[("listen", "\"pas-une-adresse\"")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`listen`"), "{err}");
        assert!(err.contains("ESCALE_LISTEN"), "{err}");
    }

    #[test]
    fn unknown_key_and_bad_url_refused() {
        assert!(with(&[("lisen", "\"x\"")]).is_err());
        let err = with(&[("database_url", "\"mysql://x\"")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("DATABASE_URL"), "{err}");
    }

    #[test]
    fn production_needs_its_settings_and_never_demo() {
        let err = with(&[("mode", "\"production\"")]).unwrap_err();
        assert!(matches!(err, ConfigError::Production(_)));
        let err = with(&[
            ("mode", "\"production\""),
            ("database_url", "\"postgres://a@b/c\""),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("ESCALE_PUBLIC_URL"));
        let c = with(&[
            ("mode", "\"production\""),
            ("database_url", "\"postgres://a@b/c\""),
            ("public_url", "\"https://escale.example.fr/\""),
            ("demo_data", "true"),
        ])
        .unwrap();
        assert!(!c.demo_data);
        assert!(c.secure_cookies());
        assert_eq!(c.public_url.as_deref(), Some("https://escale.example.fr"));
    }

    #[test]
    fn debug_redacts_password() {
        let c = with(&[("database_url", "\"postgres://escale:s3cret@db/escale\"")]).unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cret"), "{dbg}");
        assert!(dbg.contains("escale:***@db"));
        let c = with(&[
            ("psc_issuer", "\"https://auth.example/realms/x\""),
            ("psc_client_id", "\"escale\""),
            ("psc_client_secret", "\"tres-secret\""),
            ("annuaire_url", "\"https://gateway.example/fhir/v2\""),
            ("annuaire_api_key", "\"cle-api-secrete\""),
            (
                "card_agent_key",
                "\"cle-de-l-agent-carte-vitale-0123456789\"",
            ),
        ])
        .unwrap();
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("tres-secret")
                && !dbg.contains("cle-api-secrete")
                && !dbg.contains("cle-de-l-agent"),
            "{dbg}"
        );
    }

    #[test]
    fn a_short_card_agent_key_is_refused() {
        let err = with(&[("card_agent_key", "\"abc123\"")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("ESCALE_CARD_AGENT_KEY"), "{err}");
        assert!(err.contains("32 caractères"), "{err}");
        assert!(!err.contains("abc123"), "the key is never shown: {err}");
    }

    #[test]
    fn a_documents_directory_is_for_postgresql_only() {
        let err = with(&[("documents_dir", "\"/srv/documents\"")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("ESCALE_DOCUMENTS_DIR"), "{err}");
        assert!(err.contains("SQLite"), "{err}");
        let ok = with(&[
            ("documents_dir", "\"/srv/documents\""),
            ("database_url", "\"postgres://escale@db/escale\""),
        ])
        .unwrap();
        assert_eq!(ok.documents_dir, Some(PathBuf::from("/srv/documents")));
    }

    #[test]
    fn psc_keys_go_together() {
        let err = with(&[("psc_issuer", "\"https://auth.example/realms/x\"")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("ESCALE_PSC_CLIENT_ID"), "{err}");
        let err = with(&[
            ("psc_issuer", "\"https://auth.example/realms/x\""),
            ("psc_client_id", "\"escale\""),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("ESCALE_PSC_CLIENT_SECRET"), "{err}");
        let err = with(&[("psc_client_id", "\"escale\"")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("ESCALE_PSC_ISSUER"), "{err}");
        let err = with(&[("annuaire_url", "\"ftp://x\"")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("ESCALE_ANNUAIRE_URL"), "{err}");
        // The sandbox stays on the loopback unless asked in so many words.
        let err = with(&[("listen", "\"0.0.0.0:9000\"")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("ESCALE_SANDBOX_PUBLIC=true"), "{err}");
        let c = with(&[("listen", "\"0.0.0.0:9000\""), ("sandbox_public", "true")]).unwrap();
        assert_eq!(c.psc_redirect(), "http://127.0.0.1:9000/auth/psc/callback");
    }
}
