//! The sweeps: each enqueues or deletes exactly what it should, and nothing else.

use crate::support::{
    self, Db, Env, Lease, QueueKind, each_way, id_set, on_sqlite_and_postgres, secs,
};
use apalis::prelude::Data;
use chrono::{DateTime, Duration, TimeZone, Utc};
use jobs::access_log::{AccessLine, AccessLog};
use jobs::context::JobContext;
use jobs::domain::posts::stream::UPLOAD_INTERRUPTED;
use jobs::handlers::ping::{self, PingJob};
use jobs::handlers::publish::PublishPost;
use jobs::handlers::{disconnect_account, poll_status, publish, refresh_token};
use jobs::model::{
    AccountId, AccountStatus, Container, Media, MediaId, Post, PostSource, PostState, UserId,
};
use jobs::queue::{Job, JobError};
use jobs::store::StoreError;
use scheduler::{
    RecentPushes, Scheduler, Sweep, SweepReport, delete_expired_media, reconcile_stuck_posts,
    refresh_expiring_tokens, retry_disconnecting_accounts, trim_finished_jobs,
};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// Asserts what a sweep counted (found, done, skipped) and which accounts `job`'s queue holds a
/// job for.
async fn assert_account_jobs(
    env: &Env,
    report: &SweepReport,
    counts: (usize, usize, usize),
    job: &str,
    accounts: &[AccountId],
) {
    assert_eq!(
        (report.found, report.done, report.skipped),
        counts,
        "{report}"
    );
    assert_eq!(env.pushed_ids(job, "account_id").await, id_set(accounts));
}

/// Asserts that a sweep run again within the re-push window pushed nothing: it skipped
/// `skipped` candidates, and `job`'s queue still holds `payloads` payloads.
async fn assert_nothing_repushed(
    env: &Env,
    again: &SweepReport,
    skipped: usize,
    job: &str,
    payloads: usize,
) {
    assert_eq!((again.done, again.skipped), (0, skipped), "{again}");
    assert_eq!(env.payloads(job).await.len(), payloads);
}

#[tokio::test]
async fn token_refresh_sweep_enqueues_only_active_accounts_expiring_within_the_margin() {
    let env = Env::new(Db::Sqlite).await;
    let mut settings = env.settings.clone();
    settings.token_refresh_margin = std::time::Duration::from_secs(3600);
    let user = env.user().await;
    let now = Utc::now();
    let soon = env.account(user, now + Duration::minutes(30)).await;
    let expired = env.account(user, now - Duration::minutes(5)).await;
    let _later = env.account(user, now + Duration::hours(5)).await;
    let dead = env.account(user, now + Duration::minutes(10)).await;
    env.set_status(&dead, AccountStatus::NeedsReconnect, Some("revoked"))
        .await;

    let recent = RecentPushes::default();
    let report = refresh_expiring_tokens(&env.ctx, &settings, now, &recent)
        .await
        .unwrap();
    let job = refresh_token::NAME;
    assert_account_jobs(&env, &report, (2, 2, 0), job, &[soon.id, expired.id]).await;
    // Jittered: waiting (scheduled) or ready, but queued once each.
    let stats = env.queue().stats(refresh_token::NAME).await.unwrap();
    assert_eq!(stats.pending + stats.scheduled, 2);

    // No pile-up while the first jobs wait.
    let again = refresh_expiring_tokens(&env.ctx, &settings, now + secs(60), &recent)
        .await
        .unwrap();
    assert_nothing_repushed(&env, &again, 2, refresh_token::NAME, 2).await;
}

async fn stuck_post_sweep_pushes_the_right_job_for_each_stuck_state(db: Db) {
    let env = Env::new(db).await;
    let s = &env.settings;
    let user = env.user().await;
    let now = Utc::now();
    let old = |d: std::time::Duration| now - Duration::from_std(d).unwrap() - secs(1);
    // A post in `state`, last changed at `at`.
    let post = |state, at| env.post_at(user, state, None, at);
    let queued_old = post(PostState::Queued, old(s.stuck_queued_after)).await;
    let queued_new = post(PostState::Queued, now - secs(60)).await;
    let uploading_old = post(PostState::Uploading, old(s.stuck_uploading_after)).await;
    let uploading_new = post(PostState::Uploading, now - secs(300)).await;
    let processing_old = post(PostState::Processing, old(s.stuck_processing_after)).await;
    let processing_new = post(PostState::Processing, now - secs(60)).await;
    // A waiting draft is polled hourly: stuck only after two missed polls.
    let inbox_poll =
        std::time::Duration::from_secs(env.ctx.config.tiktok.inbox_poll_max_interval_secs);
    let inbox_old = post(PostState::InInbox, old(inbox_poll * 2)).await;
    let inbox_new = post(PostState::InInbox, now - secs(90 * 60)).await;
    let long_ago = now - Duration::days(2);
    for state in [
        PostState::Published,
        PostState::Failed,
        PostState::Cancelled,
        PostState::Unconfirmed,
        PostState::LeftInInbox,
    ] {
        post(state, long_ago).await;
    }
    env.post_at(
        user,
        PostState::Scheduled,
        Some(now + Duration::days(1)),
        long_ago,
    )
    .await;

    let recent = RecentPushes::default();
    let report = reconcile_stuck_posts(&env.ctx, s, now, &recent)
        .await
        .unwrap();
    assert_eq!((report.found, report.done), (4, 4));
    let publish = env.pushed_ids(publish::NAME, "post_id").await;
    assert_eq!(publish, id_set([queued_old.id, uploading_old.id]));
    let poll = env.pushed_ids(poll_status::NAME, "post_id").await;
    assert_eq!(poll, id_set([processing_old.id, inbox_old.id]));
    for p in [&queued_new, &uploading_new, &processing_new, &inbox_new] {
        assert!(!publish.contains(&p.id.to_string()) && !poll.contains(&p.id.to_string()));
    }
    // The sweep only pushes: the posts' states are the jobs' business.
    assert_eq!(env.state_of(&queued_old).await.state, PostState::Queued);

    // One push per threshold, not per sweep.
    let again = reconcile_stuck_posts(&env.ctx, s, now + secs(60), &recent)
        .await
        .unwrap();
    assert_nothing_repushed(&env, &again, 4, publish::NAME, 2).await;
}

on_sqlite_and_postgres!(stuck_post_sweep_pushes_the_right_job_for_each_stuck_state);

async fn a_post_queued_without_its_job_is_pushed_again_by_the_reconcile_pass(db: Db) {
    // The crash window: the tick's compare-and-set committed, the push never happened.
    let env = Env::new(db).await;
    let user = env.user().await;
    let post = env.scheduled(user, Utc::now() - secs(5)).await;
    let mut claimed = env.state_of(&post).await;
    claimed.state = PostState::Queued;
    env.ctx
        .store
        .save_post(&claimed, PostState::Scheduled)
        .await
        .unwrap();
    assert!(env.payloads(publish::NAME).await.is_empty());

    let later = Utc::now() + Duration::from_std(env.settings.stuck_queued_after).unwrap() + secs(1);
    let report = reconcile_stuck_posts(&env.ctx, &env.settings, later, &RecentPushes::default())
        .await
        .unwrap();
    assert_eq!(report.done, 1);
    assert_eq!(
        env.jobs_per_post(publish::NAME).await.get(&post.id),
        Some(&1)
    );
}

on_sqlite_and_postgres!(a_post_queued_without_its_job_is_pushed_again_by_the_reconcile_pass);

async fn a_pass_through_draft_without_its_settling_job_is_pushed_and_settled(db: Db) {
    // `posts::insert` wrote the draft, then its delayed settling job was never queued (the
    // queue was down): the sweep must push it once that job is overdue, never for a draft whose
    // browser may still send its bytes.
    let env = Env::new(db).await;
    let user = env.user().await;
    let now = Utc::now();
    let overdue = jobs::domain::posts::stream_settle_after()
        + Duration::from_std(env.settings.stuck_queued_after).unwrap();
    let draft = async |created| {
        let p = Post {
            source: PostSource::Stream,
            ..support::post(user, PostState::Draft, None, created)
        };
        env.ctx.store.create_post(&p).await.unwrap().value
    };
    let old = draft(now - overdue - secs(1)).await;
    // Past the upload's hour, but its own settling job may still be on its way.
    let late = draft(now - jobs::domain::posts::stream_settle_after() - secs(1)).await;
    let fresh = draft(now - Duration::minutes(30)).await;

    let report = reconcile_stuck_posts(&env.ctx, &env.settings, now, &RecentPushes::default())
        .await
        .unwrap();
    assert_eq!((report.found, report.done), (1, 1), "{report}");
    assert_eq!(
        env.pushed_ids(publish::NAME, "post_id").await,
        id_set([old.id])
    );

    // The pushed job settles the abandoned draft; the same job for a draft still within its
    // hour waits for it instead.
    let run = async |p: &Post| {
        let job = PublishPost {
            workspace_id: p.workspace_id,
            post_id: p.id,
        };
        publish::handle(job, Data::new(env.ctx.clone())).await
    };
    run(&old).await.unwrap();
    let settled = env.state_of(&old).await;
    assert_eq!(settled.state, PostState::Failed);
    assert_eq!(settled.error_code.as_deref(), Some(UPLOAD_INTERRUPTED));
    match run(&fresh).await {
        Err(JobError::Defer { until, .. }) => assert!(until > Utc::now()),
        other => panic!("a live draft must wait, got {other:?}"),
    }
    assert_eq!(env.state_of(&fresh).await.state, PostState::Draft);
    assert_eq!(env.state_of(&late).await.state, PostState::Draft);
}

on_sqlite_and_postgres!(a_pass_through_draft_without_its_settling_job_is_pushed_and_settled);

async fn disconnect_sweep_retries_only_accounts_stuck_disconnecting(db: Db) {
    let env = Env::new(db).await;
    let mut settings = env.settings.clone();
    settings.sweep_batch = 2; // several pages
    let user = env.user().await;
    let far = Utc::now() + Duration::days(1);
    let mut accounts = Vec::new();
    for _ in 0..5 {
        accounts.push(env.account(user, far).await);
    }
    let mark = |i: usize| env.set_status(&accounts[i], AccountStatus::Disconnecting, None);
    let stuck = mark(1).await;
    let fresh = mark(3).await;
    assert!(stuck.updated_at < fresh.updated_at);
    // "Now" is when the second one turns stuck, minus a microsecond: only the first is.
    let now = fresh.updated_at + Duration::from_std(settings.stuck_disconnecting_after).unwrap()
        - Duration::microseconds(1);

    let recent = RecentPushes::default();
    let report = retry_disconnecting_accounts(&env.ctx, &settings, now, &recent)
        .await
        .unwrap();
    let job = disconnect_account::NAME;
    assert_account_jobs(&env, &report, (1, 1, 0), job, &[stuck.id]).await;

    let later = now + secs(1);
    let report = retry_disconnecting_accounts(&env.ctx, &settings, later, &recent)
        .await
        .unwrap();
    assert_account_jobs(&env, &report, (2, 1, 1), job, &[stuck.id, fresh.id]).await;
}

on_sqlite_and_postgres!(disconnect_sweep_retries_only_accounts_stuck_disconnecting);

fn media(user: UserId, expires_at: DateTime<Utc>) -> Media {
    let id = MediaId::new();
    Media {
        id,
        workspace_id: jobs::model::Workspace::personal_id(user),
        created_by: Some(user),
        size: 1_000_000,
        container: Container::Mp4,
        duration_ms: Some(10_000),
        object_key: format!("media/{user}/{id}"),
        wrapped_key: "v1:wrapped".into(),
        segment_size: 65_536,
        post_id: None,
        created_at: expires_at - Duration::hours(24),
        expires_at,
    }
}

/// Writes a stand-in for a staged object where the staging room keeps it (a local directory by
/// default), last modified at `modified`.
fn write_object(env: &Env, key: &str, modified: std::time::SystemTime) -> std::path::PathBuf {
    let root = env
        .ctx
        .config
        .staging
        .url
        .to_file_path()
        .expect("local staging dir");
    let path = root.join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"encrypted video bytes").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    path
}

#[tokio::test]
async fn media_sweep_deletes_only_unattached_media_past_their_deadline_and_old_orphans() {
    let env = Env::new(Db::Sqlite).await;
    let user = env.user().await;
    let now = Utc::now();
    let recently = std::time::SystemTime::now();
    let expired = media(user, now - Duration::hours(1));
    let valid = media(user, now + Duration::hours(1));
    let attached = media(user, now - Duration::hours(1));
    let mut objects = Vec::new();
    for m in [&expired, &valid, &attached] {
        env.ctx.store.create_media(m).await.unwrap();
        objects.push(write_object(&env, &m.object_key, recently));
    }
    let post = env.post_at(user, PostState::Queued, None, now).await;
    env.ctx
        .store
        .attach_media(
            jobs::model::Workspace::personal_id(user),
            attached.id,
            post.id,
        )
        .await
        .unwrap();
    // Objects without a row: an upload that crashed two days ago, and one finishing right now.
    let day_ago = recently - std::time::Duration::from_secs(2 * 86_400);
    let old_orphan = write_object(&env, &format!("media/{user}/{}", MediaId::new()), day_ago);
    let new_orphan = write_object(&env, &format!("media/{user}/{}", MediaId::new()), recently);

    let report = delete_expired_media(&env.ctx, &env.settings, now)
        .await
        .unwrap();
    assert_eq!(report.done, 2, "the expired video and the old orphan");
    assert!(matches!(
        env.ctx
            .store
            .media(jobs::model::Workspace::personal_id(user), expired.id)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(!objects[0].exists() && !old_orphan.exists());
    assert!(
        env.ctx
            .store
            .media(jobs::model::Workspace::personal_id(user), valid.id)
            .await
            .is_ok()
            && objects[1].exists()
    );
    assert!(
        env.ctx
            .store
            .media(jobs::model::Workspace::personal_id(user), attached.id)
            .await
            .is_ok()
            && objects[2].exists()
    );
    assert!(
        new_orphan.exists(),
        "an object younger than the grace may be an upload in flight"
    );
    let again = delete_expired_media(&env.ctx, &env.settings, now)
        .await
        .unwrap();
    assert_eq!(again.done, 0);
}

#[tokio::test]
async fn log_retention_sweep_deletes_day_91_and_keeps_day_89() {
    let env = Env::new(Db::Sqlite).await;
    let log = AccessLog::new(env.settings.log_dir.clone());
    let now = Utc.with_ymd_and_hms(2026, 11, 26, 3, 0, 0).unwrap();
    for age in [0, 89, 91] {
        log.append(&AccessLine {
            time: now - Duration::days(age),
            ip: Some("192.0.2.1".into()),
            user_agent: None,
            method: "GET".into(),
            route: "/healthz".into(),
            status: 200,
            latency_ms: 0.3,
        })
        .unwrap();
    }
    let scheduler = Scheduler::new(env.ctx.clone(), env.settings.clone());
    let report = scheduler.run_sweep(Sweep::OldLogs, now).await.unwrap();
    assert_eq!(report.done, 1);
    let day = |age: i64| log.path_for((now - Duration::days(age)).date_naive());
    assert!(day(0).exists() && day(89).exists());
    assert!(!day(91).exists());
}

/// A job that always fails for good, to have a dead task next to the done ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AlwaysFails {
    n: u32,
}

impl Job for AlwaysFails {
    const NAME: &'static str = "always_fails";
}

async fn always_fails(_job: AlwaysFails, _ctx: Data<JobContext>) -> Result<(), JobError> {
    Err(JobError::Permanent("always fails".into()))
}

/// Finished jobs are trimmed after their TTL; dead and waiting ones are kept.
async fn finished_job_records_are_trimmed_and_dead_ones_kept(queue_kind: QueueKind) {
    let env = Env::with(Db::Sqlite, Lease::Redis, queue_kind).await;
    let q = env.queue().clone();
    for _ in 0..3 {
        q.push(&PingJob::new()).await.unwrap();
    }
    q.push(&AlwaysFails { n: 1 }).await.unwrap();
    q.push_after(&PingJob::new(), std::time::Duration::from_secs(3600))
        .await
        .unwrap();

    let stop = CancellationToken::new();
    let mut worker_settings = worker::WorkerSettings::from_config(&env.ctx.config);
    worker_settings.poll_interval = std::time::Duration::from_millis(50);
    let workers = worker::Registry::new(env.ctx.clone(), q.clone(), worker_settings)
        .register::<PingJob, _, _>(ping::handle)
        .register::<AlwaysFails, _, _>(always_fails);
    let running = tokio::spawn(workers.run(stop.clone().cancelled_owned()));
    env.wait_for("pings done and the failing job dead", || async {
        let ping = q.stats(ping::NAME).await.map_err(|e| e.to_string())?;
        let fails = q
            .stats(AlwaysFails::NAME)
            .await
            .map_err(|e| e.to_string())?;
        if ping.done == 3 && fails.dead == 1 {
            Ok(())
        } else {
            Err(format!("{ping:?} {fails:?}"))
        }
    })
    .await;
    stop.cancel();
    running.await.unwrap().unwrap();

    let ttl = env.settings.job_record_ttl;
    let kept = trim_finished_jobs(&q, ttl, Utc::now()).await.unwrap();
    assert_eq!(kept.done, 0, "nothing is older than the TTL yet");
    let later = Utc::now() + Duration::from_std(ttl).unwrap() + secs(60);
    let trimmed = trim_finished_jobs(&q, ttl, later).await.unwrap();
    assert_eq!(trimmed.done, 3);

    let ping = q.stats(ping::NAME).await.unwrap();
    assert_eq!(
        (ping.done, ping.scheduled),
        (0, 1),
        "the waiting ping is untouched"
    );
    let fails = q.stats(AlwaysFails::NAME).await.unwrap();
    assert_eq!(fails.dead, 1);
    let dead = q.dead_jobs(AlwaysFails::NAME, 10).await.unwrap();
    assert_eq!(
        dead[0].payload["n"], 1,
        "the dead job keeps its payload for replay"
    );
    assert_eq!(
        env.payloads(ping::NAME).await.len(),
        1,
        "only the waiting ping's payload is left"
    );
}

each_way!(finished_job_records_are_trimmed_and_dead_ones_kept =>
    redis(QueueKind::Redis),
    sqlite(QueueKind::Sqlite),
);

/// The run loop runs every sweep once on taking the lease and records each in the heartbeat.
#[tokio::test]
async fn every_sweep_runs_on_takeover_and_is_recorded_in_the_heartbeat() {
    let env = Env::new(Db::Sqlite).await;
    let running = env.start();
    let beat = env
        .wait_for("every sweep in the heartbeat", || async {
            match scheduler::heartbeat(&env.ctx).await {
                Some(b) if b.sweeps.len() == Sweep::ALL.len() => Ok(b),
                other => Err(format!("{:?}", other.map(|b| b.sweeps))),
            }
        })
        .await;
    running.stop().await;
    for sweep in Sweep::ALL {
        let record = &beat.sweeps[sweep.name()];
        assert!(record.ok, "{}: {}", sweep.name(), record.summary);
    }
}
