//! Workspaces made and set by their members (creation with an owner, settings by
//! compare-and-set) and invitations: stored, found by their token's hash, listed while open,
//! revoked, and accepted exactly once (also under a race), never when expired or revoked, never
//! across workspaces.

use super::fixtures::*;
use crate::model::{Invitation, InvitationId, Member, Role, User, UserId, Workspace, WorkspaceId};
use crate::store::{DynStore, Store, StoreError};
use chrono::{DateTime, Duration, Utc};

/// An open invitation to `ws` (for an address of its own), by `inviter`, created at `at`.
fn invitation_for(
    ws: WorkspaceId,
    inviter: Option<UserId>,
    role: Role,
    at: DateTime<Utc>,
) -> Invitation {
    Invitation {
        id: InvitationId::new(),
        workspace_id: ws,
        email: format!("{}@example.test", unique("invitee")),
        role,
        invited_by: inviter,
        token_hash: unique("sha256"),
        created_at: at,
        expires_at: at + Invitation::LIFETIME,
        accepted_at: None,
        accepted_by: None,
        revoked_at: None,
    }
}

async fn invite(s: &dyn Store, ws: WorkspaceId, inviter: &User, role: Role) -> Invitation {
    let inv = invitation_for(ws, Some(inviter.id), role, now());
    s.create_invitation(&inv).await.expect("create_invitation");
    inv
}

fn personal(user: &User) -> WorkspaceId {
    Workspace::personal_id(user.id)
}

fn team(name: &str) -> Workspace {
    Workspace {
        id: WorkspaceId::new(),
        name: name.to_owned(),
        personal: false,
        approval_required: true,
        created_at: now(),
        version: 7,
    }
}

async fn by_hash(s: &dyn Store, inv: &Invitation) -> Invitation {
    let found = s.invitation_by_token_hash(&inv.token_hash).await;
    found.expect("by hash").expect("the invitation is there")
}

async fn open_ids(s: &dyn Store, ws: WorkspaceId) -> Vec<InvitationId> {
    let open = s.pending_invitations(ws).await.expect("pending");
    open.iter().map(|i| i.id).collect()
}

/// Invitations read back whole by their token's hash, are listed newest first while open, and
/// once revoked (idempotently) are neither listed nor revocable differently.
pub async fn invitations_are_created_found_by_hash_listed_and_revoked(store: DynStore) {
    let s = store.as_ref();
    let owner = new_user(s).await;
    let ws = personal(&owner);
    let older = invitation_for(ws, Some(owner.id), Role::Viewer, now() - Duration::hours(1));
    s.create_invitation(&older).await.expect("create older");
    let newer = invite(s, ws, &owner, Role::Admin).await;
    assert_eq!(by_hash(s, &older).await, older, "every field is stored");
    assert_eq!(by_hash(s, &newer).await, newer);
    let unknown = s.invitation_by_token_hash(&unique("sha256")).await;
    assert_eq!(unknown.expect("unknown hash"), None);
    assert_eq!(
        open_ids(s, ws).await,
        vec![newer.id, older.id],
        "newest first"
    );

    let mut twin = invitation_for(ws, Some(owner.id), Role::Viewer, now());
    twin.token_hash = newer.token_hash.clone();
    assert_err!(
        s.create_invitation(&twin).await,
        StoreError::Conflict(_),
        "a second invitation with the same token hash"
    );
    let nowhere = invitation_for(WorkspaceId::new(), Some(owner.id), Role::Viewer, now());
    assert_not_found!(s.create_invitation(&nowhere).await, "unknown workspace");

    let revoked = s.revoke_invitation(ws, older.id).await.expect("revoke");
    let at = revoked.revoked_at.expect("revoked_at is set");
    assert_eq!(
        Invitation {
            revoked_at: None,
            ..revoked
        },
        older
    );
    let again = s
        .revoke_invitation(ws, older.id)
        .await
        .expect("revoke again");
    assert_eq!(again.revoked_at, Some(at), "the first instant stays");
    assert_eq!(by_hash(s, &older).await.revoked_at, Some(at));
    assert_eq!(open_ids(s, ws).await, vec![newer.id]);
    assert_not_found!(
        s.revoke_invitation(ws, InvitationId::new()).await,
        "unknown invitation"
    );
}

/// Accepting makes the user a member with the invited role, marks the invitation accepted by
/// them, and works once; an existing member keeps the higher of the two roles.
pub async fn accepting_an_invitation_adds_the_member_once(store: DynStore) {
    let s = store.as_ref();
    let (owner, ana, bo) = (new_user(s).await, new_user(s).await, new_user(s).await);
    let ws = personal(&owner);
    let version = s.workspace(ws).await.expect("workspace").version;
    let inv = invite(s, ws, &owner, Role::Editor).await;
    let at = now();
    let member = s
        .accept_invitation(inv.id, ana.id, at)
        .await
        .expect("accept");
    let expected = Member {
        workspace_id: ws,
        user_id: ana.id,
        role: Role::Editor,
        joined_at: at,
    };
    assert_eq!(member, expected);
    assert_eq!(s.member(ws, ana.id).await.expect("member"), Some(expected));
    let stored = by_hash(s, &inv).await;
    assert_eq!(
        (stored.accepted_at, stored.accepted_by),
        (Some(at), Some(ana.id))
    );
    assert!(
        open_ids(s, ws).await.is_empty(),
        "an accepted one is not listed"
    );
    assert!(s.workspace(ws).await.expect("workspace").version > version);
    assert_err!(
        s.accept_invitation(inv.id, bo.id, now()).await,
        StoreError::StaleState,
        "a used invitation"
    );
    assert_eq!(s.member(ws, bo.id).await.expect("member"), None);
    assert_not_found!(
        s.revoke_invitation(ws, inv.id).await,
        "an accepted invitation is no longer revocable"
    );

    // Already an admin: a viewer invitation keeps admin; an owner one promotes.
    let admin = Member {
        role: Role::Admin,
        ..member.clone()
    };
    s.put_member(&admin).await.expect("promote to admin");
    let weaker = invite(s, ws, &owner, Role::Viewer).await;
    let kept = s.accept_invitation(weaker.id, ana.id, now()).await;
    let kept = kept.expect("accept a weaker role");
    assert_eq!((kept.role, kept.joined_at), (Role::Admin, at));
    let stronger = invite(s, ws, &owner, Role::Owner).await;
    let promoted = s.accept_invitation(stronger.id, ana.id, now()).await;
    assert_eq!(promoted.expect("accept a stronger role").role, Role::Owner);

    assert_not_found!(
        s.accept_invitation(InvitationId::new(), bo.id, now()).await,
        "unknown invitation"
    );
    let open = invite(s, ws, &owner, Role::Viewer).await;
    assert_not_found!(
        s.accept_invitation(open.id, UserId::new(), now()).await,
        "unknown user"
    );
    assert_eq!(by_hash(s, &open).await, open, "a refusal writes nothing");
}

/// An invitation past its expiry, or revoked, is refused and nobody joins.
pub async fn expired_and_revoked_invitations_are_refused(store: DynStore) {
    let s = store.as_ref();
    let (owner, ana) = (new_user(s).await, new_user(s).await);
    let ws = personal(&owner);
    let inv = invite(s, ws, &owner, Role::Editor).await;
    assert_err!(
        s.accept_invitation(inv.id, ana.id, inv.expires_at).await,
        StoreError::StaleState,
        "accepting at the expiry"
    );
    let late = inv.expires_at + Duration::days(1);
    assert_err!(
        s.accept_invitation(inv.id, ana.id, late).await,
        StoreError::StaleState,
        "accepting after the expiry"
    );
    assert_eq!(by_hash(s, &inv).await, inv, "refused: nothing written");

    let revoked = invite(s, ws, &owner, Role::Editor).await;
    s.revoke_invitation(ws, revoked.id).await.expect("revoke");
    assert_err!(
        s.accept_invitation(revoked.id, ana.id, now()).await,
        StoreError::StaleState,
        "a revoked invitation"
    );
    assert_eq!(s.member(ws, ana.id).await.expect("member"), None);
    let last = inv.expires_at - Duration::seconds(1);
    let member = s.accept_invitation(inv.id, ana.id, last).await;
    assert_eq!(member.expect("just before the expiry").role, Role::Editor);
}

/// Sixteen people accept one invitation at the same moment: exactly one joins, the others are
/// refused (`StaleState`), and the invitation names the winner.
pub async fn racing_acceptances_of_one_invitation_have_one_winner(store: DynStore) {
    let owner = new_user(store.as_ref()).await;
    let ws = personal(&owner);
    let inv = invite(store.as_ref(), ws, &owner, Role::Editor).await;
    let mut users = Vec::new();
    for _ in 0..16 {
        users.push(new_user(store.as_ref()).await.id);
    }
    let results = race(16, |i| {
        let (store, user) = (store.clone(), users[i]);
        async move { store.accept_invitation(inv.id, user, now()).await }
    })
    .await;
    let (winners, refused) = winners(results, "acceptance");
    assert_eq!((winners.len(), refused), (1, 15), "one acceptance wins");
    let winner = winners[0].user_id;
    let members = store.members(ws).await.expect("members");
    let mut joined: Vec<UserId> = members.iter().map(|m| m.user_id).collect();
    joined.sort();
    let mut expected = vec![owner.id, winner];
    expected.sort();
    assert_eq!(joined, expected, "only the winner joined");
    let stored = by_hash(store.as_ref(), &inv).await;
    assert_eq!(stored.accepted_by, Some(winner));
}

/// Another workspace's invitation is not revocable (`NotFound`, like a missing one) and stays
/// open; workspaces list only their own.
pub async fn another_workspaces_invitation_cannot_be_revoked(store: DynStore) {
    let s = store.as_ref();
    let (a, b) = (new_user(s).await, new_user(s).await);
    let of_a = invite(s, personal(&a), &a, Role::Viewer).await;
    let of_b = invite(s, personal(&b), &b, Role::Viewer).await;
    assert_not_found!(
        s.revoke_invitation(personal(&b), of_a.id).await,
        "revoking another workspace's invitation"
    );
    assert_eq!(by_hash(s, &of_a).await, of_a, "left as it was");
    assert_eq!(open_ids(s, personal(&a)).await, vec![of_a.id]);
    assert_eq!(open_ids(s, personal(&b)).await, vec![of_b.id]);
    assert!(open_ids(s, WorkspaceId::new()).await.is_empty());
}

/// A new workspace is stored with its creator as its only owner, at version 1; its settings
/// change by compare-and-set on the version (never its id, `personal` or creation time).
pub async fn workspaces_are_created_and_their_settings_are_compare_and_set(store: DynStore) {
    let s = store.as_ref();
    let owner = new_user(s).await;
    let wanted = team("Agency");
    let created = s.create_workspace(&wanted, owner.id).await.expect("create");
    let expected = Workspace {
        version: 1,
        ..wanted.clone()
    };
    assert_eq!(created, expected);
    assert_eq!(s.workspace(wanted.id).await.expect("read"), expected);
    let members = s.members(wanted.id).await.expect("members");
    let roles: Vec<(UserId, Role)> = members.iter().map(|m| (m.user_id, m.role)).collect();
    assert_eq!(roles, vec![(owner.id, Role::Owner)]);
    let of_owner = s.workspaces_of(owner.id).await.expect("of");
    assert!(of_owner.contains(&(expected.clone(), Role::Owner)));

    assert_err!(
        s.create_workspace(&wanted, owner.id).await,
        StoreError::Conflict(_),
        "a taken id"
    );
    let personal_one = Workspace {
        personal: true,
        ..team("Mine")
    };
    assert_err!(
        s.create_workspace(&personal_one, owner.id).await,
        StoreError::Conflict(_),
        "a personal workspace"
    );
    let orphan = team("Nobody's");
    assert_not_found!(
        s.create_workspace(&orphan, UserId::new()).await,
        "unknown owner"
    );
    assert_not_found!(s.workspace(orphan.id).await, "nothing of it was stored");

    let renamed = Workspace {
        name: "Agency & Co".into(),
        approval_required: false,
        personal: true,
        created_at: created.created_at - Duration::days(1),
        ..created.clone()
    };
    let updated = s.update_workspace(&renamed, 1).await.expect("update");
    let expected = Workspace {
        name: "Agency & Co".into(),
        approval_required: false,
        version: 2,
        ..created.clone()
    };
    assert_eq!(updated, expected, "only the name and approval change");
    assert_eq!(s.workspace(created.id).await.expect("read"), expected);
    assert_err!(
        s.update_workspace(&renamed, 1).await,
        StoreError::StaleState,
        "a stale version"
    );
    assert_eq!(s.workspace(created.id).await.expect("read"), expected);
    let gone = team("Gone");
    assert_not_found!(s.update_workspace(&gone, 1).await, "unknown workspace");
}

/// Erasing people who invited, who accepted, or whose personal workspace has open invitations
/// works, and leaves the invitations of the workspaces that stay open and findable.
pub async fn erasing_people_keeps_the_invitations_of_workspaces_that_stay(store: DynStore) {
    let s = store.as_ref();
    let (owner, admin, joined, other) = (
        new_user(s).await,
        new_user(s).await,
        new_user(s).await,
        new_user(s).await,
    );
    let ws = s.create_workspace(&team("Stays"), owner.id).await;
    let ws = ws.expect("create").id;
    s.put_member(&Member {
        workspace_id: ws,
        user_id: admin.id,
        role: Role::Admin,
        joined_at: now(),
    })
    .await
    .expect("add the admin");
    let by_admin = invite(s, ws, &admin, Role::Viewer).await;
    let accepted = invite(s, ws, &owner, Role::Editor).await;
    s.accept_invitation(accepted.id, joined.id, now())
        .await
        .expect("accept");
    invite(s, personal(&other), &other, Role::Editor).await;

    for gone in [&admin, &joined, &other] {
        s.erase_user(gone.id).await.expect("erase_user");
    }
    assert_eq!(s.member(ws, joined.id).await.expect("member"), None);
    assert_eq!(open_ids(s, ws).await, vec![by_admin.id]);
    let found = by_hash(s, &by_admin).await;
    assert_eq!((found.id, found.accepted_at), (by_admin.id, None));
    let member = s.accept_invitation(by_admin.id, owner.id, now()).await;
    assert_eq!(
        member.expect("still acceptable").role,
        Role::Owner,
        "the owner keeps the higher role"
    );
}
