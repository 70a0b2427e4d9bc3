//! One typed configuration: defaults (the sandbox) → optional TOML file →
//! `ESCALE_*` environment variables (and `DATABASE_URL`) → command-line flags.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every national service is a local simulator, demo data and demo login exist.
    Sandbox,
    /// Real services only: no demo login, no demo data, ever.
    Production,
}

/// Keys, with their environment variable and meaning (the README's table is
/// generated from the same list by `escale config --keys`).
pub const KEYS: &[(&str, &str, &str, &str)] = &[
    (
        "listen",
        "ESCALE_LISTEN",
        "127.0.0.1:8080",
        "adresse et port d'écoute (HOST:PORT)",
    ),
    (
        "data_dir",
        "ESCALE_DATA_DIR",
        "./data",
        "répertoire des données (fichier SQLite par défaut)",
    ),
    (
        "database_url",
        "DATABASE_URL ou ESCALE_DATABASE_URL",
        "sqlite://<data_dir>/escale.sqlite",
        "base de données : sqlite://… ou postgres://…",
    ),
    (
        "mode",
        "ESCALE_MODE",
        "sandbox",
        "sandbox (bacs à sable, démo) ou production",
    ),
    (
        "public_url",
        "ESCALE_PUBLIC_URL",
        "(aucune)",
        "URL publique (https://… obligatoire en production ; cookies Secure)",
    ),
    (
        "session_idle_minutes",
        "ESCALE_SESSION_IDLE_MINUTES",
        "30",
        "déconnexion après N minutes sans activité",
    ),
    (
        "session_max_hours",
        "ESCALE_SESSION_MAX_HOURS",
        "12",
        "durée maximale d'une session",
    ),
    (
        "demo_data",
        "ESCALE_DEMO_DATA",
        "true",
        "crée les structures et usagers de démonstration (bac à sable seulement)",
    ),
    (
        "max_body_bytes",
        "ESCALE_MAX_BODY_BYTES",
        "262144",
        "taille maximale d'un formulaire envoyé",
    ),
    (
        "insi_url",
        "ESCALE_INSI_URL",
        "(bac à sable local)",
        "adresse du téléservice INSi (mTLS), ex. https://qualiflps-services-ps-tlsm.ameli.fr:443/lps",
    ),
    (
        "insi_ca",
        "ESCALE_INSI_CA",
        "(aucune)",
        "fichier PEM des autorités de certification du serveur INSi (obligatoire avec insi_url)",
    ),
    (
        "insi_timeout_seconds",
        "ESCALE_INSI_TIMEOUT_SECONDS",
        "10",
        "délai maximal d'un appel INSi, en secondes",
    ),
    (
        "insi_instance_id",
        "ESCALE_INSI_INSTANCE_ID",
        "(générée dans data_dir)",
        "UUID de l'installation envoyé dans ContexteLPS",
    ),
    (
        "psc_issuer",
        "ESCALE_PSC_ISSUER",
        "(bac à sable local)",
        "émetteur Pro Santé Connect, ex. https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet",
    ),
    (
        "psc_discovery_url",
        "ESCALE_PSC_DISCOVERY_URL",
        "<émetteur>/.well-known/wallet-openid-configuration",
        "document de découverte OpenID Connect (sinon le chemin PSC, puis /.well-known/openid-configuration)",
    ),
    (
        "psc_client_id",
        "ESCALE_PSC_CLIENT_ID",
        "(aucun)",
        "identifiant client attribué par Pro Santé Connect",
    ),
    (
        "psc_client_secret",
        "ESCALE_PSC_CLIENT_SECRET",
        "(aucun)",
        "secret client (client_secret_basic) ; sans secret, le certificat psc_client_certificate authentifie (mTLS)",
    ),
    (
        "psc_redirect_url",
        "ESCALE_PSC_REDIRECT_URL",
        "<public_url>/auth/psc/callback",
        "adresse de retour enregistrée auprès de Pro Santé Connect",
    ),
    (
        "psc_post_logout_url",
        "ESCALE_PSC_POST_LOGOUT_URL",
        "<public_url>/connexion?deconnecte=1",
        "adresse où Pro Santé Connect renvoie après la déconnexion (enregistrée auprès de PSC)",
    ),
    (
        "psc_client_certificate",
        "ESCALE_PSC_CLIENT_CERTIFICATE",
        "(aucun)",
        "fichier PEM : certificat IGC-Santé de la structure et sa clé, pour le TLS mutuel avec PSC",
    ),
    (
        "psc_ca",
        "ESCALE_PSC_CA",
        "(magasin du système)",
        "fichier PEM d'autorités supplémentaires pour les serveurs PSC",
    ),
    (
        "psc_userinfo_jwt",
        "ESCALE_PSC_USERINFO_JWT",
        "false",
        "demander les informations du professionnel en JWT signé (si configuré ainsi chez PSC)",
    ),
    (
        "annuaire_url",
        "ESCALE_ANNUAIRE_URL",
        "(bac à sable local)",
        "API FHIR de l'Annuaire Santé, ex. https://gateway.api.esante.gouv.fr/fhir/v2",
    ),
    (
        "annuaire_api_key",
        "ESCALE_ANNUAIRE_API_KEY",
        "(aucune)",
        "clé ESANTE-API-KEY de l'Annuaire Santé (portail Gravitee de l'ANS)",
    ),
    (
        "annuaire_cache_minutes",
        "ESCALE_ANNUAIRE_CACHE_MINUTES",
        "60",
        "durée de conservation en mémoire des réponses de l'Annuaire Santé",
    ),
    (
        "log",
        "ESCALE_LOG",
        "info",
        "niveau de journalisation technique (filtre tracing)",
    ),
];

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub mode: Mode,
    pub public_url: Option<String>,
    pub session_idle_minutes: u32,
    pub session_max_hours: u32,
    pub demo_data: bool,
    pub max_body_bytes: usize,
    pub insi_url: Option<String>,
    pub insi_ca: Option<PathBuf>,
    pub insi_timeout_seconds: u64,
    pub insi_instance_id: Option<uuid::Uuid>,
    pub psc_issuer: Option<String>,
    pub psc_discovery_url: Option<String>,
    pub psc_client_id: Option<String>,
    pub psc_client_secret: Option<String>,
    pub psc_redirect_url: Option<String>,
    pub psc_post_logout_url: Option<String>,
    pub psc_client_certificate: Option<PathBuf>,
    pub psc_ca: Option<PathBuf>,
    pub psc_userinfo_jwt: bool,
    pub annuaire_url: Option<String>,
    pub annuaire_api_key: Option<String>,
    pub annuaire_cache_minutes: u32,
    pub log: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            mode: Mode::Sandbox,
            public_url: None,
            session_idle_minutes: 30,
            session_max_hours: 12,
            demo_data: true,
            max_body_bytes: 256 * 1024,
            insi_url: None,
            insi_ca: None,
            insi_timeout_seconds: 10,
            insi_instance_id: None,
            psc_issuer: None,
            psc_discovery_url: None,
            psc_client_id: None,
            psc_client_secret: None,
            psc_redirect_url: None,
            psc_post_logout_url: None,
            psc_client_certificate: None,
            psc_ca: None,
            psc_userinfo_jwt: false,
            annuaire_url: None,
            annuaire_api_key: None,
            annuaire_cache_minutes: 60,
            log: "info".to_string(),
        }
    }
}

/// Redacts the database password.
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
            .field("session_idle_minutes", &self.session_idle_minutes)
            .field("session_max_hours", &self.session_max_hours)
            .field("demo_data", &self.demo_data)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("insi_url", &self.insi_url)
            .field("insi_ca", &self.insi_ca)
            .field("insi_timeout_seconds", &self.insi_timeout_seconds)
            .field("psc_issuer", &self.psc_issuer)
            .field("psc_discovery_url", &self.psc_discovery_url)
            .field("psc_client_id", &self.psc_client_id)
            .field(
                "psc_client_secret",
                &self.psc_client_secret.as_ref().map(|_| "***"),
            )
            .field("psc_redirect_url", &self.psc_redirect_url)
            .field("psc_client_certificate", &self.psc_client_certificate)
            .field("annuaire_url", &self.annuaire_url)
            .field(
                "annuaire_api_key",
                &self.annuaire_api_key.as_ref().map(|_| "***"),
            )
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
        Self::from_figment(Self::figment(file), overrides)
    }

    pub fn figment(file: Option<&Path>) -> Figment {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            fig = fig.merge(Toml::file_exact(path));
        }
        let known: Vec<String> = KEYS.iter().map(|k| k.0.to_string()).collect();
        fig.merge(
            Env::prefixed("ESCALE_")
                .filter(move |k| known.iter().any(|n| k.as_str().eq_ignore_ascii_case(n))),
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
        if let Some(u) = &self.public_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(ConfigError::Invalid(format!(
                    "clé `public_url` (ESCALE_PUBLIC_URL) : attendu une URL http(s)://HÔTE, reçu « {u} »"
                )));
            }
            self.public_url = Some(u.trim_end_matches('/').to_string());
        }
        if let Some(u) = &self.insi_url
            && !u.starts_with("https://")
        {
            return Err(ConfigError::Invalid(format!(
                "clé `insi_url` (ESCALE_INSI_URL) : attendu une URL https:// (authentification mutuelle TLS), reçu « {u} »"
            )));
        }
        if self.insi_url.is_some() && self.insi_ca.is_none() {
            return Err(ConfigError::Invalid(
                "clé `insi_ca` (ESCALE_INSI_CA) : obligatoire avec insi_url — fichier PEM des autorités de certification du serveur INSi".into(),
            ));
        }
        if self.insi_timeout_seconds == 0 || self.insi_timeout_seconds > 120 {
            return Err(ConfigError::Invalid(
                "clé `insi_timeout_seconds` (ESCALE_INSI_TIMEOUT_SECONDS) : attendu un nombre de secondes entre 1 et 120".into(),
            ));
        }
        self.validate_psc()?;
        if self.session_idle_minutes == 0 || self.session_max_hours == 0 {
            return Err(ConfigError::Invalid(
                "clés `session_idle_minutes` et `session_max_hours` : attendu un nombre supérieur à 0".into(),
            ));
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

    /// The PSC keys go together: an issuer needs a client id, and a secret or a certificate.
    fn validate_psc(&self) -> Result<(), ConfigError> {
        for (key, env, v) in [
            ("psc_issuer", "ESCALE_PSC_ISSUER", &self.psc_issuer),
            (
                "psc_discovery_url",
                "ESCALE_PSC_DISCOVERY_URL",
                &self.psc_discovery_url,
            ),
            (
                "psc_redirect_url",
                "ESCALE_PSC_REDIRECT_URL",
                &self.psc_redirect_url,
            ),
            (
                "psc_post_logout_url",
                "ESCALE_PSC_POST_LOGOUT_URL",
                &self.psc_post_logout_url,
            ),
            ("annuaire_url", "ESCALE_ANNUAIRE_URL", &self.annuaire_url),
        ] {
            if let Some(u) = v
                && !(u.starts_with("https://") || u.starts_with("http://"))
            {
                return Err(ConfigError::Invalid(format!(
                    "clé `{key}` ({env}) : attendu une URL https://…, reçu « {u} »"
                )));
            }
        }
        if self.psc_issuer.is_some() {
            if self.psc_client_id.is_none() {
                return Err(ConfigError::Invalid(
                    "clé `psc_client_id` (ESCALE_PSC_CLIENT_ID) : obligatoire avec ESCALE_PSC_ISSUER".into(),
                ));
            }
            if self.psc_client_secret.is_none() && self.psc_client_certificate.is_none() {
                return Err(ConfigError::Invalid(
                    "Pro Santé Connect : indiquez ESCALE_PSC_CLIENT_SECRET ou ESCALE_PSC_CLIENT_CERTIFICATE (TLS mutuel)".into(),
                ));
            }
        } else if self.psc_client_id.is_some() || self.psc_client_secret.is_some() {
            return Err(ConfigError::Invalid(
                "clé `psc_issuer` (ESCALE_PSC_ISSUER) : obligatoire avec ESCALE_PSC_CLIENT_ID / ESCALE_PSC_CLIENT_SECRET".into(),
            ));
        }
        if self.annuaire_url.is_some() && self.annuaire_api_key.is_none() {
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
        self.psc_redirect_url
            .clone()
            .unwrap_or_else(|| format!("{}/auth/psc/callback", self.base_url()))
    }

    pub fn psc_post_logout(&self) -> String {
        self.psc_post_logout_url
            .clone()
            .unwrap_or_else(|| format!("{}/connexion?deconnecte=1", self.base_url()))
    }

    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("escale.sqlite").display()
            )
        })
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
                let key = k.trim_start_matches("ESCALE_").to_ascii_lowercase();
                !KEYS.iter().any(|(name, ..)| *name == key)
            })
            .collect()
    }
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
    let expected = match KEYS.iter().find(|k| k.0 == key) {
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
            fig = fig.merge(Toml::string(&format!("{k} = {v}")));
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
        ])
        .unwrap();
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("tres-secret") && !dbg.contains("cle-api-secrete"),
            "{dbg}"
        );
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
        let c = with(&[("listen", "\"0.0.0.0:9000\"")]).unwrap();
        assert_eq!(c.psc_redirect(), "http://127.0.0.1:9000/auth/psc/callback");
    }
}
