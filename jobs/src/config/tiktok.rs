//! TikTok: the app's credentials, its addresses, and the rules and cadences of publishing to it.

use super::server::ServerConfig;
use super::vars::Vars;
use super::{ConfigError, Secret};
use std::time::Duration;
use url::Url;

/// The sandbox's seeded demo app.
pub const SANDBOX_CLIENT_KEY: &str = "sbawdemo0000000001";
pub const SANDBOX_CLIENT_SECRET: &str = "sandbox-demo-client-secret";

/// The TikTok app and how we talk to TikTok.
#[derive(Debug, Clone)]
pub struct TikTokConfig {
    /// `TIKTOK_CLIENT_KEY`, default the sandbox's demo app.
    pub client_key: String,
    /// `TIKTOK_CLIENT_SECRET`, default the sandbox's demo app secret.
    pub client_secret: Secret,
    /// `TIKTOK_AUTH_URL`, default the sandbox; production `https://www.tiktok.com`.
    pub auth_url: Url,
    /// `TIKTOK_API_URL`, default the sandbox; production `https://open.tiktokapis.com`.
    pub api_url: Url,
    /// `TIKTOK_REDIRECT_URI`, default `<PUBLIC_URL>/auth/tiktok/callback`.
    pub redirect_uri: Url,
    /// `TOKEN_REFRESH_MARGIN_SECS`, default 3600: refresh when the access token has less left.
    pub token_refresh_margin: Duration,
    /// `TIKTOK_CHUNK_SIZE`, default 10,000,000: bytes per upload chunk (TikTok's rules, §5.5).
    pub chunk_size: u64,
    /// `TIKTOK_SINGLE_CHUNK_MAX`, default 64,000,000: videos up to this size go in one chunk.
    pub single_chunk_max: u64,
    /// `PACING_WINDOW_SECS`, default 60: TikTok's per-token rate-limit window.
    pub pacing_window_secs: u64,
    /// `STATUS_POLL_BUDGET`, default 120: status polls before a post becomes `unconfirmed`.
    pub status_poll_budget: u32,
    /// `STATUS_POLL_MAX_INTERVAL_SECS`, default 30: the slowest status-poll cadence.
    pub status_poll_max_interval_secs: u64,
    /// `CAP_RETRY_MINUTES`, default 60: when a daily cap defers a post, try again this much later.
    pub cap_retry_minutes: u64,
    /// `INBOX_POLL_MAX_INTERVAL_SECS`, default 3600: the slowest status-poll cadence for a draft
    /// waiting in the creator's TikTok inbox (the creator may take hours; the first polls stay
    /// quick).
    pub inbox_poll_max_interval_secs: u64,
    /// `INBOX_DRAFT_TTL_HOURS`, default 24 (TikTok discards drafts not posted within a day,
    /// tiktok-api.md §5.3): a draft not posted this long after TikTok received it ends
    /// `left_in_inbox`. At least one hour.
    pub inbox_draft_ttl: Duration,
    /// `TIKTOK_VERIFIED_URL_PREFIXES`, default none: comma-separated `https://host/path/`
    /// prefixes verified for the app in TikTok's developer portal. A post may name a
    /// `video_url` (PULL_FROM_URL) only under one of them; none means no URL posting.
    pub verified_url_prefixes: Vec<String>,
    /// `TIKTOK_APP_AUDITED`, default true. False while TikTok has not audited the app: TikTok
    /// then accepts only `SELF_ONLY` posts to private accounts, so creation offers nothing else.
    pub app_audited: bool,
}

impl TikTokConfig {
    pub(super) fn from_vars(v: &Vars<'_>, server: &ServerConfig) -> Result<Self, ConfigError> {
        let sandbox_base = server.sandbox_base();
        let redirect_default = format!(
            "{}/auth/tiktok/callback",
            server.public_url.as_str().trim_end_matches('/')
        );
        Ok(Self {
            client_key: v.get_or("TIKTOK_CLIENT_KEY", SANDBOX_CLIENT_KEY),
            client_secret: Secret::new(v.get_or("TIKTOK_CLIENT_SECRET", SANDBOX_CLIENT_SECRET)),
            auth_url: v.url("TIKTOK_AUTH_URL", &sandbox_base)?,
            api_url: v.url("TIKTOK_API_URL", &sandbox_base)?,
            redirect_uri: v.url("TIKTOK_REDIRECT_URI", &redirect_default)?,
            token_refresh_margin: v.secs("TOKEN_REFRESH_MARGIN_SECS", "3600")?,
            chunk_size: v.parse("TIKTOK_CHUNK_SIZE", "10000000")?,
            single_chunk_max: v.parse("TIKTOK_SINGLE_CHUNK_MAX", "64000000")?,
            pacing_window_secs: v.parse("PACING_WINDOW_SECS", "60")?,
            status_poll_budget: v.parse("STATUS_POLL_BUDGET", "120")?,
            status_poll_max_interval_secs: v.parse("STATUS_POLL_MAX_INTERVAL_SECS", "30")?,
            cap_retry_minutes: v.parse("CAP_RETRY_MINUTES", "60")?,
            inbox_poll_max_interval_secs: positive(v, "INBOX_POLL_MAX_INTERVAL_SECS", "3600")?,
            inbox_draft_ttl: Duration::from_secs(
                3600 * positive(v, "INBOX_DRAFT_TTL_HOURS", "24")?,
            ),
            verified_url_prefixes: url_prefixes(v)?,
            app_audited: v.parse("TIKTOK_APP_AUDITED", "true")?,
        })
    }
}

/// A whole number from one to ten years' worth of hours (zero would poll without pause or end
/// every draft at once; a typo must not overflow).
fn positive(v: &Vars<'_>, k: &'static str, default: &str) -> Result<u64, ConfigError> {
    let n: u64 = v.parse(k, default)?;
    if n == 0 || n > 24 * 366 * 10 {
        return Err(super::vars::err(
            k,
            format!("{n}: must be between 1 and 87840"),
        ));
    }
    Ok(n)
}

/// `TIKTOK_VERIFIED_URL_PREFIXES`: each an `https` URL with a domain host (TikTok never pulls
/// from an IP) whose path ends in `/`, so a prefix can never match a longer host name
/// (`https://media.example.com` would let `https://media.example.com.evil.net/` through).
fn url_prefixes(v: &Vars<'_>) -> Result<Vec<String>, ConfigError> {
    const VAR: &str = "TIKTOK_VERIFIED_URL_PREFIXES";
    let raw = v.get_or(VAR, "");
    let mut prefixes = Vec::new();
    for prefix in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = |why: &str| super::vars::err(VAR, format!("{prefix:?}: {why}"));
        let url = Url::parse(prefix).map_err(|e| bad(&format!("not a URL ({e})")))?;
        if url.scheme() != "https" {
            return Err(bad("TikTok only pulls from https URLs"));
        }
        if !matches!(url.host(), Some(url::Host::Domain(_))) {
            return Err(bad("the host must be a domain name, not an IP address"));
        }
        if !prefix.ends_with('/') || url.query().is_some() || url.fragment().is_some() {
            return Err(bad("write it as https://host/path/ (ending in /)"));
        }
        prefixes.push(prefix.to_owned());
    }
    Ok(prefixes)
}
