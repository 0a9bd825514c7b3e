//! Trimming finished job records. Both queue backends keep every completed task (payload, meta,
//! result) until [`jobs::queue::Queue::trim_done`] removes it; this sweep asks it to remove
//! those that finished more than `job_record_ttl` ago. Dead tasks are never trimmed: they stay
//! visible and replayable until an operator acts.

use crate::SchedulerError;
use crate::settings::Sweep;
use crate::sweeps::SweepReport;
use chrono::{DateTime, Utc};
use jobs::queue::Queue;
use std::time::Duration;

/// Removes the records of tasks that finished successfully more than `ttl` before `now` from
/// every queue of this namespace, and reports how many.
pub async fn trim_finished_jobs(
    queue: &Queue,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<SweepReport, SchedulerError> {
    // Whole seconds, as both backends record `done_at`.
    let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let before =
        DateTime::from_timestamp(now.timestamp() - ttl, 0).unwrap_or(DateTime::<Utc>::MIN_UTC);
    // A finished erasure's record names a person who asked to be forgotten: it goes at once.
    let removed = queue
        .trim_done(before, &[(jobs::handlers::erase_user::NAME, now)])
        .await?;
    if removed > 0 {
        tracing::info!(removed, "finished job records trimmed");
    }
    Ok(SweepReport {
        sweep: Sweep::JobRecords,
        found: removed,
        done: removed,
        skipped: 0,
    })
}
