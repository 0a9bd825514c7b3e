//! `/campaigns`: queue many posts from a CSV and a set of videos. The script
//! (`/static/campaigns.js`) reads the CSV in the browser, uploads each named video
//! (`POST /api/media`), then sends the rows with the videos' ids to `POST /api/campaigns`, which
//! checks every row before creating any post.

use super::accounts::{AccountView, visible_accounts};
use super::frame::{SignedIn, render};
use crate::error::PageError;
use crate::state::AppState;
use crate::views::Nav;
use askama::Template;
use axum::extract::State;
use axum::response::Response;

#[derive(Template)]
#[template(path = "campaigns.html")]
struct CampaignsPage {
    nav: Nav,
    accounts: Vec<AccountView>,
    privacy_levels: Vec<&'static str>,
}

/// `GET /campaigns`.
pub async fn page(
    State(state): State<AppState>,
    SignedIn(user, me): SignedIn,
) -> Result<Response, PageError> {
    let accounts = visible_accounts(&state, me.workspace).await?;
    use jobs::model::PrivacyLevel::*;
    render(&CampaignsPage {
        nav: Nav::signed_in(&*state.store, &user, &me, "/campaigns").await?,
        accounts,
        privacy_levels: [
            PublicToEveryone,
            MutualFollowFriends,
            FollowerOfCreator,
            SelfOnly,
        ]
        .iter()
        .map(|p| p.as_str())
        .collect(),
    })
}
