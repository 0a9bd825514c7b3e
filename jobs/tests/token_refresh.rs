//! Token refresh against the TikTok sandbox, whose refresh tokens rotate (the old one dies on
//! every refresh): a refresh whose store write loses to a concurrent write must not throw the
//! rotated grant away.

mod support;

use chrono::{Duration, Utc};
use jobs::domain::accounts::{self, AccountError};
use jobs::model::{AccountStatus, TikTokAccount};
use jobs::tiktok::{AccessToken, RefreshToken};
use sandbox::{DEMO_PUBLIC_OPEN_ID, FaultAction, FaultSpec};
use support::{Harness, entry};
use tokio::task::JoinHandle;

/// The next token call takes `ms` at TikTok, leaving room for a concurrent store write.
fn slow_token_call(h: &Harness, ms: u64) {
    h.sandbox
        .inject_fault(FaultSpec::new("oauth.token", 1, FaultAction::Slow { ms }));
}

/// An account whose access token has expired, and a refresh of it under way that is slow at
/// TikTok, leaving room for a concurrent store write.
struct Refreshing {
    access: String,
    refresh: String,
    account: TikTokAccount,
    task: JoinHandle<Result<AccessToken, AccountError>>,
}

async fn start_slow_refresh(h: &Harness) -> Refreshing {
    let (access, refresh) = h.issue(DEMO_PUBLIC_OPEN_ID);
    let account = h
        .connect(
            &h.ctx.vault,
            DEMO_PUBLIC_OPEN_ID,
            &access,
            &refresh,
            Utc::now() - Duration::minutes(1),
        )
        .await;
    slow_token_call(h, 800);
    let task = {
        let ctx = h.ctx.clone();
        let (ws, id) = (h.ws(), account.id);
        tokio::spawn(async move { accounts::fresh_access_token(&ctx, ws, id).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    Refreshing {
        access,
        refresh,
        account,
        task,
    }
}

#[tokio::test]
async fn a_refresh_whose_store_write_loses_to_a_profile_update_keeps_the_rotated_refresh_token() {
    let h = Harness::start(&entry("v1")).await;
    assert!(h.sandbox.knobs().rotate_refresh_tokens);
    let Refreshing {
        access,
        refresh,
        account: a,
        task: refreshing,
    } = start_slow_refresh(&h).await;
    // A write that does not touch the tokens (a profile sync, say) lands mid-refresh.
    h.ctx
        .store
        .set_account_status(h.ws(), a.id, a.version, AccountStatus::Active, None, false)
        .await
        .expect("the concurrent write");

    let token = refreshing
        .await
        .unwrap()
        .expect("the refresh survives a lost compare-and-set");
    assert_ne!(token.expose(), access);
    let (stored_access, stored_refresh) = h.tokens(&h.ctx.vault, a.id).await.unwrap();
    assert_eq!(stored_access, token.expose(), "the new grant is stored");
    assert_ne!(stored_refresh, refresh, "TikTok rotated the refresh token");
    assert!(
        h.ctx
            .tiktok
            .refresh(&RefreshToken::new(&refresh))
            .await
            .is_err(),
        "the old refresh token is dead at TikTok"
    );
    h.ctx
        .tiktok
        .refresh(&RefreshToken::new(&stored_refresh))
        .await
        .expect("the stored refresh token is the live one");
    let after = h.ctx.store.account(h.ws(), a.id).await.unwrap();
    assert_eq!(after.status, AccountStatus::Active);
}

#[tokio::test]
async fn a_newer_grant_stored_during_a_refresh_is_kept() {
    let h = Harness::start(&entry("v1")).await;
    let Refreshing {
        account: a,
        task: refreshing,
        ..
    } = start_slow_refresh(&h).await;
    // The creator reconnects meanwhile: a grant issued after the refresh started.
    let (newer_access, newer_refresh) = h.issue(DEMO_PUBLIC_OPEN_ID);
    let newer = support::seal(
        &h.ctx.vault,
        a.id,
        &newer_access,
        &newer_refresh,
        Utc::now() + Duration::hours(25),
    );
    h.ctx
        .store
        .store_tokens(h.ws(), a.id, a.version, &newer)
        .await
        .expect("the reconnect's write");

    let token = refreshing.await.unwrap().expect("the refresh answers");
    assert_eq!(token.expose(), newer_access, "the newer grant is used");
    assert_eq!(
        h.tokens(&h.ctx.vault, a.id).await.unwrap(),
        (newer_access, newer_refresh),
        "and kept"
    );
}
