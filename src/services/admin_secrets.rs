//! The instance administrators' TOTP secrets at rest (issue 11, finding 10):
//! sealed with AES-256-GCM (ring), bound to the login, under a key that is
//! not in the database — from the configuration (`admin_secret_key`, 32 bytes
//! in base64, or its `_FILE`), else made once in the data directory
//! (`admin-secret.key`, `0600`). A copy of the database alone gives no code.
//! Losing the key loses the secrets, not the instance: `escale admin
//! reset-credential` gives new ones.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::config::Config;

/// Sealed values start with this; anything else was stored before sealing.
const PREFIX: &str = "v1:";
/// The key made in the data directory when none is configured.
pub const KEY_FILE: &str = "admin-secret.key";

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "clé `admin_secret_key` (ESCALE_ADMIN_SECRET_KEY) : attendu 32 octets en base64, par exemple la sortie de « openssl rand -base64 32 »"
    )]
    BadKey,
    #[error("fichier de clé « {} » : {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "secret TOTP illisible avec la clé actuelle (clé changée ou perdue ?) : « escale admin reset-credential --login … » en donne un nouveau"
    )]
    Unreadable,
}

pub struct AdminSecrets {
    key: LessSafeKey,
}

impl fmt::Debug for AdminSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminSecrets(<masqué>)")
    }
}

impl AdminSecrets {
    /// A key given as base64 (standard alphabet) of 32 bytes.
    pub fn from_base64(text: &str) -> Result<AdminSecrets, SecretsError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| SecretsError::BadKey)?;
        if bytes.len() != 32 {
            return Err(SecretsError::BadKey);
        }
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| SecretsError::BadKey)?;
        Ok(AdminSecrets {
            key: LessSafeKey::new(key),
        })
    }

    /// The configured key, else the data directory's (made on first use).
    pub fn load(config: &Config) -> Result<AdminSecrets, SecretsError> {
        if let Some(text) = &config.admin_secret_key {
            return AdminSecrets::from_base64(text);
        }
        let path = config.data_dir.join(KEY_FILE);
        let file = |source| SecretsError::File {
            path: path.clone(),
            source,
        };
        if !path.exists() {
            make_key(&config.data_dir, &path).map_err(file)?;
        }
        AdminSecrets::from_base64(&std::fs::read_to_string(&path).map_err(file)?)
    }

    /// `secret` sealed for `login` (a sealed value moved to another login
    /// does not open).
    pub fn seal(&self, login: &str, secret: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the system's random generator");
        let mut sealed = secret.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(login.as_bytes()),
                &mut sealed,
            )
            .expect("sealing a short secret");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// The secret in clear; a value stored before sealing is returned as is.
    pub fn open(&self, login: &str, stored: &str) -> Result<String, SecretsError> {
        let Some(encoded) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_string());
        };
        let mut bytes = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| SecretsError::Unreadable)?;
        if bytes.len() <= NONCE_LEN {
            return Err(SecretsError::Unreadable);
        }
        let nonce = Nonce::try_assume_unique_for_key(&bytes[..NONCE_LEN])
            .map_err(|_| SecretsError::Unreadable)?;
        let clear = self
            .key
            .open_in_place(nonce, Aad::from(login.as_bytes()), &mut bytes[NONCE_LEN..])
            .map_err(|_| SecretsError::Unreadable)?;
        String::from_utf8(clear.to_vec()).map_err(|_| SecretsError::Unreadable)
    }

    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }
}

fn make_key(dir: &Path, path: &Path) -> std::io::Result<()> {
    let mut key = [0u8; 32];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| std::io::Error::other("générateur aléatoire indisponible"))?;
    crate::config::data_dir::create(dir)?;
    crate::config::data_dir::write_private(path, STANDARD.encode(key).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn sealed_secrets_open_for_their_login_and_key_only() {
        let secrets = AdminSecrets::from_base64(KEY).unwrap();
        let sealed = secrets.seal("admin.grades", "JBSWY3DPEHPK3PXP");
        assert!(AdminSecrets::is_sealed(&sealed));
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP"));
        assert_ne!(
            sealed,
            secrets.seal("admin.grades", "JBSWY3DPEHPK3PXP"),
            "fresh nonce"
        );
        assert_eq!(
            secrets.open("admin.grades", &sealed).unwrap(),
            "JBSWY3DPEHPK3PXP"
        );
        assert!(
            secrets.open("autre.admin", &sealed).is_err(),
            "bound to the login"
        );
        let other = AdminSecrets::from_base64(&STANDARD.encode([9u8; 32])).unwrap();
        assert!(other.open("admin.grades", &sealed).is_err(), "another key");
        let mut tampered = sealed.clone();
        tampered.pop();
        assert!(secrets.open("admin.grades", &tampered).is_err());
        // Stored before sealing: read as is.
        assert_eq!(
            secrets.open("x", "JBSWY3DPEHPK3PXP").unwrap(),
            "JBSWY3DPEHPK3PXP"
        );
        assert!(AdminSecrets::from_base64("trop court").is_err());
        assert!(!format!("{secrets:?}").contains(KEY));
    }

    #[test]
    fn the_data_directory_key_is_made_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().join("donnees"),
            ..Config::default()
        };
        let first = AdminSecrets::load(&config).unwrap();
        let sealed = first.seal("a", "secret");
        let again = AdminSecrets::load(&config).unwrap();
        assert_eq!(again.open("a", &sealed).unwrap(), "secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(config.data_dir.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
