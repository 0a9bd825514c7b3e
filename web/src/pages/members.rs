//! `/members`: the people of the current workspace with their roles; for those who manage
//! members (admins: everyone but owners; owners: everyone) a role picker and Remove on each
//! row, the open invitations with Revoke, and the invite form, which shows the new single-use
//! link once with a Copy button; for everyone, Leave on their own row (not in a personal
//! workspace); for owners, whether editors' posts need approval. The script
//! (`/static/members.js`) calls `/api/workspaces/current/…`, which checks everything again.

use super::frame::{SignedInSession, render};
use crate::error::{ApiError, PageError};
use crate::state::AppState;
use crate::views::{Nav, display_name};
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use chrono::SecondsFormat;
use jobs::domain::workspaces::{Action, invitations, members};
use jobs::model::Role;

/// Whether a member with `me` may change or remove a member holding `target` (the domain's
/// rule, `jobs::domain::workspaces::members`: only owners touch owners).
fn may_manage(me: Role, target: Role) -> bool {
    let needed = if target == Role::Owner {
        Action::ManageOwners
    } else {
        Action::ManageMembers
    };
    me.can(Action::ManageMembers) && me.can(needed)
}

/// The roles `me` may give (by changing a role or inviting): none for those who do not manage
/// members, all but owner for admins, all for owners.
fn grantable(me: Role) -> Vec<Role> {
    Role::ALL
        .into_iter()
        .filter(|r| may_manage(me, *r))
        .collect()
}

/// One member as the page lists them.
pub struct MemberRow {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    /// The signed-in user's own row (Leave instead of Remove).
    pub is_me: bool,
    /// The roles this row's picker offers; empty when the viewer may not manage this member.
    pub choices: Vec<Role>,
}

/// One open invitation.
pub struct InvitationRow {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub expires: String,
    pub expires_iso: String,
}

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    nav: Nav,
    workspace: String,
    personal: bool,
    members: Vec<MemberRow>,
    invitations: Vec<InvitationRow>,
    /// The roles the invite form offers; empty hides the form and the invitations.
    invite_roles: Vec<Role>,
    /// For owners: (approval required, the workspace's version for the compare-and-set).
    approval: Option<(bool, i64)>,
}

/// `GET /members`.
pub async fn page(
    State(state): State<AppState>,
    SignedInSession(user, me): SignedInSession,
) -> Result<Response, PageError> {
    let store = &*state.store;
    let workspace = store.workspace(me.workspace).await?;
    let people = members::list(store, me).await.map_err(ApiError::from)?;
    let members = people
        .into_iter()
        .map(|(m, u)| {
            let is_me = m.user_id == user.id;
            MemberRow {
                user_id: m.user_id.to_string(),
                name: display_name(&u),
                email: u.email,
                role: m.role,
                is_me,
                choices: match is_me || !may_manage(me.role, m.role) {
                    true => Vec::new(),
                    false => grantable(me.role),
                },
            }
        })
        .collect();
    let invite_roles = if workspace.personal {
        Vec::new()
    } else {
        grantable(me.role)
    };
    let invitations = if invite_roles.is_empty() {
        Vec::new()
    } else {
        let open = invitations::pending(store, me)
            .await
            .map_err(ApiError::from)?;
        open.into_iter()
            .map(|i| InvitationRow {
                id: i.id.to_string(),
                email: i.email,
                role: i.role,
                expires: i.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                expires_iso: i.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            })
            .collect()
    };
    let approval = me
        .role
        .can(Action::ManageSettings)
        .then_some((workspace.approval_required, workspace.version));
    render(&MembersPage {
        nav: Nav::signed_in(store, &user, &me, "/members").await?,
        workspace: workspace.name,
        personal: workspace.personal,
        members,
        invitations,
        invite_roles,
        approval,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admins_manage_everyone_but_owners_and_owners_everyone() {
        use Role::*;
        assert_eq!(grantable(Owner), vec![Viewer, Editor, Admin, Owner]);
        assert_eq!(grantable(Admin), vec![Viewer, Editor, Admin]);
        assert!(grantable(Editor).is_empty() && grantable(Viewer).is_empty());
        assert!(may_manage(Admin, Admin) && !may_manage(Admin, Owner));
        assert!(may_manage(Owner, Owner) && !may_manage(Editor, Viewer));
    }
}
