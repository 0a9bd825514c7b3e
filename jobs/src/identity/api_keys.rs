//! API keys: `mkp_` + 256 random bits, shown once; only a SHA-256 hash is stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The prefix every key starts with, so leaked keys are easy to grep for.
pub const KEY_PREFIX: &str = "mkp_";

/// A freshly generated key: the plaintext (returned to the user once), its display prefix and hash.
pub struct NewKey {
    pub plaintext: String,
    pub prefix: String,
    pub hash: String,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Generates a new key.
pub fn generate() -> NewKey {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let plaintext = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw));
    NewKey {
        prefix: plaintext[..KEY_PREFIX.len() + 6].to_owned(),
        hash: hash(&plaintext),
        plaintext,
    }
}

/// The stored form of a key. A fast hash is right here: the key has 256 bits of entropy, so
/// there is nothing to brute-force (unlike passwords).
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_hashed() {
        let a = generate();
        let b = generate();
        assert!(a.plaintext.starts_with("mkp_"));
        assert_eq!(a.plaintext.len(), 4 + 43, "256 bits in unpadded base64url");
        assert_ne!(a.plaintext, b.plaintext);
        assert_eq!(a.hash, hash(&a.plaintext));
        assert!(!a.hash.contains(&a.plaintext[4..]));
        assert!(a.plaintext.starts_with(&a.prefix));
    }
}
