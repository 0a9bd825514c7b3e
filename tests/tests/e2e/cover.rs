//! A video's cover frame (`video_cover_timestamp_ms`): asked for on a staged video, a "post now"
//! pass-through, a video TikTok downloads and a campaign row, it reaches TikTok's `post_info`
//! as asked; a cover past the end of a video whose length is known, or on a draft, is refused
//! before anything is written; and a post without one sends none (TikTok's first frame).

use crate::publish::{PUBLIC, create_post, publishing_app, stage, video, wait_settled};
use anyhow::{Context, Result};
use e2e::{Backend, TestApp, assert_error};
use jobs::model::{Media, UserId};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, ORIGIN};
use serde_json::{Value, json};

/// The prefix verified on both sides for the URL post.
const PREFIX: &str = "https://media.example.com/tiktok/";
/// The length of the WebM videos staged here: staging reads it from the file's header.
const LENGTH_MS: u64 = 10_000;

fn ebml(id: &[u8], body: &[u8]) -> Vec<u8> {
    let mut v = id.to_vec();
    v.push(0x80 | body.len() as u8); // a one-byte size: every body here is < 127 bytes
    v.extend_from_slice(body);
    v
}

/// A WebM of `size` bytes whose header says it lasts `length_ms` (the sandbox does not decode
/// video; staging probes only the header), so its duration is known when a post names it.
fn webm(length_ms: u64, size: usize, seed: u8) -> Vec<u8> {
    let mut v = ebml(&[0x1A, 0x45, 0xDF, 0xA3], &ebml(&[0x42, 0x82], b"webm"));
    // A Segment of unknown size, as browsers write it.
    v.extend_from_slice(&[
        0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    ]);
    let mut info = ebml(&[0x2A, 0xD7, 0xB1], &[0x0F, 0x42, 0x40]); // TimecodeScale: 1 ms
    info.extend(ebml(&[0x44, 0x89], &(length_ms as f64).to_be_bytes()));
    v.extend(ebml(&[0x15, 0x49, 0xA9, 0x66], &info));
    // A Cluster of unknown size, then filler that only makes the file its size.
    v.extend_from_slice(&[
        0x1F, 0x43, 0xB6, 0x75, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    ]);
    let head = v.len();
    v.extend((head..size).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    v
}

async fn staged_webm(app: &TestApp, user: UserId, seed: u8) -> Result<Media> {
    let media = stage(app, user, &webm(LENGTH_MS, 60_000, seed)).await?;
    assert_eq!(
        media.duration_ms,
        Some(LENGTH_MS),
        "staging read the length"
    );
    Ok(media)
}

/// What TikTok's `post_info` carried for the post `post` (by its publish id).
fn cover_at_tiktok(app: &TestApp, post: &Value) -> Result<Option<u32>> {
    let publish_id = post["publish_id"].as_str().context("a publish id")?;
    let records = app.sandbox.records();
    let task = records
        .post(publish_id)
        .with_context(|| format!("no task {publish_id} at TikTok"))?;
    Ok(task.video_cover_timestamp_ms)
}

async fn post_json(app: &TestApp, body: Value) -> Result<(StatusCode, Value)> {
    app.post_json("/api/posts", &body).await
}

#[tokio::test]
async fn a_staged_videos_cover_frame_reaches_tiktok_and_one_past_its_end_is_refused() -> Result<()>
{
    let (app, user, account) = publishing_app(Backend::Sqlite, |_| {}).await?;

    // At the very end, or past it: refused with the video's length, nothing written.
    let media = staged_webm(&app, user, 1).await?;
    for past in [LENGTH_MS, 60_000] {
        let (status, body) = create_post(
            &app,
            &account,
            &media,
            json!({"video_cover_timestamp_ms": past}),
        )
        .await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_error(&body, "cover_out_of_range", "10000 ms (0:10.0) long");
    }
    let (_, list) = app.get_json("/api/posts").await?;
    assert_eq!(list["posts"].as_array().map(Vec::len), Some(0), "{list}");

    // Inside the video: stored, shown, and sent to TikTok as asked.
    let (status, post) = create_post(
        &app,
        &account,
        &media,
        json!({"video_cover_timestamp_ms": 1500}),
    )
    .await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    assert_eq!(post["video_cover_timestamp_ms"], 1500, "{post}");
    let done = wait_settled(&app, post["id"].as_str().unwrap()).await?;
    assert_eq!(done["state"], "published", "{done}");
    assert_eq!(cover_at_tiktok(&app, &done)?, Some(1500));

    // No cover asked: none sent, TikTok takes the first frame.
    let plain = staged_webm(&app, user, 2).await?;
    let (status, post) = create_post(&app, &account, &plain, json!({})).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    assert!(post["video_cover_timestamp_ms"].is_null(), "{post}");
    let done = wait_settled(&app, post["id"].as_str().unwrap()).await?;
    assert_eq!(done["state"], "published", "{done}");
    assert_eq!(cover_at_tiktok(&app, &done)?, None);

    // A draft's cover is the creator's to pick in the TikTok app: refused, not dropped.
    let draft = staged_webm(&app, user, 3).await?;
    let (status, body) = create_post(
        &app,
        &account,
        &draft,
        json!({"post_mode": "inbox", "video_cover_timestamp_ms": 1500}),
    )
    .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error(&body, "cover_not_applicable", "TikTok app");
    Ok(())
}

#[tokio::test]
async fn a_post_now_video_and_a_pulled_video_send_their_cover_frames() -> Result<()> {
    let (app, _user, account) = publishing_app(Backend::Sqlite, |c| {
        c.tiktok.verified_url_prefixes = vec![PREFIX.into()];
    })
    .await?;
    app.mirror_app_at_tiktok()?;
    app.sandbox.update_knobs(|k| k.pull_download_ms = 100);

    // Pass-through: its length is unknown until its bytes pass, so any cover is taken here.
    let (status, post) = post_json(
        &app,
        json!({
            "account_id": account, "upload": "stream", "title": "streamed with a cover",
            "privacy_level": "PUBLIC_TO_EVERYONE", "video_cover_timestamp_ms": 2500,
        }),
    )
    .await?;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    let id = post["id"].as_str().unwrap();
    let bytes = video(130_001, 9);
    let resp = app
        .client
        .put(app.url(&format!("/api/posts/{id}/video")))
        .header(ORIGIN, &app.base_url)
        .header(CONTENT_TYPE, "video/mp4")
        .body(bytes)
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let done = wait_settled(&app, id).await?;
    assert_eq!(done["state"], "published", "{done}");
    assert_eq!(cover_at_tiktok(&app, &done)?, Some(2500));

    // PULL_FROM_URL: TikTok downloads it, and gets the cover with the init.
    let (status, post) = post_json(
        &app,
        json!({
            "account_id": account, "video_url": format!("{PREFIX}cover.mp4"),
            "title": "pulled with a cover", "privacy_level": "PUBLIC_TO_EVERYONE",
            "video_cover_timestamp_ms": 4200,
        }),
    )
    .await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    let done = wait_settled(&app, post["id"].as_str().unwrap()).await?;
    assert_eq!(done["state"], "published", "{done}");
    assert_eq!(cover_at_tiktok(&app, &done)?, Some(4200));
    let posts = app.sandbox.records().posts;
    assert!(posts.iter().all(|p| p.open_id == PUBLIC), "{posts:?}");
    Ok(())
}

#[tokio::test]
async fn a_campaign_rows_cover_frame_is_read_checked_and_sent() -> Result<()> {
    let (app, user, _account) = publishing_app(Backend::Sqlite, |_| {}).await?;
    let first = staged_webm(&app, user, 4).await?;
    let second = staged_webm(&app, user, 5).await?;
    let send = async |key: &str, csv: String| -> Result<(StatusCode, Value)> {
        let resp = app
            .client
            .post(app.url("/api/campaigns"))
            .header(ORIGIN, &app.base_url)
            .header(CONTENT_TYPE, "text/csv")
            .header("idempotency-key", key)
            .body(csv)
            .send()
            .await?;
        Ok((resp.status(), resp.json().await?))
    };
    let csv = |covers: [&str; 2]| {
        format!(
            "account,media_id,privacy_level,video_cover_timestamp_ms\n\
             @sunny.demo,{},PUBLIC_TO_EVERYONE,{}\n\
             @sunny.demo,{},PUBLIC_TO_EVERYONE,{}\n",
            first.id, covers[0], second.id, covers[1]
        )
    };

    // Not a number: refused naming the row, before anything is checked or written.
    let (status, body) = send("cover-typo", csv(["1500", "1.5s"])).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_error(&body, "invalid_campaign", "row 2");
    // Past the end of that row's video: that row's problem, no post written.
    let (status, body) = send("cover-late", csv(["1500", "12000"])).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid_rows", "{body}");
    assert_eq!(body["rows"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(body["rows"][0]["row"], 2, "{body}");
    assert_eq!(body["rows"][0]["code"], "cover_out_of_range", "{body}");
    let (_, list) = app.get_json("/api/posts").await?;
    assert_eq!(list["posts"].as_array().map(Vec::len), Some(0), "{list}");

    // A cover and an empty cell (none): each row's post sends what its row asked.
    let (status, body) = send("cover-ok", csv(["1500", ""])).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let posts = body["posts"].as_array().context("the posts")?;
    assert_eq!(posts[0]["video_cover_timestamp_ms"], 1500, "{body}");
    assert!(posts[1]["video_cover_timestamp_ms"].is_null(), "{body}");
    let mut at_tiktok = Vec::new();
    for post in posts {
        let done = wait_settled(&app, post["id"].as_str().unwrap()).await?;
        assert_eq!(done["state"], "published", "{done}");
        at_tiktok.push(cover_at_tiktok(&app, &done)?);
    }
    assert_eq!(at_tiktok, [Some(1500), None], "in row order");
    Ok(())
}
