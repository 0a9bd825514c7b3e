//! `ping`: a job that does nothing but prove the path web → queue → worker works end to end
//! (smoke tests, and an operator checking a fresh deployment). Its completion is observable as
//! the task's [`TaskState::Done`](crate::queue::TaskState) in the queue.

use crate::queue::JobError;
use apalis::prelude::Data;

/// The payload this handler runs, and its queue name.
pub use crate::queue::payloads::{PING as NAME, PingJob};

/// Logs the ping. Generic over the worker's context because it needs none of it, so tests can
/// run it without a store.
pub async fn handle<C>(job: PingJob, _ctx: Data<C>) -> Result<(), JobError> {
    tracing::info!(ping_id = %job.id, "pong");
    Ok(())
}
