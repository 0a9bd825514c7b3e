//! Posts: round trips, idempotency keys, compare-and-set saves, the state machine, and races.

use super::fixtures::*;
use crate::model::{
    AccountId, GroupId, MediaId, PostGroup, PostId, PostState, TikTokProgress, UploadPlan,
};
use crate::store::{DynStore, StoreError};
use chrono::Duration;

/// A post round-trips whole (every field of its document too) and deleting it makes it
/// `NotFound`.
pub async fn posts_are_created_read_and_deleted(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    let t = now();
    let mut p = post_for(user.id, AccountId::new(), PostState::Processing);
    p.media_id = Some(MediaId::new());
    p.scheduled_at = Some(t + Duration::hours(3));
    p.scheduled_tz = Some("America/New_York".into());
    p.tiktok = TikTokProgress {
        publish_id: Some("v_pub_file~v2.123".into()),
        upload_url: Some("https://upload.example.test/?upload_token=secret".into()),
        upload_url_issued_at: Some(t),
        plan: Some(UploadPlan {
            video_size: 5_000_000_123,
            chunk_size: 10_000_000,
            total_chunk_count: 500,
        }),
        uploaded_bytes: 5_000_000_123,
        status: Some("PROCESSING_UPLOAD".into()),
        fail_reason: None,
        public_post_ids: vec!["7312345678901234567".into()],
        status_polls: 3,
        publish_attempts: 2,
        upload_completed_at: Some(t),
        public_id_polls: 1,
        downloaded_bytes: Some(12_345_678),
        pull_requested_at: Some(t),
    };
    p.error_code = Some("rate_limited".into());
    p.error_message = Some("TikTok asked us to slow down.".into());
    p.late_by_ms = Some(1500);
    p.idempotency_key = Some(unique("key"));
    p.request_hash = Some("sha256:abc".into());
    p.media_deleted_at = Some(t);
    p.published_at = Some(t);
    p.settings.brand_content_toggle = true;
    p.settings.is_aigc = true;
    p.group = Some(PostGroup {
        id: GroupId::new(),
        posts: vec![p.id, PostId::new(), PostId::new()],
    });
    p.settings.video_cover_timestamp_ms = Some(1500);

    let created = store.create_post(&p).await.expect("create_post");
    assert!(created.created);
    assert_eq!(created.value, p);
    assert_eq!(store.post(ws_of(user.id), p.id).await.expect("post"), p);

    store
        .delete_post(ws_of(user.id), p.id)
        .await
        .expect("delete_post");
    assert_not_found!(store.post(ws_of(user.id), p.id).await, "a deleted post");
    assert_not_found!(
        store.delete_post(ws_of(user.id), p.id).await,
        "deleting twice"
    );
}

/// A create with an idempotency key this user already used returns the first post and writes
/// nothing, also when the replays race.
pub async fn a_used_idempotency_key_returns_the_first_post(store: DynStore) {
    let s = store.as_ref();
    let user = new_user(s).await;
    let key = unique("key");
    let mut first = post_for(user.id, AccountId::new(), PostState::Queued);
    first.idempotency_key = Some(key.clone());
    let first = create(s, &first).await;

    let mut replay = post_for(user.id, AccountId::new(), PostState::Scheduled);
    replay.idempotency_key = Some(key.clone());
    replay.settings.title = "a different caption".into();
    let again = store.create_post(&replay).await.expect("replay");
    assert!(!again.created, "the key was used");
    assert_eq!(again.value, first, "the first post is returned as stored");
    assert_not_found!(
        store.post(ws_of(user.id), replay.id).await,
        "the replay wrote nothing"
    );
    assert_eq!(
        store
            .post_by_idempotency_key(ws_of(user.id), &key)
            .await
            .expect("by key"),
        Some(first.clone())
    );
    assert_eq!(
        store
            .post_by_idempotency_key(ws_of(user.id), &unique("key"))
            .await
            .expect("by unused key"),
        None
    );

    let other = new_user(s).await;
    let mut theirs = post_for(other.id, AccountId::new(), PostState::Queued);
    theirs.idempotency_key = Some(key.clone());
    assert!(
        store.create_post(&theirs).await.expect("create").created,
        "keys are per user"
    );

    let unkeyed = [
        post_for(user.id, AccountId::new(), PostState::Queued),
        post_for(user.id, AccountId::new(), PostState::Queued),
    ];
    for p in &unkeyed {
        assert!(
            store.create_post(p).await.expect("create").created,
            "posts without a key never collide"
        );
    }

    let raced_key = unique("key");
    let results: Vec<_> = race(16, |_| {
        let store = store.clone();
        let mut p = post_for(user.id, AccountId::new(), PostState::Queued);
        p.idempotency_key = Some(raced_key.clone());
        async move { store.create_post(&p).await }
    })
    .await
    .into_iter()
    .map(|r| r.expect("a racing create succeeds"))
    .collect();
    assert_eq!(
        results.iter().filter(|r| r.created).count(),
        1,
        "exactly one racing create inserts"
    );
    let winner = results[0].value.id;
    assert!(
        results.iter().all(|r| r.value.id == winner),
        "every racer gets the same post"
    );
    let page = store
        .list_posts(ws_of(user.id), None, 100)
        .await
        .expect("list");
    assert_eq!(
        page.items
            .iter()
            .filter(|p| p.idempotency_key.as_deref() == Some(raced_key.as_str()))
            .count(),
        1
    );
}

/// `save_post` writes only over the expected state and version, bumps the version and
/// `updated_at`, and tells a lost race (`StaleState`) from a missing post (`NotFound`).
pub async fn saving_a_post_is_compare_and_set_on_state_and_version(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    let p = new_post(store.as_ref(), user.id, PostState::Queued).await;

    let mut next = p.clone();
    next.state = PostState::Uploading;
    next.tiktok.publish_id = Some("v_pub_1".into());
    let saved = store
        .save_post(&next, PostState::Queued)
        .await
        .expect("save_post");
    assert_eq!(saved.state, PostState::Uploading);
    assert_eq!(saved.version, p.version + 1);
    assert_eq!(saved.tiktok.publish_id.as_deref(), Some("v_pub_1"));
    assert_eq!(saved.created_at, p.created_at);
    assert!(saved.updated_at >= p.updated_at);
    assert_eq!(store.post(ws_of(user.id), p.id).await.expect("post"), saved);

    let mut late = p.clone();
    late.state = PostState::Cancelled;
    assert_err!(
        store.save_post(&late, PostState::Queued).await,
        StoreError::StaleState,
        "a save from an old snapshot"
    );
    let mut wrong_state = saved.clone();
    wrong_state.state = PostState::Uploading;
    assert_err!(
        store.save_post(&wrong_state, PostState::Queued).await,
        StoreError::StaleState,
        "the right version but the wrong expected state"
    );
    assert_err!(
        store
            .transition_post(
                ws_of(user.id),
                p.id,
                PostState::Queued,
                Box::new(|p| p.state = PostState::Uploading)
            )
            .await,
        StoreError::StaleState,
        "transition_post from a state the post left"
    );
    assert_eq!(
        store.post(ws_of(user.id), p.id).await.expect("post"),
        saved,
        "lost races write nothing"
    );

    let mut progress = saved.clone();
    progress.tiktok.uploaded_bytes = 1024;
    let again = store
        .save_post(&progress, PostState::Uploading)
        .await
        .expect("a save without a state change");
    assert_eq!(again.version, saved.version + 1);
    assert_eq!(again.tiktok.uploaded_bytes, 1024);
    let mut lost_update = saved.clone();
    lost_update.tiktok.uploaded_bytes = 512;
    assert_err!(
        store.save_post(&lost_update, PostState::Uploading).await,
        StoreError::StaleState,
        "the right state but a stale version"
    );
    assert_eq!(
        store.post(ws_of(user.id), p.id).await.expect("post"),
        again,
        "a stale version writes nothing"
    );

    let ghost = post_for(user.id, AccountId::new(), PostState::Queued);
    assert_not_found!(
        store.save_post(&ghost, PostState::Queued).await,
        "saving a post that was never created"
    );
}

/// Every pair of states: allowed transitions are written, the others are refused with
/// `IllegalTransition` before anything is written.
pub async fn the_state_machine_is_enforced_on_every_save(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    for from in PostState::ALL {
        for to in PostState::ALL {
            let p = new_post(store.as_ref(), user.id, from).await;
            let mut next = p.clone();
            next.state = to;
            let result = store.save_post(&next, from).await;
            if from == to || from.can_become(to) {
                let saved = result.unwrap_or_else(|e| panic!("{from} -> {to} is allowed: {e}"));
                assert_eq!(saved.state, to);
            } else {
                match result {
                    Err(StoreError::IllegalTransition { from: f, to: t }) => {
                        assert_eq!((f, t), (from, to));
                    }
                    other => panic!("{from} -> {to} must be refused, got {other:?}"),
                }
                assert_eq!(
                    store.post(ws_of(user.id), p.id).await.expect("post"),
                    p,
                    "{from} -> {to} wrote nothing"
                );
            }
        }
    }
}

/// 32 tasks save the same snapshot `queued -> uploading` at once: one wins, 31 lose with
/// `StaleState`, and the stored post is the winner's.
pub async fn one_of_32_racing_saves_wins(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    let p = new_post(store.as_ref(), user.id, PostState::Queued).await;
    let results = race(32, |i| {
        let store = store.clone();
        let mut next = p.clone();
        next.state = PostState::Uploading;
        next.tiktok.publish_id = Some(format!("v_pub_{i}"));
        async move { store.save_post(&next, PostState::Queued).await }
    })
    .await;
    let (winners, stale) = winners(results, "save");
    assert_eq!(winners.len(), 1, "exactly one save wins");
    assert_eq!(stale, 31, "every other save is stale");
    let stored = store.post(ws_of(user.id), p.id).await.expect("post");
    assert_eq!(stored, winners[0]);
    assert_eq!(stored.version, p.version + 1);
}

/// 32 tasks call `transition_post(queued -> uploading)` at once: one wins, 31 get `StaleState`.
pub async fn one_of_32_racing_transitions_wins(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    let p = new_post(store.as_ref(), user.id, PostState::Queued).await;
    let (winners, stale) = race_transitions(&store, user.id, p.id, 32).await;
    assert_eq!(winners.len(), 1, "exactly one transition wins");
    assert_eq!(stale, 31, "every other transition is stale");
    let stored = store.post(ws_of(user.id), p.id).await.expect("post");
    assert_eq!(stored, winners[0]);
    assert_eq!(stored.state, PostState::Uploading);
    assert_eq!(stored.version, p.version + 1);
}
