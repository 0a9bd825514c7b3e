//! The scheduler process: enqueues scheduled posts when they fall due and runs the periodic
//! sweeps (token refresh, stuck posts, stuck disconnects, expired media, 90-day logs, finished
//! job records). One function per periodic task ([`enqueue_due_posts`], [`reconcile_stuck_posts`],
//! [`refresh_expiring_tokens`], [`retry_disconnecting_accounts`], [`delete_expired_media`],
//! [`delete_old_logs`], [`trim_finished_jobs`]); [`run`] drives them.
//!
//! **One active instance.** Any number of scheduler processes may run; the one holding the
//! `scheduler` lease ([`jobs::locks::Locks`]: Redis `SET NX PX`, or a store lease for the
//! embedded default) works, the others stand by and try to take the lease every
//! [`SchedulerSettings::standby_poll`]. The active one renews it every third of its TTL and
//! releases it on shutdown, so a clean stop hands over at once and a crash within the TTL.
//! The lease saves work; correctness does not depend on it: a due post is enqueued only by
//! whoever wins its `scheduled → queued` compare-and-set (see [`due`]), so even two instances
//! that both believe they are active never enqueue a post twice.
//!
//! **No timers to lose.** Every tick reads the store's due index (no lower bound), so posts that
//! fell due while no scheduler ran are enqueued on the first tick, and marked `late_by_ms`.
//!
//! **Cron sweeps** run on the active instance only, on UTC cron expressions
//! ([`CronSettings`]), each in its own task so a slow sweep never delays a tick, and each at most
//! once at a time. On taking the lease, every sweep runs once at once, so a sweep missed while
//! no scheduler ran is not skipped. (apalis-cron is not used: it would fire on every instance,
//! standby included.)
//!
//! **Heartbeat.** After its ticks the active instance records a [`Heartbeat`]; [`heartbeat`]
//! reads it back for `/readyz` and `/metrics`.

pub mod due;
mod heartbeat;
mod job_records;
mod settings;
mod sweeps;

pub use due::{Enqueued, TickReport, enqueue_due_posts};
pub use heartbeat::{Heartbeat, STALE_AFTER, SweepRecord, TickSummary, heartbeat};
pub use job_records::trim_finished_jobs;
pub use settings::{CronSettings, SchedulerSettings, Sweep};
pub use sweeps::{
    RecentPushes, SweepReport, delete_expired_media, delete_old_logs, expire_pending_approvals,
    fail_overdue_parked_posts, reconcile_stuck_posts, refresh_expiring_tokens,
    retry_disconnecting_accounts, retry_erasing_users,
};

use chrono::{DateTime, Utc};
use jobs::context::JobContext;
use jobs::locks::{LockGuard, Locks};
use jobs::queue::QueueError;
use jobs::store::StoreError;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

/// The name of the lease the active scheduler holds.
pub const LEASE_NAME: &str = "scheduler";

/// What can go wrong in a tick or a sweep. The run loop logs it and carries on.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The lock service (Redis or the store's leases) failed.
    #[error("lock service: {0}")]
    Lock(String),
    /// A setting cannot be used; names it.
    #[error("invalid scheduler setting {name}: {message}")]
    Setting { name: &'static str, message: String },
    /// The access-log directory could not be read or cleaned.
    #[error("access logs: {0}")]
    Io(#[from] std::io::Error),
    /// Staging could not delete expired or orphaned videos.
    #[error(transparent)]
    Staging(#[from] jobs::staging::StagingError),
}

/// Runs the scheduler with settings from `ctx.config` until `shutdown` resolves (the function
/// `mktpost scheduler` and `mktpost dev` call). Fails only on start-up mistakes (a bad setting);
/// tick and sweep errors are logged and retried.
pub async fn run(ctx: JobContext, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
    let settings = SchedulerSettings::from_config(&ctx.config);
    Scheduler::new(ctx, settings).run(shutdown).await
}

/// One scheduler instance (active or standby). Cheap to build; [`Scheduler::run`] consumes it.
pub struct Scheduler {
    shared: Shared,
    instance: String,
}

struct Shared {
    ctx: JobContext,
    settings: SchedulerSettings,
    recent: RecentPushes,
}

impl Shared {
    async fn run_sweep(
        &self,
        sweep: Sweep,
        now: DateTime<Utc>,
    ) -> Result<SweepReport, SchedulerError> {
        let (ctx, settings, recent) = (&self.ctx, &self.settings, &self.recent);
        match sweep {
            Sweep::RefreshTokens => refresh_expiring_tokens(ctx, settings, now, recent).await,
            Sweep::StuckPosts => reconcile_stuck_posts(ctx, settings, now, recent).await,
            Sweep::DisconnectingAccounts => {
                retry_disconnecting_accounts(ctx, settings, now, recent).await
            }
            Sweep::ErasingUsers => retry_erasing_users(ctx, settings, now, recent).await,
            Sweep::ExpiredMedia => delete_expired_media(ctx, settings, now).await,
            Sweep::OldLogs => delete_old_logs(settings, now).await,
            Sweep::JobRecords => trim_finished_jobs(&ctx.queue, settings.job_record_ttl, now).await,
            Sweep::ParkedPosts => fail_overdue_parked_posts(ctx, settings, now).await,
            Sweep::PendingApprovals => expire_pending_approvals(ctx, settings, now).await,
        }
    }
}

/// The state of the instance while it holds the lease.
struct Active {
    guard: LockGuard,
    renewed_at: Instant,
    next_sweep: HashMap<Sweep, DateTime<Utc>>,
    beat: Heartbeat,
    beat_written_at: Option<Instant>,
}

/// Logs a repeating failure at most once per this interval.
const QUIET: Duration = Duration::from_secs(10);
/// How long shutdown waits for running sweeps (they are all safe to cut and rerun).
const SWEEP_GRACE: Duration = Duration::from_secs(5);

type SweepDone = (Sweep, DateTime<Utc>, Result<SweepReport, SchedulerError>);

impl Scheduler {
    /// An instance with these settings.
    pub fn new(ctx: JobContext, settings: SchedulerSettings) -> Self {
        let instance = format!(
            "scheduler-{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        Self {
            shared: Shared {
                ctx,
                settings,
                recent: RecentPushes::default(),
            },
            instance,
        }
    }

    /// This instance's id, as shown in the heartbeat and logs.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Runs one sweep now, outside the cron schedule (operators, tests).
    pub async fn run_sweep(
        &self,
        sweep: Sweep,
        now: DateTime<Utc>,
    ) -> Result<SweepReport, SchedulerError> {
        self.shared.run_sweep(sweep, now).await
    }

    /// Stands by until it holds the lease, then ticks and sweeps until `shutdown` resolves or
    /// the lease is lost (then it stands by again). Releases the lease on shutdown.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let shared = Arc::new(self.shared);
        let settings = &shared.settings;
        settings.validate()?;
        let schedules = settings.cron.parse()?;
        tokio::pin!(shutdown);

        let mut ticker = tokio::time::interval(settings.tick);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut state = RunState::default();
        tracing::info!(instance = %self.instance, "scheduler started; standing by until it holds the lease");

        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                _ = ticker.tick() => {}
            }
            state.collect_finished_sweeps();
            if state.active.is_none() && !state.try_take_lease(&shared, &self.instance).await {
                continue;
            }
            let Some(a) = state.active.as_mut() else {
                continue;
            };
            if !keep_lease(a, &shared.ctx.locks, settings.lease_ttl, &mut state.quiet).await {
                state.active = None;
                continue;
            }
            let summary = tick(&shared, &mut state.quiet).await;
            let now = Utc::now();
            a.beat.at = now;
            a.beat.enqueued_total += summary.enqueued as u64;
            let worth_writing = summary.enqueued > 0 || summary.error.is_some();
            a.beat.last_tick = summary;
            start_due_sweeps(
                &shared,
                &schedules,
                a,
                &mut state.running,
                &mut state.sweeps,
                now,
            );
            write_heartbeat(&shared, a, worth_writing, &mut state.quiet).await;
        }
        state.stop(&shared.ctx.locks, &self.instance).await;
        Ok(())
    }
}

/// What the run loop carries from one tick to the next.
#[derive(Default)]
struct RunState {
    /// Set while this instance holds the lease.
    active: Option<Active>,
    /// When this instance last tried to take the lease (standing by).
    last_try: Option<Instant>,
    sweeps: JoinSet<SweepDone>,
    /// Sweeps started and not finished yet: each runs at most once at a time.
    running: HashSet<Sweep>,
    quiet: Quiet,
}

impl RunState {
    /// Logs the sweeps that finished since the last tick and records them in the heartbeat.
    fn collect_finished_sweeps(&mut self) {
        while let Some(joined) = self.sweeps.try_join_next() {
            let Ok((sweep, at, result)) = joined else {
                continue;
            };
            self.running.remove(&sweep);
            log_sweep(sweep, &result);
            if let Some(a) = self.active.as_mut() {
                a.beat.sweeps.insert(
                    sweep.name().to_owned(),
                    heartbeat::sweep_record(at, &result),
                );
                a.beat_written_at = None;
            }
        }
    }

    /// Tries to take the lease, at most once per standby poll; true when this instance is now
    /// active.
    async fn try_take_lease(&mut self, shared: &Shared, instance: &str) -> bool {
        let settings = &shared.settings;
        if self
            .last_try
            .is_some_and(|t| t.elapsed() < settings.standby_poll)
        {
            return false;
        }
        self.last_try = Some(Instant::now());
        match shared
            .ctx
            .locks
            .try_acquire(LEASE_NAME, settings.lease_ttl)
            .await
        {
            Ok(Some(guard)) => {
                tracing::info!(instance = %instance, fencing_token = guard.fencing_token, "scheduler active: holding the lease");
                self.active = Some(Active::new(instance, guard, Utc::now()));
                true
            }
            Ok(None) => false,
            Err(e) => {
                self.quiet.warn(
                    "lease",
                    || tracing::warn!(error = %e, "cannot reach the lock service; standing by"),
                );
                false
            }
        }
    }

    /// Releases the lease and gives running sweeps a short grace before cutting them.
    async fn stop(mut self, locks: &Locks, instance: &str) {
        if let Some(a) = self.active {
            locks.release(a.guard).await;
            tracing::info!(instance = %instance, "scheduler stopped; lease released");
        }
        let drain = async { while self.sweeps.join_next().await.is_some() {} };
        if tokio::time::timeout(SWEEP_GRACE, drain).await.is_err() {
            tracing::warn!("sweeps still running at shutdown were cut; they run again next time");
            self.sweeps.abort_all();
        }
    }
}

impl Active {
    /// The state of an instance that took the lease at `now`.
    fn new(instance: &str, guard: LockGuard, now: DateTime<Utc>) -> Self {
        Self {
            beat: Heartbeat {
                instance: instance.to_owned(),
                fencing_token: guard.fencing_token,
                active_since: now,
                at: now,
                last_tick: TickSummary::default(),
                enqueued_total: 0,
                sweeps: BTreeMap::new(),
            },
            guard,
            renewed_at: Instant::now(),
            // Every sweep runs once on taking over: one missed meanwhile is not skipped.
            next_sweep: Sweep::ALL.into_iter().map(|s| (s, now)).collect(),
            beat_written_at: None,
        }
    }
}

/// The tick: drains full batches at once (a backlog after downtime), but comes back to renew
/// the lease in time.
async fn tick(shared: &Shared, quiet: &mut Quiet) -> TickSummary {
    let settings = &shared.settings;
    let started = Instant::now();
    let mut summary = TickSummary::default();
    loop {
        let result = enqueue_due_posts(&shared.ctx, settings, Utc::now()).await;
        let more = matches!(&result, Ok(r) if r.more && r.enqueued.len() + r.lost_races > 0);
        if let Err(e) = &result {
            quiet.warn(
                "tick",
                || tracing::warn!(error = %e, "tick failed; retrying next tick"),
            );
        }
        merge(
            &mut summary,
            &heartbeat::tick_summary(&result, Duration::ZERO),
        );
        if !more || started.elapsed() >= settings.lease_ttl / 3 {
            break;
        }
    }
    summary.took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    summary
}

/// Starts, each in its own task, the sweeps whose time has come and that are not running yet.
fn start_due_sweeps(
    shared: &Arc<Shared>,
    schedules: &[(Sweep, cron::Schedule)],
    a: &mut Active,
    running: &mut HashSet<Sweep>,
    sweeps: &mut JoinSet<SweepDone>,
    now: DateTime<Utc>,
) {
    for (sweep, schedule) in schedules {
        let due = a.next_sweep.get(sweep).is_some_and(|at| *at <= now);
        if !due || running.contains(sweep) {
            continue;
        }
        a.next_sweep.insert(
            *sweep,
            schedule
                .after(&now)
                .next()
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        );
        running.insert(*sweep);
        let shared = shared.clone();
        let sweep = *sweep;
        sweeps.spawn(async move { (sweep, now, shared.run_sweep(sweep, now).await) });
    }
}

/// Records the heartbeat when the tick did something, or at least once a second.
async fn write_heartbeat(shared: &Shared, a: &mut Active, worth_writing: bool, quiet: &mut Quiet) {
    if worth_writing
        || a.beat_written_at
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
    {
        a.beat_written_at = Some(Instant::now());
        if let Err(e) = heartbeat::record(&shared.ctx, &a.beat).await {
            quiet.warn(
                "heartbeat",
                || tracing::warn!(error = %e, "cannot record the scheduler heartbeat"),
            );
        }
    }
}

/// Renews the lease when a third of its TTL has passed. False means stand by: the lease was
/// lost, or the lock service has been unreachable for so long that it may have expired.
async fn keep_lease(a: &mut Active, locks: &Locks, ttl: Duration, quiet: &mut Quiet) -> bool {
    if a.renewed_at.elapsed() < ttl / 3 {
        return true;
    }
    match locks.renew(&a.guard, ttl).await {
        Ok(true) => {
            a.renewed_at = Instant::now();
            true
        }
        Ok(false) => {
            tracing::warn!(
                fencing_token = a.guard.fencing_token,
                "scheduler lease lost; standing by"
            );
            false
        }
        Err(e) => {
            // Keep working only while the lease surely has not expired yet.
            let safe = a.renewed_at.elapsed() < ttl * 2 / 3;
            quiet.warn("renew", || tracing::warn!(error = %e, still_active = safe, "cannot renew the scheduler lease"));
            safe
        }
    }
}

fn merge(total: &mut TickSummary, one: &TickSummary) {
    total.due += one.due;
    total.enqueued += one.enqueued;
    total.lost_races += one.lost_races;
    total.failed += one.failed;
    total.max_late_ms = total.max_late_ms.max(one.max_late_ms);
    if one.error.is_some() {
        total.error.clone_from(&one.error);
    }
}

fn log_sweep(sweep: Sweep, result: &Result<SweepReport, SchedulerError>) {
    match result {
        Ok(r) if r.done > 0 || r.found > 0 => {
            tracing::info!(
                sweep = sweep.name(),
                found = r.found,
                done = r.done,
                skipped = r.skipped,
                "sweep finished"
            )
        }
        Ok(_) => tracing::debug!(sweep = sweep.name(), "sweep found nothing"),
        Err(e) => {
            tracing::warn!(sweep = sweep.name(), error = %e, "sweep failed; it runs again on schedule")
        }
    }
}

/// Rate-limits repeated warnings per topic, so an outage logs a line every [`QUIET`], not four
/// per second.
#[derive(Default)]
struct Quiet {
    last: HashMap<&'static str, Instant>,
}

impl Quiet {
    fn warn(&mut self, topic: &'static str, log: impl FnOnce()) {
        if self.last.get(topic).is_none_or(|t| t.elapsed() >= QUIET) {
            self.last.insert(topic, Instant::now());
            log();
        }
    }
}
