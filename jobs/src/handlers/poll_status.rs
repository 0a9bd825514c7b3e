//! `poll_status`: follows a post at TikTok until `PUBLISH_COMPLETE` or `FAILED`, with backoff
//! inside TikTok's 30 status calls per minute (the shared pacer enforces the limit across
//! processes). When the poll budget runs out the post becomes `unconfirmed` and is reconciled
//! against the creator's recent public videos (`video.list`) instead of being left in limbo.
//!
//! As soon as TikTok has confirmed receipt (status past `PROCESSING_UPLOAD`, or any terminal
//! status), the staged video is deleted and the post records when.
//!
//! A draft (`PostMode::Inbox`) reaches `SEND_TO_USER_INBOX` and becomes `in_inbox`: the creator
//! may take hours to post it from the TikTok app, so its polls slow down to
//! `INBOX_POLL_MAX_INTERVAL_SECS`, the poll budget no longer applies, and once
//! `INBOX_DRAFT_TTL_HOURS` have passed without the creator posting it, it ends `left_in_inbox`.

use crate::context::JobContext;
use crate::domain::accounts;
use crate::domain::outcome::{self, Stop, delete_staged_media, settle, transition};
use crate::domain::paced::fetch_status;
use crate::domain::photo_urls::{self, PhotoUrls};
use crate::domain::posts;
use crate::model::{Post, PostMode, PostState, PrivacyLevel};
use crate::queue::JobError;
use crate::store::StoreError;
use crate::tiktok::{self, PublishStatus, PublishStatusKind};
use apalis::prelude::Data;
use chrono::Utc;
use std::time::Duration;

/// The payload this handler runs, and its queue name.
pub use crate::queue::payloads::{POLL_STATUS as NAME, PollStatus};

/// TikTok's `fail_reason` for a publish stopped by `publish/cancel`.
const CANCELLED: &str = "publish_cancelled";

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
    // 2^22 s is seven weeks: past any cap, without overflowing.
    Duration::from_secs(1u64 << n.min(22)).min(max)
}

/// The delay before poll number `n` of a draft waiting in the creator's inbox: the same
/// doubling, up to the inbox cap, and never past its `deadline` (seen from `now`), so a draft
/// is given up on time.
pub fn inbox_poll_delay(
    n: u32,
    max: Duration,
    now: chrono::DateTime<Utc>,
    deadline: chrono::DateTime<Utc>,
) -> Duration {
    let left = (deadline - now).to_std().unwrap_or_default();
    poll_delay(n, max).min(left.max(Duration::from_secs(1)))
}

#[tracing::instrument(skip_all, fields(job = NAME, post_id = %job.post_id))]
pub async fn handle(job: PollStatus, ctx: Data<JobContext>) -> Result<(), JobError> {
    let post = match ctx.store.post(job.workspace_id, job.post_id).await {
        Ok(p) => p,
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if !matches!(
        post.state,
        PostState::Processing | PostState::Unconfirmed | PostState::InInbox
    ) {
        // Already settled (a duplicate poll, a replay, or this job again after its worker died
        // between settling a grouped post and letting the group's video go: it checks again).
        if post.group.is_some() {
            delete_staged_media(&ctx, &post).await;
        }
        return Ok(());
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
                && may_be_public(&post)
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
        PublishStatusKind::SendToUserInbox => in_inbox(ctx, &post, status, polls).await,
        // A draft TikTok delivered waits for its creator, not for our budget.
        _ if post.state == PostState::InInbox => in_inbox(ctx, &post, status, polls).await,
        _ if polls >= ctx.config.tiktok.status_poll_budget => unconfirmed(ctx, post, polls).await,
        _ => still_processing(ctx, &post, status, polls).await,
    }
}

/// Whether a complete post may still get a public id: a direct post chosen public, or a draft
/// (its creator picked the audience in the TikTok app; we cannot know which).
fn may_be_public(post: &Post) -> bool {
    post.mode == PostMode::Inbox || post.settings.privacy_level == PrivacyLevel::PublicToEveryone
}

/// `SEND_TO_USER_INBOX`: the draft is in the creator's inbox. The first time, TikTok holds the
/// video (or every image of a photo draft, pulled before delivery), so the staged copy is
/// deleted before the post reads `in_inbox`; a photo draft's URLs stop serving with that state. Then it waits, polled
/// ever more slowly, until the creator posts it or its time is up (`left_in_inbox`).
async fn in_inbox(
    ctx: &JobContext,
    post: &Post,
    status: PublishStatus,
    polls: u32,
) -> Result<(), Stop> {
    let ttl = ctx.config.tiktok.inbox_draft_ttl;
    let deadline = post.inbox_deadline(ttl);
    let now = Utc::now();
    let status_text = status.status.as_str().to_owned();
    let saved = if post.state != PostState::InInbox {
        let deleted = outcome::remove_staged_object(ctx, post)
            .await
            .then(Utc::now);
        let saved = transition(ctx, post, move |p| {
            p.reached_inbox(status_text, polls, deleted)
        })
        .await?;
        tracing::info!("draft delivered to the creator's TikTok inbox");
        delete_staged_media(ctx, &saved).await;
        saved
    } else if now >= deadline {
        transition(ctx, post, move |p| p.left_in_inbox(status_text, polls, ttl)).await?;
        tracing::info!("draft never posted from the inbox; given up");
        return Ok(());
    } else {
        transition(ctx, post, move |p| p.record_poll(status_text, polls)).await?
    };
    let max = Duration::from_secs(ctx.config.tiktok.inbox_poll_max_interval_secs);
    poll_again(ctx, &saved, inbox_poll_delay(polls, max, now, deadline)).await
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
    if reason == CANCELLED && posts::url::downloading(&saved) {
        // Only our own `publish/cancel` ends a download so: the creator cancelled it, and the
        // post reads so whichever of this poll and that request writes first.
        transition(ctx, &saved, Post::cancel).await?;
        tracing::info!("TikTok confirmed the cancelled download");
        return Ok(());
    }
    tracing::info!(fail_reason = %reason, "TikTok failed the post");
    outcome::fail_post(ctx, &saved, reason.clone(), message, Some(reason)).await?;
    Ok(())
}

/// Still processing (or an undocumented status): record it and poll again. Receipt is
/// confirmed once TikTok is past PROCESSING_UPLOAD with every byte. `PROCESSING_DOWNLOAD` (a
/// URL post TikTok is still pulling) keeps polling too, recording TikTok's `downloaded_bytes`.
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
        // PULL_FROM_URL: how far TikTok's download got, shown while it runs.
        if status.downloaded_bytes.is_some() {
            p.tiktok.downloaded_bytes = status.downloaded_bytes;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeDelta};

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn direct_polls_double_up_to_their_cap() {
        let cap = Duration::from_secs(30);
        let delays: Vec<u64> = (0..7).map(|n| poll_delay(n, cap).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
    }

    #[test]
    fn a_waiting_draft_is_polled_quickly_first_then_hourly_and_never_past_its_deadline() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let far = now + TimeDelta::days(1);
        let delay = |n| inbox_poll_delay(n, HOUR, now, far).as_secs();
        assert_eq!(delay(0), 1);
        assert_eq!(delay(5), 32);
        assert_eq!(delay(11), 2048, "past the direct posts' cap of 2^10 s");
        assert_eq!(delay(12), 3600);
        assert_eq!(delay(40), 3600, "no overflow, however many polls");
        let soon = now + TimeDelta::minutes(10);
        assert_eq!(inbox_poll_delay(30, HOUR, now, soon).as_secs(), 600);
        // Past the deadline: one more poll at once, which gives the draft up.
        let past = now - TimeDelta::minutes(1);
        assert_eq!(inbox_poll_delay(30, HOUR, now, past).as_secs(), 1);
    }
}
