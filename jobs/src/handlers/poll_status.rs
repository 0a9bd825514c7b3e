//! `poll_status`: follows a post at TikTok until `PUBLISH_COMPLETE` or `FAILED`, with backoff
//! inside TikTok's 30 status calls per minute (the shared pacer enforces the limit across
//! processes). When the poll budget runs out the post becomes `unconfirmed` and is reconciled
//! against the creator's recent public videos (`video.list`) instead of being left in limbo.
//!
//! As soon as TikTok has confirmed receipt (status past `PROCESSING_UPLOAD`, or any terminal
//! status), the staged video is deleted and the post records when.

use crate::context::JobContext;
use crate::domain::accounts;
use crate::domain::outcome::{self, Stop, delete_staged_media, settle, transition};
use crate::domain::paced::fetch_status;
use crate::domain::photo_urls::{self, PhotoUrls};
use crate::model::{Post, PostState, PrivacyLevel};
use crate::queue::JobError;
use crate::store::StoreError;
use crate::tiktok::{self, PublishStatus, PublishStatusKind};
use apalis::prelude::Data;
use chrono::Utc;
use std::time::Duration;

/// The payload this handler runs, and its queue name.
pub use crate::queue::payloads::{POLL_STATUS as NAME, PollStatus};

/// Extra polls for a public post's id after `PUBLISH_COMPLETE`.
const PUBLIC_ID_POLLS: u32 = 6;

/// Queues the next poll of `post` after `delay`.
async fn poll_again(ctx: &JobContext, post: &Post, delay: Duration) -> Result<(), Stop> {
    ctx.queue
        .push_after(
            &PollStatus {
                workspace_id: post.workspace_id,
                post_id: post.id,
            },
            delay,
        )
        .await
        .map(drop)
        .map_err(|e| Stop::Retry(e.to_string()))
}

/// [`poll_delay`] with the configured cap.
fn backoff(ctx: &JobContext, n: u32) -> Duration {
    poll_delay(
        n,
        Duration::from_secs(ctx.config.tiktok.status_poll_max_interval_secs),
    )
}

/// The delay before poll number `n` (0-based): 1 s, 2 s, 4 s … capped.
pub fn poll_delay(n: u32, max: Duration) -> Duration {
    Duration::from_secs(1u64 << n.min(10)).min(max)
}

#[tracing::instrument(skip_all, fields(job = NAME, post_id = %job.post_id))]
pub async fn handle(job: PollStatus, ctx: Data<JobContext>) -> Result<(), JobError> {
    let post = match ctx.store.post(job.workspace_id, job.post_id).await {
        Ok(p) => p,
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if !matches!(post.state, PostState::Processing | PostState::Unconfirmed) {
        return Ok(()); // already settled (a duplicate poll, or a replay)
    }
    let result = poll(&ctx, post).await;
    settle(&ctx, job.workspace_id, job.post_id, result).await
}

async fn poll(ctx: &JobContext, post: Post) -> Result<(), Stop> {
    let publish_id = post
        .tiktok
        .publish_id
        .clone()
        .ok_or_else(|| Stop::Retry("no publish id".into()))?;
    let account = ctx
        .store
        .account(post.workspace_id, post.account_id)
        .await?;
    let status = fetch_status(ctx, &account, &publish_id).await?;
    let polls = post.tiktok.status_polls + 1;
    match status.status {
        // A public post gets its id only after moderation (usually under a minute): poll a few
        // more times for it, so the creator gets a link, then publish without one.
        PublishStatusKind::PublishComplete
            if status.public_post_ids.is_empty()
                && post.settings.privacy_level == PrivacyLevel::PublicToEveryone
                && post.tiktok.public_id_polls < PUBLIC_ID_POLLS =>
        {
            let status_text = status.status.as_str().to_owned();
            let saved =
                transition(ctx, &post, move |p| p.await_public_id(status_text, polls)).await?;
            delete_staged_media(ctx, &saved).await; // receipt is confirmed
            poll_again(ctx, &post, backoff(ctx, saved.tiktok.public_id_polls)).await
        }
        PublishStatusKind::PublishComplete => published(ctx, &post, status, polls).await,
        PublishStatusKind::Failed => failed(ctx, &post, status, polls).await,
        _ if polls >= ctx.config.tiktok.status_poll_budget => unconfirmed(ctx, post, polls).await,
        _ => still_processing(ctx, &post, status, polls).await,
    }
}

/// `PUBLISH_COMPLETE`: receipt is confirmed, so the video leaves our side before the post reads
/// "published".
async fn published(
    ctx: &JobContext,
    post: &Post,
    status: PublishStatus,
    polls: u32,
) -> Result<(), Stop> {
    let deleted = outcome::remove_staged_object(ctx, post)
        .await
        .then(Utc::now);
    let status_text = status.status.as_str().to_owned();
    let done = transition(ctx, post, move |p| {
        p.record_poll(status_text, polls);
        p.confirm_published(status.public_post_ids, Utc::now());
        p.note_media_deleted(deleted);
    })
    .await?;
    tracing::info!("published");
    delete_staged_media(ctx, &done).await;
    Ok(())
}

/// `FAILED`: the poll is recorded, then the post fails with TikTok's reason.
async fn failed(
    ctx: &JobContext,
    post: &Post,
    status: PublishStatus,
    polls: u32,
) -> Result<(), Stop> {
    let reason = status.fail_reason.unwrap_or_else(|| "internal".into());
    let message = tiktok::fail_reason_message(&reason).to_owned();
    let mut failing = post.clone();
    failing.record_poll(status.status.as_str().to_owned(), polls);
    let saved = ctx.store.save_post(&failing, post.state).await?;
    tracing::info!(fail_reason = %reason, "TikTok failed the post");
    outcome::fail_post(ctx, &saved, reason.clone(), message, Some(reason)).await?;
    Ok(())
}

/// Still processing (or an undocumented status): record it and poll again. Receipt is
/// confirmed once TikTok is past PROCESSING_UPLOAD with every byte.
async fn still_processing(
    ctx: &JobContext,
    post: &Post,
    status: PublishStatus,
    polls: u32,
) -> Result<(), Stop> {
    let past_upload = !matches!(
        status.status,
        PublishStatusKind::ProcessingUpload | PublishStatusKind::ProcessingDownload
    );
    let status_text = status.status.as_str().to_owned();
    let saved = transition(ctx, post, move |p| {
        p.record_poll(status_text, polls);
        p.tiktok.saw_uploaded_bytes(status.uploaded_bytes);
    })
    .await?;
    // A photo post's URLs past their expiry can no longer be pulled: its images go now.
    let urls_expired = photo_urls::expired(&PhotoUrls::new(&ctx.config), &saved, Utc::now());
    if past_upload || urls_expired {
        delete_staged_media(ctx, &saved).await;
    }
    poll_again(ctx, post, backoff(ctx, polls)).await
}

/// The budget ran out: look for the post among the creator's recent public videos. Found →
/// published; not found → `unconfirmed`, and one more (slow) poll later; the scheduler's sweep
/// keeps reconciling it.
async fn unconfirmed(ctx: &JobContext, post: Post, polls: u32) -> Result<(), Stop> {
    let tiktok = ctx.tiktok.clone();
    let page = accounts::with_fresh_token(ctx, post.workspace_id, post.account_id, move |t| {
        let tiktok = tiktok.clone();
        async move { tiktok.video_list(&t, None, 20).await }
    })
    .await
    .map_err(|e| outcome::stop_for_account(ctx, e))?;
    let since = post
        .tiktok
        .upload_completed_at
        .unwrap_or(post.created_at)
        .timestamp()
        - 60;
    let title = post.settings.title.trim().to_owned();
    let found = page
        .videos
        .iter()
        .find(|v| {
            v.create_time.unwrap_or(0) >= since
                && v.title.as_deref().map(str::trim) == Some(title.as_str())
        })
        .map(|v| v.id.clone());
    let saved = transition(ctx, &post, move |p| p.reconcile(found, polls, Utc::now())).await?;
    delete_staged_media(ctx, &saved).await;
    // Bounded: after twice the budget the post stays `unconfirmed` for the creator to check.
    if saved.state == PostState::Unconfirmed
        && polls < ctx.config.tiktok.status_poll_budget.saturating_mul(2)
    {
        poll_again(
            ctx,
            &post,
            Duration::from_secs(ctx.config.tiktok.status_poll_max_interval_secs * 10),
        )
        .await?;
    }
    Ok(())
}
