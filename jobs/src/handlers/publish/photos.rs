//! `publish` for a photo post: TikTok pulls the images itself (`content/init`, PULL_FROM_URL,
//! tiktok-api.md §5.4), from capability URLs we serve (`domain::photo_urls`).
//!
//! # Why a photo post is published at most once
//! Here `content/init` alone can become a post: TikTok downloads the images and posts them, no
//! byte of ours has to follow. So the danger is an init whose `publish_id` we do not know. The
//! rules:
//!
//! 1. The post is taken by compare-and-set (`queued → uploading`) and driven under the
//!    `publish:<post>` lock, as for video (rules 1 and 5 of `publish`).
//! 2. A stored `publish_id` is never initialised again: the post goes straight to
//!    `poll_status`, which follows it to `PUBLISH_COMPLETE` or `FAILED`.
//! 3. Before each init a fresh mint instant is stored on the post by compare-and-set, and the
//!    URLs handed to TikTok are bound to it. An image is served only while the post holds that
//!    same instant **and** a `publish_id` (`photo_urls::open`). Right after init the
//!    `publish_id` is stored by compare-and-set, before anything else.
//! 4. A crash (or a lost compare-and-set) between init and storing its `publish_id` leaves an
//!    init at TikTok that we do not know. Its URLs never serve a byte: the next attempt stores
//!    a new instant first, which invalidates them, and until then no `publish_id` is stored. So
//!    that init can only end `FAILED` (`photo_pull_failed`), never as a post, and initialising
//!    again is safe.
//!
//! Then `poll_status` takes over; it deletes every image once TikTok reports the post complete
//! or failed, or once the URLs have expired (TikTok can no longer pull them).
//!
//! # A photo draft
//! A draft (`PostMode::Inbox`, `post_mode: MEDIA_UPLOAD`) goes through the same rules. It
//! makes no `creator_info` call, as for a video draft (`inbox.rs`): TikTok asks for none, and
//! an account granted only `video.upload` may not make it. A full inbox defers it like a video
//! draft. `poll_status` deletes its images at `SEND_TO_USER_INBOX`, when TikTok has them; from
//! then on the post is `in_inbox` and its URLs serve nothing (`photo_urls::open`).

use crate::context::JobContext;
use crate::domain::accounts::AccountError;
use crate::domain::outcome::{Stop, stop_for_account};
use crate::domain::paced::{creator_info_paced, paced};
use crate::domain::photo_urls::PhotoUrls;
use crate::domain::upload::{hand_over, save};
use crate::model::{PhotoPost, Post, PostMode, PostSource, TikTokAccount};
use crate::pacing::Endpoint;
use crate::tiktok::{CreatorInfo, PhotoPostInfo, PhotoSource};
use chrono::{DateTime, SubsecRound, Utc};

/// Drives a photo post from `uploading` to `processing` (see the module docs).
pub(super) async fn drive(ctx: &JobContext, post: Post) -> Result<(), Stop> {
    if post.tiktok.publish_id.is_some() {
        return hand_over(ctx, post).await; // rule 2
    }
    let PostSource::Photos(photos) = post.source.clone() else {
        return Err(Stop::refused("no_media", "This post has no photos."));
    };
    let account = ctx
        .store
        .account(post.workspace_id, post.account_id)
        .await
        .map_err(super::gone(
            "account_gone",
            "The TikTok account of this post was disconnected.",
        ))?;
    init(ctx, &account, post, &photos).await
}

/// creator_info (direct posts) → checks → mint URLs → content/init → persist (rule 3) →
/// poll_status.
async fn init(
    ctx: &JobContext,
    account: &TikTokAccount,
    post: Post,
    photos: &PhotoPost,
) -> Result<(), Stop> {
    let info = match post.mode {
        PostMode::Direct => Some(direct_checks(ctx, account, &post).await?),
        PostMode::Inbox => None,
    };
    for id in &photos.media_ids {
        let media = ctx
            .store
            .media(post.workspace_id, *id)
            .await
            .map_err(super::gone(
                "media_gone",
                "An image of this post is no longer stored; upload it again.",
            ))?;
        ctx.staging
            .check_key(&media)
            .map_err(super::video_key_stop)?;
    }
    // Rule 3: a new instant, stored before TikTok hears of these URLs. Milliseconds, because
    // that is what a token carries and every store keeps.
    let minted: DateTime<Utc> = Utc::now().trunc_subsecs(3);
    let post = save(ctx, post, move |p| {
        p.tiktok.upload_url_issued_at = Some(minted);
    })
    .await?;
    let urls = PhotoUrls::new(&ctx.config);
    let images = photos
        .media_ids
        .iter()
        .map(|id| urls.url(post.workspace_id, *id, minted))
        .collect();
    let source = PhotoSource::pull(images, photos.cover_index);
    let post_info = post_info(&post, photos, info.as_ref());
    let mode = post.mode;
    let result = paced(
        ctx,
        account.workspace_id,
        account.id,
        Endpoint::Init,
        |tiktok, t| {
            let (post_info, source) = (post_info.clone(), source.clone());
            async move {
                tiktok
                    .init_photo_post(&t, mode.as_tiktok(), &post_info, &source)
                    .await
            }
        },
    )
    .await
    .map_err(|e| match e {
        AccountError::TikTok(t) if mode == PostMode::Inbox && t.is_pending_share_cap() => {
            super::inbox::inbox_full(ctx)
        }
        e => stop_for_account(ctx, e),
    })?;
    let publish_id = result.publish_id;
    tracing::info!(%publish_id, images = photos.media_ids.len(), "photo post initialised; persisting");
    // Rule 3: the publish id first; only then do the URLs serve.
    let post = save(ctx, post, move |p| {
        p.tiktok.publish_id = Some(publish_id);
        p.error_code = None;
        p.error_message = None;
    })
    .await?;
    hand_over(ctx, post).await
}

/// A direct post's live checks: the creator's current options (`creator_info`) must still offer
/// the post's privacy level.
async fn direct_checks(
    ctx: &JobContext,
    account: &TikTokAccount,
    post: &Post,
) -> Result<CreatorInfo, Stop> {
    let info = creator_info_paced(ctx, account.workspace_id, account.id)
        .await
        .map_err(|e| stop_for_account(ctx, e))?;
    super::check_privacy_offered(post, &info)?;
    Ok(info)
}

/// What TikTok is told about the post: the comment toggle forced off when the creator
/// disabled comments (known from `creator_info`, which only a direct post fetches); privacy
/// only for a direct post.
fn post_info(post: &Post, photos: &PhotoPost, info: Option<&CreatorInfo>) -> PhotoPostInfo {
    let s = &post.settings;
    PhotoPostInfo {
        title: (!s.title.is_empty()).then(|| s.title.clone()),
        description: (!photos.description.is_empty()).then(|| photos.description.clone()),
        privacy_level: (post.mode == PostMode::Direct).then_some(s.privacy_level),
        disable_comment: s.disable_comment || info.is_some_and(|i| i.comment_disabled),
        auto_add_music: photos.auto_add_music,
        brand_content_toggle: s.brand_content_toggle,
        brand_organic_toggle: s.brand_organic_toggle,
    }
}
