//! Turning the scheduler's reports into the heartbeat kept in `jobs::ops::heartbeat`, which the web
//! tier reads for `/readyz` and `/metrics`.

use crate::due::TickReport;
use crate::sweeps::SweepReport;
use chrono::{DateTime, Utc};
pub use jobs::ops::heartbeat::{
    Heartbeat, STALE_AFTER, SweepRecord, TickSummary, heartbeat, record,
};
use std::time::Duration;

/// Summarises a tick that took `took`.
pub fn tick_summary(
    result: &Result<TickReport, crate::SchedulerError>,
    took: Duration,
) -> TickSummary {
    let took_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
    match result {
        Ok(r) => TickSummary {
            due: r.due,
            enqueued: r.enqueued.len(),
            lost_races: r.lost_races,
            failed: r.failed,
            max_late_ms: r.max_late_ms(),
            took_ms,
            error: None,
        },
        Err(e) => TickSummary {
            took_ms,
            error: Some(e.to_string()),
            ..TickSummary::default()
        },
    }
}

/// Records a finished sweep.
pub fn sweep_record(
    at: DateTime<Utc>,
    result: &Result<SweepReport, crate::SchedulerError>,
) -> SweepRecord {
    match result {
        Ok(r) => SweepRecord {
            at,
            ok: true,
            summary: format!("found {}, done {}, skipped {}", r.found, r.done, r.skipped),
        },
        Err(e) => SweepRecord {
            at,
            ok: false,
            summary: e.to_string(),
        },
    }
}
