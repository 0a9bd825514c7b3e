//! A creator takes their data and leaves, in a real browser: downloads the export from Settings
//! (fetched with the browser's own session), then erases everything after typing "erase". The
//! worker revokes our access at TikTok and deletes the user; the browser is signed out, and
//! signing in again starts afresh.

use crate::creator::{ADA, check_origins, connect, sign_in};
use crate::driver::{Browser, WAIT};
use crate::{browser_app, in_browser, nothing};
use anyhow::{Context, Result, ensure};
use e2e::TestApp;
use jobs::store::StoreError;
use sandbox::DEMO_PUBLIC_OPEN_ID;
use std::time::Duration;

/// Fetches what `#export-data` links to, from the page (same origin, the session cookie sent
/// as a click would send it), and returns its status, Content-Disposition and parsed body.
const FETCH_EXPORT: &str = "
    const done = arguments[arguments.length - 1];
    const href = document.getElementById('export-data').href;
    fetch(href, { credentials: 'same-origin' })
        .then(r => r.json().then(body => done({
            status: r.status,
            disposition: r.headers.get('content-disposition'),
            body,
        })))
        .catch(e => done({ error: String(e) }));";

async fn is_enabled(b: &Browser, css: &str) -> Result<bool> {
    Ok(b.visible(css).await?.is_enabled().await?)
}

async fn flow(app: &TestApp, b: &Browser) -> Result<()> {
    sign_in(b).await?;
    connect(b, DEMO_PUBLIC_OPEN_ID, "Sunny Demo").await?;
    let user = app
        .store
        .user_by_google_uid(ADA)
        .await?
        .context("Ada's user after signing in")?;

    // --- Download my data: the link, and what it serves to this browser ---
    b.goto("/settings").await?;
    let link = b.visible("#export-data").await?;
    ensure!(
        link.attr("href").await?.as_deref() == Some("/api/export"),
        "the download link points at the export"
    );
    ensure!(
        link.attr("download").await?.is_some(),
        "the link downloads rather than navigates"
    );
    let got = b.client.execute_async(FETCH_EXPORT, vec![]).await?;
    ensure!(got["status"] == 200, "export: {got}");
    let disposition = got["disposition"].as_str().unwrap_or_default();
    ensure!(
        disposition.starts_with("attachment; filename=\"mktpost-export-"),
        "served as a download: {disposition:?}"
    );
    let export = &got["body"];
    ensure!(export["format"] == "mktpost-export/1", "{export}");
    ensure!(export["user"]["id"] == user.id.to_string(), "{export}");
    ensure!(
        export["user"]["email"] == "ada.demo@example.com",
        "{export}"
    );
    let accounts = export["tiktok_accounts"]
        .as_array()
        .context("tiktok_accounts")?;
    ensure!(
        accounts.len() == 1 && accounts[0]["open_id"] == DEMO_PUBLIC_OPEN_ID,
        "one account, Sunny's: {export}"
    );
    for key in ["posts", "staged_videos", "api_keys", "audit_events"] {
        ensure!(export[key].is_array(), "{key} is in the export: {export}");
    }
    check_origins(b).await?;

    // --- Erase: "Keep my data" backs out and forgets what was typed ---
    b.click("#erase-ask").await?;
    b.visible("#erase-confirm").await?;
    ensure!(
        !is_enabled(b, "#erase-yes").await?,
        "nothing can be erased before typing the word"
    );
    b.visible("#erase-word").await?.send_keys("erase").await?;
    ensure!(is_enabled(b, "#erase-yes").await?, "the word enables it");
    b.click("#erase-no").await?;
    b.visible("#erase-ask").await?;
    ensure!(
        !b.client
            .find(fantoccini::Locator::Css("#erase-confirm"))
            .await?
            .is_displayed()
            .await?,
        "the confirmation closes"
    );

    // --- Erase, for real: the button waits for the whole word ---
    b.click("#erase-ask").await?;
    let word = b.visible("#erase-word").await?;
    ensure!(
        word.prop("value").await?.as_deref() == Some(""),
        "the field starts empty again"
    );
    ensure!(!is_enabled(b, "#erase-yes").await?, "disabled when empty");
    word.send_keys("eras").await?;
    ensure!(!is_enabled(b, "#erase-yes").await?, "disabled at \"eras\"");
    word.send_keys("e").await?;
    ensure!(is_enabled(b, "#erase-yes").await?, "enabled at \"erase\"");
    b.click("#erase-yes").await?;
    b.wait_until("the page /login?erased=1", WAIT, || async {
        let p = b.path().await?;
        Ok((p == "/login?erased=1").then_some(()))
    })
    .await?;
    b.text_contains("#erased", "Your data is being erased")
        .await?;

    // --- The worker's erase_user job: TikTok access revoked, then the user row gone ---
    app.wait_for("the user to be erased", Duration::from_secs(30), || async {
        Ok(matches!(app.store.user(user.id).await, Err(StoreError::NotFound)).then_some(()))
    })
    .await?;
    let events = app.sandbox.records().token_events;
    ensure!(
        events
            .iter()
            .any(|e| e.open_id == DEMO_PUBLIC_OPEN_ID && e.event.contains("revoke")),
        "our access was revoked at TikTok: {events:?}"
    );

    // --- Signed out: a private page sends the browser to sign in ---
    b.goto("/accounts").await?;
    b.wait_until("/accounts to redirect to /login", WAIT, || async {
        let p = b.path().await?;
        Ok((p == "/login").then_some(()))
    })
    .await?;
    b.visible("#google-signin").await?;

    // --- Signing in again starts afresh: a new user with no account ---
    sign_in(b).await?;
    b.text_contains("main", "No TikTok account is connected yet")
        .await?;
    let again = app
        .store
        .user_by_google_uid(ADA)
        .await?
        .context("Ada's new user")?;
    ensure!(again.id != user.id, "a fresh user, not the erased one");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creator_downloads_their_data_then_erases_it_in_a_real_browser() -> Result<()> {
    let app = browser_app().await?;
    in_browser(&app, async |b| flow(&app, b).await, nothing).await
}
