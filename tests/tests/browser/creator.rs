//! A creator's whole day in a real browser: sign in with (sandbox) Google, connect two TikTok
//! accounts, schedule a post a minute ahead, post one now while watching the upload progress,
//! post one that TikTok refuses, and watch the history update by itself until all three have
//! their outcome. Screenshots of the main pages at desktop and phone width are taken on the way.

use crate::driver::{Browser, DESKTOP, PHONE, WAIT, screenshot_dir};
use crate::{browser_app, in_browser, nothing, start_scheduler, video_file};
use anyhow::{Context, Result, bail, ensure};
use chrono::{DurationRound, Utc};
use e2e::TestApp;
use sandbox::{DEMO_PRIVATE_OPEN_ID, DEMO_PUBLIC_OPEN_ID, MediaCheck};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

/// Ada, the first seeded user on the sandbox's Google sign-in page.
pub(crate) const ADA: &str = "sandboxGoogleUserAda00000001";
/// The reason TikTok gives for the refused post, and what the page must say about it.
const REFUSAL: &str = "picture_size_check_failed";

/// What the history shows for one post (found by its caption).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct PostRow {
    pub(crate) state: String,
    pub(crate) badge: String,
    pub(crate) reason: Option<String>,
    pub(crate) link: Option<String>,
    reschedule: bool,
    cancel: bool,
}

const POST_ROW: &str = "
    const li = Array.from(document.querySelectorAll('#posts .post'))
        .find(l => l.querySelector('.caption').textContent.trim() === arguments[0]);
    if (!li) return null;
    const q = s => li.querySelector(s);
    return {
        state: li.dataset.state,
        badge: q('.badge').textContent.trim(),
        reason: q('.reason') ? q('.reason').textContent.trim() : null,
        link: q('a.tiktok-link') ? q('a.tiktok-link').href : null,
        reschedule: !!q('.js-reschedule'),
        cancel: !!q('.js-cancel'),
    };";

pub(crate) async fn post_row(b: &Browser, caption: &str) -> Result<Option<PostRow>> {
    let v = b.js(POST_ROW, vec![json!(caption)]).await?;
    Ok(serde_json::from_value(v)?)
}

/// Waits, without reloading, until the post with `caption` is in `state`.
pub(crate) async fn wait_post(
    b: &Browser,
    caption: &str,
    state: &str,
    timeout: Duration,
) -> Result<PostRow> {
    let last = std::sync::Mutex::new(None::<String>);
    let r = b
        .wait_until(
            &format!("post {caption:?} to become {state}"),
            timeout,
            || {
                let last = &last;
                async move {
                    let row = post_row(b, caption).await?;
                    if row.as_ref().is_some_and(|r| r.state == state) {
                        return Ok(row);
                    }
                    if let Ok(mut l) = last.lock() {
                        *l = row.map(|r| format!("{} ({}): {:?}", r.state, r.badge, r.reason));
                    }
                    Ok(None)
                }
            },
        )
        .await;
    let seen = last.lock().map(|l| l.clone()).unwrap_or_default();
    r.with_context(|| format!("last seen: {seen:?}"))
}

/// Signs in as Ada through the sandbox's Google page, as a person would.
pub(crate) async fn sign_in(b: &Browser) -> Result<()> {
    sign_in_as(b, ADA).await
}

/// Signs in through the sandbox's Google page as the test user `uid`.
pub(crate) async fn sign_in_as(b: &Browser, uid: &str) -> Result<()> {
    b.goto("/").await?;
    b.at("/login").await?;
    b.click("#google-signin").await?;
    b.click(&format!("input[name=uid][value='{uid}']")).await?;
    b.click("button[type=submit]").await?;
    b.at("/accounts").await?;
    Ok(())
}

/// Connects a sandbox creator from the Accounts page (TikTok's consent page in between).
pub(crate) async fn connect(b: &Browser, open_id: &str, name: &str) -> Result<()> {
    b.goto("/accounts").await?;
    b.click("#connect").await?;
    b.click(&format!("input[name=open_id][value='{open_id}']"))
        .await?;
    b.click("button[value=authorize]").await?;
    b.at("/accounts?connected=").await?;
    b.text_contains("#connected-notice", name).await?;
    Ok(())
}

/// Opens Compose and picks the account whose option mentions `name`; waits for creator_info.
pub(crate) async fn start_compose(b: &Browser, name: &str) -> Result<()> {
    b.goto("/compose").await?;
    let id = b
        .js(
            "const o = Array.from(document.querySelectorAll('#account option'))
                 .find(o => o.textContent.includes(arguments[0]));
             return o ? o.value : null;",
            vec![json!(name)],
        )
        .await?;
    let id = id.as_str().context("the account in the picker")?.to_owned();
    b.visible("#account").await?.select_by_value(&id).await?;
    b.text_contains("#creator-nickname", name).await?;
    ensure!(
        b.visible("#publish").await?.is_enabled().await?,
        "the form is usable once creator_info arrived"
    );
    Ok(())
}

/// Chooses a file and waits until the page has taken it. Nothing is sent yet: "Post now"
/// streams it to TikTok on submit, "Schedule" uploads it then.
pub(crate) async fn upload(b: &Browser, file: &Path) -> Result<()> {
    let input = b.visible("#video").await?;
    input.send_keys(&file.display().to_string()).await?;
    b.text_contains("#video-chosen", "Nothing is sent until you post")
        .await?;
    ensure!(
        b.js("return document.getElementById('upload').hidden;", vec![])
            .await?
            == true,
        "choosing a video sends nothing"
    );
    Ok(())
}

/// Waits until the upload progress bar is part-way and returns the words next to it.
async fn upload_part_way(b: &Browser) -> Result<String> {
    b.wait_until("the upload progress to be part-way", WAIT, || async {
        let v = b
            .js(
                "const p = document.getElementById('upload-progress');
                 return [p.value, p.max, document.getElementById('upload-text').textContent];",
                vec![],
            )
            .await?;
        let (value, max) = (v[0].as_f64().unwrap_or(0.0), v[1].as_f64().unwrap_or(0.0));
        Ok((value > 0.0 && value < max).then(|| v[2].as_str().unwrap_or_default().to_owned()))
    })
    .await
}

pub(crate) async fn set_caption(b: &Browser, caption: &str) -> Result<()> {
    let field = b.visible("#caption").await?;
    field.clear().await?;
    field.send_keys(caption).await?;
    Ok(())
}

pub(crate) async fn submit(b: &Browser, expect: &str) -> Result<()> {
    b.click("#publish").await?;
    b.at(expect).await?;
    Ok(())
}

async fn flow(app: &TestApp, b: &Browser, files: &Path) -> Result<()> {
    b.goto("/login").await?;
    b.visible("#google-signin").await?;
    b.screenshot("login", DESKTOP).await?;
    b.screenshot("login", PHONE).await?;
    sign_in(b).await?;
    b.text_contains("main", "No TikTok account is connected yet")
        .await?;
    connect(b, DEMO_PUBLIC_OPEN_ID, "Sunny Demo").await?;
    connect(b, DEMO_PRIVATE_OPEN_ID, "Pia Private").await?;
    let avatars_ok = b
        .wait_until("the avatars to load from our origin", WAIT, || async {
            let v = b
                .js(
                    "const imgs = Array.from(document.querySelectorAll('img.avatar'));
                     return imgs.length === 2 && imgs.every(i => i.complete && i.naturalWidth > 0);",
                    vec![],
                )
                .await?;
            Ok((v == true).then_some(()))
        })
        .await;
    avatars_ok?;
    b.screenshot("accounts", DESKTOP).await?;
    b.screenshot("accounts", PHONE).await?;
    check_origins(b).await?;

    // --- 1. Scheduled a minute ahead (to Sunny) ---
    let scheduled_caption = "Scheduled: behind the scenes #rust";
    start_compose(b, "Sunny Demo").await?;
    upload(b, &video_file(files, "scheduled.mp4", 130_001, 1)?).await?;
    set_caption(b, scheduled_caption).await?;
    // TikTok's rule: no default privacy. Posting without one is stopped next to the control.
    let privacy = b.visible("#privacy").await?;
    ensure!(
        privacy.prop("value").await?.as_deref() == Some(""),
        "no privacy is preselected"
    );
    b.click("#when-later").await?;
    let zone = b
        .js(
            "return Intl.DateTimeFormat().resolvedOptions().timeZone;",
            vec![],
        )
        .await?;
    let tz = b.visible("#scheduled-tz").await?.prop("value").await?;
    ensure!(
        tz.as_deref() == zone.as_str(),
        "the browser's zone {zone} is preselected, got {tz:?}"
    );
    b.text_contains("#schedule-utc", "UTC").await?;
    b.click("#publish").await?;
    b.text_contains("#privacy-error", "Choose who can watch this video")
        .await?;
    let focused = b.client.active_element().await?.attr("id").await?;
    ensure!(
        focused.as_deref() == Some("privacy"),
        "focus moves to the privacy control, got {focused:?}"
    );
    ensure!(
        b.path().await? == "/compose",
        "nothing was posted without a privacy choice"
    );
    privacy.select_by_value("PUBLIC_TO_EVERYONE").await?;
    // The next whole minute at least 25 s away: the form has minute precision, like a creator's.
    let at = (Utc::now() + chrono::Duration::seconds(25))
        .duration_trunc(chrono::Duration::minutes(1))?
        + chrono::Duration::minutes(1);
    b.js(
        "const el = document.getElementById('scheduled-at');
         el.value = MKT.localInput(new Date(arguments[0]));
         el.dispatchEvent(new Event('input'));",
        vec![json!(at.timestamp_millis())],
    )
    .await?;
    b.text_contains("#schedule-utc", &at.format("%H:%M UTC").to_string())
        .await?;
    submit(b, "/history?sent=scheduled").await?;
    let row = wait_post(b, scheduled_caption, "scheduled", WAIT).await?;
    ensure!(
        row.badge == "Scheduled" && row.reschedule && row.cancel,
        "{row:?}"
    );
    // "Change time" opens prefilled with the time picked; keeping it closes the form.
    let open = "#posts .post:first-child .js-reschedule";
    b.click(open).await?;
    let prefilled = b
        .visible("#posts .post:first-child .js-at")
        .await?
        .prop("value")
        .await?;
    let expected = b
        .js(
            "return MKT.localInput(new Date(arguments[0]));",
            vec![json!(at.timestamp_millis())],
        )
        .await?;
    ensure!(
        prefilled.as_deref() == expected.as_str(),
        "prefilled {prefilled:?}, expected {expected}"
    );
    b.click("#posts .post:first-child .reschedule .js-close")
        .await?;

    // --- 2. Posted now (to Sunny), watching the upload progress ---
    let now_caption = "Launch day #rust";
    start_compose(b, "Sunny Demo").await?;
    // A file that is not a video is refused by the server; the words appear next to the picker.
    let text = files.join("notes.mp4");
    std::fs::write(&text, "just some notes, not a video ".repeat(100))?;
    b.visible("#video")
        .await?
        .send_keys(&text.display().to_string())
        .await?;
    b.text_contains("#video-error", "not a video TikTok accepts")
        .await?;
    // Throttled so the progress bar can be seen moving: 600 KB at 200 KB/s, sent straight
    // through to TikTok when the creator posts (never stored on our side).
    b.throttle_upload(Some(200_000)).await?;
    let big = video_file(files, "now.mp4", 600_000, 2)?;
    upload(b, &big).await?;
    set_caption(b, now_caption).await?;
    b.visible("#privacy")
        .await?
        .select_by_value("PUBLIC_TO_EVERYONE")
        .await?;
    // First try: cancelled part-way; nothing is posted.
    b.click("#publish").await?;
    let partial = upload_part_way(b).await?;
    ensure!(
        partial.starts_with("Sending to TikTok:") && partial.contains("of 586 KB"),
        "{partial}"
    );
    b.screenshot("compose", DESKTOP).await?;
    b.click("#upload-cancel").await?;
    b.text_contains("#upload-text", "Upload cancelled").await?;
    ensure!(
        b.path().await? == "/compose",
        "a cancelled send posts nothing"
    );
    // Second try: watched to the end (the preview had to be chosen again).
    upload(b, &big).await?;
    b.click("#publish").await?;
    upload_part_way(b).await?;
    b.at("/history?sent=now").await?;
    b.throttle_upload(None).await?;
    start_compose(b, "Sunny Demo").await?;
    // The counter counts UTF-16 code units, as TikTok does: the rocket is two. (Set by script:
    // chromedriver cannot type characters outside the BMP.)
    b.js(
        "const c = document.getElementById('caption');
         c.value = arguments[0];
         c.dispatchEvent(new Event('input'));",
        vec![json!("Launch \u{1F680}")],
    )
    .await?;
    let count = b.visible("#caption-count").await?.text().await?;
    ensure!(count == "9 / 2200", "caption count {count:?}");
    b.text_contains("#consent", "Music Usage Confirmation")
        .await?;
    b.goto("/history?sent=now").await?;
    b.text_contains("#sent-notice", "Sent to TikTok").await?;
    let done = wait_post(b, now_caption, "published", Duration::from_secs(60)).await?;
    let link = done
        .link
        .context("a published public post links to TikTok")?;
    ensure!(
        link.starts_with("https://www.tiktok.com/@sunny.demo/video/"),
        "TikTok link {link}"
    );
    check_origins(b).await?;

    // --- 3. Refused by TikTok (to Pia, whose duet and stitch are off) ---
    let refused_caption = "This one TikTok refuses";
    start_compose(b, "Pia Private").await?;
    for name in ["duet", "stitch"] {
        let toggle = b.visible(&format!("#allow-{name}")).await?;
        ensure!(!toggle.is_enabled().await?, "{name} is disabled for Pia");
        // Neither a click on its label nor on the box turns it on.
        b.click(&format!("label[for=allow-{name}]")).await?;
        let _ = toggle.click().await;
        ensure!(!toggle.is_selected().await?, "{name} stayed off");
        b.visible(&format!("#allow-{name}-note")).await?;
    }
    let comment = b.visible("#allow-comment").await?;
    ensure!(
        comment.is_enabled().await? && !comment.is_selected().await?,
        "comments start off"
    );
    let options = b
        .js(
            "return Array.from(document.querySelectorAll('#privacy option')).map(o => o.value);",
            vec![],
        )
        .await?;
    ensure!(
        options[0] == ""
            && !options
                .as_array()
                .is_some_and(|o| o.contains(&json!("PUBLIC_TO_EVERYONE"))),
        "{options}"
    );
    b.screenshot("compose", PHONE).await?;
    upload(b, &video_file(files, "refused.mp4", 130_001, 3)?).await?;
    set_caption(b, refused_caption).await?;
    let first_option = options[1].as_str().context("a privacy option")?.to_owned();
    b.visible("#privacy")
        .await?
        .select_by_value(&first_option)
        .await?;
    app.sandbox.fail_next_post(MediaCheck {
        fail_reason: REFUSAL.into(),
        open_id: Some(DEMO_PRIVATE_OPEN_ID.into()),
        count: 1,
    });
    submit(b, "/history?sent=now").await?;
    let failed = wait_post(b, refused_caption, "failed", Duration::from_secs(60)).await?;
    let reason = failed.reason.context("a failed post says why")?;
    ensure!(
        reason.contains(jobs::tiktok::fail_reason_message(REFUSAL)),
        "reason {reason:?}"
    );

    // --- 4. The scheduled post goes out while the page is open ---
    let wait = (at - Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(45);
    let out = wait_post(b, scheduled_caption, "published", wait).await?;
    ensure!(out.link.is_some(), "{out:?}");
    // Published videos, from video.list.
    b.text_contains("section.videos", "Watch on TikTok").await?;
    b.screenshot("history", DESKTOP).await?;
    b.screenshot("history", PHONE).await?;
    check_origins(b).await?;

    // --- 5. A creator TikTok will not let post now: the form stops with TikTok's reason ---
    app.sandbox
        .update_creator(DEMO_PRIVATE_OPEN_ID, |c| c.banned = true)?;
    b.goto("/compose").await?;
    let pia = b
        .js(
            "return Array.from(document.querySelectorAll('#account option'))
                 .find(o => o.textContent.includes('Pia Private')).value;",
            vec![],
        )
        .await?;
    b.visible("#account")
        .await?
        .select_by_value(pia.as_str().context("Pia's account")?)
        .await?;
    b.text_contains("#account-error", "cannot post right now")
        .await?;
    ensure!(
        !b.visible("#publish").await?.is_enabled().await?,
        "nothing can be posted to a creator TikTok refuses"
    );

    // --- 6. Disconnect, after a confirmation ---
    b.goto("/accounts").await?;
    let card = format!(
        "li.account[data-account-id='{}']",
        pia.as_str().unwrap_or_default()
    );
    b.click(&format!("{card} .js-disconnect")).await?;
    b.text_contains(&format!("{card} .confirm"), "Disconnect @pia.private?")
        .await?;
    b.click(&format!("{card} .js-disconnect-yes")).await?;
    b.wait_until("Pia's card to go", WAIT, || async {
        let left = b
            .js(
                "return document.querySelectorAll('li.account').length;",
                vec![],
            )
            .await?;
        Ok((left == 1).then_some(()))
    })
    .await?;

    // --- 7. Settings: an API key is shown once, listed by prefix, revoked ---
    b.goto("/settings").await?;
    b.visible("#key-name")
        .await?
        .send_keys("Agency scheduler")
        .await?;
    b.click("#new-key button[type=submit]").await?;
    let key = b
        .visible("#new-key-value")
        .await?
        .prop("value")
        .await?
        .unwrap_or_default();
    ensure!(key.len() > 20, "the new key is shown: {key:?}");
    b.text_contains("#keys", "Agency scheduler").await?;
    b.screenshot("settings", DESKTOP).await?;
    b.screenshot("settings", PHONE).await?;
    b.click("#keys .js-revoke").await?;
    b.click("#keys .js-revoke-yes").await?;
    b.visible("#no-keys").await?;

    b.goto("/privacy").await?;
    b.text_contains(
        "#log-retention",
        &format!("{} days", app.config.scheduler.log_retention_days),
    )
    .await?;
    b.screenshot("privacy", DESKTOP).await?;
    check_origins(b).await?;
    Ok(())
}

/// Nothing this page loaded or references as a resource comes from another origin.
pub(crate) async fn check_origins(b: &Browser) -> Result<()> {
    let foreign = b.foreign_resources().await?;
    if !foreign.is_empty() {
        bail!("{} loads from other origins: {foreign:#?}", b.path().await?);
    }
    Ok(())
}

/// Copies the two README screenshots when asked (`UPDATE_DOCS_SCREENSHOTS=1`), so a normal run
/// never changes tracked files.
fn update_docs_screenshots() -> Result<()> {
    if std::env::var("UPDATE_DOCS_SCREENSHOTS").is_err() {
        return Ok(());
    }
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    std::fs::create_dir_all(&docs)?;
    for name in ["compose-desktop.png", "history-phone.png"] {
        std::fs::copy(screenshot_dir().join(name), docs.join(name))?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creator_schedules_posts_and_follows_them_to_tiktok_in_a_real_browser() -> Result<()> {
    let app = browser_app().await?;
    let stop_scheduler = start_scheduler(&app);
    let files = tempfile::tempdir()?;
    let outcome = in_browser(&app, async |b| flow(&app, b, files.path()).await, nothing).await;
    stop_scheduler.cancel();
    outcome?;
    update_docs_screenshots()?;
    Ok(())
}
