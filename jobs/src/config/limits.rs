//! What one client may ask of the web tier: request rates, and how far ahead a post may go.

use super::ConfigError;
use super::vars::Vars;
use std::time::Duration;

/// Rate limits and the scheduling horizon.
#[derive(Debug, Clone)]
pub struct LimitsConfig {
    /// `AUTH_RATE_PER_MIN`, default 60: per-IP requests per minute on `/auth/*`.
    pub auth_rate_per_min: u32,
    /// `API_RATE_PER_MIN`, default 600: per-user requests per minute on `/api/*`.
    pub api_rate_per_min: u32,
    /// `PAGE_RATE_PER_MIN`, default 300: per-IP requests per minute on the HTML pages.
    pub page_rate_per_min: u32,
    /// `AVATAR_RATE_PER_MIN`, default 120: per-IP requests per minute on the avatar proxy
    /// (`/accounts/{id}/avatar`), which fetches from TikTok's CDN on our behalf.
    pub avatar_rate_per_min: u32,
    /// `READYZ_RATE_PER_MIN`, default 120: per-IP requests per minute on `/readyz`, which pings
    /// the store and the queue.
    pub readyz_rate_per_min: u32,
    /// `SCHEDULE_HORIZON_DAYS`, default 90: how far ahead a post may be scheduled
    /// (`time_too_far`). It bounds how long a staged video waits on our side.
    pub schedule_horizon: Duration,
    /// `PASSTHROUGH_MAX_CONCURRENT`, default 8: "post now" uploads this web process streams to
    /// TikTok at once. Each holds at most one TikTok chunk in memory (up to 64 MB for a video
    /// sent whole, ~20 MB otherwise); one more is refused with 503 and `Retry-After`.
    pub passthrough_max_concurrent: usize,
}

impl LimitsConfig {
    pub(super) fn from_vars(v: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            auth_rate_per_min: v.parse("AUTH_RATE_PER_MIN", "60")?,
            api_rate_per_min: v.parse("API_RATE_PER_MIN", "600")?,
            page_rate_per_min: v.parse("PAGE_RATE_PER_MIN", "300")?,
            avatar_rate_per_min: v.parse("AVATAR_RATE_PER_MIN", "120")?,
            readyz_rate_per_min: v.parse("READYZ_RATE_PER_MIN", "120")?,
            schedule_horizon: v.days("SCHEDULE_HORIZON_DAYS", "90")?,
            passthrough_max_concurrent: v.parse("PASSTHROUGH_MAX_CONCURRENT", "8")?,
        })
    }
}
