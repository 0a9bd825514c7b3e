//! The Firestore REST v1 client: the three `documents:*` methods the store needs, bearer auth
//! (Application Default Credentials through `gcp_auth`, or the emulator's `owner`), and the
//! translation of Google's error statuses.
//!
//! Every request is a plain JSON POST, so what the store does is visible on the wire.

use super::value::{Document, Write};
use crate::store::StoreError;
use gcp_auth::TokenProvider;
use serde_json::{Value, json};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The OAuth scope of the Firestore data API.
const SCOPE: &str = "https://www.googleapis.com/auth/datastore";
/// A request that takes longer is abandoned as `Unavailable`. The emulator waits up to about
/// 2 s for a contended lock, production up to tens of seconds for a busy transaction.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How requests are authorised.
#[derive(Clone)]
pub(crate) enum Auth {
    /// The emulator: it accepts `Bearer owner`, which also bypasses security rules.
    Emulator,
    /// Google: an OAuth access token from this provider (cached and refreshed by `gcp_auth`).
    Google(Arc<dyn TokenProvider>),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Auth::Emulator => "Emulator",
            Auth::Google(_) => "Google",
        })
    }
}

/// Google's canonical status, reduced to what the store acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Lock contention or a transaction that lost: retry the whole operation.
    Aborted,
    /// A create met an existing document.
    AlreadyExists,
    /// A precondition (update time) did not hold, or a query lacks its index in production.
    FailedPrecondition,
    NotFound,
    /// Unreachable, overloaded or timed out: retryable later.
    Unavailable,
    /// Anything else (bad request, permission denied, …): a bug or a deployment problem.
    Other,
}

impl Status {
    fn parse(s: &str) -> Self {
        match s {
            "ABORTED" => Status::Aborted,
            "ALREADY_EXISTS" => Status::AlreadyExists,
            "FAILED_PRECONDITION" => Status::FailedPrecondition,
            "NOT_FOUND" => Status::NotFound,
            "UNAVAILABLE" | "DEADLINE_EXCEEDED" | "RESOURCE_EXHAUSTED" | "INTERNAL" => {
                Status::Unavailable
            }
            _ => Status::Other,
        }
    }
}

/// A failed request: status and Google's message (it names documents, never values).
#[derive(Debug, Clone)]
pub(crate) struct RestError {
    pub status: Status,
    pub message: String,
}

impl fmt::Display for RestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "firestore {:?}: {}", self.status, self.message)
    }
}

impl From<RestError> for StoreError {
    fn from(e: RestError) -> Self {
        match e.status {
            Status::NotFound => StoreError::NotFound,
            Status::AlreadyExists => StoreError::Conflict(e.message),
            Status::Aborted | Status::Unavailable => StoreError::Unavailable(e.to_string()),
            Status::FailedPrecondition | Status::Other => StoreError::Backend(e.to_string()),
        }
    }
}

impl RestError {
    fn new(status: Status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// Parses Google's error body (`{"error": {...}}`, or wrapped in an array by the
    /// streaming methods).
    fn from_body(http: reqwest::StatusCode, body: &[u8]) -> Self {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let error = parsed.as_ref().and_then(|v| match v {
            Value::Array(items) => items.iter().find_map(|i| i.get("error")),
            other => other.get("error"),
        });
        match error {
            Some(e) => {
                let status = e
                    .get("status")
                    .and_then(Value::as_str)
                    .map_or(Status::Other, Status::parse);
                let message = e.get("message").and_then(Value::as_str).unwrap_or("");
                Self::new(status, format!("{http}: {}", message.trim()))
            }
            None => {
                let status = if http.is_server_error() || http.as_u16() == 429 {
                    Status::Unavailable
                } else {
                    Status::Other
                };
                Self::new(status, format!("{http} without an error body"))
            }
        }
    }
}

/// One database of one project, over REST.
#[derive(Debug, Clone)]
pub(crate) struct Rest {
    http: reqwest::Client,
    /// `{root}/projects/{p}/databases/{d}/documents`: the methods are `{this}:{method}`.
    documents_url: String,
    /// `projects/{p}/databases/{d}/documents`: the prefix of every document name.
    documents_path: String,
    auth: Auth,
}

impl Rest {
    /// `root` is `https://firestore.googleapis.com/v1` or `http://<emulator>/v1`.
    pub fn new(root: &str, project: &str, database: &str, auth: Auth) -> Result<Self, StoreError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| StoreError::Backend(format!("building the HTTP client: {e}")))?;
        let documents_path = format!("projects/{project}/databases/{database}/documents");
        Ok(Self {
            http,
            documents_url: format!("{}/{documents_path}", root.trim_end_matches('/')),
            documents_path,
            auth,
        })
    }

    /// The full name of a document.
    pub fn name(&self, collection: &str, id: &str) -> String {
        format!("{}/{collection}/{id}", self.documents_path)
    }

    async fn call(&self, method: &str, body: &Value) -> Result<Value, RestError> {
        let token = match &self.auth {
            Auth::Emulator => None,
            Auth::Google(provider) => Some(provider.token(&[SCOPE]).await.map_err(|e| {
                // A token endpoint that cannot be reached is transient; bad credentials are
                // not, but retrying them costs little and the message says which it was.
                RestError::new(Status::Unavailable, format!("access token: {e}"))
            })?),
        };
        let request = self
            .http
            .post(format!("{}:{method}", self.documents_url))
            .json(body);
        let request = match &token {
            Some(t) => request.bearer_auth(t.as_str()),
            None => request.bearer_auth("owner"),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        if !status.is_success() {
            return Err(RestError::from_body(status, &bytes));
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            RestError::new(Status::Other, format!("{method}: unreadable answer: {e}"))
        })?;
        // Streaming methods answer 200 and may still carry an error element.
        if let Value::Array(items) = &value
            && items.iter().any(|i| i.get("error").is_some())
        {
            return Err(RestError::from_body(status, &bytes));
        }
        Ok(value)
    }

    /// Reads documents by name (strongly consistent); the answer is in the order of `names`,
    /// `None` where missing. (`batchGet`, not `GET`: see the emulator notes in the docs.)
    pub async fn batch_get(&self, names: &[String]) -> Result<Vec<Option<Document>>, RestError> {
        let answer = self
            .call("batchGet", &json!({ "documents": names }))
            .await?;
        let mut out: Vec<Option<Document>> = vec![None; names.len()];
        for item in answer.as_array().into_iter().flatten() {
            if let Some(found) = item.get("found") {
                let doc = Document::from_json(found.clone()).map_err(malformed)?;
                if let Some(i) = names.iter().position(|n| *n == doc.name) {
                    out[i] = Some(doc);
                }
            }
        }
        Ok(out)
    }

    /// Applies the writes atomically: all of them, with every precondition holding, or none.
    pub async fn commit(&self, writes: &[Write]) -> Result<(), RestError> {
        let body = json!({ "writes": writes.iter().map(Write::to_json).collect::<Vec<_>>() });
        self.call("commit", &body).await.map(drop)
    }

    /// Runs a structured query (built by a `QuerySpec`); documents in query order.
    pub async fn run_query(&self, body: &Value) -> Result<Vec<Document>, RestError> {
        let answer = self.call("runQuery", body).await?;
        answer
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item.get("document"))
            .map(|d| Document::from_json(d.clone()).map_err(malformed))
            .collect()
    }
}

fn transport(e: reqwest::Error) -> RestError {
    // Never the URL: it is harmless here, but reqwest's Display would also be logged upstream.
    RestError::new(Status::Unavailable, e.without_url().to_string())
}

fn malformed(e: StoreError) -> RestError {
    RestError::new(Status::Other, e.to_string())
}
