//! The upload host: `PUT {upload_url}` with TikTok's chunk rules (tiktok-api.md §5.5).
//!
//! Bytes are streamed: each chunk is hashed (SHA-256, incrementally) and counted, never held
//! whole, unless `knobs.keep_upload_bytes_max` asks to keep a small file. A chunk only counts
//! once its body has fully arrived, so a broken connection leaves the progress where it was.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::TimeDelta;
use futures::StreamExt;
use serde_json::json;
use sha2::Digest;

use crate::ids::log_id;
use crate::records::ChunkRecord;
use crate::state::task::{Status, Upload};
use crate::state::{Inner, SandboxState};

/// Path of the upload host inside the sandbox (the init response's `upload_url`).
pub(crate) const UPLOAD_PATH: &str = "/upload/video/";

const VIDEO_TYPES: [&str; 3] = ["video/mp4", "video/quicktime", "video/webm"];

/// `bytes a-b/total` → (a, b, total).
pub(crate) fn parse_content_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    let (a, b, total) = (
        a.trim().parse().ok()?,
        b.trim().parse().ok()?,
        total.trim().parse().ok()?,
    );
    (a <= b && b < total).then_some((a, b, total))
}

/// The progress header TikTok sends: `bytes 0-{received-1}/{total}`.
fn progress(received: u64, total: u64) -> HeaderValue {
    let v = if received == 0 {
        format!("bytes */{total}")
    } else {
        format!("bytes 0-{}/{total}", received - 1)
    };
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("bytes */0"))
}

/// A refused PUT. The body format is UNCONFIRMED (clients treat it as opaque); the progress
/// `Content-Range` is what reconciliation relies on.
struct UploadError {
    status: StatusCode,
    code: &'static str,
    message: &'static str,
    progress: Option<HeaderValue>,
}

impl IntoResponse for UploadError {
    fn into_response(self) -> Response {
        let body =
            json!({"error": {"code": self.code, "message": self.message, "log_id": log_id()}});
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(p) = self.progress {
            resp.headers_mut().insert(header::CONTENT_RANGE, p);
        }
        resp
    }
}

fn error(
    status: StatusCode,
    code: &'static str,
    message: &'static str,
    progress: Option<HeaderValue>,
) -> UploadError {
    UploadError {
        status,
        code,
        message,
        progress,
    }
}

fn no_upload() -> UploadError {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        "No upload task exists for this URL.",
        None,
    )
}

/// What phase 1 (validation under the lock) hands to phase 2 (streaming).
struct Accepted {
    publish_id: String,
    hasher: sha2::Sha256,
    want: u64,
    is_final: bool,
    total: u64,
    keep_bytes: bool,
    first_chunk: bool,
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn record(
    inner: &mut Inner,
    publish_id: &str,
    headers: &HeaderMap,
    bytes: u64,
    status: StatusCode,
) {
    inner.tiktok.chunks.push(ChunkRecord {
        at: chrono::Utc::now(),
        publish_id: publish_id.to_owned(),
        content_range: header_str(headers, header::CONTENT_RANGE).map(str::to_owned),
        content_length: header_str(headers, header::CONTENT_LENGTH).and_then(|v| v.parse().ok()),
        bytes,
        status: status.as_u16(),
    });
}

/// Validates the PUT against the upload's progress and plan; takes the hasher (marking the
/// upload busy so a concurrent PUT is refused, as chunks must be sequential).
fn accept(
    inner: &mut Inner,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Accepted, UploadError> {
    let ttl = TimeDelta::seconds(inner.knobs.upload_url_ttl_secs);
    let upload_id = q.get("upload_id").map(String::as_str).unwrap_or("");
    let upload_token = q.get("upload_token").map(String::as_str).unwrap_or("");
    let keep_max = inner.knobs.keep_upload_bytes_max;
    let Some(task) = inner.tiktok.tasks.iter_mut().find(|t| {
        t.upload
            .as_ref()
            .is_some_and(|u| u.upload_id == upload_id && u.upload_token == upload_token)
    }) else {
        return Err(no_upload());
    };
    let publish_id = task.publish_id.clone();
    let (video_size, chunk_size, count) = task.plan.map_or((0, 1, 1), |p| {
        (p.video_size, p.chunk_size, p.total_chunk_count)
    });
    let failed = task.status == Status::Failed;
    let Some(u) = task.upload.as_mut() else {
        return Err(no_upload());
    };
    let received = u.received;
    let plan = Plan {
        video_size,
        chunk_size,
        count,
    };
    let result = check_chunk(u, &plan, failed, headers, now, ttl);
    match result {
        Ok((want, is_final, total)) => {
            let hasher = u.hasher.take().unwrap_or_default();
            Ok(Accepted {
                publish_id,
                hasher,
                want,
                is_final,
                total,
                keep_bytes: u.bytes.is_some() && video_size <= keep_max,
                first_chunk: received == 0,
            })
        }
        Err(resp) => {
            let status = resp.status;
            record(inner, &publish_id, headers, 0, status);
            Err(resp)
        }
    }
}

/// The chunk plan declared at init.
struct Plan {
    video_size: u64,
    chunk_size: u64,
    count: u64,
}

/// Checks one PUT against the upload's URL lifetime, progress and plan; returns the bytes
/// wanted, whether this is the final chunk, and the total.
fn check_chunk(
    u: &Upload,
    plan: &Plan,
    failed: bool,
    headers: &HeaderMap,
    now: chrono::DateTime<chrono::Utc>,
    ttl: TimeDelta,
) -> Result<(u64, bool, u64), UploadError> {
    let received = u.received;
    if now > u.issued_at + ttl {
        return Err(error(
            StatusCode::FORBIDDEN,
            "upload_url_expired",
            "The upload URL has expired.",
            None,
        ));
    }
    if failed {
        return Err(error(
            StatusCode::FORBIDDEN,
            "upload_not_allowed",
            "The publish task has ended.",
            None,
        ));
    }
    let (content_length, start, end, total) = chunk_headers(headers)?;
    let range_len = end - start + 1;
    let mismatch = |msg: &'static str| {
        error(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "range_not_satisfiable",
            msg,
            Some(progress(received, plan.video_size)),
        )
    };
    if u.hasher.is_none() && u.sha256.is_none() {
        return Err(mismatch(
            "Another chunk of this upload is in progress; chunks must be sequential.",
        ));
    }
    if total != plan.video_size {
        return Err(mismatch(
            "The total in Content-Range does not match plan.video_size.",
        ));
    }
    if u.sha256.is_some() {
        return Err(mismatch("All bytes were already received."));
    }
    if start != received {
        return Err(mismatch(
            "Content-Range does not continue the upload progress.",
        ));
    }
    let index = received / plan.chunk_size;
    let is_final = index + 1 >= plan.count;
    let want = if is_final {
        plan.video_size - received
    } else {
        plan.chunk_size
    };
    if range_len != want {
        return Err(mismatch(
            "The chunk length does not match the declared chunk plan.",
        ));
    }
    if content_length != range_len {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_params",
            "Content-Length does not match Content-Range.",
            None,
        ));
    }
    Ok((want, is_final, total))
}

/// Content-Type, Content-Length and Content-Range of a chunk PUT: (length, first, last, total).
fn chunk_headers(headers: &HeaderMap) -> Result<(u64, u64, u64, u64), UploadError> {
    let ct = header_str(headers, header::CONTENT_TYPE)
        .unwrap_or("")
        .to_ascii_lowercase();
    if !VIDEO_TYPES
        .iter()
        .any(|t| ct.split(';').next().is_some_and(|c| c.trim() == *t))
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_params",
            "Content-Type must be video/mp4, video/quicktime or video/webm.",
            None,
        ));
    }
    let Some(content_length) =
        header_str(headers, header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok())
    else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_params",
            "Content-Length is required.",
            None,
        ));
    };
    let Some((start, end, total)) =
        header_str(headers, header::CONTENT_RANGE).and_then(parse_content_range)
    else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_params",
            "Content-Range must be bytes {first}-{last}/{total}.",
            None,
        ));
    };
    Ok((content_length, start, end, total))
}

/// `PUT /upload/video/?upload_id=…&upload_token=…`.
pub(crate) async fn put_chunk(
    State(s): State<SandboxState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let now = s.now();
    let accepted = {
        let mut inner = s.lock();
        accept(&mut inner, &q, &headers, now)
    };
    let a = match accepted {
        Ok(a) => a,
        Err(resp) => return resp.into_response(),
    };
    let mut guard = BusyGuard {
        state: s.clone(),
        publish_id: a.publish_id.clone(),
        before: Some(a.hasher.clone()),
    };
    let Received {
        hasher,
        n,
        head,
        kept,
        broken,
    } = receive(body, a.hasher, a.want, a.first_chunk, a.keep_bytes).await;
    let mut inner = s.lock();
    let Some(task) = inner.tiktok.task_mut(&a.publish_id) else {
        return no_upload().into_response();
    };
    let Some(u) = task.upload.as_mut() else {
        return no_upload().into_response();
    };
    if let Some(msg) = broken {
        // Nothing of a broken chunk counts: restore the hash state from before it.
        u.hasher = guard.before.take();
        let received = u.received;
        record(
            &mut inner,
            &a.publish_id,
            &headers,
            n,
            StatusCode::BAD_REQUEST,
        );
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_params",
            msg,
            Some(progress(received, a.total)),
        )
        .into_response();
    }
    guard.before = None;
    u.received += n;
    u.chunks += 1;
    if a.first_chunk {
        u.head = head;
    }
    if let Some(buf) = u.bytes.as_mut() {
        buf.extend_from_slice(&kept);
    }
    let received = u.received;
    let status = if a.is_final {
        u.sha256 = Some(hex::encode(hasher.finalize()));
        task.ready_at = Some(now);
        StatusCode::CREATED
    } else {
        u.hasher = Some(hasher);
        StatusCode::PARTIAL_CONTENT
    };
    inner.tiktok.bytes_uploaded += n;
    record(&mut inner, &a.publish_id, &headers, n, status);
    let mut resp = status.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_RANGE, progress(received, a.total));
    resp
}

/// A chunk's body as it streamed in: hashed on top of `hasher`, counted, its first bytes (of
/// the first chunk) and, when kept, its bytes; `broken` says why it does not count.
struct Received {
    hasher: sha2::Sha256,
    n: u64,
    head: Vec<u8>,
    kept: Vec<u8>,
    broken: Option<&'static str>,
}

async fn receive(
    body: Body,
    mut hasher: sha2::Sha256,
    want: u64,
    first_chunk: bool,
    keep_bytes: bool,
) -> Received {
    let mut n: u64 = 0;
    let mut head = Vec::new();
    let mut kept = Vec::new();
    let mut stream = body.into_data_stream();
    let mut broken = None;
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(bytes) => {
                n += bytes.len() as u64;
                if n > want {
                    broken = Some("The body is longer than Content-Length.");
                    break;
                }
                hasher.update(&bytes);
                if first_chunk && head.len() < 16 {
                    head.extend_from_slice(&bytes[..bytes.len().min(16 - head.len())]);
                }
                if keep_bytes {
                    kept.extend_from_slice(&bytes);
                }
            }
            Err(_) => {
                broken = Some("The connection broke before the whole chunk arrived.");
                break;
            }
        }
    }
    if broken.is_none() && n != want {
        broken = Some("The body length does not match Content-Length.");
    }
    Received {
        hasher,
        n,
        head,
        kept,
        broken,
    }
}

/// Puts the pre-chunk hash state back if the handler is dropped mid-body (the client went
/// away), so the upload does not stay "busy" forever.
struct BusyGuard {
    state: SandboxState,
    publish_id: String,
    before: Option<sha2::Sha256>,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        let Some(before) = self.before.take() else {
            return;
        };
        let mut inner = self.state.lock();
        if let Some(u) = inner
            .tiktok
            .task_mut(&self.publish_id)
            .and_then(|t| t.upload.as_mut())
            && u.hasher.is_none()
            && u.sha256.is_none()
        {
            u.hasher = Some(before);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parses_inclusive_ranges() {
        assert_eq!(
            parse_content_range("bytes 0-9999999/77360899"),
            Some((0, 9_999_999, 77_360_899))
        );
        assert_eq!(parse_content_range("bytes 5-4/10"), None);
        assert_eq!(parse_content_range("bytes 0-10/10"), None);
        assert_eq!(parse_content_range("0-1/2"), None);
    }
}
