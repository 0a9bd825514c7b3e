//! Workspaces: the personal workspace every user gets at sign-in, members and their roles, the
//! last owner (also under a race), isolation between workspaces, and erasure.

use super::fixtures::*;
use crate::model::{Member, Role, User, UserId, Workspace, WorkspaceId};
use crate::store::{DynStore, Store, StoreError};
use chrono::{DateTime, Duration, Utc};

fn member(ws: WorkspaceId, user: UserId, role: Role) -> Member {
    Member {
        workspace_id: ws,
        user_id: user,
        role,
        joined_at: now(),
    }
}

async fn put(s: &dyn Store, ws: WorkspaceId, user: UserId, role: Role) -> Member {
    s.put_member(&member(ws, user, role))
        .await
        .expect("put_member")
}

async fn roles(s: &dyn Store, ws: WorkspaceId) -> Vec<(UserId, Role)> {
    let members = s.members(ws).await.expect("members");
    members.into_iter().map(|m| (m.user_id, m.role)).collect()
}

fn personal(user: &User) -> WorkspaceId {
    Workspace::personal_id(user.id)
}

/// The first sign-in makes the user's personal workspace (its id is the user's) with the user
/// as its only owner; signing in again, or ensuring it again, makes no other.
pub async fn signing_in_makes_one_personal_workspace_owned_by_the_user(store: DynStore) {
    let s = store.as_ref();
    let uid = unique("google");
    let user = user_with_uid(s, &uid, "Owner").await;
    let ws = s
        .workspace(personal(&user))
        .await
        .expect("personal workspace");
    assert!(ws.personal && !ws.approval_required);
    assert_eq!(ws.name, Workspace::PERSONAL_NAME);
    assert_eq!(
        s.workspaces_of(user.id).await.expect("of"),
        vec![(ws.clone(), Role::Owner)]
    );
    assert_eq!(roles(s, ws.id).await, vec![(user.id, Role::Owner)]);

    let again = user_with_uid(s, &uid, "Renamed").await;
    assert_eq!(again.id, user.id);
    let ensured = s.ensure_personal_workspace(&again).await.expect("ensure");
    assert_eq!(
        ensured, ws,
        "an existing personal workspace is returned unchanged"
    );
    assert_eq!(
        s.workspaces_of(user.id).await.expect("of"),
        vec![(ws.clone(), Role::Owner)]
    );
    assert_eq!(roles(s, ws.id).await, vec![(user.id, Role::Owner)]);
    assert_not_found!(s.workspace(WorkspaceId::new()).await, "unknown workspace");
}

/// Members are added, have their role changed (keeping when they joined), are listed in user
/// id order, and are removed; every change moves the workspace's version.
pub async fn members_are_added_changed_listed_and_removed(store: DynStore) {
    let s = store.as_ref();
    let (owner, other) = (new_user(s).await, new_user(s).await);
    let ws = personal(&owner);
    let before = s.workspace(ws).await.expect("workspace").version;
    let added = put(s, ws, other.id, Role::Editor).await;
    assert_eq!(
        s.member(ws, other.id).await.expect("member"),
        Some(added.clone())
    );
    let mut later = member(ws, other.id, Role::Admin);
    later.joined_at = added.joined_at + Duration::hours(1);
    let changed = s.put_member(&later).await.expect("change role");
    assert_eq!(changed.role, Role::Admin);
    assert_eq!(changed.joined_at, added.joined_at, "joined_at stays");
    let mut expected = vec![(owner.id, Role::Owner), (other.id, Role::Admin)];
    expected.sort();
    assert_eq!(roles(s, ws).await, expected);
    let of_other = s.workspaces_of(other.id).await.expect("of");
    let ids: Vec<(WorkspaceId, Role)> = of_other.iter().map(|(w, r)| (w.id, *r)).collect();
    assert_eq!(
        ids,
        vec![(personal(&other), Role::Owner), (ws, Role::Admin)]
    );
    assert!(s.workspace(ws).await.expect("workspace").version >= before + 2);

    s.remove_member(ws, other.id).await.expect("remove");
    assert_eq!(s.member(ws, other.id).await.expect("member"), None);
    assert_eq!(roles(s, ws).await, vec![(owner.id, Role::Owner)]);
    assert_not_found!(s.remove_member(ws, other.id).await, "removing twice");
    let nowhere = member(WorkspaceId::new(), other.id, Role::Viewer);
    assert_not_found!(s.put_member(&nowhere).await, "unknown workspace");
    let nobody = member(ws, UserId::new(), Role::Viewer);
    assert_not_found!(s.put_member(&nobody).await, "unknown user");
    assert_eq!(roles(s, ws).await, vec![(owner.id, Role::Owner)]);
}

/// The last owner can be neither removed nor demoted; with a second owner either can go.
pub async fn the_last_owner_can_be_neither_removed_nor_demoted(store: DynStore) {
    let s = store.as_ref();
    let (a, b) = (new_user(s).await, new_user(s).await);
    let ws = personal(&a);
    let demote = s.put_member(&member(ws, a.id, Role::Admin)).await;
    assert_err!(demote, StoreError::LastOwner, "demoting the last owner");
    assert_err!(
        s.remove_member(ws, a.id).await,
        StoreError::LastOwner,
        "removing it"
    );
    assert_eq!(roles(s, ws).await, vec![(a.id, Role::Owner)]);

    put(s, ws, b.id, Role::Owner).await;
    assert_eq!(put(s, ws, a.id, Role::Viewer).await.role, Role::Viewer);
    assert_err!(
        s.remove_member(ws, b.id).await,
        StoreError::LastOwner,
        "now b is the last"
    );
    put(s, ws, a.id, Role::Owner).await;
    s.remove_member(ws, b.id)
        .await
        .expect("one of two owners leaves");
    assert_eq!(roles(s, ws).await, vec![(a.id, Role::Owner)]);
}

/// Two owners demoting (or removing) each other at the same moment: one wins, the other is
/// `LastOwner`, and the workspace keeps exactly one owner.
pub async fn racing_owners_cannot_leave_a_workspace_without_one(store: DynStore) {
    let (a, b) = (
        new_user(store.as_ref()).await,
        new_user(store.as_ref()).await,
    );
    let ws = personal(&a);
    for round in 0..4 {
        put(store.as_ref(), ws, b.id, Role::Owner).await;
        put(store.as_ref(), ws, a.id, Role::Owner).await;
        let results = race(2, |i| {
            let store = store.clone();
            let target = [a.id, b.id][i];
            async move {
                if round % 2 == 0 {
                    store
                        .put_member(&member(ws, target, Role::Editor))
                        .await
                        .map(drop)
                } else {
                    store.remove_member(ws, target).await
                }
            }
        })
        .await;
        let won = results.iter().filter(|r| r.is_ok()).count();
        let refused = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::LastOwner)));
        assert_eq!((won, refused.count()), (1, 1), "round {round}: {results:?}");
        let owners = roles(store.as_ref(), ws).await;
        let owners = owners.iter().filter(|(_, r)| *r == Role::Owner).count();
        assert_eq!(owners, 1, "round {round}");
    }
}

/// A workspace's members are not visible through another workspace.
pub async fn members_of_another_workspace_are_not_visible(store: DynStore) {
    let s = store.as_ref();
    let (a, b, c) = (new_user(s).await, new_user(s).await, new_user(s).await);
    put(s, personal(&a), b.id, Role::Editor).await;
    assert_eq!(roles(s, personal(&c)).await, vec![(c.id, Role::Owner)]);
    assert_eq!(s.member(personal(&c), b.id).await.expect("member"), None);
    assert_eq!(s.member(personal(&c), a.id).await.expect("member"), None);
    let of_c = s.workspaces_of(c.id).await.expect("of");
    assert_eq!(of_c.len(), 1);
    assert_eq!(of_c[0].0.id, personal(&c));
}

/// Erasing a user deletes its personal workspace with everyone's membership of it, and its
/// memberships of other workspaces; the others' workspaces stay.
pub async fn erasing_a_user_removes_its_workspace_and_memberships(store: DynStore) {
    let s = store.as_ref();
    let (gone, kept) = (new_user(s).await, new_user(s).await);
    put(s, personal(&gone), kept.id, Role::Editor).await;
    put(s, personal(&kept), gone.id, Role::Admin).await;
    s.erase_user(gone.id).await.expect("erase_user");

    assert_not_found!(
        s.workspace(personal(&gone)).await,
        "erased personal workspace"
    );
    assert!(
        s.members(personal(&gone))
            .await
            .expect("members")
            .is_empty()
    );
    assert!(s.workspaces_of(gone.id).await.expect("of").is_empty());
    assert_eq!(
        roles(s, personal(&kept)).await,
        vec![(kept.id, Role::Owner)]
    );
    let of_kept = s.workspaces_of(kept.id).await.expect("of");
    let ids: Vec<(WorkspaceId, Role)> = of_kept.iter().map(|(w, r)| (w.id, *r)).collect();
    assert_eq!(ids, vec![(personal(&kept), Role::Owner)]);
}

// ---- for the migration tests of the SQL backends ----

/// The last migration before workspaces existed.
pub const LAST_MIGRATION_BEFORE_WORKSPACES: i64 = 4;

/// Three users as they were written before workspaces existed (ids and creation instants),
/// and the one `INSERT` that writes them. Its literals read the same in both SQL dialects
/// (SQLite keeps the text; PostgreSQL casts it to `uuid` and `timestamptz`).
pub fn earlier_users() -> (Vec<(UserId, DateTime<Utc>)>, String) {
    let users: Vec<(UserId, DateTime<Utc>)> = (1..=3)
        .map(|day| (UserId::new(), era(2020) + Duration::days(day)))
        .collect();
    let rows: Vec<String> = users
        .iter()
        .map(|(id, at)| {
            let at = at.format("%Y-%m-%dT%H:%M:%S%.6fZ");
            format!("('{id}', 'uid-{id}', 'e@example.test', 'E', '{at}', '{at}')")
        })
        .collect();
    let insert = format!(
        "INSERT INTO users (id, google_uid, email, name, created_at, updated_at) VALUES {}",
        rows.join(", ")
    );
    (users, insert)
}

/// The backfill of a workspace migration: its text from the `-- Backfill` comment on.
pub fn backfill_of(migration: &'static str) -> &'static str {
    let start = migration
        .find("-- Backfill")
        .expect("the migration has a backfill");
    &migration[start..]
}

/// After the workspace migration ran on a database holding `earlier` (users written before
/// it, with their `created_at`): each has its personal workspace, created when the user was,
/// with the user as its owner. Then the first user makes the second an owner and steps down
/// to admin, and `run_again` (the backfill, once more) must change nothing, that included.
pub async fn the_backfill_covers_earlier_users(
    store: &dyn Store,
    earlier: &[(UserId, DateTime<Utc>)],
    run_again: impl std::future::Future<Output = ()>,
) {
    for (id, created_at) in earlier {
        let of = store.workspaces_of(*id).await.expect("workspaces_of");
        let [(ws, role)] = of.as_slice() else {
            panic!("one personal workspace each, got {of:?}");
        };
        assert_eq!((ws.id, *role), (Workspace::personal_id(*id), Role::Owner));
        assert!(ws.personal && !ws.approval_required && ws.name == Workspace::PERSONAL_NAME);
        assert_eq!(ws.created_at, *created_at);
    }
    let ws = Workspace::personal_id(earlier[0].0);
    put(store, ws, earlier[1].0, Role::Owner).await;
    put(store, ws, earlier[0].0, Role::Admin).await;
    let before = workspaces_of_each(store, earlier).await;
    run_again.await;
    let after = workspaces_of_each(store, earlier).await;
    assert_eq!(after, before, "running the backfill again changes nothing");
}

async fn workspaces_of_each(
    store: &dyn Store,
    users: &[(UserId, DateTime<Utc>)],
) -> Vec<Vec<(Workspace, Role)>> {
    let each = users.iter().map(|(id, _)| store.workspaces_of(*id));
    futures::future::try_join_all(each)
        .await
        .expect("workspaces_of")
}
