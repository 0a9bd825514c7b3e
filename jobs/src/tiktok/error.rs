//! Why a TikTok call failed, what the caller should do about it ([`ErrorClass`]), and what to tell
//! the creator ([`TikTokError::creator_message`]).
//!
//! Nothing here holds a token, an auth code, an upload URL or a caption: errors are logged and
//! stored, so they carry only the endpoint name, HTTP status, TikTok's code, message and `log_id`.

use std::time::Duration;

/// What to do after a failed TikTok call (tiktok-api.md §10). Job handlers map this onto their
/// `JobError`; it is the only place TikTok's codes are interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Transient: send the same request again later, not before `retry_after` when TikTok gave
    /// one. If [`TikTokError::outcome_unknown`] is true, reconcile first (the request may have
    /// taken effect).
    Retryable { retry_after: Option<Duration> },
    /// The creator's grant is gone or too narrow: they must connect the account again.
    Reauth,
    /// The access token was rejected: refresh it once, then retry once.
    RefreshAndRetry,
    /// The creator hit one of TikTok's rolling 24-hour posting caps: try again in the next window.
    Wait,
    /// The app's daily quota of publishing creators is spent: app-wide, try again later.
    AppCapWait,
    /// The same request can never succeed.
    Permanent,
}

/// Why the upload host refused a chunk (tiktok-api.md §5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadRejection {
    /// 400: malformed headers, or `Content-Length` differs from the bytes sent.
    Malformed,
    /// 403: the upload URL is older than its one-hour validity.
    UrlExpired,
    /// 404: TikTok knows no upload task for this URL.
    UnknownUpload,
    /// 429: throttled.
    RateLimited,
    /// 5xx: transient; resend the same chunk.
    ServerError,
    /// Any other status the docs do not describe.
    Unexpected,
}

impl UploadRejection {
    /// The rejection an upload response status means.
    pub fn from_status(status: u16) -> Self {
        match status {
            400 => Self::Malformed,
            403 => Self::UrlExpired,
            404 => Self::UnknownUpload,
            429 => Self::RateLimited,
            500..=599 => Self::ServerError,
            _ => Self::Unexpected,
        }
    }
}

/// A failed TikTok call. `Display` is safe to log: it never contains secrets or upload URLs.
#[derive(Debug, thiserror::Error)]
pub enum TikTokError {
    /// A v2 endpoint answered with `error.code != "ok"` (possibly with HTTP 200).
    #[error("TikTok {endpoint}: HTTP {status}, code {code} (log_id {log_id:?}): {message}")]
    Api {
        endpoint: &'static str,
        status: u16,
        /// TikTok's `error.code`, verbatim.
        code: String,
        message: String,
        log_id: String,
        retry_after: Option<Duration>,
    },
    /// An OAuth endpoint (token, revoke) answered with its flat `{error, error_description}`
    /// shape (possibly with HTTP 200).
    #[error(
        "TikTok {endpoint}: HTTP {status}, OAuth error {error} (log_id {log_id:?}): {description}"
    )]
    OAuth {
        endpoint: &'static str,
        status: u16,
        /// The OAuth `error` value, verbatim (`invalid_grant`, `server_error`, …).
        error: String,
        description: String,
        log_id: String,
        retry_after: Option<Duration>,
    },
    /// A non-success status without a TikTok error body (a proxy's 502 page, say).
    #[error("TikTok {endpoint}: HTTP {status} without a TikTok error body")]
    Http {
        endpoint: &'static str,
        status: u16,
        retry_after: Option<Duration>,
    },
    /// The upload host refused a chunk.
    #[error("TikTok upload: chunk rejected with HTTP {status} ({reason:?})")]
    UploadRejected {
        status: u16,
        reason: UploadRejection,
        retry_after: Option<Duration>,
    },
    /// The response could not be read as what the endpoint documents. `detail` names the problem
    /// without quoting the body (which may hold tokens).
    #[error("TikTok {endpoint}: unreadable response (HTTP {status}): {detail}")]
    Malformed {
        endpoint: &'static str,
        status: u16,
        detail: String,
    },
    /// `status/fetch` reported `FAILED`; `reason` is TikTok's `fail_reason` (tiktok-api.md §5.8).
    #[error("TikTok publish failed: {reason}")]
    PublishFailed { reason: String },
    /// No complete response arrived: connect failure, timeout, or a connection lost mid-way.
    /// The source error has its URL stripped (upload URLs carry a token).
    #[error("TikTok {endpoint}: transport error (outcome unknown: {outcome_unknown}): {source}")]
    Transport {
        endpoint: &'static str,
        /// True unless the request provably never left (connect failure): TikTok may have acted
        /// on it, so the caller must reconcile before repeating a non-idempotent call.
        outcome_unknown: bool,
        #[source]
        source: reqwest::Error,
    },
    /// The caller passed something the client refuses to send (a bad range, a non-URL).
    #[error("TikTok client: invalid request: {0}")]
    InvalidRequest(&'static str),
    /// The client could not be built from its configuration.
    #[error("TikTok client: invalid configuration: {0}")]
    Config(&'static str),
}

impl TikTokError {
    /// Wraps a reqwest error, stripping its URL and deciding whether the request may have landed.
    pub(crate) fn transport(endpoint: &'static str, err: reqwest::Error) -> Self {
        let outcome_unknown = !(err.is_connect() || err.is_builder());
        TikTokError::Transport {
            endpoint,
            outcome_unknown,
            source: err.without_url(),
        }
    }

    /// TikTok refused an inbox draft because the creator already has the most drafts it keeps
    /// waiting (`spam_risk_too_many_pending_share`, tiktok-api.md §5.3): a wait, with its own
    /// explanation.
    pub fn is_pending_share_cap(&self) -> bool {
        self.code() == Some("spam_risk_too_many_pending_share")
    }

    /// What the caller should do next.
    pub fn class(&self) -> ErrorClass {
        match self {
            TikTokError::Api {
                code,
                status,
                retry_after,
                ..
            } => api_code_class(code, *retry_after)
                .unwrap_or_else(|| status_class(*status, *retry_after)),
            TikTokError::OAuth {
                error,
                status,
                retry_after,
                ..
            } => oauth_error_class(error, *retry_after)
                .unwrap_or_else(|| status_class(*status, *retry_after)),
            TikTokError::Http {
                status,
                retry_after,
                ..
            } => status_class(*status, *retry_after),
            TikTokError::UploadRejected {
                reason,
                retry_after,
                ..
            } => match reason {
                UploadRejection::RateLimited | UploadRejection::ServerError => {
                    ErrorClass::Retryable {
                        retry_after: *retry_after,
                    }
                }
                UploadRejection::Malformed
                | UploadRejection::UrlExpired
                | UploadRejection::UnknownUpload
                | UploadRejection::Unexpected => ErrorClass::Permanent,
            },
            // A body we cannot read from a failing server is likely a transient proxy page; from a
            // healthy one it is a contract change that retrying will not fix.
            TikTokError::Malformed { status, .. } if *status >= 500 => {
                ErrorClass::Retryable { retry_after: None }
            }
            TikTokError::Malformed { .. } => ErrorClass::Permanent,
            TikTokError::PublishFailed { reason } => classify_fail_reason(reason),
            TikTokError::Transport { source, .. } if source.is_builder() => ErrorClass::Permanent,
            TikTokError::Transport { .. } => ErrorClass::Retryable { retry_after: None },
            TikTokError::InvalidRequest(_) | TikTokError::Config(_) => ErrorClass::Permanent,
        }
    }

    /// The HTTP status TikTok answered with, when a response arrived.
    pub fn status(&self) -> Option<u16> {
        match self {
            TikTokError::Api { status, .. }
            | TikTokError::OAuth { status, .. }
            | TikTokError::Http { status, .. }
            | TikTokError::UploadRejected { status, .. }
            | TikTokError::Malformed { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// TikTok's error code (v2 `error.code` or OAuth `error`), verbatim.
    pub fn code(&self) -> Option<&str> {
        match self {
            TikTokError::Api { code, .. } => Some(code),
            TikTokError::OAuth { error, .. } => Some(error),
            _ => None,
        }
    }

    /// TikTok's `fail_reason` when a publish failed.
    pub fn fail_reason(&self) -> Option<&str> {
        match self {
            TikTokError::PublishFailed { reason } => Some(reason),
            _ => None,
        }
    }

    /// TikTok's `log_id`, the handle TikTok support asks for. Safe to log.
    pub fn log_id(&self) -> Option<&str> {
        match self {
            TikTokError::Api { log_id, .. } | TikTokError::OAuth { log_id, .. }
                if !log_id.is_empty() =>
            {
                Some(log_id)
            }
            _ => None,
        }
    }

    /// The `Retry-After` TikTok sent, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            TikTokError::Api { retry_after, .. }
            | TikTokError::OAuth { retry_after, .. }
            | TikTokError::Http { retry_after, .. }
            | TikTokError::UploadRejected { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// True when the request may have taken effect although no answer arrived ("response lost"):
    /// the caller must check (status/fetch, the upload's `Content-Range`) before repeating it.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            TikTokError::Transport {
                outcome_unknown, ..
            } => *outcome_unknown,
            // A success status with an unreadable body: TikTok did act, we just cannot tell how.
            TikTokError::Malformed { status, .. } => (200..300).contains(status),
            _ => false,
        }
    }

    /// A sentence a creator understands, for the post's error message and the UI.
    pub fn creator_message(&self) -> String {
        let sentence = match self {
            TikTokError::Api { code, .. } => code_message(code),
            TikTokError::OAuth { error, .. } => code_message(error),
            TikTokError::PublishFailed { reason } => fail_reason_message(reason),
            TikTokError::UploadRejected { reason, .. } => match reason {
                UploadRejection::UrlExpired => {
                    "The upload to TikTok took longer than the hour TikTok allows. Please try posting again."
                }
                UploadRejection::UnknownUpload => {
                    "TikTok no longer has this upload. Please try posting again."
                }
                UploadRejection::RateLimited | UploadRejection::ServerError => {
                    "TikTok had a temporary problem receiving the video. We'll try again shortly."
                }
                UploadRejection::Malformed | UploadRejection::Unexpected => {
                    "TikTok rejected part of the upload. Please try posting again."
                }
            },
            TikTokError::Transport { .. } => "We couldn't reach TikTok. We'll try again shortly.",
            TikTokError::Http { status, .. } | TikTokError::Malformed { status, .. }
                if *status >= 500 || *status == 429 =>
            {
                "TikTok is having a temporary problem. We'll try again shortly."
            }
            TikTokError::Http { .. }
            | TikTokError::Malformed { .. }
            | TikTokError::InvalidRequest(_)
            | TikTokError::Config(_) => GENERIC_MESSAGE,
        };
        sentence.to_owned()
    }
}

/// Every v2 and OAuth error code TikTok documents (tiktok-api.md §1.2, §1.3, §5), so tests and
/// the sandbox can walk them all.
pub const DOCUMENTED_CODES: &[&str] = &[
    "access_token_invalid",
    "scope_not_authorized",
    "scope_permission_missed",
    "invalid_params",
    "invalid_param",
    "invalid_file_upload",
    "rate_limit_exceeded",
    "internal_error",
    "spam_risk_too_many_posts",
    "spam_risk_too_many_pending_share",
    "spam_risk_user_banned_from_posting",
    "reached_active_user_cap",
    "unaudited_client_can_only_post_to_private_accounts",
    "url_ownership_unverified",
    "privacy_level_option_mismatch",
    "invalid_publish_id",
    "token_not_authorized_for_specified_publish_id",
    "publish_not_cancellable",
    "app_version_check_failed",
    // OAuth (token and revoke endpoints)
    "access_denied",
    "invalid_client",
    "invalid_grant",
    "invalid_request",
    "invalid_scope",
    "unauthorized_client",
    "unsupported_grant_type",
    "unsupported_response_type",
    "server_error",
    "temporarily_unavailable",
];

/// Every `fail_reason` TikTok documents for `status/fetch` (tiktok-api.md §5.8).
pub const FAIL_REASONS: &[&str] = &[
    "file_format_check_failed",
    "duration_check_failed",
    "frame_rate_check_failed",
    "picture_size_check_failed",
    "internal",
    "video_pull_failed",
    "photo_pull_failed",
    "publish_cancelled",
    "auth_removed",
    "spam_risk_too_many_posts",
    "spam_risk_user_banned_from_posting",
    "spam_risk_text",
    "spam_risk",
];

/// What to do after a publish ended `FAILED` with this `fail_reason`.
pub fn classify_fail_reason(reason: &str) -> ErrorClass {
    match reason {
        // TikTok-side or download hiccups: a fresh attempt can succeed.
        "internal" | "video_pull_failed" | "photo_pull_failed" => {
            ErrorClass::Retryable { retry_after: None }
        }
        "auth_removed" => ErrorClass::Reauth,
        "spam_risk_too_many_posts" | "spam_risk_too_many_pending_share" => ErrorClass::Wait,
        _ => ErrorClass::Permanent,
    }
}

/// The class of a known v2 code; `None` lets the HTTP status decide.
fn api_code_class(code: &str, retry_after: Option<Duration>) -> Option<ErrorClass> {
    Some(match code {
        "access_token_invalid" => ErrorClass::RefreshAndRetry,
        "scope_not_authorized" | "scope_permission_missed" => ErrorClass::Reauth,
        // Retryable whatever status they came with: the class must not depend on a proxy
        // rewriting TikTok's 429/500.
        "rate_limit_exceeded" | "internal_error" => ErrorClass::Retryable { retry_after },
        "spam_risk_too_many_posts" | "spam_risk_too_many_pending_share" => ErrorClass::Wait,
        "reached_active_user_cap" => ErrorClass::AppCapWait,
        // Includes spam_risk_user_banned_from_posting and any future spam_risk_* code.
        c if c.starts_with("spam_risk") => ErrorClass::Permanent,
        "invalid_params"
        | "invalid_param"
        | "invalid_file_upload"
        | "unaudited_client_can_only_post_to_private_accounts"
        | "privacy_level_option_mismatch"
        | "url_ownership_unverified"
        | "invalid_publish_id"
        | "token_not_authorized_for_specified_publish_id"
        | "publish_not_cancellable"
        | "app_version_check_failed" => ErrorClass::Permanent,
        _ => return None,
    })
}

/// The class of a known OAuth error; `None` lets the HTTP status decide.
fn oauth_error_class(error: &str, retry_after: Option<Duration>) -> Option<ErrorClass> {
    Some(match error {
        "server_error" | "temporarily_unavailable" => ErrorClass::Retryable { retry_after },
        "invalid_grant" | "access_denied" => ErrorClass::Reauth,
        "invalid_client"
        | "invalid_request"
        | "invalid_scope"
        | "unauthorized_client"
        | "unsupported_grant_type"
        | "unsupported_response_type" => ErrorClass::Permanent,
        _ => return None,
    })
}

/// The class of an unknown code or a bare status.
fn status_class(status: u16, retry_after: Option<Duration>) -> ErrorClass {
    match status {
        408 | 429 | 500..=599 => ErrorClass::Retryable { retry_after },
        401 => ErrorClass::RefreshAndRetry,
        _ => ErrorClass::Permanent,
    }
}

const GENERIC_MESSAGE: &str = "TikTok couldn't complete this request. Please try again later.";

/// A creator-facing sentence for a v2 or OAuth error code. Unknown codes get a generic sentence.
pub fn code_message(code: &str) -> &'static str {
    match code {
        "access_token_invalid" => {
            "Your TikTok connection needed renewing. We'll renew it and try again automatically."
        }
        "scope_not_authorized" | "scope_permission_missed" => {
            "MKT POST doesn't have all the TikTok permissions it needs. Please reconnect your TikTok account and allow every permission asked for."
        }
        "invalid_params" | "invalid_param" => {
            "TikTok rejected the upload request. Please try posting again, and contact support if it keeps happening."
        }
        "invalid_file_upload" => {
            "TikTok couldn't accept this video file. Please upload an MP4, MOV or WebM video."
        }
        "rate_limit_exceeded" => {
            "TikTok asked us to slow down for a moment. We'll try again shortly."
        }
        "internal_error" | "server_error" | "temporarily_unavailable" => {
            "TikTok is having a temporary problem. We'll try again shortly."
        }
        "spam_risk_too_many_posts" => {
            "TikTok limits how many videos an account can post through apps each day. We'll try again when the limit resets."
        }
        "spam_risk_too_many_pending_share" => {
            "5 drafts are already waiting in this creator's TikTok inbox, TikTok's limit for drafts not posted yet. Post or delete one in the TikTok app, and we'll try again later."
        }
        "spam_risk_user_banned_from_posting" => {
            "TikTok isn't allowing this account to post right now. Please check your account status in the TikTok app."
        }
        "reached_active_user_cap" => {
            "MKT POST has reached TikTok's daily limit on how many creators can post through it. We'll try again when the limit resets."
        }
        "unaudited_client_can_only_post_to_private_accounts" => {
            "TikTok has not audited MKT POST's app yet, so it only accepts posts visible to you alone (\"Only me\") on a private account. Make your account private in the TikTok app and choose \"Only me\", then try again."
        }
        "url_ownership_unverified" => {
            "TikTok refused to download this video: its URL is not under a domain or URL prefix verified for MKT POST's TikTok app. Ask your administrator to verify it with TikTok (and list it in TIKTOK_VERIFIED_URL_PREFIXES), or upload the video file instead."
        }
        "privacy_level_option_mismatch" => {
            "The chosen 'Who can view' setting isn't available for this TikTok account. Please pick another one."
        }
        "invalid_publish_id" => "TikTok no longer recognises this post. Please try posting again.",
        "token_not_authorized_for_specified_publish_id" => {
            "This post was started with a different TikTok account. Please reconnect the account you posted with."
        }
        "publish_not_cancellable" => {
            "TikTok has already finished with this post, so it can no longer be cancelled."
        }
        "app_version_check_failed" => {
            "Please update the TikTok app on your phone to the latest version, then try again."
        }
        "invalid_grant" => {
            "Your TikTok connection has expired or was removed. Please reconnect your TikTok account."
        }
        "access_denied" => {
            "TikTok access wasn't granted. Please connect your TikTok account again and approve the request."
        }
        "invalid_scope" => {
            "TikTok didn't allow the permissions MKT POST asked for. Please try connecting again later."
        }
        "invalid_client"
        | "invalid_request"
        | "unauthorized_client"
        | "unsupported_grant_type"
        | "unsupported_response_type" => {
            "We couldn't complete the TikTok connection because of a problem on our side. Please try again later."
        }
        _ => GENERIC_MESSAGE,
    }
}

/// A creator-facing sentence for a `status/fetch` `fail_reason`. Unknown reasons get a generic
/// sentence.
pub fn fail_reason_message(reason: &str) -> &'static str {
    match reason {
        "file_format_check_failed" => {
            "TikTok couldn't read this video's format. Please export it as an MP4 (H.264) and try again."
        }
        "duration_check_failed" => {
            "This video's length isn't allowed for your TikTok account. Please trim it and try again."
        }
        "frame_rate_check_failed" => {
            "TikTok needs videos between 23 and 60 frames per second. Please re-export the video and try again."
        }
        "picture_size_check_failed" => {
            "TikTok needs videos between 360 and 4096 pixels wide and high. Please re-export the video and try again."
        }
        "internal" => "TikTok had a temporary problem processing this video. We'll try again.",
        "video_pull_failed" => {
            "TikTok couldn't download the video from its URL within an hour. Check that the URL answers without a redirect and stays reachable, then retry the post."
        }
        "photo_pull_failed" => "TikTok couldn't download the photos in time. We'll try again.",
        "publish_cancelled" => "This post was cancelled before TikTok finished publishing it.",
        "auth_removed" => {
            "Access to your TikTok account was removed while the video was being posted. Please reconnect TikTok to post it."
        }
        "spam_risk_too_many_posts" => code_message("spam_risk_too_many_posts"),
        "spam_risk_user_banned_from_posting" => code_message("spam_risk_user_banned_from_posting"),
        "spam_risk_text" => {
            "TikTok flagged the caption as possible spam. Please edit the caption and try again."
        }
        "spam_risk" => {
            "TikTok declined this post as a possible spam risk. Please review it before posting again."
        }
        _ => "TikTok couldn't publish this video. Please try again later.",
    }
}

#[cfg(test)]
mod tests;
