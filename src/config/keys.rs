//! Every configuration key with its environment variable, default and meaning
//! (the README's table lists the same). A key `section_name` lives in the
//! section `[section]` of the TOML file as `name`.

/// (flat key, environment variable, default, meaning).
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
        "http_header_timeout_seconds",
        "ESCALE_HTTP_HEADER_TIMEOUT_SECONDS",
        "15",
        "délai pour recevoir les en-têtes d'une requête (et fermeture d'une connexion inactive)",
    ),
    (
        "http_request_timeout_seconds",
        "ESCALE_HTTP_REQUEST_TIMEOUT_SECONDS",
        "60",
        "délai maximal pour répondre à une requête, corps compris",
    ),
    (
        "http_body_timeout_seconds",
        "ESCALE_HTTP_BODY_TIMEOUT_SECONDS",
        "20",
        "abandon d'un envoi dont le corps n'avance plus pendant N secondes",
    ),
    (
        "http_max_connections",
        "ESCALE_HTTP_MAX_CONNECTIONS",
        "1024",
        "connexions servies en même temps (les suivantes attendent)",
    ),
    (
        "http_trusted_proxy_header",
        "ESCALE_HTTP_TRUSTED_PROXY_HEADER",
        "(aucun : adresse de la connexion)",
        "en-tête donnant l'adresse du client derrière un proxy inverse, ex. X-Forwarded-For",
    ),
    (
        "http_trusted_proxies",
        "ESCALE_HTTP_TRUSTED_PROXIES",
        "127.0.0.1,::1",
        "adresses des proxys inverses dont cet en-tête est cru (séparées par des virgules)",
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
        "sandbox_public",
        "ESCALE_SANDBOX_PUBLIC",
        "false",
        "autorise le bac à sable sur une adresse non locale (démonstration sur le réseau)",
    ),
    (
        "documents_dir",
        "ESCALE_DOCUMENTS_DIR",
        "(dans la base)",
        "PostgreSQL seulement : répertoire où garder le contenu des documents (PDF) au lieu de la base",
    ),
    (
        "search_memory_mb",
        "ESCALE_SEARCH_MEMORY_MB",
        "48",
        "mémoire (Mio) que la recherche de l'accueil peut garder pour les grandes structures (0 : aucune)",
    ),
    (
        "max_body_bytes",
        "ESCALE_MAX_BODY_BYTES",
        "262144",
        "taille maximale d'un formulaire envoyé",
    ),
    (
        "jobs_lease_seconds",
        "ESCALE_JOBS_LEASE_SECONDS",
        "60",
        "un travail de fond dont le processus s'est arrêté est repris après ce délai",
    ),
    (
        "admin_secret_key",
        "ESCALE_ADMIN_SECRET_KEY",
        "(générée dans data_dir/admin-secret.key)",
        "clé (32 octets en base64) qui chiffre les secrets TOTP des administrateurs en base",
    ),
    (
        "admin_login_summary_seconds",
        "ESCALE_ADMIN_LOGIN_SUMMARY_SECONDS",
        "600",
        "intervalle des résumés des connexions de secours refusées dans le journal de l'instance",
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
        "dmp_url",
        "ESCALE_DMP_URL",
        "(bac à sable local)",
        "adresse des services du DMP (mTLS), ex. https://lps2.dmp.gouv.fr/si-dmp-server/v2/services ; certificats de chaque structure dans data_dir/dmp/<FINESS>/ (auth.pem, auth.key, sign.pem, sign.key)",
    ),
    (
        "dmp_ca",
        "ESCALE_DMP_CA",
        "(aucune)",
        "fichier PEM des autorités de certification du DMP (obligatoire avec dmp_url)",
    ),
    (
        "dmp_timeout_seconds",
        "ESCALE_DMP_TIMEOUT_SECONDS",
        "20",
        "délai maximal d'un appel au DMP, en secondes",
    ),
    (
        "dmp_homologation",
        "ESCALE_DMP_HOMOLOGATION",
        "(aucun : bac à sable)",
        "numéro d'homologation DMP du logiciel (VIHF LPS_ID_HOMOLOGATION_DMP)",
    ),
    (
        "mss_domain",
        "ESCALE_MSS_DOMAIN",
        "(bac à sable local)",
        "domaine de messagerie de l'opérateur MSSanté de l'instance ; la boîte de chaque structure doit en être",
    ),
    (
        "mss_smtp_host",
        "ESCALE_MSS_SMTP_HOST",
        "(aucun)",
        "serveur de soumission SMTP de l'opérateur (STARTTLS, certificat de la boîte de la structure dans data_dir/mss/<FINESS>/bal.pem et bal.key)",
    ),
    (
        "mss_smtp_port",
        "ESCALE_MSS_SMTP_PORT",
        "587",
        "port de soumission SMTP",
    ),
    (
        "mss_imap_host",
        "ESCALE_MSS_IMAP_HOST",
        "(aucun)",
        "serveur IMAP de l'opérateur (STARTTLS)",
    ),
    ("mss_imap_port", "ESCALE_MSS_IMAP_PORT", "143", "port IMAP"),
    (
        "mss_ca",
        "ESCALE_MSS_CA",
        "(aucune)",
        "fichier PEM des autorités des serveurs de l'opérateur",
    ),
    (
        "mss_nil",
        "ESCALE_MSS_NIL",
        "(aucune : bac à sable)",
        "référence du logiciel (convergence.esante.gouv.fr) portée par chaque message (X-MSS-NIL) ; obligatoire en production avec MSSanté",
    ),
    (
        "mss_timeout_seconds",
        "ESCALE_MSS_TIMEOUT_SECONDS",
        "30",
        "délai maximal d'un échange avec l'opérateur MSSanté, en secondes",
    ),
    (
        "mss_undelivered_hours",
        "ESCALE_MSS_UNDELIVERED_HOURS",
        "24",
        "un message envoyé depuis ce nombre d'heures sans avis de remise est signalé sur la page Messagerie de la structure",
    ),
    (
        "mss_poll_seconds",
        "ESCALE_MSS_POLL_SECONDS",
        "60",
        "intervalle de relève de la boîte MSSanté de chaque structure (IMAP), en secondes",
    ),
    (
        "mss_scan_command",
        "ESCALE_MSS_SCAN_COMMAND",
        "(aucune)",
        "commande antivirus à laquelle chaque pièce jointe reçue est passée sur l'entrée standard avant d'être conservée (code de sortie 0 : saine), ex. clamdscan --no-summary -",
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
        "card_agent_key",
        "ESCALE_CARD_AGENT_KEY",
        "(générée dans data_dir en bac à sable, aucune sinon)",
        "clé partagée avec l'agent carte Vitale (au moins 32 caractères) ; sans elle, pas de lecture de carte",
    ),
    (
        "log",
        "ESCALE_LOG",
        "info",
        "niveau de journalisation technique (filtre tracing)",
    ),
];

/// The sections of the configuration; a flat key starting with `<section>_`
/// is `<section>.<rest>` in the typed configuration and in TOML.
pub const SECTIONS: [&str; 7] = ["http", "session", "insi", "dmp", "mss", "psc", "annuaire"];

/// `insi_url` → `insi.url`; `listen` → `listen`.
pub fn path_of(key: &str) -> String {
    for section in SECTIONS {
        if let Some(rest) = key.strip_prefix(section).and_then(|r| r.strip_prefix('_')) {
            return format!("{section}.{rest}");
        }
    }
    key.to_string()
}

/// `insi.url` → `insi_url`.
pub fn key_of(path: &str) -> String {
    path.replacen('.', "_", 1)
}

/// Secrets that may also come from a file named by `<VARIABLE>_FILE`
/// (container secrets): (flat key, variable).
pub const SECRET_FILES: [(&str, &str); 5] = [
    ("database_url", "DATABASE_URL"),
    ("psc_client_secret", "ESCALE_PSC_CLIENT_SECRET"),
    ("annuaire_api_key", "ESCALE_ANNUAIRE_API_KEY"),
    ("card_agent_key", "ESCALE_CARD_AGENT_KEY"),
    ("admin_secret_key", "ESCALE_ADMIN_SECRET_KEY"),
];
