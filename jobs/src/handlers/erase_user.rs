//! `erase_user`: forget a user completely, as `/privacy` promises. [`request`] (the web tier's
//! `DELETE /api/me`) refuses while the user is the last owner of a workspace others share (they
//! must hand ownership on first: [`EraseError::LastOwner`] names the workspaces); otherwise it
//! marks the user `erasing_since` (from then on their sessions and API keys are refused and
//! sign-in answers "being erased") and pushes this job, which, for every workspace that goes
//! with the person (their personal one, and any other they are the only member of):
//!
//! 1. cancels every post TikTok does not have yet (`request` already did, before answering; a
//!    `publish` job for a user being erased stops without calling TikTok);
//! 2. revokes each TikTok account's token at TikTok (those already being disconnected too),
//!    then deletes the account (a transient TikTok error retries the job: the tokens stay until
//!    TikTok has been asked), and looks again after step 3 for one connected meanwhile;
//! 3. deletes every staged video (object and row);
//! 4. deletes every row the user owns, the user row last (`Store::erase_user`, and
//!    `Store::delete_workspace` for the other workspaces that go). In the workspaces they share
//!    with others their posts, videos and accounts stay, shown as a former member's; their
//!    memberships and API keys go;
//! 5. removes the queue's records of finished tasks (done or dead) that name the user, and runs
//!    once more an hour later for tasks that were still running (`Queue::forget_user`).
//!
//! Every step is idempotent, so a retry, a replay or the scheduler's re-push (for users still
//! erasing after `STUCK_ERASING_SECS`) finishes what a crash left. The payload is the user id
//! only. The access logs hold no user id, so nothing in them can be tied to the user; they age
//! out after `LOG_RETENTION_DAYS`. Application logs (stderr) carry internal ids (never names,
//! emails, tokens or captions) and expire with the log platform's retention. Videos already posted stay on TikTok (TikTok's API has no
//! delete); the creator deletes them in the TikTok app.

use crate::context::JobContext;
use crate::domain::posts;
use crate::handlers::delete_workspace;
use crate::model::{Role, User, UserId, Workspace, WorkspaceId};
use crate::queue::{JobError, QueueError};
use crate::store::StoreError;
use apalis::prelude::Data;
use chrono::Utc;

/// The payload this handler runs, and its queue name.
pub use crate::queue::payloads::{ERASE_USER as NAME, EraseUser};

const ERASED_CODE: &str = "account_erased";
const ERASED_MESSAGE: &str = "Cancelled: you asked us to erase your data.";

/// Why a request could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    /// The user is the last owner of these workspaces, which have other members: erasing them
    /// would leave each without an owner.
    #[error("you are the last owner of {}; make another member an owner (or remove the other members) first", names(.0))]
    LastOwner(Vec<Workspace>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn names(workspaces: &[Workspace]) -> String {
    let quoted: Vec<String> = workspaces.iter().map(|w| format!("{:?}", w.name)).collect();
    quoted.join(", ")
}

/// The workspaces that go with `user`: their personal one and every other they are the only
/// member of. `LastOwner` when they are the last owner of one that has other members.
pub async fn going_with(ctx: &JobContext, user: UserId) -> Result<Vec<WorkspaceId>, EraseError> {
    let mut going = vec![Workspace::personal_id(user)];
    let mut blocked = Vec::new();
    for (ws, role) in ctx.store.workspaces_of(user).await? {
        if ws.personal {
            continue;
        }
        let members = ctx.store.members(ws.id).await?;
        let others = members.iter().filter(|m| m.user_id != user).count();
        let other_owner = members
            .iter()
            .any(|m| m.user_id != user && m.role == Role::Owner);
        if others == 0 {
            going.push(ws.id);
        } else if role == Role::Owner && !other_owner {
            blocked.push(ws);
        }
    }
    if blocked.is_empty() {
        Ok(going)
    } else {
        Err(EraseError::LastOwner(blocked))
    }
}

/// Marks `user` for erasure and pushes the job. Durable once the mark is written: if the push
/// fails, the scheduler's sweep pushes it later, so the request is never lost. Returns the
/// marked user (a second request keeps the first instant and pushes again, which is harmless).
pub async fn request(ctx: &JobContext, user: UserId) -> Result<User, EraseError> {
    let going = going_with(ctx, user).await?;
    let marked = ctx.store.mark_user_erasing(user, Utc::now()).await?;
    // Before answering: no post may go out after the creator asked to erase everything, even
    // if the job is late (publish also stops for a user being erased).
    for ws in going {
        posts::cancel_unsent(ctx, ws, None, ERASED_CODE, ERASED_MESSAGE).await?;
    }
    if let Err(e) = push(ctx, user).await {
        tracing::warn!(error = %e, "erase_user not queued now; the scheduler's sweep will queue it");
    }
    tracing::info!(user_id = %user, "erasure requested");
    Ok(marked)
}

/// Pushes the job for `user` (the sweep uses this too).
pub async fn push(ctx: &JobContext, user: UserId) -> Result<(), QueueError> {
    ctx.queue.push(&EraseUser { user_id: user }).await.map(drop)
}

#[tracing::instrument(skip_all, fields(job = NAME, user_id = %job.user_id))]
pub async fn handle(job: EraseUser, ctx: Data<JobContext>) -> Result<(), JobError> {
    erase(&ctx, job.user_id).await
}

/// The whole erasure (see the module doc). Ok when the user is gone.
pub async fn erase(ctx: &JobContext, user_id: UserId) -> Result<(), JobError> {
    let user = match ctx.store.user(user_id).await {
        Ok(u) => u,
        // Done already: a retry after the last step, the follow-up run, or a replay. Job
        // records that finished since the last run are forgotten too.
        Err(StoreError::NotFound) => return forget_job_records(ctx, user_id).await,
        Err(e) => return Err(e.into()),
    };
    if user.erasing_since.is_none() {
        return Err(JobError::Permanent(
            "this user did not ask to be erased".into(),
        ));
    }
    // Someone joined a workspace meanwhile and the user is its last owner: it stays theirs
    // until the person hands it on, so the job retries (the web answered before they joined).
    let going = going_with(ctx, user_id)
        .await
        .map_err(|e| JobError::Retry(e.to_string()))?;
    let (mut cancelled, mut revoked, mut videos) = (0, 0, 0);
    for &ws in &going {
        let done = delete_workspace::empty(ctx, ws, ERASED_CODE, ERASED_MESSAGE).await?;
        cancelled += done.cancelled_posts;
        revoked += done.accounts;
        videos += done.staged_videos;
        if ws != Workspace::personal_id(user_id) {
            ctx.store.delete_workspace(ws).await?;
        }
    }
    ctx.store.erase_user(user_id).await?;
    forget_job_records(ctx, user_id).await?;
    // Tasks still running now (a poll, an upload) finish after this job and leave records that
    // name the user: one more run later forgets those. This job's own record is trimmed by the
    // scheduler's `job_records` sweep without waiting for the usual TTL.
    if let Err(e) = ctx
        .queue
        .push_after(&EraseUser { user_id }, FOLLOW_UP_AFTER)
        .await
    {
        tracing::warn!(error = %e, "erasure follow-up not queued");
    }
    tracing::info!(
        cancelled_posts = cancelled,
        accounts = revoked,
        staged_videos = videos,
        "user erased"
    );
    Ok(())
}

/// When the follow-up run forgets the records of tasks that were still running at erasure: an
/// upload already under way when the person asked may take this long to end.
pub const FOLLOW_UP_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes the queue's records of finished tasks (done or dead) whose payload names the user:
/// after an erasure, not even a job record ties an id to the person.
async fn forget_job_records(ctx: &JobContext, user_id: UserId) -> Result<(), JobError> {
    let forgotten = ctx
        .queue
        .forget_user(user_id)
        .await
        .map_err(|e| JobError::Retry(format!("job records not forgotten: {e}")))?;
    tracing::info!(forgotten, "job records of the erased user removed");
    Ok(())
}
