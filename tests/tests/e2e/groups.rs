//! Post groups (`POST /api/post-groups`): one compose sent to several accounts as independent
//! posts that read one staged video. The video is uploaded once, published once per account
//! with exactly its bytes, and deleted after the last post no longer needs it, whatever each
//! post's outcome and in every order, a crash between two confirmations included. A group
//! with one bad target creates nothing and names that account.

use crate::publish::{PUBLIC, publishing_app, stage, staging_files, video, wait_state};
use anyhow::{Context, Result, ensure};
use e2e::{Backend, Chunked, TestApp};
use jobs::model::{Media, PostId, PostState, UserId, WorkspaceId};
use jobs::queue::payloads::PublishPost;
use reqwest::StatusCode;
use reqwest::header::ORIGIN;
use sandbox::MediaCheck;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;

const PRIVATE: &str = "-000sandbox-private-0002";

/// `POST /api/post-groups` with `body` (and `key` as its Idempotency-Key).
async fn post_group(app: &TestApp, body: &Value, key: Option<&str>) -> Result<(StatusCode, Value)> {
    app.post_json_keyed("/api/post-groups", body, key).await
}

/// A publishing app with both sandbox creators connected: the public account's id, then the
/// private one's.
async fn two_accounts(backend: Backend) -> Result<(TestApp, UserId, String, String)> {
    let (app, user, public) = publishing_app(backend, |_| {}).await?;
    app.connect_tiktok(PRIVATE).await?;
    let private = account_other_than(&app, &public).await?;
    Ok((app, user, public, private))
}

async fn account_other_than(app: &TestApp, known: &str) -> Result<String> {
    let (_, list) = app.get_json("/api/accounts").await?;
    list["accounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["id"].as_str())
        .find(|id| *id != known)
        .map(str::to_owned)
        .context("the second account")
}

/// Two new sandbox creators, connected: their account ids. Fresh accounts keep each
/// scenario inside TikTok's per-account init limit (6 a minute) without waiting.
async fn fresh_pair(app: &TestApp, n: usize) -> Result<(String, String)> {
    let mut ids = Vec::new();
    for side in ["a", "b"] {
        let mut c = app.sandbox.creator(PUBLIC).context("the demo creator")?;
        c.open_id = format!("-000sandbox-group-{n}-{side}");
        c.union_id = String::new();
        c.avatar_url = String::new();
        c.username = format!("group{n}{side}");
        app.sandbox.create_creator(c)?;
        app.connect_tiktok(&format!("-000sandbox-group-{n}-{side}"))
            .await?;
        let (_, list) = app.get_json("/api/accounts").await?;
        let id = list["accounts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["open_id"] == format!("-000sandbox-group-{n}-{side}"))
            .and_then(|a| a["id"].as_str())
            .context("the new account")?;
        ids.push(id.to_owned());
    }
    Ok((ids[0].clone(), ids[1].clone()))
}

/// A group of one shared video to both accounts, scheduled for tomorrow unless `now`.
fn group_body(media: &Media, public: &str, private: &str, now: bool) -> Value {
    let mut body = json!({
        "media_id": media.id,
        "title": "one video, two accounts #rust",
        "privacy_level": "SELF_ONLY",
        // The private creator turned Duet and Stitch off: the group asks for neither.
        "disable_duet": true,
        "disable_stitch": true,
        "targets": [
            { "account_id": public, "privacy_level": "PUBLIC_TO_EVERYONE" },
            { "account_id": private, "title": "the private account's own caption" },
        ],
    });
    if !now {
        body["scheduled_at"] = json!((chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339());
    }
    body
}

fn ids(group: &Value) -> Vec<String> {
    group["posts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["id"].as_str().map(str::to_owned))
        .collect()
}

async fn media_exists(app: &TestApp, media: &Media) -> Result<bool> {
    let (status, _) = app.get_json(&format!("/api/media/{}", media.id)).await?;
    Ok(status == StatusCode::OK)
}

#[tokio::test]
async fn a_group_publishes_one_staged_video_to_two_accounts_then_deletes_it_on_sqlite() -> Result<()>
{
    one_video_two_accounts(Backend::Sqlite).await
}

#[tokio::test]
async fn a_group_publishes_one_staged_video_to_two_accounts_then_deletes_it_on_postgres()
-> Result<()> {
    one_video_two_accounts(Backend::Postgres).await
}

async fn one_video_two_accounts(backend: Backend) -> Result<()> {
    let (app, user, public, private) = two_accounts(backend).await?;
    let bytes = video(130_000, 3);
    let media = stage(&app, user, &bytes).await?;
    let mut body = group_body(&media, &public, &private, true);
    // A shared cover frame, and the private account's own.
    body["video_cover_timestamp_ms"] = json!(500);
    body["targets"][1]["video_cover_timestamp_ms"] = json!(1200);
    let (status, group) = post_group(&app, &body, Some("group-1")).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{group}");
    let posts = group["posts"].as_array().context("posts")?;
    assert_eq!(posts.len(), 2, "{group}");
    for (p, account) in posts.iter().zip([&public, &private]) {
        assert_eq!(p["account_id"], **account, "in target order: {p}");
        assert_eq!(p["group"]["id"], group["id"], "{p}");
        assert_eq!(p["group"]["posts"], json!(ids(&group)), "{p}");
        assert_eq!(p["media_id"], json!(media.id), "one shared video: {p}");
    }
    // Shared values, and what a target changed.
    assert_eq!(posts[0]["title"], "one video, two accounts #rust");
    assert_eq!(posts[0]["privacy_level"], "PUBLIC_TO_EVERYONE");
    assert_eq!(posts[1]["title"], "the private account's own caption");
    assert_eq!(posts[1]["privacy_level"], "SELF_ONLY");
    // The same request again is the same group.
    let (again, replayed) = post_group(&app, &body, Some("group-1")).await?;
    assert_eq!(again, StatusCode::OK, "{replayed}");
    assert_eq!(replayed["id"], group["id"]);
    assert_eq!(ids(&replayed), ids(&group));

    for id in ids(&group) {
        let done = wait_state(&app, &id, &["published", "failed"], Duration::from_secs(40)).await?;
        assert_eq!(done["state"], "published", "{done}");
    }
    // Exactly one TikTok post per account, each with exactly the staged bytes.
    let sha = hex::encode(Sha256::digest(&bytes));
    let tasks = app.sandbox.records().posts;
    assert_eq!(tasks.len(), 2, "{tasks:#?}");
    for (open_id, cover) in [(PUBLIC, 500), (PRIVATE, 1200)] {
        let mine: Vec<_> = tasks.iter().filter(|t| t.open_id == open_id).collect();
        assert_eq!(mine.len(), 1, "one post at TikTok for {open_id}");
        assert_eq!(mine[0].sha256.as_deref(), Some(sha.as_str()));
        assert_eq!(mine[0].video_cover_timestamp_ms, Some(cover), "{open_id}");
    }
    // The video is gone once both are published, and both posts say so.
    assert!(
        !media_exists(&app, &media).await?,
        "the shared video is deleted"
    );
    assert_eq!(staging_files(&app), 0);
    for id in ids(&group) {
        let (_, p) = app.get_json(&format!("/api/posts/{id}")).await?;
        assert!(p["media_deleted_at"].is_string(), "{p}");
    }
    // The privacy page says how long a shared video lives.
    let page = app.get_text("/privacy").await?;
    assert!(
        page.contains("One post to several accounts")
            && page.contains("uploaded and stored once")
            && page.contains("when the last of those posts no longer needs it"),
        "{page}"
    );
    Ok(())
}

#[tokio::test]
async fn a_group_with_one_target_that_cannot_take_it_creates_nothing_and_names_it() -> Result<()> {
    let (app, user, public, private) = two_accounts(Backend::Sqlite).await?;
    let media = stage(&app, user, &video(60_000, 4)).await?;
    let calls_before = app.sandbox.records().call_count("creator_info.query");
    // The private account cannot post to everyone: TikTok does not offer it that option.
    let mut body = group_body(&media, &public, &private, false);
    body["targets"][1]["privacy_level"] = json!("PUBLIC_TO_EVERYONE");
    let (status, refused) = post_group(&app, &body, Some("group-2")).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid_targets", "{refused}");
    let targets = refused["targets"].as_array().context("targets")?;
    assert_eq!(targets.len(), 1, "{refused}");
    assert_eq!(targets[0]["target"], 1);
    assert_eq!(targets[0]["account_id"], private.as_str());
    assert_eq!(targets[0]["code"], "privacy_level_option_mismatch");
    let message = targets[0]["message"].as_str().unwrap_or_default();
    let (_, list) = app.get_json("/api/accounts").await?;
    let username = list["accounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["id"] == private.as_str())
        .and_then(|a| a["username"].as_str())
        .context("the private account's username")?;
    assert!(
        message.starts_with(&format!("@{username}: ")),
        "named as its creator knows it: {message}"
    );
    // One creator_info per account, nothing more.
    let calls = app.sandbox.records().call_count("creator_info.query") - calls_before;
    assert_eq!(calls, 2, "one creator_info call per target account");
    // Nothing was written: no post, and the video is still free for another post.
    let (_, list) = app.get_json("/api/posts").await?;
    assert_eq!(list["posts"], json!([]), "{list}");
    let (_, m) = app.get_json(&format!("/api/media/{}", media.id)).await?;
    assert!(m["post_id"].is_null(), "{m}");

    // The same account twice is refused too; so is a group without targets.
    let mut twice = group_body(&media, &public, &public, false);
    twice["targets"][1]["privacy_level"] = json!("SELF_ONLY");
    let (status, refused) = post_group(&app, &twice, None).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(
        refused["targets"][0]["code"], "group_account_repeated",
        "{refused}"
    );
    let mut none = group_body(&media, &public, &private, false);
    none["targets"] = json!([]);
    let (status, refused) = post_group(&app, &none, None).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid_group", "{refused}");
    Ok(())
}

/// What happens to one post of a group.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Published,
    Failed,
    Cancelled,
}

/// Sends the scheduled post `id` now, as the scheduler does when it falls due.
async fn due_now(app: &TestApp, ws: WorkspaceId, id: &str) -> Result<()> {
    let post_id = PostId::parse(id)?;
    let mut post = app.store.post(ws, post_id).await?;
    post.state = PostState::Queued;
    app.store.save_post(&post, PostState::Scheduled).await?;
    app.ctx
        .queue
        .push(&PublishPost {
            workspace_id: ws,
            post_id,
        })
        .await?;
    Ok(())
}

async fn finish(app: &TestApp, ws: WorkspaceId, id: &str, outcome: Outcome) -> Result<()> {
    match outcome {
        Outcome::Published | Outcome::Failed => {
            if matches!(outcome, Outcome::Failed) {
                app.sandbox.fail_next_post(MediaCheck {
                    fail_reason: "frame_rate_check_failed".into(),
                    open_id: None,
                    count: 1,
                });
            }
            due_now(app, ws, id).await?;
            let done =
                wait_state(app, id, &["published", "failed"], Duration::from_secs(40)).await?;
            let want = if matches!(outcome, Outcome::Published) {
                "published"
            } else {
                "failed"
            };
            ensure!(done["state"] == want, "{outcome:?}: {done}");
        }
        Outcome::Cancelled => {
            let resp = app.delete(&format!("/api/posts/{id}")).await?;
            ensure!(resp.status().is_success(), "cancel: {}", resp.status());
        }
    }
    Ok(())
}

#[tokio::test]
async fn the_shared_video_stays_until_the_last_post_lets_it_go_in_every_order() -> Result<()> {
    use Outcome::*;
    let (app, user, _, _) = two_accounts(Backend::Sqlite).await?;
    let ws = WorkspaceId(user.0);
    let orders = [
        [Published, Published],
        [Published, Failed],
        [Failed, Published],
        [Published, Cancelled],
        [Cancelled, Published],
        [Failed, Cancelled],
        [Cancelled, Failed],
        [Cancelled, Cancelled],
    ];
    for (n, order) in orders.into_iter().enumerate() {
        let (first, second) = fresh_pair(&app, n).await?;
        let media = stage(&app, user, &video(60_000, n as u8)).await?;
        let body = group_body(&media, &first, &second, false);
        let (status, group) = post_group(&app, &body, None).await?;
        assert_eq!(status, StatusCode::ACCEPTED, "{group}");
        let posts = ids(&group);
        // Either post may go first.
        let sequence: Vec<(&String, Outcome)> = if n % 2 == 0 {
            posts.iter().zip(order).collect()
        } else {
            posts.iter().rev().zip(order).collect()
        };
        finish(&app, ws, sequence[0].0, sequence[0].1).await?;
        assert!(
            media_exists(&app, &media).await?,
            "{order:?}: the video stays while the other post needs it"
        );
        finish(&app, ws, sequence[1].0, sequence[1].1).await?;
        assert!(
            !media_exists(&app, &media).await?,
            "{order:?}: the video is deleted after the last post lets it go"
        );
        assert_eq!(staging_files(&app), 0, "{order:?}");
    }
    Ok(())
}

#[tokio::test]
async fn a_crash_between_two_confirmations_leaves_no_video_once_the_job_runs_again() -> Result<()> {
    use apalis::prelude::Data;
    use jobs::handlers::{poll_status, publish};
    use jobs::queue::payloads::PollStatus;
    // No worker: this test runs each job itself, to stop one where a crash would.
    let pace = Chunked {
        single_chunk_max: 50_000,
        processing_ms: 100,
        moderation_ms: 0,
    };
    let app = TestApp::start_chunked(Backend::Sqlite, false, pace, |_| {}).await?;
    let me = app.sign_in("publisher").await?;
    let user = UserId::parse(me["id"].as_str().context("user id")?)?;
    let ws = WorkspaceId(user.0);
    app.connect_tiktok(PUBLIC).await?;
    let (_, list) = app.get_json("/api/accounts").await?;
    let public = list["accounts"][0]["id"]
        .as_str()
        .context("account")?
        .to_owned();
    app.connect_tiktok(PRIVATE).await?;
    let private = account_other_than(&app, &public).await?;
    let media = stage(&app, user, &video(60_000, 9)).await?;
    // The first account posts now; the second tomorrow, so it still needs the video when the
    // first is confirmed.
    let mut body = group_body(&media, &public, &private, true);
    body["targets"][1]["scheduled_at"] =
        json!((chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339());
    let (status, group) = post_group(&app, &body, None).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{group}");
    let posts: Vec<PostId> = ids(&group)
        .iter()
        .map(|i| PostId::parse(i))
        .collect::<Result<_, _>>()?;
    let app = &app;
    let publish = |id: PostId| async move {
        let job = PublishPost {
            workspace_id: ws,
            post_id: id,
        };
        publish::handle(job, Data::new(app.ctx.clone()))
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))
    };
    let poll = |id: PostId| async move {
        let job = PollStatus {
            workspace_id: ws,
            post_id: id,
        };
        // A poll that is not settled yet asks for another later: run it again here.
        let _ = poll_status::handle(job, Data::new(app.ctx.clone())).await;
        app.store.post(ws, id).await
    };
    // The first is uploaded and confirmed for real: the video stays for the second.
    publish(posts[0]).await?;
    while poll(posts[0]).await?.state != PostState::Published {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        media_exists(app, &media).await?,
        "the second post still needs it"
    );
    // The second falls due, is uploaded, and TikTok confirms it; its worker dies right after
    // writing "published", before looking at the group's video.
    let mut due = app.store.post(ws, posts[1]).await?;
    due.state = PostState::Queued;
    app.store.save_post(&due, PostState::Scheduled).await?;
    publish(posts[1]).await?;
    let mut second = app.store.post(ws, posts[1]).await?;
    assert_eq!(second.state, PostState::Processing);
    second.state = PostState::Published;
    second.published_at = Some(chrono::Utc::now());
    app.store.save_post(&second, PostState::Processing).await?;
    assert!(media_exists(app, &media).await?, "left behind by the crash");
    // The queue delivers the unacknowledged poll again: it finds the post settled and lets
    // the group's video go.
    let after = poll(posts[1]).await?;
    assert_eq!(after.state, PostState::Published);
    assert!(
        !media_exists(app, &media).await?,
        "deleted when the job ran again"
    );
    assert_eq!(staging_files(app), 0);
    Ok(())
}

#[tokio::test]
async fn a_campaign_names_a_group_and_the_media_sweep_keeps_its_shared_video() -> Result<()> {
    let (app, user, public, private) = two_accounts(Backend::Sqlite).await?;
    let media = stage(&app, user, &video(60_000, 11)).await?;
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let csv = format!(
        "account,media_id,title,privacy_level,disable_duet,disable_stitch,scheduled_at,group\n\
         {public},{id},Launch,SELF_ONLY,true,true,{tomorrow},launch\n\
         {private},{id},Launch (private),SELF_ONLY,true,true,{tomorrow},launch\n",
        id = media.id
    );
    let resp = app
        .client
        .post(app.url("/api/campaigns"))
        .header(ORIGIN, &app.base_url)
        .header(reqwest::header::CONTENT_TYPE, "text/csv")
        .header("Idempotency-Key", "campaign-group")
        .body(csv)
        .send()
        .await?;
    let status = resp.status();
    let body: Value = resp.json().await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let posts = body["posts"].as_array().context("posts")?;
    assert_eq!(posts.len(), 2, "{body}");
    assert_eq!(posts[0]["group"]["id"], posts[1]["group"]["id"], "{body}");
    assert!(posts[0]["group"]["id"].is_string(), "{body}");

    // The sweep of unused uploads, run as if a month had passed, leaves a video a group holds.
    let settings = scheduler::SchedulerSettings::from_config(&app.config);
    let month = chrono::Utc::now() + chrono::Duration::days(30);
    scheduler::delete_expired_media(&app.ctx, &settings, month).await?;
    assert!(media_exists(&app, &media).await?, "the sweep keeps it");
    // Cancelling one account's post leaves the other's alone, and the video with it.
    let first = posts[0]["id"].as_str().context("id")?;
    let second = posts[1]["id"].as_str().context("id")?;
    assert!(
        app.delete(&format!("/api/posts/{first}"))
            .await?
            .status()
            .is_success()
    );
    let (_, other) = app.get_json(&format!("/api/posts/{second}")).await?;
    assert_eq!(other["state"], "scheduled", "{other}");
    scheduler::delete_expired_media(&app.ctx, &settings, month).await?;
    assert!(
        media_exists(&app, &media).await?,
        "the other post still needs it"
    );
    assert!(
        app.delete(&format!("/api/posts/{second}"))
            .await?
            .status()
            .is_success()
    );
    assert!(
        !media_exists(&app, &media).await?,
        "gone with the last post"
    );
    Ok(())
}

#[tokio::test]
async fn retrying_one_accounts_failed_post_uses_the_shared_video_and_leaves_the_other_alone()
-> Result<()> {
    let (app, user, _, _) = two_accounts(Backend::Sqlite).await?;
    let ws = WorkspaceId(user.0);
    let (first, second) = fresh_pair(&app, 90).await?;
    let media = stage(&app, user, &video(60_000, 21)).await?;
    let (status, group) =
        post_group(&app, &group_body(&media, &first, &second, false), None).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{group}");
    let posts = ids(&group);
    finish(&app, ws, &posts[0], Outcome::Failed).await?;
    assert!(
        media_exists(&app, &media).await?,
        "the other post still needs it"
    );
    // The failed one is retried: it goes out from the same staged video.
    let (status, retried) = app
        .post_json(&format!("/api/posts/{}/retry", posts[0]), &json!({}))
        .await?;
    assert!(status.is_success(), "{retried}");
    let done = wait_state(
        &app,
        &posts[0],
        &["published", "failed"],
        Duration::from_secs(40),
    )
    .await?;
    assert_eq!(done["state"], "published", "{done}");
    // The other account's post did not move, and still has its video.
    let (_, other) = app.get_json(&format!("/api/posts/{}", posts[1])).await?;
    assert_eq!(other["state"], "scheduled", "{other}");
    assert!(
        media_exists(&app, &media).await?,
        "still needed by the other post"
    );
    finish(&app, ws, &posts[1], Outcome::Cancelled).await?;
    assert!(
        !media_exists(&app, &media).await?,
        "gone with the last post"
    );
    // A failed post whose shared video is gone cannot be retried: nothing to send.
    let media = stage(&app, user, &video(60_000, 22)).await?;
    let (third, fourth) = fresh_pair(&app, 91).await?;
    let (_, group) = post_group(&app, &group_body(&media, &third, &fourth, false), None).await?;
    let posts = ids(&group);
    finish(&app, ws, &posts[0], Outcome::Failed).await?;
    finish(&app, ws, &posts[1], Outcome::Cancelled).await?;
    let (status, refused) = app
        .post_json(&format!("/api/posts/{}/retry", posts[0]), &json!({}))
        .await?;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "media_gone", "{refused}");
    Ok(())
}
