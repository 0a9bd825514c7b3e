//! What the unit tests of this module share: a private in-memory store and its people.

use crate::model::{GoogleProfile, Member, Role, User, WorkspaceId};
use crate::store::{DynStore, Store, sqlite::SqliteStore};
use std::sync::Arc;
use uuid::Uuid;

/// A fresh, migrated in-memory SQLite store.
pub(super) async fn memory_store() -> DynStore {
    let store = SqliteStore::connect("sqlite::memory:").await;
    Arc::new(store.expect("in-memory store"))
}

/// Signs a new person in, with the email `{name}-{random}@Example.test` (mixed case, as Google
/// may send it).
pub(super) async fn signed_in(store: &dyn Store, name: &str) -> User {
    let uid = Uuid::new_v4().simple().to_string();
    let profile = GoogleProfile {
        google_uid: uid.clone(),
        email: format!("{name}-{uid}@Example.test"),
        name: name.to_owned(),
        picture: None,
    };
    store.upsert_user(&profile).await.expect("sign in")
}

/// A new person who is a member of `ws` with `role`.
pub(super) async fn member_of(store: &dyn Store, ws: WorkspaceId, role: Role) -> Member {
    let user = signed_in(store, role.as_str()).await;
    let member = Member {
        workspace_id: ws,
        user_id: user.id,
        role,
        joined_at: chrono::Utc::now(),
    };
    store.put_member(&member).await.expect("put_member")
}
