//! The worker process: THE list of registered jobs ([`register_jobs`]) and THE retry policy
//! ([`RetryPolicy`]), run by [`run`] on the configured queue backend (apalis-redis, or
//! apalis-sqlite for the embedded `dev` mode), whose storages [`jobs::queue::Queue::job_storage`]
//! builds.
//!
//! Every job runs through one wrapper ([`Registry::register`]) that:
//! - decodes the payload itself, so a payload that no longer parses is a dead task and not a
//!   worker crash (apalis would fail the whole worker on a decode error);
//! - opens a span with the job name, task id and attempt number;
//! - bounds each attempt by `Job::TIMEOUT` and turns a panic into a permanent failure, inside
//!   the handler call, because apalis' own timeout and catch-panic layers sit outside the task's
//!   lifecycle and would leave it marked `Running` (on Redis that reads as dead, on SQLite the row
//!   is stuck);
//! - classifies the [`JobError`]: `Retry` is retried in this worker with exponential backoff
//!   until `JOB_MAX_ATTEMPTS` attempts, and every terminal failure is returned as apalis'
//!   `AbortError`. That keeps apalis-redis 1.0 from re-scheduling failed tasks up to 25 times
//!   whatever `max_attempts` says (its ack script hard-codes 25), and gives both backends the
//!   same bound. If shutdown interrupts the wait between two attempts, the task goes back to the
//!   backend as failed with its attempt count (Redis re-schedules it `attempt` seconds later,
//!   SQLite hands it to the next fetch), and the bound still holds when it runs again.
//!
//! Shutdown: once the `shutdown` future resolves, every apalis worker stops fetching, the
//! running jobs finish (their results are written), fetched-but-unstarted tasks go back to the
//! queue, and [`Registry::run`] returns. Jobs still running after
//! [`WorkerSettings::shutdown_timeout`] are abandoned: the backend hands them out again once
//! this worker's heartbeat is missed, and handlers are written to resume (state lives in the
//! store, every external effect is recorded before the next step).

use apalis::layers::retry::HasherRng;
use apalis::layers::retry::backoff::{ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff};
use apalis::prelude::{
    Attempt, BackoffRetryPolicy, BoxDynError, Data, Event, RetryPolicy as ApalisRetryPolicy,
    TaskId as ApalisTaskId, WorkerBuilder, WorkerBuilderExt, WorkerContext, WorkerError,
};
use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt};
use jobs::config::Config;
use jobs::context::JobContext;
use jobs::handlers::ping::{self, PingJob};
use jobs::queue::{Consumer, Job, JobError, JobStorage, Queue, Verdict};
use serde_json::Value;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// THE list of jobs this worker runs. Adding a job is one line here plus its module in `jobs`.
pub fn register_jobs(registry: Registry<JobContext>) -> Registry<JobContext> {
    use jobs::handlers::{
        delete_workspace, disconnect_account, erase_user, poll_status, publish, refresh_token,
    };
    registry
        .register::<PingJob, _, _>(ping::handle)
        .register::<publish::PublishPost, _, _>(publish::handle)
        .register::<poll_status::PollStatus, _, _>(poll_status::handle)
        .register::<refresh_token::RefreshToken, _, _>(refresh_token::handle)
        .register::<disconnect_account::DisconnectAccount, _, _>(disconnect_account::handle)
        .register::<erase_user::EraseUser, _, _>(erase_user::handle)
        .register::<delete_workspace::DeleteWorkspace, _, _>(delete_workspace::handle)
}

/// Runs every registered job on `queue` until `shutdown` resolves, then shuts down gracefully
/// (see the crate docs). Settings come from `ctx.config`.
pub async fn run(
    ctx: JobContext,
    queue: Queue,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let settings = WorkerSettings::from_config(&ctx.config);
    register_jobs(Registry::new(ctx, queue, settings))
        .run(shutdown)
        .await
}

/// Resolves on SIGTERM (what orchestrators send) or Ctrl-C: the usual `shutdown` for [`run`].
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// THE retry policy: how often and how fast a `JobError::Retry` is tried again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (`JOB_MAX_ATTEMPTS`). The last failure is dead.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubles each time (plus up to 25% jitter).
    pub backoff_min: Duration,
    /// Longest wait between two attempts.
    pub backoff_max: Duration,
}

impl RetryPolicy {
    /// `JOB_MAX_ATTEMPTS` attempts, 2 s doubling to at most 30 s between them: with the default
    /// 5 attempts a job is dead about 30 s after its first failure, short enough that the
    /// in-process wait does not hold a slot for long; longer waits are `JobError::Defer`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            max_attempts: config.queue.job_max_attempts.max(1),
            backoff_min: Duration::from_secs(2),
            backoff_max: Duration::from_secs(30),
        }
    }

    fn apalis_policy(&self) -> anyhow::Result<BackoffRetryPolicy<ExponentialBackoff>> {
        let backoff = ExponentialBackoffMaker::new(
            self.backoff_min,
            self.backoff_max
                .max(self.backoff_min)
                .max(Duration::from_millis(1)),
            0.25,
            HasherRng::default(),
        )
        .map_err(|e| anyhow::anyhow!("invalid retry backoff: {e:?}"))?
        .make_backoff();
        // The wrapper's AbortError is what ends retries; this count is only a backstop.
        Ok(ApalisRetryPolicy::retries(self.max_attempts as usize).with_backoff(backoff))
    }
}

/// How the worker process runs its jobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkerSettings {
    /// Jobs in flight per job type in this process (`WORKER_CONCURRENCY`).
    pub concurrency: usize,
    /// THE retry policy.
    pub retry: RetryPolicy,
    /// How long running jobs may take to finish once shutdown starts. Below Kubernetes' default
    /// 30 s grace period, so the process exits before it is killed.
    pub shutdown_timeout: Duration,
    /// How often an idle worker asks the backend for new tasks (the pickup latency).
    pub poll_interval: Duration,
    /// Worker heartbeat; tasks of a worker silent for three heartbeats
    /// (`jobs::queue::MISSED_HEARTBEATS`) are handed out again.
    pub heartbeat: Duration,
}

impl WorkerSettings {
    /// Settings from the configuration, with the defaults described on each field.
    pub fn from_config(config: &Config) -> Self {
        Self {
            concurrency: config.worker.concurrency.max(1),
            retry: RetryPolicy::from_config(config),
            shutdown_timeout: Duration::from_secs(config.worker.shutdown_timeout_secs),
            poll_interval: Duration::from_millis(200),
            heartbeat: Duration::from_secs(config.worker.heartbeat_secs.max(1)),
        }
    }
}

/// What a job's launcher needs to start one apalis worker.
struct Launch<C> {
    ctx: C,
    queue: Queue,
    settings: WorkerSettings,
    worker_name: String,
    stop: CancellationToken,
}

type Launcher<C> =
    Arc<dyn Fn(Launch<C>) -> BoxFuture<'static, Result<(), WorkerError>> + Send + Sync>;

struct Registration<C> {
    name: &'static str,
    launch: Launcher<C>,
}

/// The job types one worker process runs, with their shared context `C` (a [`JobContext`] in
/// production; tests may use their own) and the queue they consume.
pub struct Registry<C> {
    ctx: C,
    queue: Queue,
    settings: WorkerSettings,
    jobs: Vec<Registration<C>>,
}

impl<C: Clone + Send + Sync + 'static> Registry<C> {
    /// An empty registry.
    pub fn new(ctx: C, queue: Queue, settings: WorkerSettings) -> Self {
        Self {
            ctx,
            queue,
            settings,
            jobs: Vec::new(),
        }
    }

    /// The settings in use.
    pub fn settings(&self) -> &WorkerSettings {
        &self.settings
    }

    /// The names of the registered jobs, in registration order.
    pub fn job_names(&self) -> Vec<&'static str> {
        self.jobs.iter().map(|r| r.name).collect()
    }

    /// Runs `J` from queue `<namespace>:<J::NAME>` with `handler`, through the wrapper described
    /// in the crate docs.
    pub fn register<J, H, Fut>(mut self, handler: H) -> Self
    where
        J: Job,
        H: Fn(J, Data<C>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let launch: Launcher<C> = Arc::new(move |launch: Launch<C>| {
            launch_worker::<J, C, H, Fut>(launch, handler.clone())
        });
        self.jobs.push(Registration {
            name: J::NAME,
            launch,
        });
        self
    }

    /// Runs every registered job until `shutdown` resolves, then drains (see the crate docs).
    /// A worker that fails (e.g. Redis went away) is restarted with backoff; only start-up
    /// mistakes are returned as errors.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let names = self.job_names();
        anyhow::ensure!(!names.is_empty(), "no jobs registered");
        for (i, name) in names.iter().enumerate() {
            anyhow::ensure!(!names[..i].contains(name), "job {name:?} registered twice");
        }
        // Fails now, not on the first retry, if the policy is unusable.
        self.settings.retry.apalis_policy()?;

        let stop = CancellationToken::new();
        let mut workers = JoinSet::new();
        for registration in self.jobs {
            workers.spawn(supervise(
                registration,
                self.ctx.clone(),
                self.queue.clone(),
                self.settings,
                stop.clone(),
            ));
        }
        tracing::info!(
            jobs = ?names,
            backend = ?self.queue.backend(),
            namespace = self.queue.namespace(),
            concurrency = self.settings.concurrency,
            max_attempts = self.settings.retry.max_attempts,
            "worker started"
        );

        shutdown.await;
        tracing::info!(timeout = ?self.settings.shutdown_timeout, "shutting down: taking no new jobs, waiting for running ones");
        stop.cancel();
        let drain = async {
            while let Some(joined) = workers.join_next().await {
                if let Err(e) = joined {
                    tracing::error!(error = %e, "worker supervisor panicked");
                }
            }
        };
        if tokio::time::timeout(self.settings.shutdown_timeout, drain)
            .await
            .is_err()
        {
            tracing::warn!(
                still_running = workers.len(),
                "shutdown timeout: abandoning running jobs; the queue hands them out again after the heartbeat timeout"
            );
            workers.abort_all();
        } else {
            tracing::info!("worker stopped");
        }
        Ok(())
    }
}

/// Keeps one job type's apalis worker running until `stop`, restarting it with backoff when it
/// fails. Each start uses a fresh worker name: apalis refuses to register a name seen within the
/// heartbeat window, and the dead one's claimed tasks are recovered by the orphan check.
async fn supervise<C: Clone + Send + Sync + 'static>(
    registration: Registration<C>,
    ctx: C,
    queue: Queue,
    settings: WorkerSettings,
    stop: CancellationToken,
) {
    let mut failures: u32 = 0;
    loop {
        let worker_name = format!(
            "{}-{}-{}",
            registration.name,
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let started = Instant::now();
        let result = (registration.launch)(Launch {
            ctx: ctx.clone(),
            queue: queue.clone(),
            settings,
            worker_name: worker_name.clone(),
            stop: stop.clone(),
        })
        .await;
        if stop.is_cancelled() {
            if let Err(e) = result {
                tracing::warn!(job = registration.name, worker = %worker_name, error = %e, "worker ended with an error during shutdown");
            }
            return;
        }
        match result {
            Ok(()) => {
                tracing::warn!(job = registration.name, worker = %worker_name, "worker stopped by itself; restarting")
            }
            Err(e) => {
                tracing::error!(job = registration.name, worker = %worker_name, error = %e, "worker failed; restarting")
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            failures = 0;
        }
        failures = failures.saturating_add(1);
        let delay = Duration::from_millis(500)
            .saturating_mul(2u32.saturating_pow(failures.min(6)))
            .min(Duration::from_secs(30));
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// One attempt of a job, type-erased: payload, attempt number, task id.
type RunTask = Arc<
    dyn Fn(Value, usize, ApalisTaskId) -> BoxFuture<'static, Result<(), BoxDynError>> + Send + Sync,
>;

/// Builds and runs one apalis worker for `J` on the queue's backend until `stop`.
fn launch_worker<J, C, H, Fut>(
    launch: Launch<C>,
    handler: H,
) -> BoxFuture<'static, Result<(), WorkerError>>
where
    J: Job,
    C: Clone + Send + Sync + 'static,
    H: Fn(J, Data<C>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), JobError>> + Send + 'static,
{
    let Launch {
        ctx,
        queue,
        settings,
        worker_name,
        stop,
    } = launch;
    let runner = Arc::new(Runner::<J, C, H> {
        handler,
        ctx,
        queue: queue.clone(),
        max_attempts: settings.retry.max_attempts,
        _job: std::marker::PhantomData,
    });
    let run_task: RunTask = Arc::new(move |payload, attempt, task_id| {
        let runner = runner.clone();
        async move { runner.run(payload, attempt, task_id).await }.boxed()
    });
    run_apalis_worker(J::NAME, queue, settings, worker_name, stop, run_task).boxed()
}

/// The apalis part, kept free of the job's type parameters.
async fn run_apalis_worker(
    job: &'static str,
    queue: Queue,
    settings: WorkerSettings,
    worker_name: String,
    stop: CancellationToken,
    run_task: RunTask,
) -> Result<(), WorkerError> {
    let policy = settings
        .retry
        .apalis_policy()
        .map_err(|e| WorkerError::BackendError(e.into_boxed_dyn_error()))?;
    let service = move |payload: Value, attempt: Attempt, task_id: ApalisTaskId| {
        run_task(payload, attempt.current(), task_id)
    };
    // Kept to call `stop()`: clones share the worker's state.
    let context = WorkerContext::new(&worker_name);
    let consumer = Consumer {
        concurrency: settings.concurrency,
        poll_interval: settings.poll_interval,
        heartbeat: settings.heartbeat,
    };
    // apalis' `run_until` future cannot be proven `Send` (a higher-ranked lifetime inside it),
    // so the worker is driven as a boxed event stream, as apalis' own `Monitor` does.
    let events: BoxStream<'static, Result<Event, WorkerError>> =
        match queue.job_storage(job, consumer) {
            JobStorage::Redis(storage) => WorkerBuilder::new(&context)
                .backend(storage)
                .concurrency(settings.concurrency)
                .retry(policy)
                .build(service)
                .stream()
                .boxed(),
            JobStorage::Sqlite(storage) => WorkerBuilder::new(&context)
                .backend(storage)
                .concurrency(settings.concurrency)
                .retry(policy)
                .build(service)
                .stream()
                .boxed(),
        };
    drive(events, &context, &stop).await
}

/// Polls the worker until its stream ends; on `stop`, asks it to stop fetching and keeps
/// polling so running tasks finish and their results are written.
async fn drive(
    mut events: BoxStream<'static, Result<Event, WorkerError>>,
    context: &WorkerContext,
    stop: &CancellationToken,
) -> Result<(), WorkerError> {
    let mut stopping = false;
    loop {
        tokio::select! {
            event = events.next() => match event {
                None => return Ok(()),
                Some(Err(e)) => return Err(e),
                Some(Ok(_)) => {}
            },
            () = stop.cancelled(), if !stopping => {
                stopping = true;
                // Not started yet means nothing was fetched: dropping the stream is enough.
                if context.stop().is_err() {
                    return Ok(());
                }
            }
        }
    }
}

/// One job type's handler with what it needs, shared by the worker's concurrent tasks.
struct Runner<J, C, H> {
    handler: H,
    ctx: C,
    queue: Queue,
    max_attempts: u32,
    _job: std::marker::PhantomData<fn(J)>,
}

impl<J, C, H, Fut> Runner<J, C, H>
where
    J: Job,
    C: Clone + Send + Sync + 'static,
    H: Fn(J, Data<C>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), JobError>> + Send + 'static,
{
    /// One attempt, as apalis sees it: `Ok`, a plain error (retry), or `AbortError` (dead).
    async fn run(
        &self,
        payload: Value,
        attempt: usize,
        task_id: ApalisTaskId,
    ) -> Result<(), BoxDynError> {
        let span = tracing::info_span!("job", job = J::NAME, task_id = %task_id, attempt);
        async move {
            let started = Instant::now();
            match self.attempt(&payload).await {
                Ok(()) => {
                    tracing::info!(
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "job done"
                    );
                    Ok(())
                }
                Err(err) => self.failed(err, &payload, attempt).await,
            }
        }
        .instrument(span)
        .await
    }

    async fn attempt(&self, payload: &Value) -> Result<(), JobError> {
        let job: J = serde_json::from_value(payload.clone()).map_err(|e| {
            JobError::Permanent(format!("payload is not a valid {} job: {e}", J::NAME))
        })?;
        let call =
            AssertUnwindSafe((self.handler)(job, Data::new(self.ctx.clone()))).catch_unwind();
        match tokio::time::timeout(J::TIMEOUT, call).await {
            Err(_) => Err(JobError::Retry(format!(
                "attempt timed out after {:?}",
                J::TIMEOUT
            ))),
            // A panic is a bug: retrying a half-done step blindly is worse than a visible dead task.
            Ok(Err(panic)) => Err(JobError::Permanent(format!(
                "handler panicked: {}",
                panic_message(panic.as_ref())
            ))),
            Ok(Ok(result)) => result,
        }
    }

    /// Applies THE policy to a failed attempt. The only place a job failure is logged.
    async fn failed(
        &self,
        err: JobError,
        payload: &Value,
        attempt: usize,
    ) -> Result<(), BoxDynError> {
        let max = self.max_attempts;
        match err.verdict(attempt, max) {
            Verdict::Retry => {
                tracing::warn!(error = %err, max_attempts = max, "attempt failed; retrying");
                Err(err.into_apalis(attempt, max))
            }
            Verdict::Dead => {
                tracing::error!(error = %err, max_attempts = max, "job failed; moved to the dead list");
                Err(err.into_apalis(attempt, max))
            }
            Verdict::Defer(until) => {
                match self.queue.push_json(J::NAME, payload, Some(until)).await {
                    Ok(new_task_id) => {
                        tracing::info!(reason = %err, %until, %new_task_id, "job deferred");
                        Ok(())
                    }
                    Err(e) => {
                        let err = JobError::Retry(format!("could not defer ({err}): {e}"));
                        let verdict = err.verdict(attempt, max);
                        tracing::warn!(error = %err, ?verdict, "deferral failed");
                        Err(err.into_apalis(attempt, max))
                    }
                }
            }
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload")
}
