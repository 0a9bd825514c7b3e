//! The queue and the worker on both backends: a real Redis at 127.0.0.1:6379 and a SQLite file
//! in a temp dir. Each test has its own namespace (`test_<random>`), so tests run in parallel;
//! Redis keys are deleted when the test ends, even when it fails.
//!
//! Every behaviour is one async fn taking a [`Backend`], called once per backend (conformance
//! style), so both backends are held to the same contract.

use apalis::prelude::Data;
use chrono::Utc;
use jobs::config::{Config, LogFormat, Secret};
use jobs::context::JobContext;
use jobs::handlers::ping::{self, PingJob};
use jobs::queue::{DeadJob, Job, JobError, Queue, QueueError, QueueStats, TaskId, TaskState};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;
use worker::{Registry, RetryPolicy, WorkerSettings};

const REDIS_URL: &str = "redis://127.0.0.1:6379/";
const WAIT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy)]
enum Backend {
    Redis,
    Sqlite,
}

/// One test's queue, in its own namespace (Redis) or file (SQLite).
struct Harness {
    queue: Queue,
    /// What the test jobs record.
    probe: Probe,
    config: Config,
    backend: Backend,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn new(backend: Backend, max_attempts: u32) -> Self {
        static LOGS: Once = Once::new();
        LOGS.call_once(|| {
            if std::env::var_os("TEST_LOG").is_some() {
                jobs::telemetry::init(LogFormat::Pretty);
            }
        });
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::for_tests(dir.path());
        config.queue.namespace = format!("test_{}", Uuid::new_v4().simple());
        config.queue.job_max_attempts = max_attempts;
        config.worker.concurrency = 4;
        config.queue.redis_url = match backend {
            Backend::Redis => Some(Secret::new(REDIS_URL)),
            Backend::Sqlite => None,
        };
        // The production selection: Redis when configured, else `<data_dir>/queue.db`.
        let queue = Queue::connect(&config).await.expect("queue connects");
        if let Backend::Sqlite = backend {
            assert!(
                dir.path().join("queue.db").exists(),
                "the SQLite queue lives in <data_dir>/queue.db"
            );
        }
        Self {
            queue,
            probe: Probe::default(),
            config,
            backend,
            _dir: dir,
        }
    }

    /// Fast settings for tests: short backoff, quick polling, the harness' attempt bound.
    fn settings(&self) -> WorkerSettings {
        WorkerSettings {
            retry: RetryPolicy {
                backoff_min: Duration::from_millis(20),
                backoff_max: Duration::from_millis(100),
                ..RetryPolicy::from_config(&self.config)
            },
            shutdown_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_millis(50),
            heartbeat: Duration::from_secs(2),
            ..WorkerSettings::from_config(&self.config)
        }
    }

    fn registry(&self) -> Registry<Probe> {
        Registry::new(self.probe.clone(), self.queue.clone(), self.settings())
    }

    async fn stats(&self, job: &str) -> QueueStats {
        self.queue.stats(job).await.expect("stats")
    }

    /// Waits until `job`'s counts satisfy `done` (`what` names the wait) and answers them.
    async fn wait_stats(
        &self,
        what: &str,
        job: &str,
        done: impl Fn(&QueueStats) -> bool,
    ) -> QueueStats {
        wait_until(what, async || self.stats(job).await, done).await
    }

    /// Waits until `job`'s queue holds `n` dead tasks and answers its counts then.
    async fn wait_dead(&self, what: &str, job: &str, n: u64) -> QueueStats {
        self.wait_stats(what, job, |s| s.dead == n).await
    }

    /// Waits until task `id` of `job` is in `state`.
    async fn wait_state(&self, what: &str, job: &str, id: &TaskId, state: TaskState) {
        wait_until(
            what,
            async || self.state(job, id).await,
            |s| *s == Some(state),
        )
        .await;
    }

    /// Up to ten of `job`'s dead tasks.
    async fn dead(&self, job: &str) -> Vec<DeadJob> {
        self.queue.dead_jobs(job, 10).await.expect("dead list")
    }

    async fn state(&self, job: &str, id: &TaskId) -> Option<TaskState> {
        self.queue.task_state(job, id).await.expect("task state")
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Backend::Redis = self.backend {
            let queue = self.queue.clone();
            // Drop cannot await; purge on a runtime of its own so it also runs after a panic.
            let purged = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map(|rt| rt.block_on(queue.purge()))
            })
            .join();
            if !matches!(purged, Ok(Ok(Ok(())))) {
                eprintln!(
                    "could not purge test namespace {}",
                    self.config.queue.namespace
                );
            }
        }
    }
}

/// A worker process started in the test, stopped by [`Running::shutdown`].
struct Running {
    stop: oneshot::Sender<()>,
    handle: JoinHandle<anyhow::Result<()>>,
}

fn start(registry: Registry<Probe>) -> Running {
    let (stop, stopped) = oneshot::channel();
    let handle = tokio::spawn(registry.run(async move {
        let _ = stopped.await;
    }));
    Running { stop, handle }
}

impl Running {
    /// Signals shutdown and waits for `run` to return; returns how long that took.
    async fn shutdown(self) -> Duration {
        let started = Instant::now();
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.handle)
            .await
            .expect("worker stops in time")
            .expect("worker task does not panic")
            .expect("worker run succeeds");
        started.elapsed()
    }
}

/// A queue's counts: none but those `set` sets.
fn counts(set: impl FnOnce(&mut QueueStats)) -> QueueStats {
    let mut stats = QueueStats::default();
    set(&mut stats);
    stats
}

/// Polls `observe` every 50 ms until `done` holds; fails with the last value seen.
async fn wait_until<T: Debug>(
    what: &str,
    mut observe: impl AsyncFnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        let seen = observe().await;
        if done(&seen) {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}; last seen: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the test jobs record, shared with the test through the worker's context.
#[derive(Clone, Default)]
struct Probe(Arc<ProbeState>);

#[derive(Default)]
struct ProbeState {
    /// Attempt numbers seen per job id, in call order.
    calls: Mutex<HashMap<Uuid, Vec<usize>>>,
    finished: Mutex<Vec<Uuid>>,
    /// Whether `Guarded` jobs may succeed yet.
    allowed: Mutex<bool>,
}

impl Probe {
    fn record(&self, id: Uuid) -> usize {
        let mut calls = self.0.calls.lock().expect("probe lock");
        let seen = calls.entry(id).or_default();
        seen.push(seen.len() + 1);
        seen.len()
    }
    fn calls(&self, id: Uuid) -> usize {
        self.0
            .calls
            .lock()
            .expect("probe lock")
            .get(&id)
            .map_or(0, Vec::len)
    }
    fn finished(&self, id: Uuid) -> bool {
        self.0.finished.lock().expect("probe lock").contains(&id)
    }
    fn allow(&self) {
        *self.0.allowed.lock().expect("probe lock") = true;
    }
    fn allowed(&self) -> bool {
        *self.0.allowed.lock().expect("probe lock")
    }
    fn finish(&self, id: Uuid) {
        self.0.finished.lock().expect("probe lock").push(id);
    }
    fn attempts_seen(&self, id: Uuid) -> Option<Vec<usize>> {
        self.0.calls.lock().expect("probe lock").get(&id).cloned()
    }
}

macro_rules! test_job {
    ($name:ident, $queue:literal) => {
        #[derive(Debug, Serialize, Deserialize)]
        struct $name {
            id: Uuid,
        }
        impl Job for $name {
            const NAME: &'static str = $queue;
        }
    };
}

test_job!(AlwaysRetry, "always_retry");
test_job!(Guarded, "guarded");
test_job!(Slow, "slow");
test_job!(DeferOnce, "defer_once");
test_job!(Panics, "panics");

/// Each attempt is cut off after 100 ms.
#[derive(Debug, Serialize, Deserialize)]
struct TooSlow {
    id: Uuid,
}
impl Job for TooSlow {
    const NAME: &'static str = "too_slow";
    const TIMEOUT: Duration = Duration::from_millis(100);
}

async fn always_retry(job: AlwaysRetry, probe: Data<Probe>) -> Result<(), JobError> {
    let n = probe.record(job.id);
    Err(JobError::Retry(format!("upstream 503 on call {n}")))
}

async fn guarded(job: Guarded, probe: Data<Probe>) -> Result<(), JobError> {
    probe.record(job.id);
    if probe.allowed() {
        Ok(())
    } else {
        Err(JobError::Permanent("not allowed yet".into()))
    }
}

async fn slow(job: Slow, probe: Data<Probe>) -> Result<(), JobError> {
    probe.record(job.id);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    probe.finish(job.id);
    Ok(())
}

async fn defer_once(job: DeferOnce, probe: Data<Probe>) -> Result<(), JobError> {
    if probe.record(job.id) == 1 {
        Err(JobError::Defer {
            until: Utc::now() + chrono::Duration::seconds(1),
            reason: "daily cap".into(),
        })
    } else {
        Ok(())
    }
}

async fn panics(job: Panics, probe: Data<Probe>) -> Result<(), JobError> {
    probe.record(job.id);
    panic!("bug in handler");
}

async fn too_slow(job: TooSlow, probe: Data<Probe>) -> Result<(), JobError> {
    probe.record(job.id);
    tokio::time::sleep(Duration::from_secs(30)).await;
    Ok(())
}

/// A job that names a user, like every real payload: done when `ok`, dead at once otherwise.
#[derive(Debug, Serialize, Deserialize)]
struct ForUser {
    user_id: jobs::model::UserId,
    ok: bool,
}
impl Job for ForUser {
    const NAME: &'static str = "for_user";
}

async fn for_user(job: ForUser, _probe: Data<Probe>) -> Result<(), JobError> {
    if job.ok {
        Ok(())
    } else {
        Err(JobError::Permanent("refused".into()))
    }
}

// ---- behaviours, one fn each, run on both backends ----

async fn ping_runs_end_to_end(backend: Backend) {
    let h = Harness::new(backend, 3).await;
    let worker = start(h.registry().register::<PingJob, _, _>(ping::handle));

    // The web side: push, then watch the task through the queue API only.
    let id = h.queue.push(&PingJob::new()).await.expect("push ping");
    h.wait_state("ping done", ping::NAME, &id, TaskState::Done)
        .await;
    let stats = h.stats(ping::NAME).await;
    assert_eq!(stats, counts(|s| s.done = 1), "{stats:?}");

    worker.shutdown().await;
}

/// The same path through `worker::run`: the production job list, a real `JobContext`.
async fn the_production_worker_runs_pings(backend: Backend) {
    let h = Harness::new(backend, 3).await;
    let store = jobs::store::connect(h.config.store.database_url.expose())
        .await
        .expect("store");
    let ctx = JobContext::new(Arc::new(h.config.clone()), store, h.queue.clone())
        .await
        .expect("job context");
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(worker::run(ctx, h.queue.clone(), async move {
        let _ = stopped.await;
    }));
    let worker = Running { stop, handle };

    let ids = h
        .queue
        .push_bulk(&[PingJob::new(), PingJob::new()])
        .await
        .expect("push");
    for id in &ids {
        h.wait_state("ping done", ping::NAME, id, TaskState::Done)
            .await;
    }
    worker.shutdown().await;
    assert_eq!(h.stats(ping::NAME).await, counts(|s| s.done = 2));
}

async fn retryable_failure_is_dead_after_exactly_max_attempts(backend: Backend) {
    let max_attempts = 3;
    let h = Harness::new(backend, max_attempts).await;
    let worker = start(h.registry().register::<AlwaysRetry, _, _>(always_retry));

    let job = AlwaysRetry { id: Uuid::new_v4() };
    let id = h.queue.push(&job).await.expect("push");
    // Raw apalis-redis would re-schedule this task 25 times over ~5 minutes and never get here.
    let stats = h.wait_dead("dead", AlwaysRetry::NAME, 1).await;
    assert_eq!(
        stats,
        counts(|s| s.dead = 1),
        "nothing left to run: {stats:?}"
    );
    assert_eq!(h.state(AlwaysRetry::NAME, &id).await, Some(TaskState::Dead));
    assert_eq!(
        h.probe.attempts_seen(job.id),
        Some(vec![1, 2, 3]),
        "exactly max_attempts calls, numbered from 1"
    );
    let dead = h.dead(AlwaysRetry::NAME).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].task_id, id);
    assert_eq!(dead[0].attempts, max_attempts);
    assert_eq!(dead[0].payload, serde_json::json!({ "id": job.id }));
    assert_eq!(
        dead[0].last_error.as_deref(),
        Some("retryable: upstream 503 on call 3")
    );
    assert!(dead[0].failed_at.is_some());

    worker.shutdown().await;
    assert_eq!(
        h.probe.calls(job.id),
        3,
        "no attempt after the task was dead"
    );
}

async fn permanent_failure_is_dead_at_once_and_replay_runs_it_again(backend: Backend) {
    let h = Harness::new(backend, 5).await;
    let worker = start(h.registry().register::<Guarded, _, _>(guarded));

    let job = Guarded { id: Uuid::new_v4() };
    let id = h.queue.push(&job).await.expect("push");
    h.wait_dead("dead", Guarded::NAME, 1).await;
    assert_eq!(h.probe.calls(job.id), 1, "a permanent error is not retried");
    let dead = h.dead(Guarded::NAME).await;
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].task_id.clone(), dead[0].attempts), (id.clone(), 1));
    assert_eq!(
        dead[0].last_error.as_deref(),
        Some("permanent: not allowed yet")
    );

    h.probe.allow();
    let replayed = h.queue.replay(Guarded::NAME, &id).await.expect("replay");
    assert_ne!(replayed, id, "a replay is a new task");
    h.wait_state("replay done", Guarded::NAME, &replayed, TaskState::Done)
        .await;
    assert_eq!(h.probe.calls(job.id), 2, "the same payload ran again");
    assert_eq!(h.stats(Guarded::NAME).await, counts(|s| s.done = 1));
    assert!(h.dead(Guarded::NAME).await.is_empty());
    assert_eq!(
        h.state(Guarded::NAME, &id).await,
        None,
        "the dead record is gone"
    );
    assert!(
        matches!(
            h.queue.replay(Guarded::NAME, &id).await,
            Err(QueueError::NotDead { .. })
        ),
        "a task is replayed once"
    );

    worker.shutdown().await;
}

async fn a_discarded_dead_task_is_gone_and_cannot_be_replayed(backend: Backend) {
    let h = Harness::new(backend, 3).await;
    let worker = start(h.registry().register::<Guarded, _, _>(guarded));
    let ids = [
        h.queue
            .push(&Guarded { id: Uuid::new_v4() })
            .await
            .expect("push"),
        h.queue
            .push(&Guarded { id: Uuid::new_v4() })
            .await
            .expect("push"),
    ];
    h.wait_dead("both dead", Guarded::NAME, 2).await;
    worker.shutdown().await;
    let found = h
        .queue
        .dead_job(Guarded::NAME, &ids[0])
        .await
        .expect("lookup");
    assert_eq!(found.map(|d| d.task_id), Some(ids[0].clone()));

    h.queue
        .discard_dead(Guarded::NAME, &ids[0])
        .await
        .expect("discard");
    assert!(
        h.queue
            .dead_job(Guarded::NAME, &ids[0])
            .await
            .expect("lookup")
            .is_none()
    );
    assert_eq!(
        h.state(Guarded::NAME, &ids[0]).await,
        None,
        "no record left"
    );
    assert_eq!(
        h.stats(Guarded::NAME).await,
        counts(|s| s.dead = 1),
        "only the other task is left"
    );
    assert!(matches!(
        h.queue.replay(Guarded::NAME, &ids[0]).await,
        Err(QueueError::NotDead { .. })
    ));
    assert!(matches!(
        h.queue.discard_dead(Guarded::NAME, &ids[0]).await,
        Err(QueueError::NotDead { .. })
    ));
}

async fn racing_replays_requeue_a_dead_task_once(backend: Backend) {
    let h = Harness::new(backend, 3).await;
    let worker = start(h.registry().register::<Guarded, _, _>(guarded));
    let id = h
        .queue
        .push(&Guarded { id: Uuid::new_v4() })
        .await
        .expect("push");
    h.wait_dead("dead", Guarded::NAME, 1).await;
    worker.shutdown().await;

    let (a, b) = tokio::join!(
        h.queue.replay(Guarded::NAME, &id),
        h.queue.replay(Guarded::NAME, &id)
    );
    assert!(
        a.is_ok() != b.is_ok(),
        "exactly one replay wins: {a:?} {b:?}"
    );
    assert_eq!(h.stats(Guarded::NAME).await, counts(|s| s.pending = 1));
}

async fn shutdown_lets_the_running_job_finish_and_takes_no_new_ones(backend: Backend) {
    let h = Harness::new(backend, 3).await;
    let mut settings = h.settings();
    settings.concurrency = 1;
    let registry =
        Registry::new(h.probe.clone(), h.queue.clone(), settings).register::<Slow, _, _>(slow);
    let worker = start(registry);

    let running = Slow { id: Uuid::new_v4() };
    let running_id = h.queue.push(&running).await.expect("push");
    wait_until(
        "slow job started",
        async || h.probe.calls(running.id),
        |n| *n == 1,
    )
    .await;
    let queued_before = Slow { id: Uuid::new_v4() };
    let before_id = h.queue.push(&queued_before).await.expect("push");

    let (stop, stopped) = (worker.stop, worker.handle);
    let _ = stop.send(());
    let queued_after = Slow { id: Uuid::new_v4() };
    let after_id = h.queue.push(&queued_after).await.expect("push");
    tokio::time::timeout(WAIT, stopped)
        .await
        .expect("worker stops in time")
        .expect("worker task does not panic")
        .expect("worker run succeeds");

    assert!(
        h.probe.finished(running.id),
        "the job in flight ran to completion"
    );
    assert_eq!(
        h.state(Slow::NAME, &running_id).await,
        Some(TaskState::Done),
        "and its result was written"
    );
    assert_eq!(
        h.probe.calls(queued_before.id) + h.probe.calls(queued_after.id),
        0,
        "nothing new started"
    );
    assert_eq!(
        h.state(Slow::NAME, &before_id).await,
        Some(TaskState::Pending)
    );
    assert_eq!(
        h.state(Slow::NAME, &after_id).await,
        Some(TaskState::Pending)
    );
    assert_eq!(
        h.stats(Slow::NAME).await,
        counts(|s| {
            s.pending = 2;
            s.done = 1;
        })
    );
}

async fn shutdown_gives_up_on_jobs_that_outlast_the_timeout(backend: Backend) {
    let h = Harness::new(backend, 3).await;
    let mut settings = h.settings();
    settings.shutdown_timeout = Duration::from_millis(300);
    let worker = start(
        Registry::new(h.probe.clone(), h.queue.clone(), settings).register::<Slow, _, _>(slow),
    );

    let job = Slow { id: Uuid::new_v4() };
    h.queue.push(&job).await.expect("push");
    wait_until(
        "slow job started",
        async || h.probe.calls(job.id),
        |n| *n == 1,
    )
    .await;
    let took = worker.shutdown().await;
    assert!(
        took < Duration::from_millis(1200),
        "returned after the timeout, not the job: {took:?}"
    );
    assert!(!h.probe.finished(job.id));
}

async fn defer_runs_the_payload_again_later(backend: Backend) {
    let h = Harness::new(backend, 3).await;
    let worker = start(h.registry().register::<DeferOnce, _, _>(defer_once));

    let job = DeferOnce { id: Uuid::new_v4() };
    let id = h.queue.push(&job).await.expect("push");
    h.wait_stats("deferred, then done", DeferOnce::NAME, |s| s.done == 2)
        .await;
    assert_eq!(h.probe.calls(job.id), 2);
    assert_eq!(
        h.state(DeferOnce::NAME, &id).await,
        Some(TaskState::Done),
        "the deferred task itself completes"
    );
    assert_eq!(h.stats(DeferOnce::NAME).await, counts(|s| s.done = 2));

    worker.shutdown().await;
}

async fn panics_and_bad_payloads_are_dead_without_stopping_the_worker(backend: Backend) {
    let h = Harness::new(backend, 3).await;
    let worker = start(
        h.registry()
            .register::<Panics, _, _>(panics)
            .register::<Guarded, _, _>(guarded),
    );
    h.probe.allow();

    let panicking = Panics { id: Uuid::new_v4() };
    h.queue.push(&panicking).await.expect("push");
    // A payload an older or newer release wrote, which no longer decodes.
    let bad = h
        .queue
        .push_json(Guarded::NAME, &serde_json::json!({ "post": 1 }), None)
        .await
        .expect("push");
    let good = Guarded { id: Uuid::new_v4() };
    let good_id = h.queue.push(&good).await.expect("push");

    h.wait_dead("panic is dead", Panics::NAME, 1).await;
    assert_eq!(h.probe.calls(panicking.id), 1, "a panic is not retried");
    let dead = h.dead(Panics::NAME).await;
    assert_eq!(
        dead[0].last_error.as_deref(),
        Some("permanent: handler panicked: bug in handler")
    );

    h.wait_state("bad payload dead", Guarded::NAME, &bad, TaskState::Dead)
        .await;
    h.wait_state("good job done", Guarded::NAME, &good_id, TaskState::Done)
        .await;
    let dead = h.dead(Guarded::NAME).await;
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("permanent: payload is not a valid guarded job"))
    );

    worker.shutdown().await;
}

async fn attempts_that_time_out_are_retried_then_dead(backend: Backend) {
    let h = Harness::new(backend, 2).await;
    let worker = start(h.registry().register::<TooSlow, _, _>(too_slow));

    let job = TooSlow { id: Uuid::new_v4() };
    h.queue.push(&job).await.expect("push");
    h.wait_dead("dead", TooSlow::NAME, 1).await;
    assert_eq!(h.probe.calls(job.id), 2);
    let dead = h.dead(TooSlow::NAME).await;
    assert_eq!(
        dead[0].last_error.as_deref(),
        Some("retryable: attempt timed out after 100ms")
    );

    worker.shutdown().await;
}

async fn delayed_pushes_wait_and_stats_count_them(backend: Backend) {
    let h = Harness::new(backend, 3).await;
    let later = h
        .queue
        .push_after(&PingJob::new(), Duration::from_secs(3600))
        .await
        .expect("push");
    let bulk = h
        .queue
        .push_bulk(&[PingJob::new(), PingJob::new(), PingJob::new()])
        .await
        .expect("push bulk");
    assert_eq!(bulk.len(), 3);
    assert_eq!(
        h.state(ping::NAME, &later).await,
        Some(TaskState::Scheduled)
    );
    assert_eq!(
        h.state(ping::NAME, &bulk[0]).await,
        Some(TaskState::Pending)
    );
    assert_eq!(h.state(ping::NAME, &TaskId::new()).await, None);
    assert_eq!(
        h.stats(ping::NAME).await,
        counts(|s| {
            s.pending = 3;
            s.scheduled = 1;
        })
    );
    assert_eq!(
        h.stats("other").await,
        QueueStats::default(),
        "queues are separate"
    );
    h.queue.ping().await.expect("ping");

    let worker = start(h.registry().register::<PingJob, _, _>(ping::handle));
    h.wait_stats("bulk done", ping::NAME, |s| s.done == 3).await;
    worker.shutdown().await;
    assert_eq!(
        h.state(ping::NAME, &later).await,
        Some(TaskState::Scheduled),
        "not run before its time"
    );
}

async fn forgetting_a_user_removes_only_their_finished_task_records(backend: Backend) {
    let h = Harness::new(backend, 3).await;
    let worker = start(h.registry().register::<ForUser, _, _>(for_user));
    let erased = jobs::model::UserId::new();
    let other = jobs::model::UserId::new();
    let mut theirs = Vec::new();
    for (user_id, ok) in [
        (erased, true),
        (erased, false),
        (erased, true),
        (other, true),
        (other, false),
    ] {
        let id = h.queue.push(&ForUser { user_id, ok }).await.expect("push");
        if user_id == erased {
            theirs.push(id);
        }
    }
    h.wait_stats("three done, two dead", ForUser::NAME, |s| {
        s.done == 3 && s.dead == 2
    })
    .await;
    worker.shutdown().await;
    // Not run yet: left alone (it will find nothing when it runs).
    let later = h
        .queue
        .push_after(
            &ForUser {
                user_id: erased,
                ok: true,
            },
            Duration::from_secs(3600),
        )
        .await
        .expect("push");

    let forgotten = h.queue.forget_user(erased).await.expect("forget");
    assert_eq!(forgotten, 3, "their two done tasks and their dead one");
    for id in &theirs {
        assert_eq!(h.state(ForUser::NAME, id).await, None, "no record of {id}");
    }
    assert_eq!(
        h.stats(ForUser::NAME).await,
        counts(|s| {
            s.done = 1;
            s.dead = 1;
            s.scheduled = 1;
        }),
        "the other user's tasks and the pending one stay"
    );
    assert!(h.state(ForUser::NAME, &later).await.is_some());
    assert_eq!(h.queue.forget_user(erased).await.expect("again"), 0);
}

macro_rules! on_both_backends {
    ($($behaviour:ident),* $(,)?) => {
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    super::$behaviour(super::Backend::Redis).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    super::$behaviour(super::Backend::Sqlite).await;
                }
            )*
        }
    };
}

on_both_backends!(
    ping_runs_end_to_end,
    the_production_worker_runs_pings,
    retryable_failure_is_dead_after_exactly_max_attempts,
    permanent_failure_is_dead_at_once_and_replay_runs_it_again,
    racing_replays_requeue_a_dead_task_once,
    a_discarded_dead_task_is_gone_and_cannot_be_replayed,
    shutdown_lets_the_running_job_finish_and_takes_no_new_ones,
    shutdown_gives_up_on_jobs_that_outlast_the_timeout,
    defer_runs_the_payload_again_later,
    panics_and_bad_payloads_are_dead_without_stopping_the_worker,
    attempts_that_time_out_are_retried_then_dead,
    delayed_pushes_wait_and_stats_count_them,
    forgetting_a_user_removes_only_their_finished_task_records,
);
