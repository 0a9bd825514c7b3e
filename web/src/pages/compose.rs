//! `/compose`: one video to one account, following TikTok's required posting UX
//! (tiktok-api.md §5.12). The server renders the account picker and the fixed parts; the
//! script (`/static/compose.js`) asks `GET /api/accounts/{id}/creator-info` for the live
//! options and previews the video. On submit, "Post now" creates a pass-through post
//! (`POST /api/posts` with `"upload": "stream"`) and streams the file to TikTok through
//! `PUT /api/posts/{id}/video`; "Schedule" uploads it to staging (`POST /api/media`) and then
//! creates the post. Both with progress.

use super::accounts::{AccountView, visible_accounts};
use super::frame::{SignedIn, render};
use crate::error::PageError;
use crate::state::AppState;
use crate::views::Nav;
use askama::Template;
use axum::extract::State;
use axum::response::Response;

#[derive(Template)]
#[template(path = "compose.html")]
struct ComposePage {
    nav: Nav,
    accounts: Vec<AccountView>,
    /// TikTok's caption limit in UTF-16 code units (what the live counter counts).
    caption_max: usize,
    /// The upload limit in bytes, checked in the page before a byte is sent.
    max_upload_bytes: u64,
}

impl ComposePage {
    /// Preselect the account when there is exactly one the creator can post to: there is then
    /// nothing to choose, and creator_info loads at once.
    fn preselected(&self) -> Option<&str> {
        let mut usable = self.accounts.iter().filter(|a| a.problem.is_none());
        match (usable.next(), usable.next()) {
            (Some(only), None) => Some(only.id.as_str()),
            _ => None,
        }
    }

    /// True when `id` is the preselected account.
    fn is_preselected(&self, id: &str) -> bool {
        self.preselected() == Some(id)
    }
}

/// `GET /compose`.
pub async fn page(
    State(state): State<AppState>,
    SignedIn(user, me): SignedIn,
) -> Result<Response, PageError> {
    let accounts = visible_accounts(&state, me.workspace).await?;
    render(&ComposePage {
        nav: Nav::signed_in(&*state.store, &user, &me, "/compose").await?,
        accounts,
        caption_max: jobs::domain::posts::MAX_TITLE_UTF16,
        max_upload_bytes: state.config.staging.max_upload_bytes,
    })
}
