//! The front door: `/` (sends people where they belong), `/login` (Google sign-in) and the
//! public `/privacy` page, whose numbers come from the running configuration.

use super::frame::{SignedIn, render};
use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::error::PageError;
use crate::state::AppState;
use crate::views::{Nav, display_name};
use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use jobs::domain::workspaces::Action;

/// `GET /`: signed-out visitors to the sign-in page; members who may not post (viewers) to
/// History; those who may, to Accounts while the workspace has none, else to Compose.
pub async fn home(
    State(state): State<AppState>,
    user: Result<SignedIn, Response>,
) -> Result<Response, PageError> {
    let Ok(SignedIn(_, me)) = user else {
        return Ok(Redirect::to("/login").into_response());
    };
    if !me.role.can(Action::CreatePost) {
        return Ok(Redirect::to("/history").into_response());
    }
    let accounts = state.store.list_accounts(me.workspace).await?;
    let to = if accounts.is_empty() {
        "/accounts"
    } else {
        "/compose"
    };
    Ok(Redirect::to(to).into_response())
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    erased: bool,
    nav: Nav,
    /// Whether "Sign in with Google" can work (`GOOGLE_SIGNIN_URL` is set). The button's script
    /// asks `POST /auth/google/start` where to go (`crate::routes::session`).
    signin_configured: bool,
    signed_in_as: Option<String>,
}

/// `/login?erased=1`: shown after a creator erased their data.
#[derive(Debug, serde::Deserialize)]
pub struct LoginQuery {
    erased: Option<String>,
}

/// `GET /login`. Public. The script (`/static/login.js`) starts a sign-in from the button and
/// finishes one when the URL carries `#id_token=…&state=…` and this tab is waiting for that state.
pub async fn login(
    State(state): State<AppState>,
    Query(query): Query<LoginQuery>,
    user: Result<CurrentUser, ApiError>,
) -> Result<Response, PageError> {
    let signed_in_as = user.ok().map(|u| display_name(&u.user));
    render(&LoginPage {
        erased: query.erased.is_some(),
        nav: Nav::signed_out("/login"),
        signin_configured: state.config.identity.google_signin_url.is_some(),
        signed_in_as,
    })
}

#[derive(Template)]
#[template(path = "privacy.html")]
struct PrivacyPage {
    nav: Nav,
    scopes: Vec<(&'static str, &'static str)>,
    log_retention_days: u32,
    media_ttl: String,
    session: String,
    max_upload: String,
    /// How long a photo's capability link lives ("60 minutes").
    photo_url_ttl: String,
}

/// What each TikTok permission lets MKT POST do, in the creator's words.
fn scope_purpose(scope: &str) -> &'static str {
    match scope {
        "user.info.basic" => {
            "your TikTok display name, avatar and account id, to show which account a post goes to"
        }
        "user.info.profile" => "your @username, to link to your posts",
        "video.publish" => "publishing the videos you choose, with the settings you choose",
        "video.upload" => "uploading those videos to TikTok",
        "video.list" => {
            "listing your public videos, to show what was published and to confirm a post went out"
        }
        _ => "a permission TikTok asks us to name",
    }
}

/// A byte count in the largest whole unit that fits (the upload limit on the privacy page).
fn human_bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)];
    UNITS
        .iter()
        .find(|(_, size)| n >= *size && n.is_multiple_of(*size))
        .map(|(unit, size)| format!("{} {unit}", n / size))
        .unwrap_or_else(|| format!("{n} bytes"))
}

/// `GET /privacy`. Public. Every number is read from the running configuration, so the page
/// cannot drift from what the services actually do.
pub async fn privacy(
    State(state): State<AppState>,
    user: Result<CurrentUser, ApiError>,
) -> Result<Response, PageError> {
    let user = user.ok();
    let c = &state.config;
    render(&PrivacyPage {
        nav: match &user {
            Some(u) => Nav::signed_in(&*state.store, &u.user, &u.actor(), "/privacy").await?,
            None => Nav::signed_out("/privacy"),
        },
        scopes: jobs::domain::accounts::SCOPES
            .iter()
            .map(|s| (*s, scope_purpose(s)))
            .collect(),
        log_retention_days: c.scheduler.log_retention_days,
        media_ttl: human_hours(c.staging.media_ttl.as_secs() / 3600),
        session: human_hours(c.identity.session_ttl.as_secs() / 3600),
        max_upload: human_bytes(c.staging.max_upload_bytes),
        photo_url_ttl: format!("{} minutes", c.staging.photo_url_ttl.as_secs() / 60),
    })
}

/// Hours as days when they divide evenly ("7 days"), else as hours ("36 hours").
fn human_hours(h: u64) -> String {
    match h {
        1 => "1 hour".into(),
        24 => "1 day".into(),
        h if h.is_multiple_of(24) => format!("{} days", h / 24),
        h => format!("{h} hours"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_limits_read_like_people_write_them() {
        assert_eq!(human_bytes(4 << 30), "4 GB");
        assert_eq!(human_bytes(500 << 20), "500 MB");
        assert_eq!(human_bytes(1000), "1000 bytes");
        assert_eq!(human_hours(168), "7 days");
        assert_eq!(human_hours(36), "36 hours");
    }

    #[test]
    fn every_requested_scope_is_explained() {
        for s in jobs::domain::accounts::SCOPES {
            assert_ne!(scope_purpose(s), scope_purpose("unknown"), "{s}");
        }
    }
}
