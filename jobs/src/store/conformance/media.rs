//! Media: round trips, attaching, the staging quota, expiry, and key re-wrapping.

use super::fixtures::*;
use crate::model::{AccountId, Media, MediaId, PostId, PostState};
use crate::store::{DynStore, StoreError};
use chrono::Duration;

/// `staged_bytes` is the sum of the user's media rows, attached or not, and forgets deleted
/// ones and other users' media.
pub async fn staged_bytes_sum_the_media_a_user_still_holds(store: DynStore) {
    let s = store.as_ref();
    let user = new_user(s).await;
    let other = new_user(s).await;
    assert_eq!(s.staged_bytes(ws_of(user.id)).await.expect("empty"), 0);
    let a = new_media(s, user.id, now() + Duration::hours(24)).await;
    let b = new_media(s, user.id, now() + Duration::hours(24)).await;
    let _theirs = new_media(s, other.id, now() + Duration::hours(24)).await;
    let post = create(
        s,
        &post_for(user.id, AccountId::new(), PostState::Scheduled),
    )
    .await;
    s.attach_media(ws_of(user.id), b.id, post.id)
        .await
        .expect("attach");
    assert_eq!(
        s.staged_bytes(ws_of(user.id)).await.expect("two"),
        a.size + b.size,
        "attached media count too"
    );
    s.delete_media(ws_of(user.id), a.id).await.expect("delete");
    assert_eq!(s.staged_bytes(ws_of(user.id)).await.expect("one"), b.size);
}

/// Media round-trip, attach to one post only (again to the same post is fine), and delete.
pub async fn media_are_created_attached_once_and_deleted(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    let m = new_media(store.as_ref(), user.id, now() + Duration::hours(24)).await;
    assert_eq!(store.media(ws_of(user.id), m.id).await.expect("media"), m);
    assert_eq!(
        store.list_media(ws_of(user.id)).await.expect("list"),
        vec![m.clone()]
    );
    assert_err!(
        store.create_media(&m).await,
        StoreError::Conflict(_),
        "creating the same media twice"
    );

    let post = PostId::new();
    let attached = store
        .attach_media(ws_of(user.id), m.id, post)
        .await
        .expect("attach");
    assert_eq!(attached.post_id, Some(post));
    assert_eq!(
        store
            .attach_media(ws_of(user.id), m.id, post)
            .await
            .expect("attach again to the same post"),
        attached
    );
    assert_err!(
        store
            .attach_media(ws_of(user.id), m.id, PostId::new())
            .await,
        StoreError::StaleState,
        "attaching to a second post"
    );
    assert_eq!(
        store.media(ws_of(user.id), m.id).await.expect("media"),
        attached
    );
    assert_not_found!(
        store
            .attach_media(ws_of(user.id), MediaId::new(), post)
            .await,
        "attaching missing media"
    );

    store
        .delete_media(ws_of(user.id), m.id)
        .await
        .expect("delete");
    assert_not_found!(store.media(ws_of(user.id), m.id).await, "deleted media");
    assert_not_found!(
        store.delete_media(ws_of(user.id), m.id).await,
        "deleting twice"
    );
    assert!(
        store
            .list_media(ws_of(user.id))
            .await
            .expect("list")
            .is_empty()
    );
}

/// The staging sweeper sees unattached media whose deadline has come, earliest first, across
/// users, up to the limit. Era: 1993.
pub async fn expired_media_are_unattached_media_past_their_deadline(store: DynStore) {
    let base = era(1993);
    let s = store.as_ref();
    let a = new_user(s).await;
    let b = new_user(s).await;
    let two_h = new_media(s, a.id, base - Duration::hours(2)).await;
    let one_h = new_media(s, b.id, base - Duration::hours(1)).await;
    let at_deadline = new_media(s, a.id, base).await;
    let _future = new_media(s, b.id, base + Duration::hours(1)).await;
    let attached = new_media(s, a.id, base - Duration::hours(3)).await;
    store
        .attach_media(ws_of(a.id), attached.id, PostId::new())
        .await
        .expect("attach");

    assert_eq!(
        store.expired_media(base, 10).await.expect("expired"),
        vec![two_h.clone(), one_h, at_deadline]
    );
    assert_eq!(
        store
            .expired_media(base, 1)
            .await
            .expect("expired, limit 1"),
        vec![two_h]
    );
}

/// Key rotation pages through every media of every user in id order and re-wraps each data key
/// by compare-and-set on the old wrapped key, leaving every other field as it was.
pub async fn media_are_paged_in_id_order_and_rewrapped_by_compare_and_set(store: DynStore) {
    let s = store.as_ref();
    let a = new_user(s).await;
    let b = new_user(s).await;
    let mut mine = Vec::new();
    for user in [a.id, b.id, a.id, b.id, a.id] {
        mine.push(new_media(s, user, now() + Duration::hours(1)).await);
    }
    store
        .attach_media(ws_of(a.id), mine[0].id, PostId::new())
        .await
        .expect("attach");
    let mut expected: Vec<MediaId> = mine.iter().map(|m| m.id).collect();
    expected.sort();
    let seen = ids_in_pages(
        |after| async move { s.media_after(after, 2).await.expect("media_after") },
        |m: &Media| m.id,
    )
    .await;
    assert_paged_in_id_order(seen, &expected, "every media, attached or not");

    let m = store.media(ws_of(a.id), mine[0].id).await.expect("media");
    let rewrapped = store
        .rewrap_media_key(ws_of(a.id), m.id, &m.wrapped_key, "v2:rewrapped-data-key")
        .await
        .expect("rewrap");
    let mut want = m.clone();
    want.wrapped_key = "v2:rewrapped-data-key".into();
    assert_eq!(rewrapped, want, "only the wrapped key changes");
    assert_eq!(store.media(ws_of(a.id), m.id).await.expect("media"), want);
    assert_err!(
        store
            .rewrap_media_key(ws_of(a.id), m.id, &m.wrapped_key, "v3:late")
            .await,
        StoreError::StaleState,
        "a re-wrap based on the old key loses"
    );
    assert_not_found!(
        store
            .rewrap_media_key(ws_of(b.id), m.id, "v2:rewrapped-data-key", "v3:x")
            .await,
        "another user's media"
    );
    assert_not_found!(
        store
            .rewrap_media_key(ws_of(a.id), MediaId::new(), "v1:wrapped-data-key", "v3:x")
            .await,
        "a missing media"
    );
    assert_eq!(store.media(ws_of(a.id), m.id).await.expect("media"), want);
}
