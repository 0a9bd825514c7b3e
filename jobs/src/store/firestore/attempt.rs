//! How one operation reaches an answer: read, decide, commit with preconditions on what was
//! read, and on a lost race or `ABORTED` read again and decide again (see the module doc of
//! `firestore`), with jittered exponential backoff between attempts.

use super::FirestoreStore;
use super::queries::QuerySpec;
use super::rest::{RestError, Status};
use super::value::{Document, Write};
use crate::store::StoreError;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Attempts of one operation before it gives up with `Unavailable` (lost races and `ABORTED`).
const MAX_ATTEMPTS: u32 = 12;
/// First retry delay; it doubles per attempt up to `MAX_BACKOFF`, with jitter so racers spread.
const BASE_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Why one attempt of an operation ended without an answer.
pub(super) enum Lost {
    /// Someone else wrote first (a precondition failed, a create met a document) or Firestore
    /// aborted on contention: read again and decide again.
    Race(RestError),
    /// A final answer for the caller.
    Fail(StoreError),
}

impl From<StoreError> for Lost {
    fn from(e: StoreError) -> Self {
        Lost::Fail(e)
    }
}

/// Errors of reads and of writes without a precondition: only `ABORTED` is worth a retry.
impl From<RestError> for Lost {
    fn from(e: RestError) -> Self {
        match e.status {
            Status::Aborted => Lost::Race(e),
            _ => Lost::Fail(e.into()),
        }
    }
}

/// Errors of a commit whose preconditions stand for what the attempt read.
pub(super) fn lost_commit(e: RestError) -> Lost {
    match e.status {
        Status::Aborted | Status::FailedPrecondition | Status::AlreadyExists => Lost::Race(e),
        _ => Lost::Fail(e.into()),
    }
}

/// The outcome an operation decided on from what it read: the writes to commit (none for a
/// read-only answer) and the answer to return once they are committed.
pub(super) struct Plan<T> {
    writes: Vec<Write>,
    value: T,
}

impl<T> Plan<T> {
    pub(super) fn answer(value: T) -> Self {
        Self {
            writes: Vec::new(),
            value,
        }
    }
    pub(super) fn write(writes: Vec<Write>, value: T) -> Self {
        Self { writes, value }
    }
}

impl FirestoreStore {
    /// Runs `attempt` until it answers, retrying lost races and `ABORTED` with jittered
    /// exponential backoff, up to [`MAX_ATTEMPTS`].
    pub(super) async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Lost>>,
    {
        let mut n = 0;
        loop {
            let lost = match attempt().await {
                Ok(value) => return Ok(value),
                Err(Lost::Fail(e)) => return Err(e),
                Err(Lost::Race(lost)) => lost,
            };
            if lost.status == Status::Aborted {
                self.aborted_retries.fetch_add(1, Ordering::Relaxed);
            }
            n += 1;
            if n >= MAX_ATTEMPTS {
                return Err(StoreError::Unavailable(format!(
                    "gave up after {MAX_ATTEMPTS} attempts under contention: {lost}"
                )));
            }
            tracing::debug!(attempt = n, status = ?lost.status, "firestore: retrying");
            tokio::time::sleep(backoff(n)).await;
        }
    }

    /// Reads `names`, lets `decide` choose the writes and the answer, and commits them with
    /// preconditions that nothing read has changed (see [`guarded`]). `decide` runs again on
    /// every retry, on what is stored then.
    pub(super) async fn read_modify_write<T>(
        &self,
        names: &[String],
        decide: impl Fn(&[Option<Document>]) -> Result<Plan<T>, StoreError>,
    ) -> Result<T, StoreError> {
        self.retrying(|| async {
            let docs = self.rest.batch_get(names).await?;
            let plan = decide(&docs)?;
            if !plan.writes.is_empty() {
                let writes = guarded(plan.writes, names, &docs);
                self.rest.commit(&writes).await.map_err(lost_commit)?;
            }
            Ok(plan.value)
        })
        .await
    }

    /// [`read_modify_write`](Self::read_modify_write) of the one document `name`.
    pub(super) async fn update_one<T>(
        &self,
        name: String,
        decide: impl Fn(Option<&Document>) -> Result<Plan<T>, StoreError>,
    ) -> Result<T, StoreError> {
        self.read_modify_write(&[name], |docs| decide(docs[0].as_ref()))
            .await
    }

    /// Commits writes whose preconditions are the caller's own rules (a create is
    /// `ALREADY_EXISTS` = `Conflict`, an update of a missing document `NotFound`), retrying
    /// only `ABORTED`.
    pub(super) async fn write(&self, writes: &[Write]) -> Result<(), StoreError> {
        self.retrying(|| async { Ok(self.rest.commit(writes).await?) })
            .await
    }

    /// Commits writes whose preconditions stand for what the caller read: a lost race is
    /// the caller's to retry.
    pub(super) async fn commit_as_read(&self, writes: &[Write]) -> Result<(), Lost> {
        self.rest.commit(writes).await.map_err(lost_commit)
    }

    pub(super) async fn get(&self, name: &str) -> Result<Option<Document>, RestError> {
        let mut docs = self.rest.batch_get(&[name.to_owned()]).await?;
        Ok(docs.pop().flatten())
    }

    pub(super) async fn query(
        &self,
        spec: &QuerySpec,
        values: &[serde_json::Value],
        limit: Option<u32>,
    ) -> Result<Vec<Document>, StoreError> {
        Ok(self.rest.run_query(&spec.body(values, limit)?).await?)
    }

    /// Deletes the documents of `spec` (a names-only query) that match `values`, up to
    /// `limit` of them; how many matched.
    pub(super) async fn delete_matching(
        &self,
        spec: &QuerySpec,
        values: &[serde_json::Value],
        limit: u32,
    ) -> Result<usize, StoreError> {
        let docs = self.query(spec, values, Some(limit)).await?;
        if !docs.is_empty() {
            let writes: Vec<Write> = docs.iter().map(|d| Write::delete(d.name.clone())).collect();
            self.write(&writes).await?;
        }
        Ok(docs.len())
    }
}

/// Adds the optimistic preconditions: every write to a document that was read requires it
/// unchanged (or still missing), unless the write already says what it requires.
fn guarded(writes: Vec<Write>, names: &[String], docs: &[Option<Document>]) -> Vec<Write> {
    writes
        .into_iter()
        .map(|w| {
            let read = names.iter().position(|n| *n == w.name);
            match (read, &w.precondition) {
                (Some(i), None) => w.if_as_read(docs[i].as_ref()),
                _ => w,
            }
        })
        .collect()
}

fn backoff(attempt: u32) -> Duration {
    let ceiling = BASE_BACKOFF
        .saturating_mul(1 << attempt.min(16))
        .min(MAX_BACKOFF);
    ceiling.mul_f64(0.5 + rand::random::<f64>() / 2.0)
}

#[cfg(test)]
mod tests {
    use super::super::value::{Fields, Precondition};
    use super::*;

    #[test]
    fn optimistic_writes_require_what_was_read() {
        let read = Document {
            name: "a".into(),
            fields: Fields::new(),
            update_time: "t1".into(),
        };
        let names = ["a".to_owned(), "b".to_owned()];
        let writes = guarded(
            vec![
                Write::delete("a".into()),
                Write::delete("b".into()),
                Write::delete("c".into()),
                Write::delete("b".into()).if_exists(),
            ],
            &names,
            &[Some(read), None],
        );
        let pre: Vec<_> = writes.iter().map(|w| w.precondition.clone()).collect();
        assert_eq!(
            pre,
            vec![
                Some(Precondition::UpdateTime("t1".into())),
                Some(Precondition::Exists(false)),
                None,
                Some(Precondition::Exists(true)),
            ]
        );
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for attempt in 0..40 {
            let d = backoff(attempt);
            assert!(d <= MAX_BACKOFF, "{attempt}: {d:?}");
            assert!(d >= BASE_BACKOFF / 2, "{attempt}: {d:?}");
        }
    }
}
