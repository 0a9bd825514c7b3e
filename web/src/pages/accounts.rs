//! `/accounts`: the creator's connected TikTok accounts with their health, "connect another",
//! and disconnect (confirmed in the page, then `DELETE /api/accounts/{id}`).
//!
//! `/accounts/{id}/avatar` re-serves the account's TikTok avatar from our origin. The page's CSP
//! allows images from `'self'` only: no request from the creator's browser reaches TikTok's CDN
//! (which would also tell TikTok when they look at MKT POST). When the avatar cannot be fetched
//! (TikTok's signed avatar URLs expire), the answer is an SVG with the account's initials, so the
//! page never shows a broken image.

use super::frame::{SignedIn, render};
use crate::error::ApiError;
use crate::error::PageError;
use crate::state::AppState;
use crate::views::Nav;
use crate::views::account_json;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use jobs::model::{AccountId, TikTokAccount};
use serde::Deserialize;

/// One account as the page shows it.
pub struct AccountView {
    pub id: String,
    pub display_name: String,
    /// Without the `@`.
    pub username: Option<String>,
    /// Why it cannot publish (the API's `cannot_publish_reason`), or `None` when healthy.
    pub problem: Option<String>,
    /// Why it cannot send drafts to the TikTok inbox (the API's `cannot_send_drafts_reason`).
    pub drafts_problem: Option<String>,
}

impl AccountView {
    /// Built from the API's own view of the account, so the page and `GET /api/accounts` always
    /// agree on an account's health.
    pub fn new(a: &TikTokAccount) -> Self {
        let json = account_json(a);
        AccountView {
            id: a.id.to_string(),
            display_name: a.display_name.clone(),
            username: a.username.clone(),
            problem: json["cannot_publish_reason"].as_str().map(str::to_owned),
            drafts_problem: json["cannot_send_drafts_reason"]
                .as_str()
                .map(str::to_owned),
        }
    }

    /// True when it can take a post in some mode: a direct post, or at least a draft (an
    /// account granted only `video.upload`).
    pub fn usable(&self) -> bool {
        self.problem.is_none() || self.drafts_problem.is_none()
    }

    /// "@name" when known, else the display name: how a creator recognises the account.
    pub fn handle(&self) -> String {
        match &self.username {
            Some(u) => format!("@{u}"),
            None => self.display_name.clone(),
        }
    }
}

/// The accounts a creator can see, as the pages show them (`list_accounts` already leaves out
/// the accounts being disconnected).
pub async fn visible_accounts(
    state: &AppState,
    ws: jobs::model::WorkspaceId,
) -> Result<Vec<AccountView>, PageError> {
    Ok(state
        .store
        .list_accounts(ws)
        .await?
        .iter()
        .map(AccountView::new)
        .collect())
}

#[derive(Deserialize)]
pub struct Outcome {
    connected: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage {
    nav: Nav,
    accounts: Vec<AccountView>,
    /// A success line after connecting.
    notice: Option<String>,
    /// Why the last connection attempt did not complete.
    problem: Option<&'static str>,
}

/// `GET /accounts[?connected=<id>|?error=<code>]` (the TikTok callback lands here).
pub async fn page(
    State(state): State<AppState>,
    SignedIn(user, me): SignedIn,
    Query(q): Query<Outcome>,
) -> Result<Response, PageError> {
    let accounts: Vec<AccountView> = visible_accounts(&state, me.workspace).await?;
    let notice = q.connected.as_deref().and_then(|id| {
        accounts.iter().find(|a| a.id == id).map(|a| {
            format!(
                "Connected {} ({}). You can post to it now.",
                a.display_name,
                a.handle()
            )
        })
    });
    let problem = q.error.as_deref().map(|code| match code {
        "access_denied" => {
            "The TikTok account was not connected: you chose \"Deny\" on TikTok's page. \
             Connect again and choose \"Authorize\" to post with MKT POST."
        }
        _ => "TikTok did not let MKT POST connect this account. Please try again in a few minutes.",
    });
    render(&AccountsPage {
        nav: Nav::signed_in(&*state.store, &user, &me, "/accounts").await?,
        accounts,
        notice,
        problem,
    })
}

/// Up to two initials of a name, for the fallback avatar.
fn initials(name: &str) -> String {
    let letters: String = name
        .split_whitespace()
        .filter_map(|w| w.chars().find(|c| c.is_alphanumeric()))
        .take(2)
        .flat_map(char::to_uppercase)
        .collect();
    if letters.is_empty() {
        "?".into()
    } else {
        letters
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A circle with the account's initials; the hue is derived from the account id so two
/// accounts look different.
fn initials_svg(a: &TikTokAccount) -> String {
    let hue =
        a.id.0
            .as_bytes()
            .iter()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(*b)))
            % 360;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"96\" height=\"96\" viewBox=\"0 0 96 96\">\
         <circle cx=\"48\" cy=\"48\" r=\"48\" fill=\"hsl({hue},45%,40%)\"/>\
         <text x=\"48\" y=\"60\" font-family=\"sans-serif\" font-size=\"36\" fill=\"#fff\" \
         text-anchor=\"middle\">{}</text></svg>",
        xml_escape(&initials(&a.display_name))
    )
}

/// `GET /accounts/{id}/avatar`: the account's avatar from our origin (see the module docs).
pub async fn avatar(
    State(state): State<AppState>,
    SignedIn(_, me): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = AccountId::parse(&id).map_err(|_| ApiError::NotFound)?;
    let account = state.store.account(me.workspace, id).await?;
    // Anything unusable (an expired URL, not an image, too big) gets the initials instead.
    let fetched = match account.avatar_url.as_deref() {
        Some(url) => {
            let allow_http = !state.config.is_production();
            state.jobs.tiktok.avatar(url, allow_http).await.ok()
        }
        None => None,
    };
    let (content_type, body) = fetched
        .and_then(|a| Some((HeaderValue::from_str(&a.content_type).ok()?, a.bytes)))
        .unwrap_or_else(|| {
            (
                HeaderValue::from_static("image/svg+xml"),
                Bytes::from(initials_svg(&account)),
            )
        });
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=3600"),
            ),
            // The bytes come from elsewhere (possibly an SVG): opened on its own, this response
            // can run nothing and load nothing.
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
            ),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_take_the_first_letter_of_two_words() {
        assert_eq!(initials("Sunny Demo"), "SD");
        assert_eq!(initials("pia"), "P");
        assert_eq!(initials("  "), "?");
        assert_eq!(initials("Ada Lovelace King"), "AL");
    }
}
