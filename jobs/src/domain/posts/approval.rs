//! Approval (issue #16): in a workspace that requires it, a post (or campaign row) submitted by
//! someone who may not approve waits in `pending_approval`. An admin or owner approves it (it
//! goes on exactly as it would have: scheduled while its time is ahead, else sent now) or
//! rejects it with a comment (cancelled, its video deleted). Both are compare-and-set on the
//! post's state and version, so of two approvers racing only one acts, and both are audited
//! with their actor. A post still pending when its time comes never goes out: the scheduler's
//! sweep ([`expire_due`]) makes it `approval_expired` and deletes its video; the author sees
//! why in their history. A post to be sent "now" waits at most the parked-post deadline
//! (`PARKED_MEDIA_DAYS`): the video is staged meanwhile, and staging is not a store.

use super::error::{PostError, conflict};
use crate::context::JobContext;
use crate::domain::audit;
use crate::domain::outcome::{delete_staged_media, transition};
use crate::domain::workspaces::Action;
use crate::model::{Actor, Post, PostId, PostState};
use crate::queue::payloads::PublishPost;
use crate::store::{StoreError, StuckAfter};
use chrono::{DateTime, Utc};
use serde_json::json;

/// Audit kinds.
pub const POST_APPROVED: &str = "post_approved";
pub const POST_REJECTED: &str = "post_rejected";
pub const APPROVAL_EXPIRED: &str = "approval_expired";

/// The longest rejection comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 1000;

/// Who submits a post, and whether it must wait for approval first: in a workspace that
/// requires approval, everyone who may not approve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submitter {
    pub by: Actor,
    pub needs_approval: bool,
}

impl Submitter {
    pub(crate) async fn of(ctx: &JobContext, by: Actor) -> Result<Self, StoreError> {
        let needs_approval = !by.role.can(Action::Approve)
            && ctx.store.workspace(by.workspace).await?.approval_required;
        Ok(Self { by, needs_approval })
    }
}

/// Why an approval or rejection was refused.
fn check(by: &Actor) -> Result<(), PostError> {
    if by.role.can(Action::Approve) {
        Ok(())
    } else {
        Err(PostError::InsufficientRole)
    }
}

/// The post `id` of `by`'s workspace, if it still waits for approval at `version` (the one
/// the approver saw; another decision or an edit since is a conflict, never overwritten).
async fn pending(
    ctx: &JobContext,
    by: &Actor,
    id: PostId,
    version: i64,
) -> Result<Post, PostError> {
    let post = ctx.store.post(by.workspace, id).await?;
    if post.state != PostState::PendingApproval {
        return Err(conflict(
            "not_pending_approval",
            format!(
                "This post is {} and no longer waits for approval.",
                post.state
            ),
        ));
    }
    if post.version != version {
        return Err(conflict(
            "changed_concurrently",
            "This post changed since you looked at it; look again before deciding.",
        ));
    }
    Ok(post)
}

/// Maps a lost compare-and-set to the answer an approver understands.
fn decided(e: StoreError) -> PostError {
    match e {
        StoreError::StaleState => conflict(
            "not_pending_approval",
            "Someone decided on this post at the same moment; look again.",
        ),
        e => e.into(),
    }
}

/// Approves the pending post `id` (seen at `version`): it is scheduled, or queued and sent.
pub async fn approve(
    ctx: &JobContext,
    by: Actor,
    id: PostId,
    version: i64,
) -> Result<Post, PostError> {
    check(&by)?;
    let post = pending(ctx, &by, id, version).await?;
    let now = Utc::now();
    let approved = transition(ctx, &post, move |p| p.approve(now))
        .await
        .map_err(decided)?;
    let detail = json!({ "post_id": id, "author": post.created_by, "to": approved.state });
    audit::record(
        &*ctx.store,
        by.workspace,
        Some(by.user),
        POST_APPROVED,
        detail,
    )
    .await;
    if approved.state == PostState::Queued {
        let job = PublishPost {
            workspace_id: by.workspace,
            post_id: id,
        };
        // A failed push leaves a `queued` post the stuck-post sweep queues.
        if let Err(e) = ctx.queue.push(&job).await {
            tracing::warn!(post_id = %id, error = %e, "approved post not queued now; the sweep will");
        }
    }
    Ok(approved)
}

/// Rejects the pending post `id` (seen at `version`) with `comment` (required: the author is
/// told why): it is cancelled and its video deleted.
pub async fn reject(
    ctx: &JobContext,
    by: Actor,
    id: PostId,
    version: i64,
    comment: &str,
) -> Result<Post, PostError> {
    check(&by)?;
    let comment = comment.trim();
    if comment.is_empty() || comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(PostError::Invalid {
            code: "comment_required",
            message: format!(
                "Say why in a comment (at most {MAX_COMMENT_CHARS} characters): the author reads it."
            ),
        });
    }
    let post = pending(ctx, &by, id, version).await?;
    let comment = comment.to_owned();
    let rejected = transition(ctx, &post, move |p| p.reject(&comment))
        .await
        .map_err(decided)?;
    delete_staged_media(ctx, &rejected).await;
    let detail = json!({ "post_id": id, "author": post.created_by });
    audit::record(
        &*ctx.store,
        by.workspace,
        Some(by.user),
        POST_REJECTED,
        detail,
    )
    .await;
    Ok(rejected)
}

/// The posts of `by`'s workspace waiting for approval, oldest first (what the approvals queue
/// shows); `by` must be allowed to approve.
pub async fn queue(ctx: &JobContext, by: Actor) -> Result<Vec<Post>, PostError> {
    check(&by)?;
    const PAGE: u32 = 200;
    let mut waiting = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = ctx
            .store
            .list_posts(by.workspace, cursor.as_deref(), PAGE)
            .await?;
        waiting.extend(
            page.items
                .into_iter()
                .filter(|p| p.state == PostState::PendingApproval),
        );
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    waiting.reverse();
    Ok(waiting)
}

/// When a pending post stops waiting: its scheduled time, or for a post to be sent now, the
/// parked-post deadline after it was submitted.
pub fn deadline(post: &Post, unscheduled_wait: chrono::Duration) -> DateTime<Utc> {
    post.scheduled_at
        .unwrap_or(post.created_at + unscheduled_wait)
}

/// The scheduler's sweep: every post still pending approval past its [`deadline`] at `now`
/// becomes `approval_expired` and loses its staged video. Returns how many expired.
pub async fn expire_due(
    ctx: &JobContext,
    now: DateTime<Utc>,
    batch: u32,
) -> Result<usize, StoreError> {
    let wait = chrono::Duration::from_std(ctx.config.staging.parked_media_ttl)
        .unwrap_or(chrono::Duration::days(7));
    let mut expired = 0;
    let mut after: Option<StuckAfter> = None;
    loop {
        let page = ctx
            .store
            .posts_stuck_in(PostState::PendingApproval, now, after, batch)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(StuckAfter::of(last));
        for post in page.iter().filter(|p| deadline(p, wait) <= now) {
            match transition(ctx, post, Post::expire_approval).await {
                Ok(gone) => {
                    delete_staged_media(ctx, &gone).await;
                    let detail = json!({ "post_id": post.id, "author": post.created_by });
                    let ws = post.workspace_id;
                    audit::record(&*ctx.store, ws, None, APPROVAL_EXPIRED, detail).await;
                    expired += 1;
                }
                // Approved, rejected or withdrawn meanwhile: it is no longer ours to expire.
                Err(StoreError::StaleState) => {}
                Err(e) => return Err(e),
            }
        }
        if page.len() < batch as usize {
            break;
        }
    }
    Ok(expired)
}
