//! Compose for every posting path TikTok has, in a real browser: a video TikTok downloads
//! from a verified address, photos put in order with a chosen cover (by keyboard and by
//! pointer), a draft sent to the creator's TikTok inbox that history follows until the creator
//! posts it, an account that allowed only drafts, and an app TikTok has not audited yet that
//! offers only "Only me" and says why.

use crate::creator::{connect, set_caption, sign_in, start_compose, upload, wait_post};
use crate::driver::{Browser, DESKTOP, PHONE};
use crate::{in_browser, nothing, sandbox_signin, video_file};
use anyhow::{Context, Result, ensure};
use e2e::{Backend, Chunked, TestApp};
use jobs::config::Config;
use jobs::staging::image::samples;
use sandbox::{DEMO_PRIVATE_OPEN_ID, DEMO_PUBLIC_OPEN_ID};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The address prefix verified for the app, here and at the sandbox.
const PREFIX: &str = "https://media.example.com/tiktok/";

/// A browser app (small chunks, quick processing, quick inbox polls) with `tweak` on top.
async fn app_with(tweak: impl FnOnce(&mut Config)) -> Result<TestApp> {
    let pace = Chunked {
        single_chunk_max: 250_000,
        processing_ms: 200,
        moderation_ms: 0,
    };
    let app = TestApp::start_chunked(Backend::Sqlite, true, pace, |c| {
        sandbox_signin(c);
        c.tiktok.inbox_poll_max_interval_secs = 1;
        tweak(c);
    })
    .await?;
    app.mirror_app_at_tiktok()?;
    Ok(app)
}

/// Records, in the tab's session storage (it outlives the page), the size of every upload to
/// `/api/media` and the id it was given, so a test can tell which staged copy is which file.
const RECORD_UPLOADS: &str = "
    sessionStorage.setItem('uploads', '[]');
    const open = XMLHttpRequest.prototype.open;
    const send = XMLHttpRequest.prototype.send;
    XMLHttpRequest.prototype.open = function (method, url) {
        this.recordedUrl = url;
        return open.apply(this, arguments);
    };
    XMLHttpRequest.prototype.send = function (body) {
        if (this.recordedUrl === '/api/media') {
            const size = body.size;
            this.addEventListener('load', () => {
                const seen = JSON.parse(sessionStorage.getItem('uploads'));
                seen.push([size, JSON.parse(this.responseText).id]);
                sessionStorage.setItem('uploads', JSON.stringify(seen));
            });
        }
        return send.apply(this, arguments);
    };";

/// What [`RECORD_UPLOADS`] saw: media id → size.
async fn recorded_uploads(b: &Browser) -> Result<std::collections::HashMap<String, u64>> {
    let v = b
        .js(
            "return JSON.parse(sessionStorage.getItem('uploads') || '[]');",
            vec![],
        )
        .await?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|pair| Some((pair[1].as_str()?.to_owned(), pair[0].as_u64()?)))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_posts_a_video_from_a_verified_address_and_refuses_any_other() -> Result<()> {
    let app = app_with(|c| c.tiktok.verified_url_prefixes = vec![PREFIX.into()]).await?;
    in_browser(
        &app,
        async |b| {
            sign_in(b).await?;
            connect(b, DEMO_PUBLIC_OPEN_ID, "Sunny Demo").await?;
            start_compose(b, "Sunny Demo").await?;
            b.click("#source-url").await?;
            ensure!(b.hidden("video-field").await?, "the file picker goes away");
            b.text_contains("#video-url-hint", PREFIX).await?;
            set_caption(b, "Pulled from our CDN").await?;
            b.select("#privacy", "PUBLIC_TO_EVERYONE").await?;

            // An address outside the verified prefixes is stopped in the page, next to it.
            let field = b.visible("#video-url").await?;
            field
                .send_keys("https://elsewhere.example/tiktok/clip.mp4")
                .await?;
            b.click("#publish").await?;
            b.text_contains("#video-url-error", "verified for this app")
                .await?;
            let focused = b.client.active_element().await?.attr("id").await?;
            ensure!(focused.as_deref() == Some("video-url"), "{focused:?}");
            ensure!(b.path().await? == "/compose", "nothing was posted");

            let url = format!("{PREFIX}launch.mp4");
            field.clear().await?;
            field.send_keys(&url).await?;
            b.click("#publish").await?;
            b.at("/history?sent=now").await?;
            wait_post(
                b,
                "Pulled from our CDN",
                "published",
                Duration::from_secs(30),
            )
            .await?;
            let post = b.api_post("Pulled from our CDN").await?;
            ensure!(post["source"]["kind"] == "url", "{post}");
            Ok(())
        },
        nothing,
    )
    .await?;
    let tasks = app.sandbox.records().posts;
    ensure!(tasks.len() == 1, "one task at TikTok: {tasks:#?}");
    ensure!(
        tasks[0].source == "PULL_FROM_URL"
            && tasks[0].video_url.as_deref() == Some(&format!("{PREFIX}launch.mp4")[..]),
        "{:?}",
        tasks[0]
    );
    Ok(())
}

/// Photos of different sizes (so the staged copies tell them apart): the paths, in the order
/// chosen, and their sizes.
fn photo_files(dir: &Path) -> Result<Vec<(PathBuf, u64)>> {
    let mut out = Vec::new();
    for (n, (name, mut bytes)) in [
        ("first.jpg", samples::jpeg(1080, 1350)),
        ("second.webp", samples::webp(1080, 1080)),
        ("third.jpg", samples::jpeg(640, 480)),
    ]
    .into_iter()
    .enumerate()
    {
        // Past the header (and a JPEG's end marker) the bytes only make each size unique.
        bytes.extend(std::iter::repeat_n(0u8, 1000 * (n + 1)));
        let path = dir.join(name);
        std::fs::write(&path, &bytes)?;
        out.push((path, bytes.len() as u64));
    }
    Ok(out)
}

/// The names in the photo list, in order, and which one is the cover.
async fn photo_order(b: &Browser) -> Result<(Vec<String>, usize)> {
    let v = b
        .js(
            "const items = Array.from(document.querySelectorAll('#photo-list li'));
             return [items.map(li => li.querySelector('.photo-name').textContent),
                     items.findIndex(li => li.querySelector('.js-cover').checked)];",
            vec![],
        )
        .await?;
    let names = v[0]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str())
        .map(|n| n.split(' ').nth(1).unwrap_or_default().to_owned())
        .collect();
    Ok((names, v[1].as_u64().context("cover index")? as usize))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_posts_photos_in_the_order_and_with_the_cover_chosen() -> Result<()> {
    let app = app_with(|_| {}).await?;
    // TikTok pulls each photo from this app's capability URLs (`/p/`), really GETting them (plain
    // http on 127.0.0.1: the sandbox's test-only knob).
    app.sandbox_pulls_our_photos(true)?;
    let dir = tempfile::tempdir()?;
    let files = photo_files(dir.path())?;
    in_browser(
        &app,
        async |b| {
            sign_in(b).await?;
            connect(b, DEMO_PUBLIC_OPEN_ID, "Sunny Demo").await?;
            start_compose(b, "Sunny Demo").await?;
            b.click("#source-photos").await?;
            ensure!(b.hidden("video-field").await?, "the video picker goes away");
            ensure!(
                b.hidden("toggle-duet").await? && b.hidden("toggle-stitch").await?,
                "photos have no Duet or Stitch"
            );
            b.text_contains("#caption-label", "Title").await?;

            // A PNG is refused in the page with its name; the others are listed in order.
            let png = dir.path().join("diagram.png");
            std::fs::write(&png, samples::png())?;
            let picker = b.visible("#photos").await?;
            let mut chosen: Vec<String> =
                files.iter().map(|(p, _)| p.display().to_string()).collect();
            chosen.push(png.display().to_string());
            picker.send_keys(&chosen.join("\n")).await?;
            b.text_contains("#photos-error", "diagram.png is not a JPEG or WebP")
                .await?;
            b.text_contains("#photos-status", "3 photos").await?;
            let (names, cover) = photo_order(b).await?;
            ensure!(
                names == ["first.jpg", "second.webp", "third.jpg"] && cover == 0,
                "{names:?} {cover}"
            );

            // By keyboard: the third photo moves up twice, and the focus stays on its button.
            let up = b.visible("#photo-list li:nth-child(3) .js-up").await?;
            up.send_keys("\u{E007}").await?;
            let again = b.client.active_element().await?;
            ensure!(
                again.attr("aria-label").await?.as_deref() == Some("Move photo 2 earlier"),
                "the focus follows the moved photo"
            );
            again.send_keys("\u{E007}").await?;
            // By pointer: the (now third) second photo is the cover.
            b.click("#photo-list li:nth-child(3) .js-cover").await?;
            let (names, cover) = photo_order(b).await?;
            ensure!(
                names == ["third.jpg", "first.jpg", "second.webp"] && cover == 2,
                "{names:?} {cover}"
            );
            b.text_contains("#photos-status", "Cover: photo 3").await?;
            b.screenshot("compose-photos", DESKTOP).await?;
            b.screenshot("compose-photos", PHONE).await?;

            // A title over TikTok's 90 characters for photos is stopped before anything is sent.
            set_caption(b, &"x".repeat(91)).await?;
            b.text_contains("#caption-count", "91 / 90").await?;
            set_caption(b, "Three photos").await?;
            b.visible("#description")
                .await?
                .send_keys("Left to right: the view, the team, the cake.")
                .await?;
            b.click("#auto-music").await?;
            b.select("#privacy", "PUBLIC_TO_EVERYONE").await?;
            b.js(RECORD_UPLOADS, vec![]).await?;
            b.click("#publish").await?;
            b.at("/history?sent=now").await?;
            wait_post(b, "Three photos", "published", Duration::from_secs(30)).await?;

            // The post holds the photos in the order shown, with the cover chosen: told apart by
            // their sizes, as they were uploaded.
            let post = b.api_post("Three photos").await?;
            let sizes = recorded_uploads(b).await?;
            let src = &post["source"];
            ensure!(src["kind"] == "photos" && src["cover_index"] == 2, "{post}");
            ensure!(src["auto_add_music"] == true, "{post}");
            ensure!(
                src["description"] == "Left to right: the view, the team, the cake.",
                "{post}"
            );
            let ids: Vec<String> = src["media_ids"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            let in_post: Vec<u64> = ids.iter().filter_map(|id| sizes.get(id).copied()).collect();
            let shown: Vec<u64> = [2, 0, 1].iter().map(|&i| files[i].1).collect();
            ensure!(
                in_post == shown,
                "sizes in the post {in_post:?}, as shown {shown:?}; {sizes:?}"
            );
            Ok(())
        },
        nothing,
    )
    .await?;
    let photo_tasks: Vec<_> = app
        .sandbox
        .records()
        .posts
        .into_iter()
        .filter(|p| p.media_type == "PHOTO")
        .collect();
    ensure!(photo_tasks.len() == 1, "{photo_tasks:#?}");
    ensure!(
        photo_tasks[0].title.as_deref() == Some("Three photos"),
        "{:?}",
        photo_tasks[0]
    );
    Ok(())
}

/// Connects `open_id` from the Accounts page, unticking `withheld` on TikTok's consent page.
async fn connect_without(b: &Browser, open_id: &str, name: &str, withheld: &str) -> Result<()> {
    b.goto("/accounts").await?;
    b.click("#connect").await?;
    b.click(&format!("input[name=open_id][value='{open_id}']"))
        .await?;
    b.click(&format!("input[name=grant][value='{withheld}']"))
        .await?;
    b.click("button[value=authorize]").await?;
    b.at("/accounts?connected=").await?;
    b.text_contains("#connected-notice", name).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_sent_from_compose_waits_in_the_inbox_until_the_creator_posts_it() -> Result<()> {
    let app = app_with(|_| {}).await?;
    let dir = tempfile::tempdir()?;
    in_browser(
        &app,
        async |b| {
            sign_in(b).await?;
            connect(b, DEMO_PUBLIC_OPEN_ID, "Sunny Demo").await?;
            start_compose(b, "Sunny Demo").await?;
            ensure!(
                !b.hidden("direct-only").await?,
                "a direct post asks who can watch"
            );
            b.click("#as-draft").await?;
            // The audience, interactions and disclosure are the creator's to choose in the app.
            ensure!(
                b.hidden("direct-only").await?,
                "a draft does not ask who can watch"
            );
            ensure!(b.hidden("consent").await?, "nor for TikTok's consent");
            b.text_contains("#publish", "Send draft to TikTok").await?;
            b.text_contains(
                "#caption-note",
                "TikTok takes no caption with a video draft",
            )
            .await?;
            upload(b, &video_file(dir.path(), "draft.mp4", 300_001, 7)?).await?;
            set_caption(b, "Finish me in the app").await?;
            b.click("#publish").await?;
            b.at("/history?sent=draft").await?;
            b.text_contains("main", "Sent to TikTok as a draft").await?;
            let row = wait_post(
                b,
                "Finish me in the app",
                "in_inbox",
                Duration::from_secs(30),
            )
            .await?;
            ensure!(row.badge == "Waiting in your TikTok inbox", "{row:?}");
            let post = b.api_post("Finish me in the app").await?;
            ensure!(post["post_mode"] == "inbox", "{post}");
            let publish_id = post["publish_id"]
                .as_str()
                .context("the draft's publish_id")?;
            app.sandbox.creator_posts_draft(publish_id, None)?;
            // History follows the draft by itself, without a reload.
            wait_post(
                b,
                "Finish me in the app",
                "published",
                Duration::from_secs(40),
            )
            .await?;
            Ok(())
        },
        nothing,
    )
    .await?;
    let tasks = app.sandbox.records().posts;
    ensure!(
        tasks.len() == 1 && tasks[0].post_mode == "MEDIA_UPLOAD",
        "one draft at TikTok: {tasks:#?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_that_allowed_only_drafts_can_send_drafts_and_nothing_else() -> Result<()> {
    let app = app_with(|_| {}).await?;
    in_browser(
        &app,
        async |b| {
            sign_in(b).await?;
            connect_without(b, DEMO_PRIVATE_OPEN_ID, "Pia Private", "video.publish").await?;
            b.text_contains(".account", "Drafts only").await?;
            b.goto("/compose").await?;
            // The only account, usable for drafts: preselected, with the mode fixed.
            let option = b
                .js(
                    "const o = document.getElementById('account').selectedOptions[0];
                     return o ? o.textContent : null;",
                    vec![],
                )
                .await?;
            ensure!(
                option
                    .as_str()
                    .is_some_and(|t| t.contains("Pia Private") && t.contains("drafts only")),
                "{option}"
            );
            b.text_contains("#as-draft-note", "only to send drafts")
                .await?;
            let draft = b.visible("#as-draft").await?;
            ensure!(
                draft.prop("checked").await?.as_deref() == Some("true")
                    && !draft.is_enabled().await?,
                "the draft mode is fixed on"
            );
            ensure!(b.hidden("direct-only").await?, "no audience to choose");
            b.text_contains("#creator-nickname", "Pia Private").await?;
            ensure!(
                b.visible("#publish").await?.is_enabled().await?,
                "the form is usable"
            );
            Ok(())
        },
        nothing,
    )
    .await?;
    // No creator_info was asked for an account that may not post directly.
    ensure!(
        app.sandbox.records().call_count("creator_info.query") == 0,
        "creator_info called {} times",
        app.sandbox.records().call_count("creator_info.query")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_tiktok_has_not_audited_offers_only_only_me_and_says_why() -> Result<()> {
    let app = app_with(|c| c.tiktok.app_audited = false).await?;
    in_browser(
        &app,
        async |b| {
            sign_in(b).await?;
            connect(b, DEMO_PUBLIC_OPEN_ID, "Sunny Demo").await?;
            start_compose(b, "Sunny Demo").await?;
            let offered = b
                .js(
                    "return Array.from(document.querySelectorAll('#privacy option'))
                         .map(o => o.value).filter(v => v);",
                    vec![],
                )
                .await?;
            ensure!(offered == json!(["SELF_ONLY"]), "{offered}");
            let why = b.text_contains("#privacy-note", "private").await?;
            ensure!(why.contains("audited"), "{why}");
            Ok(())
        },
        nothing,
    )
    .await
}
