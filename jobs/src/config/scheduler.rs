//! The scheduler's schedules, thresholds and retention periods.

use super::ConfigError;
use super::vars::{Vars, err};
use std::time::Duration;

/// The scheduler's schedules and thresholds (`scheduler::SchedulerSettings` adds the fixed
/// internals). Cron expressions use the `cron` crate's syntax with a seconds field
/// (`sec min hour day-of-month month day-of-week [year]`), evaluated in UTC, and are checked here
/// so a typo stops the process at start-up naming its variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// `SCHEDULER_TICK_MS`, default 250: how often the due index is read.
    pub tick: Duration,
    /// `SCHEDULER_DUE_BATCH`, default 500: due posts read per query.
    pub due_batch: u32,
    /// `SCHEDULER_LATE_AFTER_MS`, default 1000: a post enqueued later than this after its time is
    /// marked with `late_by_ms`.
    pub late_after: Duration,
    /// `SCHEDULER_LEASE_TTL_SECS`, default 10: a standby takes over within this after the active
    /// scheduler dies. At least six ticks.
    pub lease_ttl: Duration,
    /// `STUCK_QUEUED_SECS`, default 600.
    pub stuck_queued_after: Duration,
    /// `STUCK_UPLOADING_SECS`, default 900.
    pub stuck_uploading_after: Duration,
    /// `STUCK_PROCESSING_SECS`, default 600.
    pub stuck_processing_after: Duration,
    /// `STUCK_DISCONNECTING_SECS`, default 600.
    pub stuck_disconnecting_after: Duration,
    /// `STUCK_ERASING_SECS`, default 600: an unfinished erasure gets its job pushed again.
    pub stuck_erasing_after: Duration,
    /// `TOKEN_REFRESH_JITTER_SECS`, default 60: refresh jobs are spread over this.
    pub token_refresh_jitter: Duration,
    /// `STAGING_ORPHAN_GRACE_HOURS`, default 24: a staged object without a media row is deleted
    /// once this old.
    pub staging_orphan_grace: Duration,
    /// `JOB_RECORD_TTL_HOURS`, default 168: finished job records older than this are trimmed.
    pub job_record_ttl: Duration,
    /// `LOG_RETENTION_DAYS`, default 90: technical (access) logs older than this are deleted.
    pub log_retention_days: u32,
    /// `SCHEDULER_CRON_PARKED_POSTS`, default `35 */10 * * * *`.
    pub cron_parked_posts: String,
    /// `SCHEDULER_CRON_PENDING_APPROVALS`, default `55 * * * * *` (every minute: a post whose
    /// time came while it waited for approval must not linger).
    pub cron_pending_approvals: String,
    /// `SCHEDULER_CRON_REFRESH_TOKENS`, default `0 */5 * * * *`.
    pub cron_refresh_tokens: String,
    /// `SCHEDULER_CRON_STUCK_POSTS`, default `30 * * * * *`.
    pub cron_stuck_posts: String,
    /// `SCHEDULER_CRON_DISCONNECTING`, default `15 */5 * * * *`.
    pub cron_disconnecting: String,
    /// `SCHEDULER_CRON_ERASING_USERS`, default `20 */5 * * * *`.
    pub cron_erasing_users: String,
    /// `SCHEDULER_CRON_EXPIRED_MEDIA`, default `45 */10 * * * *`.
    pub cron_expired_media: String,
    /// `SCHEDULER_CRON_OLD_LOGS`, default `5 7 * * * *` (hourly).
    pub cron_old_logs: String,
    /// `SCHEDULER_CRON_JOB_RECORDS`, default `50 37 * * * *` (hourly).
    pub cron_job_records: String,
}

impl SchedulerConfig {
    pub(super) fn from_vars(v: &Vars<'_>) -> Result<Self, ConfigError> {
        let cron = |k: &'static str, d: &str| -> Result<String, ConfigError> {
            let expr = v
                .get(k)
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| d.into());
            let expr = expr.trim().to_owned();
            <cron::Schedule as std::str::FromStr>::from_str(&expr)
                .map_err(|e| err(k, format!("invalid cron expression {expr:?}: {e}")))?;
            Ok(expr)
        };
        let c = SchedulerConfig {
            tick: Duration::from_millis(v.parse("SCHEDULER_TICK_MS", "250")?),
            due_batch: v.parse("SCHEDULER_DUE_BATCH", "500")?,
            late_after: Duration::from_millis(v.parse("SCHEDULER_LATE_AFTER_MS", "1000")?),
            lease_ttl: v.secs("SCHEDULER_LEASE_TTL_SECS", "10")?,
            stuck_queued_after: v.secs("STUCK_QUEUED_SECS", "600")?,
            stuck_uploading_after: v.secs("STUCK_UPLOADING_SECS", "900")?,
            stuck_processing_after: v.secs("STUCK_PROCESSING_SECS", "600")?,
            stuck_disconnecting_after: v.secs("STUCK_DISCONNECTING_SECS", "600")?,
            stuck_erasing_after: v.secs("STUCK_ERASING_SECS", "600")?,
            token_refresh_jitter: v.secs("TOKEN_REFRESH_JITTER_SECS", "60")?,
            staging_orphan_grace: v.hours("STAGING_ORPHAN_GRACE_HOURS", "24")?,
            job_record_ttl: v.hours("JOB_RECORD_TTL_HOURS", "168")?,
            log_retention_days: v.parse("LOG_RETENTION_DAYS", "90")?,
            cron_refresh_tokens: cron("SCHEDULER_CRON_REFRESH_TOKENS", "0 */5 * * * *")?,
            cron_stuck_posts: cron("SCHEDULER_CRON_STUCK_POSTS", "30 * * * * *")?,
            cron_disconnecting: cron("SCHEDULER_CRON_DISCONNECTING", "15 */5 * * * *")?,
            cron_erasing_users: cron("SCHEDULER_CRON_ERASING_USERS", "20 */5 * * * *")?,
            cron_expired_media: cron("SCHEDULER_CRON_EXPIRED_MEDIA", "45 */10 * * * *")?,
            cron_old_logs: cron("SCHEDULER_CRON_OLD_LOGS", "5 7 * * * *")?,
            cron_job_records: cron("SCHEDULER_CRON_JOB_RECORDS", "50 37 * * * *")?,
            cron_parked_posts: cron("SCHEDULER_CRON_PARKED_POSTS", "35 */10 * * * *")?,
            cron_pending_approvals: cron("SCHEDULER_CRON_PENDING_APPROVALS", "55 * * * * *")?,
        };
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.tick.is_zero() || self.tick > Duration::from_secs(60) {
            return Err(err(
                "SCHEDULER_TICK_MS",
                "must be between 1 and 60000 (the promise is within 1 s)".into(),
            ));
        }
        if self.lease_ttl > Duration::from_secs(3600) {
            return Err(err(
                "SCHEDULER_LEASE_TTL_SECS",
                "must be at most 3600 (a crashed scheduler is replaced within it)".into(),
            ));
        }
        if self.due_batch == 0 {
            return Err(err("SCHEDULER_DUE_BATCH", "must be more than zero".into()));
        }
        // Renewing every third of the TTL must leave several ticks between renewals.
        if self.lease_ttl < self.tick * 6 {
            return Err(err(
                "SCHEDULER_LEASE_TTL_SECS",
                "must be at least six scheduler ticks (SCHEDULER_TICK_MS)".into(),
            ));
        }
        Ok(())
    }
}
