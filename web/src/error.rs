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
use jobs::domain::api_keys::ApiKeyError;
use jobs::domain::campaigns::{CampaignError, RowProblem};
use jobs::domain::connect_account::{ConnectError, ConnectStateError};
use jobs::domain::export::WorkspaceExportError;
use jobs::domain::media::MediaError;
use jobs::domain::post_groups::{GroupError, TargetProblem};
use jobs::domain::posts::PostError;
use jobs::domain::posts::stream::StreamError;
use jobs::domain::quota::QuotaError;
use jobs::domain::schedule_time::{ScheduleChangeError, ScheduleError};
use jobs::domain::workspaces::invitations::{AcceptError, InviteError};
use jobs::domain::workspaces::members::MemberError;
use jobs::domain::workspaces::settings::WorkspaceError;
use jobs::handlers::delete_workspace::DeleteError;
use jobs::handlers::disconnect_account::DisconnectError;
use jobs::handlers::erase_user::EraseError;
use jobs::identity::id_token::IdTokenError;
use jobs::model::ScopesError;
use jobs::ops::OpsError;
use jobs::staging::StagingError;
use jobs::store::StoreError;
use serde_json::{Map, Value, json};

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

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::StaleState => ApiError::Conflict {
                code: "changed_concurrently",
                message: "it changed while we were working on it; reload and try again".into(),
            },
            StoreError::IllegalTransition { from, to } => ApiError::Conflict {
                code: "illegal_state",
                message: format!("a post that is {from} cannot become {to}"),
            },
            StoreError::LastOwner => ApiError::Conflict {
                code: "last_owner",
                message: "a workspace must keep at least one owner: make another member an owner \
                          first"
                    .into(),
            },
            StoreError::Unavailable(_) => ApiError::Unavailable("the database".into()),
            other => ApiError::internal(other),
        }
    }
}

impl From<IdTokenError> for ApiError {
    fn from(e: IdTokenError) -> Self {
        match e {
            // The cause is ours (Google or the network), and its text is reqwest's: logged, not
            // shown.
            IdTokenError::CertsUnavailable(cause) => {
                tracing::warn!(error = %cause, "Google's signing certificates are unavailable");
                ApiError::Unavailable("Google sign-in".into())
            }
            // The token's own faults, in words written for the person signing in.
            e => ApiError::Unauthorized {
                code: e.code(),
                message: e.to_string(),
            },
        }
    }
}

impl From<PostError> for ApiError {
    fn from(e: PostError) -> Self {
        match e {
            PostError::NotFound => ApiError::NotFound,
            PostError::Invalid { code, message } => ApiError::Invalid { code, message },
            PostError::Conflict { code, message } => ApiError::Conflict { code, message },
            PostError::Unavailable => ApiError::Unavailable("TikTok".into()),
            PostError::InsufficientRole => insufficient_role(),
            PostError::Store(s) => s.into(),
            PostError::Queue(q) => ApiError::internal(anyhow::anyhow!(q)),
        }
    }
}

impl From<StreamError> for ApiError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Post(p) => p.into(),
            StreamError::Range { received, size } => ApiError::RangeMismatch {
                message: StreamError::Range { received, size }.to_string(),
                received,
                size,
            },
            e @ StreamError::Paced { retry_after } => ApiError::Paced {
                code: "tiktok_rate_limited",
                message: e.to_string(),
                retry_after_secs: retry_after.as_secs().max(1),
            },
            e @ StreamError::Interrupted { .. } => ApiError::Malformed {
                code: "upload_interrupted",
                message: e.to_string(),
            },
            StreamError::Refused { code, message } => ApiError::Conflict { code, message },
        }
    }
}

impl From<ScheduleChangeError> for ApiError {
    fn from(e: ScheduleChangeError) -> Self {
        match e {
            ScheduleChangeError::NotFound => ApiError::NotFound,
            e @ ScheduleChangeError::NotScheduled { .. } => ApiError::Conflict {
                code: e.code(),
                message: e.to_string(),
            },
            ScheduleChangeError::Store(s) => s.into(),
        }
    }
}

impl From<ScheduleError> for ApiError {
    fn from(e: ScheduleError) -> Self {
        ApiError::Invalid {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl From<ScopesError> for ApiError {
    fn from(e: ScopesError) -> Self {
        ApiError::Invalid {
            code: match e {
                ScopesError::Empty => "scopes_required",
                ScopesError::Unknown(_) => "unknown_scope",
            },
            message: e.to_string(),
        }
    }
}

impl From<ApiKeyError> for ApiError {
    fn from(e: ApiKeyError) -> Self {
        match e {
            ApiKeyError::Scopes(e) => e.into(),
            e @ ApiKeyError::NameTooLong { .. } => ApiError::Invalid {
                code: "name_too_long",
                message: e.to_string(),
            },
            ApiKeyError::Store(s) => s.into(),
        }
    }
}

impl From<CampaignError> for ApiError {
    fn from(e: CampaignError) -> Self {
        let message = e.to_string();
        match e {
            CampaignError::Malformed(_) => ApiError::Malformed {
                code: "invalid_campaign",
                message,
            },
            CampaignError::Rows(rows) => ApiError::InvalidRows { message, rows },
            CampaignError::Stopped { created, problem } => ApiError::CampaignIncomplete {
                message,
                created,
                problem,
            },
            CampaignError::Unavailable => ApiError::Unavailable("TikTok".into()),
            CampaignError::Store(s) => s.into(),
        }
    }
}

impl From<GroupError> for ApiError {
    fn from(e: GroupError) -> Self {
        let message = e.to_string();
        match e {
            GroupError::Malformed(_) => ApiError::Malformed {
                code: "invalid_group",
                message,
            },
            GroupError::Targets(targets) => ApiError::InvalidTargets { message, targets },
            GroupError::Stopped { created, problem } => ApiError::GroupIncomplete {
                message,
                created,
                problem,
            },
            GroupError::Unavailable => ApiError::Unavailable("TikTok".into()),
            GroupError::Store(s) => s.into(),
        }
    }
}

/// An account failure in words a creator understands.
impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Store(s) => s.into(),
            AccountError::NeedsReconnect(why) => ApiError::Conflict {
                code: "needs_reconnect",
                message: why,
            },
            AccountError::TikTok(t) => {
                let transient = matches!(t.class(), jobs::tiktok::ErrorClass::Retryable { .. });
                if transient {
                    ApiError::Unavailable("TikTok".into())
                } else {
                    ApiError::Conflict {
                        code: "tiktok_refused",
                        message: t.creator_message(),
                    }
                }
            }
            e if e.is_transient() => ApiError::Unavailable("TikTok".into()),
            e => ApiError::internal(e),
        }
    }
}

impl From<StagingError> for ApiError {
    fn from(e: StagingError) -> Self {
        let message = e.to_string();
        match e {
            StagingError::TooLarge { .. } => ApiError::TooLarge {
                code: "too_large",
                message,
            },
            // A PNG is refused like any other wrong type (415 `unsupported_media_type`), with a
            // message that names its format and what TikTok takes instead.
            StagingError::UnsupportedType | StagingError::UnsupportedImage { .. } => {
                ApiError::UnsupportedMediaType(message)
            }
            StagingError::ImageTooLarge { .. } => ApiError::TooLarge {
                code: "image_too_large",
                message,
            },
            StagingError::ImageResolution { .. } => ApiError::Invalid {
                code: "image_resolution_too_high",
                message,
            },
            StagingError::ImageUnreadable => ApiError::Invalid {
                code: "image_unreadable",
                message,
            },
            StagingError::Empty => ApiError::Invalid {
                code: "empty_upload",
                message,
            },
            StagingError::Interrupted(_) => ApiError::Malformed {
                code: "upload_interrupted",
                message,
            },
            StagingError::Missing => ApiError::NotFound,
            StagingError::Store(e) => e.into(),
            other => ApiError::internal(other),
        }
    }
}

impl From<MediaError> for ApiError {
    fn from(e: MediaError) -> Self {
        match e {
            MediaError::Staging(e) => e.into(),
            MediaError::Quota(e) => e.into(),
            e @ MediaError::InUse(_) => ApiError::Conflict {
                code: "media_in_use",
                message: e.to_string(),
            },
        }
    }
}

impl From<QuotaError> for ApiError {
    fn from(e: QuotaError) -> Self {
        match e {
            e @ QuotaError::Exceeded { .. } => ApiError::TooLarge {
                code: "staging_quota_exceeded",
                message: e.to_string(),
            },
            QuotaError::Store(e) => e.into(),
        }
    }
}

impl From<OpsError> for ApiError {
    fn from(e: OpsError) -> Self {
        match e {
            OpsError::UnknownJob(_) => ApiError::NotFound,
            OpsError::NotDead(id) => ApiError::Conflict {
                code: "not_dead",
                message: format!(
                    "task {id} is not in the dead list (replayed or discarded already?)"
                ),
            },
            OpsError::Refused { code, message } => ApiError::Conflict { code, message },
            OpsError::Queue(e) => {
                tracing::warn!(error = %e, "queue unavailable for an operator request");
                ApiError::Unavailable("the queue".into())
            }
            OpsError::Post(e) => e.into(),
        }
    }
}

impl From<DisconnectError> for ApiError {
    fn from(e: DisconnectError) -> Self {
        match e {
            DisconnectError::Store(s) => s.into(),
            DisconnectError::Queue(q) => ApiError::internal(q),
        }
    }
}

impl From<ConnectStateError> for ApiError {
    fn from(e: ConnectStateError) -> Self {
        match e {
            e @ ConnectStateError::Invalid => ApiError::Invalid {
                code: "invalid_oauth_state",
                message: e.to_string(),
            },
            ConnectStateError::Store(s) => s.into(),
        }
    }
}

impl From<ConnectError> for ApiError {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::State(e) => e.into(),
            e @ ConnectError::NoCode => ApiError::BadRequest(e.to_string()),
            ConnectError::Account(e) => ApiError::from_connect(e),
        }
    }
}

/// 403 `insufficient_role`: a member whose role does not allow what they asked.
fn insufficient_role() -> ApiError {
    ApiError::Denied {
        code: "insufficient_role",
        message: "your role in this workspace does not allow this; ask one of its admins".into(),
    }
}

impl From<WorkspaceError> for ApiError {
    fn from(e: WorkspaceError) -> Self {
        match e {
            WorkspaceError::InsufficientRole => insufficient_role(),
            WorkspaceError::Store(s) => s.into(),
            e => ApiError::Invalid {
                code: "invalid_workspace",
                message: e.to_string(),
            },
        }
    }
}

impl From<InviteError> for ApiError {
    fn from(e: InviteError) -> Self {
        match e {
            InviteError::InsufficientRole => insufficient_role(),
            e @ InviteError::InvalidEmail => ApiError::Invalid {
                code: "invalid_email",
                message: e.to_string(),
            },
            e @ InviteError::PersonalWorkspace => ApiError::Conflict {
                code: "personal_workspace",
                message: e.to_string(),
            },
            InviteError::Store(s) => s.into(),
        }
    }
}

impl From<AcceptError> for ApiError {
    fn from(e: AcceptError) -> Self {
        let message = e.to_string();
        match e {
            AcceptError::NotFound => ApiError::NotFound,
            AcceptError::Expired => ApiError::Conflict {
                code: "invitation_expired",
                message,
            },
            AcceptError::AlreadyUsed => ApiError::Conflict {
                code: "invitation_used",
                message,
            },
            AcceptError::WrongAccount => ApiError::Denied {
                code: "invitation_for_another_account",
                message,
            },
            AcceptError::Store(s) => s.into(),
        }
    }
}

impl From<DeleteError> for ApiError {
    fn from(e: DeleteError) -> Self {
        match e {
            DeleteError::InsufficientRole => insufficient_role(),
            e @ DeleteError::Personal => ApiError::Conflict {
                code: "personal_workspace",
                message: e.to_string(),
            },
            DeleteError::Store(s) => s.into(),
            DeleteError::Queue(q) => ApiError::internal(q),
        }
    }
}

impl From<WorkspaceExportError> for ApiError {
    fn from(e: WorkspaceExportError) -> Self {
        match e {
            WorkspaceExportError::InsufficientRole => insufficient_role(),
            WorkspaceExportError::Store(s) => s.into(),
        }
    }
}

impl From<MemberError> for ApiError {
    fn from(e: MemberError) -> Self {
        match e {
            MemberError::InsufficientRole => insufficient_role(),
            MemberError::Store(s) => s.into(),
        }
    }
}

impl From<EraseError> for ApiError {
    fn from(e: EraseError) -> Self {
        match e {
            e @ EraseError::LastOwner(_) => ApiError::Conflict {
                code: "last_owner",
                message: e.to_string(),
            },
            EraseError::Store(s) => s.into(),
        }
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
mod tests {
    use super::*;

    async fn answer(e: ApiError) -> (StatusCode, serde_json::Value) {
        let resp = e.into_response();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn internal_causes_never_reach_the_body() {
        let driver = "error returned from database: relation \"posts\" does not exist";
        for e in [
            ApiError::internal(anyhow::anyhow!(driver)),
            StoreError::Backend(driver.into()).into(),
            StoreError::Conflict(driver.into()).into(),
        ] {
            let (status, body) = answer(e).await;
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(
                body,
                json!({ "error": { "code": "internal", "message": "internal error" } })
            );
        }
        let (status, body) = answer(StoreError::Unavailable(driver.into()).into()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"]["code"], "unavailable");
        assert!(!body.to_string().contains("relation"), "{body}");
    }

    #[tokio::test]
    async fn removing_the_last_owner_is_a_409_naming_what_to_do() {
        let (status, body) = answer(StoreError::LastOwner.into()).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["error"]["code"], "last_owner");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("make another member an owner")),
            "{body}"
        );
    }

    #[tokio::test]
    async fn unreachable_google_certificates_are_unavailable_not_their_reqwest_text() {
        let e = IdTokenError::CertsUnavailable(
            "error sending request for url (http://10.0.0.9/certs): tcp connect error".into(),
        );
        let (status, body) = answer(e.into()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"]["code"], "unavailable");
        for leak in ["error sending", "10.0.0.9", "tcp"] {
            assert!(!body.to_string().contains(leak), "{body}");
        }
        // The token's own faults keep their codes and words.
        let (status, body) = answer(IdTokenError::Expired.into()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"]["code"], "id_token_expired");
    }

    #[tokio::test]
    async fn a_failed_connection_never_shows_store_or_vault_text() {
        let text =
            |e: AccountError| async move { answer(ApiError::from_connect(e)).await.1.to_string() };
        let store = AccountError::Store(StoreError::Backend(
            "error returned from database: relation \"tiktok_accounts\" does not exist".into(),
        ));
        let body = text(store).await;
        assert!(body.contains("\"internal\""), "{body}");
        assert!(
            !body.contains("relation") && !body.contains("database"),
            "{body}"
        );
        let vault = AccountError::Vault(jobs::vault::VaultError::UnknownKey("v9".into()));
        let body = text(vault).await;
        assert!(body.contains("\"internal\""), "{body}");
        assert!(
            !body.contains("TOKEN_KEYS") && !body.contains("v9"),
            "{body}"
        );
        let lock = AccountError::Lock("redis: Connection refused (os error 111)".into());
        let body = text(lock).await;
        assert!(
            !body.contains("os error") && !body.contains("redis"),
            "{body}"
        );
    }
}
