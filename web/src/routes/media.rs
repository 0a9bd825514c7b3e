//! Staged videos and photos: `POST /api/media` streams a raw body into encrypted staging (the rules
//! live in `jobs::domain::media` and `jobs::staging`), `GET /api/media/{id}` shows one, `DELETE /api/media/{id}` deletes
//! one that no post uses yet.
//!
//! The request body is the file itself (`Content-Type: video/mp4`, `video/quicktime`,
//! `video/webm`, `image/jpeg`, `image/webp` or `application/octet-stream`; the type is decided
//! by magic bytes, not by this header), never `multipart/form-data`, so it streams straight into
//! staging. A photo (JPEG or WebP, for a photo post) must be within TikTok's 20 MB and 1080p:
//! `image_too_large` (413), `image_resolution_too_high` (422); a PNG is refused by name (415).
//!
//! Progress: the web UI uses XHR upload progress (bytes sent). An API client that sends
//! `Accept: application/x-ndjson` gets a `200` whose body is streamed while the upload runs:
//! `{"received": N}` lines every [`PROGRESS_EVERY`] bytes, then one last line that is either the
//! media (`{"id","size","expires_at",…}`, as the `201` body otherwise) or the error object
//! (`{"error":{"code","message"}}`, as the error body otherwise). The status line cannot carry
//! the outcome in that mode, because it is sent before the upload ends.

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use bytes::Bytes;
use jobs::domain::media::{self, Upload};
use jobs::model::{Media, MediaId};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(test)]
mod proptests;

/// How often (in bytes received) a streamed upload reports progress.
pub const PROGRESS_EVERY: u64 = 4 << 20;

/// `POST /api/media`. The router's default body limit is lifted here: `jobs::staging` enforces
/// `MAX_UPLOAD_BYTES` while streaming and stops reading as soon as it is passed.
pub fn upload_route() -> MethodRouter<AppState> {
    post(upload).layer(DefaultBodyLimit::disable())
}

/// `GET` and `DELETE /api/media/{id}`.
pub fn item_route() -> MethodRouter<AppState> {
    get(show).delete(delete)
}

/// What the API shows of a staged video (never its keys or object location).
fn media_json(m: &Media) -> Value {
    json!({
        "id": m.id,
        "size": m.size,
        "expires_at": m.expires_at,
        "container": m.container,
        "duration_ms": m.duration_ms,
        "created_at": m.created_at,
        "post_id": m.post_id,
    })
}

/// Refuses bodies that are clearly not a raw file, with a message saying what to send.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let form = [
        "multipart/",
        "application/x-www-form-urlencoded",
        "application/json",
        "text/",
    ];
    if form.iter().any(|f| content_type.starts_with(f)) {
        return Err(ApiError::UnsupportedMediaType(
            "send the video or photo file itself as the request body (Content-Type video/mp4, \
             video/quicktime, video/webm, image/jpeg, image/webp or application/octet-stream), \
             not a form"
                .into(),
        ));
    }
    Ok(())
}

pub(crate) fn declared_len(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    match headers.get(header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| ApiError::BadRequest("Content-Length is not a number".into())),
    }
}

/// `POST /api/media` (streamed body) → `201 {id, size, expires_at, …}`; with
/// `Accept: application/x-ndjson`, a streamed `200` of progress lines (see the module doc).
pub async fn upload(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    check_content_type(&headers)?;
    let upload = media::admit(&state.jobs, user.actor(), declared_len(&headers)?).await?;
    let wants_progress = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/x-ndjson"));
    let body = body.into_data_stream();
    if wants_progress {
        return Ok(streamed_upload(upload, body));
    }
    // Staging runs in its own task: when a client disconnects, hyper drops this handler's
    // future, but the task still sees the body fail and aborts the upload before it ends.
    let task = tokio::spawn(upload.stage(body, None));
    match task.await {
        Ok(Ok(media)) => Ok((StatusCode::CREATED, Json(media_json(&media))).into_response()),
        Ok(Err(e)) => Err(e.into()),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// The NDJSON variant of `upload`: the response streams while the request body still arrives.
fn streamed_upload(upload: Upload, body: axum::body::BodyDataStream) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        let next_report = AtomicU64::new(PROGRESS_EVERY);
        let progress = tx.clone();
        let report = move |received: u64| {
            if received >= next_report.load(Ordering::Relaxed) {
                next_report.store(
                    (received / PROGRESS_EVERY + 1) * PROGRESS_EVERY,
                    Ordering::Relaxed,
                );
                // A client that does not read its progress lines must not stall the upload.
                let _ = progress.try_send(ndjson_line(&json!({ "received": received })));
            }
        };
        let last = match upload.stage(body, Some(&report)).await {
            Ok(media) => ndjson_line(&media_json(&media)),
            // The same error object as a non-streamed answer, from the one mapping (which also
            // logs internal causes).
            Err(e) => ndjson_line(&ApiError::from(e).into_status_and_body().1),
        };
        let _ = tx.send(last).await;
    });
    let lines = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|line| (Ok::<_, Infallible>(line), rx))
    });
    let mut response = Response::new(Body::from_stream(lines));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn ndjson_line(v: &Value) -> Bytes {
    let mut line = v.to_string().into_bytes();
    line.push(b'\n');
    Bytes::from(line)
}

fn parse_id(id: &str) -> Result<MediaId, ApiError> {
    MediaId::parse(id).map_err(|_| ApiError::NotFound)
}

/// `GET /api/media/{id}`: one of the user's staged videos.
pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let media = state.store.media(user.workspace, parse_id(&id)?).await?;
    Ok(Json(media_json(&media)))
}

/// `DELETE /api/media/{id}` → 204. A video a post uses is the post's to delete (409).
pub async fn delete(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    media::delete(&state.jobs, user.workspace, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
