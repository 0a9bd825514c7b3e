//! The token vault: AES-256-GCM with a versioned key ring. The only place plaintext tokens and
//! data keys are made from what we store.
//!
//! Tokens ([`AccessToken`], [`RefreshToken`], in `tokens.rs`) are sealed and opened by account
//! id ([`Vault::seal_tokens`], [`Vault::open_access`], [`Vault::open_refresh`]); the vault turns
//! the id into the associated data itself. Video data keys use [`Vault::seal`]/[`Vault::open`]
//! with the media record.
//!
//! Stored form: `<key_id>:<bind>:<base64(nonce ‖ ciphertext ‖ tag)>`.
//! - `key_id` names the ring key that sealed it (`TOKEN_KEYS=v2:…,v1:…`, first is current), so
//!   old ciphertexts stay readable while `rotate-keys` re-encrypts them.
//! - The nonce is a fresh random 96-bit value per encryption.
//! - The record id (account id, media id) is bound as associated data, so a ciphertext copied to
//!   another row fails to open. `bind` is the first 8 hex digits of SHA-256 of that id: not a
//!   secret, it only lets us tell "belongs to another record" apart from "tampered" (GCM itself
//!   cannot tell the two apart).
//!
//! The body is plain AES-256-GCM: any implementation given the key, the nonce and the record id
//! opens it (a test does so with AWS-LC).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

mod tokens;

pub use tokens::{AccessToken, RefreshToken, tokens_sealed_with};

const NONCE_LEN: usize = 12;

/// Why a vault operation failed. Each case is distinct so operators can tell them apart.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    #[error("malformed key ring: {0}")]
    BadKeyRing(String),
    #[error("malformed ciphertext: {0}")]
    Malformed(&'static str),
    #[error(
        "ciphertext was sealed with key {0:?}, which is not in TOKEN_KEYS (retired or never known)"
    )]
    UnknownKey(String),
    #[error("ciphertext belongs to another record (associated data does not match)")]
    WrongRecord,
    #[error("ciphertext was tampered with or the key is wrong (authentication failed)")]
    Tampered,
}

/// One named 256-bit key; the key bytes are wiped when it is dropped.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
struct RingKey {
    #[zeroize(skip)]
    id: String,
    key: [u8; 32],
}

/// Plaintext the vault opened (a video's data key): wiped when dropped, never in `Debug`.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// The bytes themselves: grep for `expose` to audit every use.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[redacted {} bytes]", self.0.len())
    }
}

/// The versioned key ring; the first key is current (used to seal), all can open.
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<RingKey>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        write!(f, "KeyRing({ids:?}, keys [redacted])")
    }
}

impl KeyRing {
    /// Parses `v2:<base64 32 bytes>,v1:<base64 32 bytes>`.
    pub fn parse(spec: &str) -> Result<Self, VaultError> {
        let mut keys: Vec<RingKey> = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (id, b64) = part.split_once(':').ok_or_else(|| {
                VaultError::BadKeyRing(format!("entry {:?} is not <id>:<base64 key>", redact(part)))
            })?;
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(VaultError::BadKeyRing(format!(
                    "key id {id:?} must be letters, digits, '_' or '-'"
                )));
            }
            let raw = Zeroizing::new(
                B64.decode(b64.trim())
                    .map_err(|_| VaultError::BadKeyRing(format!("key {id}: not valid base64")))?,
            );
            let key: [u8; 32] = raw.as_slice().try_into().map_err(|_| {
                VaultError::BadKeyRing(format!("key {id}: {} bytes, need exactly 32", raw.len()))
            })?;
            if keys.iter().any(|k| k.id == id) {
                return Err(VaultError::BadKeyRing(format!("key id {id} appears twice")));
            }
            keys.push(RingKey {
                id: id.to_owned(),
                key,
            });
        }
        if keys.is_empty() {
            return Err(VaultError::BadKeyRing("no keys given".into()));
        }
        Ok(Self { keys })
    }

    /// Formats a fresh random key as a ring entry (for `.env` set-up and tests).
    pub fn generate_entry(id: &str) -> String {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut());
        format!("{id}:{}", B64.encode(key.as_ref()))
    }

    /// The id of the key new ciphertexts are sealed with.
    pub fn current_id(&self) -> &str {
        &self.keys[0].id
    }

    /// All key ids, current first.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    /// The same ring without `id` (what remains after retiring a leaked key).
    pub fn without(&self, id: &str) -> Self {
        Self {
            keys: self.keys.iter().filter(|k| k.id != id).cloned().collect(),
        }
    }

    fn find(&self, id: &str) -> Option<&RingKey> {
        self.keys.iter().find(|k| k.id == id)
    }
}

fn redact(s: &str) -> String {
    match s.split_once(':') {
        Some((id, _)) => format!("{id}:…"),
        None => "…".into(),
    }
}

fn bind_tag(record: &[u8]) -> String {
    hex::encode(&Sha256::digest(record)[..4])
}

/// Seals and opens secrets with the key ring.
#[derive(Clone, Debug)]
pub struct Vault {
    ring: KeyRing,
}

impl Vault {
    pub fn new(ring: KeyRing) -> Self {
        Self { ring }
    }

    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    /// Seals `plaintext` for the record `record` with the current key.
    pub fn seal(&self, plaintext: &[u8], record: &[u8]) -> String {
        let rk = &self.ring.keys[0];
        let cipher = cipher(rk);
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: record,
                },
            )
            .expect("AES-GCM encryption cannot fail for in-memory sizes");
        let mut body = Vec::with_capacity(NONCE_LEN + ct.len());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&ct);
        format!("{}:{}:{}", rk.id, bind_tag(record), B64.encode(body))
    }

    /// Opens a sealed value for `record`.
    pub fn open(&self, stored: &str, record: &[u8]) -> Result<SecretBytes, VaultError> {
        let (key_id, bind, body) = split_stored(stored)?;
        let rk = self
            .ring
            .find(key_id)
            .ok_or_else(|| VaultError::UnknownKey(key_id.to_owned()))?;
        if bind != bind_tag(record) {
            return Err(VaultError::WrongRecord);
        }
        let raw = B64
            .decode(body)
            .map_err(|_| VaultError::Malformed("body is not base64"))?;
        if raw.len() < NONCE_LEN + 16 {
            return Err(VaultError::Malformed("body too short"));
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| VaultError::Malformed("nonce"))?;
        cipher(rk)
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: record,
                },
            )
            .map(SecretBytes)
            .map_err(|_| VaultError::Tampered)
    }

    /// Opens UTF-8 text (a token), moved out of the opened bytes (not copied) so the only copy
    /// is the one the caller wraps in a type that wipes itself.
    fn open_text(&self, stored: &str, record: &[u8]) -> Result<String, VaultError> {
        let mut plain = self.open(stored, record)?;
        String::from_utf8(std::mem::take(&mut plain.0)).map_err(|e| {
            e.into_bytes().zeroize();
            VaultError::Malformed("token is not UTF-8")
        })
    }

    /// True when `stored` is sealed with a key other than the current one.
    pub fn needs_rotation(&self, stored: &str) -> bool {
        key_id_of(stored).is_some_and(|id| id != self.ring.current_id())
    }

    /// Re-seals with the current key (rotate-keys).
    pub fn reseal(&self, stored: &str, record: &[u8]) -> Result<String, VaultError> {
        let plain = self.open(stored, record)?;
        Ok(self.seal(plain.expose(), record))
    }
}

/// The AES-GCM cipher for a ring key, built from the key bytes in place (no stray copy of the
/// key on the stack).
fn cipher(rk: &RingKey) -> Aes256Gcm {
    Aes256Gcm::new_from_slice(&rk.key).expect("ring keys are 32 bytes")
}

/// The key id a stored value was sealed with.
pub fn key_id_of(stored: &str) -> Option<&str> {
    split_stored(stored).ok().map(|(id, _, _)| id)
}

fn split_stored(stored: &str) -> Result<(&str, &str, &str), VaultError> {
    let mut it = stored.splitn(3, ':');
    match (it.next(), it.next(), it.next()) {
        (Some(id), Some(bind), Some(body)) if !id.is_empty() && bind.len() == 8 => {
            Ok((id, bind, body))
        }
        _ => Err(VaultError::Malformed("expected <key_id>:<bind>:<base64>")),
    }
}

#[cfg(test)]
mod tests {
    use super::tokens::account_record;
    use super::*;
    use crate::model::{AccountId, EncryptedTokens};

    fn ring(spec: &str) -> Vault {
        Vault::new(KeyRing::parse(spec).unwrap())
    }

    fn sealed(v: &Vault, account: AccountId, access: &str, refresh: &str) -> EncryptedTokens {
        let now = chrono::Utc::now();
        v.seal_tokens(
            account,
            &AccessToken::new(access),
            &RefreshToken::new(refresh),
            now,
            now,
        )
    }

    #[test]
    fn seal_then_open_round_trips_and_nonces_are_fresh() {
        let v = ring(&KeyRing::generate_entry("v1"));
        let acct = AccountId::new();
        let a = sealed(&v, acct, "act.secret", "rft.secret");
        let b = sealed(&v, acct, "act.secret", "rft.secret");
        assert_ne!(
            a.access_token, b.access_token,
            "a fresh nonce per encryption"
        );
        assert!(a.access_token.starts_with("v1:"));
        assert!(!a.access_token.contains("act.secret"));
        assert!(!a.refresh_token.contains("rft.secret"));
        assert_eq!(v.open_access(acct, &a).unwrap().expose(), "act.secret");
        assert_eq!(v.open_refresh(acct, &a).unwrap().expose(), "rft.secret");
    }

    #[test]
    fn each_failure_has_its_own_error() {
        let v = ring(&KeyRing::generate_entry("v1"));
        let acct = AccountId::new();
        let tokens = sealed(&v, acct, "act.secret", "rft.secret");
        // copied to another row
        assert_eq!(
            v.open_access(AccountId::new(), &tokens),
            Err(VaultError::WrongRecord)
        );
        // a flipped bit in the body
        let (head, body) = tokens.access_token.rsplit_once(':').unwrap();
        let mut raw = B64.decode(body).unwrap();
        raw[NONCE_LEN + 1] ^= 1;
        let tampered = EncryptedTokens {
            access_token: format!("{head}:{}", B64.encode(raw)),
            ..tokens.clone()
        };
        assert_eq!(v.open_access(acct, &tampered), Err(VaultError::Tampered));
        // a key the ring does not have
        let other = ring(&KeyRing::generate_entry("v9"));
        assert_eq!(
            other.open_access(acct, &tokens),
            Err(VaultError::UnknownKey("v1".into()))
        );
        let garbage = EncryptedTokens {
            refresh_token: "garbage".into(),
            ..tokens
        };
        assert!(matches!(
            v.open_refresh(acct, &garbage),
            Err(VaultError::Malformed(_))
        ));
    }

    #[test]
    fn rotation_keeps_old_ciphertexts_readable_and_reseals_to_current() {
        let old = KeyRing::generate_entry("v1");
        let v1 = ring(&old);
        let acct = AccountId::new();
        let tokens = sealed(&v1, acct, "act.x", "rft.x");
        let v2 = ring(&format!("{},{old}", KeyRing::generate_entry("v2")));
        assert!(v2.needs_rotation(&tokens.refresh_token));
        assert!(v2.tokens_need_rotation(&tokens));
        assert!(tokens_sealed_with(&tokens, "v1"));
        assert_eq!(v2.open_refresh(acct, &tokens).unwrap().expose(), "rft.x");
        let resealed = v2.reseal_tokens(acct, &tokens).unwrap();
        assert_eq!(key_id_of(&resealed.refresh_token), Some("v2"));
        assert_eq!(key_id_of(&resealed.access_token), Some("v2"));
        assert!(!v2.tokens_need_rotation(&resealed));
        assert_eq!(resealed.access_expires_at, tokens.access_expires_at);
        let retired = Vault::new(v2.ring().without("v1"));
        assert_eq!(
            retired.open_refresh(acct, &resealed).unwrap().expose(),
            "rft.x"
        );
        assert!(matches!(
            retired.open_refresh(acct, &tokens),
            Err(VaultError::UnknownKey(_))
        ));
    }

    #[test]
    fn tokens_compare_by_value_without_exposing_them() {
        let v = ring(&KeyRing::generate_entry("v1"));
        let acct = AccountId::new();
        let first = sealed(&v, acct, "act.same", "rft.same");
        let again = sealed(&v, acct, "act.same", "rft.other");
        let access = v.open_access(acct, &first).unwrap();
        assert_eq!(access, v.open_access(acct, &again).unwrap());
        assert_ne!(access, AccessToken::new("act.sane"));
        assert_ne!(access, AccessToken::new("act.same-but-longer"));
        assert_ne!(
            v.open_refresh(acct, &first).unwrap(),
            v.open_refresh(acct, &again).unwrap()
        );
    }

    /// Compiles only while the bound holds: dropping the wipe-on-drop of a type that holds key
    /// material or plaintext fails the build.
    fn wiped_on_drop<T: ZeroizeOnDrop>() {}

    #[test]
    fn keys_and_opened_plaintext_are_wiped_on_drop_and_redacted_in_debug() {
        wiped_on_drop::<RingKey>();
        wiped_on_drop::<SecretBytes>();
        wiped_on_drop::<AccessToken>();
        wiped_on_drop::<RefreshToken>();
        let v = ring(&KeyRing::generate_entry("v1"));
        let acct = AccountId::new();
        let tokens = sealed(&v, acct, "act.very-secret", "rft.very-secret");
        let token = v.open_access(acct, &tokens).unwrap();
        let refresh = v.open_refresh(acct, &tokens).unwrap();
        let key = v.open(&v.seal(&[7u8; 32], b"m"), b"m").unwrap();
        let dbg = format!("{token:?} {refresh:?} {key:?} {v:?} {tokens:?}");
        assert!(
            !dbg.contains("very-secret") && !dbg.contains("7, 7"),
            "{dbg}"
        );
        assert!(dbg.contains("[redacted]") && dbg.contains("[redacted 32 bytes]"));
        let mut t = token.clone();
        t.zeroize();
        assert_eq!(t.expose(), "", "zeroize (what drop runs) empties the token");
    }

    #[test]
    fn bad_key_rings_are_refused_with_reasons() {
        for (spec, needle) in [
            ("", "no keys"),
            ("v1", "not <id>:<base64 key>"),
            ("v1:!!!", "not valid base64"),
            ("v1:AAAA", "need exactly 32"),
        ] {
            let err = KeyRing::parse(spec).unwrap_err().to_string();
            assert!(err.contains(needle), "{spec:?}: {err}");
        }
        let e = KeyRing::generate_entry("v1");
        assert!(
            KeyRing::parse(&format!("{e},{e}"))
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
    }

    /// Proves the body is plain AES-256-GCM: AWS-LC (an independent implementation) opens it
    /// given only the key, the nonce and the record id.
    #[test]
    fn an_independent_aes_gcm_implementation_opens_the_stored_form() {
        use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce as LcNonce, UnboundKey};
        let entry = KeyRing::generate_entry("v3");
        let key = B64.decode(entry.split_once(':').unwrap().1).unwrap();
        let v = ring(&entry);
        let acct = AccountId::new();
        let tokens = sealed(&v, acct, "act.independent", "rft.independent");
        let body = B64
            .decode(tokens.access_token.rsplit_once(':').unwrap().1)
            .unwrap();
        let (nonce, ct) = body.split_at(NONCE_LEN);
        let lc = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap());
        let mut buf = ct.to_vec();
        let record = format!("account:{acct}");
        assert_eq!(
            record,
            account_record(acct),
            "the stored binding never changes"
        );
        let plain = lc
            .open_in_place(
                LcNonce::try_assume_unique_for_key(nonce).unwrap(),
                Aad::from(record.as_bytes()),
                &mut buf,
            )
            .unwrap();
        assert_eq!(plain, b"act.independent");
    }
}
