//! The creator-facing HTML pages: server-rendered askama templates over the same store and
//! handlers as the JSON API, plus a little vanilla JS (served from `/static/`) that calls that
//! API for the live parts (sign-in, creator_info, upload progress, status polling).
//!
//! Every asset is served by this tier and [`security_headers`] sends a `Content-Security-Policy`
//! that allows nothing else: no third-party scripts, styles, fonts or images, no inline scripts,
//! no inline styles. TikTok avatars are fetched server-side and re-served from our origin
//! (`/accounts/{id}/avatar`), so a creator's browser never talks to TikTok's CDN from our pages.

mod accounts;
mod assets;
mod campaigns;
mod compose;
mod history;
mod login;
mod ops;
mod settings;

use crate::auth::{CurrentUser, SessionUser};
use crate::error::ApiError;
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use jobs::model::User;

/// The policy every response carries. `blob:` for media only: the compose page previews the
/// chosen video from a local object URL before it is uploaded.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; media-src 'self' blob:; font-src 'self'; \
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

/// The signed-in user of a page; anyone else is sent to `/login` instead of getting a JSON 401.
pub struct SignedIn(pub User);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match CurrentUser::from_request_parts(parts, state).await {
            Ok(current) => Ok(SignedIn(current.user)),
            Err(ApiError::Unauthenticated | ApiError::Unauthorized { .. }) => {
                Err(Redirect::to("/login").into_response())
            }
            Err(e) => Err(PageError::from(e).into_response()),
        }
    }
}

/// Like [`SignedIn`], for the pages only the person may use (`/settings` manages keys, `/ops`
/// operates the service): an API key gets 403 `session_required` even where its user may
/// see the page in a browser.
pub struct SignedInSession(pub User);

impl FromRequestParts<AppState> for SignedInSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match SessionUser::from_request_parts(parts, state).await {
            Ok(SessionUser(current)) => Ok(SignedInSession(current.user)),
            Err(ApiError::Unauthenticated | ApiError::Unauthorized { .. }) => {
                Err(Redirect::to("/login").into_response())
            }
            Err(e) => Err(PageError::from(e).into_response()),
        }
    }
}

/// What every page's header needs: who is signed in and which tab is active.
pub struct Nav {
    /// The signed-in user's name; `None` on public pages viewed signed out.
    pub user: Option<String>,
    /// The active tab's path (`/compose`, …), for `aria-current`.
    pub active: &'static str,
}

impl Nav {
    fn signed_in(user: &User, active: &'static str) -> Self {
        let name = if user.name.trim().is_empty() {
            user.email.clone()
        } else {
            user.name.clone()
        };
        Nav {
            user: Some(name),
            active,
        }
    }

    /// True when `path` is the active tab.
    pub fn is(&self, path: &str) -> bool {
        self.active == path
    }
}

/// A page that could not be shown. Wraps [`ApiError`] so the status and the logging of internal
/// causes come from the one mapping in `crate::error`; the body is a plain HTML page.
#[derive(Debug)]
pub struct PageError(ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl From<jobs::store::StoreError> for PageError {
    fn from(e: jobs::store::StoreError) -> Self {
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
            nav: Nav {
                user: None,
                active: "",
            },
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

/// Renders a template into a response.
fn render(t: &impl Template) -> Result<Response, PageError> {
    Ok(Html(t.render()?).into_response())
}
