//! `mktpost rotate-keys`: re-seals every stored token and re-wraps every staged video's data key
//! with the current key, in batches.
//!
//! Safe to interrupt and re-run: each account and each media row is rewritten by one
//! compare-and-set, so a run stopped half-way leaves everything readable (old key or new), and
//! the next run finds the rest. Tokens are rewritten under the account's token lock (the one a
//! refresh takes), so a re-seal never races a refresh that is replacing the grant: an account
//! whose lock stays busy is skipped and reported, for a re-run.
//!
//! `--retire <id>` is the leaked-key procedure.
//! - **Tokens** sealed with the leaked key must be presumed known to whoever holds the key and
//!   a copy of the database, so re-sealing them would not help: they are revoked at TikTok
//!   first, then deleted, and the account is marked `needs_reconnect`; creators reconnect to
//!   mint fresh tokens. A token is deleted only once TikTok has revoked it or has said it is
//!   already dead; when TikTok cannot be reached, the account keeps its tokens and is reported
//!   for a re-run.
//! - **Video data keys** wrapped with the leaked key are re-wrapped under the current key, like
//!   any other. Unlike a token, a data key grants nothing at TikTok and cannot be revoked; it
//!   only decrypts one staged object. An attacker learns it only by holding the leaked key AND
//!   the wrapped form from the media row AND, to learn anything, the object itself. Re-wrapping
//!   re-seals the plaintext data key so that, from now on, the leaked key opens nothing we
//!   store; re-encrypting each video under a fresh data key would additionally protect against
//!   someone who already copied the row and the key but not yet the object. Staged videos live
//!   only until TikTok has them (or `MEDIA_TTL_HOURS`), so that narrow case is accepted rather
//!   than re-encrypting every staged video or failing the creators' posts.
//!
//! Then the key can be removed from `TOKEN_KEYS`.

use crate::context::JobContext;
use crate::domain::accounts::{self, REFRESH_LOCK_TTL};
use crate::locks::LockGuard;
use crate::model::{AccountStatus, EncryptedTokens, Media, MediaId, TikTokAccount};
use crate::staging::{Rewrap, StagingError};
use crate::store::StoreError;
use crate::tiktok::{ErrorClass, TikTokError};
use crate::vault::{VaultError, tokens_sealed_with};
use std::fmt;
use std::time::Duration;

/// How long an account's token lock is waited for before it is skipped (a refresh holds it for
/// one TikTok call; anything longer is a stuck holder whose lease has yet to expire).
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(10);

/// How one run goes.
#[derive(Debug, Clone)]
pub struct RotationOptions {
    /// Rows read per page.
    pub batch: u32,
    /// The leaked key to retire, if any.
    pub retire: Option<String>,
    /// How long to wait for an account's token lock.
    pub lock_wait: Duration,
}

impl Default for RotationOptions {
    fn default() -> Self {
        Self {
            batch: 100,
            retire: None,
            lock_wait: DEFAULT_LOCK_WAIT,
        }
    }
}

/// What a rotation run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RotationReport {
    /// Accounts looked at.
    pub scanned: u64,
    /// Accounts whose tokens were re-sealed with the current key.
    pub resealed: u64,
    /// Accounts already on the current key.
    pub current: u64,
    /// Accounts whose tokens were revoked at TikTok (or found dead there), then deleted.
    pub retired: u64,
    /// Accounts with no tokens (already retired or disconnected).
    pub without_tokens: u64,
    /// Accounts skipped because a token refresh held their lock; re-run.
    pub busy: u64,
    /// Accounts under the retired key that TikTok could not revoke now: tokens kept; re-run.
    pub revoke_failed: u64,
    /// Accounts that could not be processed (unreadable ciphertext, or changed too often); re-run.
    pub failed: u64,
    /// Staged videos looked at.
    pub media_scanned: u64,
    /// Staged videos whose data key was re-wrapped with the current key.
    pub media_rewrapped: u64,
    /// Staged videos already on the current key (or deleted meanwhile).
    pub media_current: u64,
    /// Staged videos whose data key cannot be opened (their posts fail with
    /// `video_key_unavailable`), or that changed too often.
    pub media_failed: u64,
}

impl RotationReport {
    /// True when some work is left for a re-run.
    pub fn needs_rerun(&self) -> bool {
        self.busy + self.revoke_failed + self.failed + self.media_failed > 0
    }
}

impl fmt::Display for RotationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "scanned {} accounts: {} re-sealed, {} already current, {} retired (revoked, needs reconnect), {} without tokens, {} busy (refreshing), {} not revoked at TikTok, {} failed; scanned {} staged videos: {} re-wrapped, {} already current, {} failed",
            self.scanned,
            self.resealed,
            self.current,
            self.retired,
            self.without_tokens,
            self.busy,
            self.revoke_failed,
            self.failed,
            self.media_scanned,
            self.media_rewrapped,
            self.media_current,
            self.media_failed,
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
    #[error("lock service: {0}")]
    Lock(String),
}

/// The reason creators see on an account whose tokens were retired.
pub const RETIRED_REASON: &str =
    "For your security we replaced our encryption key. Please reconnect this TikTok account.";

/// Compare-and-set attempts per row before it is reported as failed.
const TRIES: usize = 3;

/// Runs one rotation over every account and every staged video, `batch` at a time.
pub async fn rotate_keys(
    ctx: &JobContext,
    options: &RotationOptions,
) -> Result<RotationReport, RotationError> {
    let vault = &ctx.vault;
    let retire = options.retire.as_deref();
    if let Some(k) = retire {
        if k == vault.ring().current_id() {
            return Err(RotationError::RetiringCurrentKey(k.to_owned()));
        }
        if !vault.ring().ids().any(|id| id == k) {
            return Err(RotationError::UnknownKey(k.to_owned()));
        }
    }
    let batch = options.batch.max(1);
    let mut report = RotationReport::default();
    let mut after = None;
    loop {
        let page = ctx.store.accounts_after(after, batch).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for account in page {
            report.scanned += 1;
            let Some(guard) = lock_account(ctx, &account, options.lock_wait).await? else {
                tracing::warn!(account_id = %account.id, "token lock busy (a refresh is running); skipped, re-run");
                report.busy += 1;
                continue;
            };
            let result = rotate_one(ctx, &account, retire, &mut report).await;
            ctx.locks.release(guard).await;
            result?;
        }
    }
    let mut after: Option<MediaId> = None;
    loop {
        let page = ctx.store.media_after(after, batch).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for media in page {
            report.media_scanned += 1;
            rewrap_one(ctx, media, &mut report).await?;
        }
    }
    Ok(report)
}

/// Takes the account's token lock, polling for up to `wait`; `None` when it stayed busy.
async fn lock_account(
    ctx: &JobContext,
    account: &TikTokAccount,
    wait: Duration,
) -> Result<Option<LockGuard>, RotationError> {
    let name = accounts::token_lock_name(account.id);
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Some(guard) = ctx
            .locks
            .try_acquire(&name, REFRESH_LOCK_TTL)
            .await
            .map_err(RotationError::Lock)?
        {
            return Ok(Some(guard));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Handles one account, under its token lock. Re-reads it first: a refresh that held the lock
/// may just have replaced the grant.
async fn rotate_one(
    ctx: &JobContext,
    account: &TikTokAccount,
    retire: Option<&str>,
    report: &mut RotationReport,
) -> Result<(), StoreError> {
    // Set once TikTok no longer honours the leaked grant, so a lost write does not revoke twice.
    let mut revoked = false;
    for _ in 0..TRIES {
        let account = match ctx.store.account(account.workspace_id, account.id).await {
            Ok(a) => a,
            Err(StoreError::NotFound) => return Ok(()), // disconnected meanwhile
            Err(e) => return Err(e),
        };
        let Some(tokens) = account.tokens.clone() else {
            report.without_tokens += 1;
            return Ok(());
        };
        let result = if retire.is_some_and(|k| tokens_sealed_with(&tokens, k)) {
            retire_grant(ctx, &account, &tokens, &mut revoked).await
        } else {
            reseal_grant(ctx, &account, &tokens).await
        };
        match result {
            Ok(outcome) => {
                report.count(outcome);
                return Ok(());
            }
            Err(StoreError::StaleState) => continue,
            Err(StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    report.failed += 1;
    Ok(())
}

/// How one account's attempt ended, when it did not need another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Retired,
    RevokeFailed,
    Resealed,
    Current,
    Failed,
}

impl RotationReport {
    fn count(&mut self, outcome: Outcome) {
        *match outcome {
            Outcome::Retired => &mut self.retired,
            Outcome::RevokeFailed => &mut self.revoke_failed,
            Outcome::Resealed => &mut self.resealed,
            Outcome::Current => &mut self.current,
            Outcome::Failed => &mut self.failed,
        } += 1;
    }
}

/// A grant sealed with the leaked key: revoked at TikTok (unless an earlier attempt did), then
/// deleted by one compare-and-set. A grant TikTok cannot revoke now is kept, for a re-run.
async fn retire_grant(
    ctx: &JobContext,
    account: &TikTokAccount,
    tokens: &EncryptedTokens,
    revoked: &mut bool,
) -> Result<Outcome, StoreError> {
    if !*revoked {
        match revoke_leaked(ctx, account, tokens).await {
            Ok(how) => {
                tracing::info!(account_id = %account.id, ?how, "leaked grant no longer valid at TikTok");
                *revoked = true;
            }
            Err(e) => {
                tracing::warn!(account_id = %account.id, error = %e, "cannot revoke the leaked grant now; tokens kept, re-run");
                return Ok(Outcome::RevokeFailed);
            }
        }
    }
    // An account being disconnected stays so (its job deletes it); any other asks the creator
    // to reconnect.
    let (status, reason) = match account.status {
        AccountStatus::Disconnecting => (account.status, account.status_reason.as_deref()),
        _ => (AccountStatus::NeedsReconnect, Some(RETIRED_REASON)),
    };
    ctx.store
        .set_account_status(
            account.workspace_id,
            account.id,
            account.version,
            status,
            reason,
            true,
        )
        .await
        .map(|_| Outcome::Retired)
}

/// Re-seals a grant sealed with an older key, by one compare-and-set.
async fn reseal_grant(
    ctx: &JobContext,
    account: &TikTokAccount,
    tokens: &EncryptedTokens,
) -> Result<Outcome, StoreError> {
    if !ctx.vault.tokens_need_rotation(tokens) {
        return Ok(Outcome::Current);
    }
    match ctx.vault.reseal_tokens(account.id, tokens) {
        Ok(new) => ctx
            .store
            .store_tokens(account.workspace_id, account.id, account.version, &new)
            .await
            .map(|_| Outcome::Resealed),
        Err(e) => {
            tracing::warn!(account_id = %account.id, error = %e, "cannot re-seal tokens");
            Ok(Outcome::Failed)
        }
    }
}

/// Why TikTok no longer honours a leaked grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Revoked {
    /// TikTok revoked it now (with the stored access token, or with one minted from the
    /// stored refresh token because the access token was already gone).
    Now,
    /// TikTok says the grant is already dead (the refresh token is refused).
    AlreadyDead,
    /// The ciphertext is corrupt: no one can open it, with or without the key.
    Unreadable,
}

/// Why a leaked grant could not be revoked now.
#[derive(Debug, thiserror::Error)]
enum RevokeError {
    #[error(transparent)]
    TikTok(#[from] TikTokError),
    #[error("stored token cannot be opened: {0}")]
    Vault(VaultError),
}

/// Makes TikTok stop honouring the grant sealed in `tokens`. Revoke takes an access token
/// (tiktok-api.md §2.6); when TikTok no longer knows the stored one (expired, or already
/// refreshed away), the stored refresh token mints a fresh access token to revoke the grant
/// with: revoking any access token of a grant ends the whole grant. The tokens minted that way
/// are never stored: a re-run can mint again while the refresh token lives, and once TikTok
/// refuses it the grant is dead.
async fn revoke_leaked(
    ctx: &JobContext,
    account: &TikTokAccount,
    tokens: &EncryptedTokens,
) -> Result<Revoked, RevokeError> {
    let access = match ctx.vault.open_access(account.id, tokens) {
        Ok(t) => t,
        Err(e) => return unreadable(e),
    };
    match ctx.tiktok.revoke(&access).await {
        Ok(()) => return Ok(Revoked::Now),
        Err(e) if e.class() == ErrorClass::Reauth => return Ok(Revoked::AlreadyDead),
        Err(e) if access_token_unknown(&e) => {}
        Err(e) => return Err(e.into()),
    }
    let refresh = match ctx.vault.open_refresh(account.id, tokens) {
        Ok(t) => t,
        Err(e) => return unreadable(e),
    };
    match ctx.tiktok.refresh(&refresh).await {
        Ok(grant) => {
            ctx.tiktok.revoke(&grant.access_token).await?;
            Ok(Revoked::Now)
        }
        Err(e) if e.class() == ErrorClass::Reauth => Ok(Revoked::AlreadyDead),
        Err(e) => Err(e.into()),
    }
}

/// A corrupt ciphertext (altered body, malformed) opens for no one, so there is nothing to
/// revoke and nothing to protect. A ciphertext of another row still opens for whoever holds
/// the key, so it is kept and reported.
fn unreadable(e: VaultError) -> Result<Revoked, RevokeError> {
    match e {
        VaultError::Tampered | VaultError::Malformed(_) => Ok(Revoked::Unreadable),
        other => Err(RevokeError::Vault(other)),
    }
}

/// True when the revoke endpoint refused the access token itself (unknown or expired), as
/// opposed to refusing us or failing: TikTok answers `invalid_request` ("The access token is
/// invalid or not found"), or a v2 `access_token_invalid`.
fn access_token_unknown(e: &TikTokError) -> bool {
    e.class() == ErrorClass::RefreshAndRetry
        || matches!(e, TikTokError::OAuth { error, .. } if error == "invalid_request")
}

/// Re-wraps one staged video's data key; re-reads and retries when the row changed meanwhile.
async fn rewrap_one(
    ctx: &JobContext,
    mut media: Media,
    report: &mut RotationReport,
) -> Result<(), StoreError> {
    for _ in 0..TRIES {
        match ctx.staging.rewrap_key(&media).await {
            Ok(Rewrap::Rewrapped) => {
                report.media_rewrapped += 1;
                return Ok(());
            }
            Ok(Rewrap::Current | Rewrap::Gone) => {
                report.media_current += 1;
                return Ok(());
            }
            Ok(Rewrap::Changed) => match ctx.store.media(media.workspace_id, media.id).await {
                Ok(m) => media = m,
                Err(StoreError::NotFound) => {
                    report.media_current += 1;
                    return Ok(());
                }
                Err(e) => return Err(e),
            },
            Err(StagingError::Store(e)) => return Err(e),
            Err(e) => {
                tracing::warn!(media_id = %media.id, error = %e, "cannot re-wrap the video's data key; its post will fail with video_key_unavailable");
                report.media_failed += 1;
                return Ok(());
            }
        }
    }
    report.media_failed += 1;
    Ok(())
}
