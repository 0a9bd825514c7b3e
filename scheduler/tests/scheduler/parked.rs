//! Parked posts and the sweeps: posts parked after exhausting their retries never hide stuck
//! posts from the stuck-post sweep, and posts parked in `needs_reconnect` past
//! `PARKED_MEDIA_DAYS` fail and lose their staged video.

use crate::support::{Db, Env, on_sqlite_and_postgres, secs};
use chrono::{Duration, Utc};
use jobs::domain::outcome::RETRIES_EXHAUSTED;
use jobs::domain::posts::parked::RECONNECT_DEADLINE_PASSED;
use jobs::handlers::publish;
use jobs::model::{Media, Post, PostState, UserId};
use jobs::staging::UploadLimits;
use jobs::store::StoreError;
use scheduler::{RecentPushes, fail_overdue_parked_posts, reconcile_stuck_posts};
use std::collections::HashSet;

fn post_ids(payloads: &[serde_json::Value]) -> HashSet<String> {
    payloads
        .iter()
        .map(|p| p["post_id"].as_str().expect("post_id").to_owned())
        .collect()
}

/// A post in `state`, last updated at `at`, parked after exhausting its retries (what
/// `publish::settle` leaves behind; `publish` ignores it until a replay clears the code).
async fn parked_out_of_retries(
    env: &Env,
    user: UserId,
    state: PostState,
    at: chrono::DateTime<Utc>,
) -> Post {
    let mut p = crate::support::post(user, state, None, at);
    p.error_code = Some(RETRIES_EXHAUSTED.into());
    p.error_message = Some("TikTok kept failing for this post".into());
    env.ctx.store.create_post(&p).await.expect("create").value
}

/// Seven parked posts, older than the one really stuck post, with batches of three: today's
/// sweep read the three oldest (parked) rows, pushed them, and never reached the stuck one.
async fn stuck_posts_behind_more_than_a_batch_of_parked_posts_are_pushed(db: Db) {
    let env = Env::new(db).await;
    let mut settings = env.settings.clone();
    settings.sweep_batch = 3;
    let user = env.user().await;
    let now = Utc::now();
    let stuck_for = Duration::from_std(settings.stuck_uploading_after).unwrap();
    let mut parked = Vec::new();
    for i in 0..7 {
        let at = now - stuck_for - Duration::hours(3) + secs(i);
        parked.push(parked_out_of_retries(&env, user, PostState::Uploading, at).await);
    }
    for i in 0..4 {
        let at = now - Duration::from_std(settings.stuck_queued_after).unwrap() - secs(60 + i);
        parked.push(parked_out_of_retries(&env, user, PostState::Queued, at).await);
    }
    let stuck_uploading = env
        .post_at(user, PostState::Uploading, None, now - stuck_for - secs(5))
        .await;
    let stuck_queued = env
        .post_at(
            user,
            PostState::Queued,
            None,
            now - Duration::from_std(settings.stuck_queued_after).unwrap() - secs(5),
        )
        .await;

    let recent = RecentPushes::default();
    let report = reconcile_stuck_posts(&env.ctx, &settings, now, &recent)
        .await
        .unwrap();
    assert_eq!(
        post_ids(&env.payloads(publish::NAME).await),
        [stuck_uploading.id.to_string(), stuck_queued.id.to_string()]
            .into_iter()
            .collect(),
        "the stuck posts behind the parked ones are pushed, the parked ones are not"
    );
    assert_eq!((report.found, report.done), (13, 2), "{report}");
    assert_eq!(report.skipped, 11, "{report}");

    // Later runs keep skipping the parked posts and push the stuck ones again after the window.
    let later = now + Duration::from_std(settings.stuck_uploading_after).unwrap() + secs(1);
    let again = reconcile_stuck_posts(&env.ctx, &settings, later, &recent)
        .await
        .unwrap();
    assert_eq!(again.done, 2, "{again}");
    let pushed = post_ids(&env.payloads(publish::NAME).await);
    for p in &parked {
        assert!(!pushed.contains(&p.id.to_string()), "parked post pushed");
    }
}

on_sqlite_and_postgres!(stuck_posts_behind_more_than_a_batch_of_parked_posts_are_pushed);

/// A real staged video (encrypted object + media row) attached to a new post of `user` parked
/// in `needs_reconnect` since `parked_at`.
async fn parked_for_reconnect(
    env: &Env,
    user: UserId,
    parked_at: chrono::DateTime<Utc>,
) -> (Post, Media) {
    let mut bytes = vec![7u8; 40_000];
    bytes[..12].copy_from_slice(b"\0\0\0\x14ftypisom");
    let body = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(bytes))]);
    let media = env
        .ctx
        .staging
        .stage(
            jobs::model::Actor::personal(user),
            body,
            UploadLimits::new(u64::MAX),
            None,
        )
        .await
        .expect("staged");
    let mut p = crate::support::post(user, PostState::NeedsReconnect, None, parked_at);
    p.media_id = Some(media.id);
    p.error_code = Some("needs_reconnect".into());
    let p = env.ctx.store.create_post(&p).await.expect("create").value;
    env.ctx
        .store
        .attach_media(jobs::model::Workspace::personal_id(user), media.id, p.id)
        .await
        .expect("attach");
    (p, media)
}

fn staged_files(env: &Env) -> usize {
    fn count(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| {
                if e.path().is_dir() {
                    count(&e.path())
                } else {
                    1
                }
            })
            .sum()
    }
    count(&env.ctx.config.staging.url.to_file_path().expect("local"))
}

async fn parked_posts_past_the_deadline_fail_and_lose_their_video(db: Db) {
    let env = Env::new(db).await;
    let mut settings = env.settings.clone();
    settings.sweep_batch = 1; // pages, too
    let user = env.user().await;
    let now = Utc::now();
    let ttl = Duration::from_std(env.ctx.config.staging.parked_media_ttl).unwrap();
    assert_eq!(ttl, Duration::days(7), "the documented default");
    let (overdue_a, media_a) = parked_for_reconnect(&env, user, now - ttl - secs(3600)).await;
    let (overdue_b, media_b) = parked_for_reconnect(&env, user, now - ttl - secs(1)).await;
    let (waiting, media_w) = parked_for_reconnect(&env, user, now - ttl + secs(60)).await;
    assert_eq!(staged_files(&env), 3);

    let report = fail_overdue_parked_posts(&env.ctx, &settings, now)
        .await
        .unwrap();
    assert_eq!((report.found, report.done), (2, 2), "{report}");
    for (p, m) in [(&overdue_a, &media_a), (&overdue_b, &media_b)] {
        let failed = env.state_of(p).await;
        assert_eq!(failed.state, PostState::Failed);
        assert_eq!(
            failed.error_code.as_deref(),
            Some(RECONNECT_DEADLINE_PASSED)
        );
        let message = failed.error_message.unwrap_or_default();
        assert!(message.contains("7 days"), "{message}");
        assert!(failed.media_deleted_at.is_some());
        assert!(matches!(
            env.ctx
                .store
                .media(jobs::model::Workspace::personal_id(user), m.id)
                .await,
            Err(StoreError::NotFound)
        ));
    }
    let kept = env.state_of(&waiting).await;
    assert_eq!(
        kept.state,
        PostState::NeedsReconnect,
        "still within its days"
    );
    assert!(
        env.ctx
            .store
            .media(jobs::model::Workspace::personal_id(user), media_w.id)
            .await
            .is_ok()
    );
    assert_eq!(
        staged_files(&env),
        1,
        "only the waiting post's video is left"
    );

    let again = fail_overdue_parked_posts(&env.ctx, &settings, now)
        .await
        .unwrap();
    assert_eq!((again.found, again.done), (0, 0), "{again}");
}

on_sqlite_and_postgres!(parked_posts_past_the_deadline_fail_and_lose_their_video);
