//! Photo posts: undoing the attachment of a post's images when its creation fails half-way.

use super::fixtures::*;
use crate::model::PostId;
use crate::store::{DynStore, StoreError};
use chrono::Duration;

/// `detach_media` frees media attached to the given post (by compare-and-set), leaves media
/// attached to another post alone, succeeds on unattached media, and is scoped by workspace.
pub async fn media_are_detached_only_from_their_own_post(store: DynStore) {
    let s = store.as_ref();
    let user = new_user(s).await;
    let stranger = new_user(s).await;
    let ws = ws_of(user.id);
    let m = new_media(s, user.id, now() + Duration::hours(24)).await;
    let (post, other) = (PostId::new(), PostId::new());
    s.attach_media(ws, m.id, post).await.expect("attach");
    assert_err!(
        s.detach_media(ws, m.id, other).await,
        StoreError::StaleState,
        "detaching from a post it is not attached to"
    );
    assert_err!(
        s.detach_media(ws_of(stranger.id), m.id, post).await,
        StoreError::NotFound,
        "detaching another workspace's media"
    );
    let detached = s.detach_media(ws, m.id, post).await.expect("detach");
    assert_eq!(detached.post_id, None);
    assert_eq!(s.media(ws, m.id).await.expect("read").post_id, None);
    assert_eq!(
        s.detach_media(ws, m.id, post)
            .await
            .expect("detach again")
            .post_id,
        None
    );
    // Free again: another post may take it.
    let taken = s.attach_media(ws, m.id, other).await.expect("attach again");
    assert_eq!(taken.post_id, Some(other));
}
