//! The job queue, and the workers that drain it.

use super::vars::{Vars, err};
use super::{ConfigError, Secret};
use url::Url;

/// Where jobs wait, and how often one is tried.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// `REDIS_URL`; unset means the embedded queue (apalis-sqlite in `<DATA_DIR>/queue.db`).
    pub redis_url: Option<Secret>,
    /// `QUEUE_NAMESPACE`, default `mktpost`: prefix of every queue name / Redis key.
    pub namespace: String,
    /// `JOB_MAX_ATTEMPTS`, default 5: a retryable job is dead after this many attempts.
    pub job_max_attempts: u32,
}

impl QueueConfig {
    pub(super) fn from_vars(v: &Vars<'_>) -> Result<Self, ConfigError> {
        let redis_url = match v.get("REDIS_URL") {
            Some(u) if !u.is_empty() => {
                Url::parse(&u).map_err(|e| err("REDIS_URL", format!("not a URL: {e}")))?;
                Some(Secret::new(u))
            }
            _ => None,
        };
        Ok(Self {
            redis_url,
            namespace: v.get_or("QUEUE_NAMESPACE", "mktpost"),
            job_max_attempts: v.parse("JOB_MAX_ATTEMPTS", "5")?,
        })
    }
}

/// One worker process.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// `WORKER_CONCURRENCY`, default 8: jobs in flight per job type per worker process.
    pub concurrency: usize,
    /// `WORKER_HEARTBEAT_SECS`, default 10: a worker silent for three heartbeats is presumed dead
    /// and its claimed jobs are handed to others.
    pub heartbeat_secs: u64,
    /// `WORKER_SHUTDOWN_TIMEOUT_SECS`, default 25: on SIGTERM, how long running jobs may finish.
    pub shutdown_timeout_secs: u64,
}

impl WorkerConfig {
    pub(super) fn from_vars(v: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            concurrency: v.parse("WORKER_CONCURRENCY", "8")?,
            heartbeat_secs: v.parse("WORKER_HEARTBEAT_SECS", "10")?,
            shutdown_timeout_secs: v.parse("WORKER_SHUTDOWN_TIMEOUT_SECS", "25")?,
        })
    }
}
