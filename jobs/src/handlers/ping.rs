//! `ping`: a job that does nothing but prove the path web → queue → worker works end to end
//! (smoke tests, and an operator checking a fresh deployment). Its completion is observable as
//! the task's [`TaskState::Done`](crate::queue::TaskState) in the queue.

use crate::queue::{Job, JobError};
use apalis::prelude::Data;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The job name: queue `<namespace>:ping`.
pub const NAME: &str = "ping";

/// Asks a worker to answer. The id only correlates the run with whoever sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingJob {
    pub id: Uuid,
}

impl PingJob {
    /// A ping with a fresh id.
    pub fn new() -> Self {
        Self { id: Uuid::now_v7() }
    }
}

impl Default for PingJob {
    fn default() -> Self {
        Self::new()
    }
}

impl Job for PingJob {
    const NAME: &'static str = NAME;
}

/// Logs the ping. Generic over the worker's context because it needs none of it, so tests can
/// run it without a store.
pub async fn handle<C>(job: PingJob, _ctx: Data<C>) -> Result<(), JobError> {
    tracing::info!(ping_id = %job.id, "pong");
    Ok(())
}
