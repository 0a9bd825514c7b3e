//! "Post now" that never touches disk: a pass-through post (`PostSource::Stream`) is created
//! first (`POST /api/posts` with `"upload": "stream"`, state `draft`), then its bytes arrive in
//! `PUT /api/posts/{id}/video` and go on to TikTok's upload URL as they come, one TikTok-sized
//! chunk at a time. Nothing of the video is written anywhere on our side: the one chunk being
//! sent is held in memory (so a chunk TikTok answered with a 5xx can be sent again) and dropped
//! as soon as TikTok acknowledges it.
//!
//! # Why such a post is published at most once
//! The argument of `handlers::publish` carries over, rule for rule:
//! 1. Only one driver at a time: the request takes the same `publish:<post>` lock the publish
//!    job takes (a second PUT is refused with 409 `upload_in_progress`), renews it while bytes
//!    flow, and stops at once, mid-chunk, if it is lost (a cut-off PUT commits nothing).
//! 2. TikTok's `publish_id`, upload URL and chunk plan are saved in the same compare-and-set
//!    that takes the post from `draft` to `uploading`, before the first byte is sent. If that
//!    write loses (the post was cancelled, or its time ran out), the init is abandoned with no
//!    byte sent, so it can never become a post.
//! 3. A resumed PUT only ever sends to the stored URL, from the byte TikTok reports; a chunk
//!    whose response was lost is recognised from TikTok's `416` and never sent twice.
//! 4. The publish job never sends a byte of such a post (it has none). It comes once the upload
//!    URL's hour is over and asks TikTok what the stored publish became: every byte received →
//!    `processing` as usual; bytes missing → `failed` with `upload_interrupted`, and since no
//!    byte can arrive at a dead URL, that publish can never become a post.

use crate::context::JobContext;
use crate::domain::accounts;
use crate::domain::outcome::Stop;
use crate::domain::posts::PostError;
use crate::domain::upload::{
    LOCK_TTL, UPLOAD_URL_TTL, hand_over, keep_lock, publish_lock, url_still_valid,
};
use crate::model::{Post, PostId, PostSource, PostState, UploadPlan, WorkspaceId};
use crate::pacing::Endpoint;
use crate::store::StoreError;
use crate::tiktok::{
    self, Chunk, ChunkOutcome, ChunkPolicy, ErrorClass, PostInfo, SourceInfo, TikTokError,
    UploadRejection,
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use std::time::Duration;

/// The code of a pass-through post whose bytes stopped coming and were not resumed in time.
pub const UPLOAD_INTERRUPTED: &str = "upload_interrupted";
/// What the creator reads on such a post.
pub const UPLOAD_INTERRUPTED_MESSAGE: &str = "The video stopped arriving before TikTok had all of it, and it was not resumed within the hour TikTok allows. Nothing of it was kept; send it again.";
/// Resends of one chunk after TikTok's transient failures (the chunk is still in memory).
const CHUNK_TRIES: u32 = 5;
/// Pieces of the browser's body queued toward TikTok's PUT at most: the rest waits in the
/// browser's socket (backpressure), not in our memory.
const PIPE_DEPTH: usize = 8;

/// Bytes needed to recognise a video's container.
const SNIFF_LEN: usize = 12;
/// The video types TikTok's upload host takes (tiktok-api.md §5.5).
const VIDEO_TYPES: [&str; 3] = ["video/mp4", "video/quicktime", "video/webm"];

/// What the request declared about its body, parsed by the web tier from its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared<'a> {
    /// `Content-Length`: the bytes this request carries.
    pub length: u64,
    /// `Content-Range: bytes first-last/total` on a resumed PUT; absent on the first one.
    pub range: Option<(u64, u64, u64)>,
    /// `Content-Type`, passed on to TikTok.
    pub content_type: &'a str,
}

/// Why a pass-through PUT was refused or stopped.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Post(#[from] PostError),
    /// The PUT starts at a byte other than the one TikTok is waiting for.
    #[error(
        "this upload must continue at byte {received} of {size}; ask GET on the same path and send from there"
    )]
    Range { received: u64, size: u64 },
    /// TikTok's per-minute init limit for this account is used up: nothing was started.
    #[error(
        "TikTok allows only a few uploads a minute for this account; try again in {} s",
        .retry_after.as_secs().max(1)
    )]
    Paced { retry_after: Duration },
    /// The body stopped before all its bytes arrived. What TikTok acknowledged stays; the
    /// upload can resume from there while its URL is valid.
    #[error("the upload was interrupted after {received} of {size} bytes reached TikTok")]
    Interrupted { received: u64, size: u64 },
    /// TikTok refused the video for good; the post is `failed` with this reason.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
}

/// How far a pass-through upload is, for `GET /api/posts/{id}/video`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StreamProgress {
    pub state: PostState,
    /// Bytes TikTok acknowledged: a resumed PUT starts here.
    pub received: u64,
    /// The size declared by the first PUT (unknown before it).
    pub size: Option<u64>,
    /// Until when the upload can be resumed (TikTok's upload URL lives one hour).
    pub resumable_until: Option<DateTime<Utc>>,
}

/// The pass-through post `id`, or a refusal when it is another kind of post.
async fn stream_post(ctx: &JobContext, ws: WorkspaceId, id: PostId) -> Result<Post, PostError> {
    let post = ctx.store.post(ws, id).await?;
    if post.source != PostSource::Stream {
        return Err(super::conflict(
            "not_a_stream_post",
            "This post's video is not sent by PUT; only a post created with \"upload\": \"stream\" takes one.",
        ));
    }
    Ok(post)
}

/// Where a pass-through upload stands.
pub async fn progress(
    ctx: &JobContext,
    ws: WorkspaceId,
    id: PostId,
) -> Result<StreamProgress, PostError> {
    let post = stream_post(ctx, ws, id).await?;
    Ok(StreamProgress {
        state: post.state,
        received: post.tiktok.uploaded_bytes,
        size: post.tiktok.plan.map(|p| p.video_size),
        resumable_until: (post.state == PostState::Uploading)
            .then_some(post.tiktok.upload_url_issued_at)
            .flatten()
            .map(|at| at + UPLOAD_URL_TTL),
    })
}

/// Cancels a pass-through post the creator stopped mid-way (`uploading`). Under the post's
/// lock, so no PUT can add a byte meanwhile, and only once TikTok's status says bytes are
/// missing: then, with nobody left to send them, that publish can never become a post. A
/// post TikTok holds whole is not cancellable (it will be published; the publish job hands it
/// over).
pub(crate) async fn cancel_midway(ctx: &JobContext, post: &Post) -> Result<Post, PostError> {
    let still_sending = || {
        super::conflict(
            "upload_in_progress",
            "This video is still being sent; stop the upload first, then cancel.",
        )
    };
    let guard = ctx
        .locks
        .try_acquire(&publish_lock(post.id), LOCK_TTL)
        .await
        .map_err(|_| PostError::Unavailable)?
        .ok_or_else(still_sending)?;
    let result = cancel_locked(ctx, post.workspace_id, post.id).await;
    ctx.locks.release(guard).await;
    result
}

async fn cancel_locked(ctx: &JobContext, ws: WorkspaceId, id: PostId) -> Result<Post, PostError> {
    let post = stream_post(ctx, ws, id).await?;
    let (Some(publish_id), Some(plan)) = (&post.tiktok.publish_id, post.tiktok.plan) else {
        return Err(PostError::Unavailable);
    };
    if post.state != PostState::Uploading {
        return Err(super::conflict(
            "not_cancellable",
            format!(
                "This post is {}; it can no longer be cancelled.",
                post.state
            ),
        ));
    }
    let account = ctx.store.account(ws, post.account_id).await?;
    let status = crate::domain::paced::fetch_status(ctx, &account, publish_id)
        .await
        .map_err(|_| PostError::Unavailable)?;
    let missing = match (&status.status, status.uploaded_bytes) {
        (tiktok::PublishStatusKind::ProcessingUpload, Some(received)) => received < plan.video_size,
        (tiktok::PublishStatusKind::Failed, _) => true,
        _ => false,
    };
    if !missing {
        return Err(super::conflict(
            "not_cancellable",
            "TikTok already has all of this video, so it will be published; it can no longer be cancelled.",
        ));
    }
    Ok(crate::domain::outcome::transition(ctx, &post, Post::cancel).await?)
}

/// Receives a pass-through post's bytes and forwards them to TikTok: the first PUT initialises
/// the upload, a later one resumes it. Returns the post once TikTok has every byte (then
/// `processing`; `poll_status` follows it as for any post).
pub async fn receive<S, E>(
    ctx: &JobContext,
    ws: WorkspaceId,
    id: PostId,
    declared: Declared<'_>,
    body: S,
) -> Result<Post, StreamError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
    E: std::fmt::Display,
{
    if !VIDEO_TYPES.contains(&declared.content_type) {
        return Err(invalid(
            "unsupported_video_type",
            "Send the video itself with Content-Type video/mp4, video/quicktime or video/webm.",
        ));
    }
    stream_post(ctx, ws, id).await?;
    let Some(guard) = ctx
        .locks
        .try_acquire(&publish_lock(id), LOCK_TTL)
        .await
        .map_err(|_| PostError::Unavailable)?
    else {
        return Err(super::conflict(
            "upload_in_progress",
            "This post's video is already being sent (another upload of it is running).",
        )
        .into());
    };
    let lost = tokio_util::sync::CancellationToken::new();
    let renewal = tokio::spawn(keep_lock(ctx.locks.clone(), guard.clone(), lost.clone()));
    let result = tokio::select! {
        result = drive(ctx, ws, id, declared, body) => result,
        () = lost.cancelled() => Err(PostError::Unavailable.into()),
    };
    renewal.abort();
    ctx.locks.release(guard).await;
    result
}

/// Under the lock: start or resume, then forward every remaining chunk.
async fn drive<S, E>(
    ctx: &JobContext,
    ws: WorkspaceId,
    id: PostId,
    declared: Declared<'_>,
    body: S,
) -> Result<Post, StreamError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
    E: std::fmt::Display,
{
    // Read again under the lock: the post may have moved while we waited for it.
    let mut body = body;
    let post = stream_post(ctx, ws, id).await?;
    let (post, head) = match post.state {
        PostState::Draft => {
            // The first bytes say whether this is a video at all, before TikTok is asked.
            let head = sniffed_head(&mut body).await?;
            (start(ctx, post, &declared).await?, head)
        }
        PostState::Uploading if url_still_valid(&post) => {
            resumable(&post, &declared)?;
            (post, Bytes::new())
        }
        PostState::Uploading => {
            return Err(super::conflict(
                "upload_expired",
                "TikTok's hour for this upload is over; the post will be marked failed. Send the video again in a new post.",
            )
            .into());
        }
        state => {
            return Err(super::conflict(
                "not_uploadable",
                format!("This post is {state}; it takes no more video."),
            )
            .into());
        }
    };
    forward(ctx, post, declared.content_type, body, head).await
}

/// The body's first bytes, enough to recognise the container (MP4, MOV or WebM).
async fn sniffed_head<S, E>(body: &mut S) -> Result<Bytes, StreamError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
    E: std::fmt::Display,
{
    let mut head = bytes::BytesMut::new();
    while head.len() < SNIFF_LEN {
        match body.next().await {
            Some(Ok(piece)) => head.extend_from_slice(&piece),
            _ => break,
        }
    }
    if crate::staging::sniff(&head).is_none() {
        return Err(invalid(
            "not_a_video",
            "This file is not a video TikTok accepts: send an MP4, MOV or WebM file.",
        ));
    }
    Ok(head.freeze())
}

/// A resumed PUT must carry exactly the bytes from TikTok's progress to the end.
fn resumable(post: &Post, declared: &Declared<'_>) -> Result<(), StreamError> {
    let size = post.tiktok.plan.map(|p| p.video_size).unwrap_or_default();
    let received = post.tiktok.uploaded_bytes;
    match declared.range {
        Some((first, last, total)) if first == received && last + 1 == total && total == size => {
            if declared.length != total - first {
                return Err(invalid(
                    "content_length_mismatch",
                    "Content-Length must equal the bytes Content-Range names.",
                ));
            }
            Ok(())
        }
        _ => Err(StreamError::Range { received, size }),
    }
}

/// The first PUT: checks the size, takes an init slot from the pacer without waiting (a
/// browser is holding its upload open), asks TikTok for an upload URL and saves it together
/// with `draft → uploading` (rule 2).
async fn start(ctx: &JobContext, post: Post, declared: &Declared<'_>) -> Result<Post, StreamError> {
    if let Some((first, ..)) = declared.range
        && first != 0
    {
        return Err(StreamError::Range {
            received: 0,
            size: declared.range.map(|r| r.2).unwrap_or(declared.length),
        });
    }
    let max = ctx.config.staging.max_upload_bytes;
    if declared.length == 0 || declared.length > max {
        return Err(invalid(
            "invalid_video_size",
            format!(
                "The video must be between 1 byte and {max} bytes (Content-Length says {}).",
                declared.length
            ),
        ));
    }
    let policy = ChunkPolicy {
        single_chunk_max: ctx.config.tiktok.single_chunk_max,
        chunk_size: ctx.config.tiktok.chunk_size,
    };
    let plan = tiktok::plan(declared.length, &policy).map_err(|e| {
        invalid(
            "invalid_video_size",
            format!("This video cannot be uploaded to TikTok: {e}"),
        )
    })?;
    if let Some(retry_after) = ctx
        .pacer
        .try_acquire(post.account_id, Endpoint::Init)
        .await
        .map_err(|_| PostError::Unavailable)?
    {
        return Err(StreamError::Paced { retry_after });
    }
    let post_info = PostInfo::from(&post.settings);
    let source = SourceInfo::file_upload(&plan);
    let init = accounts::with_fresh_token(ctx, post.workspace_id, post.account_id, |t| {
        let (tiktok, post_info, source) = (ctx.tiktok.clone(), post_info.clone(), source.clone());
        async move { tiktok.init_direct_post(&t, &post_info, &source).await }
    })
    .await;
    let init = match init {
        Ok(init) => init,
        Err(e) => return Err(refused_at_init(ctx, &post, e).await),
    };
    let Some(upload_url) = init.upload_url else {
        return Err(PostError::Unavailable.into());
    };
    tracing::info!(publish_id = %init.publish_id, chunks = plan.total_chunk_count, "pass-through initialised; persisting before the first byte");
    let mut next = post.clone();
    next.start_stream(init.publish_id, upload_url, plan, Utc::now());
    match ctx.store.save_post(&next, PostState::Draft).await {
        Ok(saved) => Ok(saved),
        // Rule 2: lost the write, so this init is abandoned with no byte sent.
        Err(StoreError::StaleState) => Err(super::conflict(
            "changed_concurrently",
            "This post changed while its upload was starting (it may have been cancelled); nothing was sent.",
        )
        .into()),
        Err(e) => Err(PostError::from(e).into()),
    }
}

/// TikTok refused the init. A transient refusal leaves the post in `draft` (the browser may
/// try again); anything else fails the post with TikTok's reason, since it would refuse the
/// same request again.
async fn refused_at_init(ctx: &JobContext, post: &Post, e: accounts::AccountError) -> StreamError {
    let err = super::account_error(e);
    let (code, message) = match &err {
        PostError::Conflict { code, message } | PostError::Invalid { code, message } => {
            (*code, message.clone())
        }
        _ => return err.into(),
    };
    let (c, m) = (code.to_owned(), message.clone());
    if let Err(e) = crate::domain::outcome::transition(ctx, post, move |p| p.fail(c, m, None)).await
    {
        tracing::warn!(error = %e, "could not record the refused pass-through post");
    }
    StreamError::Refused { code, message }
}

/// Sends every chunk from TikTok's progress on, reading each from the body as TikTok takes it
/// (starting with `carry`, what was already read of it).
async fn forward<S, E>(
    ctx: &JobContext,
    mut post: Post,
    content_type: &str,
    mut body: S,
    mut carry: Bytes,
) -> Result<Post, StreamError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
    E: std::fmt::Display,
{
    let plan = post.tiktok.plan.ok_or(PostError::Unavailable)?;
    let url = post
        .tiktok
        .upload_url
        .clone()
        .ok_or(PostError::Unavailable)?;
    while post.tiktok.uploaded_bytes < plan.video_size {
        let received = post.tiktok.uploaded_bytes;
        let chunk = tiktok::next_chunk(&plan, received)
            .ok()
            .flatten()
            .ok_or(PostError::Unavailable)?;
        let sent = send_chunk(
            ctx,
            &url,
            content_type,
            &plan,
            &chunk,
            &mut body,
            &mut carry,
        )
        .await;
        let interrupted = StreamError::Interrupted {
            received,
            size: plan.video_size,
        };
        let now_at = match sent {
            Ok(ChunkOutcome::Complete) => plan.video_size,
            Ok(ChunkOutcome::Partial { received: r }) => r,
            // The response to this very chunk was lost on an earlier try: TikTok has it.
            Ok(ChunkOutcome::RangeMismatch { received: Some(r) }) if r == chunk.last + 1 => r,
            Ok(ChunkOutcome::RangeMismatch { received }) => {
                // TikTok is elsewhere; the browser must resume from TikTok's byte.
                let r = received.unwrap_or(post.tiktok.uploaded_bytes);
                save_progress(ctx, post, r).await?;
                return Err(StreamError::Range {
                    received: r,
                    size: plan.video_size,
                });
            }
            Err(Sent::Body) => return Err(interrupted),
            Err(Sent::TikTok(e)) => return Err(chunk_refused(&post, e)),
        };
        if now_at >= plan.video_size {
            break;
        }
        post = save_progress(ctx, post, now_at).await?;
    }
    let id = (post.workspace_id, post.id);
    hand_over(ctx, post).await.map_err(stop_error)?;
    Ok(ctx.store.post(id.0, id.1).await.map_err(PostError::from)?)
}

async fn save_progress(ctx: &JobContext, post: Post, received: u64) -> Result<Post, StreamError> {
    crate::domain::upload::save(ctx, post, move |p| p.record_uploaded(received))
        .await
        .map_err(stop_error)
}

/// A step of the shared upload mechanics stopped.
fn stop_error(s: Stop) -> StreamError {
    match s {
        Stop::Fail { message, .. } => StreamError::Refused {
            code: "tiktok_refused",
            message,
        },
        Stop::Yield => super::conflict(
            "changed_concurrently",
            "This post changed while its video was being sent.",
        )
        .into(),
        _ => PostError::Unavailable.into(),
    }
}

/// How sending one chunk went wrong.
enum Sent {
    /// The browser's body ended or failed before the chunk was whole.
    Body,
    /// TikTok refused the chunk (after the resends a transient failure gets).
    TikTok(TikTokError),
}

/// Reads one chunk from the body and PUTs it, piece by piece as it arrives; keeps the pieces
/// until TikTok answers, to send the chunk again after a transient failure.
async fn send_chunk<S, E>(
    ctx: &JobContext,
    url: &str,
    content_type: &str,
    plan: &UploadPlan,
    chunk: &Chunk,
    body: &mut S,
    carry: &mut Bytes,
) -> Result<ChunkOutcome, Sent>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
    E: std::fmt::Display,
{
    let len = chunk.last - chunk.first + 1;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(PIPE_DEPTH);
    let put = ctx.tiktok.upload_chunk(
        url,
        content_type,
        chunk.first,
        chunk.last,
        plan.video_size,
        reqwest::Body::wrap_stream(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|piece| (piece, rx))
        })),
    );
    let (answer, pieces) = tokio::join!(put, read_chunk(body, carry, len, Some(tx)));
    let pieces = pieces.map_err(|()| Sent::Body)?;
    let mut answer = answer;
    let mut tries = 1;
    loop {
        match answer {
            Err(e) if matches!(e.class(), ErrorClass::Retryable { .. }) && tries < CHUNK_TRIES => {
                let backoff = e
                    .retry_after()
                    .unwrap_or(Duration::from_millis(250 << tries.min(5)));
                tokio::time::sleep(backoff.min(Duration::from_secs(30))).await;
                tries += 1;
                let again =
                    futures::stream::iter(pieces.clone().into_iter().map(Ok::<_, std::io::Error>));
                answer = ctx
                    .tiktok
                    .upload_chunk(
                        url,
                        content_type,
                        chunk.first,
                        chunk.last,
                        plan.video_size,
                        reqwest::Body::wrap_stream(again),
                    )
                    .await;
            }
            Err(e) => return Err(Sent::TikTok(e)),
            Ok(outcome) => return Ok(outcome),
        }
    }
}

/// Reads exactly `len` bytes of the body (starting with what the previous chunk left over),
/// handing each piece to `pipe` as it comes. A piece that runs past the chunk is split and its
/// tail kept in `carry`. When the pipe's reader is gone (TikTok answered early), reading goes
/// on so the chunk can be sent again whole. A body that ends or fails early poisons the pipe,
/// so TikTok's PUT is cut off and commits nothing.
async fn read_chunk<S, E>(
    body: &mut S,
    carry: &mut Bytes,
    len: u64,
    mut pipe: Option<tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>>,
) -> Result<Vec<Bytes>, ()>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
    E: std::fmt::Display,
{
    let mut pieces = Vec::new();
    let mut have = 0u64;
    while have < len {
        let mut piece = if carry.is_empty() {
            match body.next().await {
                Some(Ok(b)) => b,
                ended => {
                    if let Some(Err(e)) = ended {
                        tracing::info!(error = %e, "the pass-through body failed");
                    }
                    poison(pipe).await;
                    return Err(());
                }
            }
        } else {
            std::mem::take(carry)
        };
        let room = (len - have) as usize;
        if piece.len() > room {
            *carry = piece.split_off(room);
        }
        have += piece.len() as u64;
        if let Some(tx) = &pipe
            && tx.send(Ok(piece.clone())).await.is_err()
        {
            pipe = None;
        }
        pieces.push(piece);
    }
    Ok(pieces)
}

/// Cuts TikTok's PUT off: its body fails, so the request is aborted mid-way.
async fn poison(pipe: Option<tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>>) {
    if let Some(tx) = pipe {
        let _ = tx
            .send(Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the browser's upload stopped",
            )))
            .await;
    }
}

/// TikTok refused a chunk for good: an upload URL it no longer takes, or a permanent error. The
/// post stays `uploading` with its publish id (the publish job settles it once the URL's hour
/// is over, rule 4); the browser is told why.
fn chunk_refused(post: &Post, e: TikTokError) -> StreamError {
    match e {
        TikTokError::UploadRejected {
            reason: UploadRejection::UrlExpired | UploadRejection::UnknownUpload,
            ..
        } => super::conflict(
            "upload_expired",
            "TikTok no longer takes bytes for this upload; send the video again in a new post.",
        )
        .into(),
        e if matches!(e.class(), ErrorClass::Retryable { .. }) => StreamError::Interrupted {
            received: post.tiktok.uploaded_bytes,
            size: post.tiktok.plan.map(|p| p.video_size).unwrap_or_default(),
        },
        e => StreamError::Refused {
            code: "upload_refused",
            message: e.creator_message(),
        },
    }
}

fn invalid(code: &'static str, message: impl Into<String>) -> StreamError {
    super::invalid(code, message).into()
}
