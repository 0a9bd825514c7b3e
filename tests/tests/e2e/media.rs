//! Uploading videos over HTTP: `POST /api/media` streams the raw body into encrypted staging;
//! size and type checks, a client that goes away mid-upload, ownership, and progress lines.

use anyhow::{Context, Result};
use bytes::Bytes;
use e2e::{Backend, TestApp};
use futures::{StreamExt, TryStreamExt};
use jobs::model::{MediaId, UserId};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, ORIGIN};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// A body of `len` bytes that passes the MP4 magic-byte check.
fn video(len: usize, seed: u8) -> Vec<u8> {
    let mut v: Vec<u8> = (0..len)
        .map(|i| ((i * 7919) as u8).wrapping_add(seed).wrapping_mul(13))
        .collect();
    v[..12].copy_from_slice(b"\0\0\0\x14ftypisom");
    v
}

/// Every file under the app's staging directory (finished objects and half-written parts).
fn staged_files(app: &TestApp) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&app.config.staging.url.to_file_path().unwrap(), &mut out);
    out
}

async fn assert_nothing_staged(app: &TestApp, user: UserId) -> Result<()> {
    assert_eq!(staged_files(app), Vec::<PathBuf>::new(), "staging is empty");
    assert!(
        app.store
            .list_media(jobs::model::Workspace::personal_id(user))
            .await?
            .is_empty(),
        "no media rows"
    );
    Ok(())
}

async fn signed_in(app: &TestApp, uid: &str) -> Result<UserId> {
    let me = app.sign_in(uid).await?;
    Ok(UserId::parse(me["id"].as_str().context("user id")?)?)
}

/// A request body fed by the test through a channel: pieces go out as they are sent, an
/// `Err` aborts the request the way a client that goes away does.
fn channel_body() -> (mpsc::Sender<std::io::Result<Bytes>>, reqwest::Body) {
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|piece| (piece, rx))
    });
    (tx, reqwest::Body::wrap_stream(stream))
}

/// A body of `bytes` with no length, sent `piece` bytes at a time by the returned task (which
/// stops when the app stops reading).
fn streamed(bytes: Vec<u8>, piece: usize) -> (tokio::task::JoinHandle<()>, reqwest::Body) {
    let (tx, body) = channel_body();
    let feeder = tokio::spawn(async move {
        for piece in bytes.chunks(piece) {
            if tx.send(Ok(Bytes::copy_from_slice(piece))).await.is_err() {
                break;
            }
        }
    });
    (feeder, body)
}

async fn upload(
    app: &TestApp,
    client: &reqwest::Client,
    body: impl Into<reqwest::Body>,
) -> Result<(StatusCode, Value)> {
    let resp = client
        .post(app.url("/api/media"))
        .header(ORIGIN, &app.base_url)
        .header(CONTENT_TYPE, "video/mp4")
        .body(body)
        .send()
        .await?;
    let status = resp.status();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

#[tokio::test]
async fn an_upload_is_staged_encrypted_and_visible_only_to_its_owner() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    let user = signed_in(&app, "uploader").await?;
    let bytes = video(3_000_123, 1);
    let before = chrono::Utc::now();
    let (status, body) = upload(&app, &app.client, bytes.clone()).await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["size"], bytes.len() as u64);
    assert_eq!(body["container"], "mp4");
    let id = MediaId::parse(body["id"].as_str().context("id")?)?;
    let expires_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(body["expires_at"].clone())?;
    let ttl = chrono::Duration::from_std(app.config.staging.media_ttl)?;
    assert!(expires_at >= before + ttl && expires_at <= chrono::Utc::now() + ttl);

    // Stored encrypted, and the publisher reads back exactly the uploaded bytes.
    let media = app
        .store
        .media(jobs::model::Workspace::personal_id(user), id)
        .await?;
    let files = staged_files(&app);
    assert_eq!(files.len(), 1);
    let stored = std::fs::read(&files[0])?;
    assert!(
        !stored.windows(8).any(|w| w == b"ftypisom"),
        "the object is not plaintext"
    );
    let parts: Vec<Bytes> = app
        .ctx
        .staging
        .open_range(&media, 0, media.size - 1)
        .try_collect()
        .await?;
    assert!(parts.concat() == bytes, "read back differs");

    let (status, shown) = app.get_json(&format!("/api/media/{id}")).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["id"], body["id"]);
    assert!(shown.get("wrapped_key").is_none() && shown.get("object_key").is_none());

    // Another user: the id answers 404, for reading and for deleting.
    let other = TestApp::new_client();
    app.sign_in_with(&other, "someone-else").await?;
    let resp = other
        .get(app.url(&format!("/api/media/{id}")))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = other
        .delete(app.url(&format!("/api/media/{id}")))
        .header(ORIGIN, &app.base_url)
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(staged_files(&app).len(), 1);

    // The owner deletes it: object and row are gone.
    let resp = app.delete(&format!("/api/media/{id}")).await?;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_nothing_staged(&app, user).await?;
    let (status, _) = app.get_json(&format!("/api/media/{id}")).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn media_a_post_uses_cannot_be_deleted_on_its_own() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    let user = signed_in(&app, "attached").await?;
    let (_, body) = upload(&app, &app.client, video(50_000, 2)).await?;
    let id = MediaId::parse(body["id"].as_str().context("id")?)?;
    app.store
        .attach_media(
            jobs::model::Workspace::personal_id(user),
            id,
            jobs::model::PostId::new(),
        )
        .await?;
    let resp = app.delete(&format!("/api/media/{id}")).await?;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let err: Value = resp.json().await?;
    assert_eq!(err["error"]["code"], "media_in_use");
    assert_eq!(staged_files(&app).len(), 1);
    Ok(())
}

#[tokio::test]
async fn uploads_over_the_limit_answer_413_and_leave_nothing() -> Result<()> {
    let app =
        TestApp::start_with(Backend::Sqlite, |c| c.staging.max_upload_bytes = 256 * 1024).await?;
    let user = signed_in(&app, "big").await?;

    // Declared up front: refused before reading.
    let (status, body) = upload(&app, &app.client, video(300_000, 3)).await?;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "too_large");
    assert_nothing_staged(&app, user).await?;

    // Streamed without a length: refused once the limit is passed.
    let (feeder, body) = streamed(video(300_000, 4), 32 * 1024);
    let (status, body) = upload(&app, &app.client, body).await?;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "too_large");
    feeder.await?;
    assert_nothing_staged(&app, user).await?;

    // At the limit is fine.
    let (status, body) = upload(&app, &app.client, video(256 * 1024, 5)).await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Ok(())
}

/// Bytes staged on disk (objects, encrypted) and media rows of `user`.
async fn staged(app: &TestApp, user: UserId) -> Result<(usize, u64)> {
    let rows = app
        .store
        .list_media(jobs::model::Workspace::personal_id(user))
        .await?;
    assert_eq!(staged_files(app).len(), rows.len(), "one object per row");
    Ok((rows.len(), rows.iter().map(|m| m.size).sum()))
}

#[tokio::test]
async fn uploads_past_the_staging_quota_answer_413_and_leave_nothing() -> Result<()> {
    let app = TestApp::start_with(Backend::Sqlite, |c| c.staging.quota_bytes = 100_000).await?;
    let user = signed_in(&app, "hoarder").await?;
    let (status, first) = upload(&app, &app.client, video(60_000, 1)).await?;
    assert_eq!(status, StatusCode::CREATED, "{first}");

    // Declared up front: refused before a byte is stored, naming usage and quota.
    let (status, body) = upload(&app, &app.client, video(50_000, 2)).await?;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "staging_quota_exceeded", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("58.6 KiB") && message.contains("97.7 KiB"),
        "usage and quota in the message: {message}"
    );
    assert_eq!(staged(&app, user).await?, (1, 60_000));

    // Streamed without a length: staged, found over the quota, and deleted again.
    let (feeder, body) = streamed(video(50_000, 3), 16 * 1024);
    let (status, body) = upload(&app, &app.client, body).await?;
    feeder.await?;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "staging_quota_exceeded", "{body}");
    assert_eq!(staged(&app, user).await?, (1, 60_000), "no object, no row");

    // Concurrent uploads that each fit but not together: never more than the quota staged.
    let uploads = (0..4u8).map(|i| {
        let (tx, body) = channel_body();
        let bytes = video(30_000, 10 + i);
        tokio::spawn(async move {
            for piece in bytes.chunks(8 * 1024) {
                if tx.send(Ok(Bytes::copy_from_slice(piece))).await.is_err() {
                    break;
                }
            }
        });
        upload(&app, &app.client, body)
    });
    let results = futures::future::join_all(uploads).await;
    let mut accepted = 0;
    for r in results {
        let (status, body) = r?;
        match status {
            StatusCode::CREATED => accepted += 1,
            StatusCode::PAYLOAD_TOO_LARGE => {
                assert_eq!(body["error"]["code"], "staging_quota_exceeded", "{body}")
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(accepted <= 1, "only one 30 KB upload fits next to 60 KB");
    let (rows, bytes) = staged(&app, user).await?;
    assert_eq!(rows, 1 + accepted);
    assert!(
        bytes <= 100_000,
        "{bytes} bytes staged over a 100,000 quota"
    );

    // Deleting a staged video makes room again; other users have their own quota.
    for m in app
        .store
        .list_media(jobs::model::Workspace::personal_id(user))
        .await?
    {
        let resp = app.delete(&format!("/api/media/{}", m.id)).await?;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    }
    let (status, body) = upload(&app, &app.client, video(90_000, 4)).await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let other = TestApp::new_client();
    app.sign_in_with(&other, "someone-else").await?;
    let (status, body) = upload(&app, &other, video(90_000, 5)).await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Ok(())
}

#[tokio::test]
async fn wrong_types_and_empty_bodies_are_refused() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    let user = signed_in(&app, "types").await?;
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(vec![7u8; 100_000]);
    let (status, body) = upload(&app, &app.client, png).await?;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_eq!(body["error"]["code"], "unsupported_media_type");
    assert_nothing_staged(&app, user).await?;

    let resp = app
        .client
        .post(app.url("/api/media"))
        .header(ORIGIN, &app.base_url)
        .header(CONTENT_TYPE, "multipart/form-data; boundary=x")
        .body(video(10_000, 6))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let (status, body) = upload(&app, &app.client, Vec::new()).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "empty_upload");

    // Unauthenticated uploads are refused before anything is read.
    let anonymous = TestApp::new_client();
    let resp = anonymous
        .post(app.url("/api/media"))
        .body(video(10_000, 7))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_nothing_staged(&app, user).await?;
    Ok(())
}

#[tokio::test]
async fn a_client_that_goes_away_mid_upload_leaves_nothing() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    let user = signed_in(&app, "flaky").await?;
    let (tx, body) = channel_body();
    let client = app.client.clone();
    let url = app.url("/api/media");
    let origin = app.base_url.clone();
    let request = tokio::spawn(async move {
        client
            .post(url)
            .header(ORIGIN, origin)
            .header(CONTENT_TYPE, "video/mp4")
            .body(body)
            .send()
            .await
    });
    let bytes = video(1_000_000, 8);
    for piece in bytes.chunks(64 * 1024) {
        tx.send(Ok(Bytes::copy_from_slice(piece))).await?;
    }
    // The upload is visibly under way on the server before the client fails.
    app.wait_for("the upload to start", Duration::from_secs(10), || async {
        Ok((!staged_files(&app).is_empty()).then_some(()))
    })
    .await?;
    tx.send(Err(std::io::Error::new(
        std::io::ErrorKind::BrokenPipe,
        "client gone",
    )))
    .await?;
    drop(tx);
    let outcome = tokio::time::timeout(Duration::from_secs(10), request).await??;
    assert!(outcome.is_err() || !outcome.as_ref().is_ok_and(|r| r.status().is_success()));
    app.wait_for(
        "the partial upload to be removed",
        Duration::from_secs(10),
        || async { Ok(staged_files(&app).is_empty().then_some(())) },
    )
    .await?;
    assert_nothing_staged(&app, user).await?;
    Ok(())
}

/// Reads NDJSON lines from a streamed response until `stop` accepts one; returns them all.
async fn read_lines(
    lines: &mut (impl futures::Stream<Item = reqwest::Result<Bytes>> + Unpin),
    pending: &mut Vec<u8>,
    stop: impl Fn(&Value) -> bool,
) -> Result<Vec<Value>> {
    let mut seen = Vec::new();
    loop {
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let value: Value = serde_json::from_slice(&line)?;
            let done = stop(&value);
            seen.push(value);
            if done {
                return Ok(seen);
            }
        }
        let chunk = tokio::time::timeout(Duration::from_secs(20), lines.next())
            .await
            .context("no progress line in time")?
            .context("the response ended")??;
        pending.extend_from_slice(&chunk);
    }
}

#[tokio::test]
async fn progress_lines_report_bytes_received_while_the_upload_runs() -> Result<()> {
    const MIB: usize = 1 << 20;
    let app = TestApp::start(Backend::Sqlite).await?;
    signed_in(&app, "progress").await?;
    let bytes = video(10 * MIB + 5, 9);
    let (tx, body) = channel_body();
    let resp = {
        let send = app
            .client
            .post(app.url("/api/media"))
            .header(ORIGIN, &app.base_url)
            .header(ACCEPT, "application/x-ndjson")
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(body)
            .send();
        let head = bytes[..9 * MIB].to_vec();
        let feed = async {
            for piece in head.chunks(256 * 1024) {
                tx.send(Ok(Bytes::copy_from_slice(piece))).await?;
            }
            anyhow::Ok(())
        };
        let (resp, fed) = tokio::join!(send, feed);
        fed?;
        resp?
    };
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[CONTENT_TYPE], "application/x-ndjson");
    let mut lines = Box::pin(resp.bytes_stream());
    let mut pending = Vec::new();

    // 9 MiB are sent and the rest is held back: the server already reports 8 MiB received.
    let early = read_lines(&mut lines, &mut pending, |v| {
        v["received"].as_u64() >= Some(8 * MIB as u64)
    })
    .await?;
    assert!(
        early.iter().all(|v| v.get("received").is_some()),
        "{early:?}"
    );
    assert!(
        early
            .windows(2)
            .all(|w| w[0]["received"].as_u64() < w[1]["received"].as_u64())
    );

    for piece in bytes[9 * MIB..].chunks(256 * 1024) {
        tx.send(Ok(Bytes::copy_from_slice(piece))).await?;
    }
    drop(tx);
    let rest = read_lines(&mut lines, &mut pending, |v| {
        v.get("id").is_some() || v.get("error").is_some()
    })
    .await?;
    let last = rest.last().context("a final line")?;
    assert_eq!(last["size"], bytes.len() as u64, "{last}");
    assert!(last["expires_at"].is_string());
    assert!(lines.next().await.is_none(), "nothing after the final line");

    // In this mode a refusal is the final line, with the usual error object.
    let resp = app
        .client
        .post(app.url("/api/media"))
        .header(ORIGIN, &app.base_url)
        .header(ACCEPT, "application/x-ndjson")
        .body(b"GIF89a not a video".to_vec())
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await?;
    let last: Value = serde_json::from_str(text.lines().last().context("a line")?)?;
    assert_eq!(last["error"]["code"], "unsupported_media_type", "{text}");
    Ok(())
}
