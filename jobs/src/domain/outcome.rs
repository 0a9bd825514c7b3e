//! What a job's outcome does to a post: how a step ended ([`Stop`]), how TikTok's answers are
//! classified into it, and what each ending writes ([`settle`]): a retry counted (and parked
//! once the attempts are used up), a deferral to the next window, a reconnect, or a failure that
//! deletes the staged video ([`fail_post`]). Every job that drives a post (`publish`,
//! `poll_status`) and every request that ends one (`posts`, `parked`) uses these, so the rules
//! for a post's video and state are written once.

use crate::context::JobContext;
use crate::domain::accounts::AccountError;
use crate::domain::shared_media;
use crate::model::{MediaId, Post, PostId, PostSource, WorkspaceId};
use crate::queue::JobError;
use crate::store::StoreError;
use crate::tiktok::{ErrorClass, TikTokError};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// The code a post carries while parked after exhausting its retries (replay clears it).
pub use crate::model::RETRIES_EXHAUSTED;

/// How one step ended, when it did not simply succeed.
#[derive(Debug)]
pub(crate) enum Stop {
    /// Transient: try again later (counts against the post's attempts).
    Retry(String),
    /// A daily cap: back to `scheduled` for `until`.
    Defer {
        until: DateTime<Utc>,
        code: &'static str,
        message: String,
    },
    /// The creator must reconnect.
    Reconnect(String),
    /// Never going to work as is.
    Fail {
        code: String,
        message: String,
        fail_reason: Option<String>,
    },
    /// Another worker owns the post now; nothing to do.
    Yield,
    /// The `publish:` lock was lost mid-drive (the publish job stops at once).
    LostLock,
}

impl Stop {
    /// Our own checks refused the post for good (TikTok gave no `fail_reason`).
    pub(crate) fn refused(code: impl Into<String>, message: impl Into<String>) -> Self {
        Stop::Fail {
            code: code.into(),
            message: message.into(),
            fail_reason: None,
        }
    }
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::StaleState | StoreError::NotFound => Stop::Yield,
            StoreError::Unavailable(m) => Stop::Retry(m),
            other => Stop::Retry(other.to_string()),
        }
    }
}

/// The pacer's store (Redis) failed: retry like a TikTok 503, without calling TikTok.
pub(crate) fn pacing_unavailable(e: String) -> TikTokError {
    tracing::warn!(error = %e, "pacing unavailable");
    TikTokError::Http {
        endpoint: "pacing",
        status: 503,
        retry_after: Some(Duration::from_secs(1)),
    }
}

/// Classifies a TikTok answer (tiktok-api.md §10) into what the job does next.
pub(crate) fn stop_for(ctx: &JobContext, e: &TikTokError) -> Stop {
    let later = Utc::now() + chrono::Duration::minutes(ctx.config.tiktok.cap_retry_minutes as i64);
    match e.class() {
        ErrorClass::Retryable { .. } => Stop::Retry(e.to_string()),
        ErrorClass::RefreshAndRetry | ErrorClass::Reauth => Stop::Reconnect(e.creator_message()),
        ErrorClass::Wait => Stop::Defer {
            until: later,
            code: "daily_cap",
            message: e.creator_message(),
        },
        ErrorClass::AppCapWait => Stop::Defer {
            until: later,
            code: "app_cap",
            message: e.creator_message(),
        },
        ErrorClass::Permanent => Stop::Fail {
            code: e
                .code()
                .or(e.fail_reason())
                .unwrap_or("tiktok_refused")
                .to_owned(),
            message: e.creator_message(),
            fail_reason: e.fail_reason().map(str::to_owned),
        },
    }
}

pub(crate) fn stop_for_account(ctx: &JobContext, e: AccountError) -> Stop {
    match e {
        AccountError::NeedsReconnect(why) => Stop::Reconnect(why),
        AccountError::TikTok(t) => stop_for(ctx, &t),
        AccountError::Store(s) => s.into(),
        e if e.is_transient() => Stop::Retry(e.to_string()),
        e => Stop::Retry(e.to_string()),
    }
}

/// Records how the drive ended on the post and turns it into the job's result.
pub(crate) async fn settle(
    ctx: &JobContext,
    ws: WorkspaceId,
    id: PostId,
    result: Result<(), Stop>,
) -> Result<(), JobError> {
    let stop = match result {
        Ok(()) | Err(Stop::Yield | Stop::LostLock) => return Ok(()),
        Err(stop) => stop,
    };
    let post = match ctx.store.post(ws, id).await {
        Ok(p) => p,
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    match stop {
        Stop::Yield | Stop::LostLock => Ok(()),
        Stop::Retry(msg) => Err(count_attempt(ctx, &post, msg).await),
        Stop::Defer {
            until,
            code,
            message,
        } => {
            // Only before TikTok accepted an init (a stored publish_id means resume, never defer).
            if post.tiktok.publish_id.is_some() {
                return Err(JobError::Retry(message));
            }
            transition(ctx, &post, move |p| p.defer(until, code, message)).await?;
            tracing::info!(code, %until, "post deferred to the next window");
            Ok(())
        }
        Stop::Reconnect(message) => {
            transition(ctx, &post, move |p| p.needs_reconnect(message)).await?;
            if post.tiktok_has_video() {
                // Nothing will be uploaded again, so the video leaves our side now.
                delete_staged_media(ctx, &post).await;
            }
            Err(JobError::Reconnect("account needs reconnect".into()))
        }
        Stop::Fail {
            code,
            message,
            fail_reason,
        } => {
            fail_post(ctx, &post, code, message, fail_reason).await?;
            Err(JobError::Permanent("publish refused".into()))
        }
    }
}

/// A transient failure: counts the attempt on the post (the last one parks it, see
/// [`Post::record_attempt`]) and says whether the queue retries the job.
async fn count_attempt(ctx: &JobContext, post: &Post, msg: String) -> JobError {
    let attempt = post.next_attempt(ctx.config.queue.job_max_attempts);
    if let Err(e) = transition(ctx, post, move |p| p.record_attempt(attempt)).await {
        tracing::warn!(error = %e, "could not record the attempt");
    }
    if attempt.exhausted {
        tracing::warn!(
            attempts = attempt.number,
            "publish parked after exhausting its retries"
        );
        JobError::Permanent(format!("{RETRIES_EXHAUSTED}: {msg}"))
    } else {
        JobError::Retry(msg)
    }
}

/// Writes `change` on the post by compare-and-set from the state `post` was read in: the step
/// decided on what it read, so a post another job moved meanwhile is `StaleState`, not changed.
pub(crate) async fn transition(
    ctx: &JobContext,
    post: &Post,
    change: impl FnOnce(&mut Post) + Send + 'static,
) -> Result<Post, StoreError> {
    ctx.store
        .transition_post(post.workspace_id, post.id, post.state, Box::new(change))
        .await
}

/// Moves a post to `failed` with a reason, and deletes its staged video (terminal outcome).
pub(crate) async fn fail_post(
    ctx: &JobContext,
    post: &Post,
    code: String,
    message: String,
    fail_reason: Option<String>,
) -> Result<(), StoreError> {
    // Failed is terminal for the video: delete it first, so the post never reads "failed" while
    // its video is still on our side.
    let deleted = remove_staged_object(ctx, post).await.then(Utc::now);
    let failed = transition(ctx, post, move |p| {
        p.fail(code, message, fail_reason);
        p.note_media_deleted(deleted);
    })
    .await?;
    if failed.group.is_some() {
        // Its siblings may all have let the shared video go meanwhile (`shared_media`).
        delete_staged_media(ctx, &failed).await;
    }
    Ok(())
}

/// Every staged file of a post: its video, or each image of a photo post.
pub(crate) fn staged_media(post: &Post) -> Vec<MediaId> {
    match &post.source {
        PostSource::Photos(photos) => photos.media_ids.clone(),
        _ => post.media_id.into_iter().collect(),
    }
}

/// Deletes the post's staged objects and media rows (its video, or every image of a photo
/// post; idempotent). True when nothing of them is left on our side; false when staging failed
/// for any (logged; retried at the next terminal step).
pub(crate) async fn remove_staged_object(ctx: &JobContext, post: &Post) -> bool {
    if post.media_deleted_at.is_some() {
        return true;
    }
    // A group's video stays while a sibling still needs it (`shared_media`).
    if let Some(group) = &post.group
        && !shared_media::others_released(ctx, post, group).await
    {
        return false;
    }
    let mut all_gone = true;
    for media_id in staged_media(post) {
        let result = match ctx.store.media(post.workspace_id, media_id).await {
            Ok(media) => ctx.staging.delete(&media).await.map_err(|e| e.to_string()),
            Err(StoreError::NotFound) => Ok(()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            tracing::warn!(%media_id, error = %e, "staged media not deleted");
            all_gone = false;
        }
    }
    all_gone
}

/// Deletes the post's staged video and records when (the privacy promise: a video exists on
/// our side only until TikTok confirms receipt). Idempotent.
pub(crate) async fn delete_staged_media(ctx: &JobContext, post: &Post) {
    if post.media_deleted_at.is_some() || !remove_staged_object(ctx, post).await {
        return;
    }
    let now = Utc::now();
    for _ in 0..3 {
        let Ok(current) = ctx.store.post(post.workspace_id, post.id).await else {
            return;
        };
        match transition(ctx, &current, move |p| p.media_deleted(now)).await {
            Ok(_) => return,
            Err(StoreError::StaleState) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "could not record media deletion");
                return;
            }
        }
    }
}
