//! TikTok accounts: sealing grants, whether an account can publish, and the "fresh token"
//! helper every TikTok call goes through (connecting is `crate::connect`).
//!
//! Fresh tokens are single-flight per account across all processes: whoever takes the lock
//! `refresh:<account>` refreshes; the others wait for the new token to appear in the store. This
//! matters because TikTok rotates refresh tokens: two concurrent refreshes with the same refresh
//! token would leave one of them holding a dead token, and an account that needs a reconnect.

use crate::context::JobContext;
use crate::model::{
    AccountId, AccountStatus, EncryptedTokens, PostMode, TikTokAccount, WorkspaceId,
};
use crate::store::StoreError;
use crate::tiktok::{AccessToken, ErrorClass, RefreshToken, TikTokError, TokenGrant};
use crate::vault::VaultError;
use chrono::{DateTime, Utc};
use std::future::Future;
use std::time::Duration;

/// The scopes of the privacy promise: exactly these five are requested.
pub const SCOPES: [&str; 5] = [
    "user.info.basic",
    "user.info.profile",
    "video.publish",
    "video.upload",
    "video.list",
];

/// How long a waiter waits for another process's refresh before giving up (retryable).
const REFRESH_WAIT: Duration = Duration::from_secs(15);
/// How long the per-account token lock lives if its holder dies.
pub(crate) const REFRESH_LOCK_TTL: Duration = Duration::from_secs(30);
/// Compare-and-set attempts when storing a refreshed grant against concurrent writes.
const STORE_GRANT_TRIES: usize = 5;

/// The lock held by whoever rewrites an account's tokens (a refresh, `rotate-keys`), so no two
/// of them ever replace each other's grant.
pub(crate) fn token_lock_name(id: AccountId) -> String {
    format!("refresh:{id}")
}

/// The sentence shown when the grant is dead.
pub const RECONNECT_REASON: &str =
    "TikTok no longer accepts MKT POST's access to this account. Please reconnect it.";

/// Why an account cannot publish, in words a creator understands; `None` when it can
/// (exactly when [`TikTokAccount::can_publish`] is true).
pub fn cannot_publish_reason(a: &TikTokAccount) -> Option<String> {
    unusable_reason(a).or_else(|| (!granted(a, "video.publish")).then(|| {
        "You did not allow MKT POST to post videos (the \"video.publish\" permission) when connecting. Reconnect and keep that box ticked.".into()
    }))
}

/// Why an account cannot send drafts to the creator's TikTok inbox (scope `video.upload`,
/// tiktok-api.md §5.3): the code and a sentence; `None` when it can. A draft needs no
/// `video.publish`: the creator posts it themselves.
pub fn cannot_send_drafts_reason(a: &TikTokAccount) -> Option<(&'static str, String)> {
    if let Some(why) = unusable_reason(a) {
        return Some(("account_cannot_publish", why));
    }
    (!granted(a, "video.upload")).then(|| {
        ("scope_missing", "You did not allow MKT POST to upload drafts to your TikTok inbox (the \"video.upload\" permission) when connecting. Reconnect the account and allow uploads.".into())
    })
}

/// Why an account cannot take a post in `mode` (the sentence); `None` when it can: a direct
/// post needs `video.publish`, a draft `video.upload`.
pub fn cannot_post_reason(a: &TikTokAccount, mode: PostMode) -> Option<String> {
    match mode {
        PostMode::Direct => cannot_publish_reason(a),
        PostMode::Inbox => cannot_send_drafts_reason(a).map(|(_, why)| why),
    }
}

/// Why an account cannot be used at all (its grant or its state), whatever it is used for.
fn unusable_reason(a: &TikTokAccount) -> Option<String> {
    match a.status {
        AccountStatus::NeedsReconnect => Some(
            a.status_reason
                .clone()
                .unwrap_or_else(|| RECONNECT_REASON.into()),
        ),
        AccountStatus::Disconnecting => Some("This account is being disconnected.".into()),
        AccountStatus::Active if a.tokens.is_none() => Some(RECONNECT_REASON.into()),
        AccountStatus::Active => None,
    }
}

fn granted(a: &TikTokAccount, scope: &str) -> bool {
    a.scopes.iter().any(|s| s == scope)
}

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    TikTok(#[from] TikTokError),
    #[error("stored tokens cannot be opened: {0}")]
    Vault(#[from] VaultError),
    /// The creator must reconnect (dead grant, retired key, missing tokens).
    #[error("{0}")]
    NeedsReconnect(String),
    /// Another process is refreshing and did not finish in time; try again.
    #[error("token refresh in progress elsewhere")]
    RefreshBusy,
    #[error("lock service: {0}")]
    Lock(String),
}

impl AccountError {
    /// True when trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            AccountError::Store(StoreError::Unavailable(_)) => true,
            AccountError::TikTok(e) => matches!(e.class(), ErrorClass::Retryable { .. }),
            AccountError::RefreshBusy | AccountError::Lock(_) => true,
            _ => false,
        }
    }
}

/// Seals a grant for an account (both tokens, both expiries: one store write).
pub fn seal_grant(
    ctx: &JobContext,
    id: AccountId,
    grant: &TokenGrant,
    now: DateTime<Utc>,
) -> EncryptedTokens {
    ctx.vault.seal_tokens(
        id,
        &grant.access_token,
        &grant.refresh_token,
        now + chrono::Duration::seconds(grant.expires_in),
        now + chrono::Duration::seconds(grant.refresh_expires_in),
    )
}

fn stored_tokens(a: &TikTokAccount) -> Result<&EncryptedTokens, AccountError> {
    a.tokens
        .as_ref()
        .ok_or_else(|| AccountError::NeedsReconnect(RECONNECT_REASON.into()))
}

fn open_access(ctx: &JobContext, a: &TikTokAccount) -> Result<AccessToken, AccountError> {
    Ok(ctx.vault.open_access(a.id, stored_tokens(a)?)?)
}

fn open_refresh(ctx: &JobContext, a: &TikTokAccount) -> Result<RefreshToken, AccountError> {
    Ok(ctx.vault.open_refresh(a.id, stored_tokens(a)?)?)
}

/// An access token valid for at least the configured margin, refreshing (single-flight) if needed.
pub async fn fresh_access_token(
    ctx: &JobContext,
    ws: WorkspaceId,
    id: AccountId,
) -> Result<AccessToken, AccountError> {
    let account = ctx.store.account(ws, id).await?;
    check_usable(&account)?;
    if !needs_refresh(ctx, &account, Utc::now()) {
        return open_access(ctx, &account);
    }
    refresh_single_flight(ctx, account, None).await
}

/// Runs `call` with a fresh token; an `access_token_invalid` answer triggers one forced refresh
/// and one retry, never more.
pub async fn with_fresh_token<T, F, Fut>(
    ctx: &JobContext,
    ws: WorkspaceId,
    id: AccountId,
    call: F,
) -> Result<T, AccountError>
where
    F: Fn(AccessToken) -> Fut,
    Fut: Future<Output = Result<T, TikTokError>>,
{
    let token = fresh_access_token(ctx, ws, id).await?;
    match call(token.clone()).await {
        Err(e) if e.class() == ErrorClass::RefreshAndRetry => {
            let account = ctx.store.account(ws, id).await?;
            let token = refresh_single_flight(ctx, account, Some(token)).await?;
            Ok(call(token).await?)
        }
        other => Ok(other?),
    }
}

fn check_usable(a: &TikTokAccount) -> Result<(), AccountError> {
    match a.status {
        AccountStatus::Active if a.tokens.is_some() => Ok(()),
        AccountStatus::Disconnecting => Err(AccountError::Store(StoreError::NotFound)),
        _ => Err(AccountError::NeedsReconnect(
            a.status_reason
                .clone()
                .unwrap_or_else(|| RECONNECT_REASON.into()),
        )),
    }
}

fn needs_refresh(ctx: &JobContext, a: &TikTokAccount, now: DateTime<Utc>) -> bool {
    let margin =
        chrono::Duration::from_std(ctx.config.tiktok.token_refresh_margin).unwrap_or_default();
    a.tokens
        .as_ref()
        .is_none_or(|t| t.access_expires_at - margin <= now)
}

/// Refreshes unless someone else already did. `rejected` is a token TikTok refused: a forced
/// refresh happens only while the stored token is still that one.
async fn refresh_single_flight(
    ctx: &JobContext,
    account: TikTokAccount,
    rejected: Option<AccessToken>,
) -> Result<AccessToken, AccountError> {
    let lock_name = token_lock_name(account.id);
    let deadline = tokio::time::Instant::now() + REFRESH_WAIT;
    loop {
        if let Some(guard) = ctx
            .locks
            .try_acquire(&lock_name, REFRESH_LOCK_TTL)
            .await
            .map_err(AccountError::Lock)?
        {
            let result =
                refresh_locked(ctx, account.workspace_id, account.id, rejected.as_ref()).await;
            ctx.locks.release(guard).await;
            return result;
        }
        // Someone else is refreshing: wait for their result to land in the store.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let current = ctx.store.account(account.workspace_id, account.id).await?;
        check_usable(&current)?;
        let still_stale = match &rejected {
            Some(bad) => open_access(ctx, &current)? == *bad,
            None => needs_refresh(ctx, &current, Utc::now()),
        };
        if !still_stale {
            return open_access(ctx, &current);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(AccountError::RefreshBusy);
        }
    }
}

async fn refresh_locked(
    ctx: &JobContext,
    ws: WorkspaceId,
    id: AccountId,
    rejected: Option<&AccessToken>,
) -> Result<AccessToken, AccountError> {
    // Re-read under the lock: the previous holder may have just refreshed.
    let account = ctx.store.account(ws, id).await?;
    check_usable(&account)?;
    let current = open_access(ctx, &account)?;
    let stale = match rejected {
        Some(bad) => current == *bad,
        None => needs_refresh(ctx, &account, Utc::now()),
    };
    if !stale {
        return Ok(current);
    }
    let refresh = open_refresh(ctx, &account)?;
    let now = Utc::now();
    match ctx.tiktok.refresh(&refresh).await {
        Ok(grant) => {
            let tokens = seal_grant(ctx, id, &grant, now);
            let token = store_refreshed(ctx, &account, &tokens, &grant.access_token).await?;
            tracing::info!(account_id = %id, "access token refreshed");
            Ok(token)
        }
        Err(e) if e.class() == ErrorClass::Reauth => {
            tracing::warn!(account_id = %id, code = ?e.code(), "refresh refused: account needs reconnect");
            mark_needs_reconnect(ctx, &account, RECONNECT_REASON).await?;
            Err(AccountError::NeedsReconnect(RECONNECT_REASON.into()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Stores a grant TikTok just issued for `read` (the account as read before the refresh) and
/// returns the access token to use.
///
/// TikTok may rotate the refresh token on every refresh, and then the one we hold is dead: a
/// lost compare-and-set must not throw the new grant away, or the account can never refresh
/// again. So a lost write re-reads and applies the grant on top of what changed (a profile
/// update, a status write), with two exceptions: the account stopped being usable (disconnect,
/// reconnect needed: the grant is dropped, as the new state asks), or the change is itself a
/// newer grant (a reconnect meanwhile), which is kept. "Newer" compares access-token expiries:
/// TikTok gives every grant the same lifetime, so the later expiry is the later issue.
async fn store_refreshed(
    ctx: &JobContext,
    read: &TikTokAccount,
    tokens: &EncryptedTokens,
    access: &AccessToken,
) -> Result<AccessToken, AccountError> {
    let mut version = read.version;
    for _ in 0..STORE_GRANT_TRIES {
        match ctx
            .store
            .store_tokens(read.workspace_id, read.id, version, tokens)
            .await
        {
            Ok(_) => return Ok(access.clone()),
            Err(StoreError::StaleState) => {
                let current = ctx.store.account(read.workspace_id, read.id).await?;
                check_usable(&current)?;
                if let Some(theirs) = &current.tokens
                    && Some(theirs) != read.tokens.as_ref()
                    && theirs.access_expires_at >= tokens.access_expires_at
                {
                    tracing::info!(account_id = %read.id, "a newer grant was stored meanwhile; keeping it");
                    return open_access(ctx, &current);
                }
                tracing::info!(account_id = %read.id, "account changed during the refresh; storing the new grant again");
                version = current.version;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::StaleState.into())
}

/// Moves the account to `needs_reconnect` with a reason (CAS; retried on a concurrent change).
pub async fn mark_needs_reconnect(
    ctx: &JobContext,
    account: &TikTokAccount,
    reason: &str,
) -> Result<(), AccountError> {
    let mut current = account.clone();
    for _ in 0..3 {
        match ctx
            .store
            .set_account_status(
                current.workspace_id,
                current.id,
                current.version,
                AccountStatus::NeedsReconnect,
                Some(reason),
                false,
            )
            .await
        {
            Ok(_) => return Ok(()),
            Err(StoreError::StaleState) => {
                current = ctx.store.account(current.workspace_id, current.id).await?
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::StaleState.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::WorkspaceId;

    fn account(scopes: &[&str], status: AccountStatus) -> TikTokAccount {
        let t = DateTime::<Utc>::UNIX_EPOCH;
        TikTokAccount {
            id: AccountId::new(),
            workspace_id: WorkspaceId::new(),
            created_by: None,
            open_id: "o".into(),
            union_id: None,
            display_name: "d".into(),
            username: None,
            avatar_url: None,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            status,
            status_reason: None,
            tokens: Some(EncryptedTokens {
                access_token: "a".into(),
                refresh_token: "r".into(),
                access_expires_at: t,
                refresh_expires_at: t,
            }),
            version: 1,
            created_at: t,
            updated_at: t,
        }
    }

    #[test]
    fn drafts_need_video_upload_and_direct_posts_video_publish() {
        // Connecting asks for both, so one connection serves both modes.
        assert!(SCOPES.contains(&"video.publish") && SCOPES.contains(&"video.upload"));
        let both = account(&["video.publish", "video.upload"], AccountStatus::Active);
        assert_eq!(cannot_publish_reason(&both), None);
        assert_eq!(cannot_send_drafts_reason(&both), None);

        let upload_only = account(&["video.upload"], AccountStatus::Active);
        assert!(cannot_publish_reason(&upload_only).is_some());
        assert_eq!(cannot_send_drafts_reason(&upload_only), None);

        let publish_only = account(&["video.publish"], AccountStatus::Active);
        assert_eq!(cannot_publish_reason(&publish_only), None);
        let (code, why) = cannot_send_drafts_reason(&publish_only).unwrap();
        assert_eq!(code, "scope_missing");
        assert!(
            why.contains("Reconnect the account and allow uploads"),
            "{why}"
        );

        for (a, direct, draft) in [(&upload_only, false, true), (&publish_only, true, false)] {
            assert_eq!(cannot_post_reason(a, PostMode::Direct).is_none(), direct);
            assert_eq!(cannot_post_reason(a, PostMode::Inbox).is_none(), draft);
        }

        let dead = account(&["video.upload"], AccountStatus::NeedsReconnect);
        assert_eq!(
            cannot_send_drafts_reason(&dead).map(|(c, _)| c),
            Some("account_cannot_publish")
        );
    }
}
