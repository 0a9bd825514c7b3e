//! `GET /p/{token}`: the capability URLs TikTok pulls a photo post's images from (see
//! `jobs::domain::photo_urls` for what a token is and when it works). No session, no cookie:
//! the token is the whole authority, which is why the access log records this route by its
//! pattern (`/p/{token}`) and never the path that carries the token.
//!
//! The image is decrypted segment by segment while it streams out (`Staging::open_range`), so
//! it is never whole in memory nor written anywhere in the clear. Anything wrong with a token
//! (malformed, forged, expired, its image deleted, another publish's) is the same bare 404.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use futures::TryStreamExt;
use jobs::domain::photo_urls::{self, PhotoUrlError};

/// `GET /p/{token}` (HEAD too).
pub fn route() -> MethodRouter<AppState> {
    get(serve)
}

async fn serve(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let media = match photo_urls::open(&state.jobs, &token).await {
        Ok(media) => media,
        Err(PhotoUrlError::NotFound) => return ApiError::NotFound.into_response(),
        Err(PhotoUrlError::Store(e)) => return ApiError::from(e).into_response(),
    };
    tracing::info!(media_id = %media.id, "photo pulled through its capability URL");
    let stream = state
        .jobs
        .staging
        .open_range(&media, 0, media.size.saturating_sub(1))
        .map_err(std::io::Error::other);
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media.container.content_type()),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(media.size));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
