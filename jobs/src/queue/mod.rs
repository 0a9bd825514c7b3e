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

mod error;
mod inspect;
mod job;
pub mod payloads;
mod redis_backend;
mod sqlite_backend;

pub use error::QueueError;
pub use inspect::{DeadJob, QueueStats, TaskState};
use inspect::{decode_payload, from_unix, last_error};
pub use job::{Job, JobError, TaskId, Verdict};

use crate::config::Config;
use apalis::prelude::{IntervalStrategy, MetadataStore, PollWith, TaskBuilder};
use apalis_redis::RedisStorage;
use apalis_sqlite::SqliteStorage;
use chrono::{DateTime, Utc};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use apalis_redis::ConnectionManager;
pub use apalis_sqlite::SqlitePool;

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
