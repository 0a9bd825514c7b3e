//! Workspaces: the unit that owns accounts, posts, media, campaigns and API keys (issue #16),
//! and the people in one, each with one [`Role`]. What each role may do is
//! `domain::workspaces::permissions`; this is plain data.

use super::ids::{UserId, WorkspaceId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A workspace. A user's personal workspace has the user's own id (`WorkspaceId(user.id.0)`),
/// so making sure it exists is an insert-if-absent keyed by a known id on every backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    /// True for the workspace every user gets at first sign-in (its id is the user's).
    pub personal: bool,
    /// When on, an editor's post or campaign waits for an admin's approval.
    pub approval_required: bool,
    pub created_at: DateTime<Utc>,
    /// Grows with every change to the workspace or to its members (membership changes are
    /// serialized on it, so two of them can never both take the last owner away).
    pub version: i64,
}

impl Workspace {
    /// The name a personal workspace starts with.
    pub const PERSONAL_NAME: &'static str = "Personal";

    /// The id of `user`'s personal workspace.
    pub fn personal_id(user: UserId) -> WorkspaceId {
        WorkspaceId(user.0)
    }
}

/// A member's role, ordered by power: `Viewer < Editor < Admin < Owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
    Owner,
}

impl Role {
    /// Every role, weakest first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Editor, Role::Admin, Role::Owner];

    /// The spelling of the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UnknownRole> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A role name that is none of `owner`, `admin`, `editor`, `viewer`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?} (expected owner, admin, editor or viewer)")]
pub struct UnknownRole(pub String);

/// Who is acting, where, with what role: the caller of every request-side rule. A browser
/// session acts in the workspace chosen in the switcher; an API key in its own workspace, as
/// the member who made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub user: UserId,
    pub workspace: WorkspaceId,
    pub role: Role,
}

impl Actor {
    /// `user` as owner of their personal workspace (the scheduler and the tests act so).
    pub fn personal(user: UserId) -> Self {
        Self {
            user,
            workspace: Workspace::personal_id(user),
            role: Role::Owner,
        }
    }
}

/// A member acting in their workspace with their role.
impl From<&Member> for Actor {
    fn from(m: &Member) -> Self {
        Self {
            user: m.user_id,
            workspace: m.workspace_id,
            role: m.role,
        }
    }
}

/// One person in one workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub workspace_id: WorkspaceId,
    pub user_id: UserId,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_are_ordered_by_power() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Ok(r));
            let json = serde_json::to_string(&r).expect("serialize");
            assert_eq!(json, format!("\"{}\"", r.as_str()));
            assert_eq!(serde_json::from_str::<Role>(&json).expect("deserialize"), r);
        }
        assert!(Role::Viewer < Role::Editor && Role::Editor < Role::Admin);
        assert!(Role::Admin < Role::Owner);
        assert_eq!(Role::parse("Owner"), Err(UnknownRole("Owner".into())));
    }

    #[test]
    fn a_personal_workspace_has_its_users_id() {
        let user = UserId::new();
        assert_eq!(Workspace::personal_id(user).0, user.0);
    }
}
