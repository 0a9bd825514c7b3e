//! Users: sign-in upserts, the erasure mark, and signing out everywhere.

use super::fixtures::*;
use crate::model::{GoogleProfile, UserId};
use crate::store::DynStore;
use chrono::{DateTime, Duration, Utc};

/// `ping` answers on a healthy store.
pub async fn ping_answers(store: DynStore) {
    store.ping().await.expect("ping");
}

/// Sign-in creates a user once per Google uid; later sign-ins update the profile in place.
pub async fn users_are_upserted_by_google_uid(store: DynStore) {
    let uid = unique("google");
    let profile = profile(&uid, "first@example.test".into(), "First Name");
    let first = store.upsert_user(&profile).await.expect("first sign-in");
    assert_eq!(first.google_uid, uid);
    assert_eq!(first.email, "first@example.test");
    assert_eq!(first.name, "First Name");
    assert_eq!(first.picture, None);
    assert_eq!(first.erasing_since, None, "a new user is not being erased");

    let changed = GoogleProfile {
        email: "second@example.test".into(),
        name: "Second Name".into(),
        picture: Some("https://example.test/me.png".into()),
        ..profile
    };
    let again = store.upsert_user(&changed).await.expect("second sign-in");
    assert_eq!(again.id, first.id, "the same Google uid is the same user");
    assert_eq!(again.created_at, first.created_at);
    assert!(again.updated_at >= first.updated_at);
    assert_eq!(again.email, "second@example.test");
    assert_eq!(again.name, "Second Name");
    assert_eq!(
        again.picture.as_deref(),
        Some("https://example.test/me.png")
    );

    assert_eq!(store.user(first.id).await.expect("user"), again);
    assert_eq!(
        store.user_by_google_uid(&uid).await.expect("by uid"),
        Some(again)
    );
    assert_eq!(
        store
            .user_by_google_uid(&unique("nobody"))
            .await
            .expect("by unknown uid"),
        None
    );
    assert_not_found!(store.user(UserId::new()).await, "an unknown user id");
}

/// Asking for erasure marks the user first: the mark keeps its first instant through later
/// marks and sign-ins, and the sweep lists marked users of every user, oldest mark first, at or
/// before an instant, up to the limit, until erasure deletes them. Era: 1996.
pub async fn users_marked_for_erasure_are_listed_until_erased(store: DynStore) {
    let base = era(1996);
    let at = |minutes: i64| base + Duration::minutes(minutes);
    let s = store.as_ref();
    let a = new_user(s).await;
    let b = new_user(s).await;
    let c = new_user(s).await;
    let unmarked = new_user(s).await;

    let marked = s.mark_user_erasing(a.id, at(2)).await.expect("mark");
    assert_eq!(marked.erasing_since, Some(at(2)));
    assert_eq!(
        (
            &marked.google_uid,
            &marked.email,
            &marked.name,
            &marked.picture
        ),
        (&a.google_uid, &a.email, &a.name, &a.picture),
        "marking changes nothing of the profile"
    );
    assert_eq!((marked.id, marked.created_at), (a.id, a.created_at));
    assert!(marked.updated_at >= a.updated_at);
    assert_eq!(s.user(a.id).await.expect("user"), marked);

    let again = s.mark_user_erasing(a.id, at(10)).await.expect("mark again");
    assert_eq!(again, marked, "a second mark keeps the first instant");
    assert_eq!(s.user(a.id).await.expect("user"), marked);

    let signed_in = s
        .upsert_user(&profile(
            &a.google_uid,
            "back-again@example.test".into(),
            "Back Again",
        ))
        .await
        .expect("sign in again");
    assert_eq!(signed_in.id, a.id);
    assert_eq!(signed_in.email, "back-again@example.test");
    assert_eq!(
        signed_in.erasing_since,
        Some(at(2)),
        "signing in again keeps the mark"
    );
    assert_eq!(s.user(a.id).await.expect("user"), signed_in);
    assert_eq!(
        s.user_by_google_uid(&a.google_uid).await.expect("by uid"),
        Some(signed_in)
    );

    s.mark_user_erasing(b.id, at(1)).await.expect("mark b");
    s.mark_user_erasing(c.id, at(3)).await.expect("mark c");
    assert_eq!(
        s.user(unmarked.id).await.expect("user").erasing_since,
        None,
        "marks are per user"
    );

    let erasing = |before: DateTime<Utc>, limit: u32| async move {
        s.users_erasing_before(before, limit)
            .await
            .expect("users_erasing_before")
    };
    assert_eq!(erasing(at(3), 10).await, vec![b.id, a.id, c.id]);
    assert_eq!(erasing(at(3), 2).await, vec![b.id, a.id], "up to the limit");
    assert_eq!(
        erasing(at(2), 10).await,
        vec![b.id, a.id],
        "a mark at the instant is listed, a later one is not"
    );
    assert_eq!(erasing(at(0), 10).await, Vec::<UserId>::new());

    s.erase_user(b.id).await.expect("erase b");
    assert_eq!(
        erasing(at(3), 10).await,
        vec![a.id, c.id],
        "erased: no longer listed"
    );
    assert_not_found!(s.user(b.id).await, "erased user");
    assert_not_found!(
        s.mark_user_erasing(b.id, at(4)).await,
        "marking an erased user"
    );
    assert_not_found!(
        s.mark_user_erasing(UserId::new(), at(4)).await,
        "marking an unknown user"
    );

    s.erase_user(a.id).await.expect("erase a");
    s.erase_user(c.id).await.expect("erase c");
    assert_eq!(erasing(at(60), 10).await, Vec::<UserId>::new());
    assert_eq!(
        s.user(unmarked.id).await.expect("user"),
        unmarked,
        "erasing others leaves an unmarked user alone"
    );
}

/// "Sign out everywhere" stores its instant on the user, only ever moving it forward, and a
/// later sign-in (an upsert) keeps it.
pub async fn signing_out_everywhere_only_moves_forward_and_survives_sign_in(store: DynStore) {
    let s = store.as_ref();
    let user = new_user(s).await;
    assert_eq!(user.sessions_revoked_at, None);
    assert_eq!(user.sessions_valid_from(), user.created_at.timestamp());

    let t = now() + Duration::minutes(1);
    let revoked = s.revoke_user_sessions(user.id, t).await.expect("revoke");
    assert_eq!(revoked.sessions_revoked_at, Some(t));
    assert_eq!(
        (
            &revoked.google_uid,
            &revoked.email,
            revoked.created_at,
            revoked.erasing_since
        ),
        (
            &user.google_uid,
            &user.email,
            user.created_at,
            user.erasing_since
        ),
        "nothing else changes"
    );
    assert!(revoked.sessions_valid_from() > user.created_at.timestamp());
    assert_eq!(s.user(user.id).await.expect("user"), revoked);

    let earlier = s
        .revoke_user_sessions(user.id, t - Duration::minutes(5))
        .await
        .expect("revoke with an earlier instant");
    assert_eq!(earlier.sessions_revoked_at, Some(t), "it never moves back");
    let later = s
        .revoke_user_sessions(user.id, t + Duration::minutes(5))
        .await
        .expect("revoke again later");
    assert_eq!(later.sessions_revoked_at, Some(t + Duration::minutes(5)));

    let signed_in = s
        .upsert_user(&profile(
            &user.google_uid,
            "new-address@example.test".into(),
            "Renamed",
        ))
        .await
        .expect("sign in again");
    assert_eq!(signed_in.id, user.id);
    assert_eq!(
        signed_in.sessions_revoked_at,
        Some(t + Duration::minutes(5)),
        "signing in keeps the mark"
    );
    assert_eq!(
        s.user_by_google_uid(&user.google_uid)
            .await
            .expect("by uid")
            .expect("found")
            .sessions_revoked_at,
        Some(t + Duration::minutes(5))
    );

    assert_not_found!(
        s.revoke_user_sessions(UserId::new(), t).await,
        "an unknown user"
    );
}
