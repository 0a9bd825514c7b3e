//! Resuming an upload long after its URL expired never makes a second TikTok post.
//!
//! The hole: TikTok accepted every chunk, but saving `processing` failed (worker killed, job
//! timeout, store down for longer than the retry budget). A resume more than an hour after
//! `init` PUT to the dead upload URL, the 403 made `publish` forget the publish id, and the next
//! attempt initialised again: a second post. Each of the three ways a post is resumed (the stuck
//! sweep, a creator's retry, an operator's replay) must instead ask TikTok, find every byte
//! there, and follow the one publish to `published`.

use crate::publish::{PUBLIC, create_post, publishing_app, stage, video, wait_state};
use anyhow::{Context, Result};
use e2e::{Backend, TestApp};
use jobs::model::{PostId, PostState, UserId};
use reqwest::StatusCode;
use reqwest::header::ORIGIN;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::Connection;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);
/// Past TikTok's one hour for an upload URL.
const PAST_THE_HOUR: Duration = Duration::from_secs(61 * 60);

/// An app with one post in the state a failed `processing` save leaves behind: every chunk at
/// TikTok, the post still `uploading` with its publish id, parked after the job used up its
/// attempts (its task dead). A PostgreSQL trigger refuses exactly that save, like a store that
/// is down at that moment; it is dropped again, and TikTok's clock moves past the URL's hour.
struct Stranded {
    app: TestApp,
    user: UserId,
    post: String,
    bytes: Vec<u8>,
}

async fn stranded_upload() -> Result<Stranded> {
    stranded_upload_with(|_| {}).await
}

/// [`stranded_upload`] with the sandbox's knobs changed before the upload.
async fn stranded_upload_with(knobs: impl FnOnce(&mut sandbox::Knobs)) -> Result<Stranded> {
    let (app, user, account) = publishing_app(Backend::Postgres, |c| {
        c.identity.ops_google_uids = vec!["operator".into()];
    })
    .await?;
    // The job that met the refused save used up its attempts: its task is dead by design.
    app.allow_dead_jobs(1);
    app.sandbox.update_knobs(knobs);
    let mut db = sqlx::PgConnection::connect(app.config.store.database_url.expose()).await?;
    for statement in [
        "CREATE FUNCTION refuse_processing() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.state = 'processing' THEN RAISE EXCEPTION 'store unavailable'; END IF; \
         RETURN NEW; END $$",
        "CREATE TRIGGER refuse_processing BEFORE UPDATE ON posts \
         FOR EACH ROW EXECUTE FUNCTION refuse_processing()",
    ] {
        sqlx::query(statement).execute(&mut db).await?;
    }

    let bytes = video(130_001, 11);
    let media = stage(&app, user, &bytes).await?;
    let (status, created) = create_post(&app, &account, &media, json!({})).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let post = created["id"].as_str().context("post id")?.to_owned();
    let parked = app
        .wait_for("the post to be parked", WAIT, || async {
            let (_, p) = app.get_json(&format!("/api/posts/{post}")).await?;
            Ok((p["error"]["code"] == "retries_exhausted").then_some(p))
        })
        .await?;
    assert_eq!(parked["state"], "uploading", "{parked}");
    assert_eq!(
        completed_uploads(&app),
        1,
        "TikTok has the whole video already"
    );

    sqlx::query("DROP TRIGGER refuse_processing ON posts")
        .execute(&mut db)
        .await?;
    app.sandbox.advance_clock(PAST_THE_HOUR);
    Ok(Stranded {
        app,
        user,
        post,
        bytes,
    })
}

impl Stranded {
    fn post_id(&self) -> Result<PostId> {
        Ok(PostId::parse(&self.post)?)
    }

    /// Moves our own record of the upload URL's issue time back an hour too, so the resume sees
    /// the expiry on both clocks (without it, only TikTok's 403 tells).
    async fn our_clock_past_the_hour_too(&self) -> Result<()> {
        let back = chrono::Duration::from_std(PAST_THE_HOUR)?;
        self.app
            .store
            .transition_post(
                jobs::model::Workspace::personal_id(self.user),
                self.post_id()?,
                PostState::Uploading,
                Box::new(move |p| {
                    p.tiktok.upload_url_issued_at = p.tiktok.upload_url_issued_at.map(|t| t - back);
                }),
            )
            .await?;
        Ok(())
    }

    async fn published_once(&self) -> Result<()> {
        published_once(&self.app, &self.post, &self.bytes).await
    }
}

/// Waits for `published` and checks TikTok holds exactly one post (one `video/init`), with our
/// bytes.
async fn published_once(app: &TestApp, post: &str, bytes: &[u8]) -> Result<()> {
    let done = wait_state(app, post, &["published", "failed"], WAIT).await?;
    assert_eq!(done["state"], "published", "{done}");
    let records = app.sandbox.records();
    let complete: Vec<_> = records
        .posts
        .iter()
        .filter(|p| p.open_id == PUBLIC && p.upload_complete)
        .collect();
    assert_eq!(
        complete.len(),
        1,
        "exactly one TikTok post: {:?}",
        records
            .posts
            .iter()
            .map(|p| (&p.publish_id, p.upload_complete))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        complete[0].sha256.as_deref(),
        Some(hex::encode(Sha256::digest(bytes)).as_str())
    );
    let inits = records.posts.iter().filter(|p| p.open_id == PUBLIC).count();
    assert_eq!(inits, 1, "no second video/init either");
    Ok(())
}

/// POSTs `path` from `client` (same-site) and expects 202.
async fn accepted(app: &TestApp, client: &reqwest::Client, path: &str) -> Result<()> {
    let resp = client
        .post(app.url(path))
        .header(ORIGIN, &app.base_url)
        .send()
        .await?;
    let status = resp.status();
    assert_eq!(status, StatusCode::ACCEPTED, "{}", resp.text().await?);
    Ok(())
}

fn completed_uploads(app: &TestApp) -> usize {
    app.sandbox
        .records()
        .posts
        .iter()
        .filter(|p| p.open_id == PUBLIC && p.upload_complete)
        .count()
}

#[tokio::test]
async fn a_creators_retry_after_the_upload_url_expired_makes_no_second_post() -> Result<()> {
    let s = stranded_upload().await?;
    let path = format!("/api/posts/{}/retry", s.post);
    accepted(&s.app, &s.app.client, &path).await?;
    s.published_once().await
}

#[tokio::test]
async fn an_operators_replay_after_the_upload_url_expired_makes_no_second_post() -> Result<()> {
    let s = stranded_upload().await?;
    s.our_clock_past_the_hour_too().await?;
    let ops = TestApp::new_client();
    s.app.sign_in_with(&ops, "operator").await?;
    // The post reads parked a moment before the queue files its task as dead.
    let task = s
        .app
        .wait_for("the publish task to be dead", WAIT, || async {
            let dead: Value = ops
                .get(s.app.url("/api/ops/queues/publish/dead"))
                .send()
                .await?
                .json()
                .await?;
            Ok(dead["dead"]
                .as_array()
                .and_then(|d| d.first())
                .and_then(|t| t["task_id"].as_str())
                .map(str::to_owned))
        })
        .await?;
    let path = format!("/api/ops/queues/publish/dead/{task}/replay");
    accepted(&s.app, &ops, &path).await?;
    s.published_once().await
}

#[tokio::test]
async fn the_stuck_sweep_after_the_upload_url_expired_makes_no_second_post() -> Result<()> {
    let s = stranded_upload().await?;
    s.our_clock_past_the_hour_too().await?;
    // A worker killed mid-job leaves the post uploading without the park code.
    s.app
        .store
        .transition_post(
            jobs::model::Workspace::personal_id(s.user),
            s.post_id()?,
            PostState::Uploading,
            Box::new(|p| {
                p.error_code = None;
                p.error_message = None;
                p.tiktok.publish_attempts = 0;
            }),
        )
        .await?;
    let settings = scheduler::SchedulerSettings::from_config(&s.app.config);
    let later = chrono::Utc::now() + chrono::Duration::from_std(PAST_THE_HOUR)?;
    let report = scheduler::reconcile_stuck_posts(
        &s.app.ctx,
        &settings,
        later,
        &scheduler::RecentPushes::default(),
    )
    .await?;
    assert_eq!(report.done, 1, "{report:?}");
    s.published_once().await
}

/// TikTok's `status/fetch` may leave `uploaded_bytes` out (every field but `status` is
/// optional). While it still says `PROCESSING_UPLOAD` (it does so while processing after the
/// last chunk), an absent count is no proof that bytes are missing: the publish id must stay.
#[tokio::test]
async fn a_status_that_does_not_say_how_many_bytes_arrived_never_releases_the_publish() -> Result<()>
{
    let s = stranded_upload_with(|k| {
        // Still processing after the upload URL's hour, and quiet about the bytes.
        k.processing_delay_ms = 3 * 3600 * 1000;
        k.status_omits_uploaded_bytes = true;
    })
    .await?;
    s.our_clock_past_the_hour_too().await?;
    // The retry that hears no count is parked too: a second dead task.
    s.app.allow_dead_jobs(2);
    let path = format!("/api/posts/{}/retry", s.post);
    accepted(&s.app, &s.app.client, &path).await?;
    // Every attempt asks TikTok, hears no count, and keeps the publish id until it is parked.
    s.app
        .wait_for("the retry to be parked again", WAIT, || async {
            let (_, p) = s.app.get_json(&format!("/api/posts/{}", s.post)).await?;
            Ok((p["error"]["code"] == "retries_exhausted").then_some(()))
        })
        .await?;
    let inits = s.app.sandbox.records().posts.len();
    assert_eq!(inits, 1, "no second video/init");
    // Once TikTok has finished processing, a retry follows the one publish to the end.
    s.app.sandbox.advance_clock(Duration::from_secs(3 * 3600));
    accepted(&s.app, &s.app.client, &path).await?;
    s.published_once().await
}

/// The `publish:` lock is what keeps two workers from interleaving chunks of one upload. A
/// worker whose lock was taken over (it expired while the worker stalled, and someone else
/// acquired it) must stop sending at once, and the post must still go out exactly once when the
/// lock is free again.
#[tokio::test]
async fn a_worker_that_loses_the_publish_lock_stops_uploading() -> Result<()> {
    let (app, user, account) = publishing_app(Backend::Sqlite, |_| {}).await?;
    // Chunks 2.. take 1.5 s each, so the upload is still going when the lock is stolen.
    app.sandbox.inject_fault(sandbox::FaultSpec {
        times: 20,
        ..sandbox::FaultSpec::new("upload", 2, sandbox::FaultAction::Slow { ms: 1_500 })
    });
    let bytes = video(130_001, 13);
    let media = stage(&app, user, &bytes).await?;
    let (status, created) = create_post(&app, &account, &media, json!({})).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let post = created["id"].as_str().context("post id")?.to_owned();
    let uploaded = || {
        app.sandbox
            .records()
            .posts
            .iter()
            .filter(|p| p.open_id == PUBLIC)
            .map(|p| p.uploaded_bytes)
            .max()
            .unwrap_or(0)
    };
    app.wait_for("the first chunk to land", WAIT, || async {
        Ok((uploaded() > 0).then_some(()))
    })
    .await?;

    // Another holder takes the lock over for 20 s.
    let mut redis = redis::Client::open(e2e::redis_url())?
        .get_multiplexed_async_connection()
        .await?;
    let key = format!("{}:lock:publish:{post}", app.config.queue.namespace);
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("another-worker")
        .arg("PX")
        .arg(20_000)
        .query_async(&mut redis)
        .await?;
    // The worker notices within a renewal period (3 s) and cuts its chunk off; after that,
    // nothing more may arrive while the other holder has the lock. (A negative: it can only be
    // watched for a while.)
    tokio::time::sleep(Duration::from_secs(5)).await;
    let stopped_at = uploaded();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(uploaded(), stopped_at, "no byte was sent without the lock");
    assert!(stopped_at < bytes.len() as u64, "the upload was cut short");
    let (_, p) = app.get_json(&format!("/api/posts/{post}")).await?;
    assert_eq!(p["state"], "uploading", "{p}");

    // Once the lock is free (the other holder's lease runs out), the job takes the post back
    // and finishes the same upload: one TikTok post with our bytes.
    published_once(&app, &post, &bytes).await
}
