//! Drafts to the creator's TikTok inbox (`post_mode: "inbox"`, scope `video.upload`): the
//! staged video goes up through `inbox/video/init`, the post waits `in_inbox` once TikTok
//! delivered it (the staged copy deleted), and becomes `published` when the creator posts it
//! in the TikTok app (the sandbox's control endpoint), or `left_in_inbox` when they never do.
//! A full inbox defers the draft with its reason; an account that did not allow uploads is
//! refused at creation. A photo draft (`media_ids`) goes through `content/init` with
//! `MEDIA_UPLOAD`: TikTok pulls its images, which are deleted once it delivered the draft.

use crate::publish::{
    PUBLIC, create_post, create_post_with, stage, staging_files, video, wait_state,
};
use anyhow::{Context, Result};
use e2e::{Backend, Chunked, TestApp, assert_error};
use jobs::access_log::{AccessLine, AccessLog};
use jobs::domain::photo_urls::PhotoUrls;
use jobs::model::{MediaId, PostId, UserId, Workspace};
use jobs::staging::image::samples;
use reqwest::StatusCode;
use sandbox::{FaultAction, FaultSpec};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Every scope but `video.publish`: enough for drafts, not for direct posts.
const UPLOAD_ONLY: &str = "user.info.basic,user.info.profile,video.upload,video.list";

/// An app with small chunks, quick inbox polls, and `open_id` connected granting `grant` (all
/// scopes when `None`).
async fn draft_app(
    grant: Option<&str>,
    tweak: impl FnOnce(&mut jobs::config::Config),
) -> Result<(TestApp, UserId, String)> {
    let pace = Chunked {
        single_chunk_max: 50_000,
        processing_ms: 200,
        moderation_ms: 100,
    };
    let app = TestApp::start_chunked(Backend::Sqlite, true, pace, |c| {
        c.tiktok.inbox_poll_max_interval_secs = 1;
        tweak(c);
    })
    .await?;
    let me = app.sign_in("drafter").await?;
    let user = UserId::parse(me["id"].as_str().unwrap())?;
    app.connect_tiktok_with(&app.client, PUBLIC, grant).await?;
    let (_, list) = app.get_json("/api/accounts").await?;
    let account = list["accounts"][0]["id"].as_str().unwrap().to_owned();
    Ok((app, user, account))
}

/// A draft request: no privacy level (the creator picks it in the TikTok app).
fn draft() -> Value {
    json!({ "post_mode": "inbox", "privacy_level": null })
}

/// Creates a draft of a fresh video and waits until it is `in_inbox`; returns the post.
async fn send_draft(app: &TestApp, user: UserId, account: &str, seed: u8) -> Result<Value> {
    let media = stage(app, user, &video(130_001, seed)).await?;
    let (status, post) = create_post(app, account, &media, draft()).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    assert_eq!(post["post_mode"], "inbox", "{post}");
    assert_eq!(post["privacy_level"], Value::Null, "{post}");
    let id = post["id"].as_str().unwrap();
    wait_state(app, id, &["in_inbox"], Duration::from_secs(30)).await
}

/// The creator posts the draft in the TikTok app.
async fn creator_posts(app: &TestApp, publish_id: &str) -> Result<()> {
    let url = format!(
        "{}/_sandbox/tiktok/posts/{publish_id}/creator-post",
        app.sandbox.base_url()
    );
    let resp = reqwest::Client::new()
        .post(url)
        .json(&json!({}))
        .send()
        .await?;
    anyhow::ensure!(
        resp.status().is_success(),
        "creator-post: {}",
        resp.status()
    );
    Ok(())
}

#[tokio::test]
async fn a_draft_waits_in_the_inbox_without_its_staged_video_then_publishes_when_posted()
-> Result<()> {
    // Only `video.upload`: a draft needs neither `video.publish` nor creator_info.
    let (app, user, account) = draft_app(Some(UPLOAD_ONLY), |_| {}).await?;
    assert_eq!(staging_files(&app), 0);
    let waiting = send_draft(&app, user, &account, 1).await?;
    assert_eq!(waiting["tiktok_status"], "SEND_TO_USER_INBOX", "{waiting}");
    assert!(!waiting["media_deleted_at"].is_null(), "{waiting}");
    assert_eq!(staging_files(&app), 0, "TikTok has the video: ours is gone");
    let publish_id = waiting["publish_id"].as_str().unwrap().to_owned();
    let records = app.sandbox.records();
    let task = records.post(&publish_id).expect("the inbox task");
    assert_eq!(task.post_mode, "MEDIA_UPLOAD");
    assert_eq!(task.status, "SEND_TO_USER_INBOX");
    assert!(task.upload_complete, "every byte went up");
    assert_eq!(task.privacy_level, None, "nothing but source_info is sent");
    assert_eq!(records.call_count("inbox.video.init"), 1);
    assert_eq!(records.call_count("video.init"), 0);
    assert_eq!(records.call_count("creator_info.query"), 0);

    // Still waiting a while later: neither the poll budget nor anything else moves it.
    let id = waiting["id"].as_str().unwrap();
    app.wait_for(
        "a few more inbox polls",
        Duration::from_secs(10),
        || async {
            let (_, p) = app.get_json(&format!("/api/posts/{id}")).await?;
            let polls = app.sandbox.records().call_count("status.fetch");
            Ok((polls >= 4).then_some(p))
        },
    )
    .await
    .map(|p| assert_eq!(p["state"], "in_inbox", "{p}"))?;

    creator_posts(&app, &publish_id).await?;
    let done = wait_state(&app, id, &["published"], Duration::from_secs(30)).await?;
    assert!(
        done["share_url"]
            .as_str()
            .unwrap_or_default()
            .contains("/video/"),
        "the creator posted it publicly: {done}"
    );
    assert_eq!(done["error"], Value::Null, "{done}");
    Ok(())
}

#[tokio::test]
async fn a_draft_survives_a_failed_init_and_a_lost_chunk_response_as_one_draft_with_our_bytes()
-> Result<()> {
    let (app, user, account) = draft_app(None, |_| {}).await?;
    app.sandbox.inject_fault(FaultSpec::new(
        "inbox.video.init",
        1,
        FaultAction::Status { status: 503 },
    ));
    app.sandbox
        .inject_fault(FaultSpec::on_chunk(2, FaultAction::DropAfterCommit));
    let bytes = video(130_001, 9);
    let media = stage(&app, user, &bytes).await?;
    let (status, post) = create_post(&app, &account, &media, draft()).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    let id = post["id"].as_str().unwrap();
    wait_state(&app, id, &["in_inbox"], Duration::from_secs(40)).await?;
    let records = app.sandbox.records();
    let complete: Vec<_> = records.posts.iter().filter(|p| p.upload_complete).collect();
    assert_eq!(
        records.call_count("inbox.video.init"),
        2,
        "the 503, then the init"
    );
    assert_eq!(complete.len(), 1, "one draft at TikTok");
    assert_eq!(complete[0].post_mode, "MEDIA_UPLOAD");
    let ours = hex::encode(Sha256::digest(&bytes));
    assert_eq!(complete[0].sha256.as_deref(), Some(ours.as_str()));
    assert_eq!(staging_files(&app), 0);
    Ok(())
}

#[tokio::test]
async fn a_draft_never_posted_is_left_in_the_inbox_with_an_explanation() -> Result<()> {
    let (app, user, account) = draft_app(None, |c| {
        c.tiktok.inbox_draft_ttl = Duration::from_secs(3);
    })
    .await?;
    let waiting = send_draft(&app, user, &account, 2).await?;
    let id = waiting["id"].as_str().unwrap();
    let left = wait_state(&app, id, &["left_in_inbox"], Duration::from_secs(20)).await?;
    assert_eq!(left["error"]["code"], "left_in_inbox", "{left}");
    let why = left["error"]["message"].as_str().unwrap();
    assert!(why.contains("TikTok discards drafts"), "{why}");
    // TikTok still holds it as a draft: it was never failed on our side, only given up.
    let publish_id = left["publish_id"].as_str().unwrap();
    assert_eq!(
        app.sandbox.records().post(publish_id).unwrap().status,
        "SEND_TO_USER_INBOX"
    );
    Ok(())
}

#[tokio::test]
async fn a_full_inbox_defers_the_draft_with_its_reason() -> Result<()> {
    let (app, user, account) = draft_app(None, |_| {}).await?;
    app.sandbox.update_knobs(|k| k.pending_share_cap = 1);
    send_draft(&app, user, &account, 3).await?;
    let media = stage(&app, user, &video(60_000, 4)).await?;
    let (status, post) = create_post(&app, &account, &media, draft()).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    let id = post["id"].as_str().unwrap();
    let deferred = wait_state(&app, id, &["scheduled", "failed"], Duration::from_secs(20)).await?;
    assert_eq!(
        deferred["state"], "scheduled",
        "deferred, never failed: {deferred}"
    );
    assert_eq!(deferred["error"]["code"], "inbox_full", "{deferred}");
    let why = deferred["error"]["message"].as_str().unwrap();
    assert!(
        why.starts_with("5 drafts are already waiting in this creator's TikTok inbox"),
        "{why}"
    );
    assert!(!deferred["scheduled_at"].is_null(), "{deferred}");
    assert_eq!(
        deferred["publish_id"],
        Value::Null,
        "nothing was started at TikTok"
    );
    assert_eq!(
        staging_files(&app),
        1,
        "the video waits for the next window"
    );
    let inbox_tasks = app.sandbox.records().posts.len();
    assert_eq!(inbox_tasks, 1, "the refused init created no task");
    Ok(())
}

#[tokio::test]
async fn an_account_that_did_not_allow_uploads_is_refused_a_draft_at_creation() -> Result<()> {
    let grant = "user.info.basic,user.info.profile,video.publish,video.list";
    let (app, user, account) = draft_app(Some(grant), |_| {}).await?;
    let media = stage(&app, user, &video(30_000, 5)).await?;
    let (status, body) = create_post(&app, &account, &media, draft()).await?;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_error(&body, "scope_missing", "allow uploads");
    let (_, list) = app.get_json("/api/posts").await?;
    assert_eq!(list["posts"].as_array().map(Vec::len), Some(0), "{list}");
    // The same account still posts directly.
    let (status, body) = create_post(&app, &account, &media, json!({})).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    Ok(())
}

#[tokio::test]
async fn a_campaign_row_can_send_a_draft_without_a_privacy_level() -> Result<()> {
    let (app, user, account) = draft_app(Some(UPLOAD_ONLY), |_| {}).await?;
    let media = stage(&app, user, &video(30_000, 6)).await?;
    let body = json!({ "posts": [
        { "account": account, "media_id": media.id, "post_mode": "inbox" },
    ]});
    let (status, resp) = app
        .post_json_keyed("/api/campaigns", &body, Some("drafts-1"))
        .await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{resp}");
    assert_eq!(resp["posts"][0]["post_mode"], "inbox", "{resp}");
    let id = resp["posts"][0]["id"].as_str().unwrap();
    wait_state(&app, id, &["in_inbox"], Duration::from_secs(30)).await?;
    let bad = json!({ "posts": [
        { "account": account, "media_id": media.id, "post_mode": "later" },
    ]});
    let resp = app
        .client
        .post(app.url("/api/campaigns"))
        .header(reqwest::header::ORIGIN, &app.base_url)
        .header("idempotency-key", "drafts-2")
        .json(&bad)
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let resp: Value = resp.json().await?;
    assert_eq!(resp["rows"][0]["code"], "invalid_post_mode", "{resp}");
    Ok(())
}

/// Two images staged over HTTP (a JPEG and a WebP): their ids.
async fn two_images(app: &TestApp) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    for bytes in [samples::jpeg(1080, 1350), samples::webp(1920, 1080)] {
        let (status, body) = app.upload_media(bytes, "application/octet-stream").await?;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(body["id"].as_str().context("media id")?.to_owned());
    }
    Ok(ids)
}

/// Successful image fetches through capability URLs in the access log.
fn logged_pulls(app: &TestApp) -> usize {
    let dir = AccessLog::dir_for(&app.config.server.data_dir);
    std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<AccessLine>(l).ok())
                .filter(|l| l.route == "/p/{token}" && l.status == 200)
                .collect::<Vec<_>>()
        })
        .count()
}

#[tokio::test]
async fn a_photo_draft_is_pulled_then_waits_in_the_inbox_without_its_images_until_posted()
-> Result<()> {
    // Only `video.upload`: a photo draft needs neither `video.publish` nor creator_info.
    let (app, user, account) = draft_app(Some(UPLOAD_ONLY), |_| {}).await?;
    app.sandbox_pulls_our_photos(true)?;
    let ids = two_images(&app).await?;
    let (status, post) = create_post_with(
        &app,
        &app.client,
        &account,
        "",
        json!({
            "media_id": null,
            "media_ids": ids,
            "photo_cover_index": 1,
            "title": "two photos",
            "description": "a draft carousel #rust",
            "post_mode": "inbox",
            "privacy_level": null,
        }),
    )
    .await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    assert_eq!(post["post_mode"], "inbox", "{post}");
    let id = post["id"].as_str().context("post id")?;
    let waiting = wait_state(&app, id, &["in_inbox"], Duration::from_secs(30)).await?;
    assert_eq!(waiting["tiktok_status"], "SEND_TO_USER_INBOX", "{waiting}");
    assert!(!waiting["media_deleted_at"].is_null(), "{waiting}");

    let publish_id = waiting["publish_id"].as_str().context("publish id")?;
    let records = app.sandbox.records();
    let task = records.post(publish_id).context("the photo draft task")?;
    assert_eq!(task.post_mode, "MEDIA_UPLOAD");
    assert_eq!(task.media_type, "PHOTO");
    assert_eq!(task.source, "PULL_FROM_URL");
    assert_eq!(task.title.as_deref(), Some("two photos"));
    assert_eq!(task.privacy_level, None, "the creator picks it in the app");
    assert_eq!(records.call_count("content.init"), 1);
    assert_eq!(records.call_count("creator_info.query"), 0);
    // TikTok fetched both images (a failed fetch would have failed the draft), each once.
    let pulls = app
        .wait_for("two logged pulls", Duration::from_secs(10), || async {
            let n = logged_pulls(&app);
            Ok((n >= 2).then_some(n))
        })
        .await?;
    assert_eq!(pulls, 2);

    // TikTok holds the images: ours are gone, and their URLs serve nothing any more.
    for m in &ids {
        let (status, _) = app.get_json(&format!("/api/media/{m}")).await?;
        assert_eq!(status, StatusCode::NOT_FOUND, "image {m} still staged");
    }
    assert_eq!(staging_files(&app), 0);
    let stored = app
        .store
        .post(Workspace::personal_id(user), PostId::parse(id)?)
        .await?;
    let minted = stored
        .tiktok
        .upload_url_issued_at
        .context("the post recorded when its URLs were minted")?;
    let urls = PhotoUrls::new(&app.config);
    for m in &ids {
        let url = urls.url(Workspace::personal_id(user), MediaId::parse(m)?, minted);
        assert_eq!(
            app.client.get(url).send().await?.status(),
            StatusCode::NOT_FOUND
        );
    }

    creator_posts(&app, publish_id).await?;
    let done = wait_state(&app, id, &["published"], Duration::from_secs(30)).await?;
    assert_eq!(done["error"], Value::Null, "{done}");
    assert_eq!(
        app.sandbox.records().post(publish_id).unwrap().status,
        "PUBLISH_COMPLETE"
    );
    Ok(())
}

#[tokio::test]
async fn a_campaign_row_can_send_a_photo_draft() -> Result<()> {
    let (app, _user, account) = draft_app(Some(UPLOAD_ONLY), |_| {}).await?;
    app.sandbox_pulls_our_photos(true)?;
    let ids = two_images(&app).await?;
    let body = json!({ "posts": [
        { "account": account, "media_ids": ids, "title": "row photos", "post_mode": "inbox" },
    ]});
    let (status, resp) = app
        .post_json_keyed("/api/campaigns", &body, Some("photo-drafts-1"))
        .await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{resp}");
    let id = resp["posts"][0]["id"].as_str().context("post id")?;
    let waiting = wait_state(&app, id, &["in_inbox"], Duration::from_secs(30)).await?;
    let publish_id = waiting["publish_id"].as_str().context("publish id")?;
    let records = app.sandbox.records();
    let task = records.post(publish_id).context("the photo draft task")?;
    assert_eq!(
        (task.post_mode.as_str(), task.media_type.as_str()),
        ("MEDIA_UPLOAD", "PHOTO")
    );
    assert_eq!(records.call_count("creator_info.query"), 0);
    assert_eq!(staging_files(&app), 0);
    Ok(())
}

#[tokio::test]
async fn a_full_inbox_defers_a_photo_draft_like_a_video_draft() -> Result<()> {
    let (app, _user, account) = draft_app(Some(UPLOAD_ONLY), |_| {}).await?;
    app.sandbox_pulls_our_photos(true)?;
    app.sandbox.update_knobs(|k| k.pending_share_cap = 0);
    let ids = two_images(&app).await?;
    let (status, post) = create_post_with(
        &app,
        &app.client,
        &account,
        "",
        json!({ "media_id": null, "media_ids": ids, "post_mode": "inbox", "privacy_level": null }),
    )
    .await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    let id = post["id"].as_str().context("post id")?;
    let deferred = wait_state(&app, id, &["scheduled", "failed"], Duration::from_secs(20)).await?;
    assert_eq!(deferred["state"], "scheduled", "never failed: {deferred}");
    assert_eq!(deferred["error"]["code"], "inbox_full", "{deferred}");
    assert_eq!(deferred["publish_id"], Value::Null, "{deferred}");
    assert_eq!(
        staging_files(&app),
        2,
        "the images wait for the next window"
    );
    Ok(())
}
