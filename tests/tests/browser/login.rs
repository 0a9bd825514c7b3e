//! Login CSRF, in a real browser: a `/login#id_token=…` link carrying an attacker's token (and
//! the state of the attacker's own sign-in) signs the visitor into nothing, whether they are
//! signed out, in the middle of their own sign-in, or signed in; the page says why. Not even a
//! script on our origin that skips the page's check gets the token taken. A normal sign-in
//! still works, and uses its state up.

use crate::creator::{ADA, sign_in};
use crate::driver::Browser;
use crate::{browser_app, in_browser, nothing};
use anyhow::{Result, ensure};
use e2e::TestApp;
use sandbox::IdTokenVariant;
use serde_json::{Value, json};

/// What `GET /api/me` answers this browser: `{status, body}`.
const ME: &str = "
    const done = arguments[arguments.length - 1];
    fetch('/api/me', { credentials: 'same-origin' })
        .then(r => r.json().then(body => done({ status: r.status, body })))
        .catch(e => done({ error: String(e) }));";

/// Posts a token straight to `/auth/session` from a page of ours, as a script that skipped
/// login.js's check would: `{status, body}`.
const POST_TOKEN: &str = "
    const done = arguments[arguments.length - 1];
    fetch('/auth/session', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ id_token: arguments[0], state: arguments[1] }),
    })
        .then(r => r.json().then(body => done({ status: r.status, body })))
        .catch(e => done({ error: String(e) }));";

async fn me(b: &Browser) -> Result<Value> {
    Ok(b.client.execute_async(ME, vec![]).await?)
}

/// Opens the attacker's link from another page (a fragment change on /login itself would not
/// reload it) and waits for the refusal; returns the message shown.
async fn open_attackers_link(b: &Browser, link: &str, expect: &str) -> Result<String> {
    b.goto("/privacy").await?;
    b.goto(link).await?;
    let shown = b.text_contains("#signin-error", expect).await?;
    ensure!(
        b.path().await? == "/login",
        "the fragment is gone from the address bar"
    );
    let fragment = b.js("return window.location.hash;", vec![]).await?;
    ensure!(
        fragment == "",
        "the token is not left in the URL: {fragment}"
    );
    Ok(shown)
}

/// The names of the cookies the browser holds for the app.
async fn cookie_names(b: &Browser) -> Result<Vec<String>> {
    let got = b
        .cdp("Network.getCookies", json!({ "urls": [b.url("/")] }))
        .await?;
    Ok(got["cookies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect())
}

async fn flow(app: &TestApp, b: &Browser) -> Result<()> {
    let token = app.id_token("mallory", IdTokenVariant::Valid)?;

    // --- Signed out, the bare token link: signs the visitor in as no one, and says why ---
    let shown = open_attackers_link(
        b,
        &format!("/login#id_token={token}"),
        "was not started in this browser tab",
    )
    .await?;
    ensure!(
        shown.contains("you were not signed in") && shown.contains("Sign in with Google"),
        "{shown}"
    );
    let now = me(b).await?;
    ensure!(now["status"] == 401, "signed in as no one: {now}");

    // The attacker signs in in their own browser and sends what came back instead of using it:
    // a valid token with the state of their own started sign-in.
    let attacker = TestApp::new_client();
    let theirs = app.start_sign_in(&attacker).await?;
    let link = format!("/login#id_token={token}&state={}", theirs.state);
    open_attackers_link(b, &link, "was not started in this browser tab").await?;
    ensure!(me(b).await?["status"] == 401, "still signed in as no one");

    // --- A script on our origin that skips the page's check: the server refuses too ---
    let posted = b
        .client
        .execute_async(POST_TOKEN, vec![json!(token), json!(theirs.state)])
        .await?;
    ensure!(posted["status"] == 422, "{posted}");
    ensure!(
        posted["body"]["error"]["code"] == "signin_not_started",
        "{posted}"
    );
    ensure!(me(b).await?["status"] == 401, "still signed in as no one");

    // --- In the middle of their own sign-in (on Google's page), the link arrives ---
    b.goto("/login").await?;
    b.click("#google-signin").await?;
    b.wait_until("the sandbox's Google page", crate::driver::WAIT, || async {
        let url = b.client.current_url().await?;
        Ok(url
            .as_str()
            .starts_with(app.sandbox.base_url())
            .then_some(()))
    })
    .await?;
    open_attackers_link(b, &link, "is not the one this browser tab started").await?;
    ensure!(me(b).await?["status"] == 401, "still signed in as no one");
    ensure!(
        app.store.user_by_google_uid("mallory").await?.is_none(),
        "the attacker's token was never even used"
    );

    // --- A normal sign-in works, and leaves no pending state behind ---
    sign_in(b).await?;
    let now = me(b).await?;
    ensure!(now["body"]["google_uid"] == ADA, "{now}");
    let cookies = cookie_names(b).await?;
    ensure!(
        cookies.iter().any(|c| c == "session") && !cookies.iter().any(|c| c == "signin_state"),
        "the used state's cookie is deleted: {cookies:?}"
    );
    let pending = b
        .js(
            "return sessionStorage.getItem('mktpost_signin_state');",
            vec![],
        )
        .await?;
    ensure!(pending.is_null(), "the tab's copy is used up: {pending}");

    // --- Signed in: the link does not swap the session for the attacker's ---
    open_attackers_link(b, &link, "was not started in this browser tab").await?;
    let now = me(b).await?;
    ensure!(
        now["body"]["google_uid"] == ADA,
        "still signed in as Ada: {now}"
    );
    ensure!(
        app.store.user_by_google_uid("mallory").await?.is_none(),
        "no account was made for the attacker's token"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_with_someone_elses_token_signs_no_one_in_and_says_why() -> Result<()> {
    let app = browser_app().await?;
    in_browser(&app, async |b| flow(&app, b).await, nothing).await
}
