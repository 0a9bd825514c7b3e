//! TikTok's v2 API conventions shared by its endpoints: the `{data, error}` envelope, bearer
//! access tokens with scopes, per-token rate limits and JSON bodies.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::ids::log_id;
use crate::knobs::RateLimits;
use crate::state::{Inner, SandboxState};

/// A v2 error: `{"data":{},"error":{"code","message","log_id"}}` with an HTTP status.
#[derive(Debug)]
pub(crate) struct V2Error {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// Some real bodies carry no `data` at all (e.g. `spam_risk_too_many_pending_share`).
    pub omit_data: bool,
}

impl V2Error {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            omit_data: false,
        }
    }

    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_params", message)
    }

    pub fn token_invalid() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "access_token_invalid",
            "The access token is invalid or not found in the request.",
        )
    }

    pub fn scope_not_authorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "scope_not_authorized",
            "The user did not authorize the scope required for completing this request.",
        )
    }

    pub fn rate_limited() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_exceeded",
            "API rate limit exceeded, please retry after some time.",
        )
    }

    pub fn forbidden(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }
}

impl IntoResponse for V2Error {
    fn into_response(self) -> Response {
        let error = json!({"code": self.code, "message": self.message, "log_id": log_id()});
        let body = if self.omit_data {
            json!({"error": error})
        } else {
            json!({"data": {}, "error": error})
        };
        (self.status, axum::Json(body)).into_response()
    }
}

/// A v2 success: `{"data": data, "error": {"code":"ok","message":"","log_id"}}`.
pub(crate) fn ok(data: Value) -> Response {
    let body = json!({"data": data, "error": {"code": "ok", "message": "", "log_id": log_id()}});
    (StatusCode::OK, axum::Json(body)).into_response()
}

pub(crate) type V2Result = Result<Response, V2Error>;

/// What a `POST` endpoint reads: the sandbox, the headers (for the token) and the body.
pub(crate) type PostRequest = (State<SandboxState>, HeaderMap, Bytes);

/// Turns a handler result into a response.
pub(crate) fn respond(result: V2Result) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Answers a call under the sandbox's lock: `f` gets the state and the sandbox clock's time; an
/// error becomes TikTok's error envelope.
pub(crate) fn locked(
    s: &SandboxState,
    f: impl FnOnce(&mut Inner, DateTime<Utc>) -> V2Result,
) -> Response {
    let now = s.now();
    let mut inner = s.lock();
    respond(f(&mut inner, now))
}

/// A valid, unexpired, unrevoked user access token.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub token: String,
    pub client_key: String,
    pub open_id: String,
    pub scopes: Vec<String>,
}

impl Caller {
    pub fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

/// Checks the bearer token and that it holds one of `any_of` (empty = no scope needed).
pub(crate) fn authenticate(
    inner: &Inner,
    headers: &HeaderMap,
    now: DateTime<Utc>,
    any_of: &[&str],
) -> Result<Caller, V2Error> {
    let token = bearer(headers).ok_or_else(V2Error::token_invalid)?;
    let t = inner
        .tiktok
        .access
        .iter()
        .find(|t| t.token == token)
        .filter(|t| !t.revoked && t.expires_at > now)
        .ok_or_else(V2Error::token_invalid)?;
    let caller = Caller {
        token: t.token.clone(),
        client_key: t.client_key.clone(),
        open_id: t.open_id.clone(),
        scopes: t.scopes.clone(),
    };
    if !any_of.is_empty() && !any_of.iter().any(|s| caller.has(s)) {
        return Err(V2Error::scope_not_authorized());
    }
    Ok(caller)
}

/// Per-token sliding-window limit for one endpoint.
pub(crate) fn rate_limit(
    inner: &mut Inner,
    caller: &Caller,
    bucket: &'static str,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<(), V2Error> {
    if inner.take_rate(&caller.token, bucket, limit, now) {
        Ok(())
    } else {
        Err(V2Error::rate_limited())
    }
}

/// A rate-limited endpoint: the scopes that open it (one of them; none = any token), the
/// per-token bucket its calls count in, and where its limit is in the knobs.
pub(crate) struct Gate {
    any_of: &'static [&'static str],
    bucket: &'static str,
    limit: fn(&RateLimits) -> u32,
}

impl Gate {
    pub(crate) const fn new(
        any_of: &'static [&'static str],
        bucket: &'static str,
        limit: fn(&RateLimits) -> u32,
    ) -> Self {
        Self {
            any_of,
            bucket,
            limit,
        }
    }
}

/// The opening of a rate-limited call: the caller's token must open `gate` (see
/// [`authenticate`]), then the call counts against the token's bucket.
pub(crate) fn admit(
    inner: &mut Inner,
    headers: &HeaderMap,
    now: DateTime<Utc>,
    gate: &Gate,
) -> Result<Caller, V2Error> {
    let caller = authenticate(inner, headers, now, gate.any_of)?;
    let limit = (gate.limit)(&inner.knobs.rate_limits);
    rate_limit(inner, &caller, gate.bucket, limit, now)?;
    Ok(caller)
}

/// Parses a JSON body; TikTok answers malformed JSON with `invalid_params`.
pub(crate) fn json_body(
    headers: &HeaderMap,
    body: &[u8],
    allow_empty: bool,
) -> Result<Value, V2Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return if allow_empty {
            Ok(json!({}))
        } else {
            Err(V2Error::invalid_params("Request body is empty."))
        };
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        return Err(V2Error::invalid_params(
            "Content-Type must be application/json.",
        ));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| V2Error::invalid_params(format!("Request body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(V2Error::invalid_params(
            "Request body must be a JSON object.",
        ));
    }
    Ok(value)
}
