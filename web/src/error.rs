//! The one API error type and the one mapping to `{"error":{"code","message"}}`, with every
//! conversion from a `jobs` error. Internal causes are logged once, here, and the client sees
//! `internal`. A few refusals add fields next to `error` (a campaign's `rows`, readyz's
//! `checks`); the envelope is the same. [`PageError`] is the same error as an HTML page.

use crate::views::Nav;
use askama::Template;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use jobs::domain::accounts::AccountError;
use jobs::domain::campaigns::RowProblem;
use jobs::domain::post_groups::TargetProblem;
use jobs::store::StoreError;
use serde_json::{Map, Value, json};

mod from_jobs;

/// Every error a handler can return. Handlers only use `?`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    /// A 400 with its own code: `invalid_campaign`, `upload_interrupted`.
    #[error("{message}")]
    Malformed { code: &'static str, message: String },
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("sign in first")]
    Unauthenticated,
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    #[error("{0}")]
    Forbidden(String),
    /// A 403 with its own code: `session_required` (only the person, in a browser, may do
    /// this), `insufficient_scope` (the API key was not given the scope this needs).
    #[error("{message}")]
    Denied { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// A 429 with its own code and message: TikTok's per-account limit would make us wait.
    #[error("{message}")]
    Paced {
        code: &'static str,
        message: String,
        retry_after_secs: u64,
    },
    /// A 503 with its own code: this process is at capacity for this kind of request.
    #[error("{message}")]
    Busy {
        code: &'static str,
        message: String,
        retry_after_secs: u64,
    },
    /// A 411: the request must say its body's length before it is read.
    #[error(
        "send Content-Length: the video's size must be known before its first byte goes on to TikTok"
    )]
    LengthRequired,
    /// A 416 `range_mismatch`: an upload must continue from `received` (of `size`).
    #[error("{message}")]
    RangeMismatch {
        message: String,
        received: u64,
        size: u64,
    },
    /// A 413: `too_large` (one upload) or `staging_quota_exceeded` (all staged videos).
    #[error("{message}")]
    TooLarge { code: &'static str, message: String },
    /// A 415: the body is a form, not the video file itself.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A 422 `invalid_rows`: every row's problem is listed in `rows`.
    #[error("{message}")]
    InvalidRows {
        message: String,
        rows: Vec<RowProblem>,
    },
    /// A 422 `invalid_targets`: every target account's problem is listed in `targets`.
    #[error("{message}")]
    InvalidTargets {
        message: String,
        targets: Vec<TargetProblem>,
    },
    /// A 409 `group_incomplete`: `created` posts of the group were written, then `problem`
    /// stopped it.
    #[error("{message}")]
    GroupIncomplete {
        message: String,
        created: usize,
        problem: TargetProblem,
    },
    /// A 409 `campaign_incomplete`: `created` rows were written, then `problem` stopped it.
    #[error("{message}")]
    CampaignIncomplete {
        message: String,
        created: usize,
        problem: RowProblem,
    },
    #[error("{0} is unavailable")]
    Unavailable(String),
    /// A 503 `not_ready` from `/readyz`: the health document's fields (`status`, `checks`,
    /// `scheduler`) stand next to `error`.
    #[error("unavailable: {}", .failing.join(", "))]
    NotReady {
        failing: Vec<&'static str>,
        health: Map<String, Value>,
    },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// The only match on variants: status and stable code.
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Malformed { code, .. } => (StatusCode::BAD_REQUEST, code),
            ApiError::Invalid { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            ApiError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::Unauthorized { code, .. } => (StatusCode::UNAUTHORIZED, code),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Denied { code, .. } => (StatusCode::FORBIDDEN, code),
            ApiError::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Paced { code, .. } => (StatusCode::TOO_MANY_REQUESTS, code),
            ApiError::Busy { code, .. } => (StatusCode::SERVICE_UNAVAILABLE, code),
            ApiError::LengthRequired => (StatusCode::LENGTH_REQUIRED, "length_required"),
            ApiError::RangeMismatch { .. } => (StatusCode::RANGE_NOT_SATISFIABLE, "range_mismatch"),
            ApiError::TooLarge { code, .. } => (StatusCode::PAYLOAD_TOO_LARGE, code),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::InvalidRows { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_rows"),
            ApiError::CampaignIncomplete { .. } => (StatusCode::CONFLICT, "campaign_incomplete"),
            ApiError::InvalidTargets { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_targets")
            }
            ApiError::GroupIncomplete { .. } => (StatusCode::CONFLICT, "group_incomplete"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::NotReady { .. } => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(e.into())
    }

    /// A failed TikTok connection in words for the creator: TikTok's refusal as
    /// `creator_message`, our own failures (store, vault, lock) as the generic internal error,
    /// never their text. Other account operations use `From<AccountError>`.
    fn from_connect(e: AccountError) -> Self {
        match e {
            e if e.is_transient() => ApiError::Unavailable("TikTok".into()),
            AccountError::TikTok(t) => ApiError::Invalid {
                code: "tiktok_connect_failed",
                message: format!(
                    "TikTok did not complete the connection: {}",
                    t.creator_message()
                ),
            },
            AccountError::NeedsReconnect(why) => ApiError::Invalid {
                code: "tiktok_connect_failed",
                message: why,
            },
            AccountError::Store(s) => s.into(),
            other => ApiError::internal(other),
        }
    }

    /// The status and the `{"error":{"code","message"}}` body (with a refusal's extra fields).
    /// Logs an internal cause. A streamed upload writes this body as its last NDJSON line.
    pub fn into_status_and_body(self) -> (StatusCode, Value) {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Internal(cause) => {
                tracing::error!(error = ?cause, "request failed");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let mut body = Map::new();
        match self {
            ApiError::NotReady { health, .. } => body = health,
            ApiError::InvalidRows { rows, .. } => {
                body.insert("rows".into(), json!(rows));
            }
            ApiError::InvalidTargets { targets, .. } => {
                body.insert("targets".into(), json!(targets));
            }
            ApiError::GroupIncomplete {
                created, problem, ..
            } => {
                body.insert("created".into(), json!(created));
                body.insert("targets".into(), json!([problem]));
            }
            ApiError::CampaignIncomplete {
                created, problem, ..
            } => {
                body.insert("created".into(), json!(created));
                body.insert("rows".into(), json!([problem]));
            }
            ApiError::RangeMismatch { received, size, .. } => {
                body.insert("received".into(), json!(received));
                body.insert("size".into(), json!(size));
            }
            _ => {}
        }
        body.insert("error".into(), json!({ "code": code, "message": message }));
        (status, Value::Object(body))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            ApiError::RateLimited { retry_after_secs }
            | ApiError::Paced {
                retry_after_secs, ..
            }
            | ApiError::Busy {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        let (status, body) = self.into_status_and_body();
        let mut resp = (status, Json(body)).into_response();
        if let Some(secs) = retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

/// A page that could not be shown. Wraps [`ApiError`] so the status and the logging of internal
/// causes come from the one mapping above; the body is a plain HTML page.
#[derive(Debug)]
pub struct PageError(ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        PageError(e.into())
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        PageError(ApiError::internal(e))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    nav: Nav,
    heading: &'static str,
    message: &'static str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        // The API mapping picks the status and logs internal causes once; only its status (and
        // Retry-After) is kept, since its messages are written for API clients. The page's own
        // text is fixed per status: nothing of the cause reaches the browser.
        let api = self.0.into_response();
        let status = api.status();
        let retry_after = api.headers().get(header::RETRY_AFTER).cloned();
        let (heading, message) = match status {
            StatusCode::NOT_FOUND => (
                "Not found",
                "There is nothing here. It may have been deleted, or the link is mistyped.",
            ),
            StatusCode::SERVICE_UNAVAILABLE => (
                "Temporarily unavailable",
                "Part of MKT POST is not answering right now. Please try again in a minute.",
            ),
            StatusCode::TOO_MANY_REQUESTS => (
                "Slow down",
                "Too many requests in a short time. Please wait a moment and reload.",
            ),
            _ => (
                "Something went wrong",
                "This page could not be shown. Please reload; if it keeps happening, tell us.",
            ),
        };
        let page = ErrorPage {
            nav: Nav::signed_out(""),
            heading,
            message,
        };
        let mut resp = match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, heading).into_response(),
        };
        if let Some(v) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

#[cfg(test)]
mod tests;
