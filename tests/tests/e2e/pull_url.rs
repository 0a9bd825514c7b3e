//! Videos TikTok downloads itself (PULL_FROM_URL): a `video_url` under a verified prefix is
//! published without a byte passing through us, refused URLs write nothing, a download can be
//! cancelled while it runs, TikTok's pull failures read clearly; and an app TikTok has not
//! audited yet posts only `SELF_ONLY` to private accounts, refused at creation otherwise.

use crate::publish::{publishing_app, stage, staging_files, video, wait_settled, wait_state};
use anyhow::Result;
use e2e::{Backend, TestApp, assert_error};
use jobs::model::UserId;
use reqwest::StatusCode;
use reqwest::header::ORIGIN;
use serde_json::{Value, json};
use std::time::Duration;

const PUBLIC: &str = "-000sandbox-public-0001";
const PRIVATE: &str = "-000sandbox-private-0002";
/// The prefix verified on both sides.
const PREFIX: &str = "https://media.example.com/tiktok/";

/// A publishing app whose TikTok app (ours and the sandbox's) has `PREFIX` verified and is
/// audited or not; TikTok downloads a video in `download_ms`.
async fn url_app(audited: bool, download_ms: i64) -> Result<(TestApp, UserId, String)> {
    let (app, user, account) = publishing_app(Backend::Sqlite, |c| {
        c.tiktok.verified_url_prefixes = vec![PREFIX.into()];
        c.tiktok.app_audited = audited;
    })
    .await?;
    app.mirror_app_at_tiktok()?;
    app.sandbox
        .update_knobs(|k| k.pull_download_ms = download_ms);
    Ok((app, user, account))
}

/// `POST /api/posts` for `video_url`, with `extra` fields on top of a public direct post.
async fn post_url(
    app: &TestApp,
    account: &str,
    url: &str,
    extra: Value,
) -> Result<(StatusCode, Value)> {
    let mut body = json!({
        "account_id": account,
        "video_url": url,
        "title": "pulled #sandbox",
        "privacy_level": "PUBLIC_TO_EVERYONE",
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    app.post_json("/api/posts", &body).await
}

/// The sandbox's publish tasks for `open_id`.
fn tiktok_posts(app: &TestApp, open_id: &str) -> Vec<sandbox::records::PostRecord> {
    app.sandbox
        .records()
        .posts
        .into_iter()
        .filter(|p| p.open_id == open_id)
        .collect()
}

/// The id of the connected account with this TikTok username.
async fn account_named(app: &TestApp, username: &str) -> Result<String> {
    let (_, list) = app.get_json("/api/accounts").await?;
    let found = list["accounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["username"] == username)
        .and_then(|a| a["id"].as_str())
        .map(str::to_owned);
    found.ok_or_else(|| anyhow::anyhow!("no account {username}: {list}"))
}

#[tokio::test]
async fn a_video_url_is_published_by_tiktok_without_a_byte_through_us() -> Result<()> {
    let (app, user, account) = url_app(true, 200).await?;
    let url = format!("{PREFIX}launch/clip.mp4?v=2");
    let (status, post) = post_url(&app, &account, &url, json!({})).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    assert_eq!(post["source"], json!({"kind": "url", "video_url": url}));
    assert!(post["media_id"].is_null(), "{post}");
    let id = post["id"].as_str().unwrap();
    let done = wait_settled(&app, id).await?;
    assert_eq!(done["state"], "published", "{done}");
    let at_tiktok = tiktok_posts(&app, PUBLIC);
    assert_eq!(at_tiktok.len(), 1, "exactly one post at TikTok");
    assert_eq!(at_tiktok[0].source, "PULL_FROM_URL");
    assert_eq!(at_tiktok[0].video_url.as_deref(), Some(url.as_str()));
    assert_eq!(
        at_tiktok[0].privacy_level.as_deref(),
        Some("PUBLIC_TO_EVERYONE")
    );
    assert_eq!(
        done["publish_id"].as_str(),
        Some(at_tiktok[0].publish_id.as_str())
    );
    // Nothing of the video was ever on our side.
    let ws = jobs::model::WorkspaceId(user.0);
    assert!(app.store.list_media(ws).await?.is_empty(), "no media row");
    assert_eq!(staging_files(&app), 0);
    assert_eq!(
        app.sandbox.records().bytes_uploaded,
        0,
        "no byte uploaded by us"
    );
    Ok(())
}

#[tokio::test]
async fn a_url_tiktok_would_not_pull_is_refused_and_nothing_is_written() -> Result<()> {
    let (app, user, account) = url_app(true, 200).await?;
    for (url, why) in [
        ("http://media.example.com/tiktok/a.mp4", "https"),
        ("https://203.0.113.9/tiktok/a.mp4", "IP address"),
        ("https://media.example.com/other/a.mp4", "prefix"),
        ("https://cdn.example.net/tiktok/a.mp4", "prefix"),
    ] {
        let (status, body) = post_url(&app, &account, url, json!({})).await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert_error(&body, "url_not_verified", why);
        assert_error(&body, "url_not_verified", "TIKTOK_VERIFIED_URL_PREFIXES");
    }
    // A request naming a staged video too is ambiguous.
    let media = stage(&app, user, &video(20_000, 3)).await?;
    let (status, body) = post_url(
        &app,
        &account,
        &format!("{PREFIX}a.mp4"),
        json!({"media_id": media.id}),
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error(&body, "media_ambiguous", "only one");
    let (_, list) = app.get_json("/api/posts").await?;
    assert_eq!(list["posts"].as_array().map(Vec::len), Some(0), "{list}");
    assert!(
        tiktok_posts(&app, PUBLIC).is_empty(),
        "nothing reached TikTok"
    );
    Ok(())
}

/// Our prefix list and TikTok's disagree: TikTok's refusal fails the post with a reason that
/// says what to do.
#[tokio::test]
async fn a_url_tiktok_has_not_verified_fails_with_a_clear_reason() -> Result<()> {
    let (app, _, account) = url_app(true, 200).await?;
    app.sandbox.update_app(sandbox::DEMO_CLIENT_KEY, |a| {
        a.verified_url_prefixes = vec!["https://media.example.com/elsewhere/".into()];
    })?;
    let (status, post) = post_url(&app, &account, &format!("{PREFIX}a.mp4"), json!({})).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    let done = wait_settled(&app, post["id"].as_str().unwrap()).await?;
    assert_eq!(done["state"], "failed", "{done}");
    assert_eq!(done["error"]["code"], "url_ownership_unverified", "{done}");
    let message = done["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("verified"), "{message}");
    app.allow_dead_jobs(1);
    Ok(())
}

#[tokio::test]
async fn a_download_can_be_cancelled_while_tiktok_runs_it_and_not_after() -> Result<()> {
    // A download that takes ten minutes: long enough to cancel it.
    let (app, _, account) = url_app(true, 600_000).await?;
    let (_, post) = post_url(&app, &account, &format!("{PREFIX}long.mp4"), json!({})).await?;
    let id = post["id"].as_str().unwrap().to_owned();
    let downloading = app
        .wait_for(
            "TikTok's download progress",
            Duration::from_secs(20),
            || async {
                let (_, p) = app.get_json(&format!("/api/posts/{id}")).await?;
                let started = p["state"] == "processing"
                    && p["tiktok_status"] == "PROCESSING_DOWNLOAD"
                    && p["downloaded_bytes"].as_u64().is_some();
                Ok(started.then_some(p))
            },
        )
        .await?;
    assert_eq!(downloading["uploaded_bytes"], 0, "{downloading}");
    let resp = app.delete(&format!("/api/posts/{id}")).await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await?;
    assert_eq!(body["state"], "cancelled", "{body}");
    let at_tiktok = tiktok_posts(&app, PUBLIC);
    assert_eq!(at_tiktok.len(), 1);
    assert_eq!(at_tiktok[0].status, "FAILED");
    assert_eq!(
        at_tiktok[0].fail_reason.as_deref(),
        Some("publish_cancelled")
    );

    // Downloaded, still processing at TikTok: too late to cancel.
    app.sandbox.update_knobs(|k| {
        k.pull_download_ms = 50;
        k.processing_delay_ms = 600_000;
    });
    let (_, post) = post_url(&app, &account, &format!("{PREFIX}short.mp4"), json!({})).await?;
    let id = post["id"].as_str().unwrap();
    wait_state(&app, id, &["processing"], Duration::from_secs(20)).await?;
    // Every byte downloaded, by TikTok's own count.
    let size = app.sandbox.knobs().pull_video_size;
    app.wait_for("the download to end", Duration::from_secs(20), || async {
        let (_, p) = app.get_json(&format!("/api/posts/{id}")).await?;
        Ok((p["downloaded_bytes"].as_i64() == Some(size)).then_some(()))
    })
    .await?;
    let resp = app.delete(&format!("/api/posts/{id}")).await?;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let body: Value = resp.json().await?;
    assert_error(&body, "not_cancellable", "already downloaded");
    let (_, p) = app.get_json(&format!("/api/posts/{id}")).await?;
    assert_eq!(p["state"], "processing", "{p}");
    Ok(())
}

#[tokio::test]
async fn a_download_tiktok_gives_up_on_is_explained_and_can_be_retried() -> Result<()> {
    let (app, _, account) = url_app(true, 100).await?;
    app.sandbox.update_knobs(|k| {
        k.pull_stalls = true;
        k.pull_timeout_secs = 1;
    });
    let (_, post) = post_url(&app, &account, &format!("{PREFIX}stalls.mp4"), json!({})).await?;
    let id = post["id"].as_str().unwrap();
    let failed = wait_settled(&app, id).await?;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(failed["error"]["code"], "video_pull_failed", "{failed}");
    let message = failed["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("download the video from its URL"),
        "{message}"
    );
    // The URL is still there: a retry asks TikTok to download it again.
    app.sandbox.update_knobs(|k| k.pull_stalls = false);
    let resp = app
        .client
        .post(app.url(&format!("/api/posts/{id}/retry")))
        .header(ORIGIN, &app.base_url)
        .send()
        .await?;
    assert_eq!(
        resp.status(),
        StatusCode::ACCEPTED,
        "{}",
        resp.text().await?
    );
    let done = wait_settled(&app, id).await?;
    assert_eq!(done["state"], "published", "{done}");
    let at_tiktok = tiktok_posts(&app, PUBLIC);
    assert_eq!(at_tiktok.len(), 2, "the failed task and the retry");
    assert_eq!(
        at_tiktok[0].fail_reason.as_deref(),
        Some("video_pull_failed")
    );
    Ok(())
}

#[tokio::test]
async fn an_unaudited_app_posts_only_self_only_to_private_accounts() -> Result<()> {
    let (app, user, sunny) = url_app(false, 100).await?;
    app.connect_tiktok(PRIVATE).await?;
    let pia = account_named(&app, "pia.private").await?;
    // creator-info offers only what TikTok would take, and says why.
    let (_, info) = app
        .get_json(&format!("/api/accounts/{pia}/creator-info"))
        .await?;
    assert_eq!(
        info["privacy_level_options"],
        json!(["SELF_ONLY"]),
        "{info}"
    );
    assert!(
        info["private_only_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("audited")
    );
    let (_, info) = app
        .get_json(&format!("/api/accounts/{sunny}/creator-info"))
        .await?;
    assert!(
        info["private_only_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("public"),
        "{info}"
    );

    let pia_post = json!({"disable_duet": true, "disable_stitch": true});
    let mut public = pia_post.clone();
    public["privacy_level"] = json!("FOLLOWER_OF_CREATOR");
    let (status, body) = post_url(&app, &pia, &format!("{PREFIX}a.mp4"), public).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error(&body, "unaudited_app_private_only", "Only me");
    // A staged video is refused the same way: the rule is the app's, whatever the source.
    let media = stage(&app, user, &video(20_000, 5)).await?;
    let resp = app
        .client
        .post(app.url("/api/posts"))
        .header(ORIGIN, &app.base_url)
        .json(&json!({"account_id": sunny, "media_id": media.id, "privacy_level": "SELF_ONLY"}))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&resp.json().await?, "unaudited_app_private_only", "public");
    let (_, list) = app.get_json("/api/posts").await?;
    assert_eq!(list["posts"].as_array().map(Vec::len), Some(0), "{list}");

    // A campaign row too.
    let (status, resp) = campaign(
        &app,
        "unaudited",
        json!([{"account": sunny, "video_url": format!("{PREFIX}c.mp4"), "privacy_level": "PUBLIC_TO_EVERYONE"}]),
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{resp}");
    assert_eq!(
        resp["rows"][0]["code"], "unaudited_app_private_only",
        "{resp}"
    );

    let mut private = pia_post;
    private["privacy_level"] = json!("SELF_ONLY");
    let (status, post) = post_url(&app, &pia, &format!("{PREFIX}b.mp4"), private).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    let done = wait_settled(&app, post["id"].as_str().unwrap()).await?;
    assert_eq!(done["state"], "published", "{done}");
    assert_eq!(
        tiktok_posts(&app, PRIVATE)[0].privacy_level.as_deref(),
        Some("SELF_ONLY")
    );
    Ok(())
}

/// Sends a JSON campaign under `key`.
async fn campaign(app: &TestApp, key: &str, rows: Value) -> Result<(StatusCode, Value)> {
    let resp = app
        .client
        .post(app.url("/api/campaigns"))
        .header(ORIGIN, &app.base_url)
        .header("idempotency-key", key)
        .json(&json!({ "posts": rows }))
        .send()
        .await?;
    let status = resp.status();
    Ok((status, resp.json().await?))
}

#[tokio::test]
async fn a_campaign_row_may_name_a_video_url() -> Result<()> {
    let (app, user, sunny) = url_app(true, 100).await?;
    let media = stage(&app, user, &video(20_000, 6)).await?;
    let url = format!("{PREFIX}campaign.mp4");
    let (status, resp) = campaign(
        &app,
        "bad",
        json!([
            {"account": sunny, "video_url": "https://elsewhere.example.net/a.mp4", "privacy_level": "SELF_ONLY"},
            {"account": sunny, "video_url": url, "media_id": media.id, "privacy_level": "SELF_ONLY"},
            {"account": sunny, "privacy_level": "SELF_ONLY"},
        ]),
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{resp}");
    let codes: Vec<&str> = resp["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["code"].as_str())
        .collect();
    assert_eq!(
        codes,
        ["url_not_verified", "media_ambiguous", "media_required"],
        "{resp}"
    );

    let (status, resp) = campaign(
        &app,
        "good",
        json!([{"account": sunny, "video_url": url, "title": "from a row", "privacy_level": "SELF_ONLY"}]),
    )
    .await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{resp}");
    let id = resp["posts"][0]["id"].as_str().unwrap();
    let done = wait_settled(&app, id).await?;
    assert_eq!(done["state"], "published", "{done}");
    let at_tiktok = tiktok_posts(&app, PUBLIC);
    assert_eq!(at_tiktok.len(), 1);
    assert_eq!(at_tiktok[0].video_url.as_deref(), Some(url.as_str()));
    Ok(())
}

/// TikTok's answer to `video/init` is lost after TikTok acted on it: an init alone makes a
/// PULL_FROM_URL post, so the job never sends a second one and says why; a refusal TikTok
/// answered (a 503) created nothing, so the retry initialises again. One TikTok post each time.
#[tokio::test]
async fn a_lost_init_answer_is_never_sent_twice_and_a_refused_one_is_retried() -> Result<()> {
    use sandbox::{FaultAction, FaultSpec};
    let (app, _, account) = url_app(true, 100).await?;
    app.sandbox.inject_fault(FaultSpec::new(
        "video.init",
        1,
        FaultAction::DropAfterCommit,
    ));
    let (_, post) = post_url(&app, &account, &format!("{PREFIX}lost.mp4"), json!({})).await?;
    let failed = wait_settled(&app, post["id"].as_str().unwrap()).await?;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(failed["error"]["code"], "pull_outcome_unknown", "{failed}");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Check the TikTok profile")
    );
    assert_eq!(
        app.sandbox.records().call_count("video.init"),
        1,
        "no second init"
    );
    assert_eq!(tiktok_posts(&app, PUBLIC).len(), 1);
    app.allow_dead_jobs(1);

    app.sandbox.inject_fault(FaultSpec::new(
        "video.init",
        1,
        FaultAction::Status { status: 503 },
    ));
    let (_, post) = post_url(&app, &account, &format!("{PREFIX}refused.mp4"), json!({})).await?;
    let done = wait_settled(&app, post["id"].as_str().unwrap()).await?;
    assert_eq!(done["state"], "published", "{done}");
    assert_eq!(
        app.sandbox.records().call_count("video.init"),
        3,
        "the 503, then the retry"
    );
    assert_eq!(
        tiktok_posts(&app, PUBLIC).len(),
        2,
        "one TikTok post per post"
    );
    Ok(())
}

/// A draft by URL goes to the creator's inbox through `inbox/video/init`, without settings.
#[tokio::test]
async fn a_url_draft_goes_to_the_inbox_init() -> Result<()> {
    let (app, _, account) = url_app(true, 100).await?;
    let url = format!("{PREFIX}draft.mp4");
    let (status, post) = post_url(&app, &account, &url, json!({"post_mode": "inbox"})).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    let id = post["id"].as_str().unwrap();
    let task = app
        .wait_for("the inbox task", Duration::from_secs(20), || async {
            Ok(tiktok_posts(&app, PUBLIC).into_iter().next())
        })
        .await?;
    assert_eq!(task.post_mode, "MEDIA_UPLOAD");
    assert_eq!(task.source, "PULL_FROM_URL");
    assert_eq!(task.video_url.as_deref(), Some(url.as_str()));
    assert_eq!(
        task.privacy_level, None,
        "the creator chooses in the TikTok app"
    );
    let p = wait_state(
        &app,
        id,
        &["processing", "in_inbox"],
        Duration::from_secs(20),
    )
    .await?;
    assert_eq!(
        p["publish_id"].as_str(),
        Some(task.publish_id.as_str()),
        "{p}"
    );
    Ok(())
}
