//! The values the TikTok client takes and returns. Wire names stay here, behind serde.
//!
//! Types holding tokens, upload URLs, captions or creator names have a `Debug` that leaves them
//! out, so a stray `?value` in a log line cannot leak them.

use super::error::TikTokError;
use crate::model::{PostSettings, PrivacyLevel, UploadPlan};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The plaintext token types live with the vault, which makes them from what we store; the
/// TikTok client makes them from a token response ([`WireToken::into_grant`]).
pub use crate::vault::{AccessToken, RefreshToken};

/// The result of a code exchange or a refresh. TikTok may rotate the refresh token on every
/// refresh, so callers must store both tokens and both expiries together, atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub access_token: AccessToken,
    pub refresh_token: RefreshToken,
    /// Seconds the access token lives (86400 at TikTok).
    pub expires_in: i64,
    /// Seconds the refresh token lives (31536000 at TikTok).
    pub refresh_expires_in: i64,
    /// The creator's per-app id.
    pub open_id: String,
    /// The scopes actually granted (a creator may untick some).
    pub scope: Vec<String>,
    pub token_type: String,
}

/// The token endpoint's success body (tiktok-api.md §2.4). Holds tokens, hence no `Debug`; the
/// tokens are moved out into the grant and whatever remains is wiped on drop.
#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct WireToken {
    access_token: Option<String>,
    refresh_token: Option<String>,
    expires_in: Option<i64>,
    refresh_expires_in: Option<i64>,
    open_id: Option<String>,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    token_type: String,
}

impl WireToken {
    /// The grant, or which required field is missing.
    pub(crate) fn into_grant(mut self) -> Result<TokenGrant, &'static str> {
        // `take`, not a move: a type that wipes itself on drop cannot be taken apart.
        Ok(TokenGrant {
            access_token: AccessToken::from_wire(
                self.access_token.take().ok_or("no access_token")?,
            ),
            refresh_token: RefreshToken::from_wire(
                self.refresh_token.take().ok_or("no refresh_token")?,
            ),
            expires_in: self.expires_in.ok_or("no expires_in")?,
            refresh_expires_in: self.refresh_expires_in.ok_or("no refresh_expires_in")?,
            open_id: self.open_id.take().ok_or("no open_id")?,
            scope: split_scopes(&self.scope),
            token_type: std::mem::take(&mut self.token_type),
        })
    }
}

/// Splits TikTok's comma-separated scope list, ignoring blanks.
pub fn split_scopes(scope: &str) -> Vec<String> {
    scope
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A creator's profile from `/v2/user/info/`: only the requested fields are present.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
pub struct UserInfo {
    pub open_id: Option<String>,
    pub union_id: Option<String>,
    pub avatar_url: Option<String>,
    pub avatar_url_100: Option<String>,
    pub avatar_large_url: Option<String>,
    /// A name: never logged.
    pub display_name: Option<String>,
    pub bio_description: Option<String>,
    pub profile_deep_link: Option<String>,
    pub is_verified: Option<bool>,
    /// A name: never logged.
    pub username: Option<String>,
    pub follower_count: Option<i64>,
    pub following_count: Option<i64>,
    pub likes_count: Option<i64>,
    pub video_count: Option<i64>,
}

impl fmt::Debug for UserInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserInfo")
            .field("open_id", &self.open_id)
            .field("is_verified", &self.is_verified)
            .field("video_count", &self.video_count)
            .finish_non_exhaustive()
    }
}

/// `data` of `/v2/user/info/`.
#[derive(Deserialize)]
pub(crate) struct UserInfoData {
    #[serde(default)]
    pub(crate) user: UserInfo,
}

/// One public video from `/v2/video/list/` (the fields the client asks for).
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Video {
    /// TikTok's item id (19 digits; kept as a string so nothing is lost).
    #[serde(default, deserialize_with = "id_string")]
    pub id: String,
    /// The caption's title: never logged.
    pub title: Option<String>,
    /// UTC seconds.
    pub create_time: Option<i64>,
    /// Signed URL, valid about six hours.
    pub cover_image_url: Option<String>,
    pub share_url: Option<String>,
    /// Seconds.
    pub duration: Option<i64>,
}

impl fmt::Debug for Video {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Video")
            .field("id", &self.id)
            .field("create_time", &self.create_time)
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

/// One page of `/v2/video/list/`, newest first. Pass `cursor` back while `has_more`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct VideoPage {
    #[serde(default)]
    pub videos: Vec<Video>,
    /// UTC milliseconds: the next page holds videos posted before it.
    #[serde(default)]
    pub cursor: i64,
    #[serde(default)]
    pub has_more: bool,
}

/// What a creator may post right now (`creator_info/query`); drives the compose UI and the
/// checks before `video/init`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CreatorInfo {
    pub creator_avatar_url: Option<String>,
    /// A name: never logged.
    pub creator_username: Option<String>,
    /// A name: never logged; TikTok requires the UI to show it.
    pub creator_nickname: Option<String>,
    /// The privacy levels this account accepts now. Values we do not know are dropped, so an
    /// unknown level TikTok adds can never be offered to a creator.
    #[serde(default, deserialize_with = "known_privacy_levels")]
    pub privacy_level_options: Vec<PrivacyLevel>,
    #[serde(default)]
    pub comment_disabled: bool,
    #[serde(default)]
    pub duet_disabled: bool,
    #[serde(default)]
    pub stitch_disabled: bool,
    pub max_video_post_duration_sec: Option<i64>,
}

impl CreatorInfo {
    /// Why a video of `duration_ms` is longer than this creator may post, if it is (unknown
    /// limits or durations pass: TikTok has the last word at `video/init`).
    pub fn refuses_duration(&self, duration_ms: Option<u64>) -> Option<String> {
        let (max, ms) = (self.max_video_post_duration_sec?, duration_ms?);
        (ms > (max.max(0) as u64) * 1000).then(|| {
            format!(
                "This account can post videos up to {max} seconds; this video is {} seconds.",
                ms.div_ceil(1000)
            )
        })
    }
}

impl fmt::Debug for CreatorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatorInfo")
            .field("privacy_level_options", &self.privacy_level_options)
            .field("comment_disabled", &self.comment_disabled)
            .field("duet_disabled", &self.duet_disabled)
            .field("stitch_disabled", &self.stitch_disabled)
            .field(
                "max_video_post_duration_sec",
                &self.max_video_post_duration_sec,
            )
            .finish_non_exhaustive()
    }
}

/// `post_info` of a direct-post `video/init` (tiktok-api.md §5.2).
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct PostInfo {
    /// The caption (≤ 2200 UTF-16 units); omitted means no caption. Never logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub privacy_level: PrivacyLevel,
    pub disable_duet: bool,
    pub disable_comment: bool,
    pub disable_stitch: bool,
    /// The cover frame; TikTok uses the first frame when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_cover_timestamp_ms: Option<u32>,
    /// TikTok's table marks it required, so it is always sent.
    pub brand_content_toggle: bool,
    pub brand_organic_toggle: bool,
    pub is_aigc: bool,
}

impl From<&PostSettings> for PostInfo {
    fn from(s: &PostSettings) -> Self {
        PostInfo {
            title: (!s.title.is_empty()).then(|| s.title.clone()),
            privacy_level: s.privacy_level,
            disable_duet: s.disable_duet,
            disable_comment: s.disable_comment,
            disable_stitch: s.disable_stitch,
            video_cover_timestamp_ms: s.video_cover_timestamp_ms,
            brand_content_toggle: s.brand_content_toggle,
            brand_organic_toggle: s.brand_organic_toggle,
            is_aigc: s.is_aigc,
        }
    }
}

impl fmt::Debug for PostInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostInfo")
            .field("title", &self.title.as_ref().map(|_| "[redacted]"))
            .field("privacy_level", &self.privacy_level)
            .field("disable_duet", &self.disable_duet)
            .field("disable_comment", &self.disable_comment)
            .field("disable_stitch", &self.disable_stitch)
            .field("video_cover_timestamp_ms", &self.video_cover_timestamp_ms)
            .field("brand_content_toggle", &self.brand_content_toggle)
            .field("brand_organic_toggle", &self.brand_organic_toggle)
            .field("is_aigc", &self.is_aigc)
            .finish()
    }
}

/// `source_info` of `video/init`: where TikTok gets the bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SourceInfo {
    /// We PUT the bytes in chunks to the returned `upload_url`.
    FileUpload {
        video_size: u64,
        chunk_size: u64,
        total_chunk_count: u64,
    },
    /// TikTok downloads from a URL under a verified domain.
    PullFromUrl { video_url: String },
}

impl SourceInfo {
    /// A FILE_UPLOAD source declaring exactly the persisted plan.
    pub fn file_upload(plan: &UploadPlan) -> Self {
        SourceInfo::FileUpload {
            video_size: plan.video_size,
            chunk_size: plan.chunk_size,
            total_chunk_count: plan.total_chunk_count,
        }
    }
}

/// The body of a direct-post `video/init`.
#[derive(Serialize)]
pub(crate) struct InitRequest<'a> {
    pub(crate) post_info: &'a PostInfo,
    pub(crate) source_info: &'a SourceInfo,
}

/// The body of an `inbox/video/init`: only `source_info` is documented (tiktok-api.md §5.3).
#[derive(Serialize)]
pub(crate) struct InboxInitRequest<'a> {
    pub(crate) source_info: &'a SourceInfo,
}

/// What `video/init` returns. Store `publish_id` before sending the first byte.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct InitResult {
    pub publish_id: String,
    /// FILE_UPLOAD only; valid one hour; use verbatim. Carries an upload token: never logged.
    #[serde(default)]
    pub upload_url: Option<String>,
}

impl fmt::Debug for InitResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InitResult")
            .field("publish_id", &self.publish_id)
            .field(
                "upload_url",
                &self.upload_url.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// A publish's status at TikTok (tiktok-api.md §5.7). Strings TikTok may add later land in
/// `Unknown` instead of failing the poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishStatusKind {
    /// FILE_UPLOAD in progress, or processing after the last chunk.
    ProcessingUpload,
    /// PULL_FROM_URL download in progress.
    ProcessingDownload,
    /// Inbox flow: the draft reached the creator.
    SendToUserInbox,
    /// Posted (or, inbox flow, posted by the creator from the draft).
    PublishComplete,
    /// Terminal; see `fail_reason`.
    Failed,
    /// Anything else, verbatim.
    Unknown(String),
}

impl PublishStatusKind {
    /// TikTok's wire name.
    pub fn as_str(&self) -> &str {
        match self {
            PublishStatusKind::ProcessingUpload => "PROCESSING_UPLOAD",
            PublishStatusKind::ProcessingDownload => "PROCESSING_DOWNLOAD",
            PublishStatusKind::SendToUserInbox => "SEND_TO_USER_INBOX",
            PublishStatusKind::PublishComplete => "PUBLISH_COMPLETE",
            PublishStatusKind::Failed => "FAILED",
            PublishStatusKind::Unknown(s) => s,
        }
    }
}

impl From<String> for PublishStatusKind {
    fn from(s: String) -> Self {
        match s.as_str() {
            "PROCESSING_UPLOAD" => PublishStatusKind::ProcessingUpload,
            "PROCESSING_DOWNLOAD" => PublishStatusKind::ProcessingDownload,
            "SEND_TO_USER_INBOX" => PublishStatusKind::SendToUserInbox,
            "PUBLISH_COMPLETE" => PublishStatusKind::PublishComplete,
            "FAILED" => PublishStatusKind::Failed,
            _ => PublishStatusKind::Unknown(s),
        }
    }
}

/// The answer of `status/fetch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishStatus {
    pub status: PublishStatusKind,
    /// Set when `status` is `Failed` (tiktok-api.md §5.8).
    pub fail_reason: Option<String>,
    /// Public post ids, as decimal strings (19 digits do not survive a double). Empty for
    /// private posts forever, and for public ones until moderation passes.
    pub public_post_ids: Vec<String>,
    /// FILE_UPLOAD progress.
    pub uploaded_bytes: Option<u64>,
    /// PULL_FROM_URL progress.
    pub downloaded_bytes: Option<u64>,
}

impl PublishStatus {
    /// The failure as an error to classify, when the publish ended `FAILED`.
    pub fn failure(&self) -> Option<TikTokError> {
        (self.status == PublishStatusKind::Failed).then(|| TikTokError::PublishFailed {
            reason: self.fail_reason.clone().unwrap_or_default(),
        })
    }
}

/// `data` of `status/fetch`; every field optional because real bodies omit unused ones.
#[derive(Deserialize)]
pub(crate) struct WireStatus {
    status: Option<String>,
    fail_reason: Option<String>,
    // Sic: TikTok's spelling. Never "fix" it.
    #[serde(default, rename = "publicaly_available_post_id")]
    post_ids: Option<Vec<PostIdWire>>,
    uploaded_bytes: Option<u64>,
    downloaded_bytes: Option<u64>,
}

impl WireStatus {
    /// The status, or why the body is unusable.
    pub(crate) fn into_status(self) -> Result<PublishStatus, &'static str> {
        Ok(PublishStatus {
            status: PublishStatusKind::from(self.status.ok_or("no status")?),
            fail_reason: self.fail_reason.filter(|r| !r.is_empty()),
            public_post_ids: self
                .post_ids
                .unwrap_or_default()
                .into_iter()
                .map(|PostIdWire(id)| id)
                .collect(),
            uploaded_bytes: self.uploaded_bytes,
            downloaded_bytes: self.downloaded_bytes,
        })
    }
}

/// What one chunk PUT achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkOutcome {
    /// 206: accepted; TikTok now holds `received` bytes (from its `Content-Range`).
    Partial { received: u64 },
    /// 201: every byte is in; TikTok starts processing.
    Complete,
    /// 416: the range did not match TikTok's progress (gap, overlap, out of order). `received` is
    /// TikTok's progress when it said so; resume from there.
    RangeMismatch { received: Option<u64> },
}

/// A post or item id that may arrive as a JSON number or string.
pub(crate) struct PostIdWire(pub(crate) String);

impl<'de> Deserialize<'de> for PostIdWire {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IdVisitor).map(PostIdWire)
    }
}

fn id_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(IdVisitor)
}

/// Accepts integers (kept exact via u64, never f64) and digit strings.
struct IdVisitor;

impl Visitor<'_> for IdVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an id as an unsigned integer or a string of digits")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        u64::try_from(v)
            .map(|v| v.to_string())
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    // A float means the id was too big for u64 and already lost digits: refuse it rather than
    // store a wrong id.
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Err(E::invalid_type(de::Unexpected::Float(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
            Ok(v.to_owned())
        } else {
            Err(E::invalid_value(
                de::Unexpected::Other("a non-numeric id"),
                &self,
            ))
        }
    }
}

fn known_privacy_levels<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PrivacyLevel>, D::Error> {
    let raw: Option<Vec<String>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .iter()
        .filter_map(|s| match s.as_str() {
            "PUBLIC_TO_EVERYONE" => Some(PrivacyLevel::PublicToEveryone),
            "MUTUAL_FOLLOW_FRIENDS" => Some(PrivacyLevel::MutualFollowFriends),
            "FOLLOWER_OF_CREATOR" => Some(PrivacyLevel::FollowerOfCreator),
            "SELF_ONLY" => Some(PrivacyLevel::SelfOnly),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests;
