//! The session token that the Escale page hands to the agent (issue 11,
//! finding 8): Escale and the agent share a secret key; for each logged-in
//! session Escale embeds a short-lived token in the page, which sends it in
//! [`HEADER`]; the agent reads the card only for a token it can verify. A
//! local process or another account of a shared workstation can forge an
//! `Origin` header, not this token.
//!
//! Format: `v1.<expiry>.<session>.<mac>`, where `expiry` is a Unix time in
//! seconds, `session` a non-secret tag of the Escale session (the first 16
//! bytes of the SHA-256 of what binds it, base64url) and `mac` the
//! HMAC-SHA256, base64url, of `escale-agent/jeton/v1.<expiry>.<session>` under
//! the shared key. Both ends live here, so they cannot drift apart.
//!
//! Neither the key nor a token is ever logged: [`SharedKey`] redacts itself in
//! `Debug` and the errors never quote what they were given.

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The request header carrying the token.
pub const HEADER: &str = "x-escale-jeton";

/// A key shorter than this is refused (32 characters: `openssl rand -base64 32`
/// gives 44).
pub const MIN_KEY_CHARS: usize = 32;

const VERSION: &str = "v1";
const DOMAIN: &str = "escale-agent/jeton/";
/// Bytes of the session tag (128 bits: distinct per session, not a secret).
const TAG_BYTES: usize = 16;

/// The secret shared by Escale (`card_agent_key`) and the agent (`--key-file`).
#[derive(Clone)]
pub struct SharedKey(Vec<u8>);

impl fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedKey(***)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error(
        "clé partagée trop courte : au moins {MIN_KEY_CHARS} caractères (par exemple la sortie de « openssl rand -base64 32 »)"
    )]
    TooShort,
    #[error("clé partagée invalide : caractères ASCII visibles seulement, sans espace")]
    NotPrintable,
    /// The caller names the file.
    #[error("fichier illisible : {0}")]
    Unreadable(String),
}

impl SharedKey {
    /// The key as written in the configuration or its file (a final newline
    /// is dropped; anything else must be visible ASCII).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim_end_matches(['\r', '\n']);
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(KeyError::NotPrintable);
        }
        if text.len() < MIN_KEY_CHARS {
            return Err(KeyError::TooShort);
        }
        Ok(SharedKey(text.as_bytes().to_vec()))
    }

    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| KeyError::Unreadable(e.to_string()))?;
        Self::parse(&text)
    }

    /// A new token for the session bound by `session` (Escale passes a value
    /// that identifies the session without being its cookie), valid until
    /// `expires_at` (Unix seconds).
    pub fn issue(&self, session: &[u8], expires_at: i64) -> String {
        let digest = Sha256::new()
            .chain_update(b"escale-agent/session\0")
            .chain_update(session)
            .finalize();
        let tag = URL_SAFE_NO_PAD.encode(&digest[..TAG_BYTES]);
        let signed = format!("{VERSION}.{expires_at}.{tag}");
        let mac = URL_SAFE_NO_PAD.encode(self.mac(&signed).finalize().into_bytes());
        format!("{signed}.{mac}")
    }

    /// Checks the token's MAC (in constant time) and expiry against `now`
    /// (Unix seconds); returns the session tag.
    pub fn verify(&self, token: &str, now: i64) -> Result<SessionTag, TokenError> {
        let (signed, mac) = token.rsplit_once('.').ok_or(TokenError::Invalid)?;
        let mut parts = signed.split('.');
        let (Some(VERSION), Some(expiry), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Invalid);
        };
        let mac = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| TokenError::Invalid)?;
        self.mac(signed)
            .verify_slice(&mac)
            .map_err(|_| TokenError::Invalid)?;
        let expiry: i64 = expiry.parse().map_err(|_| TokenError::Invalid)?;
        if expiry <= now {
            return Err(TokenError::Expired);
        }
        Ok(SessionTag(tag.to_string()))
    }

    fn mac(&self, signed: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(DOMAIN.as_bytes());
        mac.update(signed.as_bytes());
        mac
    }
}

/// The non-secret tag of the Escale session a verified token was issued for
/// (logged with each read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTag(pub String);

impl fmt::Display for SessionTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Malformed, or not made with the shared key.
    #[error("jeton de session invalide")]
    Invalid,
    #[error("jeton de session expiré")]
    Expired,
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "0123456789abcdefghijklmnopqrstuvwxyzABCD";

    #[test]
    fn a_token_verifies_until_it_expires() {
        let key = SharedKey::parse(TEXT).unwrap();
        let token = key.issue(b"session-a", 1_000);
        assert!(token.starts_with("v1.1000."), "{token}");
        let tag = key.verify(&token, 999).unwrap();
        assert_eq!(tag, key.verify(&key.issue(b"session-a", 2_000), 0).unwrap());
        assert_ne!(tag, key.verify(&key.issue(b"session-b", 2_000), 0).unwrap());
        assert_eq!(key.verify(&token, 1_000), Err(TokenError::Expired));
    }

    #[test]
    fn forged_tokens_are_invalid() {
        let key = SharedKey::parse(TEXT).unwrap();
        let other = SharedKey::parse(&format!("{TEXT}x")).unwrap();
        let token = key.issue(b"s", 5_000);
        assert_eq!(other.verify(&token, 0), Err(TokenError::Invalid));
        // A later expiry under the same MAC.
        let stretched = token.replacen("v1.5000.", "v1.9000.", 1);
        assert_eq!(key.verify(&stretched, 0), Err(TokenError::Invalid));
        for bad in [
            "",
            "v1",
            "v1.5000.tag",
            "v2.5000.tag.mac",
            "v1.5000.tag.extra.mac",
        ] {
            assert_eq!(key.verify(bad, 0), Err(TokenError::Invalid), "{bad}");
        }
        let mut truncated = token.clone();
        truncated.pop();
        assert_eq!(key.verify(&truncated, 0), Err(TokenError::Invalid));
    }

    #[test]
    fn keys_are_long_visible_and_never_shown() {
        assert_eq!(SharedKey::parse("court").unwrap_err(), KeyError::TooShort);
        assert_eq!(
            SharedKey::parse(&format!("{TEXT} espace")).unwrap_err(),
            KeyError::NotPrintable
        );
        let key = SharedKey::parse(&format!("{TEXT}\n")).unwrap();
        let token = SharedKey::parse(TEXT).unwrap().issue(b"s", 10);
        assert!(key.verify(&token, 0).is_ok());
        assert!(!format!("{key:?}").contains("0123"));
    }
}
