//! The privacy promise for logs: a whole run that handles every kind of secret (ID token,
//! sign-in state, session cookie, OAuth code, access and refresh tokens, upload URLs, captions,
//! API keys, emails) leaves none of them in the log output. Its own test binary, because it installs
//! the process-wide log subscriber.

use anyhow::Result;
use e2e::{Backend, Chunked, TestApp};
use jobs::model::{AccountId, UserId};
use jobs::telemetry::Capture;
use reqwest::header::ORIGIN;
use sandbox::IdTokenVariant;
use serde_json::{Value, json};
use std::time::Duration;

const PUBLIC: &str = "-000sandbox-public-0001";
const CAPTION: &str = "a caption nobody may log 7f3a9c";

#[tokio::test]
async fn a_full_run_logs_no_token_cookie_code_caption_or_email() -> Result<()> {
    let capture = Capture::default();
    jobs::telemetry::init_with_filter(
        jobs::config::LogFormat::Json,
        capture.clone(),
        "debug,hyper=info,h2=info,sqlx=warn,tower=info,reqwest=info,rustls=info,cookie_store=warn",
    );
    // cookie_store is the test's own browser-like client, not MKT POST: it logs the cookies it keeps.
    let pace = Chunked {
        single_chunk_max: 50_000,
        processing_ms: 100,
        moderation_ms: 50,
    };
    let app = TestApp::start_chunked(Backend::Sqlite, true, pace, |_| {}).await?;
    let mut secrets: Vec<String> = vec![CAPTION.into()];

    // Sign in: the ID token and the session cookie.
    let id_token = app.id_token("logwatch", IdTokenVariant::Valid)?;
    secrets.push(id_token.clone());
    let start = app.start_sign_in(&app.client).await?;
    secrets.push(start.state.clone());
    let resp = app
        .post_id_token(&app.client, &id_token, Some(&start.state))
        .await?;
    let cookie = e2e::set_cookie(&resp, "session")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("session=")
        .to_owned();
    secrets.push(cookie);
    let me: Value = resp.json().await?;
    secrets.push(me["email"].as_str().unwrap().to_owned());
    let user = UserId::parse(me["id"].as_str().unwrap())?;

    // Connect: the authorization code travels in the callback's query string.
    let callback = app
        .tiktok_callback(&app.client, PUBLIC, "approve", None)
        .await?;
    let code = reqwest::Url::parse(&callback)?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    secrets.push(code);
    app.client.get(&callback).send().await?;
    let (_, list) = app.get_json("/api/accounts").await?;
    let account = list["accounts"][0]["id"].as_str().unwrap().to_owned();

    // Force a refresh (new tokens), then publish a captioned post (upload URL, chunk PUTs).
    let id = AccountId::parse(&account)?;
    app.expire_access_token(user, id).await?;
    let bytes: Vec<u8> = {
        let mut v: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        v[..12].copy_from_slice(&[0, 0, 0, 20, b'f', b't', b'y', b'p', b'i', b's', b'o', b'm']);
        v
    };
    let media = app
        .ctx
        .staging
        .stage(
            jobs::model::Actor::personal(user),
            futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(bytes))]),
            jobs::staging::UploadLimits::new(u64::MAX),
            None,
        )
        .await?;
    let resp = app
        .client
        .post(app.url("/api/posts"))
        .header(ORIGIN, &app.base_url)
        .json(&json!({"account_id": account, "media_id": media.id, "title": CAPTION, "privacy_level": "PUBLIC_TO_EVERYONE",
            "disable_comment": false, "disable_duet": false, "disable_stitch": false}))
        .send()
        .await?;
    let post: Value = resp.json().await?;
    let post_id = post["id"].as_str().unwrap().to_owned();
    app.wait_for("the post to publish", Duration::from_secs(30), || async {
        let (_, p) = app.get_json(&format!("/api/posts/{post_id}")).await?;
        Ok((p["state"] == "published").then_some(()))
    })
    .await?;

    // An API key, used once.
    let created: Value = app
        .create_api_key(&app.client, json!({"name": "k", "scopes": ["read"]}))
        .await?;
    let key = created["key"].as_str().unwrap().to_owned();
    reqwest::Client::new()
        .get(app.url("/api/me"))
        .bearer_auth(&key)
        .send()
        .await?;
    secrets.push(key);

    // Disconnect: revoke with the access token.
    app.client
        .delete(app.url(&format!("/api/accounts/{account}")))
        .header(ORIGIN, &app.base_url)
        .send()
        .await?;
    app.wait_for(
        "the account to be gone",
        Duration::from_secs(10),
        || async {
            Ok(app
                .store
                .account(jobs::model::Workspace::personal_id(user), id)
                .await
                .is_err()
                .then_some(()))
        },
    )
    .await?;

    let records = app.sandbox.records();
    secrets.extend(records.tokens.iter().map(|t| t.token.clone()));
    secrets.extend(records.posts.iter().filter_map(|p| p.upload_url.clone()));
    // Upload tokens are the secret part of upload URLs.
    for p in &records.posts {
        if let Some(u) = &p.upload_url {
            let u = reqwest::Url::parse(u)?;
            secrets.extend(
                u.query_pairs()
                    .filter(|(k, _)| k == "upload_token")
                    .map(|(_, v)| v.into_owned()),
            );
        }
    }
    assert!(records.tokens.len() >= 4, "the run handled several tokens");

    let logs = capture.contents();
    assert!(
        logs.contains("signed in")
            && logs.contains("access token refreshed")
            && logs.contains("published"),
        "the capture saw the run"
    );
    for secret in &secrets {
        assert!(secret.len() >= 8, "a meaningful secret");
        let line = logs.lines().find(|l| l.contains(secret.as_str()));
        assert!(
            line.is_none(),
            "a secret reached the logs ({}…) in: {}",
            &secret[..8],
            line.unwrap_or_default()
                .replace(secret.as_str(), "<SECRET>")
        );
    }
    Ok(())
}
