//! `publish`: uploads a post's video to TikTok (direct post, FILE_UPLOAD) with an exactly-once
//! effect on TikTok.
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
//! 4. A crash between `init` and step 2 leaves no `publish_id` on our side and no bytes at
//!    TikTok: that init can never become a post, and initialising again is safe.
//! 5. Only one process drives a post at a time (a `publish:<post>` lock), so two resumes never
//!    interleave chunks.
//!
//! Then `poll_status` takes over.

use crate::accounts::{self, AccountError};
use crate::context::JobContext;
use crate::model::{Media, Post, PostId, PostState, TikTokAccount, UserId};
use crate::pacing::Endpoint;
use crate::poll_status::PollStatus;
use crate::queue::{Job, JobError};
use crate::store::StoreError;
use crate::tiktok::{
    self, ChunkOutcome, ChunkPolicy, CreatorInfo, ErrorClass, PostInfo, PublishStatusKind,
    SourceInfo, TikTokError, UploadRejection,
};
use apalis::prelude::Data;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The job name: queue `<namespace>:publish`.
pub const NAME: &str = "publish";

/// Publish this post. Ids only: the handler loads the rest, so a replay sees current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishPost {
    pub user_id: UserId,
    pub post_id: PostId,
}

impl Job for PublishPost {
    const NAME: &'static str = NAME;
    // A 4 GiB upload at a few MB/s takes a while; chunks checkpoint progress, so a timeout
    // only costs a resume.
    const TIMEOUT: Duration = Duration::from_secs(3600);
}

/// TikTok's upload URLs live one hour (tiktok-api.md §5.2).
const UPLOAD_URL_TTL: chrono::Duration = chrono::Duration::hours(1);
/// Held while driving a post and renewed every third of it, so a killed worker's post is free
/// again within this time.
const LOCK_TTL: Duration = Duration::from_secs(9);
/// Resends of one chunk after transient failures, within one job attempt.
const CHUNK_TRIES: u32 = 5;
/// The code a post carries while parked after exhausting its retries (replay clears it).
pub const RETRIES_EXHAUSTED: &str = "retries_exhausted";

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
    /// The `publish:` lock was lost mid-drive (see [`keep_lock`]).
    LostLock,
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
    let later = Utc::now() + chrono::Duration::minutes(ctx.config.cap_retry_minutes as i64);
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

/// A video whose data key does not open (wrapped by a retired key, or altered) can never be read
/// again: the post fails with a reason instead of retrying until its attempts run out.
fn video_key_stop(e: crate::staging::StagingError) -> Stop {
    match e {
        crate::staging::StagingError::Key(why) => {
            tracing::warn!(error = %why, "the video's data key cannot be opened");
            Stop::Fail {
                code: VIDEO_KEY_UNAVAILABLE.into(),
                message: "This video can no longer be read on our side (its encryption key was retired). Please upload it again and create a new post.".into(),
                fail_reason: None,
            }
        }
        other => Stop::Retry(other.to_string()),
    }
}

/// The error code of a post whose staged video's data key cannot be opened.
pub const VIDEO_KEY_UNAVAILABLE: &str = "video_key_unavailable";

pub(crate) fn stop_for_account(ctx: &JobContext, e: AccountError) -> Stop {
    match e {
        AccountError::NeedsReconnect(why) => Stop::Reconnect(why),
        AccountError::TikTok(t) => stop_for(ctx, &t),
        AccountError::Store(s) => s.into(),
        e if e.is_transient() => Stop::Retry(e.to_string()),
        e => Stop::Retry(e.to_string()),
    }
}

#[tracing::instrument(skip_all, fields(job = NAME, post_id = %job.post_id))]
pub async fn handle(job: PublishPost, ctx: Data<JobContext>) -> Result<(), JobError> {
    let post = match ctx.store.post(job.user_id, job.post_id).await {
        Ok(p) => p,
        Err(StoreError::NotFound) => return Ok(()), // erased or deleted meanwhile
        Err(e) => return Err(e.into()),
    };
    if post.error_code.as_deref() == Some(RETRIES_EXHAUSTED) {
        return Ok(()); // parked: an operator replay clears the code first
    }
    if post.state == PostState::Queued {
        // Nothing is at TikTok yet: a creator who asked to be erased gets no new post.
        match ctx.store.user(job.user_id).await {
            Ok(u) if u.erasing_since.is_none() => {}
            Ok(_) | Err(StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    let post = match post.state {
        PostState::Queued => {
            match ctx
                .store
                .transition_post(
                    post.user_id,
                    post.id,
                    PostState::Queued,
                    Box::new(|p| p.state = PostState::Uploading),
                )
                .await
            {
                Ok(p) => p,
                Err(StoreError::StaleState) => return Ok(()), // another job took it
                Err(e) => return Err(e.into()),
            }
        }
        PostState::Uploading => post,
        // Done, cancelled, rescheduled, or owned by poll_status.
        _ => return Ok(()),
    };
    let lock = format!("publish:{}", post.id);
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
    settle(&ctx, post.user_id, post.id, result).await
}

/// Renews the publish lock every third of its TTL; cancels `lost` once it is someone else's, or
/// when no renewal got through for a whole TTL (Redis unreachable: the lock may have expired).
async fn keep_lock(
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

/// Records how the drive ended on the post and turns it into the job's result.
pub(crate) async fn settle(
    ctx: &JobContext,
    user: UserId,
    id: PostId,
    result: Result<(), Stop>,
) -> Result<(), JobError> {
    let stop = match result {
        Ok(()) | Err(Stop::Yield | Stop::LostLock) => return Ok(()),
        Err(stop) => stop,
    };
    let post = match ctx.store.post(user, id).await {
        Ok(p) => p,
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let from = post.state;
    match stop {
        Stop::Yield | Stop::LostLock => Ok(()),
        Stop::Retry(msg) => {
            let attempts = post.tiktok.publish_attempts + 1;
            let exhausted = attempts >= ctx.config.job_max_attempts;
            let res = ctx
                .store
                .transition_post(
                    user,
                    id,
                    from,
                    Box::new(move |p| {
                        p.tiktok.publish_attempts = attempts;
                        if exhausted {
                            p.error_code = Some(RETRIES_EXHAUSTED.into());
                            p.error_message = Some("TikTok kept failing for this post; it is parked until it is replayed.".into());
                        }
                    }),
                )
                .await;
            if let Err(e) = res {
                tracing::warn!(error = %e, "could not record the attempt");
            }
            if exhausted {
                tracing::warn!(attempts, "publish parked after exhausting its retries");
                Err(JobError::Permanent(format!("{RETRIES_EXHAUSTED}: {msg}")))
            } else {
                Err(JobError::Retry(msg))
            }
        }
        Stop::Defer {
            until,
            code,
            message,
        } => {
            // Only before TikTok accepted an init (a stored publish_id means resume, never defer).
            if post.tiktok.publish_id.is_some() {
                return Err(JobError::Retry(message));
            }
            ctx.store
                .transition_post(
                    user,
                    id,
                    from,
                    Box::new(move |p| {
                        p.state = PostState::Scheduled;
                        p.scheduled_at = Some(until);
                        p.error_code = Some(code.into());
                        p.error_message = Some(message);
                    }),
                )
                .await?;
            tracing::info!(code, %until, "post deferred to the next window");
            Ok(())
        }
        Stop::Reconnect(message)
            if matches!(from, PostState::Processing | PostState::Unconfirmed) =>
        {
            // TikTok has the video; we just cannot ask about it until the creator reconnects.
            ctx.store
                .transition_post(
                    user,
                    id,
                    from,
                    Box::new(move |p| {
                        p.state = PostState::Unconfirmed;
                        p.error_code = Some("needs_reconnect".into());
                        p.error_message = Some(format!(
                            "{message} TikTok has this video; reconnect the account so we can confirm it was published."
                        ));
                    }),
                )
                .await?;
            // TikTok accepted every byte (we only reach processing after its 201): nothing will
            // be uploaded again, so the video leaves our side now.
            delete_staged_media(ctx, &post).await;
            Err(JobError::Reconnect("account needs reconnect".into()))
        }
        Stop::Reconnect(message) => {
            ctx.store
                .transition_post(
                    user,
                    id,
                    from,
                    Box::new(move |p| {
                        p.state = PostState::NeedsReconnect;
                        p.error_code = Some("needs_reconnect".into());
                        p.error_message = Some(message);
                    }),
                )
                .await?;
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
    ctx.store
        .transition_post(
            post.user_id,
            post.id,
            post.state,
            Box::new(move |p| {
                p.state = PostState::Failed;
                p.error_code = Some(code);
                p.error_message = Some(message);
                if fail_reason.is_some() {
                    p.tiktok.fail_reason = fail_reason;
                }
                if p.media_deleted_at.is_none() {
                    p.media_deleted_at = deleted;
                }
            }),
        )
        .await?;
    Ok(())
}

/// Deletes the post's staged object and media row (idempotent). True when nothing of the video
/// is left on our side; false when staging failed (logged; retried at the next terminal step).
pub(crate) async fn remove_staged_object(ctx: &JobContext, post: &Post) -> bool {
    if post.media_deleted_at.is_some() {
        return true;
    }
    let Some(media_id) = post.media_id else {
        return true;
    };
    let result = match ctx.store.media(post.user_id, media_id).await {
        Ok(media) => ctx.staging.delete(&media).await.map_err(|e| e.to_string()),
        Err(StoreError::NotFound) => Ok(()),
        Err(e) => Err(e.to_string()),
    };
    match result {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "staged media not deleted");
            false
        }
    }
}

/// Deletes the post's staged video and records when (the privacy promise: a video exists on
/// our side only until TikTok confirms receipt). Idempotent.
pub(crate) async fn delete_staged_media(ctx: &JobContext, post: &Post) {
    if post.media_deleted_at.is_some() || !remove_staged_object(ctx, post).await {
        return;
    }
    let now = Utc::now();
    for _ in 0..3 {
        let Ok(current) = ctx.store.post(post.user_id, post.id).await else {
            return;
        };
        let state = current.state;
        match ctx
            .store
            .transition_post(
                post.user_id,
                post.id,
                state,
                Box::new(move |p| p.media_deleted_at = Some(now)),
            )
            .await
        {
            Ok(_) => return,
            Err(StoreError::StaleState) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "could not record media deletion");
                return;
            }
        }
    }
}

async fn drive(ctx: &JobContext, mut post: Post) -> Result<(), Stop> {
    let account = ctx
        .store
        .account(post.user_id, post.account_id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => Stop::Fail {
                code: "account_gone".into(),
                message: "The TikTok account of this post was disconnected.".into(),
                fail_reason: None,
            },
            e => e.into(),
        })?;
    let media_id = post.media_id.ok_or_else(|| Stop::Fail {
        code: "no_media".into(),
        message: "This post has no video.".into(),
        fail_reason: None,
    })?;
    let media = ctx
        .store
        .media(post.user_id, media_id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => Stop::Fail {
                code: "media_gone".into(),
                message: "The video of this post is no longer stored; upload it again.".into(),
                fail_reason: None,
            },
            e => e.into(),
        })?;
    ctx.staging.check_key(&media).map_err(video_key_stop)?;

    if post.tiktok.publish_id.is_some() && !url_still_valid(&post) {
        // The upload URL can take no more bytes: only TikTok can say what the stored publish
        // became (rule 3). A resume hours later must never PUT, fail, and initialise again.
        match after_the_url(ctx, &account, &post).await? {
            Stored::Received => return hand_over(ctx, post).await,
            Stored::Incomplete => post = forget_publish(ctx, post).await?,
        }
    }
    if post.tiktok.publish_id.is_none() {
        post = init(ctx, &account, &media, post).await?;
    }
    upload(ctx, &account, &media, post).await
}

/// True while the stored upload URL may still take bytes: younger than TikTok's hour by our
/// clock, which started after TikTok's (we stamp it once `init` has answered).
fn url_still_valid(post: &Post) -> bool {
    post.tiktok
        .upload_url_issued_at
        .is_some_and(|issued| Utc::now() < issued + UPLOAD_URL_TTL)
}

/// What TikTok's `status/fetch` says of a stored publish whose upload URL can take no more bytes.
#[derive(Debug, PartialEq, Eq)]
enum Stored {
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
async fn after_the_url(
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
    let waiting_for_bytes = status.status == PublishStatusKind::ProcessingUpload
        && status.uploaded_bytes.unwrap_or(0) < size;
    Ok(if waiting_for_bytes {
        Stored::Incomplete
    } else {
        Stored::Received
    })
}

/// Forgets a publish that TikTok's status showed can never become a post, so the next step
/// initialises again.
async fn forget_publish(ctx: &JobContext, post: Post) -> Result<Post, Stop> {
    tracing::info!("stored upload can no longer complete at TikTok; initialising again");
    save(ctx, post, |p| {
        p.tiktok.publish_id = None;
        p.tiktok.upload_url = None;
        p.tiktok.upload_url_issued_at = None;
        p.tiktok.uploaded_bytes = 0;
    })
    .await
}

pub(crate) async fn fetch_status(
    ctx: &JobContext,
    account: &TikTokAccount,
    publish_id: &str,
) -> Result<tiktok::PublishStatus, Stop> {
    paced(
        ctx,
        account.user_id,
        account.id,
        Endpoint::Status,
        |tiktok, t| {
            let publish_id = publish_id.to_owned();
            async move { tiktok.fetch_status(&t, &publish_id).await }
        },
    )
    .await
    .map_err(|e| stop_for_account(ctx, e))
}

/// One TikTok call with a fresh token, inside TikTok's per-token limit for `endpoint` (the pacer
/// waits first, on every attempt, including the retry after a refresh).
pub async fn paced<T, F, Fut>(
    ctx: &JobContext,
    user: UserId,
    account: crate::model::AccountId,
    endpoint: Endpoint,
    call: F,
) -> Result<T, AccountError>
where
    F: Fn(tiktok::TikTokClient, tiktok::AccessToken) -> Fut,
    Fut: std::future::Future<Output = Result<T, TikTokError>>,
{
    let call = &call;
    accounts::with_fresh_token(ctx, user, account, |t| {
        let (tiktok, pacer) = (ctx.tiktok.clone(), ctx.pacer.clone());
        async move {
            pacer
                .acquire(account, endpoint)
                .await
                .map_err(pacing_unavailable)?;
            call(tiktok, t).await
        }
    })
    .await
}

/// creator_info → checks → video/init → persist (rule 2).
async fn init(
    ctx: &JobContext,
    account: &TikTokAccount,
    media: &Media,
    post: Post,
) -> Result<Post, Stop> {
    let info = creator_info_paced(ctx, account.user_id, account.id)
        .await
        .map_err(|e| stop_for_account(ctx, e))?;
    check_against_creator(&post, media, &info)?;
    let policy = ChunkPolicy {
        single_chunk_max: ctx.config.tiktok_single_chunk_max,
        chunk_size: ctx.config.tiktok_chunk_size,
    };
    let plan = tiktok::plan(media.size, &policy).map_err(|e| Stop::Fail {
        code: "invalid_video_size".into(),
        message: format!("This video cannot be uploaded to TikTok: {e}"),
        fail_reason: None,
    })?;
    let mut settings = post.settings.clone();
    // TikTok forces these off when the creator disabled them; say so explicitly.
    settings.disable_comment |= info.comment_disabled;
    settings.disable_duet |= info.duet_disabled;
    settings.disable_stitch |= info.stitch_disabled;
    let post_info = PostInfo::from(&settings);
    let source = SourceInfo::file_upload(&plan);
    let result = paced(
        ctx,
        account.user_id,
        account.id,
        Endpoint::Init,
        |tiktok, t| {
            let (post_info, source) = (post_info.clone(), source.clone());
            async move { tiktok.init_direct_post(&t, &post_info, &source).await }
        },
    )
    .await
    .map_err(|e| stop_for_account(ctx, e))?;
    let upload_url = result
        .upload_url
        .ok_or_else(|| Stop::Retry("init returned no upload URL".into()))?;
    let publish_id = result.publish_id;
    tracing::info!(%publish_id, chunks = plan.total_chunk_count, "initialised; persisting before the first byte");
    // Rule 2: if this write loses, nothing was sent and this init is abandoned.
    save(ctx, post, move |p| {
        p.tiktok.publish_id = Some(publish_id);
        p.tiktok.upload_url = Some(upload_url);
        p.tiktok.upload_url_issued_at = Some(Utc::now());
        p.tiktok.plan = Some(plan);
        p.tiktok.uploaded_bytes = 0;
        p.error_code = None;
        p.error_message = None;
    })
    .await
}

/// `creator_info` for an account, paced and with a fresh token.
pub async fn creator_info_paced(
    ctx: &JobContext,
    user: UserId,
    account: crate::model::AccountId,
) -> Result<CreatorInfo, AccountError> {
    paced(
        ctx,
        user,
        account,
        Endpoint::CreatorInfo,
        |tiktok, t| async move { tiktok.creator_info(&t).await },
    )
    .await
}

/// The checks TikTok would make, with reasons a creator understands (settings may have changed
/// at TikTok since the post was created).
fn check_against_creator(post: &Post, media: &Media, info: &CreatorInfo) -> Result<(), Stop> {
    if !info
        .privacy_level_options
        .contains(&post.settings.privacy_level)
    {
        return Err(Stop::Fail {
            code: "privacy_level_option_mismatch".into(),
            message: tiktok::code_message("privacy_level_option_mismatch").into(),
            fail_reason: None,
        });
    }
    if let Some(message) = crate::posts::too_long(info, media.duration_ms) {
        return Err(Stop::Fail {
            code: "video_too_long".into(),
            message,
            fail_reason: None,
        });
    }
    Ok(())
}

/// Saves by compare-and-set in the current state.
async fn save(
    ctx: &JobContext,
    post: Post,
    change: impl FnOnce(&mut Post) + Send + 'static,
) -> Result<Post, Stop> {
    let mut next = post.clone();
    change(&mut next);
    Ok(ctx.store.save_post(&next, post.state).await?)
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
        let body =
            reqwest::Body::wrap_stream(ctx.staging.open_range(media, chunk.first, chunk.last));
        let answer = ctx
            .tiktok
            .upload_chunk(
                &url,
                media.container.content_type(),
                chunk.first,
                chunk.last,
                plan.video_size,
                body,
            )
            .await;
        match answer {
            Ok(ChunkOutcome::Partial { received: r }) => {
                received = r;
                transient = 0;
                post = save(ctx, post, move |p| p.tiktok.uploaded_bytes = r).await?;
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
                received = status.uploaded_bytes.unwrap_or(0);
            }
            Err(TikTokError::UploadRejected {
                reason: UploadRejection::UrlExpired | UploadRejection::UnknownUpload,
                ..
            }) => {
                // The URL takes no more bytes, but TikTok may hold every one of them already (the
                // last chunk landed and only our record of it was lost): ask before forgetting.
                return match after_the_url(ctx, account, &post).await? {
                    Stored::Received => hand_over(ctx, post).await,
                    Stored::Incomplete => {
                        forget_publish(ctx, post).await?;
                        Err(Stop::Retry(
                            "upload URL no longer valid; will initialise again".into(),
                        ))
                    }
                };
            }
            Err(e) if matches!(e.class(), ErrorClass::Retryable { .. }) => {
                transient += 1;
                if transient >= CHUNK_TRIES {
                    save(ctx, post, move |p| p.tiktok.uploaded_bytes = received).await?;
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

/// Every byte is at TikTok: the post moves to `processing` and `poll_status` follows it.
async fn hand_over(ctx: &JobContext, post: Post) -> Result<(), Stop> {
    let size = post.tiktok.plan.map(|p| p.video_size);
    let done = save(ctx, post, move |p| {
        p.state = PostState::Processing;
        if let Some(size) = size {
            p.tiktok.uploaded_bytes = size;
        }
        p.tiktok.upload_completed_at = Some(Utc::now());
        p.tiktok.publish_attempts = 0;
    })
    .await?;
    tracing::info!("all bytes at TikTok; polling status");
    ctx.queue
        .push(&PollStatus {
            user_id: done.user_id,
            post_id: done.id,
        })
        .await
        .map_err(|e| Stop::Retry(e.to_string()))?;
    Ok(())
}
