//! `PUT /api/posts/{id}/video` and `GET` on the same path: the bytes of a pass-through ("post
//! now") post, streamed through this process's memory to TikTok (`jobs::domain::posts::stream`),
//! and how far they got, so an interrupted upload can resume.
//!
//! Everything that can be refused is refused before a byte of the body is read: no
//! `Content-Length` (411), a malformed one or range (400), too many pass-through uploads on this
//! process (503 + `Retry-After`), TikTok's per-minute init limit (429 + `Retry-After`).

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::routes::media::declared_len;
use crate::state::AppState;
use crate::views::post_json;
use axum::Json;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, header};
use axum::routing::{MethodRouter, get};
use jobs::domain::posts::stream::{self, Declared};
use jobs::model::PostId;

/// How long a client refused for lack of a free pass-through slot waits before trying again.
const BUSY_RETRY_AFTER_SECS: u64 = 5;

/// The route, without the body limit JSON routes have (the body is the video).
pub fn route() -> MethodRouter<AppState> {
    get(progress)
        .put(receive)
        .layer(DefaultBodyLimit::disable())
}

fn parse_id(s: &str) -> Result<PostId, ApiError> {
    PostId::parse(s).map_err(|_| ApiError::NotFound)
}

/// `GET /api/posts/{id}/video` → `{state, received, size, resumable_until}`.
pub async fn progress(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<stream::StreamProgress>, ApiError> {
    Ok(Json(
        stream::progress(&state.jobs, user.workspace, parse_id(&id)?).await?,
    ))
}

/// `Content-Range: bytes first-last/total` (a resumed upload), if present.
fn content_range(headers: &HeaderMap) -> Result<Option<(u64, u64, u64)>, ApiError> {
    let Some(v) = headers.get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let bad = || ApiError::Malformed {
        code: "invalid_content_range",
        message: "Content-Range must read bytes FIRST-LAST/TOTAL".into(),
    };
    let text = v.to_str().map_err(|_| bad())?.trim();
    let (range, total) = text
        .strip_prefix("bytes ")
        .and_then(|r| r.split_once('/'))
        .ok_or_else(bad)?;
    let (first, last) = range.split_once('-').ok_or_else(bad)?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    let (first, last, total) = (num(first)?, num(last)?, num(total)?);
    if first > last || last >= total {
        return Err(bad());
    }
    Ok(Some((first, last, total)))
}

/// `PUT /api/posts/{id}/video` (the video as the body) → `200` with the post once TikTok has
/// every byte (`processing`).
pub async fn receive(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = parse_id(&id)?;
    // Someone outside the workspace learns nothing from the headers' refusals: 404 first.
    stream::progress(&state.jobs, user.workspace, id).await?;
    let length = declared_len(&headers)?.ok_or(ApiError::LengthRequired)?;
    let range = content_range(&headers)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let permit = state
        .passthrough
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::Busy {
            code: "passthrough_busy",
            message: "This server is sending as many videos to TikTok as it can right now; try again in a few seconds.".into(),
            retry_after_secs: BUSY_RETRY_AFTER_SECS,
        })?;
    let jobs = state.jobs.clone();
    let ws = user.workspace;
    // Its own task: when the browser goes away, hyper drops this handler, but the task still
    // sees the body fail, cuts TikTok's PUT off and releases the post's lock at once (so a
    // resume is not refused while a dead request still holds it).
    let task = tokio::spawn(async move {
        let declared = Declared {
            length,
            range,
            content_type: &content_type,
        };
        let result = stream::receive(&jobs, ws, id, declared, body.into_data_stream()).await;
        drop(permit);
        result
    });
    let post = task.await.map_err(ApiError::internal)??;
    Ok(Json(post_json(&post, None)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn range(v: &str) -> Result<Option<(u64, u64, u64)>, ApiError> {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_RANGE, HeaderValue::from_str(v).unwrap());
        content_range(&h)
    }

    #[test]
    fn a_resume_range_is_read_exactly_and_anything_else_is_refused() {
        assert_eq!(content_range(&HeaderMap::new()).unwrap(), None);
        assert_eq!(
            range("bytes 40000-130000/130001").unwrap(),
            Some((40_000, 130_000, 130_001))
        );
        for bad in [
            "bytes five-ten/11",
            "bytes 10-5/11",
            "bytes 0-11/11",
            "bytes 0-4",
            "items 0-4/5",
            "bytes */5",
            "bytes 0-18446744073709551616/18446744073709551617",
        ] {
            assert!(
                matches!(
                    range(bad),
                    Err(ApiError::Malformed {
                        code: "invalid_content_range",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }
}
