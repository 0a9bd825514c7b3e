//! The creator-facing HTML pages: server-rendered askama templates over the same store and
//! handlers as the JSON API, plus a little vanilla JS (served from `/static/`) that calls that
//! API for the live parts (sign-in, creator_info, upload progress, status polling).
//!
//! Every asset is served by this tier and [`security_headers`] sends a `Content-Security-Policy`
//! that allows nothing else: no third-party scripts, styles, fonts or images, no inline scripts,
//! no inline styles. TikTok avatars are fetched server-side and re-served from our origin
//! (`/accounts/{id}/avatar`), so a creator's browser never talks to TikTok's CDN from our pages.

mod accounts;
mod approvals;
mod assets;
mod campaigns;
mod compose;
mod frame;
mod history;
mod join;
mod login;
mod members;
mod ops;
mod settings;

use crate::state::AppState;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;

/// The policy every response carries. `blob:` for images and media only: the compose page
/// previews the chosen video and photos from local object URLs before they are uploaded.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' blob:; media-src 'self' blob:; font-src 'self'; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// The page routes and `/static/{file}`; merged into the app by `crate::build_app`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(login::home))
        .route("/login", get(login::login))
        .route("/privacy", get(login::privacy))
        .route("/accounts", get(accounts::page))
        .route("/accounts/{id}/avatar", get(accounts::avatar))
        .route("/compose", get(compose::page))
        .route("/history", get(history::page))
        .route("/campaigns", get(campaigns::page))
        .route("/history/posts", get(history::fragment))
        .route("/settings", get(settings::page))
        .route("/members", get(members::page))
        .route("/approvals", get(approvals::page))
        .route("/join", get(join::page))
        .route("/ops", get(ops::page))
        .route("/static/{file}", get(assets::serve))
}

/// Adds the Content-Security-Policy (and two headers that go with it) to every response that
/// does not set its own. Applied to the whole app, API included: a JSON error opened directly
/// in a browser is then just as locked down as a page.
pub async fn security_headers(mut resp: Response) -> Response {
    let headers = resp.headers_mut();
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    // Outgoing links (TikTok posts, the sign-in page) must not learn our URLs, which carry ids.
    headers
        .entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("same-origin"));
    resp
}
