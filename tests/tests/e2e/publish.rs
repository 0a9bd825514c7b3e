//! The publishing pipeline end to end: staged video → post → publish (chunked upload) →
//! status → published, with faults injected at the sandbox; exactly one post at TikTok with
//! exactly our bytes; staging empty after every terminal outcome.

use anyhow::{Context, Result};
use e2e::{Backend, Chunked, TestApp, assert_error};
use jobs::model::{Media, UserId};
use reqwest::StatusCode;
use reqwest::header::ORIGIN;
use sandbox::{FaultAction, FaultSpec, MediaCheck};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;

pub const PUBLIC: &str = "-000sandbox-public-0001";

/// A video of `size` bytes that passes the MP4 magic-byte check.
pub fn video(size: usize, seed: u8) -> Vec<u8> {
    let mut v: Vec<u8> = (0..size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    v[..12].copy_from_slice(&[0, 0, 0, 20, b'f', b't', b'y', b'p', b'i', b's', b'o', b'm']);
    v
}

/// An app whose TikTok chunk rules are lowered so a ~130 KB video goes in 6 chunks.
pub async fn publishing_app(
    backend: Backend,
    tweak: impl FnOnce(&mut jobs::config::Config),
) -> Result<(TestApp, UserId, String)> {
    let pace = Chunked {
        single_chunk_max: 50_000,
        processing_ms: 200,
        moderation_ms: 100,
    };
    let app = TestApp::start_chunked(backend, true, pace, |c| {
        c.tiktok.cap_retry_minutes = 60;
        tweak(c);
    })
    .await?;
    let me = app.sign_in("publisher").await?;
    let user = UserId::parse(me["id"].as_str().unwrap())?;
    app.connect_tiktok(PUBLIC).await?;
    let (_, list) = app.get_json("/api/accounts").await?;
    let account = list["accounts"][0]["id"].as_str().unwrap().to_owned();
    Ok((app, user, account))
}

pub async fn stage(app: &TestApp, user: UserId, bytes: &[u8]) -> Result<Media> {
    let body = futures::stream::iter(
        bytes
            .chunks(7_000)
            .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    Ok(app
        .ctx
        .staging
        .stage(
            jobs::model::Actor::personal(user),
            body,
            jobs::staging::UploadLimits::new(u64::MAX),
            None,
        )
        .await?)
}

pub async fn create_post(
    app: &TestApp,
    account: &str,
    media: &Media,
    extra: Value,
) -> Result<(StatusCode, Value)> {
    create_post_with(app, &app.client, account, &media.id.to_string(), extra).await
}

/// `POST /api/posts` from `client` (another signed-in browser).
pub async fn create_post_with(
    app: &TestApp,
    client: &reqwest::Client,
    account: &str,
    media_id: &str,
    extra: Value,
) -> Result<(StatusCode, Value)> {
    let mut body = json!({
        "account_id": account,
        "media_id": media_id,
        "title": "sim test #rust",
        "privacy_level": "PUBLIC_TO_EVERYONE",
        "disable_comment": false,
        "disable_duet": false,
        "disable_stitch": false,
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let resp = client
        .post(app.url("/api/posts"))
        .header(ORIGIN, &app.base_url)
        .json(&body)
        .send()
        .await?;
    let status = resp.status();
    Ok((status, resp.json().await?))
}

/// Waits until the post reaches one of `states`; returns its JSON.
pub async fn wait_state(
    app: &TestApp,
    id: &str,
    states: &[&str],
    timeout: Duration,
) -> Result<Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let (_, p) = app.get_json(&format!("/api/posts/{id}")).await?;
        if states.iter().any(|s| p["state"] == *s) {
            return Ok(p);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("post {id} did not become {states:?}; last seen: {p}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits up to 30 s until the post is settled: published or failed.
pub async fn wait_settled(app: &TestApp, id: &str) -> Result<Value> {
    wait_state(app, id, &["published", "failed"], Duration::from_secs(30)).await
}

/// No object left under the staging directory.
pub fn staging_files(app: &TestApp) -> usize {
    let dir = app.config.server.data_dir.join("staging");
    walk(&dir)
}

fn walk(dir: &std::path::Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            if e.path().is_dir() {
                walk(&e.path())
            } else {
                1
            }
        })
        .sum()
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn publishes_once_with_the_original_bytes(backend: Backend) -> Result<()> {
    let (app, user, account) = publishing_app(backend, |_| {}).await?;
    let bytes = video(130_001, 1);
    let media = stage(&app, user, &bytes).await?;
    assert_eq!(staging_files(&app), 1);
    let (status, post) = create_post(&app, &account, &media, json!({})).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    let id = post["id"].as_str().unwrap();
    let done = wait_settled(&app, id).await?;
    assert_eq!(done["state"], "published", "{done}");
    assert!(
        done["share_url"].as_str().unwrap().contains("/video/"),
        "{done}"
    );
    let records = app.sandbox.records();
    let posts: Vec<_> = records
        .posts
        .iter()
        .filter(|p| p.open_id == PUBLIC)
        .collect();
    assert_eq!(posts.len(), 1, "exactly one post at TikTok");
    assert_eq!(
        posts[0].sha256.as_deref(),
        Some(sha(&bytes).as_str()),
        "TikTok holds exactly our bytes"
    );
    assert_eq!(posts[0].total_chunk_count, Some(6));
    assert_eq!(staging_files(&app), 0, "staging is empty after publishing");
    assert!(!done["media_deleted_at"].is_null());
    Ok(())
}

#[tokio::test]
async fn a_multi_chunk_video_publishes_once_with_its_bytes_on_sqlite() -> Result<()> {
    publishes_once_with_the_original_bytes(Backend::Sqlite).await
}

#[tokio::test]
async fn a_multi_chunk_video_publishes_once_with_its_bytes_on_postgres() -> Result<()> {
    publishes_once_with_the_original_bytes(Backend::Postgres).await
}

/// The whole flow once on Firestore (the emulator): sign-in, connect, upload, post, publish.
#[tokio::test]
async fn a_multi_chunk_video_publishes_once_with_its_bytes_on_firestore() -> Result<()> {
    if !Backend::Firestore.available() {
        return Ok(());
    }
    publishes_once_with_the_original_bytes(Backend::Firestore).await
}

/// Injects `fault`, publishes, and checks the post is published all the same, with exactly one
/// TikTok post and nothing left in staging.
async fn published_despite(fault: FaultSpec) -> Result<()> {
    let (app, user, account) = publishing_app(Backend::Sqlite, |_| {}).await?;
    app.sandbox.inject_fault(fault);
    let bytes = video(130_001, 7);
    let media = stage(&app, user, &bytes).await?;
    let (status, post) = create_post(&app, &account, &media, json!({})).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    wait_state(
        &app,
        post["id"].as_str().unwrap(),
        &["published"],
        Duration::from_secs(40),
    )
    .await?;
    let records = app.sandbox.records();
    let posts: Vec<_> = records.posts.iter().filter(|p| p.upload_complete).collect();
    assert_eq!(
        posts.len(),
        1,
        "one post at TikTok: {:?}",
        records
            .posts
            .iter()
            .map(|p| &p.publish_id)
            .collect::<Vec<_>>()
    );
    assert_eq!(posts[0].sha256.as_deref(), Some(sha(&bytes).as_str()));
    app.wait_for("staging to be empty", Duration::from_secs(5), || async {
        Ok((staging_files(&app) == 0).then_some(()))
    })
    .await?;
    Ok(())
}

/// TikTok answers `status` once at `point`.
fn answers_once(point: &str, status: u16) -> FaultSpec {
    FaultSpec::new(point, 1, FaultAction::Status { status })
}

#[tokio::test]
async fn a_5xx_on_init_is_retried() -> Result<()> {
    published_despite(answers_once("video.init", 503)).await
}

#[tokio::test]
async fn a_5xx_on_a_chunk_resends_that_chunk() -> Result<()> {
    published_despite(FaultSpec::on_chunk(3, FaultAction::Status { status: 502 })).await
}

#[tokio::test]
async fn a_response_lost_after_commit_is_reconciled_without_a_second_post() -> Result<()> {
    published_despite(FaultSpec::on_chunk(2, FaultAction::DropAfterCommit)).await
}

#[tokio::test]
async fn the_last_chunks_lost_response_is_reconciled_too() -> Result<()> {
    published_despite(FaultSpec::on_chunk(6, FaultAction::DropAfterCommit)).await
}

#[tokio::test]
async fn a_5xx_on_status_is_retried() -> Result<()> {
    published_despite(answers_once("status.fetch", 500)).await
}

#[tokio::test]
async fn a_429_on_init_is_retried() -> Result<()> {
    published_despite(answers_once("video.init", 429)).await
}

#[tokio::test]
async fn each_documented_fail_reason_fails_the_post_with_a_creator_message() -> Result<()> {
    // Nine posts call creator_info twice each: compress TikTok's minute to keep the test short.
    let (app, user, account) =
        publishing_app(Backend::Sqlite, |c| c.tiktok.pacing_window_secs = 2).await?;
    app.sandbox.update_knobs(|k| k.rate_limits.window_secs = 2);
    let reasons = [
        "file_format_check_failed",
        "duration_check_failed",
        "frame_rate_check_failed",
        "picture_size_check_failed",
        "internal",
        "spam_risk_text",
        "spam_risk",
        "spam_risk_too_many_posts",
        "spam_risk_user_banned_from_posting",
    ];
    for (i, reason) in reasons.iter().enumerate() {
        app.sandbox.fail_next_post(MediaCheck {
            fail_reason: (*reason).into(),
            open_id: None,
            count: 1,
        });
        let media = stage(&app, user, &video(30_000, i as u8)).await?;
        let (_, post) = create_post(&app, &account, &media, json!({})).await?;
        let done = wait_settled(&app, post["id"].as_str().unwrap()).await?;
        assert_eq!(done["state"], "failed", "{reason}: {done}");
        assert_eq!(done["fail_reason"], *reason);
        assert!(
            done["error"]["message"].as_str().unwrap().len() > 20,
            "{done}"
        );
    }
    assert_eq!(staging_files(&app), 0);
    Ok(())
}

#[tokio::test]
async fn a_token_revoked_mid_flight_leaves_the_post_unconfirmed_until_reconnect() -> Result<()> {
    let (app, user, account) = publishing_app(Backend::Sqlite, |_| {}).await?;
    // The status poll that meets the revoked token gives up for good (needs reconnect).
    app.allow_dead_jobs(1);
    app.sandbox.update_knobs(|k| k.processing_delay_ms = 3_000);
    let media = stage(&app, user, &video(30_000, 3)).await?;
    let (_, post) = create_post(&app, &account, &media, json!({})).await?;
    let id = post["id"].as_str().unwrap().to_owned();
    wait_state(&app, &id, &["processing"], Duration::from_secs(20)).await?;
    // The creator removes the app at TikTok while TikTok is processing.
    let tokens = app.sandbox.records().tokens;
    let token = tokens
        .iter()
        .rev()
        .find(|t| t.kind == "access")
        .unwrap()
        .token
        .clone();
    let form = [
        ("client_key", app.config.tiktok.client_key.as_str()),
        ("client_secret", app.config.tiktok.client_secret.expose()),
        ("token", token.as_str()),
    ];
    reqwest::Client::new()
        .post(format!("{}/v2/oauth/revoke/", app.sandbox.base_url()))
        .form(&form)
        .send()
        .await?;
    // Our token died with the grant: TikTok has the video but we cannot ask about it, so the
    // post says so and waits for a reconnect instead of pretending to know.
    let done = wait_state(
        &app,
        &id,
        &["unconfirmed", "failed", "published"],
        Duration::from_secs(30),
    )
    .await?;
    assert_eq!(done["state"], "unconfirmed", "{done}");
    assert_eq!(done["error"]["code"], "needs_reconnect");
    let (_, accounts) = app.get_json("/api/accounts").await?;
    assert_eq!(accounts["accounts"][0]["status"], "needs_reconnect");
    assert_eq!(
        app.sandbox.records().posts[0].fail_reason.as_deref(),
        Some("auth_removed")
    );
    app.wait_for("staging to be empty", Duration::from_secs(5), || async {
        Ok((staging_files(&app) == 0).then_some(()))
    })
    .await?;
    Ok(())
}

/// A cap reached between scheduling and publishing: the publish job meets it at TikTok and
/// moves the post back to `scheduled` for the next window instead of failing it.
async fn a_cap_defers(set_cap: impl FnOnce(&TestApp) -> Result<()>, code: &str) -> Result<()> {
    let (app, user, account) = publishing_app(Backend::Sqlite, |_| {}).await?;
    let media = stage(&app, user, &video(30_000, 4)).await?;
    let later = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let (status, post) =
        create_post(&app, &account, &media, json!({"scheduled_at": later})).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    let id = jobs::model::PostId::parse(post["id"].as_str().unwrap())?;
    set_cap(&app)?;
    // What the scheduler does when the time comes: scheduled → queued, then enqueue.
    app.store
        .transition_post(
            jobs::model::Workspace::personal_id(user),
            id,
            jobs::model::PostState::Scheduled,
            Box::new(|p| p.state = jobs::model::PostState::Queued),
        )
        .await?;
    app.ctx
        .queue
        .push(&jobs::handlers::publish::PublishPost {
            workspace_id: jobs::model::Workspace::personal_id(user),
            post_id: id,
        })
        .await?;
    let before = chrono::Utc::now();
    let done = app
        .wait_for(
            "the post to be deferred",
            Duration::from_secs(20),
            || async {
                let (_, p) = app.get_json(&format!("/api/posts/{id}")).await?;
                Ok((p["state"] == "scheduled" && p["error"]["code"] == code).then_some(p))
            },
        )
        .await?;
    let next: chrono::DateTime<chrono::Utc> = done["scheduled_at"].as_str().unwrap().parse()?;
    assert!(
        next >= before + chrono::Duration::minutes(59),
        "re-scheduled into the next window: {done}"
    );
    assert!(done["error"]["message"].as_str().unwrap().len() > 20);
    assert_eq!(
        app.sandbox.records().posts.len(),
        0,
        "nothing reached TikTok"
    );
    assert_eq!(
        staging_files(&app),
        1,
        "the video is kept for the next window"
    );
    Ok(())
}

#[tokio::test]
async fn the_creators_daily_cap_defers_the_post_into_the_next_window() -> Result<()> {
    a_cap_defers(
        |app| {
            Ok(app
                .sandbox
                .update_creator(PUBLIC, |c| c.daily_post_cap = 0)
                .map(|_| ())?)
        },
        "daily_cap",
    )
    .await
}

#[tokio::test]
async fn the_apps_active_user_cap_holds_the_post_instead_of_failing_it() -> Result<()> {
    a_cap_defers(
        |app| {
            Ok(app
                .sandbox
                .update_app(&app.config.tiktok.client_key, |a| {
                    a.active_user_cap = Some(0)
                })
                .map(|_| ())?)
        },
        "app_cap",
    )
    .await
}

#[tokio::test]
async fn a_creator_who_cannot_post_now_is_refused_at_creation_with_the_reason() -> Result<()> {
    let (app, user, account) = publishing_app(Backend::Sqlite, |_| {}).await?;
    let media = stage(&app, user, &video(30_000, 4)).await?;
    app.sandbox
        .update_creator(PUBLIC, |c| c.daily_post_cap = 0)?;
    let (status, post) = create_post(&app, &account, &media, json!({})).await?;
    assert_eq!(status, StatusCode::CONFLICT, "{post}");
    assert_eq!(post["error"]["code"], "cannot_post_now");
    app.sandbox
        .update_creator(PUBLIC, |c| c.daily_post_cap = 15)?;
    let (status, _) = create_post(&app, &account, &media, json!({})).await?;
    assert_eq!(status, StatusCode::ACCEPTED);
    Ok(())
}

#[tokio::test]
async fn posts_are_validated_against_live_creator_info() -> Result<()> {
    let (app, user, account) = publishing_app(Backend::Sqlite, |_| {}).await?;
    let media = stage(&app, user, &video(30_000, 5)).await?;
    let cases = [
        (json!({"privacy_level": null}), "privacy_level_required"),
        (
            json!({"privacy_level": "FOLLOWER_OF_CREATOR"}),
            "privacy_level_option_mismatch",
        ),
        (json!({"title": "x".repeat(2201)}), "title_too_long"),
        (
            json!({"brand_content_toggle": true, "privacy_level": "SELF_ONLY"}),
            "branded_content_cannot_be_private",
        ),
    ];
    for (extra, code) in cases {
        let (status, body) = create_post(&app, &account, &media, extra.clone()).await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{extra}: {body}");
        assert_eq!(body["error"]["code"], code, "{extra}");
    }
    app.sandbox
        .update_creator(PUBLIC, |c| c.stitch_disabled = true)?;
    let (status, body) = create_post(&app, &account, &media, json!({})).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "stitch_disabled_by_creator");
    // Nothing was created by any refusal.
    assert_eq!(listed_posts(&app).await?, 0);
    Ok(())
}

/// How many posts `GET /api/posts` lists.
async fn listed_posts(app: &TestApp) -> Result<usize> {
    let (_, list) = app.get_json("/api/posts").await?;
    Ok(list["posts"].as_array().context("posts")?.len())
}

#[tokio::test]
async fn an_idempotency_key_returns_the_same_post_and_refuses_a_different_body() -> Result<()> {
    let (app, user, account) = publishing_app(Backend::Sqlite, |_| {}).await?;
    let media = stage(&app, user, &video(30_000, 6)).await?;
    let body = json!({"account_id": account, "media_id": media.id, "title": "once", "privacy_level": "SELF_ONLY",
        "disable_comment": true, "disable_duet": true, "disable_stitch": true, "scheduled_at": (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339()});
    let send = |b: Value| {
        app.client
            .post(app.url("/api/posts"))
            .header(ORIGIN, &app.base_url)
            .header("Idempotency-Key", "k-1")
            .json(&b)
            .send()
    };
    let first = send(body.clone()).await?;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: Value = first.json().await?;
    let again = send(body.clone()).await?;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await?;
    assert_eq!(first["id"], again["id"]);
    let mut changed = body.clone();
    changed["title"] = json!("twice");
    let conflict = send(changed).await?;
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
    assert_eq!(listed_posts(&app).await?, 1);
    Ok(())
}

#[tokio::test]
async fn cancelling_works_until_upload_starts_and_deletes_the_video() -> Result<()> {
    let (app, user, account) = publishing_app(Backend::Sqlite, |_| {}).await?;
    let media = stage(&app, user, &video(30_000, 8)).await?;
    let later = (chrono::Utc::now() + chrono::Duration::hours(3)).to_rfc3339();
    let (status, post) =
        create_post(&app, &account, &media, json!({"scheduled_at": later})).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    assert_eq!(post["state"], "scheduled");
    let id = post["id"].as_str().unwrap();
    let resp = app.delete(&format!("/api/posts/{id}")).await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await?;
    assert_eq!(body["state"], "cancelled");
    assert_eq!(
        staging_files(&app),
        0,
        "cancelling deletes the staged video at once"
    );

    // A published post cannot be cancelled.
    let media = stage(&app, user, &video(30_000, 9)).await?;
    let (_, post) = create_post(&app, &account, &media, json!({})).await?;
    let id = post["id"].as_str().unwrap();
    wait_state(&app, id, &["published"], Duration::from_secs(30)).await?;
    let resp = app.delete(&format!("/api/posts/{id}")).await?;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let body: Value = resp.json().await?;
    assert_eq!(body["error"]["code"], "not_cancellable");
    Ok(())
}

#[tokio::test]
async fn fifty_posts_for_one_account_never_draw_a_429() -> Result<()> {
    // TikTok's per-token windows, compressed to 3 s on both sides so the test stays short.
    let (app, user, account) = publishing_app(Backend::Sqlite, |c| {
        c.tiktok.pacing_window_secs = 3;
        c.worker.concurrency = 16;
    })
    .await?;
    app.sandbox.update_knobs(|k| {
        k.rate_limits.window_secs = 3;
        k.processing_delay_ms = 50;
        k.moderation_delay_ms = 50;
    });
    app.sandbox
        .update_creator(PUBLIC, |c| c.daily_post_cap = 1000)?;
    let mut ids = Vec::new();
    for i in 0..50u8 {
        let media = stage(&app, user, &video(20_000, i)).await?;
        // creator_info at creation counts against its limit too (20 per window).
        let (status, post) = create_post(
            &app,
            &account,
            &media,
            json!({"privacy_level": "SELF_ONLY"}),
        )
        .await?;
        if status != StatusCode::ACCEPTED {
            let bad: Vec<_> = app
                .sandbox
                .records()
                .calls
                .into_iter()
                .filter(|c| c.endpoint == "video.init" || c.endpoint == "creator_info.query")
                .map(|c| (c.at.format("%S%.3f").to_string(), c.endpoint, c.status))
                .collect();
            panic!("post {i}: {post}; sandbox creator_info and init calls: {bad:?}");
        }
        ids.push(post["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        wait_state(&app, id, &["published"], Duration::from_secs(120)).await?;
    }
    let records = app.sandbox.records();
    let throttled: Vec<_> = records.calls.iter().filter(|c| c.status == 429).collect();
    assert!(
        throttled.is_empty(),
        "the sandbox answered 429: {throttled:?}"
    );
    assert_eq!(
        records.posts.iter().filter(|p| p.upload_complete).count(),
        50
    );
    Ok(())
}

#[tokio::test]
async fn another_users_post_and_media_ids_answer_404_and_change_nothing() -> Result<()> {
    let (app, user, account) = publishing_app(Backend::Sqlite, |_| {}).await?;
    let media = stage(&app, user, &video(30_000, 11)).await?;
    let later = (chrono::Utc::now() + chrono::Duration::hours(3)).to_rfc3339();
    let (_, post) = create_post(&app, &account, &media, json!({"scheduled_at": later})).await?;
    let id = post["id"].as_str().unwrap().to_owned();
    let other_media = stage(&app, user, &video(30_000, 12)).await?;

    let bob = TestApp::new_client();
    app.sign_in_with(&bob, "bob-the-other").await?;
    let patch =
        json!({"scheduled_at": (chrono::Utc::now() + chrono::Duration::hours(5)).to_rfc3339()});
    let calls: Vec<(reqwest::Method, String, Option<Value>)> = vec![
        (reqwest::Method::GET, format!("/api/posts/{id}"), None),
        (reqwest::Method::DELETE, format!("/api/posts/{id}"), None),
        (
            reqwest::Method::PATCH,
            format!("/api/posts/{id}"),
            Some(patch),
        ),
        (
            reqwest::Method::POST,
            format!("/api/posts/{id}/retry"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/api/media/{}", other_media.id),
            None,
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/media/{}", other_media.id),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/api/accounts/{account}/videos"),
            None,
        ),
    ];
    for (method, path, body) in calls {
        let mut req = bob
            .request(method.clone(), app.url(&path))
            .header(ORIGIN, &app.base_url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
    // Bob cannot post Alice's account or video either.
    let bob_post = bob
        .post(app.url("/api/posts"))
        .header(ORIGIN, &app.base_url)
        .json(&json!({"account_id": account, "media_id": other_media.id, "privacy_level": "SELF_ONLY"}))
        .send()
        .await?;
    assert_eq!(bob_post.status(), StatusCode::NOT_FOUND);
    let (_, mine) = app.get_json(&format!("/api/posts/{id}")).await?;
    assert_eq!(mine["state"], "scheduled");
    assert_eq!(mine["scheduled_at"], post["scheduled_at"]);
    assert_eq!(staging_files(&app), 2, "both videos are still there");
    Ok(())
}

#[tokio::test]
async fn a_video_whose_key_cannot_be_opened_fails_its_post_at_once_with_a_reason() -> Result<()> {
    let (app, user, account) = publishing_app(Backend::Sqlite, |_| {}).await?;
    // The publish that fails the post ends its task for good (dead, not retried).
    app.allow_dead_jobs(1);
    let media = stage(&app, user, &video(30_000, 21)).await?;
    // Its data key now sits wrapped by a key that is no longer in TOKEN_KEYS (retired).
    let gone = jobs::vault::Vault::new(jobs::vault::KeyRing::parse(
        &jobs::vault::KeyRing::generate_entry("gone"),
    )?);
    let wrapped = gone.seal(&[7u8; 32], format!("media:{}", media.id).as_bytes());
    app.store
        .rewrap_media_key(
            jobs::model::Workspace::personal_id(user),
            media.id,
            &media.wrapped_key,
            &wrapped,
        )
        .await?;

    let (status, post) = create_post(&app, &account, &media, json!({})).await?;
    assert!(status.is_success(), "{status} {post}");
    let done = wait_settled(&app, post["id"].as_str().unwrap()).await?;
    assert_eq!(done["state"], "failed", "{done}");
    assert_error(&done, "video_key_unavailable", "upload it again");
    let records = app.sandbox.records();
    assert_eq!(
        (
            records.call_count("video.init"),
            records.call_count("upload")
        ),
        (0, 0),
        "TikTok never heard of a post that cannot be read, and it was not retried"
    );
    assert_eq!(staging_files(&app), 0, "the unreadable video is deleted");
    Ok(())
}
