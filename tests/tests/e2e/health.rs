//! Liveness, readiness and metrics.

use anyhow::Result;
use e2e::{Backend, TestApp};
use reqwest::StatusCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn readyz_answers_503_naming_the_store_when_its_database_disappears() -> Result<()> {
    let app = TestApp::start(Backend::Postgres).await?;
    let (status, body) = app.get_json("/readyz").await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["checks"]["store"], "ok");
    assert_eq!(body["checks"]["queue"], "ok");
    // Pull the database out from under the running app.
    app.drop_postgres_database().await?;
    let (status, body) = app.get_json("/readyz").await?;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["checks"]["store"], "unavailable");
    assert_eq!(body["checks"]["queue"], "ok");
    assert!(body["error"]["message"].as_str().unwrap().contains("store"));
    // Liveness does not depend on it.
    assert_eq!(app.get_json("/healthz").await?.0, StatusCode::OK);
    Ok(())
}

/// The value of an unlabelled sample, or of the first sample whose labels contain `labels`.
pub(crate) fn metric(text: &str, name: &str, labels: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            l.split([' ', '{']).next() == Some(name) && (labels.is_empty() || l.contains(labels))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

pub(crate) async fn metrics_text(app: &TestApp) -> Result<String> {
    let resp = app.client.get(app.url("/metrics")).send().await?;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()?
            .starts_with("text/plain; version=0.0.4")
    );
    Ok(resp.text().await?)
}

#[tokio::test]
async fn readyz_and_metrics_turn_red_when_the_scheduler_dies() -> Result<()> {
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.scheduler.tick = Duration::from_millis(100);
        // Stale after three lease TTLs: 3 s.
        c.scheduler.lease_ttl = Duration::from_secs(1);
        // This test polls /readyz every 50 ms, far above a probe's pace.
        c.limits.readyz_rate_per_min = 100_000;
    })
    .await?;
    // No scheduler yet: the web tier stays in rotation, but says so, and a monitor that
    // requires the scheduler gets a 503.
    let (status, body) = app.get_json("/readyz").await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"]["scheduler"], "missing");
    let (status, body) = app.get_json("/readyz?require=scheduler").await?;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("scheduler"),
        "{body}"
    );
    let text = metrics_text(&app).await?;
    assert_eq!(
        metric(&text, "mktpost_scheduler_up", ""),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "mktpost_dependency_up", "dependency=\"store\""),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text,
            "mktpost_queue_tasks",
            "job=\"publish\",state=\"dead\""
        ),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        app.get_json("/readyz?require=everything").await?.0,
        StatusCode::BAD_REQUEST
    );

    // A scheduler runs: green everywhere, with its heartbeat.
    let stop = CancellationToken::new();
    tokio::spawn(scheduler::run(
        app.ctx.clone(),
        stop.clone().cancelled_owned(),
    ));
    let body = app
        .wait_for("readyz to see the scheduler", WAIT, || async {
            let (_, body) = app.get_json("/readyz?require=scheduler").await?;
            Ok((body["checks"]["scheduler"] == "ok").then_some(body))
        })
        .await?;
    assert_eq!(body["status"], "ready");
    assert!(
        body["scheduler"]["last_tick_at"].as_str().is_some(),
        "{body}"
    );
    assert!(
        body["scheduler"].get("instance").is_none(),
        "internals stay off the public probe: {body}"
    );
    assert!(body["scheduler"]["age_ms"].as_u64().unwrap_or(u64::MAX) < 3000);
    let text = metrics_text(&app).await?;
    assert_eq!(
        metric(&text, "mktpost_scheduler_up", ""),
        Some(1.0),
        "{text}"
    );
    assert!(metric(&text, "mktpost_scheduler_heartbeat_age_seconds", "").is_some());
    // Every sweep runs once on takeover, in its own task; the heartbeat after it records it.
    app.wait_for("the sweeps to show in /metrics", WAIT, || async {
        let text = metrics_text(&app).await?;
        Ok(
            (metric(&text, "mktpost_scheduler_sweep_ok", "sweep=\"stuck_posts\"") == Some(1.0))
                .then_some(()),
        )
    })
    .await?;

    // It dies (its last heartbeat stays behind): stale within three lease TTLs.
    stop.cancel();
    app.wait_for("readyz to call the scheduler stale", WAIT, || async {
        let (status, body) = app.get_json("/readyz?require=scheduler").await?;
        Ok(
            (status == StatusCode::SERVICE_UNAVAILABLE && body["checks"]["scheduler"] == "stale")
                .then_some(()),
        )
    })
    .await?;
    let (status, body) = app.get_json("/readyz").await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "degraded");
    let text = metrics_text(&app).await?;
    assert_eq!(
        metric(&text, "mktpost_scheduler_up", ""),
        Some(0.0),
        "{text}"
    );
    Ok(())
}

#[tokio::test]
async fn metrics_need_the_metrics_token_when_one_is_set() -> Result<()> {
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.server.metrics_token = Some(jobs::config::Secret::new("m3trics-t0ken"));
    })
    .await?;
    let (status, body) = app.get_json("/metrics").await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "metrics_token_required");
    let metrics_with = |token: &'static str| {
        app.client
            .get(app.url("/metrics"))
            .bearer_auth(token)
            .send()
    };
    let wrong = metrics_with("m3trics-t0kem").await?;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let right = metrics_with("m3trics-t0ken").await?;
    assert_eq!(right.status(), StatusCode::OK);
    assert!(right.text().await?.contains("mktpost_scheduler_up"));
    Ok(())
}
