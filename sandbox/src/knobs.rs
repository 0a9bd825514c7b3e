//! Behaviour switches. Each one covers something TikTok's docs leave open (UNCONFIRMED in
//! tiktok-api.md) or lets a test reach a state quickly (lower chunk sizes, shorter delays).
//!
//! `PATCH /_sandbox/knobs` deep-merges a JSON object into the current knobs, so a test only
//! names what it changes. Unknown fields are refused, so a typo cannot silently do nothing.

use serde::{Deserialize, Serialize};

/// Every knob, with TikTok's documented (or best-guess) behaviour as the default.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    // --- OAuth -------------------------------------------------------------------------
    /// HTTP status of OAuth error bodies (`{error, error_description, log_id}`). UNCONFIRMED;
    /// 200 was observed, so clients must read the body, not the status.
    pub oauth_error_status: u16,
    /// Authorization code lifetime (UNCONFIRMED; 10 min).
    pub auth_code_ttl_secs: i64,
    /// Access token lifetime (DOC: 24 h).
    pub access_token_ttl_secs: i64,
    /// Refresh token lifetime (DOC: 365 days from the first issuance).
    pub refresh_token_ttl_secs: i64,
    /// Return a new refresh token on every refresh (DOC: "may differ").
    pub rotate_refresh_tokens: bool,
    /// Keep the previous refresh token usable after rotation (UNCONFIRMED; default no).
    pub keep_old_refresh_token: bool,
    /// Restart the 365-day window on refresh (UNCONFIRMED; default no).
    pub refresh_resets_window: bool,
    /// Revoke the previous access token when refreshing (UNCONFIRMED; default no).
    pub refresh_revokes_old_access_token: bool,
    /// The sandbox quirk once observed: refresh answers `invalid_grant` even for good tokens.
    pub refresh_always_invalid_grant: bool,
    /// Refuse `code_verifier` on a code issued without a challenge (UNCONFIRMED; default no).
    pub reject_stray_code_verifier: bool,
    /// Creator who consents when the authorize URL has no `sandbox_open_id`
    /// (default: the seeded public creator, else the first creator).
    pub default_open_id: Option<String>,

    // --- Display API ---------------------------------------------------------------------
    /// Error for requesting a `user/info` field whose scope was not granted (UNCONFIRMED).
    pub field_scope_miss: FieldScopeMiss,
    /// `video/list` shows only public videos (DOC). Turn off to list every published post.
    pub video_list_public_only: bool,

    // --- Rate limits (per access token, per endpoint, sliding window) --------------------
    pub rate_limits: RateLimits,

    // --- Content Posting -------------------------------------------------------------------
    /// Pending inbox shares allowed in a trailing 24 h (DOC: 5).
    pub pending_share_cap: u32,
    /// Distinct creators an unaudited app may post for per 24 h (DOC: 5).
    pub unaudited_active_user_cap: u32,
    /// Error code for an unaudited app posting non-`SELF_ONLY` to a private account
    /// (UNCONFIRMED which code TikTok uses).
    pub unaudited_privacy_error: String,
    /// Caption limit in UTF-16 code units (DOC: 2200).
    pub max_title_utf16: usize,
    /// Lifetime of an `upload_url` (DOC: 1 h).
    pub upload_url_ttl_secs: i64,
    /// Leave `uploaded_bytes` out of `status/fetch` bodies (DOC: every field but `status` is
    /// optional; whether TikTok ever omits this one while uploading is UNCONFIRMED).
    pub status_omits_uploaded_bytes: bool,
    /// Time in `PROCESSING_UPLOAD` after the final chunk (or after a PULL download).
    pub processing_delay_ms: i64,
    /// Time after `PUBLISH_COMPLETE` before a public post gets its id.
    pub moderation_delay_ms: i64,
    /// Time a PULL_FROM_URL download takes (the sandbox never fetches the URL).
    pub pull_download_ms: i64,
    /// PULL downloads never finish, so they fail with `video_pull_failed` after the timeout.
    pub pull_stalls: bool,
    /// PULL download timeout (DOC: 1 h).
    pub pull_timeout_secs: i64,
    /// Size a simulated PULL download reports in `downloaded_bytes`.
    pub pull_video_size: i64,
    /// Photo posts really GET every `photo_images` URL (no redirects followed) and fail with
    /// `photo_pull_failed` unless each answers 200 with a JPEG or WebP; the download is done
    /// once every image arrived (and `pull_download_ms` passed). Off: nothing is fetched.
    pub pull_fetches_photos: bool,
    /// Accept `http://` and IP-address PULL URLs that match a verified URL prefix (test
    /// servers have no TLS certificate). TikTok itself never does.
    pub pull_allows_http: bool,
    /// Inbox drafts are "posted by the creator" this long after `SEND_TO_USER_INBOX`
    /// (`None`: only via `POST /_sandbox/tiktok/posts/{publish_id}/creator-post`).
    pub inbox_auto_post_ms: Option<i64>,
    /// Fail uploads whose bytes are not MP4/MOV/WebM with `file_format_check_failed`.
    pub check_file_format: bool,
    /// Keep the bytes of uploads of at most this size, for `GET .../bytes` (0 = never).
    pub keep_upload_bytes_max: u64,
    /// Chunk plan rules for init and PUT.
    pub chunks: ChunkRules,

    // --- Webhooks ------------------------------------------------------------------------
    /// Delays between delivery attempts after a non-2xx answer (TikTok: 72 h of backoff).
    pub webhook_retry_delays_ms: Vec<u64>,
    /// Deliver every event twice (at-least-once delivery).
    pub webhook_duplicate_delivery: bool,

    // --- Google ----------------------------------------------------------------------------
    /// `Cache-Control: public, max-age=N` on the certificate endpoints.
    pub google_cert_max_age_secs: u64,
    /// ID token lifetime (Firebase: 1 h).
    pub google_id_token_ttl_secs: i64,
    /// Which clock stamps ID tokens. `real` (default) because the app checks them against its
    /// own clock; `sandbox` to follow `advance_clock`.
    pub google_clock: GoogleClock,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            oauth_error_status: 200,
            auth_code_ttl_secs: 600,
            access_token_ttl_secs: 86_400,
            refresh_token_ttl_secs: 31_536_000,
            rotate_refresh_tokens: true,
            keep_old_refresh_token: false,
            refresh_resets_window: false,
            refresh_revokes_old_access_token: false,
            refresh_always_invalid_grant: false,
            reject_stray_code_verifier: false,
            default_open_id: None,
            field_scope_miss: FieldScopeMiss::ScopePermissionMissed,
            video_list_public_only: true,
            rate_limits: RateLimits::default(),
            pending_share_cap: 5,
            unaudited_active_user_cap: 5,
            unaudited_privacy_error: "unaudited_client_can_only_post_to_private_accounts".into(),
            max_title_utf16: 2200,
            upload_url_ttl_secs: 3600,
            status_omits_uploaded_bytes: false,
            processing_delay_ms: 2000,
            moderation_delay_ms: 1000,
            pull_download_ms: 2000,
            pull_stalls: false,
            pull_timeout_secs: 3600,
            pull_video_size: 12_345_678,
            pull_fetches_photos: false,
            pull_allows_http: false,
            inbox_auto_post_ms: None,
            check_file_format: false,
            keep_upload_bytes_max: 0,
            chunks: ChunkRules::default(),
            webhook_retry_delays_ms: vec![200, 1000, 5000],
            webhook_duplicate_delivery: false,
            google_cert_max_age_secs: 3600,
            google_id_token_ttl_secs: 3600,
            google_clock: GoogleClock::Real,
        }
    }
}

/// How `/v2/user/info/` answers a field whose scope is missing.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FieldScopeMiss {
    /// 400 `scope_permission_missed`.
    ScopePermissionMissed,
    /// 401 `scope_not_authorized`.
    ScopeNotAuthorized,
}

/// Which clock stamps Google ID tokens.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GoogleClock {
    Real,
    Sandbox,
}

/// Requests per window per access token, per endpoint (DOC values).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// `video/init`, `inbox/video/init`, `content/init` (each).
    pub init: u32,
    pub creator_info: u32,
    pub status_fetch: u32,
    /// `user/info`, `video/list`, `video/query` (each). Per token here; UNCONFIRMED whether
    /// TikTok counts per app.
    pub display: u32,
    pub window_secs: i64,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            init: 6,
            creator_info: 20,
            status_fetch: 30,
            display: 600,
            window_secs: 60,
        }
    }
}

/// TikTok's chunk rules (media transfer guide), lenient where "MB" is ambiguous so both of the
/// doc's test vectors pass. Lower them in tests for multi-chunk uploads of a few hundred KB.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ChunkRules {
    /// Smallest non-final chunk of a multi-chunk upload ("5 MB").
    pub min_chunk: u64,
    /// Largest non-final chunk ("64 MB", read as 64 MiB).
    pub max_chunk: u64,
    /// Largest final chunk ("128 MB", read as 128 MiB).
    pub max_final_chunk: u64,
    /// Largest file that may be sent as one chunk (64,000,000 B is known to work).
    pub max_single_chunk: u64,
    pub max_chunk_count: u64,
    /// Largest video (doc copies: 4 GB; a sandbox limit of 128 MB is UNCONFIRMED).
    pub max_video_size: u64,
}

impl Default for ChunkRules {
    fn default() -> Self {
        Self {
            min_chunk: 5_000_000,
            max_chunk: 64 * 1024 * 1024,
            max_final_chunk: 128 * 1024 * 1024,
            max_single_chunk: 64_000_000,
            max_chunk_count: 1000,
            max_video_size: 4 * 1024 * 1024 * 1024,
        }
    }
}

/// Why an init's chunk plan was refused; the messages are TikTok's real ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkPlanError {
    ChunkSize,
    ChunkCount,
    VideoTooLarge,
}

impl ChunkPlanError {
    pub fn message(self) -> &'static str {
        match self {
            Self::ChunkSize => "The chunk size is invalid",
            Self::ChunkCount => "total chunk count is invalid",
            Self::VideoTooLarge => "The video size exceeds the limit",
        }
    }

    /// The v2 error code: `invalid_file_upload` for a file over the size limit (which code
    /// TikTok uses there is UNCONFIRMED), `invalid_params` for a bad plan.
    pub fn code(self) -> &'static str {
        match self {
            Self::VideoTooLarge => "invalid_file_upload",
            _ => "invalid_params",
        }
    }
}

impl ChunkRules {
    /// The chunk plans (video size, chunk size, chunk count) that TikTok's media transfer guide
    /// gives as examples: the default rules, and so the sandbox's init, accept every one.
    pub const DOCUMENTED_PLANS: &'static [(u64, u64, u64)] = &[
        (4_194_304, 4_194_304, 1),
        (64_000_000, 64_000_000, 1),
        (64_000_001, 10_000_000, 6),
        (77_360_899, 10_000_000, 7),
        (158_008_374, 10_000_000, 15),
        (4_294_967_296, 10_000_000, 429),
        (50_000_123, 10_000_000, 5),
    ];

    /// Checks `video/init`'s `video_size`/`chunk_size`/`total_chunk_count`.
    pub fn validate(
        &self,
        video_size: u64,
        chunk_size: u64,
        count: u64,
    ) -> Result<(), ChunkPlanError> {
        if video_size > self.max_video_size {
            return Err(ChunkPlanError::VideoTooLarge);
        }
        if video_size == 0 || chunk_size == 0 {
            return Err(ChunkPlanError::ChunkSize);
        }
        // floor, not ceil: the final chunk absorbs the remainder.
        if count == 0 || count != video_size / chunk_size || count > self.max_chunk_count {
            return Err(ChunkPlanError::ChunkCount);
        }
        if count == 1 {
            if chunk_size != video_size || video_size > self.max_single_chunk {
                return Err(ChunkPlanError::ChunkSize);
            }
            return Ok(());
        }
        let final_chunk = video_size - (count - 1) * chunk_size;
        if chunk_size < self.min_chunk
            || chunk_size > self.max_chunk
            || final_chunk > self.max_final_chunk
        {
            return Err(ChunkPlanError::ChunkSize);
        }
        Ok(())
    }
}

/// Deep-merges `patch` into `base` (objects merge key by key, everything else replaces).
pub(crate) fn merge_json(base: &mut serde_json::Value, patch: serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                merge_json(b.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, p) => *b = p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_chunk_vectors_pass_default_rules() {
        let r = ChunkRules::default();
        for &(size, chunk, count) in ChunkRules::DOCUMENTED_PLANS {
            assert_eq!(r.validate(size, chunk, count), Ok(()), "{size}");
        }
    }

    #[test]
    fn ceil_count_small_chunks_and_count_one_mismatch_are_refused() {
        let r = ChunkRules::default();
        for (size, chunk, count, refusal) in [
            (77_360_899, 10_000_000, 8, ChunkPlanError::ChunkCount),
            (77_360_899, 1_000_000, 77, ChunkPlanError::ChunkSize),
            (15_000_000, 10_000_000, 1, ChunkPlanError::ChunkSize),
            (64_000_001, 64_000_001, 1, ChunkPlanError::ChunkSize),
        ] {
            assert_eq!(
                r.validate(size, chunk, count),
                Err(refusal),
                "{size}/{chunk}/{count}"
            );
        }
    }
}
