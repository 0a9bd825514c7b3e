//! What every page stands on: the signed-in user ([`SignedIn`], [`SignedInSession`]), sent to
//! `/login` when there is none, told plainly when their role in the current workspace does not
//! allow the page ([`refused_for_role`]), and rendering a template.

use crate::auth::{CurrentUser, SessionUser};
use crate::error::{ApiError, PageError};
use crate::state::AppState;
use crate::views::Nav;
use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Redirect, Response};
use jobs::model::{Actor, Role, User};

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
            Err(e) => Err(refusal(parts, state, e).await),
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
            Err(e) => Err(refusal(parts, state, e).await),
        }
    }
}

/// The 403 page for a member whose role does not allow a page: it says so, names their role
/// and keeps the header (with the workspace switcher), so they can go where they may.
#[derive(Template)]
#[template(path = "refused.html")]
struct RefusedPage {
    nav: Nav,
    role: Role,
    workspace: String,
}

/// A page refused for the role (`insufficient_role`) as [`RefusedPage`]; any other error as
/// the generic error page.
async fn refusal(parts: &Parts, state: &AppState, e: ApiError) -> Response {
    let denied = matches!(&e, ApiError::Denied { code, .. } if *code == "insufficient_role");
    // The caller was authenticated before the role check, and cached for the request.
    match parts.extensions.get::<CurrentUser>() {
        Some(current) if denied => refused_for_role(state, &current.user, &current.actor())
            .await
            .unwrap_or_else(IntoResponse::into_response),
        _ => PageError::from(e).into_response(),
    }
}

/// [`RefusedPage`] for `user` acting as `me`.
pub async fn refused_for_role(
    state: &AppState,
    user: &User,
    me: &Actor,
) -> Result<Response, PageError> {
    let nav = Nav::signed_in(&*state.store, user, me, "").await?;
    let page = RefusedPage {
        workspace: nav.workspace_name().to_owned(),
        nav,
        role: me.role,
    };
    Ok((StatusCode::FORBIDDEN, Html(page.render()?)).into_response())
}

/// Renders a template into a response.
pub fn render(t: &impl Template) -> Result<Response, PageError> {
    Ok(Html(t.render()?).into_response())
}
