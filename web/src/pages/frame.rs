//! What every page stands on: the signed-in user ([`SignedIn`], [`SignedInSession`]), sent to
//! `/login` when there is none, and rendering a template.

use crate::auth::{CurrentUser, SessionUser};
use crate::error::{ApiError, PageError};
use crate::state::AppState;
use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Redirect, Response};
use jobs::model::{Actor, User};

/// The signed-in user of a page, and who they act as (their current workspace and role);
/// anyone else is sent to `/login` instead of getting a JSON 401.
pub struct SignedIn(pub User, pub Actor);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match CurrentUser::from_request_parts(parts, state).await {
            Ok(current) => Ok(SignedIn(current.user.clone(), current.actor())),
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
pub struct SignedInSession(pub User, pub Actor);

impl FromRequestParts<AppState> for SignedInSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match SessionUser::from_request_parts(parts, state).await {
            Ok(SessionUser(current)) => Ok(SignedInSession(current.user.clone(), current.actor())),
            Err(ApiError::Unauthenticated | ApiError::Unauthorized { .. }) => {
                Err(Redirect::to("/login").into_response())
            }
            Err(e) => Err(PageError::from(e).into_response()),
        }
    }
}

/// Renders a template into a response.
pub fn render(t: &impl Template) -> Result<Response, PageError> {
    Ok(Html(t.render()?).into_response())
}
