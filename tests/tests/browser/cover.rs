//! Choosing a video's cover frame in Compose, in a real browser. The test videos are MP4s by
//! their magic bytes only, which Chromium cannot decode: the preview never learns their length,
//! so Compose offers the cover as a time in seconds (the range over the video, offered once the
//! preview has read a real file's length, is the same value by another control). A cover typed
//! in reaches TikTok's `post_info` in milliseconds; a video whose cover was never touched sends
//! none; a nonsense time is stopped next to the field; drafts and photos do not offer it.

use crate::creator::{connect, set_caption, sign_in, start_compose, upload, wait_post};
use crate::driver::Browser;
use crate::{browser_app, in_browser, nothing, video_file};
use anyhow::{Context, Result, ensure};
use sandbox::DEMO_PUBLIC_OPEN_ID;
use std::time::Duration;

/// Types `text` into the cover's seconds field (cleared first), as a person would.
async fn type_cover(b: &Browser, text: &str) -> Result<()> {
    let field = b.visible("#cover-seconds").await?;
    field.clear().await?;
    field.send_keys(text).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cover_frame_chosen_in_compose_reaches_tiktok_and_an_untouched_one_sends_none()
-> Result<()> {
    let app = browser_app().await?;
    let dir = tempfile::tempdir()?;
    in_browser(
        &app,
        async |b| {
            sign_in(b).await?;
            connect(b, DEMO_PUBLIC_OPEN_ID, "Sunny Demo").await?;
            start_compose(b, "Sunny Demo").await?;
            ensure!(
                b.hidden("cover-field").await?,
                "no cover before a video is chosen"
            );
            upload(b, &video_file(dir.path(), "covered.mp4", 300_001, 11)?).await?;
            ensure!(
                !b.hidden("cover-seconds").await? && b.hidden("cover-frame").await?,
                "a video whose length the browser cannot read gets the seconds field"
            );
            b.text_contains("#cover-frame-text", "the first frame")
                .await?;

            // A draft's cover is picked in the TikTok app; photos have their own cover.
            b.click("#as-draft").await?;
            ensure!(b.hidden("cover-field").await?, "no cover for a draft");
            b.click("#as-draft").await?;
            ensure!(!b.hidden("cover-field").await?, "back for a direct post");
            b.click("#source-photos").await?;
            ensure!(b.hidden("cover-field").await?, "no video cover for photos");
            b.click("#source-file").await?;
            ensure!(!b.hidden("cover-field").await?, "back for the video");

            set_caption(b, "Cover at a second and a half").await?;
            b.visible("#privacy")
                .await?
                .select_by_value("PUBLIC_TO_EVERYONE")
                .await?;

            // A negative time is stopped next to the field, with the focus on it.
            type_cover(b, "-1").await?;
            b.click("#publish").await?;
            b.text_contains("#cover-error", "from 0 seconds").await?;
            let focused = b.client.active_element().await?.attr("id").await?;
            ensure!(focused.as_deref() == Some("cover-seconds"), "{focused:?}");
            ensure!(b.path().await? == "/compose", "nothing was posted");

            type_cover(b, "1.5").await?;
            b.text_contains("#cover-frame-text", "the frame at 0:01.5")
                .await?;
            ensure!(
                b.hidden("cover-error").await?,
                "the error went with the fix"
            );
            b.click("#publish").await?;
            b.at("/history?sent=now").await?;
            wait_post(
                b,
                "Cover at a second and a half",
                "published",
                Duration::from_secs(30),
            )
            .await?;
            let post = b.api_post("Cover at a second and a half").await?;
            ensure!(post["video_cover_timestamp_ms"] == 1500, "{post}");
            ensure!(post["source"]["kind"] == "stream", "posted now: {post}");

            // A second video, its cover never touched: nothing is sent.
            start_compose(b, "Sunny Demo").await?;
            upload(b, &video_file(dir.path(), "plain.mp4", 300_002, 12)?).await?;
            set_caption(b, "First frame cover").await?;
            b.visible("#privacy")
                .await?
                .select_by_value("PUBLIC_TO_EVERYONE")
                .await?;
            b.click("#publish").await?;
            b.at("/history?sent=now").await?;
            wait_post(b, "First frame cover", "published", Duration::from_secs(30)).await?;
            let post = b.api_post("First frame cover").await?;
            ensure!(post["video_cover_timestamp_ms"].is_null(), "{post}");
            Ok(())
        },
        nothing,
    )
    .await?;
    let posts = app.sandbox.records().posts;
    let cover_of = |title: &str| {
        posts
            .iter()
            .find(|p| p.title.as_deref() == Some(title))
            .map(|p| p.video_cover_timestamp_ms)
            .with_context(|| format!("no task {title:?} at TikTok: {posts:#?}"))
    };
    ensure!(cover_of("Cover at a second and a half")? == Some(1500));
    ensure!(cover_of("First frame cover")?.is_none());
    Ok(())
}
