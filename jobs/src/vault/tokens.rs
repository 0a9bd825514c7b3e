//! Plaintext TikTok tokens and the vault's account-bound sealing of them.
//!
//! [`AccessToken`] and [`RefreshToken`] come into being in two places only: the vault opening a
//! stored ciphertext, and the TikTok client parsing a token response. They live here, below
//! `tiktok`, because `tiktok` reaches the vault's module through `config` (the key ring): the
//! types defined up there would make the vault import its own importer.
//!
//! The vault owns the binding of a token to its account row (the associated data), so callers
//! hand it an account id, never a record string.

use super::{Vault, VaultError};
use crate::model::{AccountId, EncryptedTokens};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A user access token (`act.…`). Only `expose` reveals it; `Debug` prints `[redacted]`; its
/// bytes are wiped when it is dropped; `==` compares SHA-256 digests, so its time says nothing about the token.
#[derive(Clone, Eq, Zeroize, ZeroizeOnDrop)]
pub struct AccessToken(String);

/// A refresh token (`rft.…`). Only `expose` reveals it; `Debug` prints `[redacted]`; its bytes
/// are wiped when it is dropped; `==` compares SHA-256 digests, so its time says nothing about the token.
#[derive(Clone, Eq, Zeroize, ZeroizeOnDrop)]
pub struct RefreshToken(String);

macro_rules! secret_token {
    ($name:ident) => {
        impl $name {
            /// A token from TikTok's token response (the TikTok client's parser only).
            pub(crate) fn from_wire(token: String) -> Self {
                Self(token)
            }

            /// Wraps a token a test or bench got from the simulator directly; production code
            /// gets tokens only from the vault or TikTok's token response.
            #[cfg(any(test, feature = "test-support"))]
            pub fn new(token: impl Into<String>) -> Self {
                Self(token.into())
            }

            /// The token itself, for the vault and the `Authorization` header only: grep for
            /// `expose` to audit every use.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                // Digests are compared, as for every secret the project compares (the metrics
                // token, the sign-in state): the time taken says nothing about the token.
                Sha256::digest(self.0.as_bytes()) == Sha256::digest(other.0.as_bytes())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[redacted]")
            }
        }
    };
}

secret_token!(AccessToken);
secret_token!(RefreshToken);

/// The associated data binding a token to its account row. Stored ciphertexts carry it, so its
/// format never changes.
pub(super) fn account_record(id: AccountId) -> String {
    format!("account:{id}")
}

impl Vault {
    /// Seals both tokens of a grant for `account` with the current key (one store write holds
    /// both tokens and both expiries).
    pub fn seal_tokens(
        &self,
        account: AccountId,
        access: &AccessToken,
        refresh: &RefreshToken,
        access_expires_at: DateTime<Utc>,
        refresh_expires_at: DateTime<Utc>,
    ) -> EncryptedTokens {
        let record = account_record(account);
        EncryptedTokens {
            access_token: self.seal(access.expose().as_bytes(), record.as_bytes()),
            refresh_token: self.seal(refresh.expose().as_bytes(), record.as_bytes()),
            access_expires_at,
            refresh_expires_at,
        }
    }

    /// Opens the access token sealed for `account`.
    pub fn open_access(
        &self,
        account: AccountId,
        tokens: &EncryptedTokens,
    ) -> Result<AccessToken, VaultError> {
        self.open_text(&tokens.access_token, account_record(account).as_bytes())
            .map(AccessToken)
    }

    /// Opens the refresh token sealed for `account`.
    pub fn open_refresh(
        &self,
        account: AccountId,
        tokens: &EncryptedTokens,
    ) -> Result<RefreshToken, VaultError> {
        self.open_text(&tokens.refresh_token, account_record(account).as_bytes())
            .map(RefreshToken)
    }

    /// True when either token is sealed with a key other than the current one.
    pub fn tokens_need_rotation(&self, tokens: &EncryptedTokens) -> bool {
        self.needs_rotation(&tokens.access_token) || self.needs_rotation(&tokens.refresh_token)
    }

    /// Both tokens re-sealed with the current key (rotate-keys); the expiries are kept.
    pub fn reseal_tokens(
        &self,
        account: AccountId,
        tokens: &EncryptedTokens,
    ) -> Result<EncryptedTokens, VaultError> {
        let record = account_record(account);
        Ok(EncryptedTokens {
            access_token: self.reseal(&tokens.access_token, record.as_bytes())?,
            refresh_token: self.reseal(&tokens.refresh_token, record.as_bytes())?,
            access_expires_at: tokens.access_expires_at,
            refresh_expires_at: tokens.refresh_expires_at,
        })
    }
}

/// True when either token is sealed with key `id`.
pub fn tokens_sealed_with(tokens: &EncryptedTokens, id: &str) -> bool {
    super::key_id_of(&tokens.access_token) == Some(id)
        || super::key_id_of(&tokens.refresh_token) == Some(id)
}
