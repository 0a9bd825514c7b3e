//! Reading and tidying queues: counts, where a task is, dead tasks (list, replay, discard), and
//! removing finished records (an erased user's, or old ones).

use super::{NewTask, Queue, QueueBackend, QueueError, TaskId, redis_backend, sqlite_backend};
use crate::model::UserId;
use chrono::{DateTime, Utc};
use serde::Serialize;

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

impl Queue {
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
        // Payloads are compact serde JSON of ids (see `payloads`): the user's id appears as
        // itself (`user_id`, `requested_by`) or as their personal workspace's, which is the
        // same id. A quoted UUID matches nothing else.
        let needle =
            serde_json::to_string(&user).map_err(|e| QueueError::Payload(e.to_string()))?;
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
}

/// apalis stores a task's result as JSON `{"Ok": …}` or `{"Err": "…"}`; an error wrapped in
/// `AbortError` reads `AbortError: <message>`. Returns the message of an error result.
pub(super) fn last_error(result: &str) -> Option<String> {
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

pub(super) fn decode_payload(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

pub(super) fn from_unix(seconds: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(seconds, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
