//! API keys (found by hash, scopes) and audit events.

use super::fixtures::*;
use crate::model::{ApiKeyId, ApiKeyScope, ApiKeyScopes};
use crate::store::{DynStore, StoreError};
use chrono::Duration;

/// API keys: listed per user, found by hash (unique), touched, and deleted.
pub async fn api_keys_are_found_by_hash_and_deleted(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    let key = new_key(store.as_ref(), user.id).await;
    assert_eq!(
        store.list_api_keys(ws_of(user.id)).await.expect("list"),
        vec![key.clone()]
    );
    assert_eq!(
        store.api_key_by_hash(&key.hash).await.expect("by hash"),
        Some(key.clone())
    );
    assert_eq!(
        store
            .api_key_by_hash(&unique("sha256"))
            .await
            .expect("unknown hash"),
        None
    );

    let mut twin = key_for(user.id);
    twin.hash = key.hash.clone();
    assert_err!(
        store.create_api_key(&twin).await,
        StoreError::Conflict(_),
        "a second key with the same hash"
    );

    let used = now();
    store
        .touch_api_key(key.id, used)
        .await
        .expect("touch_api_key");
    let touched = store
        .api_key_by_hash(&key.hash)
        .await
        .expect("by hash")
        .expect("still there");
    assert_eq!(touched.last_used_at, Some(used));
    assert_not_found!(
        store.touch_api_key(ApiKeyId::new(), used).await,
        "touching a missing key"
    );

    store
        .delete_api_key(ws_of(user.id), key.id)
        .await
        .expect("delete_api_key");
    assert!(
        store
            .list_api_keys(ws_of(user.id))
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        store.api_key_by_hash(&key.hash).await.expect("by hash"),
        None
    );
    assert_not_found!(
        store.delete_api_key(ws_of(user.id), key.id).await,
        "deleting twice"
    );
}

/// A key's scopes come back exactly as chosen, through every read (list, by hash).
pub async fn api_key_scopes_are_stored_as_chosen(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    for scopes in [
        ApiKeyScopes::of([ApiKeyScope::Publish]),
        ApiKeyScopes::of([ApiKeyScope::Accounts, ApiKeyScope::Read]),
        ApiKeyScopes::of(ApiKeyScope::ALL),
    ] {
        let mut key = key_for(user.id);
        key.scopes = scopes.clone();
        store.create_api_key(&key).await.expect("create_api_key");
        let found = store
            .api_key_by_hash(&key.hash)
            .await
            .expect("by hash")
            .expect("found");
        assert_eq!(found.scopes, scopes);
        assert_eq!(found, key);
    }
    let listed = store.list_api_keys(ws_of(user.id)).await.expect("list");
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0].scopes, ApiKeyScopes::of([ApiKeyScope::Publish]));
}

/// Audit events come back whole, newest first, up to the limit, for their user only.
pub async fn audit_events_are_listed_newest_first(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    let other = new_user(store.as_ref()).await;
    let t0 = now();
    let mut events = Vec::new();
    for i in 0..5 {
        let e = event_for(user.id, "post_published", t0 + Duration::seconds(i));
        store.record_audit(&e).await.expect("record_audit");
        events.push(e);
    }
    events.reverse();
    assert_eq!(
        store.list_audit(ws_of(user.id), 3).await.expect("audit"),
        events[..3]
    );
    assert_eq!(
        store.list_audit(ws_of(user.id), 10).await.expect("audit"),
        events
    );
    assert!(
        store
            .list_audit(ws_of(other.id), 10)
            .await
            .expect("audit")
            .is_empty()
    );
}
