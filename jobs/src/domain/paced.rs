//! TikTok calls made for a post's account: with a fresh token (refreshed single-flight when it
//! is about to expire) and inside TikTok's per-token limits (the shared pacer waits first, on
//! every attempt).

use crate::context::JobContext;
use crate::domain::accounts::{self, AccountError};
use crate::domain::outcome::{Stop, pacing_unavailable, stop_for_account};
use crate::model::{AccountId, TikTokAccount, WorkspaceId};
use crate::pacing::Endpoint;
use crate::tiktok::{self, CreatorInfo, TikTokError};

pub(crate) async fn fetch_status(
    ctx: &JobContext,
    account: &TikTokAccount,
    publish_id: &str,
) -> Result<tiktok::PublishStatus, Stop> {
    paced(
        ctx,
        account.workspace_id,
        account.id,
        Endpoint::Status,
        |tiktok, t| {
            let publish_id = publish_id.to_owned();
            async move { tiktok.fetch_status(&t, &publish_id).await }
        },
    )
    .await
    .map_err(|e| stop_for_account(ctx, e))
}

/// One TikTok call with a fresh token, inside TikTok's per-token limit for `endpoint` (the pacer
/// waits first, on every attempt, including the retry after a refresh).
pub async fn paced<T, F, Fut>(
    ctx: &JobContext,
    ws: WorkspaceId,
    account: AccountId,
    endpoint: Endpoint,
    call: F,
) -> Result<T, AccountError>
where
    F: Fn(tiktok::TikTokClient, tiktok::AccessToken) -> Fut,
    Fut: std::future::Future<Output = Result<T, TikTokError>>,
{
    let call = &call;
    accounts::with_fresh_token(ctx, ws, account, |t| {
        let (tiktok, pacer) = (ctx.tiktok.clone(), ctx.pacer.clone());
        async move {
            pacer
                .acquire(account, endpoint)
                .await
                .map_err(pacing_unavailable)?;
            call(tiktok, t).await
        }
    })
    .await
}

/// `creator_info` for an account, paced and with a fresh token.
pub async fn creator_info_paced(
    ctx: &JobContext,
    ws: WorkspaceId,
    account: AccountId,
) -> Result<CreatorInfo, AccountError> {
    paced(
        ctx,
        ws,
        account,
        Endpoint::CreatorInfo,
        |tiktok, t| async move { tiktok.creator_info(&t).await },
    )
    .await
}
