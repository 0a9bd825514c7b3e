//! TikTok accounts: connect and reconnect, compare-and-set token and status writes, and the
//! cross-user listings (expiring tokens, id-ordered batches).

use super::fixtures::*;
use crate::model::{AccountId, AccountStatus, TikTokAccount};
use crate::store::{AccountRef, DynStore, StoreError};
use chrono::Duration;

/// Accounts round-trip whole, list oldest first, and deleting one makes it `NotFound`.
pub async fn accounts_are_created_read_listed_and_deleted(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    let c = connection(&unique("open"), tokens("a", now() + Duration::hours(24)));
    let acc = store
        .connect_account(ws_of(user.id), user.id, &c)
        .await
        .expect("connect_account");
    assert_eq!(acc.workspace_id, ws_of(user.id));
    assert_eq!(acc.created_by, Some(user.id));
    assert_eq!(acc.open_id, c.open_id);
    assert_eq!(acc.union_id, c.union_id);
    assert_eq!(acc.display_name, c.display_name);
    assert_eq!(acc.username, c.username);
    assert_eq!(acc.avatar_url, c.avatar_url);
    assert_eq!(acc.scopes, c.scopes);
    assert_eq!(acc.status, AccountStatus::Active);
    assert_eq!(acc.status_reason, None);
    assert_eq!(acc.tokens.as_ref(), Some(&c.tokens));
    assert!(acc.can_publish());
    assert_eq!(
        store
            .account(ws_of(user.id), acc.id)
            .await
            .expect("account"),
        acc
    );

    let second = new_account(store.as_ref(), user.id).await;
    assert_ne!(second.id, acc.id);
    assert_eq!(
        store.list_accounts(ws_of(user.id)).await.expect("list"),
        vec![acc.clone(), second.clone()],
        "oldest first"
    );

    store
        .delete_account(ws_of(user.id), acc.id)
        .await
        .expect("delete_account");
    assert_not_found!(
        store.account(ws_of(user.id), acc.id).await,
        "a deleted account"
    );
    assert_eq!(
        store.list_accounts(ws_of(user.id)).await.expect("list"),
        vec![second]
    );
    assert_not_found!(
        store.delete_account(ws_of(user.id), acc.id).await,
        "deleting twice"
    );
}

/// Connecting the same TikTok account again updates the row (status, tokens, profile) and
/// never creates a second one; an empty refresh token never replaces a stored one.
pub async fn reconnecting_an_account_updates_it_instead_of_creating_a_twin(store: DynStore) {
    let s = store.as_ref();
    let user = new_user(store.as_ref()).await;
    let open_id = unique("open");
    let t0 = now();
    let first = store
        .connect_account(
            ws_of(user.id),
            user.id,
            &connection(&open_id, tokens("one", t0)),
        )
        .await
        .expect("first connect");
    let broken = set_status(
        s,
        &first,
        AccountStatus::NeedsReconnect,
        Some("TikTok revoked the grant"),
        false,
    )
    .await
    .expect("mark needs_reconnect");

    let mut again = connection(&open_id, tokens("two", t0 + Duration::hours(1)));
    again.display_name = "Renamed Creator".into();
    again.scopes = vec!["user.info.basic".into()];
    again.tokens.refresh_token = String::new();
    let re = store
        .connect_account(ws_of(user.id), user.id, &again)
        .await
        .expect("reconnect");
    assert_eq!(re.id, first.id, "a reconnect keeps the account id");
    assert_eq!(re.created_at, first.created_at);
    assert_eq!(re.status, AccountStatus::Active);
    assert_eq!(re.status_reason, None, "the reason is cleared");
    assert!(re.version > broken.version, "a reconnect is a new version");
    assert_eq!(re.display_name, "Renamed Creator");
    assert_eq!(re.scopes, vec!["user.info.basic".to_owned()]);
    let stored = re.tokens.as_ref().expect("tokens after reconnect");
    let old = first.tokens.as_ref().expect("tokens after connect");
    assert_eq!(stored.access_token, again.tokens.access_token);
    assert_eq!(stored.access_expires_at, again.tokens.access_expires_at);
    assert_eq!(
        stored.refresh_token, old.refresh_token,
        "an empty refresh token keeps the stored one"
    );
    assert_eq!(stored.refresh_expires_at, old.refresh_expires_at);
    assert_eq!(
        store.list_accounts(ws_of(user.id)).await.expect("list"),
        vec![re.clone()],
        "no twin"
    );

    let third = connection(&open_id, tokens("three", t0 + Duration::hours(2)));
    let re2 = store
        .connect_account(ws_of(user.id), user.id, &third)
        .await
        .expect("reconnect with a new refresh token");
    assert_eq!(re2.id, first.id);
    assert_eq!(
        re2.tokens.as_ref(),
        Some(&third.tokens),
        "a new refresh token replaces the old one"
    );

    let other = new_user(store.as_ref()).await;
    let theirs = store
        .connect_account(
            ws_of(other.id),
            other.id,
            &connection(&open_id, tokens("other", t0)),
        )
        .await
        .expect("another user connects the same TikTok account");
    assert_ne!(theirs.id, first.id, "accounts are per user");
    assert_eq!(
        store
            .account(ws_of(user.id), first.id)
            .await
            .expect("account"),
        re2,
        "another user's connect leaves this row alone"
    );
}

/// Token and status writes are compare-and-set on the version; a stale version changes nothing.
pub async fn token_and_status_writes_are_compare_and_set(store: DynStore) {
    let s = store.as_ref();
    let user = new_user(store.as_ref()).await;
    let acc = new_account(store.as_ref(), user.id).await;
    let t = now();

    let rotated = tokens("rotated", t + Duration::hours(24));
    let stored = store
        .store_tokens(ws_of(user.id), acc.id, acc.version, &rotated)
        .await
        .expect("store_tokens");
    assert_eq!(stored.tokens.as_ref(), Some(&rotated));
    assert_eq!(stored.version, acc.version + 1);

    assert_err!(
        store
            .store_tokens(ws_of(user.id), acc.id, acc.version, &tokens("late", t))
            .await,
        StoreError::StaleState,
        "store_tokens with a stale version"
    );
    assert_eq!(
        store
            .account(ws_of(user.id), acc.id)
            .await
            .expect("account"),
        stored
    );

    let mut no_refresh = tokens("access-only", t + Duration::hours(48));
    no_refresh.refresh_token = String::new();
    let kept = store
        .store_tokens(ws_of(user.id), acc.id, stored.version, &no_refresh)
        .await
        .expect("store_tokens without a refresh token");
    let kept_tokens = kept.tokens.as_ref().expect("tokens");
    assert_eq!(kept_tokens.access_token, no_refresh.access_token);
    assert_eq!(kept_tokens.refresh_token, rotated.refresh_token);
    assert_eq!(kept_tokens.refresh_expires_at, rotated.refresh_expires_at);

    let flagged = set_status(
        s,
        &kept,
        AccountStatus::NeedsReconnect,
        Some("invalid_grant"),
        false,
    )
    .await
    .expect("set_account_status");
    assert_eq!(flagged.status, AccountStatus::NeedsReconnect);
    assert_eq!(flagged.status_reason.as_deref(), Some("invalid_grant"));
    assert_eq!(flagged.tokens, kept.tokens, "tokens stay unless cleared");
    assert_eq!(flagged.version, kept.version + 1);

    assert_err!(
        set_status(s, &kept, AccountStatus::Active, None, false).await,
        StoreError::StaleState,
        "set_account_status with a stale version"
    );
    assert_eq!(
        store
            .account(ws_of(user.id), acc.id)
            .await
            .expect("account"),
        flagged
    );

    let cleared = set_status(
        s,
        &flagged,
        AccountStatus::NeedsReconnect,
        Some("key retired"),
        true,
    )
    .await
    .expect("clear tokens");
    assert_eq!(cleared.tokens, None);
    assert!(!cleared.can_publish());

    let leaving = set_status(s, &cleared, AccountStatus::Disconnecting, None, true)
        .await
        .expect("disconnecting");
    assert_eq!(
        store.list_accounts(ws_of(user.id)).await.expect("list"),
        Vec::<TikTokAccount>::new(),
        "accounts being disconnected are hidden from the list"
    );
    assert_eq!(
        store
            .all_accounts(ws_of(user.id))
            .await
            .expect("all accounts"),
        vec![leaving.clone()],
        "but listed with every account (export and erasure)"
    );
    assert_eq!(
        store
            .account(ws_of(user.id), acc.id)
            .await
            .expect("account"),
        leaving,
        "but still readable by id (the disconnect job needs it)"
    );

    assert_not_found!(
        store
            .store_tokens(ws_of(user.id), AccountId::new(), 1, &rotated)
            .await,
        "store_tokens on a missing account"
    );
    assert_not_found!(
        store
            .set_account_status(
                ws_of(user.id),
                AccountId::new(),
                1,
                AccountStatus::Active,
                None,
                false
            )
            .await,
        "set_account_status on a missing account"
    );
}

/// The refresh sweep sees active accounts whose access token expires before the given
/// instant (strictly), soonest first, across users, up to the limit. Era: 1994.
pub async fn accounts_expiring_before_lists_active_accounts_soonest_first(store: DynStore) {
    let base = era(1994);
    let s = store.as_ref();
    let a = new_user(s).await;
    let b = new_user(s).await;
    let in10 = account_expiring(s, a.id, base + Duration::minutes(10)).await;
    let in5 = account_expiring(s, b.id, base + Duration::minutes(5)).await;
    let _later = account_expiring(s, a.id, base + Duration::minutes(30)).await;
    let broken = account_expiring(s, a.id, base + Duration::minutes(1)).await;
    set_status(
        s,
        &broken,
        AccountStatus::NeedsReconnect,
        Some("revoked"),
        false,
    )
    .await
    .expect("needs_reconnect");
    let retired = account_expiring(s, b.id, base + Duration::minutes(2)).await;
    set_status(s, &retired, AccountStatus::Active, None, true)
        .await
        .expect("clear tokens");

    let refs = |acc: &TikTokAccount| AccountRef {
        workspace_id: acc.workspace_id,
        account_id: acc.id,
    };
    assert_eq!(
        store
            .accounts_expiring_before(base + Duration::minutes(20), 10)
            .await
            .expect("expiring"),
        vec![refs(&in5), refs(&in10)]
    );
    assert_eq!(
        store
            .accounts_expiring_before(base + Duration::minutes(20), 1)
            .await
            .expect("expiring, limit 1"),
        vec![refs(&in5)]
    );
    assert_eq!(
        store
            .accounts_expiring_before(base + Duration::minutes(5), 10)
            .await
            .expect("expiring before the first expiry"),
        Vec::<AccountRef>::new(),
        "an expiry equal to the instant is not before it"
    );
}

/// Batch jobs page through every account of every user in id order, without gaps or repeats.
pub async fn accounts_after_pages_every_account_in_id_order(store: DynStore) {
    let s = store.as_ref();
    let a = new_user(s).await;
    let b = new_user(s).await;
    let mut mine = Vec::new();
    for user in [a.id, b.id, a.id, b.id, a.id] {
        mine.push(new_account(s, user).await);
    }
    let leaving = &mine[4];
    set_status(s, leaving, AccountStatus::Disconnecting, None, true)
        .await
        .expect("disconnecting");
    let mut expected: Vec<AccountId> = mine.iter().map(|acc| acc.id).collect();
    expected.sort();

    let seen = ids_in_pages(
        |after| async move { s.accounts_after(after, 2).await.expect("accounts_after") },
        |acc: &TikTokAccount| acc.id,
    )
    .await;
    assert_paged_in_id_order(
        seen,
        &expected,
        "every account, including one being disconnected",
    );
}
