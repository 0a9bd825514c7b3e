//! What operators see and do: queue depths and the scheduler on `/api/ops/queues` and `/ops`,
//! dead tasks replayed when that is safe (a parked publish goes out once) or discarded; nobody
//! else gets in.

use crate::publish::{create_post, publishing_app, stage, video, wait_state};
use anyhow::Result;
use e2e::TestApp;
use jobs::handlers::disconnect_account::DisconnectAccount;
use jobs::model::AccountId;
use reqwest::StatusCode;
use reqwest::header::ORIGIN;
use sandbox::{FaultAction, FaultSpec};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

async fn dead_tasks(app: &TestApp, ops: &reqwest::Client, job: &str) -> Result<Vec<Value>> {
    let resp = ops
        .get(app.url(&format!("/api/ops/queues/{job}/dead")))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await?;
    Ok(body["dead"].as_array().cloned().unwrap_or_default())
}

#[tokio::test]
async fn operators_replay_a_parked_publish_safely_and_discard_what_is_not_worth_it() -> Result<()> {
    let (app, user, account) = publishing_app(e2e::Backend::Sqlite, |c| {
        c.identity.ops_google_uids = vec!["operator".into()];
    })
    .await?;
    let ops = TestApp::new_client();
    app.sign_in_with(&ops, "operator").await?;
    let me: Value = ops.get(app.url("/api/me")).send().await?.json().await?;
    assert_eq!(me["is_ops"], true, "{me}");
    assert_eq!(me["google_uid"], "operator");
    let (_, creator) = app.get_json("/api/me").await?;
    assert_eq!(creator["is_ops"], false);

    // Not even the operator with an API key: operations need the browser session.
    let created: Value = app
        .create_api_key(
            &ops,
            json!({"name": "ops script", "scopes": ["read", "publish", "campaigns", "accounts"]}),
        )
        .await?;
    let ops_key = created["key"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        reqwest::Client::new()
            .get(app.url("/api/ops/queues"))
            .bearer_auth(&ops_key)
            .send()
            .await?
            .status(),
        StatusCode::FORBIDDEN
    );
    // Nobody else gets in: not the API, not the page.
    assert_eq!(
        app.get_json("/api/ops/queues").await?.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.client.get(app.url("/ops")).send().await?.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        reqwest::Client::new()
            .get(app.url("/api/ops/queues"))
            .send()
            .await?
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // TikTok fails `video/init` for every attempt the job has: the post is parked, its task dead.
    app.sandbox.inject_fault(FaultSpec {
        times: app.config.queue.job_max_attempts,
        ..FaultSpec::new("video.init", 1, FaultAction::Status { status: 503 })
    });
    let media = stage(&app, user, &video(30_001, 9)).await?;
    let (status, post) = create_post(&app, &account, &media, json!({})).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    let post_id = post["id"].as_str().unwrap_or_default().to_owned();
    let dead = app
        .wait_for("the publish task to die", WAIT, || async {
            let dead = dead_tasks(&app, &ops, "publish").await?;
            Ok((!dead.is_empty()).then_some(dead))
        })
        .await?;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["payload"]["post_id"], post_id.as_str());
    let task = dead[0]["task_id"].as_str().unwrap_or_default().to_owned();
    let (_, parked) = app.get_json(&format!("/api/posts/{post_id}")).await?;
    assert_eq!(parked["error"]["code"], "retries_exhausted", "{parked}");

    let overview: Value = ops
        .get(app.url("/api/ops/queues"))
        .send()
        .await?
        .json()
        .await?;
    let publish = overview["queues"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|q| q["job"] == "publish")
        .cloned()
        .unwrap_or_default();
    assert_eq!(publish["dead"], 1, "{overview}");
    assert!(overview["scheduler"]["health"].is_string(), "{overview}");
    let page = ops.get(app.url("/ops")).send().await?;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text().await?.contains(&task),
        "the page lists the dead task"
    );

    // A creator cannot replay it; the operator can (cross-site attempts are refused).
    let path = format!("/api/ops/queues/publish/dead/{task}/replay");
    let replay_from = |origin: &str| ops.post(app.url(&path)).header(ORIGIN, origin).send();
    let resp = app
        .client
        .post(app.url(&path))
        .header(ORIGIN, &app.base_url)
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = replay_from("https://evil.example").await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = replay_from(&app.base_url).await?;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let done = wait_state(&app, &post_id, &["published", "failed"], WAIT).await?;
    assert_eq!(done["state"], "published", "{done}");
    assert_eq!(
        app.sandbox
            .records()
            .posts
            .iter()
            .filter(|p| p.open_id == crate::publish::PUBLIC)
            .count(),
        1,
        "the replay made exactly one TikTok post"
    );
    assert!(dead_tasks(&app, &ops, "publish").await?.is_empty());
    // Replaying twice is refused: the task is no longer dead.
    let resp = replay_from(&app.base_url).await?;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let body: Value = resp.json().await?;
    assert_eq!(body["error"]["code"], "not_dead");

    // A task that failed for good (disconnecting an account nobody asked to disconnect) is
    // discarded rather than replayed.
    let account_id = AccountId::parse(&account)?;
    app.ctx
        .queue
        .push(&DisconnectAccount {
            workspace_id: jobs::model::Workspace::personal_id(user),
            account_id,
        })
        .await?;
    let dead = app
        .wait_for("the disconnect task to die", WAIT, || async {
            let dead = dead_tasks(&app, &ops, "disconnect_account").await?;
            Ok((!dead.is_empty()).then_some(dead))
        })
        .await?;
    let task = dead[0]["task_id"].as_str().unwrap_or_default().to_owned();
    let resp = ops
        .delete(app.url(&format!("/api/ops/queues/disconnect_account/dead/{task}")))
        .header(ORIGIN, &app.base_url)
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(
        dead_tasks(&app, &ops, "disconnect_account")
            .await?
            .is_empty()
    );
    assert!(
        app.store
            .account(jobs::model::Workspace::personal_id(user), account_id)
            .await
            .is_ok(),
        "nothing was disconnected"
    );
    assert_eq!(
        ops.get(app.url("/api/ops/queues/nonsense/dead"))
            .send()
            .await?
            .status(),
        StatusCode::NOT_FOUND
    );
    Ok(())
}

/// Queues a ping no release can decode: the worker files it as dead at its first attempt.
async fn kill_a_ping(app: &TestApp) -> Result<jobs::queue::TaskId> {
    let task = app
        .ctx
        .queue
        .push_json(
            jobs::handlers::ping::NAME,
            &json!({ "not": "a ping" }),
            None,
        )
        .await?;
    app.wait_for("the ping to die", WAIT, || async {
        let s = app.ctx.queue.stats(jobs::handlers::ping::NAME).await?;
        Ok((s.dead == 1).then_some(()))
    })
    .await?;
    Ok(task)
}

#[tokio::test]
async fn a_dead_job_the_test_did_not_declare_fails_the_teardown_check() -> Result<()> {
    let app = TestApp::start(e2e::Backend::Sqlite).await?;
    app.check_dead_jobs().await?;
    let task = kill_a_ping(&app).await?;
    let error = app
        .check_dead_jobs()
        .await
        .expect_err("an undeclared dead job fails the check")
        .to_string();
    assert!(error.contains("1 unexpected dead job"), "{error}");
    assert!(
        error.contains(&format!("ping {}", task.as_str())),
        "{error}"
    );
    assert!(error.contains("payload is not a valid ping job"), "{error}");
    // Declared, it passes (and so does the teardown of this app).
    app.allow_dead_jobs(1);
    app.check_dead_jobs().await?;
    Ok(())
}

#[tokio::test]
#[should_panic(expected = "unexpected dead job")]
async fn a_test_that_leaves_an_undeclared_dead_job_fails_when_its_app_drops() {
    let app = TestApp::start(e2e::Backend::Sqlite)
        .await
        .expect("app starts");
    kill_a_ping(&app).await.expect("the ping dies");
}
