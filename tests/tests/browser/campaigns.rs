//! An agency queues a campaign from a CSV in a real browser: a row naming a video that was not
//! chosen is caught in the page before a byte is sent; a row the server refuses (no privacy
//! level) lists the problem and creates nothing; the corrected CSV queues both posts without
//! uploading the videos again, and the post due now reaches TikTok once.

use crate::creator::{ADA, check_origins, connect, sign_in};
use crate::driver::{Browser, WAIT};
use crate::{browser_app, in_browser, nothing, video_file};
use anyhow::{Context, Result, ensure};
use e2e::TestApp;
use jobs::model::{PostState, UserId};
use sandbox::{DEMO_PRIVATE_OPEN_ID, DEMO_PUBLIC_OPEN_ID};
use serde_json::json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

const HEADER: &str = "account,file,title,privacy_level,disable_comment,disable_duet,\
                      disable_stitch,scheduled_at,scheduled_tz";

/// One problem row as the page shows it: row number, message, and the server's code (if any).
#[derive(Debug, serde::Deserialize)]
struct Problem {
    row: String,
    message: String,
    code: Option<String>,
}

const PROBLEMS: &str = "
    if (document.getElementById('campaign-problems').hidden) return [];
    return Array.from(document.querySelectorAll('#campaign-problem-rows tr')).map(tr => {
        const td = tr.querySelectorAll('td');
        return {
            row: td[0].textContent.trim(),
            message: td[1].textContent.trim(),
            code: td[1].getAttribute('data-code'),
        };
    });";

fn write_csv(dir: &Path, name: &str, rows: &[String]) -> Result<PathBuf> {
    let mut text = format!("{HEADER}\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Chooses `csv` in the CSV picker (replacing the previous choice) and sends the campaign.
async fn send_csv(b: &Browser, csv: &Path) -> Result<()> {
    b.visible("#campaign-csv")
        .await?
        .send_keys(&csv.display().to_string())
        .await?;
    b.click("#campaign-submit").await?;
    Ok(())
}

/// Waits until the problem table lists something and returns its rows.
async fn problems(b: &Browser) -> Result<Vec<Problem>> {
    b.wait_until("the campaign's problems to be listed", WAIT, || async {
        let v = b.js(PROBLEMS, vec![]).await?;
        let rows: Vec<Problem> = serde_json::from_value(v)?;
        Ok((!rows.is_empty()).then_some(rows))
    })
    .await
}

async fn media_ids(app: &TestApp, user: UserId) -> Result<BTreeSet<String>> {
    Ok(app
        .store
        .list_media(jobs::model::Workspace::personal_id(user))
        .await?
        .iter()
        .map(|m| m.id.to_string())
        .collect())
}

/// The user's posts (the first ten).
async fn posts(app: &TestApp, user: UserId) -> Result<Vec<jobs::model::Post>> {
    Ok(app
        .store
        .list_posts(jobs::model::Workspace::personal_id(user), None, 10)
        .await?
        .items)
}

async fn flow(app: &TestApp, b: &Browser, files: &Path) -> Result<()> {
    sign_in(b).await?;
    connect(b, DEMO_PUBLIC_OPEN_ID, "Sunny Demo").await?;
    connect(b, DEMO_PRIVATE_OPEN_ID, "Pia Private").await?;
    let user = app
        .store
        .user_by_google_uid(ADA)
        .await?
        .context("Ada's user after signing in")?
        .id;
    let accounts = app
        .store
        .list_accounts(jobs::model::Workspace::personal_id(user))
        .await?;
    let account_of = |open_id: &str| {
        accounts
            .iter()
            .find(|a| a.open_id == open_id)
            .map(|a| a.id)
            .with_context(|| format!("the account of {open_id}"))
    };
    let (sunny, pia) = (
        account_of(DEMO_PUBLIC_OPEN_ID)?,
        account_of(DEMO_PRIVATE_OPEN_ID)?,
    );

    let a = video_file(files, "a.mp4", 130_001, 11)?;
    let b_video = video_file(files, "b.mp4", 120_003, 12)?;
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let sunny_row = "@sunny.demo,a.mp4,\"Launch, part 1\",PUBLIC_TO_EVERYONE,,,,now,".to_owned();
    let pia_row =
        format!("@pia.private,b.mp4,Teaser,SELF_ONLY,true,true,true,{tomorrow},Europe/Berlin");
    let unknown_video = write_csv(
        files,
        "unknown-video.csv",
        &[sunny_row.clone(), pia_row.replace("b.mp4", "c.mp4")],
    )?;
    let no_privacy = write_csv(
        files,
        "no-privacy.csv",
        &[sunny_row.clone(), pia_row.replace("SELF_ONLY", "")],
    )?;
    let good = write_csv(files, "campaign.csv", &[sunny_row, pia_row])?;

    // --- The page: the accounts by @username, both videos chosen once ---
    b.goto("/campaigns").await?;
    b.text_contains("main", "@sunny.demo").await?;
    b.text_contains("main", "@pia.private").await?;
    b.visible("#campaign-videos")
        .await?
        .send_keys(&format!("{}\n{}", a.display(), b_video.display()))
        .await?;
    let chosen = b
        .js(
            "return Array.from(document.getElementById('campaign-videos').files).map(f => f.name);",
            vec![],
        )
        .await?;
    ensure!(
        chosen == json!(["a.mp4", "b.mp4"]),
        "both videos are chosen: {chosen}"
    );

    // --- 1. A row naming a video that was not chosen: stopped in the page, nothing sent ---
    send_csv(b, &unknown_video).await?;
    let listed = problems(b).await?;
    ensure!(
        listed.len() == 1 && listed[0].row == "2" && listed[0].message.contains("c.mp4"),
        "one problem, on row 2, naming c.mp4: {listed:?}"
    );
    ensure!(
        media_ids(app, user).await?.is_empty(),
        "no video was uploaded"
    );
    ensure!(posts(app, user).await?.is_empty(), "no post was created");

    // --- 2. A row without privacy_level: the server refuses the whole campaign ---
    send_csv(b, &no_privacy).await?;
    let listed = b
        .wait_until(
            "the server's problem for row 2 to be listed",
            WAIT,
            || async {
                let v = b.js(PROBLEMS, vec![]).await?;
                let rows: Vec<Problem> = serde_json::from_value(v)?;
                let refused = rows
                    .iter()
                    .any(|p| p.code.as_deref() == Some("privacy_level_required"));
                Ok(refused.then_some(rows))
            },
        )
        .await?;
    ensure!(
        listed.len() == 1
            && listed[0].row == "2"
            && listed[0].code.as_deref() == Some("privacy_level_required")
            && !listed[0].message.is_empty(),
        "one problem, privacy_level_required on row 2: {listed:?}"
    );
    b.text_contains("#campaign-error", "no post was created")
        .await?;
    ensure!(posts(app, user).await?.is_empty(), "nothing was created");
    let uploaded = media_ids(app, user).await?;
    ensure!(
        uploaded.len() == 2,
        "both videos were uploaded once: {uploaded:?}"
    );

    // --- 3. The corrected CSV: both posts queued, the videos not uploaded again ---
    send_csv(b, &good).await?;
    let title = b.text_contains("#campaign-done-title", "queued").await?;
    ensure!(title == "2 posts queued.", "{title:?}");
    ensure!(
        b.js(PROBLEMS, vec![]).await? == json!([]),
        "the problems are gone"
    );
    ensure!(
        !b.visible("#campaign-done").await?.text().await?.is_empty(),
        "the outcome is shown"
    );
    let posts = posts(app, user).await?;
    ensure!(posts.len() == 2, "two posts: {posts:?}");
    let sunny_post = posts
        .iter()
        .find(|p| p.account_id == sunny)
        .context("Sunny's post")?;
    let pia_post = posts
        .iter()
        .find(|p| p.account_id == pia)
        .context("Pia's post")?;
    ensure!(
        matches!(
            sunny_post.state,
            PostState::Queued | PostState::Uploading | PostState::Processing | PostState::Published
        ),
        "Sunny's post is on its way: {:?}",
        sunny_post.state
    );
    ensure!(
        sunny_post.settings.title == "Launch, part 1" && sunny_post.scheduled_at.is_none(),
        "{sunny_post:?}"
    );
    ensure!(
        pia_post.state == PostState::Scheduled
            && pia_post.scheduled_tz.as_deref() == Some("Europe/Berlin")
            && pia_post
                .scheduled_at
                .is_some_and(|t| t > chrono::Utc::now())
            && pia_post.settings.disable_comment
            && pia_post.settings.disable_duet
            && pia_post.settings.disable_stitch,
        "Pia's post is scheduled tomorrow in Berlin time: {pia_post:?}"
    );
    let media = app
        .store
        .list_media(jobs::model::Workspace::personal_id(user))
        .await?;
    let reused: BTreeSet<String> = media.iter().map(|m| m.id.to_string()).collect();
    ensure!(
        reused == uploaded,
        "the videos uploaded before were reused, not uploaded again: {reused:?} vs {uploaded:?}"
    );
    let used: BTreeSet<String> = posts
        .iter()
        .filter_map(|p| p.media_id.map(|m| m.to_string()))
        .collect();
    ensure!(used == uploaded, "each post has one of the two videos");

    // --- 4. The post due now reaches TikTok, once; the scheduled one waits ---
    let sunny_id = sunny_post.id;
    let done = app
        .wait_for(
            "Sunny's post to be published",
            Duration::from_secs(60),
            || async {
                let p = app
                    .store
                    .post(jobs::model::Workspace::personal_id(user), sunny_id)
                    .await?;
                Ok(matches!(p.state, PostState::Published | PostState::Failed).then_some(p))
            },
        )
        .await?;
    ensure!(done.state == PostState::Published, "{done:?}");
    let records = app.sandbox.records();
    let at = |open_id: &str| {
        records
            .posts
            .iter()
            .filter(|p| p.open_id == open_id)
            .count()
    };
    ensure!(
        at(DEMO_PUBLIC_OPEN_ID) == 1 && at(DEMO_PRIVATE_OPEN_ID) == 0,
        "one post at TikTok for Sunny, none yet for Pia: {:?}",
        records.posts
    );
    check_origins(b).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creator_queues_a_campaign_from_a_csv_in_a_real_browser() -> Result<()> {
    let app = browser_app().await?;
    let files = tempfile::tempdir()?;
    in_browser(&app, async |b| flow(&app, b, files.path()).await, nothing).await
}
