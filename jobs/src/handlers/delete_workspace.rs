//! `delete_workspace`: a team workspace deleted by one of its owners. [`request`] (the web
//! tier's `DELETE /api/workspaces/current`) cancels every post TikTok does not have yet and
//! pushes this job, which empties the workspace ([`empty`]: posts cancelled again for any
//! submitted meanwhile, each account's token revoked at TikTok and the account deleted, every
//! staged video deleted) and then deletes its rows, members and invitations
//! (`Store::delete_workspace`). Every step is idempotent, so a retry finishes what a crash
//! left. A personal workspace is not deleted this way: it goes with its person's erasure,
//! which empties it with the same [`empty`].

use crate::context::JobContext;
use crate::domain::audit;
use crate::domain::posts;
use crate::domain::workspaces::Action;
use crate::handlers::disconnect_account;
use crate::model::{Actor, WorkspaceId};
use crate::queue::{JobError, QueueError};
use crate::store::StoreError;
use apalis::prelude::Data;
use serde_json::json;

/// The payload this handler runs, and its queue name.
pub use crate::queue::payloads::{DELETE_WORKSPACE as NAME, DeleteWorkspace};

/// The audit kind of a deletion request (recorded before the workspace and its log go; it
/// survives in the export of nobody, which is the point of deleting).
pub const WORKSPACE_DELETE_REQUESTED: &str = "workspace_delete_requested";

/// Why a deletion was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    /// Only owners delete a workspace (403 `insufficient_role`).
    #[error("only the workspace's owners may delete it")]
    InsufficientRole,
    /// A personal workspace goes with its person.
    #[error(
        "a personal workspace is deleted with your account: erase your data on Settings instead"
    )]
    Personal,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// What emptying a workspace did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Emptied {
    pub cancelled_posts: usize,
    pub accounts: usize,
    pub staged_videos: usize,
}

/// Deletes `by`'s current workspace: its unsent posts are cancelled at once (no post goes out
/// after the owner asked), the rest is the job's.
pub async fn request(ctx: &JobContext, by: Actor) -> Result<(), DeleteError> {
    if !by.role.can(Action::DeleteWorkspace) {
        return Err(DeleteError::InsufficientRole);
    }
    if ctx.store.workspace(by.workspace).await?.personal {
        return Err(DeleteError::Personal);
    }
    posts::cancel_unsent(ctx, by.workspace, None, CODE, MESSAGE).await?;
    let detail = json!({ "workspace_id": by.workspace });
    let kind = WORKSPACE_DELETE_REQUESTED;
    audit::record(&*ctx.store, by.workspace, Some(by.user), kind, detail).await;
    ctx.queue
        .push(&DeleteWorkspace {
            workspace_id: by.workspace,
        })
        .await?;
    tracing::info!(workspace_id = %by.workspace, "workspace deletion requested");
    Ok(())
}

const CODE: &str = "workspace_deleted";
const MESSAGE: &str = "Cancelled: the workspace was deleted.";

#[tracing::instrument(skip_all, fields(job = NAME, workspace_id = %job.workspace_id))]
pub async fn handle(job: DeleteWorkspace, ctx: Data<JobContext>) -> Result<(), JobError> {
    let ws = job.workspace_id;
    match ctx.store.workspace(ws).await {
        Ok(w) if w.personal => {
            return Err(JobError::Permanent(
                "a personal workspace goes with its person's erasure".into(),
            ));
        }
        Ok(_) => {}
        Err(StoreError::NotFound) => return Ok(()), // deleted already: a retry or a replay
        Err(e) => return Err(e.into()),
    }
    let done = empty(&ctx, ws, CODE, MESSAGE).await?;
    ctx.store.delete_workspace(ws).await?;
    tracing::info!(
        cancelled_posts = done.cancelled_posts,
        accounts = done.accounts,
        staged_videos = done.staged_videos,
        "workspace deleted"
    );
    Ok(())
}

/// Empties workspace `ws` of what lives outside its rows: cancels every post TikTok does not
/// have yet (recording `code` and `message`), revokes each account's token at TikTok and
/// deletes the account (a transient TikTok failure retries the job with the tokens kept), and
/// deletes every staged video. Looks for accounts once more at the end, for one connected
/// meanwhile, so no token is deleted without being revoked.
pub async fn empty(
    ctx: &JobContext,
    ws: WorkspaceId,
    code: &'static str,
    message: &'static str,
) -> Result<Emptied, JobError> {
    let mut done = Emptied {
        cancelled_posts: posts::cancel_unsent(ctx, ws, None, code, message).await?,
        accounts: revoke_and_delete_accounts(ctx, ws).await?,
        staged_videos: 0,
    };
    for media in ctx.store.list_media(ws).await? {
        ctx.staging
            .delete(&media)
            .await
            .map_err(|e| JobError::Retry(format!("staged video not deleted: {e}")))?;
        done.staged_videos += 1;
    }
    done.accounts += revoke_and_delete_accounts(ctx, ws).await?;
    Ok(done)
}

/// Revokes every account's token at TikTok (those already being disconnected too), then deletes
/// the account.
async fn revoke_and_delete_accounts(ctx: &JobContext, ws: WorkspaceId) -> Result<usize, JobError> {
    let mut n = 0;
    for account in ctx.store.all_accounts(ws).await? {
        disconnect_account::revoke(ctx, &account).await?;
        match ctx.store.delete_account(ws, account.id).await {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        n += 1;
    }
    Ok(n)
}
