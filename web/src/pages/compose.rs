//! `/compose`: one post to one account, following TikTok's required posting UX
//! (tiktok-api.md §5.12), by every path TikTok has: a video from the device, a video TikTok
//! downloads from a verified address, a photo carousel, each posted directly or sent as a draft
//! to the creator's TikTok inbox. The server renders the account picker and the fixed parts; the
//! script (`/static/compose.js`) asks `GET /api/accounts/{id}/creator-info` for the live
//! options and previews the media. On submit, "Post now" with a video file creates a
//! pass-through post (`POST /api/posts` with `"upload": "stream"`) and streams the file to
//! TikTok through `PUT /api/posts/{id}/video`; everything that waits (a schedule, a draft,
//! photos) uploads to staging (`POST /api/media`) first and then creates the post. All with
//! progress.
//!
//! A video can also go to other accounts of the workspace at once: each added account gets its
//! own creator_info, privacy and optional caption, time and cover; the video is staged once
//! (a stream cannot feed several TikTok uploads) and `POST /api/post-groups` creates one
//! independent post per account, or none when any account cannot take it.

use super::accounts::{AccountView, visible_accounts};
use super::frame::{SignedIn, render};
use crate::error::PageError;
use crate::state::AppState;
use crate::views::Nav;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use jobs::domain::posts::photos;
use jobs::staging::image::MAX_IMAGE_BYTES;

#[derive(Template)]
#[template(path = "compose.html")]
struct ComposePage {
    nav: Nav,
    accounts: Vec<AccountView>,
    /// TikTok's caption limit in UTF-16 code units (what the live counter counts).
    caption_max: usize,
    /// The upload limit in bytes, checked in the page before a byte is sent.
    max_upload_bytes: u64,
    /// Where TikTok may download a video from (`TIKTOK_VERIFIED_URL_PREFIXES`); none turns the
    /// "from a web address" choice off, with the reason.
    url_prefixes: Vec<String>,
    /// TikTok's photo-post limits, checked in the page before anything is sent.
    max_photos: usize,
    photo_title_max: usize,
    description_max: usize,
    max_photo_bytes: u64,
    max_photo_mb: u64,
}

impl ComposePage {
    /// Preselect the account when there is exactly one the creator can post to: there is then
    /// nothing to choose, and creator_info loads at once.
    fn preselected(&self) -> Option<&str> {
        let mut usable = self.accounts.iter().filter(|a| a.usable());
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
        url_prefixes: state.config.tiktok.verified_url_prefixes.clone(),
        max_photos: photos::MAX_PHOTOS,
        photo_title_max: photos::MAX_PHOTO_TITLE_CHARS,
        description_max: photos::MAX_DESCRIPTION_CHARS,
        max_photo_bytes: MAX_IMAGE_BYTES,
        max_photo_mb: MAX_IMAGE_BYTES / 1_000_000,
    })
}
