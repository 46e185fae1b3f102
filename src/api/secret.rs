//! Client secrets at rest: salted PBKDF2-HMAC-SHA256 (ring), written as a
//! PHC-style string that carries its own parameters:
//!
//! ```text
//! $pbkdf2-sha256$i=600000$<salt, base64 without padding>$<hash, base64 without padding>
//! ```
//!
//! `brygga api hash-secret` makes one. The configuration holds only this
//! string; the secret itself is never stored or logged.

use std::num::NonZeroU32;

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use ring::pbkdf2;
use ring::rand::{SecureRandom, SystemRandom};

/// What `hash-secret` uses by default: OWASP's 2023 figure for
/// PBKDF2-HMAC-SHA256.
pub const DEFAULT_ITERATIONS: u32 = 600_000;
/// Fewer iterations are refused in configuration: a leaked configuration
/// file must not be cheap to brute-force.
pub const MIN_ITERATIONS: u32 = 100_000;
/// More would let a configuration make every token request a CPU burner.
pub const MAX_ITERATIONS: u32 = 10_000_000;
const SALT_BYTES: usize = 16;
const HASH_BYTES: usize = 32;
const PREFIX: &str = "$pbkdf2-sha256$";

/// A parsed secret hash.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash {
    iterations: NonZeroU32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretHash(pbkdf2-sha256, i={})", self.iterations)
    }
}

impl SecretHash {
    /// Hashes `secret` with a fresh random salt.
    pub fn new(secret: &str, iterations: u32) -> Result<SecretHash, String> {
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(format!("iterations must be {MIN_ITERATIONS} to {MAX_ITERATIONS}"));
        }
        let iterations = NonZeroU32::new(iterations).expect("checked above");
        let mut salt = vec![0u8; SALT_BYTES];
        SystemRandom::new().fill(&mut salt).map_err(|_| "no system randomness".to_owned())?;
        let mut hash = vec![0u8; HASH_BYTES];
        pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iterations, &salt, secret.as_bytes(), &mut hash);
        Ok(SecretHash { iterations, salt, hash })
    }

    /// Reads the PHC-style string.
    pub fn parse(text: &str) -> Result<SecretHash, String> {
        let rest = text
            .strip_prefix(PREFIX)
            .ok_or_else(|| format!("must start with {PREFIX} (make one with `brygga api hash-secret`)"))?;
        let parts: Vec<&str> = rest.split('$').collect();
        let [params, salt, hash] = parts.as_slice() else {
            return Err("must be $pbkdf2-sha256$i=<iterations>$<salt>$<hash>".to_owned());
        };
        let iterations: u32 = params
            .strip_prefix("i=")
            .and_then(|i| i.parse().ok())
            .ok_or_else(|| format!("parameters {params:?} must be i=<iterations>"))?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(format!("{iterations} iterations is outside {MIN_ITERATIONS}..={MAX_ITERATIONS}"));
        }
        let salt = STANDARD_NO_PAD.decode(salt).map_err(|_| "the salt is not base64 without padding".to_owned())?;
        let hash = STANDARD_NO_PAD.decode(hash).map_err(|_| "the hash is not base64 without padding".to_owned())?;
        if salt.len() < 8 {
            return Err("the salt must be at least 8 bytes".to_owned());
        }
        if hash.len() != HASH_BYTES {
            return Err(format!("the hash must be {HASH_BYTES} bytes"));
        }
        Ok(SecretHash { iterations: NonZeroU32::new(iterations).expect("checked above"), salt, hash })
    }

    /// True when `secret` is the one hashed; constant time in the
    /// comparison. Slow on purpose: call it off the async executor.
    pub fn verify(&self, secret: &str) -> bool {
        pbkdf2::verify(pbkdf2::PBKDF2_HMAC_SHA256, self.iterations, &self.salt, secret.as_bytes(), &self.hash).is_ok()
    }
}

impl std::fmt::Display for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PREFIX}i={}${}${}", self.iterations, STANDARD_NO_PAD.encode(&self.salt), STANDARD_NO_PAD.encode(&self.hash))
    }
}

/// A random secret for a new client: 32 bytes, URL-safe base64.
pub fn generate_secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).map_err(|_| "no system randomness".to_owned())?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_round_trips_and_verifies() {
        let h = SecretHash::new("s3cret", MIN_ITERATIONS).unwrap();
        let text = h.to_string();
        assert!(text.starts_with("$pbkdf2-sha256$i=100000$"), "{text}");
        let back = SecretHash::parse(&text).unwrap();
        assert_eq!(back, h);
        assert!(back.verify("s3cret"));
        assert!(!back.verify("s3cret "));
        assert!(!format!("{back:?}").contains(&text[24..]));
    }

    #[test]
    fn bad_hashes_are_refused_with_a_reason() {
        for bad in ["", "plain", "$pbkdf2-sha256$i=10$AAAAAAAAAAA$AAAA", "$pbkdf2-sha256$i=100000$!!$AAAA", "$argon2id$v=19$x"] {
            assert!(SecretHash::parse(bad).is_err(), "{bad}");
        }
    }
}
