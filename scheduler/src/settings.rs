//! The scheduler's knobs. [`SchedulerSettings::from_config`] takes the schedules and thresholds
//! from `Config` (`jobs::config::SchedulerConfig`: the variables named on each field, checked at
//! start-up) and fixes the few internals that are not worth a variable.

use crate::SchedulerError;
use jobs::access_log::AccessLog;
use jobs::config::Config;
use serde::Serialize;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// The periodic sweeps, each on its own cron schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sweep {
    /// Enqueue `refresh_token` for accounts whose access token expires within the margin.
    RefreshTokens,
    /// Re-push jobs for posts stuck in `queued`, `uploading` or `processing`.
    StuckPosts,
    /// Re-push `disconnect_account` for accounts stuck in `disconnecting`.
    DisconnectingAccounts,
    /// Re-push `erase_user` for users whose erasure is unfinished.
    ErasingUsers,
    /// Delete staged media past their deadline.
    ExpiredMedia,
    /// Delete access logs older than the retention.
    OldLogs,
    /// Trim finished job records from the queue backend.
    JobRecords,
    /// Fail posts parked in `needs_reconnect` past `PARKED_MEDIA_DAYS`; delete their videos.
    ParkedPosts,
    /// Expire posts whose time came while they waited for approval; delete their videos.
    PendingApprovals,
}

impl Sweep {
    /// Every sweep, in the order they run when several are due at once.
    pub const ALL: [Sweep; 9] = [
        Sweep::StuckPosts,
        Sweep::RefreshTokens,
        Sweep::DisconnectingAccounts,
        Sweep::ErasingUsers,
        Sweep::ExpiredMedia,
        Sweep::OldLogs,
        Sweep::JobRecords,
        Sweep::ParkedPosts,
        Sweep::PendingApprovals,
    ];

    /// The stable name used in logs and the heartbeat.
    pub fn name(self) -> &'static str {
        match self {
            Sweep::RefreshTokens => "refresh_tokens",
            Sweep::StuckPosts => "stuck_posts",
            Sweep::DisconnectingAccounts => "disconnecting_accounts",
            Sweep::ErasingUsers => "erasing_users",
            Sweep::ExpiredMedia => "expired_media",
            Sweep::OldLogs => "old_logs",
            Sweep::JobRecords => "job_records",
            Sweep::ParkedPosts => "parked_posts",
            Sweep::PendingApprovals => "pending_approvals",
        }
    }
}

/// Cron expressions (the `cron` crate's syntax, with a seconds field:
/// `sec min hour day-of-month month day-of-week [year]`), evaluated in UTC. Seconds are staggered
/// so sweeps rarely start in the same tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSettings {
    /// `SCHEDULER_CRON_REFRESH_TOKENS`, default every 5 minutes.
    pub refresh_tokens: String,
    /// `SCHEDULER_CRON_STUCK_POSTS`, default every minute.
    pub stuck_posts: String,
    /// `SCHEDULER_CRON_DISCONNECTING`, default every 5 minutes.
    pub disconnecting_accounts: String,
    /// `SCHEDULER_CRON_ERASING_USERS`, default every 5 minutes.
    pub erasing_users: String,
    /// `SCHEDULER_CRON_EXPIRED_MEDIA`, default every 10 minutes.
    pub expired_media: String,
    /// `SCHEDULER_CRON_OLD_LOGS`, default hourly (deletion works by whole days; hourly bounds
    /// how long a file outlives its 90th day).
    pub old_logs: String,
    /// `SCHEDULER_CRON_JOB_RECORDS`, default hourly.
    pub job_records: String,
    /// `SCHEDULER_CRON_PARKED_POSTS`, default every 10 minutes (the deadline is days long).
    pub parked_posts: String,
    /// `SCHEDULER_CRON_PENDING_APPROVALS`, default every minute.
    pub pending_approvals: String,
}

impl CronSettings {
    /// The expressions `Config` read (its defaults are the ones documented above).
    pub fn from_config(config: &Config) -> Self {
        let c = &config.scheduler;
        Self {
            refresh_tokens: c.cron_refresh_tokens.clone(),
            stuck_posts: c.cron_stuck_posts.clone(),
            disconnecting_accounts: c.cron_disconnecting.clone(),
            erasing_users: c.cron_erasing_users.clone(),
            expired_media: c.cron_expired_media.clone(),
            old_logs: c.cron_old_logs.clone(),
            job_records: c.cron_job_records.clone(),
            parked_posts: c.cron_parked_posts.clone(),
            pending_approvals: c.cron_pending_approvals.clone(),
        }
    }
}

impl CronSettings {
    /// The expression of one sweep.
    pub fn expression(&self, sweep: Sweep) -> &str {
        match sweep {
            Sweep::RefreshTokens => &self.refresh_tokens,
            Sweep::StuckPosts => &self.stuck_posts,
            Sweep::DisconnectingAccounts => &self.disconnecting_accounts,
            Sweep::ErasingUsers => &self.erasing_users,
            Sweep::ExpiredMedia => &self.expired_media,
            Sweep::OldLogs => &self.old_logs,
            Sweep::JobRecords => &self.job_records,
            Sweep::ParkedPosts => &self.parked_posts,
            Sweep::PendingApprovals => &self.pending_approvals,
        }
    }

    /// Parses every expression; the error names the sweep and the expression.
    pub fn parse(&self) -> Result<Vec<(Sweep, cron::Schedule)>, SchedulerError> {
        Sweep::ALL
            .into_iter()
            .map(|sweep| {
                let expr = self.expression(sweep);
                cron::Schedule::from_str(expr)
                    .map(|s| (sweep, s))
                    .map_err(|e| SchedulerError::Setting {
                        name: sweep.name(),
                        message: format!("invalid cron expression {expr:?}: {e}"),
                    })
            })
            .collect()
    }
}

/// How the scheduler runs. Each field names its environment variable (read by `Config`) or says
/// it is fixed.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerSettings {
    /// `SCHEDULER_TICK_MS`, default 250 ms: how often the due index is read. A post is enqueued
    /// at most this long (plus the tick's own time) after it is due.
    pub tick: Duration,
    /// `SCHEDULER_DUE_BATCH`, default 500: due posts read per query; a full batch is followed
    /// at once by the next, so a backlog drains without waiting for ticks.
    pub due_batch: u32,
    /// Compare-and-sets in flight at once while claiming due posts (default 8).
    pub enqueue_concurrency: usize,
    /// `SCHEDULER_LATE_AFTER_MS`, default 1000 ms: a post enqueued later than this after its time
    /// is marked with `late_by_ms` (the promise is "within 1 s").
    pub late_after: Duration,
    /// `SCHEDULER_LEASE_TTL_SECS`, default 10 s: the active instance's lease. A standby takes
    /// over within this (plus one poll) after the active one dies; it is renewed every third.
    pub lease_ttl: Duration,
    /// How often a standby tries to take the lease (default 500 ms).
    pub standby_poll: Duration,
    /// `STUCK_QUEUED_SECS`, default 600: a `queued` post not updated for this long gets its
    /// `publish` job pushed again (a crash between the compare-and-set and the push).
    pub stuck_queued_after: Duration,
    /// `STUCK_UPLOADING_SECS`, default 900: an `uploading` post not updated for this long gets
    /// `publish` again (which resumes; every chunk updates the post, so a live upload is not
    /// stuck).
    pub stuck_uploading_after: Duration,
    /// `STUCK_PROCESSING_SECS`, default 600: a `processing` post not updated for this long gets
    /// `poll_status` again.
    pub stuck_processing_after: Duration,
    /// `STUCK_DISCONNECTING_SECS`, default 600: an account still `disconnecting` after this gets
    /// `disconnect_account` again.
    pub stuck_disconnecting_after: Duration,
    /// `STUCK_ERASING_SECS`, default 600: a user still being erased after this gets
    /// `erase_user` again.
    pub stuck_erasing_after: Duration,
    /// How long a sweep waits before pushing a job for the same account again while the first is
    /// still pending (workers down, a backlog), default 10 minutes. Not persisted: a failover
    /// costs at most one extra push, which the jobs tolerate.
    pub repush_after: Duration,
    /// Rows read per sweep query (default 500).
    pub sweep_batch: u32,
    /// `TOKEN_REFRESH_MARGIN_SECS` (in `Config`): refresh tokens that expire within this.
    pub token_refresh_margin: Duration,
    /// `TOKEN_REFRESH_JITTER_SECS`, default 60: each refresh job is delayed by a random part of
    /// this, so accounts connected together do not all hit TikTok in the same second.
    pub token_refresh_jitter: Duration,
    /// `STAGING_ORPHAN_GRACE_HOURS`, default 24: a staged object with no media row is deleted
    /// once it is this old (younger ones may be an upload about to insert its row).
    pub staging_orphan_grace: Duration,
    /// `<DATA_DIR>/logs`: where the web tier writes access logs.
    pub log_dir: PathBuf,
    /// `LOG_RETENTION_DAYS` (in `Config`), default 90.
    pub log_retention_days: u32,
    /// `JOB_RECORD_TTL_HOURS`, default 168 (7 days): finished (done) job records older than this
    /// are removed from the queue backend. Dead jobs are kept for replay.
    pub job_record_ttl: Duration,
    /// When each sweep runs.
    pub cron: CronSettings,
}

impl SchedulerSettings {
    /// Settings from the configuration, with the defaults documented on each field.
    pub fn from_config(config: &Config) -> Self {
        let c = &config.scheduler;
        Self {
            tick: c.tick,
            due_batch: c.due_batch,
            enqueue_concurrency: 8,
            late_after: c.late_after,
            lease_ttl: c.lease_ttl,
            standby_poll: Duration::from_millis(500),
            stuck_queued_after: c.stuck_queued_after,
            stuck_uploading_after: c.stuck_uploading_after,
            stuck_processing_after: c.stuck_processing_after,
            stuck_disconnecting_after: c.stuck_disconnecting_after,
            stuck_erasing_after: c.stuck_erasing_after,
            repush_after: Duration::from_secs(600),
            sweep_batch: 500,
            token_refresh_margin: config.tiktok.token_refresh_margin,
            token_refresh_jitter: c.token_refresh_jitter,
            staging_orphan_grace: c.staging_orphan_grace,
            log_dir: AccessLog::dir_for(&config.server.data_dir),
            log_retention_days: config.scheduler.log_retention_days,
            job_record_ttl: c.job_record_ttl,
            cron: CronSettings::from_config(config),
        }
    }

    /// Checks what would otherwise fail later, one setting named per error.
    pub fn validate(&self) -> Result<(), SchedulerError> {
        let bad = |name: &'static str, message: &str| {
            Err(SchedulerError::Setting {
                name,
                message: message.to_owned(),
            })
        };
        if self.tick.is_zero() {
            return bad("tick", "must be more than zero");
        }
        if self.due_batch == 0 || self.sweep_batch == 0 {
            return bad("due_batch/sweep_batch", "must be more than zero");
        }
        // Renewing every third of the TTL must leave several ticks between renewals.
        if self.lease_ttl < self.tick * 6 {
            return bad("lease_ttl", "must be at least six ticks");
        }
        if self.log_retention_days == 0 {
            return bad("log_retention_days", "must be at least one day");
        }
        self.cron.parse().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_follow_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::for_tests(dir.path());
        let s = SchedulerSettings::from_config(&config);
        s.validate().unwrap();
        assert_eq!(s.log_retention_days, 90);
        assert_eq!(s.log_dir, dir.path().join("logs"));
        assert_eq!(s.token_refresh_margin, config.tiktok.token_refresh_margin);
        assert_eq!(s.cron.parse().unwrap().len(), Sweep::ALL.len());
    }

    #[test]
    fn settings_follow_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let vars = [
            ("DATA_DIR", dir.path().to_str().unwrap()),
            ("SCHEDULER_TICK_MS", "100"),
            ("SCHEDULER_LEASE_TTL_SECS", "3"),
            ("STUCK_PROCESSING_SECS", "42"),
            ("TOKEN_REFRESH_JITTER_SECS", "5"),
            ("SCHEDULER_CRON_EXPIRED_MEDIA", "0 0 * * * *"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let s = SchedulerSettings::from_config(&Config::from_vars(&vars).unwrap());
        s.validate().unwrap();
        assert_eq!(s.tick, Duration::from_millis(100));
        assert_eq!(s.lease_ttl, Duration::from_secs(3));
        assert_eq!(s.stuck_processing_after, Duration::from_secs(42));
        assert_eq!(s.token_refresh_jitter, Duration::from_secs(5));
        assert_eq!(s.cron.expression(Sweep::ExpiredMedia), "0 0 * * * *");
        assert_eq!(s.cron.expression(Sweep::OldLogs), "5 7 * * * *");
    }

    #[test]
    fn a_bad_cron_expression_names_its_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SchedulerSettings::from_config(&Config::for_tests(dir.path()));
        s.cron.old_logs = "every day at three".into();
        let e = s.validate().unwrap_err().to_string();
        assert!(
            e.contains("old_logs") && e.contains("every day at three"),
            "{e}"
        );
    }
}
