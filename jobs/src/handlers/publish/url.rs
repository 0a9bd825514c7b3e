//! `publish` for a URL post (PULL_FROM_URL, tiktok-api.md §5.2, §5.6): TikTok downloads the
//! video from the post's `video_url` itself, so no byte passes through us. The job checks the
//! creator's live options, sends `video/init` (or `inbox/video/init` for a draft) with the URL,
//! stores the `publish_id`, and hands the post to `poll_status`, which follows TikTok's
//! `PROCESSING_DOWNLOAD` to the end. The exactly-once argument for this path is in the module
//! doc of `publish` (rule 2, "A URL post").

use super::gone;
use crate::context::JobContext;
use crate::domain::accounts::{AccountError, with_fresh_token};
use crate::domain::outcome::{Stop, stop_for_account};
use crate::domain::paced::{creator_info_paced, paced};
use crate::domain::posts::{PostError, unaudited};
use crate::domain::upload::{hand_over, save};
use crate::model::{Post, PostMode, PostSettings, PostSource, TikTokAccount};
use crate::pacing::Endpoint;
use crate::tiktok::{self, InitResult, PostInfo, SourceInfo, TikTokError};
use chrono::Utc;

/// The error code of a URL post whose `video/init` answer was lost.
pub const PULL_OUTCOME_UNKNOWN: &str = "pull_outcome_unknown";

fn outcome_unknown() -> Stop {
    Stop::refused(
        PULL_OUTCOME_UNKNOWN,
        "We lost TikTok's answer while asking it to download this video, so it may still be posted. Check the TikTok profile; retry this post only if the video is not there.",
    )
}

/// Drives a URL post from `uploading` to `processing`.
pub(super) async fn drive(ctx: &JobContext, post: Post) -> Result<(), Stop> {
    let PostSource::Url { video_url } = post.source.clone() else {
        return Err(Stop::refused("no_media", "This post has no video URL."));
    };
    if post.tiktok.publish_id.is_some() {
        // Stored before: TikTok has the task and downloads on its own; only its status remains.
        return hand_over(ctx, post).await;
    }
    if post.tiktok.pull_requested_at.is_some() {
        // An init went out and its answer was never stored: TikTok may be downloading, and a
        // second init would make a second TikTok post.
        return Err(outcome_unknown());
    }
    let account = ctx
        .store
        .account(post.workspace_id, post.account_id)
        .await
        .map_err(gone(
            "account_gone",
            "The TikTok account of this post was disconnected.",
        ))?;
    let settings = match post.mode {
        PostMode::Direct => Some(checked_settings(ctx, &account, &post).await?),
        // A draft carries no settings: the creator chooses them in the TikTok app.
        PostMode::Inbox => None,
    };
    let now = Utc::now();
    let post = save(ctx, post, move |p| p.tiktok.pull_requested_at = Some(now)).await?;
    let init = match init(ctx, &account, video_url, settings).await {
        Ok(init) => init,
        Err(e) => return Err(init_failed(ctx, post, e).await),
    };
    let publish_id = init.publish_id;
    tracing::info!(%publish_id, "TikTok is downloading the video; persisting the publish id");
    let stored = {
        let publish_id = publish_id.clone();
        save(ctx, post, move |p| {
            p.tiktok.publish_id = Some(publish_id);
            p.tiktok.downloaded_bytes = Some(0);
        })
        .await
    };
    match stored {
        Ok(post) => hand_over(ctx, post).await,
        Err(stop) => {
            // The post moved under us: this init must not become a post nobody follows.
            cancel_orphan(ctx, &account, &publish_id).await;
            Err(stop)
        }
    }
}

/// The post's settings checked against the creator's live options (they may have changed
/// since creation) and the app's audit state, with what the creator disabled forced off.
async fn checked_settings(
    ctx: &JobContext,
    account: &TikTokAccount,
    post: &Post,
) -> Result<PostSettings, Stop> {
    let info = creator_info_paced(ctx, account.workspace_id, account.id)
        .await
        .map_err(|e| stop_for_account(ctx, e))?;
    let privacy = post.settings.privacy_level;
    if !info.privacy_level_options.contains(&privacy) {
        return Err(Stop::refused(
            "privacy_level_option_mismatch",
            tiktok::code_message("privacy_level_option_mismatch"),
        ));
    }
    unaudited::check(ctx.config.tiktok.app_audited, &info, privacy).map_err(|e| match e {
        PostError::Invalid { code, message } => Stop::refused(code, message),
        other => Stop::Retry(other.to_string()),
    })?;
    let mut settings = post.settings.clone();
    settings.disable_comment |= info.comment_disabled;
    settings.disable_duet |= info.duet_disabled;
    settings.disable_stitch |= info.stitch_disabled;
    Ok(settings)
}

/// `video/init` (direct) or `inbox/video/init` (draft, `settings` is `None`) with the URL.
async fn init(
    ctx: &JobContext,
    account: &TikTokAccount,
    video_url: String,
    settings: Option<PostSettings>,
) -> Result<InitResult, AccountError> {
    let post_info = settings.as_ref().map(PostInfo::from);
    paced(
        ctx,
        account.workspace_id,
        account.id,
        Endpoint::Init,
        |tiktok, t| {
            let (post_info, video_url) = (post_info.clone(), video_url.clone());
            async move {
                let source = SourceInfo::PullFromUrl { video_url };
                match post_info {
                    Some(info) => tiktok.init_direct_post(&t, &info, &source).await,
                    None => tiktok.init_inbox(&t, &source).await,
                }
            }
        },
    )
    .await
}

/// An init that failed. TikTok's definite answer created nothing, so the mark is cleared and the
/// error classified as usual; an answer that may have been a success keeps the mark (the next
/// run then refuses to init again) and fails the post with why.
async fn init_failed(ctx: &JobContext, post: Post, e: AccountError) -> Stop {
    if init_may_have_landed(&e) {
        tracing::warn!(error = %e, "the PULL_FROM_URL init's outcome is unknown");
        return outcome_unknown();
    }
    let stop = stop_for_account(ctx, e);
    // If this write fails the mark stays, and the next run refuses rather than risk a second
    // post: the safe side.
    let _ = save(ctx, post, |p| p.tiktok.pull_requested_at = None).await;
    stop
}

/// Whether the init itself may have reached TikTok although no answer was read (a timeout, a
/// cut connection, an unreadable success). A token refresh failing the same way sent nothing.
fn init_may_have_landed(e: &AccountError) -> bool {
    let AccountError::TikTok(t) = e else {
        return false;
    };
    let endpoint = match t {
        TikTokError::Transport { endpoint, .. } | TikTokError::Malformed { endpoint, .. } => {
            endpoint
        }
        _ => return false,
    };
    endpoint.ends_with("video/init") && t.outcome_unknown()
}

/// Best effort: stops a download whose publish id could not be stored.
async fn cancel_orphan(ctx: &JobContext, account: &TikTokAccount, publish_id: &str) {
    let tiktok = ctx.tiktok.clone();
    let id = publish_id.to_owned();
    let result = with_fresh_token(ctx, account.workspace_id, account.id, move |t| {
        let (tiktok, id) = (tiktok.clone(), id.clone());
        async move { tiktok.cancel_publish(&t, &id).await }
    })
    .await;
    match result {
        Ok(()) => {
            tracing::warn!(%publish_id, "cancelled a download whose publish id was not stored")
        }
        Err(e) => tracing::error!(%publish_id, error = %e, "could not cancel an unstored download"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn malformed(endpoint: &'static str, status: u16) -> AccountError {
        AccountError::TikTok(TikTokError::Malformed {
            endpoint,
            status,
            detail: "unreadable".into(),
        })
    }

    #[test]
    fn only_an_init_without_a_readable_answer_may_have_landed() {
        assert!(init_may_have_landed(&malformed("video/init", 200)));
        assert!(init_may_have_landed(&malformed("inbox/video/init", 200)));
        // An unreadable failure status: TikTok refused it.
        assert!(!init_may_have_landed(&malformed("video/init", 502)));
        // The token refresh before it: no init was sent.
        assert!(!init_may_have_landed(&malformed("oauth/token", 200)));
        let refused = AccountError::TikTok(TikTokError::Api {
            endpoint: "video/init",
            status: 403,
            code: "url_ownership_unverified".into(),
            message: String::new(),
            log_id: String::new(),
            retry_after: None,
        });
        assert!(!init_may_have_landed(&refused));
    }
}
