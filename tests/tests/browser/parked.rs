//! Posts waiting for a reconnect, on the History page: they say until when they wait, "Try
//! again" explains that the account must be reconnected first, "Cancel post" cancels one, and
//! reconnecting the account sends the other out by itself.

use crate::creator::{ADA, connect, sign_in};
use crate::driver::{Browser, WAIT};
use crate::{browser_app, in_browser};
use anyhow::{Context, Result, ensure};
use e2e::TestApp;
use jobs::domain::posts::NewPost;
use jobs::model::{AccountStatus, PostId, PostState, PrivacyLevel, TikTokAccount, User};
use jobs::staging::UploadLimits;
use sandbox::DEMO_PUBLIC_OPEN_ID;
use serde_json::json;
use std::time::Duration;

/// Ada (signed in) and her first TikTok account.
async fn adas_account(app: &TestApp) -> Result<(User, TikTokAccount)> {
    let user = app
        .store
        .user_by_google_uid(ADA)
        .await?
        .context("Ada signed in")?;
    let account = app
        .store
        .list_accounts(jobs::model::Workspace::personal_id(user.id))
        .await?
        .remove(0);
    Ok((user, account))
}

/// A post of Ada's, due a minute ago, parked as `publish` parks it when TikTok refuses the
/// grant.
async fn parked_post(app: &TestApp, caption: &str, seed: u8) -> Result<PostId> {
    let (user, account) = adas_account(app).await?;
    let mut bytes = vec![seed; 60_000];
    bytes[..12].copy_from_slice(b"\0\0\0\x14ftypisom");
    let body = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(bytes))]);
    let media = app
        .ctx
        .staging
        .stage(
            jobs::model::Actor::personal(user.id),
            body,
            UploadLimits::new(u64::MAX),
            None,
        )
        .await?;
    let req = NewPost {
        title: caption.into(),
        privacy_level: Some(PrivacyLevel::PublicToEveryone),
        ..NewPost::staged(account.id, media.id)
    };
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let created = jobs::domain::posts::create(
        &app.ctx,
        jobs::model::Actor::personal(user.id),
        req,
        Some((later, None)),
        None,
    )
    .await?;
    let mut p = created.value;
    p.state = PostState::NeedsReconnect;
    p.scheduled_at = Some(chrono::Utc::now() - chrono::Duration::minutes(1));
    p.error_code = Some("needs_reconnect".into());
    p.error_message = Some("TikTok no longer accepts MKT POST's access to this account.".into());
    app.store.save_post(&p, PostState::Scheduled).await?;
    Ok(p.id)
}

/// Marks Ada's account as TikTok refusing our access (what a refused refresh does).
async fn mark_account_dead(app: &TestApp) -> Result<()> {
    let (user, account) = adas_account(app).await?;
    app.store
        .set_account_status(
            jobs::model::Workspace::personal_id(user.id),
            account.id,
            account.version,
            AccountStatus::NeedsReconnect,
            Some("TikTok no longer accepts MKT POST's access to this account."),
            false,
        )
        .await?;
    Ok(())
}

async fn state_of(b: &Browser, id: PostId) -> Result<Option<String>> {
    let v = b
        .js(
            "const li = document.getElementById('post-' + arguments[0]); \
             return li ? li.dataset.state : null;",
            vec![json!(id.to_string())],
        )
        .await?;
    Ok(v.as_str().map(str::to_owned))
}

async fn wait_state(b: &Browser, id: PostId, state: &str, timeout: Duration) -> Result<()> {
    b.wait_until(&format!("post {id} to be {state}"), timeout, || async {
        Ok((state_of(b, id).await?.as_deref() == Some(state)).then_some(()))
    })
    .await
}

async fn flow(app: &TestApp, b: &Browser) -> Result<()> {
    sign_in(b).await?;
    connect(b, DEMO_PUBLIC_OPEN_ID, "Sunny").await?;
    let waits = parked_post(app, "waits for a reconnect", 1).await?;
    let dropped = parked_post(app, "given up on", 2).await?;
    mark_account_dead(app).await?;

    b.goto("/history").await?;
    let card = |id: PostId| format!("#post-{id}");
    b.text_contains(&card(waits), "Needs reconnect").await?;
    b.text_contains(&format!("{} .reconnect-by", card(waits)), "Reconnect by")
        .await?;
    // "Try again" while the account still needs reconnecting: the page says what to do.
    b.click(&format!("{} .js-retry", card(waits))).await?;
    b.text_contains(&format!("{} .js-error", card(waits)), "reconnect")
        .await?;
    ensure!(state_of(b, waits).await?.as_deref() == Some("needs_reconnect"));

    // "Cancel post" cancels a parked post.
    b.click(&format!("{} .js-cancel", card(dropped))).await?;
    b.click(&format!("{} .js-cancel-yes", card(dropped)))
        .await?;
    wait_state(b, dropped, "cancelled", WAIT).await?;

    // Reconnecting sends the waiting post out by itself.
    connect(b, DEMO_PUBLIC_OPEN_ID, "Sunny").await?;
    b.goto("/history").await?;
    wait_state(b, waits, "published", Duration::from_secs(45)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_posts_can_be_retried_or_cancelled_and_go_out_after_a_reconnect() -> Result<()> {
    let app = browser_app().await?;
    // A refused retry answers 409, which the browser reports as a failed request.
    in_browser(&app, async |b| flow(&app, b).await, |c| c.contains("409")).await
}
