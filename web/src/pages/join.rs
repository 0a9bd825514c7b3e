//! `/join`: where an invitation link lands (`/join#<token>`). The token rides in the fragment,
//! which browsers never send to a server; the script (`/static/join.js`) reads it and, when
//! the person clicks "Join workspace", hands it to `POST /api/invitations/accept`. Signed-out
//! visitors are sent to `/login` first (the browser keeps the fragment across the redirect);
//! the login page keeps the token in the tab's session storage and comes back here with it
//! once they are signed in.

use super::frame::{SignedInSession, render};
use crate::error::PageError;
use crate::state::AppState;
use crate::views::Nav;
use askama::Template;
use axum::extract::State;
use axum::response::Response;

#[derive(Template)]
#[template(path = "join.html")]
struct JoinPage {
    nav: Nav,
    /// The Google account that joins (the invitation must be for it).
    email: String,
}

/// `GET /join`.
pub async fn page(
    State(state): State<AppState>,
    SignedInSession(user, me): SignedInSession,
) -> Result<Response, PageError> {
    render(&JoinPage {
        nav: Nav::signed_in(&*state.store, &user, &me, "/join").await?,
        email: user.email.clone(),
    })
}
