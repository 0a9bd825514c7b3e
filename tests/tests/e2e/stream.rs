//! "Post now" without a disk (issue #17 §1): `POST /api/posts` with `"upload": "stream"`, then
//! the video in `PUT /api/posts/{id}/video`, forwarded to TikTok chunk by chunk as it arrives.
//! Refusals before the body, resuming from TikTok's byte, a second PUT refused, the web process
//! killed mid-body, and an interrupted upload that is never resumed: exactly one TikTok post
//! (or none), and nothing of the video on our side, ever.

use crate::publish::{PUBLIC, publishing_app, staging_files, video, wait_settled};
use anyhow::Result;
use bytes::Bytes;
use e2e::{Backend, TestApp, WebProcess, assert_error};
use jobs::model::{PostId, WorkspaceId};
use jobs::pacing::Endpoint;
use jobs::queue::payloads::PublishPost;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ORIGIN, RETRY_AFTER};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio::sync::mpsc;

/// The chunk size `publishing_app` gives TikTok's rules (a 130,001-byte video: 6 chunks).
const CHUNK: usize = 20_000;
const SIZE: usize = 130_001;

type Piece = Result<Bytes, std::io::Error>;

/// Creates a pass-through post; returns its id and upload path.
async fn stream_post(app: &TestApp, account: &str) -> Result<(String, String)> {
    let (status, post) = create(app, account, json!({})).await?;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    assert_eq!(post["state"], "draft", "{post}");
    assert_eq!(post["source"]["kind"], "stream", "{post}");
    let id = post["id"].as_str().unwrap().to_owned();
    assert_eq!(post["upload_path"], format!("/api/posts/{id}/video"));
    Ok((id.clone(), format!("/api/posts/{id}/video")))
}

async fn create(app: &TestApp, account: &str, extra: Value) -> Result<(StatusCode, Value)> {
    let mut body = json!({
        "account_id": account,
        "upload": "stream",
        "title": "straight through #rust",
        "privacy_level": "PUBLIC_TO_EVERYONE",
        "disable_stitch": false,
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.post_json("/api/posts", &body).await
}

/// A PUT of `body` to `base` + `path`, declaring `length` (and `range` when resuming).
fn put(
    app: &TestApp,
    base: &str,
    path: &str,
    length: Option<usize>,
    range: Option<(usize, usize)>,
    body: reqwest::Body,
) -> reqwest::RequestBuilder {
    let mut req = app
        .client
        .put(format!("{base}{path}"))
        .header(ORIGIN, &app.base_url)
        .header(CONTENT_TYPE, "video/mp4")
        .body(body);
    if let Some(n) = length {
        req = req.header(CONTENT_LENGTH, n);
    }
    if let Some((first, total)) = range {
        req = req.header(
            CONTENT_RANGE,
            format!("bytes {first}-{}/{total}", total - 1),
        );
    }
    req
}

/// A body fed piece by piece through the returned sender (an `Err` cuts it off).
fn piped() -> (mpsc::Sender<Piece>, reqwest::Body) {
    let (tx, rx) = mpsc::channel::<Piece>(4);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|piece| (piece, rx))
    });
    (tx, reqwest::Body::wrap_stream(stream))
}

/// Sends `bytes` into the pipe in 7,000-byte pieces.
async fn feed(tx: &mpsc::Sender<Piece>, bytes: &[u8]) -> Result<()> {
    for piece in bytes.chunks(7_000) {
        tx.send(Ok(Bytes::copy_from_slice(piece))).await?;
    }
    Ok(())
}

async fn progress(app: &TestApp, path: &str) -> Result<Value> {
    let (status, body) = app.get_json(path).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    Ok(body)
}

/// Waits until TikTok has acknowledged `bytes` of the upload at `path`.
async fn wait_received(app: &TestApp, path: &str, bytes: usize) -> Result<()> {
    app.wait_for("TikTok's progress", Duration::from_secs(20), || async {
        Ok((progress(app, path).await?["received"] == bytes).then_some(()))
    })
    .await
}

/// Sends the rest of `bytes` from TikTok's byte (`from`), trying again while the interrupted
/// request still holds the post (its lock lasts seconds after a killed process).
async fn resume(app: &TestApp, path: &str, bytes: &[u8], from: usize) -> Result<Value> {
    let rest = Bytes::copy_from_slice(&bytes[from..]);
    app.wait_for("the resumed upload", Duration::from_secs(30), || {
        let rest = rest.clone();
        async move {
            let resp = put(
                app,
                &app.base_url,
                path,
                Some(rest.len()),
                Some((from, bytes.len())),
                rest.into(),
            )
            .send()
            .await?;
            let status = resp.status();
            let body: Value = resp.json().await?;
            if status == StatusCode::CONFLICT && body["error"]["code"] == "upload_in_progress" {
                return Ok(None);
            }
            assert_eq!(status, StatusCode::OK, "{body}");
            Ok(Some(body))
        }
    })
    .await
}

/// Starts a pass-through of `bytes` and cuts its body off (a browser gone mid-body) once TikTok
/// has `chunks` whole chunks and part of the next went out; returns the post's id and path.
async fn cut_off_after(
    app: &TestApp,
    account: &str,
    bytes: &[u8],
    chunks: usize,
) -> Result<(String, String)> {
    let (id, path) = stream_post(app, account).await?;
    let (tx, body) = piped();
    let cut = tokio::spawn(put(app, &app.base_url, &path, Some(bytes.len()), None, body).send());
    feed(&tx, &bytes[..chunks * CHUNK + 5_000]).await?;
    wait_received(app, &path, chunks * CHUNK).await?;
    tx.send(Err(std::io::Error::other("the browser went away")))
        .await?;
    assert!(cut.await?.is_err(), "the cut-off request fails");
    Ok((id, path))
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Exactly one post at TikTok, holding exactly `bytes`.
fn one_post_with(app: &TestApp, bytes: &[u8]) {
    let records = app.sandbox.records();
    let posts: Vec<_> = records
        .posts
        .iter()
        .filter(|p| p.open_id == PUBLIC && p.upload_complete)
        .collect();
    assert_eq!(posts.len(), 1, "exactly one post at TikTok: {posts:?}");
    assert_eq!(posts[0].sha256.as_deref(), Some(sha(bytes).as_str()));
}

async fn streams_to_tiktok_and_keeps_nothing(backend: Backend) -> Result<()> {
    let (app, _user, account) = publishing_app(backend, |_| {}).await?;
    let bytes = video(SIZE, 3);
    let (id, path) = stream_post(&app, &account).await?;
    let resp = put(
        &app,
        &app.base_url,
        &path,
        Some(SIZE),
        None,
        bytes.clone().into(),
    )
    .send()
    .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let post: Value = resp.json().await?;
    assert_eq!(post["state"], "processing", "{post}");
    assert!(post["media_id"].is_null(), "{post}");
    let done = wait_settled(&app, &id).await?;
    assert_eq!(done["state"], "published", "{done}");
    one_post_with(&app, &bytes);
    let chunks = app.sandbox.records().posts[0].total_chunk_count;
    assert_eq!(chunks, Some((SIZE / CHUNK) as u64), "TikTok-sized chunks");
    assert_eq!(
        staging_files(&app),
        0,
        "nothing of the video was ever staged"
    );
    // Its bytes are gone for good: no retry from our side is possible.
    let (status, body) = app.get_json(&path).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["received"], SIZE);
    // The privacy page says so, path by path.
    let page = app.get_text("/privacy").await?;
    assert!(
        page.contains("only exists in our server's memory")
            && page.contains("never written to disk")
            && page.contains("stored encrypted")
            && page.contains("Drafts sent to your TikTok inbox")
            && page.contains("Its bytes never pass through us")
            && page.contains("expires after 60 minutes"),
        "{page}"
    );
    Ok(())
}

#[tokio::test]
async fn a_video_posted_now_streams_to_tiktok_and_is_never_staged_on_sqlite() -> Result<()> {
    streams_to_tiktok_and_keeps_nothing(Backend::Sqlite).await
}

#[tokio::test]
async fn a_video_posted_now_streams_to_tiktok_and_is_never_staged_on_postgres() -> Result<()> {
    streams_to_tiktok_and_keeps_nothing(Backend::Postgres).await
}

#[tokio::test]
async fn pass_through_uploads_are_refused_before_their_body_is_read() -> Result<()> {
    let (app, _user, account) =
        publishing_app(Backend::Sqlite, |c| c.limits.passthrough_max_concurrent = 1).await?;
    let (_, path) = stream_post(&app, &account).await?;
    let small = || reqwest::Body::from(video(1_000, 1));

    // No Content-Length (a chunked body): 411.
    let (tx, body) = piped();
    drop(tx);
    let resp = put(&app, &app.base_url, &path, None, None, body)
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::LENGTH_REQUIRED);
    assert_error(&resp.json().await?, "length_required", "Content-Length");

    // A malformed range: 400.
    let resp = app
        .client
        .put(app.url(&path))
        .header(ORIGIN, &app.base_url)
        .header(CONTENT_TYPE, "video/mp4")
        .header(CONTENT_RANGE, "bytes five-ten/11")
        .body(video(1_000, 1))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_error(
        &resp.json().await?,
        "invalid_content_range",
        "Content-Range",
    );

    // Not a video: 422.
    let resp = app
        .client
        .put(app.url(&path))
        .header(ORIGIN, &app.base_url)
        .header(CONTENT_TYPE, "text/plain")
        .body("hello")
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&resp.json().await?, "unsupported_video_type", "video/mp4");

    // Not a video by its first bytes: refused before TikTok is asked for anything.
    let resp = put(
        &app,
        &app.base_url,
        &path,
        Some(500),
        None,
        "just some notes ".repeat(32)[..500].to_owned().into(),
    )
    .send()
    .await?;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&resp.json().await?, "not_a_video", "MP4, MOV or WebM");
    assert_eq!(app.sandbox.records().call_count("video.init"), 0);

    // Every pass-through slot of this process is taken: 503 with Retry-After.
    let (_, busy_path) = stream_post(&app, &account).await?;
    let (tx, body) = piped();
    let held = tokio::spawn(put(&app, &app.base_url, &busy_path, Some(SIZE), None, body).send());
    tx.send(Ok(Bytes::copy_from_slice(&video(CHUNK, 2))))
        .await?;
    // The held request owns the only slot once TikTok has its first chunk.
    wait_received(&app, &busy_path, CHUNK).await?;
    let resp = put(&app, &app.base_url, &path, Some(1_000), None, small())
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().get(RETRY_AFTER).is_some());
    assert_error(&resp.json().await?, "passthrough_busy", "try again");
    let text = crate::health::metrics_text(&app).await?;
    assert_eq!(
        crate::health::metric(&text, "mktpost_passthrough_uploads", ""),
        Some(1.0),
        "{text}"
    );
    tx.send(Err(std::io::Error::other("gone"))).await?;
    let _ = held.await;

    // TikTok's init limit for this account is used up: 429 with Retry-After, nothing started.
    let account_id = jobs::model::AccountId::parse(&account)?;
    while app
        .ctx
        .pacer
        .try_acquire(account_id, Endpoint::Init)
        .await
        .map_err(anyhow::Error::msg)?
        .is_none()
    {}
    let inits = app.sandbox.records().call_count("video.init");
    let resp = app
        .wait_for("the slot to be free", Duration::from_secs(20), || async {
            let resp = put(&app, &app.base_url, &path, Some(1_000), None, small())
                .send()
                .await?;
            Ok((resp.status() != StatusCode::SERVICE_UNAVAILABLE).then_some(resp))
        })
        .await?;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().get(RETRY_AFTER).is_some());
    assert_error(&resp.json().await?, "tiktok_rate_limited", "try again");
    assert_eq!(progress(&app, &path).await?["state"], "draft");
    assert_eq!(app.sandbox.records().call_count("video.init"), inits);

    // A stream cannot wait for a time: it goes out now.
    let (status, body) = create(
        &app,
        &account,
        json!({ "scheduled_at": (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339() }),
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error(&body, "stream_cannot_be_scheduled", "upload it first");
    Ok(())
}

#[tokio::test]
async fn a_second_put_while_one_runs_is_refused_and_one_post_results() -> Result<()> {
    let (app, _user, account) = publishing_app(Backend::Sqlite, |_| {}).await?;
    let bytes = video(SIZE, 5);
    let (id, path) = stream_post(&app, &account).await?;
    let (tx, body) = piped();
    let first = tokio::spawn(put(&app, &app.base_url, &path, Some(SIZE), None, body).send());
    feed(&tx, &bytes[..CHUNK + 5_000]).await?;
    wait_received(&app, &path, CHUNK).await?;
    let resp = put(
        &app,
        &app.base_url,
        &path,
        Some(SIZE),
        None,
        bytes.clone().into(),
    )
    .send()
    .await?;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_error(
        &resp.json().await?,
        "upload_in_progress",
        "already being sent",
    );
    feed(&tx, &bytes[CHUNK + 5_000..]).await?;
    drop(tx);
    let resp = first.await??;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(wait_settled(&app, &id).await?["state"], "published");
    one_post_with(&app, &bytes);
    Ok(())
}

#[tokio::test]
async fn a_browser_that_disconnects_mid_body_resumes_from_tiktoks_byte() -> Result<()> {
    let (app, _user, account) = publishing_app(Backend::Sqlite, |_| {}).await?;
    let bytes = video(SIZE, 9);
    let (id, path) = cut_off_after(&app, &account, &bytes, 2).await?;
    let seen = progress(&app, &path).await?;
    assert_eq!(seen["state"], "uploading", "{seen}");
    assert_eq!(seen["received"], 2 * CHUNK, "{seen}");
    assert_eq!(seen["size"], SIZE, "{seen}");
    assert!(seen["resumable_until"].is_string(), "{seen}");

    // Resuming from any other byte is refused with TikTok's.
    let resp = put(
        &app,
        &app.base_url,
        &path,
        Some(SIZE - 1_000),
        Some((1_000, SIZE)),
        Bytes::copy_from_slice(&bytes[1_000..]).into(),
    )
    .send()
    .await?;
    assert_eq!(resp.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let body: Value = resp.json().await?;
    assert_eq!(body["error"]["code"], "range_mismatch", "{body}");
    assert_eq!(body["received"], 2 * CHUNK, "{body}");

    let post = resume(&app, &path, &bytes, 2 * CHUNK).await?;
    assert_eq!(post["state"], "processing", "{post}");
    assert_eq!(wait_settled(&app, &id).await?["state"], "published");
    one_post_with(&app, &bytes);
    Ok(())
}

#[tokio::test]
async fn killing_the_web_process_mid_body_loses_nothing_and_duplicates_nothing() -> Result<()> {
    let (app, _user, account) = publishing_app(Backend::Sqlite, |_| {}).await?;
    let bytes = video(SIZE, 11);
    let (id, path) = stream_post(&app, &account).await?;
    let web = WebProcess::spawn(&app).await?;
    let (tx, body) = piped();
    let cut = tokio::spawn(put(&app, &web.base_url, &path, Some(SIZE), None, body).send());
    feed(&tx, &bytes[..3 * CHUNK + 5_000]).await?;
    wait_received(&app, &path, 3 * CHUNK).await?;
    web.kill()?;
    assert!(cut.await?.is_err(), "the killed process answers nothing");
    // Another web process (this test's own) takes over once the dead one's lock expires.
    let post = resume(&app, &path, &bytes, 3 * CHUNK).await?;
    assert_eq!(post["state"], "processing", "{post}");
    assert_eq!(wait_settled(&app, &id).await?["state"], "published");
    one_post_with(&app, &bytes);
    Ok(())
}

#[tokio::test]
async fn an_upload_never_resumed_fails_as_interrupted_and_nothing_is_left() -> Result<()> {
    let (app, user, account) = publishing_app(Backend::Sqlite, |_| {}).await?;
    let bytes = video(SIZE, 13);
    let (id, _) = cut_off_after(&app, &account, &bytes, 1).await?;
    app.wait_for("the lock to go", Duration::from_secs(20), || async {
        Ok(app
            .ctx
            .locks
            .try_acquire(&format!("publish:{id}"), Duration::from_millis(1))
            .await
            .ok()
            .flatten())
    })
    .await?;
    // TikTok's hour for the upload passes (its issue time moved back), and the publish job
    // queued at creation comes due (pushed now instead of in an hour).
    let ws = WorkspaceId(user.0);
    let post_id = PostId::parse(&id)?;
    let mut post = app.store.post(ws, post_id).await?;
    let expected = post.state;
    post.tiktok.upload_url_issued_at = Some(chrono::Utc::now() - chrono::Duration::hours(2));
    app.store.save_post(&post, expected).await?;
    app.ctx
        .queue
        .push(&PublishPost {
            workspace_id: ws,
            post_id,
        })
        .await?;
    // Failing it is a refusal, like any other: its job ends dead, for the dashboards.
    app.expect_dead_jobs();
    let done = wait_settled(&app, &id).await?;
    assert_eq!(done["state"], "failed", "{done}");
    assert_eq!(done["error"]["code"], "upload_interrupted", "{done}");
    let complete = app
        .sandbox
        .records()
        .posts
        .iter()
        .filter(|p| p.upload_complete)
        .count();
    assert_eq!(complete, 0, "no TikTok post came of it");
    assert_eq!(staging_files(&app), 0);
    // A pass-through video was never kept, so it cannot be retried.
    let resp = app
        .client
        .post(app.url(&format!("/api/posts/{id}/retry")))
        .header(ORIGIN, &app.base_url)
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_error(&resp.json().await?, "stream_not_kept", "new post");
    Ok(())
}

#[tokio::test]
async fn a_send_stopped_mid_way_can_be_cancelled_and_never_becomes_a_post() -> Result<()> {
    let (app, _user, account) = publishing_app(Backend::Sqlite, |_| {}).await?;
    let bytes = video(SIZE, 17);
    let (id, path) = cut_off_after(&app, &account, &bytes, 1).await?;
    let cancelled = app
        .wait_for("the cancel", Duration::from_secs(20), || async {
            let resp = app.delete(&format!("/api/posts/{id}")).await?;
            let status = resp.status();
            let body: Value = resp.json().await?;
            if body["error"]["code"] == "upload_in_progress" {
                return Ok(None);
            }
            assert_eq!(status, StatusCode::OK, "{body}");
            Ok(Some(body))
        })
        .await?;
    assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
    // Nothing more can be sent for it, so TikTok never completes it.
    let resp = put(
        &app,
        &app.base_url,
        &path,
        Some(SIZE - CHUNK),
        Some((CHUNK, SIZE)),
        Bytes::copy_from_slice(&bytes[CHUNK..]).into(),
    )
    .send()
    .await?;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_error(&resp.json().await?, "not_uploadable", "cancelled");
    let complete = app
        .sandbox
        .records()
        .posts
        .iter()
        .filter(|p| p.upload_complete)
        .count();
    assert_eq!(complete, 0);
    Ok(())
}
