//! A draft to the creator's TikTok inbox (`PostMode::Inbox`, scope `video.upload`,
//! tiktok-api.md §5.3): `inbox/video/init` instead of `video/init`, then the same chunk upload
//! and hand-over to `poll_status` as a direct post, under the same exactly-once rules.
//!
//! No `creator_info` gate: TikTok asks for none, since the creator picks privacy and settings
//! in the TikTok app when they post the draft (and an account granted only `video.upload` may
//! not call it at all).

use crate::context::JobContext;
use crate::domain::accounts::AccountError;
use crate::domain::outcome::{Stop, stop_for_account};
use crate::domain::paced::paced;
use crate::model::TikTokAccount;
use crate::pacing::Endpoint;
use crate::tiktok::{InitResult, SourceInfo};
use chrono::Utc;

/// The code a draft carries while deferred because the creator's inbox is full.
pub const INBOX_FULL: &str = "inbox_full";

/// `inbox/video/init`, paced in the same per-token init bucket as `video/init` (TikTok counts
/// both in one limit, §5.10).
pub(super) async fn init(
    ctx: &JobContext,
    account: &TikTokAccount,
    source: SourceInfo,
) -> Result<InitResult, Stop> {
    paced(
        ctx,
        account.workspace_id,
        account.id,
        Endpoint::Init,
        |tiktok, t| {
            let source = source.clone();
            async move { tiktok.init_inbox(&t, &source).await }
        },
    )
    .await
    .map_err(|e| match e {
        AccountError::TikTok(t) if t.is_pending_share_cap() => inbox_full(ctx),
        e => stop_for_account(ctx, e),
    })
}

/// TikTok keeps at most five drafts a creator has not posted yet (in any 24 hours): the draft
/// waits for a later window, and the creator reads why (never a silent failure). A photo draft
/// (`photos.rs`) counts in the same five.
pub(super) fn inbox_full(ctx: &JobContext) -> Stop {
    let minutes = ctx.config.tiktok.cap_retry_minutes;
    Stop::Defer {
        until: Utc::now() + chrono::Duration::minutes(minutes as i64),
        code: INBOX_FULL,
        message: format!(
            "5 drafts are already waiting in this creator's TikTok inbox, TikTok's limit for drafts not posted yet. \
             We'll send this one again in {minutes} minutes; posting or deleting a draft in the TikTok app frees a place."
        ),
    }
}
