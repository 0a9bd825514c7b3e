//! Staged videos: where they wait, how big and how many a user may stage, and how long they stay.

use super::ConfigError;
use super::vars::{Vars, absolute};
use std::path::Path;
use std::time::Duration;
use url::Url;

/// The staging area for uploaded videos.
#[derive(Debug, Clone)]
pub struct StagingConfig {
    /// `STAGING_URL`, default `file://<DATA_DIR>/staging`.
    pub url: Url,
    /// `MAX_UPLOAD_BYTES`, default 4 GiB.
    pub max_upload_bytes: u64,
    /// `STAGING_QUOTA_BYTES`, default 20 GiB: the most a user may have staged at once (videos
    /// uploaded and not yet deleted); an upload past it is refused (`staging_quota_exceeded`).
    pub quota_bytes: u64,
    /// `MEDIA_TTL_HOURS`, default 24: unattached staged media are deleted after this.
    pub media_ttl: Duration,
    /// `PARKED_MEDIA_DAYS`, default 7: a post parked in `needs_reconnect` keeps its staged video
    /// this long; then the post fails (`reconnect_deadline_passed`) and the video is deleted.
    pub parked_media_ttl: Duration,
    /// `PHOTO_URL_TTL_MINUTES`, default 60: how long the capability URL TikTok pulls a staged
    /// photo from stays valid (TikTok's own pull timeout is an hour). Photos of a post whose
    /// URLs expired are deleted by the staging sweep.
    pub photo_url_ttl: Duration,
}

impl StagingConfig {
    pub(super) fn from_vars(v: &Vars<'_>, data_dir: &Path) -> Result<Self, ConfigError> {
        Ok(Self {
            url: v.url(
                "STAGING_URL",
                &format!("file://{}", absolute(&data_dir.join("staging")).display()),
            )?,
            max_upload_bytes: v.parse("MAX_UPLOAD_BYTES", "4294967296")?,
            quota_bytes: v.parse("STAGING_QUOTA_BYTES", "21474836480")?,
            media_ttl: v.hours("MEDIA_TTL_HOURS", "24")?,
            parked_media_ttl: v.days("PARKED_MEDIA_DAYS", "7")?,
            photo_url_ttl: Duration::from_secs(
                60 * v.parse::<u64>("PHOTO_URL_TTL_MINUTES", "60")?.max(1),
            ),
        })
    }
}
