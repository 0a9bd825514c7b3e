//! What the sandbox saw, so tests can assert on "TikTok's side": posts with their bytes'
//! SHA-256, chunks, tokens issued/refreshed/revoked, webhook deliveries and a call log.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::Video;

/// Everything, as `GET /_sandbox/records` returns it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Records {
    pub posts: Vec<PostRecord>,
    pub chunks: Vec<ChunkRecord>,
    /// Sum of bytes accepted by the upload host.
    pub bytes_uploaded: u64,
    pub tokens: Vec<TokenRecord>,
    pub token_events: Vec<TokenEvent>,
    /// Successful refreshes per open_id.
    pub refresh_counts: BTreeMap<String, u32>,
    /// Every revoked token (access and refresh).
    pub revoked_tokens: Vec<String>,
    pub calls: Vec<CallRecord>,
    /// Per endpoint: total calls and calls per open_id.
    pub call_counts: BTreeMap<String, CallCount>,
    pub webhooks: Vec<WebhookRecord>,
    /// Every creator's videos (seeded and published).
    pub videos: Vec<Video>,
}

impl Records {
    /// The post for a publish id.
    pub fn post(&self, publish_id: &str) -> Option<&PostRecord> {
        self.posts.iter().find(|p| p.publish_id == publish_id)
    }

    /// Calls to an endpoint (0 when never called).
    pub fn call_count(&self, endpoint: &str) -> u64 {
        self.call_counts.get(endpoint).map_or(0, |c| c.total)
    }
}

/// One publish task (`video/init`, `inbox/video/init` or `content/init`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PostRecord {
    pub publish_id: String,
    pub client_key: String,
    pub open_id: String,
    /// `DIRECT_POST` or `MEDIA_UPLOAD` (inbox).
    pub post_mode: String,
    /// `VIDEO` or `PHOTO`.
    pub media_type: String,
    /// `FILE_UPLOAD` or `PULL_FROM_URL`.
    pub source: String,
    pub title: Option<String>,
    pub privacy_level: Option<String>,
    pub disable_comment: bool,
    pub disable_duet: bool,
    pub disable_stitch: bool,
    /// The cover frame sent in `post_info`, in ms (`None`: TikTok's default, the first frame).
    #[serde(default)]
    pub video_cover_timestamp_ms: Option<u32>,
    pub video_size: Option<u64>,
    pub chunk_size: Option<u64>,
    pub total_chunk_count: Option<u64>,
    pub video_url: Option<String>,
    pub upload_url: Option<String>,
    pub uploaded_bytes: u64,
    pub chunks_received: u64,
    pub upload_complete: bool,
    /// Lower-case hex SHA-256 of all uploaded bytes, once the last chunk arrived.
    pub sha256: Option<String>,
    pub status: String,
    pub fail_reason: Option<String>,
    pub publicaly_available_post_id: Vec<u64>,
    pub created_at: DateTime<Utc>,
    /// Whether `GET /_sandbox/tiktok/posts/{publish_id}/bytes` can return the bytes.
    pub bytes_kept: bool,
}

/// One PUT to the upload host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChunkRecord {
    pub at: DateTime<Utc>,
    pub publish_id: String,
    pub content_range: Option<String>,
    pub content_length: Option<u64>,
    /// Bytes read from the body (0 when refused before reading).
    pub bytes: u64,
    pub status: u16,
}

/// An access or refresh token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenRecord {
    /// `access` or `refresh`.
    pub kind: String,
    pub token: String,
    pub client_key: String,
    pub open_id: String,
    pub scope: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

/// An OAuth event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenEvent {
    pub at: DateTime<Utc>,
    /// `issued`, `refreshed`, `refresh_refused`, `revoked`.
    pub event: String,
    pub client_key: String,
    pub open_id: String,
}

/// One request to a simulated endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CallRecord {
    pub at: DateTime<Utc>,
    pub endpoint: String,
    pub method: String,
    /// HTTP status, or 0 when the connection was dropped.
    pub status: u16,
    pub open_id: Option<String>,
    /// Set when an injected fault decided the outcome.
    pub fault: Option<String>,
}

/// Calls to one endpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CallCount {
    pub total: u64,
    pub by_open_id: BTreeMap<String, u64>,
}

/// One webhook delivery attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebhookRecord {
    pub at: DateTime<Utc>,
    pub client_key: String,
    pub url: String,
    pub event: String,
    pub body: String,
    /// The `TikTok-Signature` header sent.
    pub signature: String,
    pub attempt: u32,
    pub status: Option<u16>,
    pub error: Option<String>,
}
