//! The instance administrator (GRADeS): the one-time bootstrap of the first
//! administrator, the break-glass login (local password + TOTP, for instance
//! administration only, never for user files), and what that administration
//! does: create structures, designate each structure's director.

use crate::services::audit::instance_event;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Utc};
use rand::{Rng, RngCore};
use std::net::IpAddr;
use std::sync::OnceLock;
use uuid::Uuid;

use crate::domain::audit::AuditAction;
use crate::domain::identifiers::NationalId;
use crate::domain::login_guard::{Admission, GuardRules, LoginGuard};
use crate::domain::roles::Role;
use crate::domain::structure::{Finess, StructureKind};
use crate::domain::text;
use crate::domain::totp::TotpSecret;
use crate::services::admin_secrets::AdminSecrets;
use crate::store::access::AdminCredential;
use crate::store::{AuditChain, NewProfessional, NewStructure, Store, StoreError, Structure};

/// An administration session ends after this long, whatever happens.
pub const SESSION_MINUTES: i64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(
        "un administrateur de l'instance existe déjà : « escale admin bootstrap » ne sert qu'une fois. Un administrateur existant gère la suite."
    )]
    AlreadyBootstrapped,
    #[error("aucun administrateur de l'instance n'a l'identifiant « {0} »")]
    UnknownLogin(String),
    #[error("{field} : {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("Identifiant, mot de passe ou code à usage unique incorrect.")]
    BadCredentials,
    #[error(
        "Trop d'essais infructueux : la connexion de secours est bloquée jusqu'à {} (heure UTC). Réessayez ensuite.",
        .until.format("%H:%M")
    )]
    Locked { until: DateTime<Utc> },
    #[error(
        "Trop de tentatives de connexion depuis votre adresse ou sur l'instance : réessayez dans {retry_after_seconds} secondes."
    )]
    Throttled { retry_after_seconds: i64 },
    #[error("Le service vérifie déjà d'autres connexions : réessayez dans quelques secondes.")]
    Busy,
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("hachage du mot de passe : {0}")]
    Hash(String),
}

impl AdminError {
    /// For the answers that ask to come back later: after how many seconds.
    pub fn retry_after_seconds(&self) -> Option<i64> {
        match self {
            AdminError::Throttled {
                retry_after_seconds,
            } => Some(*retry_after_seconds),
            AdminError::Busy => Some(5),
            _ => None,
        }
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> AdminError {
    AdminError::Invalid {
        field,
        message: message.into(),
    }
}

/// What `escale admin bootstrap` asks for.
#[derive(Debug, Clone, Default)]
pub struct BootstrapRequest {
    pub first_name: String,
    pub last_name: String,
    pub login: String,
    /// Shown in the authenticator app (« Escale (escale.grades.fr) »).
    pub issuer: String,
}

/// Shown once, never stored in clear (the password) or printed again.
pub struct Bootstrapped {
    pub professional_id: Uuid,
    pub display_name: String,
    pub login: String,
    pub password: String,
    pub totp_secret: String,
    pub otpauth_uri: String,
}

impl std::fmt::Debug for Bootstrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bootstrapped")
            .field("login", &self.login)
            .finish_non_exhaustive()
    }
}

/// Creates the first instance administrator and their credential; refused
/// once any administrator credential exists.
pub async fn bootstrap(
    store: &dyn Store,
    secrets: &AdminSecrets,
    req: &BootstrapRequest,
) -> Result<Bootstrapped, AdminError> {
    if store.admin_credentials_count().await? > 0 {
        return Err(AdminError::AlreadyBootstrapped);
    }
    create_administrator(store, secrets, req, "ligne de commande").await
}

/// Another instance administrator, added by one already there (a second
/// person for the break-glass login); the secrets are shown once to hand over.
pub async fn add_administrator(
    store: &dyn Store,
    secrets: &AdminSecrets,
    req: &BootstrapRequest,
    actor: &str,
) -> Result<Bootstrapped, AdminError> {
    create_administrator(store, secrets, req, actor).await
}

async fn create_administrator(
    store: &dyn Store,
    secrets: &AdminSecrets,
    req: &BootstrapRequest,
    actor: &str,
) -> Result<Bootstrapped, AdminError> {
    let first =
        text::single_line(&req.first_name, 100).map_err(|e| invalid("prénom", e.to_string()))?;
    let last = text::single_line(&req.last_name, 100).map_err(|e| invalid("nom", e.to_string()))?;
    let login = req.login.trim().to_lowercase();
    if login.len() < 3
        || login.len() > 64
        || !login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'@'))
    {
        return Err(invalid(
            "identifiant",
            "de 3 à 64 caractères : lettres, chiffres, . - _ @",
        ));
    }
    let taken = || invalid("identifiant", format!("« {login} » est déjà pris"));
    if store.admin_login_taken(&login).await? {
        return Err(taken());
    }
    let fresh = Fresh::generate()?;
    let professional = NewProfessional {
        first_name: first,
        last_name: last,
        national_id: None,
        profession: "Administrateur de l'instance".into(),
        instance_admin: true,
    };
    let credential = AdminCredential {
        professional_id: Uuid::nil(),
        login: login.clone(),
        password_hash: fresh.password_hash.clone(),
        totp_secret: secrets.seal(&login, &fresh.totp.to_base32()),
        last_totp_step: 0,
    };
    let display_name = format!("{} {}", professional.first_name, professional.last_name);
    let entry = instance_event(
        AuditChain::Instance,
        actor,
        AuditAction::AdminCreated,
        format!(
            "administrateur de l'instance {display_name} (identifiant {login}), connexion de secours mot de passe + TOTP"
        ),
    );
    let id = match store
        .create_administrator(&professional, &credential, &[entry])
        .await
    {
        Err(StoreError::Conflict(_)) => return Err(taken()),
        r => r?,
    };
    Ok(fresh.shown(id, display_name, login, &req.issuer))
}

/// The name an authenticator app shows: « Escale (host of the public URL) ».
pub fn totp_issuer(public_url: Option<&str>) -> String {
    let host = public_url
        .and_then(|u| u.split_once("://"))
        .and_then(|(_, rest)| rest.split(['/', '?', '#', ':']).next())
        .filter(|h| !h.is_empty());
    match host {
        Some(host) => format!("Escale ({host})"),
        None => "Escale".to_string(),
    }
}

/// The demo instance administrator (sandbox only: demo data never exists in
/// production), so that the break-glass login can be tried. Its secrets are
/// public, shown on the sandbox login page.
pub const SANDBOX_LOGIN: &str = "admin.demo";
pub const SANDBOX_PASSWORD: &str = "bac-a-sable-admin";
pub const SANDBOX_TOTP_SECRET: &str = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU";

pub async fn create_sandbox_administrator(store: &dyn Store) -> Result<Uuid, StoreError> {
    let hash = hash_password(SANDBOX_PASSWORD)
        .map_err(|e| StoreError::Conflict(format!("mot de passe de démonstration : {e}")))?;
    store
        .create_administrator(
            &NewProfessional {
                first_name: "Admin".into(),
                last_name: "GRADeS".into(),
                national_id: None,
                profession: "Administrateur de l'instance".into(),
                instance_admin: true,
            },
            &AdminCredential {
                professional_id: Uuid::nil(),
                login: SANDBOX_LOGIN.into(),
                password_hash: hash,
                totp_secret: SANDBOX_TOTP_SECRET.into(),
                last_totp_step: 0,
            },
            &[instance_event(
                AuditChain::Instance,
                "données de démonstration",
                AuditAction::AdminCreated,
                format!("administrateur de démonstration (identifiant {SANDBOX_LOGIN})"),
            )],
        )
        .await
}

/// The sandbox administrator's current code, shown on the sandbox login page.
pub fn sandbox_code_now(now: DateTime<Utc>) -> String {
    TotpSecret::from_base32(SANDBOX_TOTP_SECRET)
        .expect("valid demo secret")
        .code_at_step(
            now.timestamp()
                .div_euclid(crate::domain::totp::STEP_SECONDS),
            crate::domain::totp::DIGITS,
        )
}

/// A new password and TOTP secret.
struct Fresh {
    password: String,
    password_hash: String,
    totp: TotpSecret,
}

impl Fresh {
    fn generate() -> Result<Fresh, AdminError> {
        let password = generate_password();
        let password_hash = hash_password(&password)?;
        let mut secret = [0u8; 20];
        rand::rng().fill_bytes(&mut secret);
        Ok(Fresh {
            password,
            password_hash,
            totp: TotpSecret::from_bytes(&secret).expect("20 bytes"),
        })
    }

    fn shown(
        self,
        professional_id: Uuid,
        display_name: String,
        login: String,
        issuer: &str,
    ) -> Bootstrapped {
        Bootstrapped {
            professional_id,
            display_name,
            otpauth_uri: self.totp.otpauth_uri(issuer, &login),
            login,
            password: self.password,
            totp_secret: self.totp.to_base32(),
        }
    }
}

/// A lost phone or password: new password and TOTP secret for an existing
/// administrator (from the server's command line, like the bootstrap); the
/// lock is lifted and their open administration sessions end.
pub async fn reset_credential(
    store: &dyn Store,
    secrets: &AdminSecrets,
    login: &str,
    issuer: &str,
) -> Result<Bootstrapped, AdminError> {
    let login = login.trim().to_lowercase();
    let c = store
        .admin_credential(&login)
        .await?
        .ok_or_else(|| AdminError::UnknownLogin(login.clone()))?;
    let p = store
        .get_professional(c.professional_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let fresh = Fresh::generate()?;
    let entry = instance_event(
        AuditChain::Instance,
        "ligne de commande",
        AuditAction::AdminReset,
        format!(
            "nouveau mot de passe et nouveau secret TOTP pour {} (identifiant {login}) ; ses sessions d'administration sont fermées",
            p.display_name()
        ),
    );
    if !store
        .reset_admin_credential(
            &login,
            &fresh.password_hash,
            &secrets.seal(&login, &fresh.totp.to_base32()),
            &[entry],
        )
        .await?
    {
        return Err(AdminError::UnknownLogin(login));
    }
    Ok(fresh.shown(p.id, p.display_name(), login, issuer))
}

/// 20 characters without look-alikes (no 0/o, 1/l/i), in groups of five:
/// about 99 bits, read aloud or typed without doubt.
fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..4)
        .map(|_| {
            (0..5)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn hash_password(password: &str) -> Result<String, AdminError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AdminError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AdminError::Hash(e.to_string()))
}

fn password_matches(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Verified for unknown logins too, so that the answer takes as long.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password(&generate_password()).expect("hashing a random password"))
}

/// A break-glass login attempt.
#[derive(Clone)]
pub struct LoginAttempt {
    pub login: String,
    pub password: String,
    pub code: String,
}

impl std::fmt::Debug for LoginAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginAttempt")
            .field("login", &self.login)
            .finish_non_exhaustive()
    }
}

/// The break-glass login's guard for this process (one, in the app state):
/// throttling, lock-outs, the counted summaries of refused attempts (see
/// `domain::login_guard`), and the turns of the Argon2id checks (each takes
/// ~19 MiB and a core for tens of milliseconds: beyond a few at once, a
/// login is told to retry instead of exhausting memory).
pub struct BreakGlassGuard {
    guard: std::sync::Mutex<LoginGuard>,
    hashing: tokio::sync::Semaphore,
    /// Opens the TOTP secrets the database keeps sealed.
    secrets: std::sync::Arc<AdminSecrets>,
}

impl BreakGlassGuard {
    pub fn new(rules: GuardRules, secrets: std::sync::Arc<AdminSecrets>) -> Self {
        BreakGlassGuard {
            hashing: tokio::sync::Semaphore::new(rules.hashing_permits),
            guard: std::sync::Mutex::new(LoginGuard::new(rules, Utc::now())),
            secrets,
        }
    }

    /// The key new administrators' secrets are sealed with.
    pub fn secrets(&self) -> &AdminSecrets {
        &self.secrets
    }

    fn with<T>(&self, f: impl FnOnce(&mut LoginGuard) -> T) -> T {
        // A panic while holding it leaves counters, never a broken invariant.
        f(&mut self.guard.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Writes the summary of refused attempts when one is due.
    pub async fn journal_summary(
        &self,
        store: &dyn Store,
        now: DateTime<Utc>,
    ) -> Result<(), AdminError> {
        if let Some(summary) = self.with(|g| g.summary_due(now)) {
            journal(store, &summary).await?;
        }
        Ok(())
    }
}

/// Seals the TOTP secrets stored before sealing existed (and the sandbox
/// administrator's, written in clear by the demo data); returns how many.
pub async fn seal_clear_secrets(
    store: &dyn Store,
    secrets: &AdminSecrets,
) -> Result<usize, StoreError> {
    store
        .seal_admin_secrets(&|login, stored| {
            (!AdminSecrets::is_sealed(stored)).then(|| secrets.seal(login, stored))
        })
        .await
}

/// The break-glass login from `from` (the client's address): throttled,
/// locked per (login, address) whether the login exists or not, a bounded
/// number of Argon2 checks at once, and failures journaled as summaries.
pub async fn check_login(
    store: &dyn Store,
    guard: &BreakGlassGuard,
    attempt: LoginAttempt,
    from: IpAddr,
    now: DateTime<Utc>,
) -> Result<Uuid, AdminError> {
    let login = attempt.login.trim().to_lowercase();
    guard.journal_summary(store, now).await?;
    match guard.with(|g| g.admit(&login, from, now)) {
        Admission::Go => {}
        Admission::Throttled { retry_after } => {
            return Err(AdminError::Throttled {
                retry_after_seconds: retry_after.num_seconds().max(1),
            });
        }
        // No hash is checked while locked, for a known or an unknown login alike.
        Admission::Locked { until } => return Err(AdminError::Locked { until }),
    }
    let Ok(_turn) = guard.hashing.try_acquire() else {
        return Err(AdminError::Busy);
    };
    let credential = store.admin_credential(&login).await?;
    // An unknown login costs the same check (a decoy hash) and answers the same.
    let hash = credential
        .as_ref()
        .map_or_else(|| decoy_hash().to_string(), |c| c.password_hash.clone());
    let password_ok =
        tokio::task::spawn_blocking(move || password_matches(&attempt.password, &hash))
            .await
            .unwrap_or(false);
    if let Some(c) = &credential {
        // A secret the key does not open counts as a failed code.
        let step = guard
            .secrets
            .open(&login, &c.totp_secret)
            .ok()
            .and_then(|s| TotpSecret::from_base32(&s).ok())
            .and_then(|s| s.verify(&attempt.code, now.timestamp(), c.last_totp_step));
        if let (true, Some(step)) = (password_ok, step)
            && store.admin_login_succeeded(c.professional_id, step).await?
        {
            guard.with(|g| g.succeeded(&login, from));
            crate::services::audit::record_instance(
                store,
                AuditChain::Instance,
                &login,
                AuditAction::AdminLogin,
                "connexion de secours (mot de passe + TOTP)",
            )
            .await?;
            return Ok(c.professional_id);
        }
    }
    match guard.with(|g| g.failed(&login, from, credential.is_some(), now)) {
        Some(until) => Err(AdminError::Locked { until }),
        None => Err(AdminError::BadCredentials),
    }
}

async fn journal(store: &dyn Store, details: &str) -> Result<(), AdminError> {
    crate::services::audit::record_instance(
        store,
        AuditChain::Instance,
        "connexion de secours",
        AuditAction::AdminLoginRefused,
        details,
    )
    .await?;
    Ok(())
}

/// A new structure as typed in a form or on the command line.
#[derive(Debug, Clone, Default)]
pub struct StructureRequest {
    pub name: String,
    pub kind: String,
    pub finess_geo: String,
    pub finess_juridique: String,
}

/// The structure, and warnings to show (a FINESS whose key does not match).
pub struct CreatedStructure {
    pub structure: Structure,
    pub warnings: Vec<String>,
}

/// Checks every field (all errors at once), creates the structure, journals it
/// on the instance chain and on the new structure's own chain.
pub async fn create_structure(
    store: &dyn Store,
    req: &StructureRequest,
    actor: &str,
) -> Result<CreatedStructure, Vec<AdminError>> {
    let mut errors = Vec::new();
    let name = text::single_line(&req.name, 200)
        .map_err(|e| errors.push(invalid("nom", e.to_string())))
        .ok();
    let kind = req
        .kind
        .parse::<StructureKind>()
        .map_err(|e| errors.push(invalid("type", e.to_string())))
        .ok();
    let geo = Finess::parse(&req.finess_geo)
        .map_err(|e| errors.push(invalid("FINESS géographique", e.to_string())))
        .ok();
    let jur = Finess::parse(&req.finess_juridique)
        .map_err(|e| errors.push(invalid("FINESS juridique", e.to_string())))
        .ok();
    let (Some(name), Some(kind), Some(geo), Some(jur)) = (name, kind, geo, jur) else {
        return Err(errors);
    };
    let warnings = [("géographique", &geo), ("juridique", &jur)]
        .into_iter()
        .filter(|(_, f)| f.key_matches() == Some(false))
        .map(|(what, f)| {
            format!("la clé du FINESS {what} {f} ne correspond pas ; vérifiez le numéro")
        })
        .collect();
    // The instance's journal and the new structure's own, from its first entry.
    let journal = |s: &Structure| {
        vec![
            instance_event(
                AuditChain::Instance,
                actor,
                AuditAction::StructureCreated,
                format!("{} ({})", s.name, s.finess_geo),
            ),
            instance_event(
                AuditChain::Structure(s.id),
                actor,
                AuditAction::StructureCreated,
                s.name.clone(),
            ),
        ]
    };
    let structure = store
        .create_structure(
            &NewStructure {
                name,
                kind,
                finess_geo: geo.to_string(),
                finess_juridique: jur.to_string(),
            },
            &journal,
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => vec![invalid(
                "FINESS géographique",
                format!("une structure de l'instance a déjà le FINESS {geo}"),
            )],
            e => vec![e.into()],
        })?;
    Ok(CreatedStructure {
        structure,
        warnings,
    })
}

/// A director designated by the instance administrator.
#[derive(Debug, Clone, Default)]
pub struct DirectorRequest {
    pub national_id: String,
    /// Needed only when the Annuaire does not know the number.
    pub first_name: String,
    pub last_name: String,
}

/// Gives the director role in `structure` to the professional with this
/// national id: already known here, or found in the Annuaire, or else
/// created from the names typed (RPPS+ registration pending in the Annuaire).
/// Returns their name and a warning (RPPS key).
pub async fn designate_director(
    store: &dyn Store,
    directory: &crate::services::annuaire::DirectoryService,
    structure: &Structure,
    req: &DirectorRequest,
    actor: &str,
) -> Result<(String, Option<String>), AdminError> {
    let id = NationalId::parse(&req.national_id)
        .map_err(|e| invalid("identifiant national", e.to_string()))?;
    let warning = id.key_warning().map(str::to_string);
    let id_nat = id.id_nat_ps();
    let professional = match store.find_professional_by_national_id(&id_nat).await? {
        Some(p) => p,
        None => {
            let found = directory.person(store, &id_nat).await.ok().flatten();
            let (first, last, profession) = match found {
                Some(p) => {
                    let profession = p.headline();
                    (p.first_name, p.last_name, profession)
                }
                None => {
                    if req.first_name.trim().is_empty() || req.last_name.trim().is_empty() {
                        return Err(invalid(
                            "nom",
                            "ce numéro n'a pas été trouvé dans l'Annuaire Santé : saisissez le prénom et le nom du directeur ou de la directrice",
                        ));
                    }
                    (
                        req.first_name.clone(),
                        req.last_name.clone(),
                        "Directeur·rice".to_string(),
                    )
                }
            };
            let journal = |p: &crate::store::Professional| {
                vec![instance_event(
                    AuditChain::Instance,
                    actor,
                    AuditAction::ProfessionalCreated,
                    format!("{} ({})", p.display_name(), id.label()),
                )]
            };
            store
                .create_professional(
                    &NewProfessional {
                        first_name: text::single_line(&first, 100)
                            .map_err(|e| invalid("prénom", e.to_string()))?,
                        last_name: text::single_line(&last, 100)
                            .map_err(|e| invalid("nom", e.to_string()))?,
                        national_id: Some(id_nat.clone()),
                        profession: text::single_line(&profession, 100)
                            .unwrap_or_else(|_| "Directeur·rice".into()),
                        instance_admin: false,
                    },
                    &journal,
                )
                .await?
        }
    };
    let journal = [AuditChain::Instance, AuditChain::Structure(structure.id)].map(|chain| {
        instance_event(
            chain,
            actor,
            AuditAction::RoleGranted,
            format!(
                "{} désigné·e directeur·rice de {} ({})",
                professional.display_name(),
                structure.name,
                structure.finess_geo
            ),
        )
    });
    store
        .grant_role(structure.id, professional.id, Role::Directeur, &journal)
        .await?;
    Ok((professional.display_name(), warning))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_names_the_instance() {
        assert_eq!(
            totp_issuer(Some("https://escale.grades.fr/")),
            "Escale (escale.grades.fr)"
        );
        assert_eq!(
            totp_issuer(Some("https://escale.grades.fr")),
            "Escale (escale.grades.fr)"
        );
        assert_eq!(totp_issuer(None), "Escale");
        // No colon: apps split the label « issuer:account » at the first one.
        assert_eq!(
            totp_issuer(Some("https://escale.test:8443/")),
            "Escale (escale.test)"
        );
        assert_eq!(totp_issuer(Some("pas une url")), "Escale");
    }

    #[test]
    fn passwords_are_long_unambiguous_and_verify() {
        let p = generate_password();
        assert_eq!(p.len(), 23);
        assert!(!p.contains(['0', 'o', '1', 'l', 'i']), "{p}");
        assert_ne!(p, generate_password());
        let h = hash_password(&p).unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(password_matches(&p, &h));
        assert!(!password_matches("autre", &h));
        assert!(!password_matches(&p, "pas un hachage"));
    }
}
