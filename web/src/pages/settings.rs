//! `/settings`: API keys for agency automation (create shows the key once; list; revoke), and
//! the signed-in identity. The script calls `POST /api/keys` and `DELETE /api/keys/{id}`.

use super::{Nav, PageError, SignedIn, render};
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::Response;

/// One API key as the page lists it: never the key itself (only its prefix is stored readable).
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created: String,
    pub created_iso: String,
    pub last_used: Option<String>,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    nav: Nav,
    email: String,
    keys: Vec<KeyView>,
}

/// `GET /settings`.
pub async fn page(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
) -> Result<Response, PageError> {
    let keys = state
        .store
        .list_api_keys(user.id)
        .await?
        .into_iter()
        .map(|k| KeyView {
            id: k.id.to_string(),
            name: k.name,
            prefix: k.prefix,
            created: k.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            created_iso: k
                .created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            last_used: k
                .last_used_at
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()),
        })
        .collect();
    render(&SettingsPage {
        nav: Nav::signed_in(&user, "/settings"),
        email: user.email.clone(),
        keys,
    })
}
