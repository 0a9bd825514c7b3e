//! A staged video or photo. It exists on our side only until TikTok confirms receipt.

use super::ids::{MediaId, PostId, UserId, WorkspaceId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The container we recognised by magic bytes. Photos (JPEG, WebP) were added after videos:
/// rows written before them only hold the video names, which still read the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Container {
    Mp4,
    Mov,
    Webm,
    Jpeg,
    Webp,
}

impl Container {
    /// The `Content-Type` TikTok's upload host expects for this container.
    pub fn content_type(self) -> &'static str {
        match self {
            Container::Mp4 => "video/mp4",
            Container::Mov => "video/quicktime",
            Container::Webm => "video/webm",
            Container::Jpeg => "image/jpeg",
            Container::Webp => "image/webp",
        }
    }

    /// A photo (for a photo post), not a video.
    pub fn is_image(self) -> bool {
        matches!(self, Container::Jpeg | Container::Webp)
    }
}

/// A staged, encrypted video or photo ([`Container::is_image`]).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    pub id: MediaId,
    /// The workspace that owns it.
    pub workspace_id: WorkspaceId,
    /// Who uploaded it; `None` once that person erased themselves.
    pub created_by: Option<UserId>,
    /// Plaintext size in bytes (what TikTok receives).
    pub size: u64,
    pub container: Container,
    pub duration_ms: Option<u64>,
    /// Object key in the staging store.
    pub object_key: String,
    /// The per-media data key, wrapped by the vault (carries its key id).
    pub wrapped_key: String,
    pub segment_size: u32,
    pub post_id: Option<PostId>,
    pub created_at: DateTime<Utc>,
    /// Unattached media are swept after this.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Media")
            .field("id", &self.id)
            .field("size", &self.size)
            .field("post_id", &self.post_id)
            .finish_non_exhaustive()
    }
}
