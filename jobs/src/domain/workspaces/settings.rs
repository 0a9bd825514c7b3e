//! Making a workspace and changing its settings (its name, and whether an editor's posts wait
//! for approval). Any signed-in user may make one and is its first owner; changing the
//! settings is [`Action::ManageSettings`].

use super::permissions::Action;
use crate::domain::audit;
use crate::model::{Actor, User, Workspace, WorkspaceId};
use crate::store::{Store, StoreError};
use serde_json::json;

/// Audit kinds.
pub const WORKSPACE_CREATED: &str = "workspace_created";
pub const SETTINGS_CHANGED: &str = "workspace_settings_changed";

/// The longest workspace name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Why a workspace was not made or changed.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("a workspace needs a name")]
    EmptyName,
    #[error("a workspace name has at most {max} characters")]
    NameTooLong { max: usize },
    /// The member's role does not allow it (a member, so the workspace's existence is no
    /// secret to them: 403, not 404).
    #[error("your role in this workspace does not allow this")]
    InsufficientRole,
    /// `StaleState`: the workspace changed since the version the caller saw.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A name as it is stored: trimmed, not empty, at most [`MAX_NAME_CHARS`] characters, with no
/// control characters (it is shown in the header of every page).
pub fn valid_name(name: &str) -> Result<String, WorkspaceError> {
    let name = name.trim();
    if name.is_empty() || name.chars().all(char::is_control) {
        return Err(WorkspaceError::EmptyName);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(WorkspaceError::NameTooLong {
            max: MAX_NAME_CHARS,
        });
    }
    Ok(name.chars().filter(|c| !c.is_control()).collect())
}

/// Makes a workspace named `name` with `user` as its only owner (approval off).
pub async fn create(
    store: &dyn Store,
    user: &User,
    name: &str,
) -> Result<Workspace, WorkspaceError> {
    let ws = Workspace {
        id: WorkspaceId::new(),
        name: valid_name(name)?,
        personal: false,
        approval_required: false,
        created_at: chrono::Utc::now(),
        version: 1,
    };
    let ws = store.create_workspace(&ws, user.id).await?;
    audit::record(store, ws.id, Some(user.id), WORKSPACE_CREATED, json!({})).await;
    Ok(ws)
}

/// A change of settings; `None` leaves that setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsChange {
    pub name: Option<String>,
    pub approval_required: Option<bool>,
}

/// Changes the settings of `actor`'s workspace, if it is still at `expected_version` (the one
/// the actor saw: a change made meanwhile, to the settings or the members, is `StaleState`
/// rather than silently overwritten).
pub async fn update(
    store: &dyn Store,
    actor: impl Into<Actor>,
    expected_version: i64,
    change: &SettingsChange,
) -> Result<Workspace, WorkspaceError> {
    let actor = actor.into();
    if !actor.role.can(Action::ManageSettings) {
        return Err(WorkspaceError::InsufficientRole);
    }
    let name = change.name.as_deref().map(valid_name).transpose()?;
    let mut ws = store.workspace(actor.workspace).await?;
    if let Some(name) = name {
        ws.name = name;
    }
    if let Some(approval_required) = change.approval_required {
        ws.approval_required = approval_required;
    }
    let ws = store.update_workspace(&ws, expected_version).await?;
    let detail =
        json!({ "approval_required": ws.approval_required, "renamed": change.name.is_some() });
    audit::record(store, ws.id, Some(actor.user), SETTINGS_CHANGED, detail).await;
    Ok(ws)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::workspaces::test_support::{member_of, memory_store, signed_in};
    use crate::model::Role;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(valid_name("  Agency  ").expect("valid"), "Agency");
        assert_eq!(valid_name("A\u{7}gency").expect("valid"), "Agency");
        assert!(matches!(valid_name(" \t "), Err(WorkspaceError::EmptyName)));
        let long = "é".repeat(MAX_NAME_CHARS + 1);
        assert!(matches!(
            valid_name(&long),
            Err(WorkspaceError::NameTooLong {
                max: MAX_NAME_CHARS
            })
        ));
        assert!(valid_name(&"é".repeat(MAX_NAME_CHARS)).is_ok());
    }

    #[tokio::test]
    async fn the_creator_owns_the_new_workspace_and_only_an_owner_changes_its_settings() {
        let store = memory_store().await;
        let s = store.as_ref();
        let owner = signed_in(s, "owner").await;
        let ws = create(s, &owner, " Agency ").await.expect("create");
        assert_eq!(
            (ws.name.as_str(), ws.personal, ws.approval_required),
            ("Agency", false, false)
        );
        let me = s
            .member(ws.id, owner.id)
            .await
            .expect("member")
            .expect("a member");
        assert_eq!(me.role, Role::Owner);

        let change = SettingsChange {
            approval_required: Some(true),
            ..SettingsChange::default()
        };
        for role in [Role::Viewer, Role::Editor, Role::Admin] {
            let other = member_of(s, ws.id, role).await;
            let refused = update(s, &other, ws.version, &change).await;
            assert!(
                matches!(refused, Err(WorkspaceError::InsufficientRole)),
                "{role}"
            );
        }
        let current = s.workspace(ws.id).await.expect("workspace");
        assert!(!current.approval_required, "nothing changed");
        let stale = update(s, &me, ws.version, &change).await;
        assert!(
            matches!(stale, Err(WorkspaceError::Store(StoreError::StaleState))),
            "members joined since: the version moved on"
        );
        let changed = update(s, &me, current.version, &change)
            .await
            .expect("update");
        assert!(changed.approval_required);
        assert_eq!(changed.name, "Agency", "a name left out stays");
        let empty = SettingsChange {
            name: Some("  ".into()),
            ..SettingsChange::default()
        };
        let refused = update(s, &me, changed.version, &empty).await;
        assert!(matches!(refused, Err(WorkspaceError::EmptyName)));
    }
}
