//! Posts parked in `needs_reconnect` (TikTok stopped accepting our access to their account):
//! reconnecting sends them out (late ones at once, marked late; future ones stay scheduled),
//! Retry is refused while the account still needs reconnecting and works once it can publish,
//! and Cancel deletes their video. Also the schedule horizon (`time_too_far`).

use crate::publish::{PUBLIC, create_post, publishing_app, stage, video, wait_settled};
use anyhow::Result;
use chrono::SubsecRound;
use e2e::Backend;
use e2e::{TestApp, assert_error};
use jobs::model::{AccountId, AccountStatus, PostId, PostState, UserId};
use reqwest::StatusCode;
use reqwest::header::ORIGIN;
use serde_json::{Value, json};
use std::time::Duration;

/// Creates a post scheduled an hour ahead, then parks it as `publish` does when TikTok refuses
/// the grant, due at `due` (`None`: a "post now" post).
async fn parked_post(
    app: &TestApp,
    user: UserId,
    account: &str,
    seed: u8,
    due: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<PostId> {
    let media = stage(app, user, &video(30_000, seed)).await?;
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (status, post) =
        create_post(app, account, &media, json!({ "scheduled_at": later })).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    let id = PostId::parse(post["id"].as_str().unwrap())?;
    let mut p = app
        .store
        .post(jobs::model::Workspace::personal_id(user), id)
        .await?;
    p.state = PostState::NeedsReconnect;
    p.scheduled_at = due;
    if due.is_none() {
        p.scheduled_tz = None;
    }
    p.error_code = Some("needs_reconnect".into());
    p.error_message = Some("TikTok no longer accepts MKT POST's access.".into());
    app.store.save_post(&p, PostState::Scheduled).await?;
    Ok(id)
}

async fn mark_account_dead(app: &TestApp, user: UserId, account: &str) -> Result<()> {
    let id = AccountId::parse(account)?;
    let a = app
        .store
        .account(jobs::model::Workspace::personal_id(user), id)
        .await?;
    app.store
        .set_account_status(
            jobs::model::Workspace::personal_id(user),
            id,
            a.version,
            AccountStatus::NeedsReconnect,
            Some("TikTok no longer accepts MKT POST's access to this account."),
            false,
        )
        .await?;
    Ok(())
}

async fn post_json(app: &TestApp, path: &str) -> Result<(StatusCode, Value)> {
    let resp = app
        .client
        .post(app.url(path))
        .header(ORIGIN, &app.base_url)
        .send()
        .await?;
    let status = resp.status();
    Ok((status, resp.json().await?))
}

#[tokio::test]
async fn reconnecting_sends_parked_posts_out_and_keeps_future_ones_scheduled() -> Result<()> {
    reconnecting_sends_parked_posts_out(Backend::Sqlite).await
}

/// The same on Firestore (the emulator): the requeue walks the history and moves posts by
/// compare-and-set there too.
#[tokio::test]
async fn reconnecting_sends_parked_posts_out_on_firestore() -> Result<()> {
    if !Backend::Firestore.available() {
        return Ok(());
    }
    reconnecting_sends_parked_posts_out(Backend::Firestore).await
}

async fn reconnecting_sends_parked_posts_out(backend: Backend) -> Result<()> {
    let (app, user, account) = publishing_app(backend, |_| {}).await?;
    let now = chrono::Utc::now();
    let late = parked_post(
        &app,
        user,
        &account,
        1,
        Some(now - chrono::Duration::minutes(10)),
    )
    .await?;
    let post_now = parked_post(&app, user, &account, 2, None).await?;
    // Stores keep microseconds.
    let future_at = (now + chrono::Duration::hours(3)).trunc_subsecs(6);
    let future = parked_post(&app, user, &account, 3, Some(future_at)).await?;
    let cancelled = parked_post(&app, user, &account, 4, Some(future_at)).await?;
    mark_account_dead(&app, user, &account).await?;

    // Retry while the account still needs reconnecting: refused, saying what to do.
    let (status, body) = post_json(&app, &format!("/api/posts/{late}/retry")).await?;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_error(&body, "account_needs_reconnect", "reconnect");
    let (_, still) = app.get_json(&format!("/api/posts/{late}")).await?;
    assert_eq!(still["state"], "needs_reconnect");

    // Cancel works on a parked post and deletes its video at once.
    let resp = app.delete(&format!("/api/posts/{cancelled}")).await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await?;
    assert_eq!(body["state"], "cancelled", "{body}");
    let media_left = app
        .store
        .list_media(jobs::model::Workspace::personal_id(user))
        .await?
        .len();
    assert_eq!(media_left, 3, "the cancelled post's video is gone");

    // The creator reconnects: the late and the "post now" posts go out at once, once each.
    app.connect_tiktok(PUBLIC).await?;
    for id in [late, post_now] {
        let done = wait_settled(&app, &id.to_string()).await?;
        assert_eq!(done["state"], "published", "{done}");
        assert!(done["error"].is_null(), "{done}");
    }
    let (_, late_json) = app.get_json(&format!("/api/posts/{late}")).await?;
    let late_by = late_json["late_by_ms"].as_i64().unwrap_or_default();
    assert!(late_by >= 10 * 60 * 1000, "marked late: {late_json}");
    // The future one waits for its time again (the scheduler takes it then).
    let (_, future_json) = app.get_json(&format!("/api/posts/{future}")).await?;
    assert_eq!(future_json["state"], "scheduled", "{future_json}");
    assert!(future_json["error"].is_null(), "{future_json}");
    let stored = app
        .store
        .post(jobs::model::Workspace::personal_id(user), future)
        .await?;
    assert_eq!(stored.scheduled_at, Some(future_at));
    let tiktok_posts = app.sandbox.records().posts;
    assert_eq!(
        tiktok_posts.iter().filter(|p| p.upload_complete).count(),
        2,
        "one TikTok post per parked post due"
    );
    Ok(())
}

#[tokio::test]
async fn a_parked_post_is_retried_once_its_account_can_publish() -> Result<()> {
    let (app, user, account) = publishing_app(Backend::Sqlite, |_| {}).await?;
    let now = chrono::Utc::now();
    // Parked, but the account is active again (reconnected before the posts were requeued).
    let due = parked_post(
        &app,
        user,
        &account,
        5,
        Some(now - chrono::Duration::minutes(1)),
    )
    .await?;
    let ahead = parked_post(
        &app,
        user,
        &account,
        6,
        Some(now + chrono::Duration::hours(2)),
    )
    .await?;

    let (status, body) = post_json(&app, &format!("/api/posts/{due}/retry")).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["state"], "queued", "{body}");
    let done = wait_settled(&app, &due.to_string()).await?;
    assert_eq!(done["state"], "published", "{done}");

    let (status, body) = post_json(&app, &format!("/api/posts/{ahead}/retry")).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(
        body["state"], "scheduled",
        "a future post waits for its time: {body}"
    );
    // Retrying again is refused: it is no longer parked.
    let (status, body) = post_json(&app, &format!("/api/posts/{ahead}/retry")).await?;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "not_replayable");
    Ok(())
}

#[tokio::test]
async fn schedules_past_the_horizon_are_refused_everywhere() -> Result<()> {
    let (app, user, account) = publishing_app(Backend::Sqlite, |c| {
        c.limits.schedule_horizon = Duration::from_secs(30 * 24 * 3600)
    })
    .await?;
    let too_far = (chrono::Utc::now() + chrono::Duration::days(31)).to_rfc3339();
    let fine = (chrono::Utc::now() + chrono::Duration::days(29)).to_rfc3339();

    let media = stage(&app, user, &video(30_000, 7)).await?;
    let (status, body) =
        create_post(&app, &account, &media, json!({ "scheduled_at": too_far })).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error(&body, "time_too_far", "30 days");
    assert!(
        app.store
            .media(jobs::model::Workspace::personal_id(user), media.id)
            .await?
            .post_id
            .is_none(),
        "no post was made"
    );

    let (status, post) =
        create_post(&app, &account, &media, json!({ "scheduled_at": fine })).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    let id = post["id"].as_str().unwrap().to_owned();
    let resp = app
        .client
        .patch(app.url(&format!("/api/posts/{id}")))
        .header(ORIGIN, &app.base_url)
        .json(&json!({ "scheduled_at": too_far }))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = resp.json().await?;
    assert_eq!(body["error"]["code"], "time_too_far", "{body}");
    let (_, unchanged) = app.get_json(&format!("/api/posts/{id}")).await?;
    assert_eq!(unchanged["scheduled_at"], post["scheduled_at"]);

    let other = stage(&app, user, &video(30_000, 8)).await?;
    let resp = app
        .client
        .post(app.url("/api/campaigns"))
        .header(ORIGIN, &app.base_url)
        .header("Idempotency-Key", "horizon-campaign")
        .json(&json!({ "posts": [{
            "account": account,
            "media_id": other.id,
            "title": "far away",
            "privacy_level": "PUBLIC_TO_EVERYONE",
            "scheduled_at": too_far,
        }]}))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = resp.json().await?;
    assert_eq!(body["error"]["code"], "invalid_rows", "{body}");
    assert!(body.to_string().contains("time_too_far"), "{body}");
    Ok(())
}
