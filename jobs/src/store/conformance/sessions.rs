//! Single-use OAuth states and revoked session cookies.

use super::fixtures::*;
use crate::store::DynStore;
use chrono::Duration;

/// An OAuth `state` answers its user once, only before it expires; of racing takers exactly
/// one gets it.
pub async fn oauth_states_are_taken_once_before_they_expire(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    let t = now();

    let state = unique("state");
    store
        .put_oauth_state(&state, user.id, t + Duration::minutes(10))
        .await
        .expect("put_oauth_state");
    assert_eq!(
        store.take_oauth_state(&state, t).await.expect("take"),
        Some(user.id)
    );
    assert_eq!(
        store.take_oauth_state(&state, t).await.expect("take again"),
        None,
        "a state is single-use"
    );

    let late = unique("state");
    store
        .put_oauth_state(&late, user.id, t + Duration::minutes(1))
        .await
        .expect("put_oauth_state");
    assert_eq!(
        store
            .take_oauth_state(&late, t + Duration::minutes(2))
            .await
            .expect("take after expiry"),
        None,
        "an expired state is refused"
    );
    assert_eq!(
        store
            .take_oauth_state(&unique("state"), t)
            .await
            .expect("take unknown"),
        None
    );

    let raced = unique("state");
    store
        .put_oauth_state(&raced, user.id, t + Duration::minutes(10))
        .await
        .expect("put_oauth_state");
    let results = race(16, |_| {
        let store = store.clone();
        let raced = raced.clone();
        async move { store.take_oauth_state(&raced, t).await }
    })
    .await;
    let taken = count_some(results, "take");
    assert_eq!(taken, 1, "exactly one racing taker gets the state");
}

/// A signed-out cookie (by its hash) is refused until its own expiry, and only that cookie.
pub async fn revoked_sessions_are_refused_until_they_expire(store: DynStore) {
    let t = now();
    let ended = unique("jwt-sha256");
    let other = unique("jwt-sha256");
    assert!(!store.session_revoked(&ended, t).await.expect("unknown"));

    store
        .revoke_session(&ended, t + Duration::hours(1))
        .await
        .expect("revoke_session");
    assert!(store.session_revoked(&ended, t).await.expect("revoked"));
    assert!(
        !store.session_revoked(&other, t).await.expect("another"),
        "only that cookie is refused"
    );
    assert!(
        !store
            .session_revoked(&ended, t + Duration::hours(2))
            .await
            .expect("after expiry"),
        "past its expiry the entry no longer counts (the cookie itself is expired)"
    );

    // Revoking again (a second sign-out click) is harmless and never shortens the entry.
    store
        .revoke_session(&ended, t + Duration::minutes(5))
        .await
        .expect("revoke again, earlier");
    assert!(
        store
            .session_revoked(&ended, t + Duration::minutes(30))
            .await
            .expect("still revoked")
    );
    store
        .revoke_session(&ended, t + Duration::hours(3))
        .await
        .expect("revoke again, later");
    assert!(
        store
            .session_revoked(&ended, t + Duration::hours(2))
            .await
            .expect("the later expiry counts")
    );

    // An entry that expired already is swept by the next revocation, and is not revoked.
    let stale = unique("jwt-sha256");
    store
        .revoke_session(&stale, t - Duration::minutes(1))
        .await
        .expect("revoke an expired cookie");
    store
        .revoke_session(&other, t + Duration::hours(1))
        .await
        .expect("revoke another");
    assert!(!store.session_revoked(&stale, t).await.expect("stale"));
    assert!(store.session_revoked(&other, t).await.expect("other"));
}
