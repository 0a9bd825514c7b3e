//! `mktpost rotate-keys`: re-seals every stored token with the current key, in batches.
//!
//! Safe to interrupt and re-run: each account is rewritten by one compare-and-set, so a run
//! stopped half-way leaves every account readable (old key or new), and the next run finds the
//! rest. `--retire <id>` is the leaked-key procedure: a token sealed with a leaked key must be
//! presumed known to whoever holds the key and a backup, so re-sealing it would not help. Those
//! tokens are deleted and their accounts marked `needs_reconnect`; creators reconnect to mint
//! fresh tokens. Then the key can be removed from `TOKEN_KEYS`.

use crate::model::{AccountStatus, EncryptedTokens, TikTokAccount};
use crate::store::{Store, StoreError};
use crate::vault::{Vault, VaultError, key_id_of};
use std::fmt;

/// What a rotation run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RotationReport {
    /// Accounts looked at.
    pub scanned: u64,
    /// Accounts whose tokens were re-sealed with the current key.
    pub resealed: u64,
    /// Accounts already on the current key.
    pub current: u64,
    /// Accounts whose tokens were deleted because the retired key sealed them.
    pub retired: u64,
    /// Accounts with no tokens (already retired or disconnected).
    pub without_tokens: u64,
    /// Accounts that could not be processed (unreadable ciphertext, or changed too often); re-run.
    pub failed: u64,
}

impl fmt::Display for RotationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "scanned {} accounts: {} re-sealed, {} already current, {} retired (needs reconnect), {} without tokens, {} failed",
            self.scanned,
            self.resealed,
            self.current,
            self.retired,
            self.without_tokens,
            self.failed
        )
    }
}

/// Why a rotation could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error("cannot retire {0:?}: it is the current key; put a new key first in TOKEN_KEYS")]
    RetiringCurrentKey(String),
    #[error("cannot retire {0:?}: it is not in TOKEN_KEYS")]
    UnknownKey(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The reason creators see on an account whose tokens were retired.
pub const RETIRED_REASON: &str =
    "For your security we replaced our encryption key. Please reconnect this TikTok account.";

/// Runs one rotation over every account, `batch` at a time.
pub async fn rotate_keys(
    store: &dyn Store,
    vault: &Vault,
    batch: u32,
    retire: Option<&str>,
) -> Result<RotationReport, RotationError> {
    if let Some(k) = retire {
        if k == vault.ring().current_id() {
            return Err(RotationError::RetiringCurrentKey(k.to_owned()));
        }
        if !vault.ring().ids().any(|id| id == k) {
            return Err(RotationError::UnknownKey(k.to_owned()));
        }
    }
    let mut report = RotationReport::default();
    let mut after = None;
    loop {
        let page = store.accounts_after(after, batch.max(1)).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for account in page {
            report.scanned += 1;
            rotate_one(store, vault, account, retire, &mut report).await?;
        }
    }
    Ok(report)
}

/// Handles one account, retrying a few times if a concurrent refresh changed it under us.
async fn rotate_one(
    store: &dyn Store,
    vault: &Vault,
    mut account: TikTokAccount,
    retire: Option<&str>,
    report: &mut RotationReport,
) -> Result<(), StoreError> {
    for _ in 0..3 {
        let Some(tokens) = account.tokens.clone() else {
            report.without_tokens += 1;
            return Ok(());
        };
        let sealed_with_retired = retire.is_some_and(|k| {
            key_id_of(&tokens.access_token) == Some(k)
                || key_id_of(&tokens.refresh_token) == Some(k)
        });
        let result = if sealed_with_retired {
            store
                .set_account_status(
                    account.user_id,
                    account.id,
                    account.version,
                    AccountStatus::NeedsReconnect,
                    Some(RETIRED_REASON),
                    true,
                )
                .await
                .map(|_| &mut report.retired)
        } else if vault.needs_rotation(&tokens.access_token)
            || vault.needs_rotation(&tokens.refresh_token)
        {
            match reseal(vault, &account, &tokens) {
                Ok(new) => store
                    .store_tokens(account.user_id, account.id, account.version, &new)
                    .await
                    .map(|_| &mut report.resealed),
                Err(e) => {
                    tracing::warn!(account_id = %account.id, error = %e, "cannot re-seal tokens");
                    report.failed += 1;
                    return Ok(());
                }
            }
        } else {
            Ok(&mut report.current)
        };
        match result {
            Ok(counter) => {
                *counter += 1;
                return Ok(());
            }
            Err(StoreError::StaleState) => {
                account = store.account(account.user_id, account.id).await?;
            }
            Err(StoreError::NotFound) => return Ok(()), // disconnected meanwhile
            Err(e) => return Err(e),
        }
    }
    report.failed += 1;
    Ok(())
}

fn reseal(
    vault: &Vault,
    account: &TikTokAccount,
    t: &EncryptedTokens,
) -> Result<EncryptedTokens, VaultError> {
    let record = crate::accounts::record(account.id);
    Ok(EncryptedTokens {
        access_token: vault.reseal(&t.access_token, record.as_bytes())?,
        refresh_token: vault.reseal(&t.refresh_token, record.as_bytes())?,
        access_expires_at: t.access_expires_at,
        refresh_expires_at: t.refresh_expires_at,
    })
}
