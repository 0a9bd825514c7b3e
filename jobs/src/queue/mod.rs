//! The job queue: apalis 1.0 on Redis in production (`REDIS_URL`), apalis-sqlite in
//! `<DATA_DIR>/queue.db` when no Redis is configured (the embedded `dev` default).
//!
//! [`Queue`] is the producer and inspection side, used by `web` and `scheduler`: it pushes jobs,
//! reads queue statistics and dead jobs, replays them, and trims finished task records. For the
//! consumer side it builds the apalis storage of each job's queue ([`Queue::job_storage`]); the
//! apalis workers running on them, and the retry policy, are the `worker` crate.
//!
//! Every queue is named `<QUEUE_NAMESPACE>:<Job::NAME>`, and every Redis key or SQLite row of a
//! queue derives from that name, so tests isolate themselves with a random namespace.
//!
//! Introspection does not use apalis' `Metrics`/`ListTasks` traits: on apalis-redis 1.0.0 they
//! fail or return zeros (see `shared/stack.md` §6). Redis keys are read directly, through the
//! key helpers of [`apalis_redis::Config`]; SQLite rows with plain SQL on apalis' `Jobs` table.

mod redis_backend;
mod sqlite_backend;

use crate::config::Config;
use crate::model::UserId;
use crate::store::StoreError;
use apalis::prelude::{
    AbortError, BoxDynError, IntervalStrategy, MetadataStore, PollWith, TaskBuilder,
};
use apalis_redis::RedisStorage;
use apalis_sqlite::SqliteStorage;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use apalis_redis::ConnectionManager;
pub use apalis_sqlite::SqlitePool;

/// A job payload. Payloads hold ids only (post, account, user): never tokens, captions or
/// emails, which stay out of Redis, and a replayed job then sees current state.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The queue name suffix: the job's module name (`"publish"`). Never change it: queued
    /// tasks in Redis and SQLite refer to it.
    const NAME: &'static str;
    /// How long one attempt may run before it is cancelled and counted as a retryable failure.
    const TIMEOUT: Duration = Duration::from_secs(300);
}

/// The id of one queued task: a ULID string (apalis-sqlite only accepts ULIDs), sorting by
/// creation time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(String);

impl TaskId {
    /// A fresh, time-ordered id. Made from a UUIDv7, whose layout a ULID shares (48-bit
    /// millisecond time, then randomness), for its ordering of ids made in the same millisecond.
    pub fn new() -> Self {
        Self(ulid::Ulid::from_bytes(uuid::Uuid::now_v7().into_bytes()).to_string())
    }

    /// Parses an id from the API: a ULID, as the backends store it.
    pub fn parse(s: &str) -> Option<Self> {
        ulid::Ulid::from_string(s.trim())
            .ok()
            .map(|u| Self(u.to_string()))
    }

    /// The id as stored by the backends.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TaskId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a job handler failed. The worker turns it into retry, dead-letter or deferral; the one
/// policy doing so lives in `worker/src/lib.rs`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Transient (network, 5xx, rate limit, a lost compare-and-set): retried with backoff until
    /// `JOB_MAX_ATTEMPTS` attempts, then dead.
    #[error("retryable: {0}")]
    Retry(String),
    /// The account's authorisation is gone; the handler has recorded `needs_reconnect`. Dead at
    /// once: replay after the user reconnects.
    #[error("needs reconnect: {0}")]
    Reconnect(String),
    /// Not now (a daily cap): this task completes and the same payload is queued again to run
    /// at `until`, as a new task whose attempts start from one.
    #[error("deferred until {until}: {reason}")]
    Defer {
        until: DateTime<Utc>,
        reason: String,
    },
    /// Retrying cannot help (bad payload, missing row, a rule refused it). Dead at once.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// What the worker does with a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Run the task again after the retry policy's backoff.
    Retry,
    /// Stop and move the task to the dead list.
    Dead,
    /// Complete this task and queue the same payload to run at the given time.
    Defer(DateTime<Utc>),
}

impl JobError {
    /// Classifies a failure of attempt number `attempt` (1 on the first run, as apalis'
    /// `Attempt::current()`), given the bound `max_attempts` (`JOB_MAX_ATTEMPTS`).
    pub fn verdict(&self, attempt: usize, max_attempts: u32) -> Verdict {
        match self {
            JobError::Retry(_) if attempt < max_attempts as usize => Verdict::Retry,
            JobError::Retry(_) | JobError::Reconnect(_) | JobError::Permanent(_) => Verdict::Dead,
            JobError::Defer { until, .. } => Verdict::Defer(*until),
        }
    }

    /// The error apalis needs for this failure: an [`AbortError`] when the task must not run
    /// again, which is also what stops apalis-redis from re-scheduling it up to 25 times
    /// whatever `max_attempts` says; the plain error otherwise, which the worker's retry layer
    /// retries. A `Defer` is handled by the worker before this; here it counts as `Retry`.
    pub fn into_apalis(self, attempt: usize, max_attempts: u32) -> BoxDynError {
        match self.verdict(attempt, max_attempts) {
            Verdict::Dead => Box::new(AbortError::new(self)),
            Verdict::Retry | Verdict::Defer(_) => Box::new(self),
        }
    }
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        match e {
            // A lost compare-and-set means another step moved the row: running again reloads it.
            StoreError::Unavailable(_) | StoreError::StaleState => JobError::Retry(e.to_string()),
            StoreError::NotFound
            | StoreError::IllegalTransition { .. }
            | StoreError::Conflict(_)
            | StoreError::Backend(_) => JobError::Permanent(e.to_string()),
        }
    }
}

/// What can go wrong talking to the queue backend.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The backend cannot be reached or timed out (retryable; `/readyz` reports it).
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    /// Any other backend failure (a bug, a corrupt entry).
    #[error("queue backend error: {0}")]
    Backend(String),
    /// The payload does not serialise to JSON.
    #[error("job payload cannot be encoded: {0}")]
    Payload(String),
    /// Replay was asked for a task that is not (or no longer) in the dead list.
    #[error("no dead task {task_id} in queue {job}")]
    NotDead { job: String, task_id: TaskId },
}

impl From<redis::RedisError> for QueueError {
    fn from(e: redis::RedisError) -> Self {
        if e.is_io_error()
            || e.is_connection_refusal()
            || e.is_timeout()
            || e.is_connection_dropped()
        {
            QueueError::Unavailable(e.to_string())
        } else {
            QueueError::Backend(e.to_string())
        }
    }
}

impl From<apalis_redis::Error> for QueueError {
    fn from(e: apalis_redis::Error) -> Self {
        match e {
            apalis_redis::Error::Database(e) => e.into(),
            other => QueueError::Backend(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for QueueError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                QueueError::Unavailable(e.to_string())
            }
            other => QueueError::Backend(other.to_string()),
        }
    }
}

impl From<apalis_sqlite::Error> for QueueError {
    fn from(e: apalis_sqlite::Error) -> Self {
        match e {
            apalis_sqlite::Error::Database(e) => e.into(),
            other => QueueError::Backend(other.to_string()),
        }
    }
}

/// Counts of one queue's tasks, for `/api/ops/queues` and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    /// Waiting to run now.
    pub pending: u64,
    /// Claimed by a worker (running, or fetched in its current batch).
    pub active: u64,
    /// Waiting for a later time (`push_after`, deferrals).
    pub scheduled: u64,
    /// Completed successfully (kept until vacuumed).
    pub done: u64,
    /// Failed and waiting for the backend to hand them out again (after a worker stopped
    /// between two attempts). In-process retries do not show here.
    pub failed: u64,
    /// Out of attempts, or failed permanently: visible with [`Queue::dead_jobs`], replayable.
    pub dead: u64,
}

/// Where one task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Pending,
    Scheduled,
    Running,
    /// Failed, waiting for another attempt from the backend.
    Retrying,
    Done,
    Dead,
}

/// A task in the dead list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadJob {
    pub task_id: TaskId,
    /// The payload as queued (ids only, so safe to show to operators).
    pub payload: serde_json::Value,
    /// Attempts made, the last included.
    pub attempts: u32,
    /// The last error, as the handler classified it (`permanent: …`).
    pub last_error: Option<String>,
    /// When the last attempt ended.
    pub failed_at: Option<DateTime<Utc>>,
}

/// The connection a [`Queue`] and the worker share.
#[derive(Clone)]
pub enum QueueBackend {
    /// apalis-redis (production).
    Redis(ConnectionManager),
    /// apalis-sqlite in a local file (the embedded `dev` default).
    Sqlite(SqlitePool),
}

impl fmt::Debug for QueueBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QueueBackend::Redis(_) => "Redis",
            QueueBackend::Sqlite(_) => "Sqlite",
        })
    }
}

/// Heartbeats a worker may miss before the tasks it claimed are handed to other workers.
pub const MISSED_HEARTBEATS: usize = 3;

/// How a worker consumes one job's queue (see [`Queue::job_storage`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Consumer {
    /// Tasks of this job the worker runs at once.
    pub concurrency: usize,
    /// How often an idle worker asks the backend for new tasks (the pickup latency).
    pub poll_interval: Duration,
    /// Worker heartbeat; the tasks of a worker silent for [`MISSED_HEARTBEATS`] heartbeats are
    /// handed out again.
    pub heartbeat: Duration,
}

impl Consumer {
    /// Tasks fetched per poll. Tasks fetched beyond what can start are claimed but idle, so the
    /// batch stays near capacity.
    fn batch_size(&self) -> usize {
        self.concurrency.clamp(1, 100)
    }
}

/// One job's queue as an apalis backend with JSON payloads, polled at the consumer's interval:
/// what the worker hands to `apalis::prelude::WorkerBuilder::backend`.
pub enum JobStorage {
    /// apalis-redis (production).
    Redis(PollWith<RedisStorage<serde_json::Value>, IntervalStrategy>),
    /// apalis-sqlite (the embedded `dev` default).
    Sqlite(PollWith<SqliteStorage<serde_json::Value>, IntervalStrategy>),
}

impl fmt::Debug for JobStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JobStorage::Redis(_) => "Redis",
            JobStorage::Sqlite(_) => "Sqlite",
        })
    }
}

/// The producer and inspection side of the job queue. Cheap to clone (one shared connection).
#[derive(Clone, Debug)]
pub struct Queue {
    backend: QueueBackend,
    namespace: Arc<str>,
    max_attempts: u32,
}

/// A task ready to be written by a backend: encoded payload, run time, metadata.
struct NewTask {
    id: TaskId,
    payload: Vec<u8>,
    run_at: Option<DateTime<Utc>>,
    replayed_from: Option<TaskId>,
}

impl NewTask {
    fn into_apalis(self, max_attempts: u32) -> apalis::prelude::Task<Vec<u8>> {
        let mut builder = TaskBuilder::new(self.payload)
            .task_id(apalis::prelude::TaskId::from_string(self.id.0))
            .max_attempts(max_attempts as usize);
        if let Some(at) = self.run_at {
            builder = builder.run_at_timestamp(u64::try_from(at.timestamp()).unwrap_or(0));
        }
        if let Some(from) = self.replayed_from {
            let mut meta = MetadataStore::new();
            // Lets an operator follow a replayed task back to the dead one it replaced.
            meta.replace("replayed_from", from.0);
            builder = builder.with_metadata(meta);
        }
        builder.build()
    }
}

impl Queue {
    /// Connects to Redis when `REDIS_URL` is set, else opens (and migrates) the embedded
    /// SQLite queue at `<DATA_DIR>/queue.db`.
    pub async fn connect(config: &Config) -> Result<Self, QueueError> {
        match &config.queue.redis_url {
            Some(url) => {
                Self::connect_redis(
                    url.expose(),
                    &config.queue.namespace,
                    config.queue.job_max_attempts,
                )
                .await
            }
            None => {
                let path = config.server.data_dir.join("queue.db");
                Self::connect_sqlite(
                    &path,
                    &config.queue.namespace,
                    config.queue.job_max_attempts,
                )
                .await
            }
        }
    }

    /// A queue on Redis (`redis://…`).
    pub async fn connect_redis(
        url: &str,
        namespace: &str,
        max_attempts: u32,
    ) -> Result<Self, QueueError> {
        let conn = apalis_redis::connect(url).await?;
        Ok(Self::new(
            QueueBackend::Redis(conn),
            namespace,
            max_attempts,
        ))
    }

    /// A queue in a SQLite file, created and migrated if needed.
    pub async fn connect_sqlite(
        path: &Path,
        namespace: &str,
        max_attempts: u32,
    ) -> Result<Self, QueueError> {
        let pool = sqlite_backend::open(path).await?;
        Ok(Self::new(
            QueueBackend::Sqlite(pool),
            namespace,
            max_attempts,
        ))
    }

    fn new(backend: QueueBackend, namespace: &str, max_attempts: u32) -> Self {
        Self {
            backend,
            namespace: Arc::from(namespace),
            // Zero attempts would make every job dead before it runs.
            max_attempts: max_attempts.max(1),
        }
    }

    /// The shared connection.
    pub fn backend(&self) -> &QueueBackend {
        &self.backend
    }

    /// `QUEUE_NAMESPACE`.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// `JOB_MAX_ATTEMPTS`: written on every task so the SQLite backend honours it too.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The apalis queue name of a job: `<namespace>:<job>`.
    pub fn queue_name(&self, job: &str) -> String {
        format!("{}:{job}", self.namespace)
    }

    /// The apalis storage a worker consumes `job`'s queue from, sharing this queue's connection.
    pub fn job_storage(&self, job: &str, consumer: Consumer) -> JobStorage {
        let name = self.queue_name(job);
        match &self.backend {
            QueueBackend::Redis(conn) => {
                JobStorage::Redis(redis_backend::storage(conn.clone(), &name, consumer))
            }
            QueueBackend::Sqlite(pool) => {
                JobStorage::Sqlite(sqlite_backend::storage(pool, &name, consumer))
            }
        }
    }

    /// Queues a job to run now.
    pub async fn push<J: Job>(&self, job: &J) -> Result<TaskId, QueueError> {
        self.push_at_time(job, None).await
    }

    /// Queues a job to run after `delay` (whole seconds: both backends schedule by the second).
    pub async fn push_after<J: Job>(&self, job: &J, delay: Duration) -> Result<TaskId, QueueError> {
        let delay =
            chrono::Duration::from_std(delay).map_err(|e| QueueError::Payload(e.to_string()))?;
        self.push_at_time(job, Some(Utc::now() + delay)).await
    }

    /// Queues a job to run at `at` (now if it is past).
    pub async fn push_at<J: Job>(&self, job: &J, at: DateTime<Utc>) -> Result<TaskId, QueueError> {
        self.push_at_time(job, Some(at)).await
    }

    async fn push_at_time<J: Job>(
        &self,
        job: &J,
        run_at: Option<DateTime<Utc>>,
    ) -> Result<TaskId, QueueError> {
        let task = NewTask {
            id: TaskId::new(),
            payload: encode(job)?,
            run_at,
            replayed_from: None,
        };
        let id = task.id.clone();
        self.write(J::NAME, vec![task]).await?;
        Ok(id)
    }

    /// Queues many jobs to run now, in one round trip (Redis) or one transaction (SQLite).
    pub async fn push_bulk<J: Job>(&self, jobs: &[J]) -> Result<Vec<TaskId>, QueueError> {
        let tasks = jobs
            .iter()
            .map(|job| {
                Ok(NewTask {
                    id: TaskId::new(),
                    payload: encode(job)?,
                    run_at: None,
                    replayed_from: None,
                })
            })
            .collect::<Result<Vec<_>, QueueError>>()?;
        let ids = tasks.iter().map(|t| t.id.clone()).collect();
        self.write(J::NAME, tasks).await?;
        Ok(ids)
    }

    /// Queues an already-encoded payload to `job`'s queue. The worker uses it to defer a task
    /// it only holds as JSON; everything else should use the typed [`Queue::push`].
    pub async fn push_json(
        &self,
        job: &str,
        payload: &serde_json::Value,
        run_at: Option<DateTime<Utc>>,
    ) -> Result<TaskId, QueueError> {
        let payload =
            serde_json::to_vec(payload).map_err(|e| QueueError::Payload(e.to_string()))?;
        let task = NewTask {
            id: TaskId::new(),
            payload,
            run_at,
            replayed_from: None,
        };
        let id = task.id.clone();
        self.write(job, vec![task]).await?;
        Ok(id)
    }

    async fn write(&self, job: &str, tasks: Vec<NewTask>) -> Result<(), QueueError> {
        let name = self.queue_name(job);
        let tasks: Vec<_> = tasks
            .into_iter()
            .map(|t| t.into_apalis(self.max_attempts))
            .collect();
        match &self.backend {
            QueueBackend::Redis(conn) => redis_backend::push(conn.clone(), &name, &tasks).await,
            QueueBackend::Sqlite(pool) => sqlite_backend::push(pool, &name, &tasks).await,
        }
    }

    /// Counts of `job`'s queue.
    pub async fn stats(&self, job: &str) -> Result<QueueStats, QueueError> {
        let name = self.queue_name(job);
        match &self.backend {
            QueueBackend::Redis(conn) => redis_backend::stats(conn.clone(), &name).await,
            QueueBackend::Sqlite(pool) => sqlite_backend::stats(pool, &name).await,
        }
    }

    /// Where one task is; `None` when the id is unknown to `job`'s queue (or was replayed).
    pub async fn task_state(
        &self,
        job: &str,
        id: &TaskId,
    ) -> Result<Option<TaskState>, QueueError> {
        let name = self.queue_name(job);
        match &self.backend {
            QueueBackend::Redis(conn) => redis_backend::task_state(conn.clone(), &name, id).await,
            QueueBackend::Sqlite(pool) => sqlite_backend::task_state(pool, &name, id).await,
        }
    }

    /// Up to `limit` dead tasks of `job`, most recently queued first.
    pub async fn dead_jobs(&self, job: &str, limit: usize) -> Result<Vec<DeadJob>, QueueError> {
        let name = self.queue_name(job);
        match &self.backend {
            QueueBackend::Redis(conn) => redis_backend::dead_jobs(conn.clone(), &name, limit).await,
            QueueBackend::Sqlite(pool) => sqlite_backend::dead_jobs(pool, &name, limit).await,
        }
    }

    /// Takes a task out of the dead list and queues its payload again as a new task (attempts
    /// start from one; the new task's metadata records `replayed_from`). Exactly one of two
    /// racing replays of the same task succeeds; the other gets [`QueueError::NotDead`].
    pub async fn replay(&self, job: &str, id: &TaskId) -> Result<TaskId, QueueError> {
        let name = self.queue_name(job);
        let new_id = TaskId::new();
        let make = |payload: Vec<u8>| {
            NewTask {
                id: new_id.clone(),
                payload,
                run_at: None,
                replayed_from: Some(id.clone()),
            }
            .into_apalis(self.max_attempts)
        };
        let replayed = match &self.backend {
            QueueBackend::Redis(conn) => {
                redis_backend::replay(conn.clone(), &name, id, make).await?
            }
            QueueBackend::Sqlite(pool) => sqlite_backend::replay(pool, &name, id, make).await?,
        };
        if !replayed {
            return Err(QueueError::NotDead {
                job: job.to_owned(),
                task_id: id.clone(),
            });
        }
        tracing::info!(job, task_id = %id, new_task_id = %new_id, "dead task replayed");
        Ok(new_id)
    }

    /// One dead task of `job`, if `id` is in its dead list.
    pub async fn dead_job(&self, job: &str, id: &TaskId) -> Result<Option<DeadJob>, QueueError> {
        let name = self.queue_name(job);
        match &self.backend {
            QueueBackend::Redis(conn) => redis_backend::dead_job(conn.clone(), &name, id).await,
            QueueBackend::Sqlite(pool) => sqlite_backend::dead_job(pool, &name, id).await,
        }
    }

    /// Removes a dead task for good (an operator dismissed it: handled another way, or not worth
    /// replaying). [`QueueError::NotDead`] when it is not in the dead list.
    pub async fn discard_dead(&self, job: &str, id: &TaskId) -> Result<(), QueueError> {
        let name = self.queue_name(job);
        let discarded = match &self.backend {
            QueueBackend::Redis(conn) => {
                redis_backend::discard_dead(conn.clone(), &name, id).await?
            }
            QueueBackend::Sqlite(pool) => sqlite_backend::discard_dead(pool, &name, id).await?,
        };
        if !discarded {
            return Err(QueueError::NotDead {
                job: job.to_owned(),
                task_id: id.clone(),
            });
        }
        tracing::info!(job, task_id = %id, "dead task discarded");
        Ok(())
    }

    /// Removes the records of every finished task (done or dead, any job of this namespace)
    /// whose payload names `user`: after an erasure, not even a job record may tie an id to the
    /// person. Tasks still pending, scheduled or running are left alone (they find nothing when
    /// they run). Returns how many records were removed.
    pub async fn forget_user(&self, user: UserId) -> Result<usize, QueueError> {
        // Payloads are compact serde JSON of structs with a `user_id` field (see `Job`).
        let id = serde_json::to_string(&user).map_err(|e| QueueError::Payload(e.to_string()))?;
        let needle = format!("\"user_id\":{id}");
        let removed = match &self.backend {
            QueueBackend::Redis(conn) => {
                redis_backend::forget_finished_matching(conn.clone(), &self.namespace, &needle)
                    .await?
            }
            QueueBackend::Sqlite(pool) => {
                sqlite_backend::forget_finished_matching(pool, &self.namespace, &needle).await?
            }
        };
        Ok(removed)
    }

    /// Removes the records of tasks that finished successfully at or before `before`, from every
    /// queue of this namespace; the jobs listed in `sooner` go once they finished at or before
    /// their own, later time. Both backends keep every done task (payload, meta, result) until
    /// then. Dead tasks are never trimmed: they stay visible and replayable until an operator
    /// acts. Returns how many records were removed.
    pub async fn trim_done(
        &self,
        before: DateTime<Utc>,
        sooner: &[(&str, DateTime<Utc>)],
    ) -> Result<usize, QueueError> {
        let before = before.timestamp();
        let sooner: Vec<(String, i64)> = sooner
            .iter()
            .map(|&(job, at)| (self.queue_name(job), at.timestamp()))
            .collect();
        match &self.backend {
            QueueBackend::Redis(conn) => {
                redis_backend::trim_done(conn.clone(), &self.namespace, before, &sooner).await
            }
            QueueBackend::Sqlite(pool) => {
                let removed =
                    sqlite_backend::trim_done(pool, &self.namespace, before, &sooner).await?;
                Ok(usize::try_from(removed).unwrap_or(usize::MAX))
            }
        }
    }

    /// A cheap round trip, for `/readyz`.
    pub async fn ping(&self) -> Result<(), QueueError> {
        let check = async {
            match &self.backend {
                QueueBackend::Redis(conn) => redis_backend::ping(conn.clone()).await,
                QueueBackend::Sqlite(pool) => sqlite_backend::ping(pool).await,
            }
        };
        tokio::time::timeout(Duration::from_secs(2), check)
            .await
            .map_err(|_| QueueError::Unavailable("ping timed out after 2 s".into()))?
    }

    /// Deletes every task, counter and worker record of this namespace. For tests, benchmarks
    /// and resetting a development machine; never call it on a shared production namespace.
    pub async fn purge(&self) -> Result<(), QueueError> {
        match &self.backend {
            QueueBackend::Redis(conn) => redis_backend::purge(conn.clone(), &self.namespace).await,
            QueueBackend::Sqlite(pool) => sqlite_backend::purge(pool, &self.namespace).await,
        }
    }
}

fn encode<J: Job>(job: &J) -> Result<Vec<u8>, QueueError> {
    serde_json::to_vec(job).map_err(|e| QueueError::Payload(e.to_string()))
}

/// apalis stores a task's result as JSON `{"Ok": …}` or `{"Err": "…"}`; an error wrapped in
/// `AbortError` reads `AbortError: <message>`. Returns the message of an error result.
fn last_error(result: &str) -> Option<String> {
    match serde_json::from_str::<Result<serde_json::Value, String>>(result) {
        Ok(Err(message)) => Some(
            message
                .strip_prefix("AbortError: ")
                .unwrap_or(&message)
                .to_owned(),
        ),
        Ok(Ok(_)) => None,
        // Not apalis' shape: show it raw rather than hide it.
        Err(_) if !result.is_empty() => Some(result.to_owned()),
        Err(_) => None,
    }
}

fn decode_payload(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn from_unix(seconds: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(seconds, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_is_bounded_by_max_attempts() {
        let e = JobError::Retry("503".into());
        assert_eq!(e.verdict(1, 3), Verdict::Retry);
        assert_eq!(e.verdict(2, 3), Verdict::Retry);
        assert_eq!(e.verdict(3, 3), Verdict::Dead);
        assert_eq!(e.verdict(26, 3), Verdict::Dead);
        assert_eq!(e.verdict(1, 1), Verdict::Dead);
    }

    #[test]
    fn permanent_and_reconnect_are_dead_on_first_attempt() {
        assert_eq!(
            JobError::Permanent("gone".into()).verdict(1, 5),
            Verdict::Dead
        );
        assert_eq!(
            JobError::Reconnect("revoked".into()).verdict(1, 5),
            Verdict::Dead
        );
    }

    #[test]
    fn defer_is_neither_retry_nor_dead() {
        let until = Utc::now();
        let e = JobError::Defer {
            until,
            reason: "daily cap".into(),
        };
        assert_eq!(e.verdict(5, 5), Verdict::Defer(until));
    }

    #[test]
    fn dead_verdicts_become_abort_errors() {
        let dead = JobError::Retry("x".into()).into_apalis(3, 3);
        assert!(dead.downcast_ref::<AbortError>().is_some());
        let retry = JobError::Retry("x".into()).into_apalis(1, 3);
        assert!(retry.downcast_ref::<AbortError>().is_none());
        assert!(retry.downcast_ref::<JobError>().is_some());
    }

    #[test]
    fn store_errors_are_classified() {
        assert!(matches!(
            JobError::from(StoreError::Unavailable("x".into())),
            JobError::Retry(_)
        ));
        assert!(matches!(
            JobError::from(StoreError::StaleState),
            JobError::Retry(_)
        ));
        assert!(matches!(
            JobError::from(StoreError::NotFound),
            JobError::Permanent(_)
        ));
    }

    #[test]
    fn last_error_reads_apalis_results() {
        assert_eq!(
            last_error(r#"{"Err":"AbortError: permanent: bad"}"#).as_deref(),
            Some("permanent: bad")
        );
        assert_eq!(
            last_error(r#"{"Err":"retryable: 503"}"#).as_deref(),
            Some("retryable: 503")
        );
        assert_eq!(last_error(r#"{"Ok":null}"#), None);
        assert_eq!(last_error(""), None);
    }

    #[test]
    fn task_ids_sort_by_creation() {
        let a = TaskId::new();
        let b = TaskId::new();
        assert!(a < b);
        assert_eq!(TaskId::parse(a.as_str()), Some(a));
        assert_eq!(TaskId::parse("  "), None);
        assert_eq!(TaskId::parse("not-a-ulid"), None);
    }
}
