//! The worker *process* is killed (SIGKILL) at random points mid-publish, 20 times in a row,
//! and restarted each time: every post ends published exactly once at TikTok (the sandbox's
//! records), none is lost, and staging ends empty.

use crate::publish::{PUBLIC, create_post, stage, staging_files, video, wait_state};
use anyhow::Result;
use e2e::{Backend, Chunked, TestApp, WorkerProcess};
use jobs::model::UserId;
use rand::Rng;
use sandbox::{FaultAction, FaultSpec};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::time::Duration;

#[tokio::test]
async fn killing_the_worker_twenty_times_mid_publish_loses_and_duplicates_nothing() -> Result<()> {
    let pace = Chunked {
        single_chunk_max: 50_000,
        processing_ms: 300,
        moderation_ms: 50,
    };
    let app = TestApp::start_chunked(Backend::Sqlite, false, pace, |c| {
        c.worker.heartbeat_secs = 1;
        c.queue.job_max_attempts = 10;
        c.worker.concurrency = 4;
    })
    .await?;
    app.sandbox
        .update_creator(PUBLIC, |c| c.daily_post_cap = 1000)?;
    // Slow chunk PUTs so a kill lands in the middle of uploads as often as between steps.
    let mut slow = FaultSpec::new("upload", 1, FaultAction::Slow { ms: 80 });
    slow.times = 1_000_000;
    app.sandbox.inject_fault(slow);
    let me = app.sign_in("crashy").await?;
    let user = UserId::parse(me["id"].as_str().unwrap())?;
    app.connect_tiktok(PUBLIC).await?;
    let (_, list) = app.get_json("/api/accounts").await?;
    let account = list["accounts"][0]["id"].as_str().unwrap().to_owned();

    let mut expected = BTreeSet::new();
    let mut ids = Vec::new();
    let mut worker = WorkerProcess::spawn(&app, 0)?;
    for i in 0..20u8 {
        let bytes = video(130_001, i);
        expected.insert(hex::encode(Sha256::digest(&bytes)));
        let media = stage(&app, user, &bytes).await?;
        let (_, post) = create_post(
            &app,
            &account,
            &media,
            json!({"privacy_level": "SELF_ONLY"}),
        )
        .await?;
        ids.push(post["id"].as_str().unwrap().to_owned());
        let pause = rand::rng().random_range(150..1_200);
        tokio::time::sleep(Duration::from_millis(pause)).await; // the random point of the kill
        worker.kill()?;
        worker = WorkerProcess::spawn(&app, usize::from(i) + 1)?;
    }
    for id in &ids {
        let done = wait_state(&app, id, &["published", "failed"], Duration::from_secs(240)).await?;
        assert_eq!(done["state"], "published", "{done}");
    }
    let records = app.sandbox.records();
    let completed: Vec<_> = records.posts.iter().filter(|p| p.upload_complete).collect();
    assert_eq!(completed.len(), 20, "exactly one completed upload per post");
    let got: BTreeSet<String> = completed.iter().filter_map(|p| p.sha256.clone()).collect();
    assert_eq!(got, expected, "each post's bytes arrived whole, once");
    app.wait_for("staging to be empty", Duration::from_secs(10), || async {
        Ok((staging_files(&app) == 0).then_some(()))
    })
    .await?;
    let dead = app
        .ctx
        .queue
        .stats(jobs::handlers::publish::NAME)
        .await?
        .dead;
    assert_eq!(dead, 0, "no publish job died");
    drop(worker);
    Ok(())
}
