//! The body of a photo post's `content/init` (tiktok-api.md §5.4). Captions and the capability
//! URLs (each carries a token) never reach a `Debug`.

use crate::model::PrivacyLevel;
use serde::Serialize;
use std::fmt;

/// `post_info` of a photo `content/init` (tiktok-api.md §5.4). Photos have comments but no
/// Duet or Stitch; `privacy_level` is sent for a direct post only (a draft's audience is chosen
/// in the TikTok app).
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct PhotoPostInfo {
    /// At most 90 characters. Never logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// At most 4000 characters. Never logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privacy_level: Option<PrivacyLevel>,
    pub disable_comment: bool,
    pub auto_add_music: bool,
    pub brand_content_toggle: bool,
    pub brand_organic_toggle: bool,
}

impl fmt::Debug for PhotoPostInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhotoPostInfo")
            .field("privacy_level", &self.privacy_level)
            .field("disable_comment", &self.disable_comment)
            .field("auto_add_music", &self.auto_add_music)
            .finish_non_exhaustive()
    }
}

/// `source_info` of a photo `content/init`: TikTok pulls every image (PULL_FROM_URL is the only
/// source photos have).
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct PhotoSource {
    /// Always `PULL_FROM_URL`.
    pub source: &'static str,
    /// Capability URLs: each carries a token, so never logged.
    pub photo_images: Vec<String>,
    pub photo_cover_index: u32,
}

impl PhotoSource {
    /// TikTok pulls `photo_images`, in order; the cover is `photo_cover_index` among them.
    pub fn pull(photo_images: Vec<String>, photo_cover_index: u32) -> Self {
        Self {
            source: "PULL_FROM_URL",
            photo_images,
            photo_cover_index,
        }
    }
}

impl fmt::Debug for PhotoSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhotoSource")
            .field("images", &self.photo_images.len())
            .field("photo_cover_index", &self.photo_cover_index)
            .finish()
    }
}

/// The body of a photo `content/init`.
#[derive(Serialize)]
pub(crate) struct PhotoInitRequest<'a> {
    pub(crate) media_type: &'static str,
    pub(crate) post_mode: &'static str,
    pub(crate) post_info: &'a PhotoPostInfo,
    pub(crate) source_info: &'a PhotoSource,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_body_has_tiktoks_shape_and_debug_hides_captions_and_urls() {
        let post_info = PhotoPostInfo {
            title: Some("secret title".into()),
            description: None,
            privacy_level: Some(PrivacyLevel::SelfOnly),
            disable_comment: true,
            auto_add_music: true,
            brand_content_toggle: false,
            brand_organic_toggle: false,
        };
        let source_info = PhotoSource::pull(vec!["https://x.example/p/tok-123".into()], 0);
        let body = PhotoInitRequest {
            media_type: "PHOTO",
            post_mode: "DIRECT_POST",
            post_info: &post_info,
            source_info: &source_info,
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({
                "media_type": "PHOTO",
                "post_mode": "DIRECT_POST",
                "post_info": {
                    "title": "secret title", "privacy_level": "SELF_ONLY",
                    "disable_comment": true, "auto_add_music": true,
                    "brand_content_toggle": false, "brand_organic_toggle": false
                },
                "source_info": {
                    "source": "PULL_FROM_URL",
                    "photo_images": ["https://x.example/p/tok-123"],
                    "photo_cover_index": 0
                }
            })
        );
        let shown = format!("{post_info:?} {source_info:?}");
        assert!(
            !shown.contains("secret") && !shown.contains("tok-123"),
            "{shown}"
        );
    }
}
