//! The privacy promises a user can act on: export everything we hold, and erase it all (tokens
//! revoked at TikTok too, staged videos deleted, every session and API key refused at once).

use crate::publish::{create_post, publishing_app, stage, staging_files, video, wait_state};
use anyhow::Result;
use chrono::Utc;
use e2e::{Backend, TestApp};
use jobs::model::UserId;
use jobs::store::StoreError;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_DISPOSITION, ORIGIN, SET_COOKIE};
use serde_json::{Value, json};
use std::time::Duration;

const PUBLIC: &str = "-000sandbox-public-0001";
const PRIVATE: &str = "-000sandbox-private-0002";
const WAIT: Duration = Duration::from_secs(30);

/// The `field` of every item in the export's `list` (empty where missing).
fn fields(export: &Value, list: &str, field: &str) -> Vec<String> {
    export[list]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| item[field].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn create_key(app: &TestApp) -> Result<String> {
    let created: Value = app
        .create_api_key(
            &app.client,
            json!({"name": "campaigns", "scopes": ["read", "publish"]}),
        )
        .await?;
    Ok(created["key"].as_str().unwrap_or_default().to_owned())
}

async fn get_with_key(app: &TestApp, key: &str, path: &str) -> Result<(StatusCode, Value)> {
    let resp = reqwest::Client::new()
        .get(app.url(path))
        .header(AUTHORIZATION, format!("Bearer {key}"))
        .send()
        .await?;
    let status = resp.status();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

async fn export_then_erase_everything(backend: Backend) -> Result<()> {
    let (app, user, public_account) = publishing_app(backend, |_| {}).await?;
    app.connect_tiktok(PRIVATE).await?;
    let key = create_key(&app).await?;
    // A second browser signed in as the same person.
    let other = TestApp::new_client();
    app.sign_in_with(&other, "publisher").await?;

    // One post published, one scheduled for tomorrow with its video staged, one video
    // uploaded and not posted yet.
    let published_media = stage(&app, user, &video(30_001, 1)).await?;
    let (status, post) = create_post(&app, &public_account, &published_media, json!({})).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    let published_id = post["id"].as_str().unwrap_or_default().to_owned();
    wait_state(&app, &published_id, &["published"], WAIT).await?;
    let scheduled_media = stage(&app, user, &video(30_002, 2)).await?;
    let tomorrow = (Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let (status, scheduled) = create_post(
        &app,
        &public_account,
        &scheduled_media,
        json!({"scheduled_at": tomorrow}),
    )
    .await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{scheduled}");
    assert_eq!(scheduled["state"], "scheduled");
    let loose_media = stage(&app, user, &video(30_003, 3)).await?;
    assert_eq!(staging_files(&app), 2);

    // Export: everything, as an attachment, with no credential in it.
    let resp = app.client.get(app.url("/api/export")).send().await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let disposition = resp.headers()[CONTENT_DISPOSITION].to_str()?.to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"mktpost-export-"),
        "{disposition}"
    );
    let raw = resp.text().await?;
    let export: Value = serde_json::from_str(&raw)?;
    assert_eq!(export["format"], "mktpost-export/1");
    assert_eq!(export["user"]["id"], user.to_string());
    assert_eq!(export["user"]["email"], "publisher@example.com");
    let accounts = export["tiktok_accounts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(accounts.len(), 2, "{export}");
    assert!(accounts.iter().all(|a| {
        a["tokens"]
            .as_str()
            .unwrap_or_default()
            .contains("not included")
    }));
    let posts = export["posts"].as_array().cloned().unwrap_or_default();
    assert_eq!(posts.len(), 2);
    assert!(posts.iter().any(|p| p["state"] == "published"));
    let staged = fields(&export, "staged_videos", "id");
    assert_eq!(staged.len(), 2, "{export}");
    assert!(staged.contains(&loose_media.id.to_string()));
    assert_eq!(export["api_keys"][0]["name"], "campaigns");
    // The activity record: what happened to this user's data, ids only.
    let kinds = fields(&export, "audit_events", "kind");
    assert_eq!(
        kinds.iter().filter(|k| *k == "account_connected").count(),
        2,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"api_key_created".to_owned()), "{kinds:?}");
    let records = app.sandbox.records();
    let mut secrets: Vec<&str> = vec![&key[4..]];
    secrets.extend(records.tokens.iter().map(|t| t.token.as_str()));
    assert!(secrets.len() >= 5, "tokens were issued");
    for s in secrets {
        assert!(!raw.contains(s), "the export holds a credential");
    }

    // Erase. Not with an API key (a key leaked from a script must not do this), not cross-site.
    let resp = reqwest::Client::new()
        .delete(app.url("/api/me"))
        .header(AUTHORIZATION, format!("Bearer {key}"))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = app
        .client
        .delete(app.url("/api/me"))
        .header(ORIGIN, "https://evil.example")
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = app.delete("/api/me").await?;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let cookie = resp.headers()[SET_COOKIE].to_str()?.to_owned();
    assert!(
        cookie.contains("Max-Age=0"),
        "this browser's cookie is cleared: {cookie}"
    );
    let body: Value = resp.json().await?;
    assert_eq!(body["status"], "erasing");

    // Every way in is refused from now on (being erased, or already gone).
    let (status, body) = {
        let resp = other.get(app.url("/api/me")).send().await?;
        (resp.status(), resp.json::<Value>().await?)
    };
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        ["account_being_erased", "session_user_gone"]
            .contains(&body["error"]["code"].as_str().unwrap_or_default()),
        "{body}"
    );
    assert_eq!(
        get_with_key(&app, &key, "/api/me").await?.0,
        StatusCode::UNAUTHORIZED
    );

    // The job: the user row goes last, so once it is gone, everything is.
    app.wait_for("the user to be erased", WAIT, || async {
        Ok(matches!(app.store.user(user).await, Err(StoreError::NotFound)).then_some(()))
    })
    .await?;
    let personal = jobs::model::Workspace::personal_id(user);
    assert!(app.store.list_accounts(personal).await?.is_empty());
    assert!(
        app.store
            .list_posts(personal, None, 10)
            .await?
            .items
            .is_empty()
    );
    assert!(app.store.list_media(personal).await?.is_empty());
    assert!(app.store.list_api_keys(personal).await?.is_empty());
    assert!(app.store.list_audit(personal, 100).await?.is_empty());
    assert_eq!(staging_files(&app), 0, "every staged video is deleted");
    for open_id in [PUBLIC, PRIVATE] {
        assert!(
            app.revoked_at_tiktok(open_id),
            "our access was revoked at TikTok for {open_id}"
        );
    }
    let records = app.sandbox.records();
    // The scheduled post never went out.
    assert_eq!(
        records.posts.iter().filter(|p| p.open_id == PUBLIC).count(),
        1
    );

    // Signing in again starts afresh.
    let me = app.sign_in("publisher").await?;
    assert_ne!(me["id"], user.to_string());
    let (_, accounts) = app.get_json("/api/accounts").await?;
    assert_eq!(accounts["accounts"].as_array().map(Vec::len), Some(0));
    // The other browser's cookie, issued before the erasure, stays dead for the new account.
    let resp = other.get(app.url("/api/me")).send().await?;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    Ok(())
}

#[tokio::test]
async fn export_then_erase_everything_on_sqlite() -> Result<()> {
    export_then_erase_everything(Backend::Sqlite).await
}

#[tokio::test]
async fn export_then_erase_everything_on_postgres() -> Result<()> {
    export_then_erase_everything(Backend::Postgres).await
}

/// With no worker running, the request alone must hold: the user is refused everywhere, the
/// scheduler's sweep pushes the job again, and running it finishes the erasure.
#[tokio::test]
async fn an_erasure_request_holds_until_the_job_runs() -> Result<()> {
    let app = TestApp::start_full(Backend::Sqlite, false, |_| {}).await?;
    let me = app.sign_in("leaver").await?;
    let user = UserId::parse(me["id"].as_str().unwrap_or_default())?;
    app.connect_tiktok(PUBLIC).await?;
    app.connect_tiktok(PRIVATE).await?;
    let (_, list) = app.get_json("/api/accounts").await?;
    let id_of = |open_id: &str| {
        list["accounts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["open_id"] == open_id)
            .and_then(|a| a["id"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let (public_id, private_id) = (id_of(PUBLIC), id_of(PRIVATE));
    // A post waiting in the queue (no worker runs here) ...
    let media = stage(&app, user, &video(30_001, 4)).await?;
    let (status, post) = create_post(&app, &public_id, &media, json!({})).await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{post}");
    assert_eq!(post["state"], "queued");
    // ... and an account whose disconnect has not run yet: its token is still ours to revoke.
    let resp = app.delete(&format!("/api/accounts/{private_id}")).await?;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);

    let resp = app.delete("/api/me").await?;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    // Before the job runs, the waiting post is already cancelled: nothing goes out now.
    let cancelled = app
        .store
        .post(
            jobs::model::Workspace::personal_id(user),
            jobs::model::PostId::parse(post["id"].as_str().unwrap_or_default())?,
        )
        .await?;
    assert_eq!(cancelled.state, jobs::model::PostState::Cancelled);
    assert_eq!(cancelled.error_code.as_deref(), Some("account_erased"));
    let marked = app.store.user(user).await?;
    let since = marked.erasing_since.expect("marked for erasure");

    // Signing in again while the erasure is pending: refused, clearly.
    let token = app.id_token("leaver", sandbox::IdTokenVariant::Valid)?;
    let resp = app
        .exchange_id_token(&TestApp::new_client(), &token)
        .await?;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let body: Value = resp.json().await?;
    assert_eq!(body["error"]["code"], "account_being_erased");
    // A second request keeps the first instant.
    jobs::handlers::erase_user::request(&app.ctx, user).await?;
    assert_eq!(app.store.user(user).await?.erasing_since, Some(since));

    // The sweep pushes the job again once the erasure is overdue.
    let settings = scheduler::SchedulerSettings::from_config(&app.config);
    let recent = scheduler::RecentPushes::default();
    let queued = |app: &TestApp| {
        let q = app.ctx.queue.clone();
        async move {
            q.stats(jobs::handlers::erase_user::NAME)
                .await
                .map(|s| s.pending)
        }
    };
    assert_eq!(queued(&app).await?, 2, "each request queued the job");
    let report = scheduler::retry_erasing_users(&app.ctx, &settings, Utc::now(), &recent).await?;
    assert_eq!(report.found, 0, "not overdue yet");
    let later = Utc::now() + chrono::Duration::from_std(settings.stuck_erasing_after)? * 2;
    let report = scheduler::retry_erasing_users(&app.ctx, &settings, later, &recent).await?;
    assert_eq!((report.found, report.done), (1, 1));
    assert_eq!(queued(&app).await?, 3);

    // The job, run twice (a duplicate push is harmless).
    jobs::handlers::erase_user::erase(&app.ctx, user).await?;
    jobs::handlers::erase_user::erase(&app.ctx, user).await?;
    assert!(matches!(
        app.store.user(user).await,
        Err(StoreError::NotFound)
    ));
    for open_id in [PUBLIC, PRIVATE] {
        assert!(
            app.revoked_at_tiktok(open_id),
            "revoked at TikTok for {open_id}, the account being disconnected too"
        );
    }
    let records = app.sandbox.records();
    assert!(records.posts.is_empty(), "no post reached TikTok");
    let report = scheduler::retry_erasing_users(&app.ctx, &settings, later, &recent).await?;
    assert_eq!(report.found, 0, "nothing left to erase");
    let again = app.sign_in("leaver").await?;
    assert_ne!(again["id"], user.to_string());
    Ok(())
}
