//! Completing a TikTok connection (the OAuth callback): code → tokens → profile → sealed upsert
//! of the account keyed by (user, open_id); then the posts that waited in `needs_reconnect` for
//! this account go back in line (`crate::parked`). Above both `accounts` and `parked`, so
//! neither needs the other's upper half.

use crate::accounts::{self, AccountError};
use crate::context::JobContext;
use crate::model::{AccountConnect, AccountId, TikTokAccount, UserId};
use chrono::Utc;

/// The profile fields read after connecting (the `username` needs `user.info.profile`).
const BASIC_FIELDS: [&str; 4] = ["open_id", "union_id", "avatar_url", "display_name"];

/// Completes a TikTok connection for `user`: exchanges the code, reads the profile, and upserts
/// the account keyed by (user, open_id) with sealed tokens.
pub async fn complete(
    ctx: &JobContext,
    user: UserId,
    code: &str,
) -> Result<TikTokAccount, AccountError> {
    let now = Utc::now();
    let grant = ctx
        .tiktok
        .exchange_code(code, &ctx.config.tiktok_redirect_uri)
        .await?;
    let mut fields: Vec<&str> = BASIC_FIELDS.to_vec();
    if grant.scope.iter().any(|s| s == "user.info.profile") {
        fields.push("username");
    }
    let info = ctx.tiktok.user_info(&grant.access_token, &fields).await?;
    // The account id is the associated data of its tokens, so it must be known before sealing:
    // reuse the existing row's id on a reconnect.
    let existing = ctx
        .store
        .list_accounts(user)
        .await?
        .into_iter()
        .find(|a| a.open_id == grant.open_id);
    let id = existing.as_ref().map(|a| a.id).unwrap_or_default();
    let connect = AccountConnect {
        id,
        open_id: grant.open_id.clone(),
        union_id: info.union_id.clone(),
        display_name: info
            .display_name
            .clone()
            .unwrap_or_else(|| "TikTok account".into()),
        username: info.username.clone(),
        avatar_url: info.avatar_url.clone(),
        scopes: grant.scope.clone(),
        tokens: accounts::seal_grant(ctx, id, &grant, now),
    };
    let mut account = ctx.store.connect_account(user, &connect).await?;
    if account.id != id {
        // Lost a race with a concurrent connect of the same account: re-seal for the winner's id.
        let tokens = accounts::seal_grant(ctx, account.id, &grant, now);
        account = ctx
            .store
            .store_tokens(user, account.id, account.version, &tokens)
            .await?;
    }
    crate::audit::record(
        &*ctx.store,
        user,
        crate::audit::ACCOUNT_CONNECTED,
        serde_json::json!({ "account_id": account.id, "scopes": account.scopes }),
    )
    .await;
    requeue_parked_after_connect(ctx, user, account.id).await;
    Ok(account)
}

/// Posts parked in `needs_reconnect` waited for this connect: put them back in line
/// (`crate::parked`). The connect itself has succeeded whatever happens here; a post left
/// parked by a failure can be retried by the creator, and a `queued` one whose push failed is
/// pushed by the stuck-post sweep.
async fn requeue_parked_after_connect(ctx: &JobContext, user: UserId, id: AccountId) {
    if let Err(e) = crate::posts::parked::requeue_account(ctx, user, id).await {
        tracing::warn!(account_id = %id, error = %e, "parked posts not put back in line after connecting");
    }
}
