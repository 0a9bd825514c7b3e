//! Posts parked in `needs_reconnect`: TikTok stopped accepting our access to their account
//! while they waited or uploaded. They keep their staged video and go out again when the
//! creator reconnects, or fail once the reconnect deadline passes.
//!
//! - **Reconnect** (the TikTok OAuth callback, [`requeue_account`]): each parked post of the
//!   account goes back in line. One still ahead of its time is `scheduled` again (the scheduler
//!   takes it then); one whose time has passed, or a "post now" one, is `queued` at once, marked
//!   with `late_by_ms` like a late scheduler tick, and its `publish` job is pushed after every
//!   state write (a crash in between leaves `queued` posts, which the stuck-post sweep pushes).
//! - **Retry** (`POST /api/posts/{id}/retry`, [`prepare_retry`]): the same, one post at a time,
//!   refused with `account_needs_reconnect` while the account still cannot publish.
//! - **Deadline** (`PARKED_MEDIA_DAYS`, default 7): a post parked for longer fails with
//!   `reconnect_deadline_passed` and its video is deleted ([`fail_overdue`], run by the
//!   scheduler's `parked_posts` sweep). "Parked for" counts from the post's last change, which
//!   is the moment it was parked: nothing else writes a parked post.

use crate::context::JobContext;
use crate::domain::accounts;
use crate::domain::outcome::{fail_post, transition};
use crate::domain::posts::error::{PostError, conflict};
use crate::model::{AccountId, Post, PostState, WorkspaceId};
use crate::queue::payloads::PublishPost;
use crate::store::StoreError;
use chrono::{DateTime, Utc};

/// The code of a parked post whose account was not reconnected in time.
pub const RECONNECT_DEADLINE_PASSED: &str = "reconnect_deadline_passed";

/// The code of a retry refused because the account still needs reconnecting.
pub const ACCOUNT_NEEDS_RECONNECT: &str = "account_needs_reconnect";

/// When a parked post fails and its video is deleted, unless its account is reconnected first.
pub fn deadline(ctx: &JobContext, post: &Post) -> DateTime<Utc> {
    let ttl = chrono::Duration::from_std(ctx.config.staging.parked_media_ttl)
        .unwrap_or(chrono::Duration::MAX);
    post.updated_at
        .checked_add_signed(ttl)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// How one parked post was put back in line.
#[derive(Debug, Clone, PartialEq)]
pub enum Requeued {
    /// Still ahead of its time: `scheduled` again, the scheduler takes it.
    Scheduled(Post),
    /// Due (or "post now"): `queued`; the caller pushes its `publish` job.
    Queued(Post),
    /// Past the reconnect deadline: failed, video deleted.
    DeadlinePassed,
}

/// Puts one parked post back in line at `now` (compare-and-set from `needs_reconnect`; a post
/// that moved meanwhile is `StaleState`). Does not check the account: callers do.
pub async fn requeue(
    ctx: &JobContext,
    post: &Post,
    now: DateTime<Utc>,
) -> Result<Requeued, StoreError> {
    if post.state != PostState::NeedsReconnect {
        return Err(StoreError::StaleState);
    }
    if now >= deadline(ctx, post) {
        fail_parked(ctx, post).await?;
        return Ok(Requeued::DeadlinePassed);
    }
    let late_after = i64::try_from(ctx.config.scheduler.late_after.as_millis()).unwrap_or(i64::MAX);
    let saved = transition(ctx, post, move |p| p.back_in_line(now, late_after)).await?;
    Ok(if saved.state == PostState::Scheduled {
        Requeued::Scheduled(saved)
    } else {
        Requeued::Queued(saved)
    })
}

/// After `account` was (re)connected: puts every parked post of it back in line and pushes the
/// `publish` jobs of those due now, after all state writes. Returns how many posts moved. An
/// account that still cannot take a post (the creator left out `video.publish` for a direct
/// post, `video.upload` for a draft) keeps that post parked.
pub async fn requeue_account(
    ctx: &JobContext,
    ws: WorkspaceId,
    account: AccountId,
) -> Result<usize, StoreError> {
    let current = ctx.store.account(ws, account).await?;
    let takes = |p: &Post| accounts::cannot_post_reason(&current, p.mode).is_none();
    const PAGE: u32 = 200;
    let now = Utc::now();
    let mut moved = 0;
    let mut jobs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = ctx.store.list_posts(ws, cursor.as_deref(), PAGE).await?;
        for post in page
            .items
            .iter()
            .filter(|p| p.account_id == account && p.state == PostState::NeedsReconnect && takes(p))
        {
            match requeue(ctx, post, now).await {
                Ok(Requeued::Queued(p)) => {
                    jobs.push(PublishPost {
                        workspace_id: p.workspace_id,
                        post_id: p.id,
                    });
                    moved += 1;
                }
                Ok(Requeued::Scheduled(_)) => moved += 1,
                Ok(Requeued::DeadlinePassed) => {}
                // Cancelled or retried meanwhile: no longer ours.
                Err(StoreError::StaleState | StoreError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if !jobs.is_empty() {
        ctx.queue
            .push_bulk(&jobs)
            .await
            .map_err(|e| StoreError::Unavailable(format!("queue: {e}")))?;
    }
    tracing::info!(account_id = %account, moved, queued = jobs.len(), "parked posts back in line after a reconnect");
    Ok(moved)
}

/// The retry of one parked post (the state gate of `posts::prepare_replay`): refused while its
/// account cannot publish, else put back in line (the caller pushes `publish` when it is
/// `queued`).
pub async fn prepare_retry(ctx: &JobContext, post: &Post) -> Result<Post, PostError> {
    let account = ctx
        .store
        .account(post.workspace_id, post.account_id)
        .await?;
    if let Some(why) = accounts::cannot_post_reason(&account, post.mode) {
        return Err(conflict(
            ACCOUNT_NEEDS_RECONNECT,
            format!(
                "{why} This post waits for it and goes out by itself once the account is \
                 reconnected (until {}).",
                deadline(ctx, post).format("%Y-%m-%d %H:%M UTC")
            ),
        ));
    }
    match requeue(ctx, post, Utc::now()).await {
        Ok(Requeued::Queued(p) | Requeued::Scheduled(p)) => Ok(p),
        Ok(Requeued::DeadlinePassed) => {
            Err(conflict(RECONNECT_DEADLINE_PASSED, deadline_message(ctx)))
        }
        Err(StoreError::StaleState) => Err(conflict(
            "not_replayable",
            "This post changed meanwhile; reload to see where it is.",
        )),
        Err(e) => Err(e.into()),
    }
}

/// Fails a parked post whose deadline has passed at `now` and deletes its video. False when
/// it is not (or no longer) parked past its deadline.
pub async fn fail_overdue(
    ctx: &JobContext,
    post: &Post,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    if post.state != PostState::NeedsReconnect || now < deadline(ctx, post) {
        return Ok(false);
    }
    match fail_parked(ctx, post).await {
        Ok(()) => Ok(true),
        Err(StoreError::StaleState | StoreError::NotFound) => Ok(false),
        Err(e) => Err(e),
    }
}

fn deadline_message(ctx: &JobContext) -> String {
    let days = ctx.config.staging.parked_media_ttl.as_secs() / 86_400;
    format!(
        "The TikTok account of this post was not reconnected within {days} days, so the post \
         was given up and its video deleted. Reconnect the account and upload the video again."
    )
}

async fn fail_parked(ctx: &JobContext, post: &Post) -> Result<(), StoreError> {
    tracing::info!(post_id = %post.id, "reconnect deadline passed; failing the parked post");
    fail_post(
        ctx,
        post,
        RECONNECT_DEADLINE_PASSED.into(),
        deadline_message(ctx),
        None,
    )
    .await
}
