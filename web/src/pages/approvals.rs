//! `/approvals` (admins and owners): the posts of the current workspace waiting for approval,
//! oldest first, each with a preview (the account, caption, privacy and interaction settings,
//! when it goes out, its author), Approve, and Reject with a required comment. The script
//! (`/static/approvals.js`) sends the post's `version` with each decision to
//! `POST /api/posts/{id}/approve|reject`, which checks everything again; on a conflict it
//! reloads the list from this page.

use super::accounts::AccountView;
use super::frame::{SignedIn, render};
use super::history::{post_privacy, schedule_fields};
use crate::error::{ApiError, PageError};
use crate::state::AppState;
use crate::views::{Nav, display_name};
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use chrono::SecondsFormat;
use jobs::domain::posts::approval;
use jobs::domain::workspaces::members;
use jobs::model::{Post, TikTokAccount, User, UserId};

/// One waiting post as the queue shows it.
pub struct PendingView {
    pub id: String,
    /// The compare-and-set token sent with the decision.
    pub version: i64,
    /// `@username`, or the display name when TikTok gave no username.
    pub handle: String,
    pub display_name: String,
    pub caption: String,
    pub privacy: &'static str,
    pub comments: bool,
    pub duet: bool,
    pub stitch: bool,
    /// "2026-12-08 10:00 Europe/Paris", or `None` for "as soon as approved".
    pub scheduled: Option<String>,
    /// Who submitted it; "former member" once they left or erased themselves.
    pub author: String,
    pub submitted: String,
    pub submitted_iso: String,
}

impl PendingView {
    fn new(p: &Post, accounts: &[TikTokAccount], people: &[(UserId, String)]) -> Self {
        let account = accounts
            .iter()
            .find(|a| a.id == p.account_id)
            .map(AccountView::new);
        let (input, zone) = schedule_fields(p);
        let author = p
            .created_by
            .and_then(|by| people.iter().find(|(id, _)| *id == by))
            .map_or_else(|| "former member".to_owned(), |(_, name)| name.clone());
        PendingView {
            id: p.id.to_string(),
            version: p.version,
            handle: account
                .as_ref()
                .map_or_else(|| "a disconnected account".into(), AccountView::handle),
            display_name: account.map(|a| a.display_name).unwrap_or_default(),
            caption: p.settings.title.clone(),
            privacy: post_privacy(p),
            comments: !p.settings.disable_comment,
            duet: !p.settings.disable_duet,
            stitch: !p.settings.disable_stitch,
            scheduled: (!input.is_empty()).then(|| format!("{} {zone}", input.replace('T', " "))),
            author,
            submitted: p.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            submitted_iso: p.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        }
    }

    /// "on" / "off" for a setting, as the preview lists them.
    pub fn onoff(on: &bool) -> &'static str {
        if *on { "on" } else { "off" }
    }
}

#[derive(Template)]
#[template(path = "approvals.html")]
struct ApprovalsPage {
    nav: Nav,
    posts: Vec<PendingView>,
}

/// `GET /approvals`.
pub async fn page(
    State(state): State<AppState>,
    SignedIn(user, me): SignedIn,
) -> Result<Response, PageError> {
    let store = &*state.store;
    let waiting = approval::queue(&state.jobs, me)
        .await
        .map_err(ApiError::from)?;
    let accounts = store.list_accounts(me.workspace).await?;
    let people: Vec<(UserId, String)> = members::list(store, me)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .map(|(m, u): (_, User)| (m.user_id, display_name(&u)))
        .collect();
    render(&ApprovalsPage {
        nav: Nav::signed_in(store, &user, &me, "/approvals").await?,
        posts: waiting
            .iter()
            .map(|p| PendingView::new(p, &accounts, &people))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobs::model::{AccountId, PostState};
    use jobs::store::conformance::post_for;

    #[test]
    fn a_post_of_a_former_member_to_send_now_says_so() {
        let author = UserId::new();
        let mut p = post_for(author, AccountId::new(), PostState::PendingApproval);
        p.scheduled_at = None;
        p.scheduled_tz = None;
        let named = PendingView::new(&p, &[], &[(author, "Ed Itor".into())]);
        assert_eq!(named.author, "Ed Itor");
        assert_eq!(named.scheduled, None);
        assert_eq!(named.handle, "a disconnected account");
        p.created_by = None;
        assert_eq!(PendingView::new(&p, &[], &[]).author, "former member");
    }
}
