//! Time-based one-time passwords (RFC 6238 over RFC 4226, HMAC-SHA1, 30 s
//! steps, 6 digits): the second factor of the instance administrator's
//! break-glass login. Every authenticator application reads the
//! `otpauth://` URI these defaults describe.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use super::text::constant_time_eq;

/// Seconds per step (RFC 6238 default, what authenticator apps use).
pub const STEP_SECONDS: i64 = 30;
pub const DIGITS: u32 = 6;
/// A code from the step before or after is accepted (clock drift, RFC 6238 §5.2).
const DRIFT_STEPS: i64 = 1;

/// A shared secret (20 bytes, the HMAC-SHA1 block recommended by RFC 4226 §4).
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(…)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret TOTP illisible (base32 attendu, au moins 16 octets)")]
pub struct BadSecret;

impl TotpSecret {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BadSecret> {
        if bytes.len() < 16 {
            return Err(BadSecret);
        }
        Ok(TotpSecret(bytes.to_vec()))
    }

    /// Base32 (RFC 4648), as typed into an authenticator app; spaces,
    /// padding and lower case are tolerated.
    pub fn from_base32(s: &str) -> Result<Self, BadSecret> {
        let cleaned: String = s
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '=')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let bytes = data_encoding::BASE32_NOPAD
            .decode(cleaned.as_bytes())
            .map_err(|_| BadSecret)?;
        Self::from_bytes(&bytes)
    }

    pub fn to_base32(&self) -> String {
        data_encoding::BASE32_NOPAD.encode(&self.0)
    }

    /// The code of a step (RFC 4226 §5.3 dynamic truncation).
    pub fn code_at_step(&self, step: i64, digits: u32) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(&step.to_be_bytes());
        let h = mac.finalize().into_bytes();
        let offset = usize::from(h[h.len() - 1] & 0x0f);
        let bin = u32::from_be_bytes([
            h[offset] & 0x7f,
            h[offset + 1],
            h[offset + 2],
            h[offset + 3],
        ]);
        let value = bin % 10u32.pow(digits);
        format!("{value:0width$}", width = digits as usize)
    }

    /// Checks `code` at `unix_time`. Returns the step it matched, which must
    /// be later than `last_used_step`: a code is good once (RFC 6238 §5.2).
    pub fn verify(&self, code: &str, unix_time: i64, last_used_step: i64) -> Option<i64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let now = unix_time.div_euclid(STEP_SECONDS);
        (now - DRIFT_STEPS..=now + DRIFT_STEPS)
            .filter(|step| *step > last_used_step)
            .find(|step| constant_time_eq(&self.code_at_step(*step, DIGITS), &code))
    }

    /// The `otpauth://totp/` URI an authenticator app reads (Key Uri Format).
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let label = format!("{issuer}:{account}");
        format!(
            "otpauth://totp/{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            encode(&label),
            self.to_base32(),
            encode(issuer)
        )
    }
}

fn encode(s: &str) -> String {
    // Path and query use the same strict set here: everything but unreserved.
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890").unwrap()
    }

    /// RFC 6238 appendix B, SHA-1 column (8 digits).
    #[test]
    fn rfc6238_test_vectors() {
        let s = rfc_secret();
        for (time, code) in [
            (59_i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(s.code_at_step(time / STEP_SECONDS, 8), code, "T={time}");
        }
    }

    /// RFC 4226 appendix D: HOTP values for counters 0 to 9 (6 digits).
    #[test]
    fn rfc4226_test_vectors() {
        let s = rfc_secret();
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(s.code_at_step(counter as i64, 6), *code);
        }
    }

    #[test]
    fn verify_allows_one_step_of_drift_and_no_replay() {
        let s = rfc_secret();
        let t = 1_234_567_890;
        let step = t / STEP_SECONDS;
        let code = s.code_at_step(step, DIGITS);
        assert_eq!(s.verify(&code, t, 0), Some(step));
        assert_eq!(s.verify(&code, t + 30, 0), Some(step), "previous step");
        assert_eq!(s.verify(&code, t - 30, 0), Some(step), "next step");
        assert_eq!(s.verify(&code, t + 90, 0), None, "too old");
        // Once used, the same code (and any earlier one) is refused.
        assert_eq!(s.verify(&code, t, step), None);
        let next = s.code_at_step(step + 1, DIGITS);
        assert_eq!(s.verify(&next, t + 30, step), Some(step + 1));
        // Spaces as apps display them are fine; anything else is not.
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(s.verify(&spaced, t, 0), Some(step));
        for bad in ["", "12345", "1234567", "abcdef", "12345é"] {
            assert_eq!(s.verify(bad, t, 0), None, "{bad}");
        }
    }

    #[test]
    fn base32_round_trip_and_uri() {
        let s = rfc_secret();
        assert_eq!(s.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let lower = "gezd gnbv gy3t qojq gezd gnbv gy3t qojq";
        assert_eq!(TotpSecret::from_base32(lower).unwrap(), s);
        assert_eq!(
            TotpSecret::from_base32("GEZDGNBV"),
            Err(BadSecret),
            "too short"
        );
        assert_eq!(TotpSecret::from_base32("not base32!"), Err(BadSecret));
        assert_eq!(
            s.otpauth_uri("Escale (escale.example)", "admin@grades"),
            "otpauth://totp/Escale%20%28escale.example%29%3Aadmin%40grades?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Escale%20%28escale.example%29&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(format!("{s:?}"), "TotpSecret(…)", "never printed");
    }
}
