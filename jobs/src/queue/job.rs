//! What a job is to the queue: its payload trait, its task id, and how a handler's failure
//! turns into retry, dead-letter or deferral.

use crate::store::StoreError;
use apalis::prelude::{AbortError, BoxDynError};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

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
pub struct TaskId(pub(super) String);

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
            | StoreError::LastOwner
            | StoreError::Backend(_) => JobError::Permanent(e.to_string()),
        }
    }
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
    fn task_ids_sort_by_creation() {
        let a = TaskId::new();
        let b = TaskId::new();
        assert!(a < b);
        assert_eq!(TaskId::parse(a.as_str()), Some(a));
        assert_eq!(TaskId::parse("  "), None);
        assert_eq!(TaskId::parse("not-a-ulid"), None);
    }
}
