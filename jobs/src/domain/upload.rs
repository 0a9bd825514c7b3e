//! TikTok FILE_UPLOAD mechanics shared by the `publish` job (a staged video) and the
//! pass-through "post now" (`posts::stream`, bytes straight from the browser): how long an
//! upload URL lives, what TikTok's status says of a stored publish once that URL can take no
//! more, the compare-and-set save, the hand-over to `poll_status`, and the `publish:<post>`
//! lock both drive a post under (rule 5 of `handlers::publish`).

use crate::context::JobContext;
use crate::domain::outcome::Stop;
use crate::domain::paced::fetch_status;
use crate::model::{Post, PostId, TikTokAccount};
use crate::queue::payloads::PollStatus;
use crate::tiktok::{self, PublishStatusKind};
use chrono::Utc;
use std::time::Duration;

/// TikTok's upload URLs live one hour (tiktok-api.md §5.2).
pub(crate) const UPLOAD_URL_TTL: chrono::Duration = chrono::Duration::hours(1);
/// Held while driving a post and renewed every third of it, so a killed worker's post is free
/// again within this time.
pub(crate) const LOCK_TTL: Duration = Duration::from_secs(9);
/// The lock one driver of a post's upload holds: the publish job or a pass-through request.
pub(crate) fn publish_lock(post: PostId) -> String {
    format!("publish:{post}")
}

/// Renews the publish lock every third of its TTL; cancels `lost` once it is someone else's, or
/// when no renewal got through for a whole TTL (Redis unreachable: the lock may have expired).
pub(crate) async fn keep_lock(
    locks: crate::locks::Locks,
    guard: crate::locks::LockGuard,
    lost: tokio_util::sync::CancellationToken,
) {
    let mut renewed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(LOCK_TTL / 3).await;
        match locks.renew(&guard, LOCK_TTL).await {
            Ok(true) => renewed = tokio::time::Instant::now(),
            Ok(false) => break,
            Err(e) if renewed.elapsed() < LOCK_TTL - LOCK_TTL / 3 => {
                tracing::warn!(error = %e, "could not renew the publish lock; trying again");
            }
            Err(_) => break,
        }
    }
    lost.cancel();
}

/// True while the stored upload URL may still take bytes: younger than TikTok's hour by our
/// clock, which started after TikTok's (we stamp it once `init` has answered).
pub(crate) fn url_still_valid(post: &Post) -> bool {
    post.tiktok
        .upload_url_issued_at
        .is_some_and(|issued| Utc::now() < issued + UPLOAD_URL_TTL)
}

/// What TikTok's `status/fetch` says of a stored publish whose upload URL can take no more bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stored {
    /// Every byte is at TikTok, or TikTok is past `PROCESSING_UPLOAD`: the upload is done, only
    /// the status remains to follow (`poll_status`).
    Received,
    /// TikTok is still waiting for bytes that can no longer arrive (the URL's hour is over, or
    /// its upload host refused the URL): this publish can never become a post.
    Incomplete,
}

/// Asks TikTok what became of the stored publish. A `FAILED` publish fails the post with
/// TikTok's reason (a creator's retry starts afresh, see `posts::prepare_replay`); an error
/// keeps the publish id (a transient one retries, anything else fails the post), because only
/// TikTok's answer may release it.
pub(crate) async fn after_the_url(
    ctx: &JobContext,
    account: &TikTokAccount,
    post: &Post,
) -> Result<Stored, Stop> {
    let publish_id = post.tiktok.publish_id.as_deref().unwrap_or_default();
    let status = fetch_status(ctx, account, publish_id).await?;
    if status.status == PublishStatusKind::Failed {
        let reason = status.fail_reason.unwrap_or_else(|| "internal".into());
        return Err(Stop::Fail {
            code: reason.clone(),
            message: tiktok::fail_reason_message(&reason).to_owned(),
            fail_reason: Some(reason),
        });
    }
    let size = post.tiktok.plan.map(|p| p.video_size).unwrap_or(u64::MAX);
    let waiting_for_bytes = match (&status.status, status.uploaded_bytes) {
        (PublishStatusKind::ProcessingUpload, Some(received)) => received < size,
        // Real bodies may leave the field out; "not said" is not "missing": the publish id stays
        // and a later attempt asks again (TikTok moves on to PUBLISH_COMPLETE or FAILED).
        (PublishStatusKind::ProcessingUpload, None) => {
            return Err(Stop::Retry(
                "status/fetch did not say how many bytes TikTok holds; keeping the publish id"
                    .into(),
            ));
        }
        _ => false,
    };
    Ok(if waiting_for_bytes {
        Stored::Incomplete
    } else {
        Stored::Received
    })
}

/// Forgets a publish that TikTok's status showed can never become a post, so the next step
/// initialises again.
pub(crate) async fn forget_publish(ctx: &JobContext, post: Post) -> Result<Post, Stop> {
    tracing::info!("stored upload can no longer complete at TikTok; initialising again");
    save(ctx, post, |p| p.tiktok.forget_publish()).await
}

/// Saves by compare-and-set in the current state.
pub(crate) async fn save(
    ctx: &JobContext,
    post: Post,
    change: impl FnOnce(&mut Post) + Send + 'static,
) -> Result<Post, Stop> {
    let mut next = post.clone();
    change(&mut next);
    Ok(ctx.store.save_post(&next, post.state).await?)
}

/// Every byte is at TikTok: the post moves to `processing` and `poll_status` follows it.
pub(crate) async fn hand_over(ctx: &JobContext, post: Post) -> Result<(), Stop> {
    let done = save(ctx, post, |p| p.upload_complete(Utc::now())).await?;
    tracing::info!("all bytes at TikTok; polling status");
    ctx.queue
        .push(&PollStatus {
            workspace_id: done.workspace_id,
            post_id: done.id,
        })
        .await
        .map_err(|e| Stop::Retry(e.to_string()))?;
    Ok(())
}
