//! The people of a workspace: listing them, changing a role, removing someone (or leaving).
//! Admins manage members who are not owners; only owners touch owners (make one, demote or
//! remove one); anyone may leave. The store keeps at least one owner (`LastOwner`) under races.
//! Removing someone ends their access at once: every request resolves the membership afresh,
//! and the API keys they made in the workspace are deleted with it.

use super::permissions::Action;
use crate::domain::audit;
use crate::model::{Actor, Member, Role, User, UserId};
use crate::store::{Store, StoreError};
use serde_json::json;

/// Audit kinds.
pub const MEMBER_ROLE_CHANGED: &str = "member_role_changed";
pub const MEMBER_REMOVED: &str = "member_removed";

/// Why a change of members was refused.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    /// The actor's role does not allow it (403 `insufficient_role`).
    #[error("your role in this workspace does not allow this")]
    InsufficientRole,
    /// `NotFound` for someone who is not a member; `LastOwner` for the last owner.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The members of `actor`'s workspace, each with their profile (name, email, picture: what
/// the members page shows), in user id order. Every member may see them.
pub async fn list(
    store: &dyn Store,
    actor: impl Into<Actor>,
) -> Result<Vec<(Member, User)>, StoreError> {
    let mut out = Vec::new();
    for m in store.members(actor.into().workspace).await? {
        match store.user(m.user_id).await {
            Ok(user) => out.push((m, user)),
            // Erased between the two reads: no longer a member either.
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// What `actor` needs to change `target` (holding `from`) into `to` (`None`: removal).
fn needed(from: Role, to: Option<Role>) -> Action {
    if from == Role::Owner || to == Some(Role::Owner) {
        Action::ManageOwners
    } else {
        Action::ManageMembers
    }
}

/// Gives `target` the role `role` in `actor`'s workspace.
pub async fn change_role(
    store: &dyn Store,
    actor: impl Into<Actor>,
    target: UserId,
    role: Role,
) -> Result<Member, MemberError> {
    let actor = actor.into();
    let ws = actor.workspace;
    let current = store
        .member(ws, target)
        .await?
        .ok_or(StoreError::NotFound)?;
    if !actor.role.can(needed(current.role, Some(role))) {
        return Err(MemberError::InsufficientRole);
    }
    let changed = store.put_member(&Member { role, ..current }).await?;
    let detail = json!({ "user_id": target, "from": current.role, "to": role });
    audit::record(store, ws, Some(actor.user), MEMBER_ROLE_CHANGED, detail).await;
    Ok(changed)
}

/// Removes `target` from `actor`'s workspace (`target == actor`: leaving), and deletes the API
/// keys they made there.
pub async fn remove(
    store: &dyn Store,
    actor: impl Into<Actor>,
    target: UserId,
) -> Result<(), MemberError> {
    let actor = actor.into();
    let ws = actor.workspace;
    let current = store
        .member(ws, target)
        .await?
        .ok_or(StoreError::NotFound)?;
    if target != actor.user && !actor.role.can(needed(current.role, None)) {
        return Err(MemberError::InsufficientRole);
    }
    store.remove_member(ws, target).await?;
    for key in store.list_api_keys(ws).await? {
        if key.user_id == target {
            match store.delete_api_key(ws, key.id).await {
                Ok(()) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    let detail = json!({ "user_id": target, "role": current.role });
    audit::record(store, ws, Some(actor.user), MEMBER_REMOVED, detail).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::workspaces::settings;
    use crate::domain::workspaces::test_support::{member_of, memory_store, signed_in};
    use crate::model::Actor;

    #[tokio::test]
    async fn admins_manage_members_but_only_owners_touch_owners() {
        let store = memory_store().await;
        let s = store.as_ref();
        let owner = signed_in(s, "owner").await;
        let ws = settings::create(s, &owner, "Agency").await.expect("create");
        let owner = s.member(ws.id, owner.id).await.unwrap().expect("owner");
        let admin = member_of(s, ws.id, Role::Admin).await;
        let editor = member_of(s, ws.id, Role::Editor).await;
        let viewer = member_of(s, ws.id, Role::Viewer).await;

        let promoted = change_role(s, &admin, viewer.user_id, Role::Editor).await;
        assert_eq!(
            promoted.expect("admin promotes a viewer").role,
            Role::Editor
        );
        let to_owner = change_role(s, &admin, editor.user_id, Role::Owner).await;
        assert!(matches!(to_owner, Err(MemberError::InsufficientRole)));
        let demote_owner = change_role(s, &admin, owner.user_id, Role::Viewer).await;
        assert!(matches!(demote_owner, Err(MemberError::InsufficientRole)));
        let by_editor = change_role(s, &editor, viewer.user_id, Role::Viewer).await;
        assert!(matches!(by_editor, Err(MemberError::InsufficientRole)));
        let last = change_role(s, &owner, owner.user_id, Role::Admin).await;
        assert!(matches!(
            last,
            Err(MemberError::Store(StoreError::LastOwner))
        ));
        let made = change_role(s, &owner, admin.user_id, Role::Owner).await;
        assert_eq!(made.expect("an owner makes an owner").role, Role::Owner);
        let listed = list(s, &viewer).await.expect("list");
        assert_eq!(listed.len(), 4);
    }

    #[tokio::test]
    async fn a_removed_members_keys_go_and_anyone_may_leave() {
        let store = memory_store().await;
        let s = store.as_ref();
        let owner = signed_in(s, "owner").await;
        let ws = settings::create(s, &owner, "Agency").await.expect("create");
        let owner = s.member(ws.id, owner.id).await.unwrap().expect("owner");
        let editor = member_of(s, ws.id, Role::Editor).await;
        let viewer = member_of(s, ws.id, Role::Viewer).await;
        let as_editor = Actor {
            user: editor.user_id,
            workspace: ws.id,
            role: Role::Editor,
        };
        let key = crate::domain::api_keys::create(s, as_editor, "script", &["read"]);
        let key = key.await.expect("key");
        let by_viewer = remove(s, &viewer, editor.user_id).await;
        assert!(matches!(by_viewer, Err(MemberError::InsufficientRole)));
        remove(s, &owner, editor.user_id).await.expect("remove");
        assert_eq!(s.member(ws.id, editor.user_id).await.unwrap(), None);
        let keys = s.list_api_keys(ws.id).await.expect("keys");
        assert!(keys.iter().all(|k| k.id != key.key.id), "their key is gone");
        remove(s, &viewer, viewer.user_id).await.expect("leave");
        let alone = remove(s, &owner, owner.user_id).await;
        assert!(matches!(
            alone,
            Err(MemberError::Store(StoreError::LastOwner))
        ));
        let audit = s.list_audit(ws.id, 10).await.expect("audit");
        let removals = audit.iter().filter(|e| e.kind == MEMBER_REMOVED).count();
        assert_eq!(removals, 2);
    }
}
