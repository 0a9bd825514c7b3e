//! After an erasure, not even the job queue ties an id to the person: the records of finished
//! and dead tasks that named the user are removed, and the erasure's own record goes at the next
//! `job_records` sweep instead of after the usual week.

use crate::publish::{create_post, publishing_app, stage, video, wait_state};
use anyhow::Result;
use e2e::{Backend, TestApp};
use jobs::handlers::disconnect_account::DisconnectAccount;
use jobs::model::{AccountId, UserId};
use jobs::store::StoreError;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// Every `(hash key, field)` under this app's Redis namespace whose value mentions `user`.
async fn records_naming(app: &TestApp, user: UserId) -> Result<Vec<(String, String)>> {
    let mut redis = redis::Client::open(e2e::redis_url())?
        .get_multiplexed_async_connection()
        .await?;
    let needle = user.to_string();
    let mut found = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{}:*", app.config.queue.namespace))
            .arg("TYPE")
            .arg("hash")
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut redis)
            .await?;
        for key in keys {
            let fields: Vec<(String, Vec<u8>)> = redis::cmd("HGETALL")
                .arg(&key)
                .query_async(&mut redis)
                .await?;
            for (field, value) in fields {
                if String::from_utf8_lossy(&value).contains(&needle) {
                    found.push((key.clone(), field));
                }
            }
        }
        if next == 0 {
            return Ok(found);
        }
        cursor = next;
    }
}

#[tokio::test]
async fn an_erasure_leaves_no_job_record_that_names_the_user() -> Result<()> {
    let (app, user, account) = publishing_app(Backend::Sqlite, |_| {}).await?;
    // Done tasks (publish, poll_status) and a dead one (disconnecting an account that was never
    // asked to go fails for good), all naming the user.
    let media = stage(&app, user, &video(30_001, 5)).await?;
    let (_, post) = create_post(&app, &account, &media, json!({})).await?;
    wait_state(
        &app,
        post["id"].as_str().unwrap_or_default(),
        &["published"],
        WAIT,
    )
    .await?;
    app.ctx
        .queue
        .push(&DisconnectAccount {
            workspace_id: jobs::model::Workspace::personal_id(user),
            account_id: AccountId::parse(&account)?,
        })
        .await?;
    app.wait_for("the disconnect task to die", WAIT, || async {
        let s = app
            .ctx
            .queue
            .stats(jobs::handlers::disconnect_account::NAME)
            .await?;
        Ok((s.dead == 1).then_some(()))
    })
    .await?;
    assert!(!records_naming(&app, user).await?.is_empty());

    jobs::handlers::erase_user::request(&app.ctx, user).await?;
    app.wait_for("the erasure to finish", WAIT, || async {
        let gone = matches!(app.store.user(user).await, Err(StoreError::NotFound));
        let s = app
            .ctx
            .queue
            .stats(jobs::handlers::erase_user::NAME)
            .await?;
        Ok((gone && s.done == 1).then_some(()))
    })
    .await?;
    let data = format!("{}:erase_user:data", app.config.queue.namespace);
    let left = records_naming(&app, user).await?;
    assert!(
        left.iter().all(|(key, _)| *key == data),
        "only the erasure's own tasks may still name the user: {left:?}"
    );
    assert_eq!(
        left.len(),
        2,
        "the finished erasure and its follow-up: {left:?}"
    );

    // The sweep removes a finished erasure's record at once, not after the week done tasks keep.
    let report = scheduler::trim_finished_jobs(
        &app.ctx.queue,
        Duration::from_secs(7 * 24 * 3600),
        chrono::Utc::now() + chrono::Duration::seconds(1),
    )
    .await?;
    assert_eq!(report.done, 1, "{report:?}");
    // The follow-up (queued for an hour later) runs on a user who is gone: it finds nothing and
    // forgets whatever finished since; its own payload is the last trace, until the sweep.
    jobs::handlers::erase_user::erase(&app.ctx, user).await?;
    let left = records_naming(&app, user).await?;
    assert_eq!(left.len(), 1, "only the pending follow-up: {left:?}");
    let s = app
        .ctx
        .queue
        .stats(jobs::handlers::erase_user::NAME)
        .await?;
    assert_eq!((s.scheduled, s.done, s.dead), (1, 0, 0), "{s:?}");
    Ok(())
}
