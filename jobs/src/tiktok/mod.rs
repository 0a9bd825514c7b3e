//! The TikTok room: the only code that talks to TikTok (style.md, "Rooms").
//!
//! - [`TikTokClient`]: Login Kit OAuth (authorize URL, code exchange, refresh, revoke), Display
//!   (`user/info`, `video/list`) and Content Posting (`creator_info`, direct-post `video/init`,
//!   chunk PUTs, `status/fetch`).
//! - [`TikTokError`] and [`ErrorClass`]: every failure typed and classified once, here, with a
//!   creator-facing sentence ([`TikTokError::creator_message`]).
//! - [`plan`] and [`chunks`]: TikTok's chunking rules for FILE_UPLOAD.
//!
//! The reference for every rule is `tiktok-api.md` (shared docs); section numbers in comments
//! point there.

pub mod avatar;
mod chunk_plan;
mod client;
mod envelope;
mod error;
mod photo;
mod types;

#[cfg(test)]
mod http_tests;
#[cfg(test)]
mod proptests;

pub use chunk_plan::{
    Chunk, ChunkPlanError, ChunkPolicy, MAX_CHUNKS, chunk_at, chunks, next_chunk, plan,
};
pub use client::{TikTokClient, VIDEO_LIST_FIELDS, VIDEO_LIST_MAX_COUNT, default_http_client};
pub use error::{
    DOCUMENTED_CODES, ErrorClass, FAIL_REASONS, TikTokError, UploadRejection, classify_fail_reason,
    code_message, fail_reason_message,
};
pub use photo::{PhotoPostInfo, PhotoSource};
pub use types::{
    AccessToken, ChunkOutcome, CreatorInfo, InitResult, PostInfo, PublishStatus, PublishStatusKind,
    RefreshToken, SourceInfo, TokenGrant, UserInfo, Video, VideoPage, split_scopes,
};
#[cfg(test)]
pub(crate) use types::{UserInfoData, WireStatus};
