//! Creating, cancelling and replaying posts: the rules `POST /api/posts` and friends apply
//! before anything reaches the queue.
//!
//! Creation validates against the account's **live** `creator_info` (TikTok's posting rules,
//! tiktok-api.md §5.12), writes the post, attaches its video, then enqueues `publish` (or leaves
//! it `scheduled`). An `Idempotency-Key` makes a retried request return the same post; the same
//! key with a different body is a conflict.

pub mod approval;
mod cancel;
pub mod error;
pub mod inbox;
mod insert;
pub mod parked;
pub mod photos;
pub mod stream;
pub mod unaudited;
pub mod url;

pub use cancel::{cancel, cancel_unsent};
pub use error::PostError;
use error::{conflict, invalid};
pub(crate) use insert::{Writing, insert};

use crate::context::JobContext;
use crate::domain::accounts::{self, AccountError};
use crate::domain::outcome::{RETRIES_EXHAUSTED, transition};
use crate::model::{
    AccountId, Actor, Media, MediaId, PhotoPost, Post, PostGroup, PostId, PostMode, PostSettings,
    PostSource, PostState, PrivacyLevel, TikTokProgress, WorkspaceId,
};
use crate::queue::payloads::PublishPost;
use crate::store::{Created, StoreError};
use crate::tiktok::{CreatorInfo, ErrorClass, TikTokError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// TikTok's caption limit, in UTF-16 code units.
pub const MAX_TITLE_UTF16: usize = 2200;

/// How long after its creation a pass-through post still in `draft` is settled by its publish
/// job: TikTok's hour for its upload (the browser may send the first byte until then), and a
/// minute more. The scheduler's stuck-post sweep counts from it too, for a draft whose job was
/// never queued.
pub fn stream_settle_after() -> chrono::Duration {
    crate::domain::upload::UPLOAD_URL_TTL + chrono::Duration::minutes(1)
}

/// A request to publish one video (or one set of photos) to one account. Exactly one of
/// `media_id`, `upload`, `video_url` and `media_ids` says where the media comes from
/// ([`NewPost::source`]). Fields added after the first version are left out of the canonical
/// form when unset, so an older client's request hashes as it always did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewPost {
    pub account_id: AccountId,
    /// A video staged with `POST /api/media`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_id: Option<MediaId>,
    /// `"stream"`: "post now" pass-through; the video follows in `PUT /api/posts/{id}/video`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<UploadKind>,
    /// A video TikTok downloads itself, under one of `TIKTOK_VERIFIED_URL_PREFIXES`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_url: Option<String>,
    /// A photo carousel: staged images, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_ids: Option<Vec<MediaId>>,
    /// The photo carousel's cover (an index into `media_ids`; the first when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_cover_index: Option<u32>,
    /// A photo post's description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// A photo post: let TikTok add music.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_add_music: bool,
    /// `direct` (TikTok posts it) or `inbox` (a draft the creator finishes in the TikTok app).
    #[serde(default, skip_serializing_if = "is_direct")]
    pub post_mode: PostMode,
    #[serde(default)]
    pub title: String,
    /// Required: TikTok forbids a default (the creator must choose).
    pub privacy_level: Option<PrivacyLevel>,
    #[serde(default)]
    pub disable_comment: bool,
    #[serde(default)]
    pub disable_duet: bool,
    #[serde(default)]
    pub disable_stitch: bool,
    #[serde(default)]
    pub brand_content_toggle: bool,
    #[serde(default)]
    pub brand_organic_toggle: bool,
    #[serde(default)]
    pub is_aigc: bool,
    /// A video post's cover: the frame at this many milliseconds (TikTok's first frame when
    /// unset). See [`check_cover`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_cover_timestamp_ms: Option<u32>,
}

fn is_direct(mode: &PostMode) -> bool {
    *mode == PostMode::Direct
}

/// How a request's video reaches us, when it does not name one already staged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadKind {
    /// Streamed through memory to TikTok with `PUT /api/posts/{id}/video`.
    Stream,
}

/// Where a request says its media comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    Staged(MediaId),
    Stream,
    Url(String),
    Photos(Vec<MediaId>),
}

impl NewPost {
    /// A request for a staged video with every other setting at its default: what the tests and
    /// campaign rows start from.
    pub fn staged(account_id: AccountId, media_id: MediaId) -> Self {
        Self {
            account_id,
            media_id: Some(media_id),
            upload: None,
            video_url: None,
            media_ids: None,
            photo_cover_index: None,
            description: String::new(),
            auto_add_music: false,
            post_mode: PostMode::Direct,
            title: String::new(),
            privacy_level: None,
            disable_comment: false,
            disable_duet: false,
            disable_stitch: false,
            brand_content_toggle: false,
            brand_organic_toggle: false,
            is_aigc: false,
            video_cover_timestamp_ms: None,
        }
    }

    /// A request for a video TikTok downloads from `video_url` (PULL_FROM_URL), every other
    /// setting at its default.
    pub fn pulled(account_id: AccountId, video_url: String) -> Self {
        Self {
            media_id: None,
            video_url: Some(video_url),
            ..Self::staged(account_id, MediaId::new())
        }
    }

    /// A request for a photo post of the staged images `ids`, in order.
    pub fn photos(account_id: AccountId, ids: Vec<MediaId>) -> Self {
        Self {
            media_id: None,
            media_ids: Some(ids),
            ..Self::staged(account_id, MediaId::new())
        }
    }

    /// Where the media comes from: exactly one way must be named.
    pub fn source(&self) -> Result<Requested, PostError> {
        let mut named = Vec::with_capacity(1);
        if let Some(id) = self.media_id {
            named.push(Requested::Staged(id));
        }
        if let Some(UploadKind::Stream) = self.upload {
            named.push(Requested::Stream);
        }
        if let Some(url) = &self.video_url {
            named.push(Requested::Url(url.clone()));
        }
        if let Some(ids) = &self.media_ids {
            named.push(Requested::Photos(ids.clone()));
        }
        match named.len() {
            0 => Err(invalid(
                "media_required",
                "Say what to post: a staged video (media_id), photos (media_ids), a video_url, or \"upload\": \"stream\".",
            )),
            1 => Ok(named.remove(0)),
            _ => Err(invalid(
                "media_ambiguous",
                "Name only one of media_id, media_ids, video_url and \"upload\": \"stream\".",
            )),
        }
    }
}

/// The hash that tells a replay of a request from a different request under the same key.
pub fn request_hash(req: &NewPost, scheduled: Option<&(DateTime<Utc>, Option<String>)>) -> String {
    let canonical = serde_json::json!({ "post": req, "scheduled": scheduled.map(|(at, tz)| (at.to_rfc3339(), tz)) });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// Checks a request against the creator's live options. Pure, so every rule has a unit test.
pub fn validate(
    req: &NewPost,
    info: &CreatorInfo,
    duration_ms: Option<u64>,
) -> Result<PrivacyLevel, PostError> {
    let privacy = req.privacy_level.ok_or_else(|| {
        invalid(
            "privacy_level_required",
            "Choose who can see this video (TikTok requires an explicit choice).",
        )
    })?;
    if !info.privacy_level_options.contains(&privacy) {
        return Err(invalid(
            "privacy_level_option_mismatch",
            format!(
                "This account cannot post with privacy {}; choose one of the options TikTok offers for it.",
                privacy.as_str()
            ),
        ));
    }
    check_title(req)?;
    if info.comment_disabled && !req.disable_comment {
        return Err(invalid(
            "comments_disabled_by_creator",
            "This creator turned comments off on TikTok, so they cannot be allowed here.",
        ));
    }
    if info.duet_disabled && !req.disable_duet {
        return Err(invalid(
            "duet_disabled_by_creator",
            "This creator turned Duet off on TikTok, so it cannot be allowed here.",
        ));
    }
    if info.stitch_disabled && !req.disable_stitch {
        return Err(invalid(
            "stitch_disabled_by_creator",
            "This creator turned Stitch off on TikTok, so it cannot be allowed here.",
        ));
    }
    if req.brand_content_toggle && privacy == PrivacyLevel::SelfOnly {
        return Err(invalid(
            "branded_content_cannot_be_private",
            "Branded content cannot be private (\"Only me\"); choose another audience.",
        ));
    }
    if let Some(message) = info.refuses_duration(duration_ms) {
        return Err(invalid("video_too_long", message));
    }
    Ok(privacy)
}

/// The cover frame fits the post: TikTok takes `video_cover_timestamp_ms` only in a video's
/// direct-post `post_info` (a draft's `inbox/video/init` and a photo post have none), so a cover
/// anywhere else would be silently lost. `duration_ms` is the staged video's length when known;
/// for a URL or a pass-through video it is not, and TikTok falls back to the first frame when
/// the time is past the end.
pub fn check_cover(req: &NewPost, duration_ms: Option<u64>) -> Result<(), PostError> {
    let Some(ms) = req.video_cover_timestamp_ms else {
        return Ok(());
    };
    if req.post_mode == PostMode::Inbox {
        return Err(invalid(
            "cover_not_applicable",
            "A draft for the TikTok inbox has no cover frame here: the creator picks it in the TikTok app.",
        ));
    }
    if matches!(req.source()?, Requested::Photos(_)) {
        return Err(invalid(
            "cover_not_applicable",
            "A cover frame is for a video; a photo post picks its cover with photo_cover_index.",
        ));
    }
    // TikTok's field is an int32: a larger number is refused at `video/init`, after the post
    // was accepted here.
    if ms > i32::MAX as u32 {
        return Err(invalid(
            "cover_out_of_range",
            format!("The cover frame is at most {} ms into the video.", i32::MAX),
        ));
    }
    if let Some(length) = duration_ms
        && u64::from(ms) >= length
    {
        return Err(invalid(
            "cover_out_of_range",
            format!(
                "The cover frame at {ms} ms is past the end of the video, which is {length} ms ({}) long.",
                clock(length)
            ),
        ));
    }
    Ok(())
}

/// `m:ss.t`, how a video's length reads in a message.
fn clock(ms: u64) -> String {
    let tenths = ms / 100;
    format!("{}:{:02}.{}", tenths / 600, tenths / 10 % 60, tenths % 10)
}

/// The caption fits TikTok's limit.
fn check_title(req: &NewPost) -> Result<(), PostError> {
    let units = req.title.encode_utf16().count();
    if units > MAX_TITLE_UTF16 {
        return Err(invalid(
            "title_too_long",
            format!("The caption is {units} characters long; TikTok allows {MAX_TITLE_UTF16}."),
        ));
    }
    Ok(())
}

pub(crate) fn account_error(e: AccountError) -> PostError {
    match e {
        AccountError::Store(s) => s.into(),
        AccountError::NeedsReconnect(why) => conflict("needs_reconnect", why),
        AccountError::TikTok(t) => tiktok_error(&t),
        e if e.is_transient() => PostError::Unavailable,
        e => PostError::Store(StoreError::Backend(e.to_string())),
    }
}

fn tiktok_error(t: &TikTokError) -> PostError {
    match t.class() {
        ErrorClass::Retryable { .. } => PostError::Unavailable,
        // creator_info says "cannot post now" with HTTP 200 (caps, bans): stop and tell why.
        _ => conflict("cannot_post_now", t.creator_message()),
    }
}

/// Creates a post (or returns the one this idempotency key already made).
pub async fn create(
    ctx: &JobContext,
    by: Actor,
    req: NewPost,
    scheduled: Option<(DateTime<Utc>, Option<String>)>,
    idempotency_key: Option<String>,
) -> Result<Created<Post>, PostError> {
    let ws = by.workspace;
    let hash = request_hash(&req, scheduled.as_ref());
    if let Some(key) = &idempotency_key
        && let Some(existing) = ctx.store.post_by_idempotency_key(ws, key).await?
    {
        return replayed(existing, &hash);
    }
    let source = req.source()?;
    let account = ctx.store.account(ws, req.account_id).await?;
    if req.post_mode == PostMode::Inbox {
        // A draft: no creator_info, no audience to check (`inbox.rs`).
        let privacy = inbox::validate_draft(&req, &account)?;
        check_cover(&req, None)?;
        match &source {
            Requested::Staged(id) => drop(unused_media(ctx, ws, *id).await?),
            Requested::Url(video_url) => {
                url::check_video_url(video_url, &ctx.config.tiktok.verified_url_prefixes)?
            }
            Requested::Photos(ids) => photos::unused_images(ctx, ws, ids).await?,
            // Refused by `validate_draft`.
            Requested::Stream => {}
        }
        let who = approval::Submitter::of(ctx, by).await?;
        let writing = Writing::alone(idempotency_key, hash);
        return insert(ctx, who, &req, privacy, scheduled, writing).await;
    }
    if let Some(why) = accounts::cannot_publish_reason(&account) {
        return Err(conflict("account_cannot_publish", why));
    }
    let duration_ms = match &source {
        Requested::Staged(id) => unused_media(ctx, ws, *id).await?.duration_ms,
        // Its length is only known once its bytes arrive; TikTok checks the duration then.
        Requested::Stream if scheduled.is_none() => None,
        Requested::Stream => {
            return Err(invalid(
                "stream_cannot_be_scheduled",
                "A video sent straight to TikTok goes out now; to schedule it, upload it first (it then waits encrypted until its time).",
            ));
        }
        // TikTok downloads it later: its length is TikTok's to check.
        Requested::Url(video_url) => {
            url::check_video_url(video_url, &ctx.config.tiktok.verified_url_prefixes)?;
            None
        }
        Requested::Photos(ids) => {
            photos::check_request(&req)?;
            photos::unused_images(ctx, ws, ids).await?;
            None
        }
    };
    check_cover(&req, duration_ms)?;
    let info = crate::domain::paced::creator_info_paced(ctx, ws, account.id)
        .await
        .map_err(account_error)?;
    let privacy = match &source {
        Requested::Photos(_) => validate(&photos::as_validated(&req), &info, None)?,
        _ => validate(&req, &info, duration_ms)?,
    };
    unaudited::check(ctx.config.tiktok.app_audited, &info, privacy)?;
    let who = approval::Submitter::of(ctx, by).await?;
    if who.needs_approval && source == Requested::Stream {
        return Err(conflict(
            "approval_required",
            "Posts in this workspace wait for an approver, so the video must wait with them: upload it first instead of sending it straight to TikTok.",
        ));
    }
    let writing = Writing::alone(idempotency_key, hash);
    insert(ctx, who, &req, privacy, scheduled, writing).await
}

/// The staged video `id` if no post uses it yet (`NotFound` when there is none).
pub(crate) async fn unused_media(
    ctx: &JobContext,
    ws: WorkspaceId,
    id: MediaId,
) -> Result<Media, PostError> {
    let media = ctx.store.media(ws, id).await?;
    if media.post_id.is_some() {
        return Err(conflict(
            "media_in_use",
            "This video is already used by another post; upload it again for a new post.",
        ));
    }
    Ok(media)
}

/// The answer for an idempotency key that already made `existing`: the same post when the
/// request is the same, else a conflict.
pub(crate) fn replayed(existing: Post, hash: &str) -> Result<Created<Post>, PostError> {
    if existing.request_hash.as_deref() == Some(hash) {
        Ok(Created {
            value: existing,
            created: false,
        })
    } else {
        Err(conflict(
            "idempotency_key_reused",
            "This Idempotency-Key was already used for a different request.",
        ))
    }
}

/// Replays a post that failed or was parked (retries exhausted, or waiting for a reconnect):
/// refused while a TikTok publish may still complete or the account still needs reconnecting.
pub async fn replay(ctx: &JobContext, ws: WorkspaceId, id: PostId) -> Result<Post, PostError> {
    let replayed = prepare_replay(ctx, ws, id).await?;
    if replayed.state == PostState::Scheduled {
        // A parked post still ahead of its time: the scheduler takes it then.
        return Ok(replayed);
    }
    ctx.queue
        .push(&PublishPost {
            workspace_id: ws,
            post_id: id,
        })
        .await
        .map_err(|e| PostError::Queue(e.to_string()))?;
    Ok(replayed)
}

/// Everything [`replay`] does but the push: checks that replaying is safe (the post failed or
/// was parked, its video is still staged, TikTok cannot still publish it) and makes the post
/// ready for a `publish` job. The caller queues that job (a new one, or an operator's replay of
/// the dead one).
pub async fn prepare_replay(
    ctx: &JobContext,
    ws: WorkspaceId,
    id: PostId,
) -> Result<Post, PostError> {
    let post = ctx.store.post(ws, id).await?;
    if post.state == PostState::NeedsReconnect {
        // Waiting for its account: back in line once the account can publish again.
        return parked::prepare_retry(ctx, &post).await;
    }
    let parked = post.error_code.as_deref() == Some(RETRIES_EXHAUSTED);
    if post.state != PostState::Failed && !parked {
        return Err(conflict(
            "not_replayable",
            format!(
                "This post is {}; only failed or stalled posts can be retried.",
                post.state
            ),
        ));
    }
    if post.source == PostSource::Stream {
        return Err(conflict(
            "stream_not_kept",
            "This video went straight to TikTok and was never kept on our side; send it again in a new post.",
        ));
    }
    // A grouped post's shared video goes with the last post that needed it, which may not
    // have been this one.
    let shared_gone = match (post.group.is_some(), post.media_id) {
        (true, Some(media)) => {
            matches!(ctx.store.media(ws, media).await, Err(StoreError::NotFound))
        }
        _ => false,
    };
    // A URL post's video was never ours to delete: TikTok pulls it again from its URL.
    if (post.media_deleted_at.is_some() || shared_gone)
        && !matches!(post.source, PostSource::Url { .. })
    {
        return Err(conflict(
            "media_gone",
            "This post's video was deleted after TikTok's answer; upload it again in a new post.",
        ));
    }
    // Asked for every post that holds a publish id, parked ones too: only TikTok's `FAILED`
    // lets the id go (the replay then initialises afresh). Anything else is resumed by
    // `publish` from the stored id, which asks TikTok again before sending a byte.
    let mut dead_at_tiktok = false;
    if let Some(publish_id) = &post.tiktok.publish_id {
        let account = ctx.store.account(ws, post.account_id).await?;
        let status = crate::domain::paced::fetch_status(ctx, &account, publish_id)
            .await
            .map_err(|_| PostError::Unavailable)?;
        dead_at_tiktok = status.status == crate::tiktok::PublishStatusKind::Failed;
        if !dead_at_tiktok && post.state == PostState::Failed {
            return Err(conflict(
                "publish_in_progress",
                "TikTok may still publish this post; it cannot be retried now.",
            ));
        }
    }
    Ok(transition(ctx, &post, move |p| p.replay(dead_at_tiktok)).await?)
}

#[cfg(test)]
mod tests;
