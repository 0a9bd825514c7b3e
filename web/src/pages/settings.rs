//! `/settings`: API keys for agency automation (create with chosen scopes, shown once; list;
//! revoke; for the workspace's admins and owners only), "sign out everywhere", and the
//! signed-in identity. The script calls
//! `POST /api/keys`, `DELETE /api/keys/{id}` and `DELETE /auth/sessions`. Browser session
//! only: this is where keys are made.

use super::frame::{SignedInSession, render};
use crate::error::PageError;
use crate::state::AppState;
use crate::views::Nav;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use jobs::domain::workspaces::Action;
use jobs::model::ApiKeyScope;

/// One API key as the page lists it: never the key itself (only its prefix is stored readable).
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created: String,
    pub created_iso: String,
    pub last_used: Option<String>,
    /// The key's scopes, comma-separated (`read, publish`).
    pub scopes: String,
}

/// One checkbox of the new-key form.
pub struct ScopeChoice {
    pub name: &'static str,
    pub label: &'static str,
    /// Checked when the page opens: what most agency scripts need.
    pub checked: bool,
}

/// The scopes a new key can get, with what each allows in the creator's words.
fn scope_choices() -> Vec<ScopeChoice> {
    ApiKeyScope::ALL
        .into_iter()
        .map(|scope| ScopeChoice {
            name: scope.as_str(),
            label: match scope {
                ApiKeyScope::Read => "read: see your profile, posts and uploaded videos",
                ApiKeyScope::Publish => {
                    "publish: upload videos; create, reschedule, retry and cancel posts"
                }
                ApiKeyScope::Campaigns => "campaigns: queue many posts at once",
                ApiKeyScope::Accounts => {
                    "accounts: see your TikTok accounts, their posting options and videos"
                }
            },
            checked: matches!(scope, ApiKeyScope::Read | ApiKeyScope::Publish),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    nav: Nav,
    email: String,
    keys: Vec<KeyView>,
    scopes: Vec<ScopeChoice>,
}

/// `GET /settings`.
pub async fn page(
    State(state): State<AppState>,
    SignedInSession(user, me): SignedInSession,
) -> Result<Response, PageError> {
    // The workspace's keys are for those who manage them (admins and owners), as on the API.
    let keys = if me.role.can(Action::ManageApiKeys) {
        state.store.list_api_keys(me.workspace).await?
    } else {
        Vec::new()
    };
    let keys = keys
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
            scopes: k
                .scopes
                .iter()
                .map(ApiKeyScope::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    render(&SettingsPage {
        nav: Nav::signed_in(&*state.store, &user, &me, "/settings").await?,
        email: user.email.clone(),
        keys,
        scopes: scope_choices(),
    })
}
