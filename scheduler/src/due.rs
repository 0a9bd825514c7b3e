//! The tick: moves due posts from `scheduled` to `queued` and pushes their `publish` jobs.
//!
//! Exactly-once into the queue rests on the compare-and-set, not on the lease: a post is pushed
//! only by whoever moved it `scheduled → queued` (state and version checked by the store), so
//! two schedulers, a restart or a cancel/reschedule racing the tick cannot enqueue it twice or
//! after a cancel. A crash after the compare-and-set and before the push leaves the post
//! `queued` with no job; the stuck-post sweep pushes it again (the `publish` job takes the post
//! by compare-and-set, so a second push is harmless).
//!
//! The due index (`Store::due_posts`, served by a partial index on scheduled posts) makes a
//! tick's cost grow with the number of due posts, not with all scheduled ones, and since it has
//! no lower bound, posts that fell due while no scheduler ran are caught up on the first tick.

use crate::SchedulerError;
use crate::settings::SchedulerSettings;
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use jobs::context::JobContext;
use jobs::handlers::publish::PublishPost;
use jobs::model::{Post, PostState};
use jobs::store::{DuePost, Store, StoreError};
use serde::Serialize;

/// A post this tick enqueued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    pub post: DuePost,
    /// Milliseconds between `scheduled_at` and the tick's clock.
    pub late_by_ms: i64,
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    /// Rows the due index returned.
    pub due: usize,
    /// Posts moved to `queued` and pushed, earliest first.
    #[serde(skip)]
    pub enqueued: Vec<Enqueued>,
    /// Posts someone else moved first (cancelled, rescheduled, another scheduler).
    pub lost_races: usize,
    /// Posts left for the next tick because the store or the queue failed.
    pub failed: usize,
    /// The batch was full: more posts may be due right now.
    pub more: bool,
}

impl TickReport {
    /// The latest enqueue of this tick, in milliseconds after its time.
    pub fn max_late_ms(&self) -> Option<i64> {
        self.enqueued.iter().map(|e| e.late_by_ms).max()
    }
}

enum Claim {
    Won(Box<Post>, i64),
    Lost,
    Failed(StoreError),
}

/// One tick at `now`: claims up to `settings.due_batch` due posts by compare-and-set and pushes
/// a `publish` job for each post claimed, in one round trip. If the push fails, the claimed posts
/// are moved back to `scheduled` (so the next tick retries them) and the error is returned.
pub async fn enqueue_due_posts(
    ctx: &JobContext,
    settings: &SchedulerSettings,
    now: DateTime<Utc>,
) -> Result<TickReport, SchedulerError> {
    let due = ctx.store.due_posts(now, settings.due_batch).await?;
    let mut report = TickReport {
        due: due.len(),
        more: due.len() >= settings.due_batch as usize,
        ..TickReport::default()
    };
    if due.is_empty() {
        return Ok(report);
    }
    let late_after = i64::try_from(settings.late_after.as_millis()).unwrap_or(i64::MAX);
    let store = ctx.store.as_ref();
    let claims: Vec<(DuePost, Claim)> = stream::iter(due)
        .map(|d| async move { (d, claim(store, d, now, late_after).await) })
        .buffered(settings.enqueue_concurrency.max(1))
        .collect()
        .await;

    let mut won = Vec::new();
    let mut first_error = None;
    for (d, c) in claims {
        match c {
            Claim::Won(post, late_by_ms) => won.push((d, *post, late_by_ms)),
            Claim::Lost => report.lost_races += 1,
            Claim::Failed(e) => {
                tracing::warn!(post_id = %d.post_id, error = %e, "could not claim a due post; next tick retries");
                report.failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    if won.is_empty() {
        return match first_error {
            Some(e) if report.lost_races == 0 => Err(e.into()),
            _ => Ok(report),
        };
    }

    let jobs: Vec<PublishPost> = won
        .iter()
        .map(|(d, _, _)| PublishPost {
            workspace_id: d.workspace_id,
            post_id: d.post_id,
        })
        .collect();
    if let Err(e) = ctx.queue.push_bulk(&jobs).await {
        release(store, won).await;
        return Err(e.into());
    }
    for (d, _, late_by_ms) in &won {
        if *late_by_ms > late_after {
            tracing::info!(post_id = %d.post_id, late_by_ms, "scheduled post enqueued late");
        }
    }
    report.enqueued = won
        .into_iter()
        .map(|(post, _, late_by_ms)| Enqueued { post, late_by_ms })
        .collect();
    Ok(report)
}

/// Moves one due post `scheduled → queued`, re-checking what the index said: the post may have
/// been cancelled or rescheduled since the query, and then it is not ours to enqueue.
async fn claim(store: &dyn Store, due: DuePost, now: DateTime<Utc>, late_after: i64) -> Claim {
    let mut post = match store.post(due.workspace_id, due.post_id).await {
        Ok(p) => p,
        Err(StoreError::NotFound) => return Claim::Lost,
        Err(e) => return Claim::Failed(e),
    };
    let Some(at) = post.scheduled_at else {
        return Claim::Lost;
    };
    if post.state != PostState::Scheduled || at > now {
        return Claim::Lost;
    }
    let late_by_ms = (now - at).num_milliseconds().max(0);
    post.state = PostState::Queued;
    post.late_by_ms = (late_by_ms > late_after).then_some(late_by_ms);
    match store.save_post(&post, PostState::Scheduled).await {
        Ok(saved) => Claim::Won(Box::new(saved), late_by_ms),
        Err(StoreError::StaleState | StoreError::NotFound) => Claim::Lost,
        Err(e) => Claim::Failed(e),
    }
}

/// The push failed: hand the claimed posts back to the due index. A post that cannot be moved
/// back (it changed meanwhile) stays `queued`, and the stuck-post sweep pushes it later.
async fn release(store: &dyn Store, won: Vec<(DuePost, Post, i64)>) {
    for (d, mut post, _) in won {
        post.state = PostState::Scheduled;
        post.late_by_ms = None;
        if let Err(e) = store.save_post(&post, PostState::Queued).await {
            tracing::warn!(post_id = %d.post_id, error = %e, "could not return a post to scheduled after a failed push; the stuck-post sweep will push it");
        }
    }
}
