//! `publish`: uploads a post's video to TikTok (FILE_UPLOAD: a direct post, or a draft to the
//! creator's inbox, `inbox.rs`) with an exactly-once effect on TikTok. A draft differs only in
//! its init; every rule below holds for it unchanged.
//!
//! # Why a post is published at most once
//! A TikTok post comes into existence only when **all bytes** of an initialised upload have been
//! PUT to its `upload_url` (the 201). `video/init` alone creates nothing a creator can see, and
//! its upload URL dies after an hour. So the danger is not a second `init`, it is a second
//! *upload*: two inits that both receive all bytes make two posts. The rules:
//!
//! 1. The post is taken by compare-and-set (`queued → uploading`): one job wins.
//! 2. After `init`, the `publish_id`, `upload_url` and chunk plan are **persisted (by
//!    compare-and-set) before the first byte is sent**. If that write loses a race, this init is
//!    abandoned with no byte sent, so it can never become a post.
//! 3. A job that finds a stored `publish_id` resumes that upload. The id is never forgotten
//!    until TikTok's `status/fetch` says that publish can never become a post: still
//!    `PROCESSING_UPLOAD` with bytes missing once its URL can take no more (the hour is over, or
//!    the upload host refused the URL). If status shows every byte received, or anything past
//!    `PROCESSING_UPLOAD`, the post goes to `processing` and `poll_status` follows it, however
//!    late the resume (stuck sweep, creator retry, operator replay); `FAILED` fails the post
//!    with TikTok's reason. Progress comes from TikTok itself (`416` + `Content-Range`, or
//!    `status/fetch`), so a chunk whose response was lost is not sent twice.
//!    **A URL post** (PULL_FROM_URL, `url.rs`) differs: TikTok starts downloading at `init`, so
//!    an init alone becomes a post. So before sending it, the job stores a mark
//!    (`pull_requested_at`) by compare-and-set, then stores the `publish_id` by compare-and-set
//!    before anything else. A job that finds the mark without a `publish_id` (a crash, a lost
//!    lock or a lost answer in between) never initialises again: the post fails with
//!    `pull_outcome_unknown` and the creator checks TikTok before retrying (the retry clears the
//!    mark). A definite refusal from TikTok created nothing, so it clears the mark. If storing
//!    the `publish_id` loses its race, the job cancels that download at TikTok (best effort).
//!    A stored `publish_id` is only ever followed (`poll_status`), never initialised again.
//! 4. A crash between `init` and step 2 leaves no `publish_id` on our side and no bytes at
//!    TikTok: that init can never become a post, and initialising again is safe.
//! 5. Only one process drives a post at a time (a `publish:<post>` lock), so two resumes never
//!    interleave chunks.
//!
//! Then `poll_status` takes over.

mod photos;
mod url;

use crate::context::JobContext;
use crate::domain::outcome::{
    RETRIES_EXHAUSTED, Stop, settle, stop_for, stop_for_account, transition,
};
use crate::domain::paced::{creator_info_paced, fetch_status, paced};
use crate::domain::upload::{
    LOCK_TTL, Stored, after_the_url, forget_publish, hand_over, keep_lock, publish_lock, save,
    url_still_valid,
};
use crate::model::{
    Media, Post, PostMode, PostSource, PostState, TikTokAccount, UploadPlan, UserId, WorkspaceId,
};
use crate::pacing::Endpoint;
use crate::queue::JobError;
use crate::store::StoreError;
use crate::tiktok::{
    self, Chunk, ChunkOutcome, ChunkPolicy, CreatorInfo, ErrorClass, InitResult, PostInfo,
    SourceInfo, TikTokError, UploadRejection,
};
use apalis::prelude::Data;

mod stream;
use chrono::Utc;
use std::time::Duration;

mod inbox;

/// The payload this handler runs, and its queue name.
pub use crate::queue::payloads::{PUBLISH as NAME, PublishPost};

/// Resends of one chunk after transient failures, within one job attempt.
const CHUNK_TRIES: u32 = 5;
/// A video whose data key does not open (wrapped by a retired key, or altered) can never be read
/// again: the post fails with a reason instead of retrying until its attempts run out.
fn video_key_stop(e: crate::staging::StagingError) -> Stop {
    match e {
        crate::staging::StagingError::Key(why) => {
            tracing::warn!(error = %why, "the video's data key cannot be opened");
            Stop::refused(
                VIDEO_KEY_UNAVAILABLE,
                "This video can no longer be read on our side (its encryption key was retired). Please upload it again and create a new post.",
            )
        }
        other => Stop::Retry(other.to_string()),
    }
}

/// The error code of a post whose staged video's data key cannot be opened.
pub const VIDEO_KEY_UNAVAILABLE: &str = "video_key_unavailable";

/// Whether `ws` is gone or is the personal workspace of a user being erased (whose posts must
/// not go out any more; a shared workspace's posts stay the team's).
async fn being_erased(ctx: &JobContext, ws: WorkspaceId) -> Result<bool, StoreError> {
    match ctx.store.workspace(ws).await {
        Err(StoreError::NotFound) => Ok(true),
        Err(e) => Err(e),
        Ok(w) if !w.personal => Ok(false),
        Ok(_) => match ctx.store.user(UserId(ws.0)).await {
            Ok(u) => Ok(u.erasing_since.is_some()),
            Err(StoreError::NotFound) => Ok(true),
            Err(e) => Err(e),
        },
    }
}

#[tracing::instrument(skip_all, fields(job = NAME, post_id = %job.post_id))]
pub async fn handle(job: PublishPost, ctx: Data<JobContext>) -> Result<(), JobError> {
    let post = match ctx.store.post(job.workspace_id, job.post_id).await {
        Ok(p) => p,
        Err(StoreError::NotFound) => return Ok(()), // erased or deleted meanwhile
        Err(e) => return Err(e.into()),
    };
    if post.error_code.as_deref() == Some(RETRIES_EXHAUSTED) {
        return Ok(()); // parked: an operator replay clears the code first
    }
    if post.source == PostSource::Stream {
        // Its bytes only ever pass through a web request; this job settles what is left.
        if let Some(until) = stream::not_before(&post, Utc::now()) {
            return Err(JobError::Defer {
                until,
                reason: "the pass-through upload may still be resumed".into(),
            });
        }
        if post.state == PostState::Draft {
            return stream::never_arrived(&ctx, &post).await;
        }
    }
    if post.state == PostState::Queued {
        // Nothing is at TikTok yet: a creator who asked to be erased gets no new post.
        if being_erased(&ctx, post.workspace_id).await? {
            return Ok(());
        }
    }
    let post = match post.state {
        PostState::Queued => {
            match transition(&ctx, &post, Post::start_upload).await {
                Ok(p) => p,
                Err(StoreError::StaleState) => return Ok(()), // another job took it
                Err(e) => return Err(e.into()),
            }
        }
        PostState::Uploading => post,
        // Done, cancelled, rescheduled, or owned by poll_status.
        _ => return Ok(()),
    };
    let lock = publish_lock(post.id);
    let Some(guard) = ctx
        .locks
        .try_acquire(&lock, LOCK_TTL)
        .await
        .map_err(JobError::Retry)?
    else {
        // Another worker is driving it, or a killed one's lock has not expired yet: come back
        // soon rather than drop the job (nobody else would re-queue it). A deferral, not a
        // retry: waiting for a lock is not a failure and must not use up the attempts.
        return Err(JobError::Defer {
            until: Utc::now() + chrono::Duration::from_std(LOCK_TTL / 3).unwrap_or_default(),
            reason: "another worker holds this post".into(),
        });
    };
    let lost = tokio_util::sync::CancellationToken::new();
    let renewal = tokio::spawn(keep_lock(ctx.locks.clone(), guard.clone(), lost.clone()));
    // Rule 5 holds only while the lock does: once it is lost, another worker may be driving this
    // post, so this one stops at once, mid-chunk if need be (a cut-off PUT commits nothing).
    let result = tokio::select! {
        result = drive(&ctx, post.clone()) => result,
        () = lost.cancelled() => Err(Stop::LostLock),
    };
    renewal.abort();
    ctx.locks.release(guard).await;
    if matches!(result, Err(Stop::LostLock)) {
        tracing::warn!("lost the publish lock; stopped driving the post");
        return Err(JobError::Defer {
            until: Utc::now() + chrono::Duration::from_std(LOCK_TTL / 3).unwrap_or_default(),
            reason: "lost the lock on this post".into(),
        });
    }
    settle(&ctx, post.workspace_id, post.id, result).await
}

async fn drive(ctx: &JobContext, mut post: Post) -> Result<(), Stop> {
    // One arm per way TikTok gets the media; each path's own steps live in its own module.
    match &post.source {
        PostSource::Staged => {}
        PostSource::Stream => return stream::settle_interrupted(ctx, post).await,
        PostSource::Url { .. } => return url::drive(ctx, post).await,
        PostSource::Photos(_) => return photos::drive(ctx, post).await,
    }
    let account = ctx
        .store
        .account(post.workspace_id, post.account_id)
        .await
        .map_err(gone(
            "account_gone",
            "The TikTok account of this post was disconnected.",
        ))?;
    let media_id = post
        .media_id
        .ok_or_else(|| Stop::refused("no_media", "This post has no video."))?;
    let media = ctx
        .store
        .media(post.workspace_id, media_id)
        .await
        .map_err(gone(
            "media_gone",
            "The video of this post is no longer stored; upload it again.",
        ))?;
    if post.tiktok.publish_id.is_some() && !url_still_valid(&post) {
        // The upload URL can take no more bytes: only TikTok can say what the stored publish
        // became (rule 3). A resume hours later must never PUT, fail, and initialise again.
        match after_the_url(ctx, &account, &post).await? {
            Stored::Received => return hand_over(ctx, post).await,
            Stored::Incomplete => post = forget_publish(ctx, post).await?,
        }
    }
    // Only once bytes must still be sent: a video TikTok already holds is handed over above,
    // never failed for a key it no longer needs.
    ctx.staging.check_key(&media).map_err(video_key_stop)?;
    if post.tiktok.publish_id.is_none() {
        post = init(ctx, &account, &media, post).await?;
    }
    upload(ctx, &account, &media, post).await
}

/// A row the post needs is gone for good (`NotFound`): the post fails with `code`; any other
/// store error stops the step as usual.
fn gone(code: &'static str, message: &'static str) -> impl FnOnce(StoreError) -> Stop {
    move |e| match e {
        StoreError::NotFound => Stop::refused(code, message),
        e => e.into(),
    }
}

/// The init for the post's mode (a direct post, or a draft to the creator's inbox), then
/// persist (rule 2). Both upload the same bytes the same way afterwards.
async fn init(
    ctx: &JobContext,
    account: &TikTokAccount,
    media: &Media,
    post: Post,
) -> Result<Post, Stop> {
    let policy = ChunkPolicy {
        single_chunk_max: ctx.config.tiktok.single_chunk_max,
        chunk_size: ctx.config.tiktok.chunk_size,
    };
    let plan = tiktok::plan(media.size, &policy).map_err(|e| {
        Stop::refused(
            "invalid_video_size",
            format!("This video cannot be uploaded to TikTok: {e}"),
        )
    })?;
    let source = SourceInfo::file_upload(&plan);
    let result = match post.mode {
        PostMode::Direct => init_direct(ctx, account, media, &post, source).await?,
        PostMode::Inbox => inbox::init(ctx, account, source).await?,
    };
    let upload_url = result
        .upload_url
        .ok_or_else(|| Stop::Retry("init returned no upload URL".into()))?;
    let publish_id = result.publish_id;
    tracing::info!(%publish_id, chunks = plan.total_chunk_count, "initialised; persisting before the first byte");
    // Rule 2: if this write loses, nothing was sent and this init is abandoned.
    save(ctx, post, move |p| {
        p.record_init(publish_id, upload_url, plan, Utc::now())
    })
    .await
}

/// creator_info → checks → video/init.
async fn init_direct(
    ctx: &JobContext,
    account: &TikTokAccount,
    media: &Media,
    post: &Post,
    source: SourceInfo,
) -> Result<InitResult, Stop> {
    let info = creator_info_paced(ctx, account.workspace_id, account.id)
        .await
        .map_err(|e| stop_for_account(ctx, e))?;
    check_against_creator(post, media, &info)?;
    let mut settings = post.settings.clone();
    // TikTok forces these off when the creator disabled them; say so explicitly.
    settings.disable_comment |= info.comment_disabled;
    settings.disable_duet |= info.duet_disabled;
    settings.disable_stitch |= info.stitch_disabled;
    let post_info = PostInfo::from(&settings);
    paced(
        ctx,
        account.workspace_id,
        account.id,
        Endpoint::Init,
        |tiktok, t| {
            let (post_info, source) = (post_info.clone(), source.clone());
            async move { tiktok.init_direct_post(&t, &post_info, &source).await }
        },
    )
    .await
    .map_err(|e| stop_for_account(ctx, e))
}

/// The post's privacy level is still among the creator's options (a creator can make their
/// account private after the post was created): every direct post, video or photos.
pub(super) fn check_privacy_offered(post: &Post, info: &CreatorInfo) -> Result<(), Stop> {
    if info
        .privacy_level_options
        .contains(&post.settings.privacy_level)
    {
        return Ok(());
    }
    Err(Stop::refused(
        "privacy_level_option_mismatch",
        tiktok::code_message("privacy_level_option_mismatch"),
    ))
}

/// The checks TikTok would make, with reasons a creator understands (settings may have changed
/// at TikTok since the post was created).
fn check_against_creator(post: &Post, media: &Media, info: &CreatorInfo) -> Result<(), Stop> {
    check_privacy_offered(post, info)?;
    if let Some(message) = info.refuses_duration(media.duration_ms) {
        return Err(Stop::refused("video_too_long", message));
    }
    Ok(())
}

/// PUTs the remaining chunks in order, resuming from what TikTok has.
async fn upload(
    ctx: &JobContext,
    account: &TikTokAccount,
    media: &Media,
    mut post: Post,
) -> Result<(), Stop> {
    let plan = post
        .tiktok
        .plan
        .ok_or_else(|| Stop::Retry("no stored plan".into()))?;
    let url = post
        .tiktok
        .upload_url
        .clone()
        .ok_or_else(|| Stop::Retry("no stored upload URL".into()))?;
    let mut received = post.tiktok.uploaded_bytes;
    let mut transient = 0;
    while received < plan.video_size {
        let chunk = tiktok::next_chunk(&plan, received)
            .map_err(|e| Stop::Retry(format!("cannot resume at byte {received}: {e}")))?
            .ok_or_else(|| Stop::Retry("no chunk left to send".into()))?;
        match send_chunk(ctx, media, &url, &plan, &chunk).await {
            Ok(ChunkOutcome::Partial { received: r }) => {
                received = r;
                transient = 0;
                post = save(ctx, post, move |p| p.record_uploaded(r)).await?;
            }
            Ok(ChunkOutcome::Complete) => {
                received = plan.video_size;
            }
            Ok(ChunkOutcome::RangeMismatch { received: Some(r) }) => {
                // TikTok has more (a lost response) or less than we thought: follow TikTok.
                tracing::info!(ours = received, theirs = r, "reconciled upload progress");
                received = r;
            }
            Ok(ChunkOutcome::RangeMismatch { received: None }) => {
                let status = fetch_status(
                    ctx,
                    account,
                    post.tiktok.publish_id.as_deref().unwrap_or_default(),
                )
                .await?;
                received = status.uploaded_bytes.ok_or_else(|| {
                    Stop::Retry("status/fetch did not say how many bytes TikTok holds".into())
                })?;
            }
            Err(TikTokError::UploadRejected {
                reason: UploadRejection::UrlExpired | UploadRejection::UnknownUpload,
                ..
            }) => return url_refused(ctx, account, post).await,
            Err(e) if matches!(e.class(), ErrorClass::Retryable { .. }) => {
                transient += 1;
                if transient >= CHUNK_TRIES {
                    save(ctx, post, move |p| p.record_uploaded(received)).await?;
                    return Err(Stop::Retry(e.to_string()));
                }
                // Resend the same chunk; if TikTok did get it, it answers 416 with its progress.
                let backoff = e
                    .retry_after()
                    .unwrap_or(Duration::from_millis(250 << transient.min(5)));
                tokio::time::sleep(backoff.min(Duration::from_secs(30))).await;
            }
            Err(e) => return Err(stop_for(ctx, &e)),
        }
    }
    hand_over(ctx, post).await
}

/// PUTs one chunk of the staged video, streamed from staging.
async fn send_chunk(
    ctx: &JobContext,
    media: &Media,
    url: &str,
    plan: &UploadPlan,
    chunk: &Chunk,
) -> Result<ChunkOutcome, TikTokError> {
    let body = reqwest::Body::wrap_stream(ctx.staging.open_range(media, chunk.first, chunk.last));
    ctx.tiktok
        .upload_chunk(
            url,
            media.container.content_type(),
            chunk.first,
            chunk.last,
            plan.video_size,
            body,
        )
        .await
}

/// The upload host refused the URL mid-upload. The URL takes no more bytes, but TikTok may hold
/// every one of them already (the last chunk landed and only our record of it was lost): ask
/// before forgetting (rule 3).
async fn url_refused(ctx: &JobContext, account: &TikTokAccount, post: Post) -> Result<(), Stop> {
    match after_the_url(ctx, account, &post).await? {
        Stored::Received => hand_over(ctx, post).await,
        Stored::Incomplete => {
            forget_publish(ctx, post).await?;
            Err(Stop::Retry(
                "upload URL no longer valid; will initialise again".into(),
            ))
        }
    }
}
