//! Sessions end on the server: a signed-out cookie replayed is refused, "sign out everywhere"
//! ends every session of the user, and only a `Bearer` key (not any `Authorization` header)
//! lets a write skip the cross-site check.

use anyhow::{Context, Result};
use e2e::{Backend, TestApp};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, COOKIE, ORIGIN, SET_COOKIE};
use sandbox::IdTokenVariant;
use serde_json::{Value, json};
use std::time::Duration;

/// Signs in as `uid` with a bare client and returns the session cookie's value, as someone who
/// copied it (another tab, a lifted cookie) would hold it.
async fn sign_in_for_cookie(app: &TestApp, uid: &str) -> Result<String> {
    let token = app.id_token(uid, IdTokenVariant::Valid)?;
    let resp = app
        .exchange_id_token(&TestApp::new_client(), &token)
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let set = e2e::set_cookie(&resp, "session").context("a session cookie")?;
    let value = set
        .strip_prefix("session=")
        .and_then(|v| v.split(';').next())
        .context("session=…")?;
    Ok(value.to_owned())
}

/// `GET /api/me` with this cookie alone: (status, error code).
async fn me_with(app: &TestApp, cookie: &str) -> Result<(StatusCode, Value)> {
    let resp = reqwest::Client::new()
        .get(app.url("/api/me"))
        .header(COOKIE, format!("session={cookie}"))
        .send()
        .await?;
    let status = resp.status();
    let body: Value = resp.json().await?;
    Ok((status, body["error"]["code"].clone()))
}

async fn sign_out(app: &TestApp, cookie: &str) -> Result<reqwest::Response> {
    Ok(reqwest::Client::new()
        .delete(app.url("/auth/session"))
        .header(COOKIE, format!("session={cookie}"))
        .header(ORIGIN, &app.base_url)
        .send()
        .await?)
}

async fn a_signed_out_cookie_replayed_is_refused(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let cookie = sign_in_for_cookie(&app, "leaves").await?;
    let other_device = sign_in_for_cookie(&app, "leaves").await?;
    assert_eq!(me_with(&app, &cookie).await?.0, StatusCode::OK);

    let resp = sign_out(&app, &cookie).await?;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let cleared = resp.headers()[SET_COOKIE].to_str()?.to_owned();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    // The same cookie, kept by someone, no longer works...
    let (status, code) = me_with(&app, &cookie).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code, "session_revoked");
    // ...for writes either...
    let resp = reqwest::Client::new()
        .post(app.url("/api/keys"))
        .header(COOKIE, format!("session={cookie}"))
        .header(ORIGIN, &app.base_url)
        .json(&json!({ "name": "after logout", "scopes": ["read"] }))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // ...and signing it out twice is harmless.
    assert_eq!(
        sign_out(&app, &cookie).await?.status(),
        StatusCode::NO_CONTENT
    );
    // Another session of the same person is not this one, unless it is byte for byte the
    // same cookie (issued in the same second): then it was this session too.
    if other_device != cookie {
        assert_eq!(me_with(&app, &other_device).await?.0, StatusCode::OK);
    }
    Ok(())
}

#[tokio::test]
async fn a_signed_out_cookie_replayed_is_refused_on_sqlite() -> Result<()> {
    a_signed_out_cookie_replayed_is_refused(Backend::Sqlite).await
}

#[tokio::test]
async fn a_signed_out_cookie_replayed_is_refused_on_postgres() -> Result<()> {
    a_signed_out_cookie_replayed_is_refused(Backend::Postgres).await
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_but_not_api_keys() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    app.sign_in("everywhere").await?;
    let laptop = sign_in_for_cookie(&app, "everywhere").await?;
    let phone = TestApp::new_client();
    app.sign_in_with(&phone, "everywhere").await?;
    // Someone else's session is not touched.
    let stranger = sign_in_for_cookie(&app, "stranger").await?;
    let created: Value = app
        .create_api_key(&app.client, json!({ "name": "script", "scopes": ["read"] }))
        .await?;
    let key = created["key"].as_str().context("key")?.to_owned();

    // Not with an API key, not cross-site.
    let resp = reqwest::Client::new()
        .delete(app.url("/auth/sessions"))
        .header(AUTHORIZATION, format!("Bearer {key}"))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await?;
    assert_eq!(body["error"]["code"], "session_required");
    let resp = app
        .client
        .delete(app.url("/auth/sessions"))
        .header(ORIGIN, "https://evil.example")
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(me_with(&app, &laptop).await?.0, StatusCode::OK);

    let resp = app.delete("/auth/sessions").await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let cleared = resp.headers()[SET_COOKIE].to_str()?.to_owned();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let body: Value = resp.json().await?;
    assert_eq!(body["status"], "signed_out_everywhere");
    let again_from: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(body["sign_in_again_from"].clone())?;

    // Every earlier session of this user is refused: this browser's, a copied cookie, another
    // device's.
    assert_eq!(app.get_json("/api/me").await?.0, StatusCode::UNAUTHORIZED);
    let (status, code) = me_with(&app, &laptop).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code, "session_revoked");
    let resp = phone.get(app.url("/api/me")).send().await?;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // Not another user's, and not the API key (keys are revoked one by one in Settings).
    assert_eq!(me_with(&app, &stranger).await?.0, StatusCode::OK);
    let resp = reqwest::Client::new()
        .get(app.url("/api/me"))
        .bearer_auth(&key)
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);

    // Signing in again works once the instant the answer named has passed (cookies carry
    // whole seconds).
    app.wait_for("the sign-in instant", Duration::from_secs(3), || async {
        Ok((chrono::Utc::now() >= again_from).then_some(()))
    })
    .await?;
    app.sign_in_with(&phone, "everywhere").await?;
    let resp = phone.get(app.url("/api/me")).send().await?;
    assert_eq!(resp.status(), StatusCode::OK);
    // The old cookies stay dead.
    assert_eq!(me_with(&app, &laptop).await?.0, StatusCode::UNAUTHORIZED);
    Ok(())
}

#[tokio::test]
async fn only_a_bearer_key_skips_the_cross_site_check() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    app.sign_in("basic").await?;
    // A cookie request from a foreign page that adds some other Authorization header.
    let resp = app
        .client
        .post(app.url("/api/keys"))
        .header(AUTHORIZATION, "Basic x")
        .header(ORIGIN, "https://evil.example")
        .json(&json!({ "name": "planted", "scopes": ["read"] }))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await?;
    assert_eq!(body["error"]["code"], "forbidden");
    let resp = app
        .client
        .delete(app.url("/api/me"))
        .header(AUTHORIZATION, "Basic x")
        .header(ORIGIN, "https://evil.example")
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let (status, list) = app.get_json("/api/keys").await?;
    assert_eq!(status, StatusCode::OK, "the account is intact");
    assert_eq!(list["keys"], json!([]), "nothing was created");
    Ok(())
}
