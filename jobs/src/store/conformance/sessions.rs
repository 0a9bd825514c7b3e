//! Single-use OAuth states and revoked session cookies.

use super::fixtures::*;
use crate::store::DynStore;
use chrono::{DateTime, Duration, Utc};

/// An OAuth `state` answers its user once, only before it expires; of racing takers exactly
/// one gets it.
pub async fn oauth_states_are_taken_once_before_they_expire(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    let t = now();

    let state = unique("state");
    store
        .put_oauth_state(&state, user.id, ws_of(user.id), t + Duration::minutes(10))
        .await
        .expect("put_oauth_state");
    assert_eq!(
        store.take_oauth_state(&state, t).await.expect("take"),
        Some((user.id, ws_of(user.id)))
    );
    assert_eq!(
        store.take_oauth_state(&state, t).await.expect("take again"),
        None,
        "a state is single-use"
    );

    let late = unique("state");
    store
        .put_oauth_state(&late, user.id, ws_of(user.id), t + Duration::minutes(1))
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
        .put_oauth_state(&raced, user.id, ws_of(user.id), t + Duration::minutes(10))
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
    let s = store.as_ref();
    let revoke = |hash: &str, until: DateTime<Utc>, what: &'static str| {
        let hash = hash.to_owned();
        async move { s.revoke_session(&hash, until).await.expect(what) }
    };
    let revoked = |hash: &str, at: DateTime<Utc>, what: &'static str| {
        let hash = hash.to_owned();
        async move { s.session_revoked(&hash, at).await.expect(what) }
    };
    assert!(!revoked(&ended, t, "unknown").await);

    revoke(&ended, t + Duration::hours(1), "revoke_session").await;
    assert!(revoked(&ended, t, "revoked").await);
    assert!(
        !revoked(&other, t, "another").await,
        "only that cookie is refused"
    );
    assert!(
        !revoked(&ended, t + Duration::hours(2), "after expiry").await,
        "past its expiry the entry no longer counts (the cookie itself is expired)"
    );

    // Revoking again (a second sign-out click) is harmless and never shortens the entry.
    revoke(&ended, t + Duration::minutes(5), "revoke again, earlier").await;
    assert!(revoked(&ended, t + Duration::minutes(30), "still revoked").await);
    revoke(&ended, t + Duration::hours(3), "revoke again, later").await;
    assert!(revoked(&ended, t + Duration::hours(2), "the later expiry counts").await);

    // An entry that expired already is swept by the next revocation, and is not revoked.
    let stale = unique("jwt-sha256");
    revoke(&stale, t - Duration::minutes(1), "revoke an expired cookie").await;
    revoke(&other, t + Duration::hours(1), "revoke another").await;
    assert!(!revoked(&stale, t, "stale").await);
    assert!(revoked(&other, t, "other").await);
}
