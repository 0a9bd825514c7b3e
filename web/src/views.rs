//! How the API and the pages show our models: the JSON views of an account, a post and an API
//! key (the pages build on the same views, so a page and the API never disagree), and the page
//! header's [`Nav`]. Below both `routes` and `pages`, which never import each other.

use jobs::domain::workspaces::Action;
use jobs::domain::{accounts, schedule_time};
use jobs::model::{
    Actor, ApiKey, Invitation, Member, Post, PostMode, PostSource, PostState, Role, TikTokAccount,
    User, Workspace,
};
use jobs::store::{Store, StoreError};
use serde_json::json;

/// The public view of an account: never tokens.
pub fn account_json(a: &TikTokAccount) -> serde_json::Value {
    let now = chrono::Utc::now();
    let token_health = match &a.tokens {
        None => "missing",
        Some(t) if t.refresh_expires_at <= now => "expired",
        Some(t) if t.access_expires_at <= now => "refresh_due",
        Some(_) => "ok",
    };
    json!({
        "id": a.id,
        "open_id": a.open_id,
        "display_name": a.display_name,
        "username": a.username,
        "avatar_url": a.avatar_url,
        "status": a.status.as_str(),
        "status_reason": a.status_reason,
        "scopes": a.scopes,
        "can_publish": a.can_publish(),
        "cannot_publish_reason": accounts::cannot_publish_reason(a),
        "can_send_drafts": accounts::cannot_send_drafts_reason(a).is_none(),
        "cannot_send_drafts_reason": accounts::cannot_send_drafts_reason(a).map(|(_, why)| why),
        "token_health": token_health,
        "access_expires_at": a.tokens.as_ref().map(|t| t.access_expires_at),
        "refresh_expires_at": a.tokens.as_ref().map(|t| t.refresh_expires_at),
        "connected_at": a.created_at,
    })
}

/// A workspace as its members see it, with the caller's role there.
pub fn workspace_json(w: &Workspace, role: Role, current: bool) -> serde_json::Value {
    json!({
        "id": w.id,
        "name": w.name,
        "personal": w.personal,
        "approval_required": w.approval_required,
        "version": w.version,
        "role": role,
        "current": current,
    })
}

/// A member as the members page shows them.
pub fn member_json(m: &Member, u: &User) -> serde_json::Value {
    json!({
        "user_id": m.user_id,
        "name": u.name,
        "email": u.email,
        "picture": u.picture,
        "role": m.role,
        "joined_at": m.joined_at,
    })
}

/// An invitation as the members page lists it (never its token or hash).
pub fn invitation_json(i: &Invitation) -> serde_json::Value {
    json!({
        "id": i.id,
        "email": i.email,
        "role": i.role,
        "invited_by": i.invited_by,
        "created_at": i.created_at,
        "expires_at": i.expires_at,
        "status": i.status(chrono::Utc::now()),
    })
}

/// The public view of a post. TikTok's public link appears once the post is public.
pub fn post_json(p: &Post, username: Option<&str>) -> serde_json::Value {
    let share_url = p.tiktok.public_post_ids.first().map(|id| match username {
        Some(u) => format!("https://www.tiktok.com/@{u}/video/{id}"),
        None => format!("https://www.tiktok.com/video/{id}"),
    });
    json!({
        "id": p.id,
        "workspace_id": p.workspace_id,
        // Its author; `null` once they erased themselves (a former member).
        "created_by": p.created_by,
        "account_id": p.account_id,
        "media_id": p.media_id,
        // How TikTok gets the media: {"kind": "staged" | "stream" | "url" | "photos", …}.
        "source": p.source,
        "post_mode": p.mode,
        // Where a pass-through post's bytes go (`PUT`), while they still can.
        "upload_path": (p.source == PostSource::Stream
            && matches!(p.state, PostState::Draft | PostState::Uploading))
            .then(|| format!("/api/posts/{}/video", p.id)),
        "title": p.settings.title,
        // A draft's audience is chosen by the creator in the TikTok app: none to show here.
        "privacy_level": (p.mode == PostMode::Direct).then_some(p.settings.privacy_level),
        "disable_comment": p.settings.disable_comment,
        "disable_duet": p.settings.disable_duet,
        "disable_stitch": p.settings.disable_stitch,
        "brand_content_toggle": p.settings.brand_content_toggle,
        "brand_organic_toggle": p.settings.brand_organic_toggle,
        "is_aigc": p.settings.is_aigc,
        // The cover frame asked for, in ms; `null`: TikTok's default, the first frame.
        "video_cover_timestamp_ms": p.settings.video_cover_timestamp_ms,
        "state": p.state,
        // The compare-and-set token of decisions on it (approve, reject).
        "version": p.version,
        "scheduled_at": p.scheduled_at,
        "scheduled_tz": p.scheduled_tz,
        "scheduled_local": p.scheduled_at.map(|at| schedule_time::local_time(at, p.scheduled_tz.as_deref())),
        "late_by_ms": p.late_by_ms,
        "tiktok_status": p.tiktok.status,
        "publish_id": p.tiktok.publish_id,
        "uploaded_bytes": p.tiktok.uploaded_bytes,
        "video_size": p.tiktok.plan.map(|pl| pl.video_size),
        // A URL post: how much of the video TikTok has downloaded so far.
        "downloaded_bytes": p.tiktok.downloaded_bytes,
        "fail_reason": p.tiktok.fail_reason,
        "error": p.error_code.as_ref().map(|code| json!({ "code": code, "message": p.error_message })),
        "public_post_ids": p.tiktok.public_post_ids,
        "share_url": share_url,
        "media_deleted_at": p.media_deleted_at,
        // The posts sent together with this one from one compose (sharing its video).
        "group": p.group,
        "published_at": p.published_at,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
    })
}

/// The public view of an API key: never the key itself (only its prefix is stored readable).
pub fn key_json(k: &ApiKey) -> serde_json::Value {
    json!({
        "id": k.id,
        "name": k.name,
        "prefix": k.prefix,
        "created_at": k.created_at,
        "last_used_at": k.last_used_at,
        "scopes": k.scopes,
    })
}

/// One entry of the header's workspace switcher.
pub struct WorkspaceChoice {
    pub id: String,
    pub name: String,
    /// The user's personal workspace (shown with "(personal)").
    pub personal: bool,
    /// The one this page acts in (selected).
    pub current: bool,
}

/// What every page's header needs: who is signed in, which tab is active, the workspace
/// switcher, and the signed-in member's role there. Pages ask it what to offer ([`Nav::can`]
/// and the named checks below): the one place the UI reads the permission table
/// (`jobs::domain::workspaces::permissions`), so a page never offers what the server refuses.
pub struct Nav {
    /// The signed-in user's name; `None` on public pages viewed signed out.
    pub user: Option<String>,
    /// The active tab's path (`/compose`, …), for `aria-current`.
    pub active: &'static str,
    /// The user's workspaces, the current one marked; empty when signed out.
    pub workspaces: Vec<WorkspaceChoice>,
    /// The user's role in the current workspace; `None` when signed out.
    pub role: Option<Role>,
}

/// How a user is named on our pages: their name, else their email.
pub fn display_name(user: &User) -> String {
    if user.name.trim().is_empty() {
        user.email.clone()
    } else {
        user.name.clone()
    }
}

impl Nav {
    /// The header of a page `user` sees acting as `me`, with `active` as the current tab.
    pub async fn signed_in(
        store: &dyn Store,
        user: &User,
        me: &Actor,
        active: &'static str,
    ) -> Result<Self, StoreError> {
        let workspaces = store
            .workspaces_of(user.id)
            .await?
            .into_iter()
            .map(|(w, _)| WorkspaceChoice {
                id: w.id.to_string(),
                current: w.id == me.workspace,
                name: w.name,
                personal: w.personal,
            })
            .collect();
        Ok(Nav {
            user: Some(display_name(user)),
            active,
            workspaces,
            role: Some(me.role),
        })
    }

    /// The header of a page nobody is signed in to.
    pub fn signed_out(active: &'static str) -> Self {
        Nav {
            user: None,
            active,
            workspaces: Vec::new(),
            role: None,
        }
    }

    /// True when `path` is the active tab.
    pub fn is(&self, path: &str) -> bool {
        self.active == path
    }

    /// Whether the signed-in member's role allows `action` in the current workspace.
    pub fn can(&self, action: Action) -> bool {
        self.role.is_some_and(|r| r.can(action))
    }

    /// Compose, Campaigns and uploads (editors and up).
    pub fn can_post(&self) -> bool {
        self.can(Action::CreatePost)
    }

    /// Cancel, reschedule and retry posts (editors and up).
    pub fn can_edit_posts(&self) -> bool {
        self.can(Action::EditPost) && self.can(Action::CancelPost)
    }

    /// Connect, reconnect and disconnect TikTok accounts (admins and owners).
    pub fn can_manage_accounts(&self) -> bool {
        self.can(Action::ConnectAccount) && self.can(Action::DisconnectAccount)
    }

    /// Invite, change roles and remove members (admins and owners).
    pub fn can_manage_members(&self) -> bool {
        self.can(Action::ManageMembers)
    }

    /// Approve or reject posts waiting for approval: the Approvals tab (admins and owners).
    pub fn can_approve(&self) -> bool {
        self.can(Action::Approve)
    }

    /// List, create and revoke the workspace's API keys (admins and owners).
    pub fn can_manage_keys(&self) -> bool {
        self.can(Action::ManageApiKeys)
    }

    /// The current workspace's name, for headings.
    pub fn workspace_name(&self) -> &str {
        self.workspaces
            .iter()
            .find(|w| w.current)
            .map_or("", |w| w.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nav(role: Role) -> Nav {
        Nav {
            role: Some(role),
            ..Nav::signed_out("")
        }
    }

    #[test]
    fn the_header_offers_each_role_only_what_it_may_do() {
        let viewer = nav(Role::Viewer);
        assert!(!viewer.can_post() && !viewer.can_edit_posts());
        assert!(!viewer.can_manage_accounts() && !viewer.can_manage_members());
        assert!(viewer.can(Action::Read));
        let editor = nav(Role::Editor);
        assert!(editor.can_post() && editor.can_edit_posts());
        assert!(!editor.can_manage_accounts() && !editor.can_manage_keys());
        assert!(!editor.can_approve() && !viewer.can_approve());
        let admin = nav(Role::Admin);
        assert!(admin.can_manage_accounts() && admin.can_manage_members());
        assert!(admin.can_manage_keys() && !admin.can(Action::ManageSettings));
        assert!(admin.can_approve() && nav(Role::Owner).can_approve());
        assert!(nav(Role::Owner).can(Action::ManageSettings));
        assert!(!Nav::signed_out("/login").can(Action::Read));
    }
}
