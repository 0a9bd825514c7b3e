//! The TikTok side: Login Kit, OAuth, Display API, Content Posting API and the upload host,
//! on TikTok's real paths with its envelopes and error codes (tiktok-api.md §1–6).

use axum::Router;
use axum::routing::{get, post, put};

use crate::state::SandboxState;

pub(crate) mod consent;
pub(crate) mod display;
pub(crate) mod oauth;
pub(crate) mod posting;
pub(crate) mod pull;
pub(crate) mod status;
pub(crate) mod upload;
pub(crate) mod v2;

use upload::UPLOAD_PATH;

pub(crate) fn router() -> Router<SandboxState> {
    Router::new()
        .route(
            "/v2/auth/authorize/",
            get(consent::authorize_page).post(consent::authorize_decision),
        )
        .route("/v2/oauth/token/", post(oauth::token))
        .route("/v2/oauth/revoke/", post(oauth::revoke))
        .route("/v2/user/info/", get(display::user_info))
        .route("/v2/video/list/", post(display::video_list))
        .route("/v2/video/query/", post(display::video_query))
        .route(
            "/v2/post/publish/creator_info/query/",
            post(posting::creator_info),
        )
        .route("/v2/post/publish/video/init/", post(posting::video_init))
        .route(
            "/v2/post/publish/inbox/video/init/",
            post(posting::inbox_init),
        )
        .route(
            "/v2/post/publish/content/init/",
            post(posting::content_init),
        )
        .route("/v2/post/publish/status/fetch/", post(status::status_fetch))
        .route("/v2/post/publish/cancel/", post(status::cancel))
        .route(UPLOAD_PATH, put(upload::put_chunk))
}
