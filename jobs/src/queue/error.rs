//! What can go wrong talking to the queue backend.

use super::TaskId;

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
