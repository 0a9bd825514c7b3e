//! What operators can see and do: queue depths, dead tasks, and replaying what is safe to
//! replay. The web tier's `/ops` page and `/api/ops/*` call these; who counts as an operator is
//! the web tier's business (`OPS_GOOGLE_UIDS`).
//!
//! Replay safety, per job:
//! - `publish`: only through the same check a creator's retry goes through
//!   ([`posts::prepare_replay`]): the post failed or was parked, its video is still staged, and
//!   TikTok cannot still publish it (its status is asked). Then the dead task itself is queued
//!   again. A post that went out meanwhile is refused, so a replay never makes a second post.
//! - `poll_status`, `refresh_token`, `disconnect_account`, `erase_user`, `ping`: idempotent by
//!   construction (they read TikTok's state, single-flight the refresh, or delete what is still
//!   there), so the dead task is queued again as is.

pub mod heartbeat;
pub mod rotate_keys;

use crate::context::JobContext;
use crate::domain::posts::{self, PostError};
use crate::handlers::publish::PublishPost;
use crate::handlers::{
    delete_workspace, disconnect_account, erase_user, ping, poll_status, publish, refresh_token,
};
use crate::queue::{DeadJob, QueueError, QueueStats, TaskId};
use serde::Serialize;

/// Every job type, in the order dashboards show them.
pub const JOBS: [&str; 7] = [
    publish::NAME,
    poll_status::NAME,
    refresh_token::NAME,
    disconnect_account::NAME,
    erase_user::NAME,
    delete_workspace::NAME,
    ping::NAME,
];

/// One queue's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueOverview {
    pub job: &'static str,
    #[serde(flatten)]
    pub stats: QueueStats,
}

/// What went wrong with an operator's request.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("no job type {0:?}")]
    UnknownJob(String),
    #[error("task {0} is not in the dead list (replayed or discarded already?)")]
    NotDead(TaskId),
    /// Replaying is not safe now; `code` says why.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    #[error(transparent)]
    Queue(QueueError),
    #[error(transparent)]
    Post(PostError),
}

impl From<QueueError> for OpsError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::NotDead { task_id, .. } => OpsError::NotDead(task_id),
            e => OpsError::Queue(e),
        }
    }
}

fn job_name(job: &str) -> Result<&'static str, OpsError> {
    JOBS.into_iter()
        .find(|j| *j == job)
        .ok_or_else(|| OpsError::UnknownJob(job.to_owned()))
}

/// Counts of every queue.
pub async fn overview(ctx: &JobContext) -> Result<Vec<QueueOverview>, QueueError> {
    let mut out = Vec::with_capacity(JOBS.len());
    for job in JOBS {
        out.push(QueueOverview {
            job,
            stats: ctx.queue.stats(job).await?,
        });
    }
    Ok(out)
}

/// Up to `limit` dead tasks of `job`, newest first. Payloads are ids only.
pub async fn dead(ctx: &JobContext, job: &str, limit: usize) -> Result<Vec<DeadJob>, OpsError> {
    let job = job_name(job)?;
    Ok(ctx.queue.dead_jobs(job, limit).await?)
}

/// Replays one dead task if that is safe (see the module doc). Returns the new task's id.
pub async fn replay(ctx: &JobContext, job: &str, id: &TaskId) -> Result<TaskId, OpsError> {
    let job = job_name(job)?;
    if job == publish::NAME {
        let dead = ctx
            .queue
            .dead_job(job, id)
            .await?
            .ok_or_else(|| OpsError::NotDead(id.clone()))?;
        let task: PublishPost =
            serde_json::from_value(dead.payload).map_err(|e| OpsError::Refused {
                code: "unreadable_payload",
                message: format!("this task's payload is not a publish job: {e}"),
            })?;
        match posts::prepare_replay(ctx, task.workspace_id, task.post_id).await {
            Ok(_) => {}
            Err(PostError::NotFound) => {
                return Err(OpsError::Refused {
                    code: "post_gone",
                    message: "the post or its TikTok account no longer exists (disconnected, or \
                              its owner erased their data); discard this task"
                        .into(),
                });
            }
            Err(PostError::Conflict { code, message }) => {
                return Err(OpsError::Refused { code, message });
            }
            Err(e) => return Err(OpsError::Post(e)),
        }
        // If this loses a race with another replay, the post is queued without a task; the
        // scheduler's stuck-post sweep pushes one after STUCK_QUEUED_SECS.
    }
    let new_id = ctx.queue.replay(job, id).await?;
    tracing::info!(job, task_id = %id, new_task_id = %new_id, "operator replayed a dead task");
    Ok(new_id)
}

/// Removes a dead task for good (handled another way, or not worth replaying).
pub async fn discard(ctx: &JobContext, job: &str, id: &TaskId) -> Result<(), OpsError> {
    let job = job_name(job)?;
    ctx.queue.discard_dead(job, id).await?;
    Ok(())
}
