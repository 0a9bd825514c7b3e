//! The scheduler inside the running app (real Redis, SQLite, PostgreSQL or the Firestore
//! emulator, the sandbox), and the web tier's access log: what a line holds, and that old days
//! are deleted.

use anyhow::Result;
use chrono::{Duration, Utc};
use e2e::{Backend, TestApp};
use jobs::access_log::{AccessLine, AccessLog};
use jobs::model::{AccountId, Post, PostState, UserId};
use jobs::store::conformance;
use reqwest::header::{AUTHORIZATION, COOKIE, ORIGIN, USER_AGENT};
use std::time::Duration as StdDuration;
use tokio_util::sync::CancellationToken;

const WAIT: StdDuration = StdDuration::from_secs(20);

fn scheduled_post(user: UserId, at: chrono::DateTime<Utc>) -> Post {
    let mut post = Post {
        scheduled_at: Some(at),
        scheduled_tz: Some("Europe/Berlin".into()),
        ..conformance::post_for(user, AccountId::new(), PostState::Scheduled)
    };
    post.settings.title = "caption that stays out of logs".into();
    post
}

/// Runs the real scheduler (as `mktpost scheduler` does) until the returned token is cancelled.
fn start_scheduler(app: &TestApp) -> CancellationToken {
    let stop = CancellationToken::new();
    tokio::spawn(scheduler::run(
        app.ctx.clone(),
        stop.clone().cancelled_owned(),
    ));
    stop
}

async fn scheduled_posts_go_out_from_the_running_app(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    // The posts name an account nobody connected: the worker refuses to publish them once the
    // scheduler queued them (dead tasks, how many by teardown depends on timing).
    app.expect_dead_jobs();
    let me = app.sign_in("scheduler-e2e").await?;
    let user = UserId::parse(me["id"].as_str().unwrap_or_default())?;
    // Posts are written straight to the store: this flow is about the clock, not the compose
    // form. One fell due while no scheduler ran, one falls due while it runs.
    let missed = app
        .store
        .create_post(&scheduled_post(user, Utc::now() - Duration::seconds(3)))
        .await?
        .value;
    let soon = app
        .store
        .create_post(&scheduled_post(user, Utc::now() + Duration::seconds(2)))
        .await?
        .value;

    let stop = start_scheduler(&app);
    for post in [&missed, &soon] {
        app.wait_for("the scheduled post to leave `scheduled`", WAIT, || async {
            let p = app
                .store
                .post(jobs::model::Workspace::personal_id(user), post.id)
                .await?;
            Ok((p.state != PostState::Scheduled).then_some(()))
        })
        .await?;
    }
    let missed = app
        .store
        .post(jobs::model::Workspace::personal_id(user), missed.id)
        .await?;
    let late = missed.late_by_ms.unwrap_or_default();
    assert!(
        late >= 3000,
        "a post due 3 s before the start is marked late, got {late}"
    );
    let soon = app
        .store
        .post(jobs::model::Workspace::personal_id(user), soon.id)
        .await?;
    assert_eq!(
        soon.late_by_ms, None,
        "a post due while the scheduler runs goes out within 1 s"
    );

    // The heartbeat `/readyz` and `/metrics` read: fresh, and it enqueued each post once.
    let beat = app
        .wait_for("the heartbeat to show both posts", WAIT, || async {
            Ok(scheduler::heartbeat(&app.ctx)
                .await
                .filter(|b| b.enqueued_total == 2))
        })
        .await?;
    assert!(beat.is_fresh(Utc::now()));
    stop.cancel();
    Ok(())
}

#[tokio::test]
async fn scheduled_posts_go_out_from_the_running_app_sqlite() -> Result<()> {
    scheduled_posts_go_out_from_the_running_app(Backend::Sqlite).await
}

#[tokio::test]
async fn scheduled_posts_go_out_from_the_running_app_postgres() -> Result<()> {
    scheduled_posts_go_out_from_the_running_app(Backend::Postgres).await
}

#[tokio::test]
async fn scheduled_posts_go_out_from_the_running_app_firestore() -> Result<()> {
    if !Backend::Firestore.available() {
        return Ok(());
    }
    scheduled_posts_go_out_from_the_running_app(Backend::Firestore).await
}

fn read_lines(dir: &std::path::Path) -> (String, Vec<AccessLine>) {
    let mut raw = String::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            raw.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    let lines = raw
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (raw, lines)
}

/// Needs `web::access_log::middleware` in `build_app` (see `web/src/access_log.rs`).
#[tokio::test]
async fn access_log_lines_hold_no_cookies_tokens_codes_or_captions() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    app.sign_in("access-log-e2e").await?; // the client now carries a session cookie
    let me = app
        .client
        .get(app.url("/api/me?code=secret-code-1&state=secret-state-2"))
        .header(AUTHORIZATION, "Bearer secret-token-3")
        .header(COOKIE, "other=secret-cookie-4")
        .header(USER_AGENT, "e2e-agent/1.0")
        .send()
        .await?;
    let post = app
        .client
        .post(app.url("/api/posts"))
        .header(ORIGIN, &app.base_url)
        .header(USER_AGENT, "e2e-agent/1.0")
        .json(
            &serde_json::json!({ "title": "secret-caption-5 #fyp", "privacy_level": "SELF_ONLY" }),
        )
        .send()
        .await?;
    let callback = app
        .client
        .get(app.url("/auth/tiktok/callback?code=secret-code-6&state=secret-state-7"))
        .header(USER_AGENT, "e2e-agent/1.0")
        .send()
        .await?;

    let dir = AccessLog::dir_for(&app.config.server.data_dir);
    let lines = app
        .wait_for(
            "access log lines (is access_log::middleware in build_app?)",
            WAIT,
            || async {
                let (_, lines) = read_lines(&dir);
                let seen = |route: &str| {
                    lines.iter().any(|l| {
                        l.route == route && l.user_agent.as_deref() == Some("e2e-agent/1.0")
                    })
                };
                Ok((seen("/api/me")
                    && seen("/auth/tiktok/callback")
                    && lines
                        .iter()
                        .any(|l| l.method == "POST" && l.user_agent.is_some()))
                .then_some(lines))
            },
        )
        .await?;
    let find = |route: &str| {
        lines
            .iter()
            .find(|l| l.route == route && l.user_agent.as_deref() == Some("e2e-agent/1.0"))
    };
    let me_line = find("/api/me").expect("a line for /api/me");
    assert_eq!(me_line.status, me.status().as_u16());
    assert_eq!(me_line.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(me_line.method, "GET");
    assert_eq!(
        find("/auth/tiktok/callback").map(|l| l.status),
        Some(callback.status().as_u16())
    );
    let post_line = lines
        .iter()
        .find(|l| l.method == "POST" && l.user_agent.as_deref() == Some("e2e-agent/1.0"))
        .expect("a line for the POST");
    assert_eq!(post_line.status, post.status().as_u16());

    let (raw, _) = read_lines(&dir);
    for forbidden in [
        "secret",
        "session=",
        "#fyp",
        "Bearer",
        "user_id",
        "access-log-e2e",
    ] {
        assert!(
            !raw.contains(forbidden),
            "{forbidden:?} leaked into the access log:\n{raw}"
        );
    }
    Ok(())
}

/// The retention promise, end to end: the running scheduler deletes the day that is 91 days
/// old and keeps the one that is 89 days old.
#[tokio::test]
async fn the_running_scheduler_deletes_access_logs_past_90_days() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    assert_eq!(app.config.scheduler.log_retention_days, 90);
    let log = AccessLog::new(AccessLog::dir_for(&app.config.server.data_dir));
    let now = Utc::now();
    for age in [1, 89, 91, 365] {
        log.append(&AccessLine {
            time: now - Duration::days(age),
            ip: Some("192.0.2.10".into()),
            user_agent: Some("old-agent".into()),
            method: "GET".into(),
            route: "/healthz".into(),
            status: 200,
            latency_ms: 0.5,
        })?;
    }
    let day = |age: i64| log.path_for((now - Duration::days(age)).date_naive());

    let stop = start_scheduler(&app);
    app.wait_for("the 91-day-old log to be deleted", WAIT, || async {
        Ok((!day(91).exists() && !day(365).exists()).then_some(()))
    })
    .await?;
    assert!(day(89).exists(), "day 89 is within the retention");
    assert!(day(1).exists());
    stop.cancel();
    Ok(())
}
