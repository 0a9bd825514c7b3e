//! The one API error type and the one mapping to `{"error":{"code","message"}}`.
//! Internal causes are logged once, here, and the client sees `internal`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jobs::identity::id_token::IdTokenError;
use jobs::store::StoreError;
use serde_json::json;

/// Every error a handler can return. Handlers only use `?`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
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
    #[error("{0} is unavailable")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// The only match on variants: status and stable code.
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Invalid { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            ApiError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::Unauthorized { code, .. } => (StatusCode::UNAUTHORIZED, code),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Denied { code, .. } => (StatusCode::FORBIDDEN, code),
            ApiError::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(e.into())
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Internal(cause) => {
                tracing::error!(error = ?cause, "request failed");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let mut resp = (
            status,
            Json(json!({ "error": { "code": code, "message": message } })),
        )
            .into_response();
        if let ApiError::RateLimited { retry_after_secs } = self
            && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
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
}
