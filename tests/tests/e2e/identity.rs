//! Sign-in, session cookie, connecting / refreshing / disconnecting TikTok accounts, API keys,
//! and authorization between users.

use anyhow::{Context, Result};
use base64::Engine;
use e2e::{Backend, TestApp, assert_error, location, set_cookie};
use jobs::model::{AccountId, UserId};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, ORIGIN, SET_COOKIE};
use sandbox::IdTokenVariant;
use serde_json::{Value, json};
use std::time::Duration;

const PUBLIC: &str = "-000sandbox-public-0001";
const PRIVATE: &str = "-000sandbox-private-0002";

async fn account_ids(app: &TestApp) -> Result<Vec<(String, String)>> {
    let (status, body) = app.get_json("/api/accounts").await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    Ok(body["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_owned(),
                a["open_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect())
}

/// An app on SQLite with user "u" signed in and the public TikTok account connected.
async fn signed_in_with_public_account() -> Result<(TestApp, UserId, AccountId)> {
    let app = TestApp::start(Backend::Sqlite).await?;
    let me = app.sign_in("u").await?;
    let user = UserId::parse(me["id"].as_str().unwrap())?;
    app.connect_tiktok(PUBLIC).await?;
    let id = AccountId::parse(&account_ids(&app).await?.remove(0).0)?;
    Ok((app, user, id))
}

/// Fails unless the sandbox saw exactly one refresh of the public account's token.
fn assert_refreshed_once(app: &TestApp) {
    let refreshes = app.sandbox.records().refresh_counts.get(PUBLIC).copied();
    assert_eq!(refreshes, Some(1), "refreshes of {PUBLIC}");
}

async fn full_account_flow(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let me = app.sign_in("creator-1").await?;
    assert_eq!(me["email"], "creator-1@example.com");
    let user = UserId::parse(me["id"].as_str().unwrap())?;

    // Two TikTok accounts on one user.
    assert!(
        app.connect_tiktok(PUBLIC)
            .await?
            .starts_with("/accounts?connected=")
    );
    assert!(
        app.connect_tiktok(PRIVATE)
            .await?
            .starts_with("/accounts?connected=")
    );
    let ids = account_ids(&app).await?;
    assert_eq!(ids.len(), 2);
    let (public_id, _) = ids.iter().find(|(_, o)| o == PUBLIC).unwrap().clone();
    let (private_id, _) = ids.iter().find(|(_, o)| o == PRIVATE).unwrap().clone();

    // Reconnecting the same creator updates instead of creating a twin.
    app.connect_tiktok(PUBLIC).await?;
    assert_eq!(account_ids(&app).await?.len(), 2);

    // Live posting options.
    let (status, info) = app
        .get_json(&format!("/api/accounts/{public_id}/creator-info"))
        .await?;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert!(
        info["privacy_level_options"]
            .as_array()
            .unwrap()
            .contains(&json!("PUBLIC_TO_EVERYONE"))
    );
    let (_, info) = app
        .get_json(&format!("/api/accounts/{private_id}/creator-info"))
        .await?;
    assert!(
        info["privacy_level_options"]
            .as_array()
            .unwrap()
            .contains(&json!("FOLLOWER_OF_CREATOR"))
    );

    // Forced expiry → the next call refreshes first (once), and the rotated tokens are stored.
    let pid = AccountId::parse(&public_id)?;
    let before = app
        .store
        .account(jobs::model::Workspace::personal_id(user), pid)
        .await?
        .tokens
        .unwrap();
    app.expire_access_token(user, pid).await?;
    let (status, _) = app
        .get_json(&format!("/api/accounts/{public_id}/creator-info"))
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert_refreshed_once(&app);
    let after = app
        .store
        .account(jobs::model::Workspace::personal_id(user), pid)
        .await?
        .tokens
        .unwrap();
    assert_ne!(
        before.refresh_token, after.refresh_token,
        "the rotated refresh token is stored"
    );
    assert!(after.access_expires_at > chrono::Utc::now());

    // Disconnect one: gone from the list at once, revoked at TikTok, tokens gone from the store.
    let resp = app.delete(&format!("/api/accounts/{private_id}")).await?;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(account_ids(&app).await?.len(), 1);
    let private = AccountId::parse(&private_id)?;
    app.wait_for(
        "the account row to be deleted",
        Duration::from_secs(10),
        || async {
            Ok(matches!(
                app.store
                    .account(jobs::model::Workspace::personal_id(user), private)
                    .await,
                Err(jobs::store::StoreError::NotFound)
            )
            .then_some(()))
        },
    )
    .await?;
    let records = app.sandbox.records();
    assert!(
        records
            .token_events
            .iter()
            .any(|e| e.open_id == PRIVATE && e.event.contains("revoke")),
        "the sandbox saw the revoke: {:?}",
        records.token_events
    );
    Ok(())
}

#[tokio::test]
async fn sign_in_connect_refresh_disconnect_on_sqlite() -> Result<()> {
    full_account_flow(Backend::Sqlite).await
}

#[tokio::test]
async fn sign_in_connect_refresh_disconnect_on_postgres() -> Result<()> {
    full_account_flow(Backend::Postgres).await
}

#[tokio::test]
async fn an_expired_token_at_tiktok_triggers_one_refresh_and_one_retry() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    app.sign_in("u").await?;
    app.connect_tiktok(PUBLIC).await?;
    let (id, _) = account_ids(&app).await?.remove(0);
    // A day passes at TikTok but our clock still believes the token is fresh.
    app.sandbox.advance_clock(Duration::from_secs(25 * 3600));
    let (status, body) = app
        .get_json(&format!("/api/accounts/{id}/creator-info"))
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_refreshed_once(&app);
    Ok(())
}

#[tokio::test]
async fn twenty_concurrent_users_of_an_expired_token_cause_exactly_one_refresh() -> Result<()> {
    let (app, user, id) = signed_in_with_public_account().await?;
    app.expire_access_token(user, id).await?;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let ctx = app.ctx.clone();
        tasks.spawn(async move {
            let tiktok = ctx.tiktok.clone();
            jobs::domain::accounts::with_fresh_token(
                &ctx,
                jobs::model::Workspace::personal_id(user),
                id,
                move |t| {
                    let tiktok = tiktok.clone();
                    async move { tiktok.creator_info(&t).await }
                },
            )
            .await
        });
    }
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        r?.map_err(|e| anyhow::anyhow!("{e}"))?;
        ok += 1;
    }
    assert_eq!(ok, 20);
    assert_refreshed_once(&app);
    Ok(())
}

#[tokio::test]
async fn a_dead_grant_marks_the_account_needs_reconnect() -> Result<()> {
    let (app, user, id) = signed_in_with_public_account().await?;
    // A year and a day: the refresh token is dead too.
    app.sandbox
        .advance_clock(Duration::from_secs(367 * 24 * 3600));
    app.expire_access_token(user, id).await?;
    let (status, body) = app
        .get_json(&format!("/api/accounts/{id}/creator-info"))
        .await?;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "needs_reconnect");
    let (_, list) = app.get_json("/api/accounts").await?;
    assert_eq!(list["accounts"][0]["status"], "needs_reconnect");
    assert!(
        list["accounts"][0]["status_reason"]
            .as_str()
            .unwrap()
            .contains("reconnect")
    );
    // Reconnecting clears it.
    app.connect_tiktok(PUBLIC).await?;
    let (_, list) = app.get_json("/api/accounts").await?;
    assert_eq!(list["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(list["accounts"][0]["status"], "active");
    Ok(())
}

#[tokio::test]
async fn every_id_token_rejection_has_its_own_code() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    let cases = [
        (IdTokenVariant::Expired, "id_token_expired"),
        (IdTokenVariant::WrongAudience, "id_token_wrong_audience"),
        (IdTokenVariant::WrongIssuer, "id_token_wrong_issuer"),
        (IdTokenVariant::UnknownKid, "id_token_unknown_kid"),
        (IdTokenVariant::BadSignature, "id_token_bad_signature"),
        (IdTokenVariant::AlgNone, "id_token_algorithm"),
        (IdTokenVariant::Hs256, "id_token_algorithm"),
        (IdTokenVariant::EmptySub, "id_token_missing_subject"),
        (IdTokenVariant::FutureIat, "id_token_not_yet_valid"),
    ];
    for (variant, code) in cases {
        let token = app.id_token("x", variant)?;
        let resp = app.exchange_id_token(&app.client, &token).await?;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{variant:?}");
        assert_sets_no_cookie(resp.headers());
        let body: Value = resp.json().await?;
        assert_eq!(body["error"]["code"], code, "{variant:?}: {body}");
    }
    for garbage in ["", "not-a-jwt", "a.b.c"] {
        let resp = app.exchange_id_token(&app.client, garbage).await?;
        assert_sets_no_cookie(resp.headers());
        let body: Value = resp.json().await?;
        assert_eq!(body["error"]["code"], "id_token_malformed", "{garbage:?}");
    }
    let (status, _) = app.get_json("/api/me").await?;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "no session was set by any rejected token"
    );
    Ok(())
}

/// Fails when the response sets a cookie (a session, or anything else with a value). Deleting
/// one is fine: a refused sign-in still uses up its pending-sign-in cookie.
fn assert_sets_no_cookie(headers: &HeaderMap) {
    for line in headers.get_all(SET_COOKIE) {
        let line = line.to_str().unwrap_or_default();
        let mut parts = line.split(';').map(str::trim);
        let value = parts
            .next()
            .and_then(|nv| nv.split_once('='))
            .map(|(_, v)| v)
            .unwrap_or_default();
        let expires_now = parts.any(|a| a.eq_ignore_ascii_case("max-age=0"));
        assert!(
            value.is_empty() && expires_now,
            "the response sets a cookie: {line}"
        );
    }
}

#[test]
fn the_no_cookie_check_fails_on_a_set_cookie_and_passes_on_a_deletion() {
    let mut headers = HeaderMap::new();
    headers.append(
        SET_COOKIE,
        "signin_state=; HttpOnly; Path=/; Max-Age=0"
            .parse()
            .unwrap(),
    );
    assert_sets_no_cookie(&headers);
    headers.append(
        SET_COOKIE,
        "session=eyJ.x.y; HttpOnly; Path=/; Max-Age=604800"
            .parse()
            .unwrap(),
    );
    let caught = std::panic::catch_unwind(|| assert_sets_no_cookie(&headers));
    assert!(caught.is_err(), "a session cookie is caught");
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_certificates_at_most_once_per_interval() -> Result<()> {
    // Default interval (60 s): a kid that appears right after a fetch is refused for now.
    let app = TestApp::start(Backend::Sqlite).await?;
    app.sign_in("before").await?; // caches the current certificates (max-age 3600)
    app.sandbox.rotate_google_key(false)?;
    let err = app
        .sign_in_with(&TestApp::new_client(), "after")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("id_token_unknown_kid"), "{err}");
    // With the interval elapsed, the unknown kid makes us fetch again and it verifies.
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.identity.google_certs_refetch = Duration::ZERO
    })
    .await?;
    app.sign_in("before").await?;
    app.sandbox.rotate_google_key(false)?;
    app.sign_in_with(&TestApp::new_client(), "after").await?;
    Ok(())
}

#[tokio::test]
async fn the_session_cookie_has_the_promised_flags_and_exactly_six_claims() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    let token = app.id_token("flags", IdTokenVariant::Valid)?;
    let resp = app.exchange_id_token(&app.client, &token).await?;
    let cookie = set_cookie(&resp, "session").context("a session cookie")?;
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "not Secure over plain http in development"
    );
    let jwt = cookie
        .trim_start_matches("session=")
        .split(';')
        .next()
        .unwrap();
    let payload = jwt.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload)?)?;
    let mut keys: Vec<&str> = claims
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["email", "exp", "iat", "name", "picture", "sub"]);
    let header = jwt.split('.').next().unwrap();
    let header: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header)?)?;
    assert_eq!(header["alg"], "HS256");

    // Sign-out clears it.
    let resp = app.delete("/auth/session").await?;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_json("/api/me").await?.0, StatusCode::UNAUTHORIZED);
    Ok(())
}

#[tokio::test]
async fn the_cookie_is_secure_in_production() -> Result<()> {
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.server.mode = jobs::config::Mode::Production
    })
    .await?;
    let start = app
        .client
        .post(app.url("/auth/google/start"))
        .header(ORIGIN, &app.base_url)
        .send()
        .await?;
    // `__Host-`: only this host over HTTPS may set it, so no sibling domain can plant a state.
    let pending = set_cookie(&start, "__Host-signin_state").context("the pending sign-in")?;
    for flag in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(pending.contains(flag), "{flag} missing in {pending}");
    }
    assert!(!pending.contains("Domain"), "{pending}");
    let state: Value = start.json().await?;
    let token = app.id_token("prod", IdTokenVariant::Valid)?;
    let resp = app
        .post_id_token(&app.client, &token, state["state"].as_str())
        .await?;
    let cookie = set_cookie(&resp, "session").context("a session cookie")?;
    assert!(cookie.contains("Secure"), "{cookie}");
    let used = set_cookie(&resp, "__Host-signin_state").context("the used state deleted")?;
    assert!(
        used.contains("Max-Age=0") && used.contains("Secure"),
        "{used}"
    );
    Ok(())
}

#[tokio::test]
async fn a_sign_in_starts_with_a_random_state_in_a_short_lived_cookie() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    let resp = app
        .client
        .post(app.url("/auth/google/start"))
        .header(ORIGIN, &app.base_url)
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = set_cookie(&resp, "signin_state").context("the pending sign-in cookie")?;
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=600"] {
        assert!(cookie.contains(flag), "{flag} missing in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http in development");
    let body: Value = resp.json().await?;
    let state = body["state"].as_str().context("state")?;
    assert!(
        cookie.starts_with(&format!("signin_state={state};")),
        "{cookie}"
    );
    assert_eq!(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(state)?
            .len(),
        32
    );
    // The sign-in page is told where to come back to, and the state to bring back.
    let url = reqwest::Url::parse(body["signin_url"].as_str().context("signin_url")?)?;
    assert!(url.as_str().starts_with(app.sandbox.base_url()), "{url}");
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(
        query,
        [
            ("return_to".to_owned(), app.url("/login")),
            ("state".to_owned(), state.to_owned())
        ]
    );
    // Every start draws a new state.
    let again = app.start_sign_in(&TestApp::new_client()).await?;
    assert_ne!(again.state, state);
    Ok(())
}

#[tokio::test]
async fn a_token_without_the_state_of_a_sign_in_this_browser_started_is_refused() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    let attacker = TestApp::new_client();
    let victim = TestApp::new_client();
    // The attacker's own sign-in: a valid token, and a state that is valid in their browser.
    let attackers = app.start_sign_in(&attacker).await?;
    let token = app.id_token("attacker", IdTokenVariant::Valid)?;
    let refused = |resp: reqwest::Response, code: &'static str| async move {
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{code}");
        assert_sets_no_cookie(resp.headers());
        let body: Value = resp.json().await?;
        assert_error(&body, code, "Sign in with Google");
        anyhow::Ok(())
    };

    // No sign-in started in the victim's browser: with or without a state, refused.
    refused(
        app.post_id_token(&victim, &token, None).await?,
        "signin_not_started",
    )
    .await?;
    refused(
        app.post_id_token(&victim, &token, Some(&attackers.state))
            .await?,
        "signin_not_started",
    )
    .await?;
    // The victim started one: a token without its state, or with another browser's, is refused.
    app.start_sign_in(&victim).await?;
    refused(
        app.post_id_token(&victim, &token, None).await?,
        "signin_state_mismatch",
    )
    .await?;
    app.start_sign_in(&victim).await?;
    refused(
        app.post_id_token(&victim, &token, Some(&attackers.state))
            .await?,
        "signin_state_mismatch",
    )
    .await?;
    let status = victim.get(app.url("/api/me")).send().await?.status();
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the victim is signed in as no one"
    );
    assert!(
        app.store.user_by_google_uid("attacker").await?.is_none(),
        "the state is checked before the token is even used"
    );

    // The attacker's own browser, with its own state, signs in (the token itself was fine).
    let resp = app
        .post_id_token(&attacker, &token, Some(&attackers.state))
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn the_state_of_a_sign_in_is_used_once() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    let token = app.id_token("once", IdTokenVariant::Valid)?;

    // Accepted with the right state; the pending-sign-in cookie is deleted.
    let start = app.start_sign_in(&app.client).await?;
    let resp = app
        .post_id_token(&app.client, &token, Some(&start.state))
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let used = set_cookie(&resp, "signin_state").context("the used state deleted")?;
    assert!(
        used.starts_with("signin_state=;") && used.contains("Max-Age=0"),
        "{used}"
    );
    assert!(
        used.contains("Path=/"),
        "deletes the cookie that was set: {used}"
    );
    assert_eq!(
        app.get_json("/api/me").await?.1["email"],
        "once@example.com"
    );

    // The same token and state again: refused.
    let again = app
        .post_id_token(&app.client, &token, Some(&start.state))
        .await?;
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = again.json().await?;
    assert_eq!(body["error"]["code"], "signin_not_started");

    // A refused attempt uses the state up as well: one try per start.
    let other = TestApp::new_client();
    let start = app.start_sign_in(&other).await?;
    let first = app.post_id_token(&other, &token, Some("wrong")).await?;
    assert_eq!(first.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let second = app
        .post_id_token(&other, &token, Some(&start.state))
        .await?;
    let body: Value = second.json().await?;
    assert_eq!(body["error"]["code"], "signin_not_started", "{body}");
    Ok(())
}

#[tokio::test]
async fn an_erased_users_cookie_is_refused() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    let me = app.sign_in("gone").await?;
    app.store
        .erase_user(UserId::parse(me["id"].as_str().unwrap())?)
        .await?;
    let (status, body) = app.get_json("/api/me").await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "session_user_gone");
    Ok(())
}

#[tokio::test]
async fn cross_site_writes_with_the_cookie_are_refused() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    app.sign_in("csrf").await?;
    // Creating a key with the cookie, from `origin` (`None`: no Origin header).
    let create_key = |origin: Option<&str>, body: Value| {
        let mut req = app.client.post(app.url("/api/keys")).json(&body);
        if let Some(origin) = origin {
            req = req.header(ORIGIN, origin);
        }
        req.send()
    };
    let evil = create_key(Some("https://evil.example"), json!({})).await?;
    assert_eq!(evil.status(), StatusCode::FORBIDDEN);
    let none = create_key(None, json!({})).await?;
    assert_eq!(
        none.status(),
        StatusCode::FORBIDDEN,
        "a cookie write without Origin is refused too"
    );
    let (_, keys) = app.get_json("/api/keys").await?;
    assert_eq!(
        keys["keys"].as_array().unwrap().len(),
        0,
        "nothing was created"
    );
    let ok = create_key(Some(&app.base_url), json!({"name":"ci","scopes":["read"]})).await?;
    assert_eq!(ok.status(), StatusCode::CREATED);
    // Login CSRF: a cross-site sign-in is refused as well, even with a started sign-in's state.
    let token = app.id_token("csrf2", IdTokenVariant::Valid)?;
    let browser = TestApp::new_client();
    let start = app.start_sign_in(&browser).await?;
    let resp = browser
        .post(app.url("/auth/session"))
        .header(ORIGIN, "https://evil.example")
        .json(&json!({ "id_token": token, "state": start.state }))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    Ok(())
}

#[tokio::test]
async fn api_keys_are_shown_once_authenticate_without_csrf_and_can_be_revoked() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    app.sign_in("agency").await?;
    let created = app
        .create_api_key(
            &app.client,
            json!({"name":"campaigns","scopes":["read","publish"]}),
        )
        .await?;
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("mkp_"));
    let (_, list) = app.get_json("/api/keys").await?;
    assert_eq!(list["keys"][0]["name"], "campaigns");
    assert!(
        list["keys"][0].get("key").is_none(),
        "the key is shown only once"
    );
    assert!(!list.to_string().contains(&key[4..]));
    // A bare client with the key (no cookie, no Origin) may write what its scopes allow (here
    // a delete that reaches the handler: 404, not the cross-site 403)...
    let bare = reqwest::Client::new();
    let resp = bare
        .delete(app.url(&format!("/api/media/{}", jobs::model::MediaId::new())))
        .header(AUTHORIZATION, format!("Bearer {key}"))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // ...but never mint another key: that needs the person (tests/tests/e2e/scopes.rs).
    let resp = bare
        .post(app.url("/api/keys"))
        .header(AUTHORIZATION, format!("Bearer {key}"))
        .json(&json!({"name":"second","scopes":["read"]}))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let me: Value = bare
        .get(app.url("/api/me"))
        .header(AUTHORIZATION, format!("Bearer {key}"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(me["email"], "agency@example.com");
    let (_, list) = app.get_json("/api/keys").await?;
    assert!(
        list["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| !k["last_used_at"].is_null())
    );
    // Revoke → the key stops working.
    let id = created["id"].as_str().unwrap();
    let resp = app.delete(&format!("/api/keys/{id}")).await?;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = bare
        .get(app.url("/api/me"))
        .header(AUTHORIZATION, format!("Bearer {key}"))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    Ok(())
}

#[tokio::test]
async fn another_users_ids_answer_404_and_change_nothing() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    // User A: an account and a key.
    app.sign_in("alice").await?;
    app.connect_tiktok(PUBLIC).await?;
    let (a_account, _) = account_ids(&app).await?.remove(0);
    let created: Value = app
        .create_api_key(&app.client, json!({"name":"a","scopes":["read"]}))
        .await?;
    let a_key = created["id"].as_str().unwrap().to_owned();

    // User B by cookie, and by API key.
    let bob = TestApp::new_client();
    app.sign_in_with(&bob, "bob").await?;
    let b_key: Value = app
        .create_api_key(
            &bob,
            json!({"scopes":["read","publish","campaigns","accounts"]}),
        )
        .await?;
    let b_key = b_key["key"].as_str().unwrap().to_owned();
    let bare = reqwest::Client::new();

    let targets = [
        (
            reqwest::Method::GET,
            format!("/api/accounts/{a_account}/creator-info"),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/accounts/{a_account}"),
        ),
        (reqwest::Method::DELETE, format!("/api/keys/{a_key}")),
    ];
    for (method, path) in &targets {
        let by_cookie = bob
            .request(method.clone(), app.url(path))
            .header(ORIGIN, &app.base_url)
            .send()
            .await?;
        assert_eq!(
            by_cookie.status(),
            StatusCode::NOT_FOUND,
            "cookie {method} {path}"
        );
        let body: Value = by_cookie.json().await?;
        assert_eq!(body["error"]["code"], "not_found");
        let by_key = bare
            .request(method.clone(), app.url(path))
            .header(AUTHORIZATION, format!("Bearer {b_key}"))
            .send()
            .await?;
        // Disconnecting and revoking keys are the person's alone: no key gets that far.
        let expected = if *method == reqwest::Method::DELETE {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(by_key.status(), expected, "api key {method} {path}");
    }
    // Alice still has everything, untouched.
    let (_, list) = app.get_json("/api/accounts").await?;
    assert_eq!(list["accounts"][0]["status"], "active");
    let (_, keys) = app.get_json("/api/keys").await?;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1);
    // And Bob sees none of it.
    let bob_accounts: Value = bob
        .get(app.url("/api/accounts"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(bob_accounts["accounts"].as_array().unwrap().len(), 0);
    Ok(())
}

#[tokio::test]
async fn oauth_state_is_single_use_and_bound_to_the_session() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    app.sign_in("s").await?;
    let resp = app
        .client
        .get(app.url("/auth/tiktok/connect"))
        .send()
        .await?;
    let authorize = reqwest::Url::parse(&location(&resp)?)?;
    let q: std::collections::HashMap<String, String> =
        authorize.query_pairs().into_owned().collect();
    assert_eq!(q["client_key"], app.config.tiktok.client_key);
    assert_eq!(
        q["scope"],
        "user.info.basic,user.info.profile,video.publish,video.upload,video.list"
    );
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["disable_auto_auth"], "1");
    assert_eq!(q["redirect_uri"], app.config.tiktok.redirect_uri.as_str());
    assert!(q["state"].len() >= 40);
    let mut url = authorize.clone();
    url.query_pairs_mut()
        .append_pair("sandbox_open_id", PUBLIC)
        .append_pair("sandbox_auto", "approve");
    let callback = location(&app.client.get(url).send().await?)?;

    // Another user's browser cannot use this state.
    let mallory = TestApp::new_client();
    app.sign_in_with(&mallory, "mallory").await?;
    let stolen = mallory.get(&callback).send().await?;
    assert_eq!(stolen.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = stolen.json().await?;
    assert_eq!(body["error"]["code"], "invalid_oauth_state");
    // The state was consumed by that attempt: even the owner cannot reuse it now.
    let reuse = app.client.get(&callback).send().await?;
    assert_eq!(reuse.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A made-up state.
    let forged = app
        .client
        .get(app.url("/auth/tiktok/callback?code=x&state=forged"))
        .send()
        .await?;
    assert_eq!(forged.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(account_ids(&app).await?.len(), 0);

    // A normal flow, then replaying its callback.
    let callback = app
        .tiktok_callback(&app.client, PUBLIC, "approve", None)
        .await?;
    assert!(
        app.client
            .get(&callback)
            .send()
            .await?
            .status()
            .is_redirection()
    );
    assert_eq!(
        app.client.get(&callback).send().await?.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    Ok(())
}

#[tokio::test]
async fn denied_consent_and_partial_grants_are_handled() -> Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    app.sign_in("p").await?;
    let callback = app
        .tiktok_callback(&app.client, PUBLIC, "deny", None)
        .await?;
    let done = app.client.get(&callback).send().await?;
    assert_eq!(location(&done)?, "/accounts?error=access_denied");
    assert_eq!(account_ids(&app).await?.len(), 0);

    // Without video.publish: connected, but shown as unable to publish, with why.
    app.connect_tiktok_with(&app.client, PRIVATE, Some("user.info.basic,video.list"))
        .await?;
    let (_, list) = app.get_json("/api/accounts").await?;
    let a = &list["accounts"][0];
    assert_eq!(a["can_publish"], false);
    assert!(
        a["cannot_publish_reason"]
            .as_str()
            .unwrap()
            .contains("video.publish")
    );
    Ok(())
}

#[tokio::test]
async fn auth_endpoints_are_rate_limited_per_ip_with_retry_after() -> Result<()> {
    let app = TestApp::start_with(Backend::Sqlite, |c| c.limits.auth_rate_per_min = 3).await?;
    let mut last = None;
    for _ in 0..4 {
        last = Some(
            app.client
                .post(app.url("/auth/session"))
                .header(ORIGIN, &app.base_url)
                .json(&json!({"id_token":"x"}))
                .send()
                .await?,
        );
    }
    let last = last.unwrap();
    assert_eq!(last.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = last.headers()["retry-after"].to_str()?.parse()?;
    assert!(retry >= 1);
    Ok(())
}

#[tokio::test]
async fn api_endpoints_are_rate_limited_per_user() -> Result<()> {
    let app = TestApp::start_with(Backend::Sqlite, |c| c.limits.api_rate_per_min = 5).await?;
    app.sign_in("busy").await?;
    for _ in 0..5 {
        assert_eq!(app.get_json("/api/me").await?.0, StatusCode::OK);
    }
    assert_eq!(
        app.get_json("/api/me").await?.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another user is not affected.
    let other = TestApp::new_client();
    app.sign_in_with(&other, "calm").await?;
    assert_eq!(
        other.get(app.url("/api/me")).send().await?.status(),
        StatusCode::OK
    );
    Ok(())
}

/// Disconnecting an account cancels the posts still waiting for it (not the other account's),
/// deletes their staged videos at once, and revokes our access at TikTok.
#[tokio::test]
async fn disconnecting_an_account_cancels_its_waiting_posts() -> Result<()> {
    use crate::publish::{create_post, publishing_app, stage, staging_files, video};
    let (app, user, public_account) = publishing_app(Backend::Sqlite, |_| {}).await?;
    app.connect_tiktok(PRIVATE).await?;
    let (_, list) = app.get_json("/api/accounts").await?;
    let private_account = list["accounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["open_id"] == PRIVATE)
        .and_then(|a| a["id"].as_str())
        .unwrap_or_default()
        .to_owned();
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let mut ids = Vec::new();
    for (i, (account, privacy)) in [
        (&public_account, "PUBLIC_TO_EVERYONE"),
        (&private_account, "SELF_ONLY"),
    ]
    .into_iter()
    .enumerate()
    {
        let media = stage(&app, user, &video(30_000 + i, 5)).await?;
        let (status, post) = create_post(
            &app,
            account,
            &media,
            json!({"scheduled_at": tomorrow, "privacy_level": privacy, "disable_duet": true, "disable_stitch": true, "disable_comment": true}),
        )
        .await?;
        assert_eq!(status, StatusCode::ACCEPTED, "{post}");
        ids.push(post["id"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(staging_files(&app), 2);
    let resp = app
        .delete(&format!("/api/accounts/{private_account}"))
        .await?;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let post = app
        .wait_for(
            "the private account's post to be cancelled",
            Duration::from_secs(10),
            || async {
                let (_, p) = app.get_json(&format!("/api/posts/{}", ids[1])).await?;
                Ok((p["state"] == "cancelled").then_some(p))
            },
        )
        .await?;
    assert_eq!(post["error"]["code"], "account_disconnected", "{post}");
    let (_, other) = app.get_json(&format!("/api/posts/{}", ids[0])).await?;
    assert_eq!(
        other["state"], "scheduled",
        "the other account's post is untouched"
    );
    app.wait_for(
        "the account to be deleted",
        Duration::from_secs(10),
        || async {
            Ok(matches!(
                app.store
                    .account(
                        jobs::model::Workspace::personal_id(user),
                        AccountId::parse(&private_account)?
                    )
                    .await,
                Err(jobs::store::StoreError::NotFound)
            )
            .then_some(()))
        },
    )
    .await?;
    assert_eq!(
        staging_files(&app),
        1,
        "the cancelled post's video is deleted"
    );
    Ok(())
}
