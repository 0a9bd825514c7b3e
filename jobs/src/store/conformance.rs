//! The conformance suite: the behaviour every [`Store`] backend must have, written once as plain
//! async functions that take any store (like `object_store`'s `integration.rs`). Each backend's
//! test file runs every case on a fresh instance of that backend; see
//! [`store_conformance_cases!`](crate::store_conformance_cases) for the list.
//!
//! The cases panic on failure, like tests. Each one creates its own users, and the cases that
//! read across users (due posts, expiring tokens, stuck posts, expired media, users being
//! erased) place their rows
//! in a past year of their own, so [`run_all`] can also run every case on one shared store.

use super::{AccountRef, DuePost, DynStore, Store, StoreError, StuckAfter};
use crate::model::{
    AccountConnect, AccountId, AccountStatus, ApiKey, ApiKeyId, ApiKeyScope, ApiKeyScopes,
    AuditEvent, AuditEventId, Container, EncryptedTokens, GoogleProfile, Media, MediaId, Post,
    PostId, PostSettings, PostState, PrivacyLevel, TikTokAccount, TikTokProgress, UploadPlan, User,
    UserId,
};
use chrono::{DateTime, Duration, SubsecRound, TimeZone, Utc};
use std::sync::Arc;
use std::time::Duration as Ttl;
use tokio::sync::Barrier;
use uuid::Uuid;

/// Expands `$m! { case, case, … }` with the name of every case in this module, so the backends'
/// test files (one `#[tokio::test]` per case) and [`run_all`] share one list.
#[macro_export]
macro_rules! store_conformance_cases {
    ($m:ident) => {
        $m! {
            ping_answers,
            users_are_upserted_by_google_uid,
            accounts_are_created_read_listed_and_deleted,
            reconnecting_an_account_updates_it_instead_of_creating_a_twin,
            token_and_status_writes_are_compare_and_set,
            accounts_expiring_before_lists_active_accounts_soonest_first,
            accounts_after_pages_every_account_in_id_order,
            posts_are_created_read_and_deleted,
            a_used_idempotency_key_returns_the_first_post,
            rows_of_another_user_are_not_found_and_stay_unchanged,
            saving_a_post_is_compare_and_set_on_state_and_version,
            the_state_machine_is_enforced_on_every_save,
            one_of_32_racing_saves_wins,
            one_of_32_racing_transitions_wins,
            post_history_pages_newest_first_with_a_stable_cursor,
            due_posts_are_scheduled_posts_whose_time_has_come_earliest_first,
            posts_stuck_in_a_state_are_found_by_their_last_update,
            stuck_posts_page_past_full_pages_with_a_cursor,
            staged_bytes_sum_the_media_a_user_still_holds,
            media_are_created_attached_once_and_deleted,
            expired_media_are_unattached_media_past_their_deadline,
            media_are_paged_in_id_order_and_rewrapped_by_compare_and_set,
            api_keys_are_found_by_hash_and_deleted,
            audit_events_are_listed_newest_first,
            erasing_a_user_deletes_everything_it_owns,
            users_marked_for_erasure_are_listed_until_erased,
            oauth_states_are_taken_once_before_they_expire,
            leases_are_exclusive_until_they_expire_with_growing_fencing_tokens,
            api_key_scopes_are_stored_as_chosen,
            revoked_sessions_are_refused_until_they_expire,
            signing_out_everywhere_only_moves_forward_and_survives_sign_in,
        }
    };
}

/// Runs every case, one after the other, on one store.
pub async fn run_all(store: DynStore) {
    macro_rules! run_each {
        ($($case:ident),* $(,)?) => {
            $( $case(store.clone()).await; )*
        };
    }
    crate::store_conformance_cases!(run_each);
}

// ---- fixtures ----

/// Fails the case unless `$result` is an `Err` matching `$pattern`.
macro_rules! assert_err {
    ($result:expr, $pattern:pat, $($what:tt)+) => {
        match $result {
            Err($pattern) => {}
            other => panic!(
                "{}: expected Err({}), got {:?}",
                format!($($what)+),
                stringify!($pattern),
                other
            ),
        }
    };
}

/// Stores keep microseconds (see `codec::now`), so fixtures do too and compare equal.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// New-year midnight of `year`: the era of one cross-user case (see the module doc).
fn era(year: i32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0)
        .single()
        .expect("new year's midnight exists")
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", Uuid::new_v4().simple())
}

async fn new_user(store: &dyn Store) -> User {
    let uid = unique("google");
    store
        .upsert_user(&GoogleProfile {
            email: format!("{uid}@example.test"),
            google_uid: uid,
            name: "Test Creator".into(),
            picture: None,
        })
        .await
        .expect("upsert_user")
}

fn tokens(tag: &str, access_expires_at: DateTime<Utc>) -> EncryptedTokens {
    EncryptedTokens {
        access_token: format!("v1:access-{tag}"),
        refresh_token: format!("v1:refresh-{tag}"),
        access_expires_at,
        refresh_expires_at: access_expires_at + Duration::days(365),
    }
}

fn connection(open_id: &str, tokens: EncryptedTokens) -> AccountConnect {
    AccountConnect {
        id: AccountId::new(),
        open_id: open_id.to_owned(),
        union_id: Some(format!("union-{open_id}")),
        display_name: "Creator".into(),
        username: Some("creator".into()),
        avatar_url: Some("https://example.test/avatar.jpg".into()),
        scopes: vec!["user.info.basic".into(), "video.publish".into()],
        tokens,
    }
}

async fn new_account(store: &dyn Store, user: UserId) -> TikTokAccount {
    let c = connection(&unique("open"), tokens("t", now() + Duration::hours(24)));
    store
        .connect_account(user, &c)
        .await
        .expect("connect_account")
}

async fn account_expiring(store: &dyn Store, user: UserId, at: DateTime<Utc>) -> TikTokAccount {
    let c = connection(&unique("open"), tokens("t", at));
    store
        .connect_account(user, &c)
        .await
        .expect("connect_account")
}

/// A post of `user` to `account` in `state`, unscheduled, stamped now: the fixture the
/// conformance cases, the scheduler's tests and the benches build on.
pub fn post_for(user: UserId, account: AccountId, state: PostState) -> Post {
    let t = now();
    Post {
        id: PostId::new(),
        user_id: user,
        account_id: account,
        media_id: None,
        settings: PostSettings {
            title: "A caption #test".into(),
            privacy_level: PrivacyLevel::SelfOnly,
            disable_comment: false,
            disable_duet: true,
            disable_stitch: false,
            brand_content_toggle: false,
            brand_organic_toggle: false,
            is_aigc: false,
        },
        state,
        version: 1,
        scheduled_at: None,
        scheduled_tz: None,
        tiktok: TikTokProgress::default(),
        error_code: None,
        error_message: None,
        late_by_ms: None,
        idempotency_key: None,
        request_hash: None,
        media_deleted_at: None,
        published_at: None,
        created_at: t,
        updated_at: t,
    }
}

async fn create(store: &dyn Store, post: &Post) -> Post {
    let created = store.create_post(post).await.expect("create_post");
    assert!(created.created, "a post without a used key is created");
    created.value
}

async fn new_post(store: &dyn Store, user: UserId, state: PostState) -> Post {
    create(store, &post_for(user, AccountId::new(), state)).await
}

async fn scheduled_post(store: &dyn Store, user: UserId, at: DateTime<Utc>) -> Post {
    let mut p = post_for(user, AccountId::new(), PostState::Scheduled);
    p.scheduled_at = Some(at);
    p.scheduled_tz = Some("Europe/Paris".into());
    create(store, &p).await
}

async fn post_updated_at(
    store: &dyn Store,
    user: UserId,
    state: PostState,
    at: DateTime<Utc>,
) -> Post {
    let mut p = post_for(user, AccountId::new(), state);
    p.created_at = at;
    p.updated_at = at;
    create(store, &p).await
}

fn media_for(user: UserId, expires_at: DateTime<Utc>) -> Media {
    Media {
        id: MediaId::new(),
        user_id: user,
        size: 5_000_000_123,
        container: Container::Mp4,
        duration_ms: Some(59_500),
        object_key: unique("staging/object"),
        wrapped_key: "v1:wrapped-data-key".into(),
        segment_size: 1 << 20,
        post_id: None,
        created_at: now(),
        expires_at,
    }
}

async fn new_media(store: &dyn Store, user: UserId, expires_at: DateTime<Utc>) -> Media {
    let m = media_for(user, expires_at);
    store.create_media(&m).await.expect("create_media");
    m
}

fn key_for(user: UserId) -> ApiKey {
    ApiKey {
        id: ApiKeyId::new(),
        user_id: user,
        name: "agency automation".into(),
        prefix: "mkp_ab12".into(),
        hash: unique("sha256"),
        created_at: now(),
        last_used_at: None,
        // Not every scope, so that reading back proves the set was stored, not defaulted.
        scopes: ApiKeyScopes::of([ApiKeyScope::Read, ApiKeyScope::Campaigns]),
    }
}

async fn new_key(store: &dyn Store, user: UserId) -> ApiKey {
    let k = key_for(user);
    store.create_api_key(&k).await.expect("create_api_key");
    k
}

fn event_for(user: UserId, kind: &str, at: DateTime<Utc>) -> AuditEvent {
    AuditEvent {
        id: AuditEventId::new(),
        user_id: user,
        kind: kind.to_owned(),
        detail: serde_json::json!({ "account_id": AccountId::new().to_string(), "n": 1 }),
        created_at: at,
    }
}

async fn new_event(store: &dyn Store, user: UserId) -> AuditEvent {
    let e = event_for(user, "account_connected", now());
    store.record_audit(&e).await.expect("record_audit");
    e
}

fn ids(posts: &[Post]) -> Vec<PostId> {
    posts.iter().map(|p| p.id).collect()
}

fn due(post: &Post) -> DuePost {
    DuePost {
        user_id: post.user_id,
        post_id: post.id,
        scheduled_at: post.scheduled_at.expect("a scheduled post has a time"),
    }
}

// ---- cases ----

/// `ping` answers on a healthy store.
pub async fn ping_answers(store: DynStore) {
    store.ping().await.expect("ping");
}

/// Sign-in creates a user once per Google uid; later sign-ins update the profile in place.
pub async fn users_are_upserted_by_google_uid(store: DynStore) {
    let uid = unique("google");
    let profile = GoogleProfile {
        google_uid: uid.clone(),
        email: "first@example.test".into(),
        name: "First Name".into(),
        picture: None,
    };
    let first = store.upsert_user(&profile).await.expect("first sign-in");
    assert_eq!(first.google_uid, uid);
    assert_eq!(first.email, "first@example.test");
    assert_eq!(first.name, "First Name");
    assert_eq!(first.picture, None);
    assert_eq!(first.erasing_since, None, "a new user is not being erased");

    let changed = GoogleProfile {
        email: "second@example.test".into(),
        name: "Second Name".into(),
        picture: Some("https://example.test/me.png".into()),
        ..profile
    };
    let again = store.upsert_user(&changed).await.expect("second sign-in");
    assert_eq!(again.id, first.id, "the same Google uid is the same user");
    assert_eq!(again.created_at, first.created_at);
    assert!(again.updated_at >= first.updated_at);
    assert_eq!(again.email, "second@example.test");
    assert_eq!(again.name, "Second Name");
    assert_eq!(
        again.picture.as_deref(),
        Some("https://example.test/me.png")
    );

    assert_eq!(store.user(first.id).await.expect("user"), again);
    assert_eq!(
        store.user_by_google_uid(&uid).await.expect("by uid"),
        Some(again)
    );
    assert_eq!(
        store
            .user_by_google_uid(&unique("nobody"))
            .await
            .expect("by unknown uid"),
        None
    );
    assert_err!(
        store.user(UserId::new()).await,
        StoreError::NotFound,
        "an unknown user id"
    );
}

/// Accounts round-trip whole, list oldest first, and deleting one makes it `NotFound`.
pub async fn accounts_are_created_read_listed_and_deleted(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    let c = connection(&unique("open"), tokens("a", now() + Duration::hours(24)));
    let acc = store
        .connect_account(user.id, &c)
        .await
        .expect("connect_account");
    assert_eq!(acc.user_id, user.id);
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
    assert_eq!(store.account(user.id, acc.id).await.expect("account"), acc);

    let second = new_account(store.as_ref(), user.id).await;
    assert_ne!(second.id, acc.id);
    assert_eq!(
        store.list_accounts(user.id).await.expect("list"),
        vec![acc.clone(), second.clone()],
        "oldest first"
    );

    store
        .delete_account(user.id, acc.id)
        .await
        .expect("delete_account");
    assert_err!(
        store.account(user.id, acc.id).await,
        StoreError::NotFound,
        "a deleted account"
    );
    assert_eq!(
        store.list_accounts(user.id).await.expect("list"),
        vec![second]
    );
    assert_err!(
        store.delete_account(user.id, acc.id).await,
        StoreError::NotFound,
        "deleting twice"
    );
}

/// Connecting the same TikTok account again updates the row (status, tokens, profile) and
/// never creates a second one; an empty refresh token never replaces a stored one.
pub async fn reconnecting_an_account_updates_it_instead_of_creating_a_twin(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    let open_id = unique("open");
    let t0 = now();
    let first = store
        .connect_account(user.id, &connection(&open_id, tokens("one", t0)))
        .await
        .expect("first connect");
    let broken = store
        .set_account_status(
            user.id,
            first.id,
            first.version,
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
        .connect_account(user.id, &again)
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
        store.list_accounts(user.id).await.expect("list"),
        vec![re.clone()],
        "no twin"
    );

    let third = connection(&open_id, tokens("three", t0 + Duration::hours(2)));
    let re2 = store
        .connect_account(user.id, &third)
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
        .connect_account(other.id, &connection(&open_id, tokens("other", t0)))
        .await
        .expect("another user connects the same TikTok account");
    assert_ne!(theirs.id, first.id, "accounts are per user");
    assert_eq!(
        store.account(user.id, first.id).await.expect("account"),
        re2,
        "another user's connect leaves this row alone"
    );
}

/// Token and status writes are compare-and-set on the version; a stale version changes nothing.
pub async fn token_and_status_writes_are_compare_and_set(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    let acc = new_account(store.as_ref(), user.id).await;
    let t = now();

    let rotated = tokens("rotated", t + Duration::hours(24));
    let stored = store
        .store_tokens(user.id, acc.id, acc.version, &rotated)
        .await
        .expect("store_tokens");
    assert_eq!(stored.tokens.as_ref(), Some(&rotated));
    assert_eq!(stored.version, acc.version + 1);

    assert_err!(
        store
            .store_tokens(user.id, acc.id, acc.version, &tokens("late", t))
            .await,
        StoreError::StaleState,
        "store_tokens with a stale version"
    );
    assert_eq!(
        store.account(user.id, acc.id).await.expect("account"),
        stored
    );

    let mut no_refresh = tokens("access-only", t + Duration::hours(48));
    no_refresh.refresh_token = String::new();
    let kept = store
        .store_tokens(user.id, acc.id, stored.version, &no_refresh)
        .await
        .expect("store_tokens without a refresh token");
    let kept_tokens = kept.tokens.as_ref().expect("tokens");
    assert_eq!(kept_tokens.access_token, no_refresh.access_token);
    assert_eq!(kept_tokens.refresh_token, rotated.refresh_token);
    assert_eq!(kept_tokens.refresh_expires_at, rotated.refresh_expires_at);

    let flagged = store
        .set_account_status(
            user.id,
            acc.id,
            kept.version,
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
        store
            .set_account_status(
                user.id,
                acc.id,
                kept.version,
                AccountStatus::Active,
                None,
                false
            )
            .await,
        StoreError::StaleState,
        "set_account_status with a stale version"
    );
    assert_eq!(
        store.account(user.id, acc.id).await.expect("account"),
        flagged
    );

    let cleared = store
        .set_account_status(
            user.id,
            acc.id,
            flagged.version,
            AccountStatus::NeedsReconnect,
            Some("key retired"),
            true,
        )
        .await
        .expect("clear tokens");
    assert_eq!(cleared.tokens, None);
    assert!(!cleared.can_publish());

    let leaving = store
        .set_account_status(
            user.id,
            acc.id,
            cleared.version,
            AccountStatus::Disconnecting,
            None,
            true,
        )
        .await
        .expect("disconnecting");
    assert_eq!(
        store.list_accounts(user.id).await.expect("list"),
        Vec::<TikTokAccount>::new(),
        "accounts being disconnected are hidden from the list"
    );
    assert_eq!(
        store.all_accounts(user.id).await.expect("all accounts"),
        vec![leaving.clone()],
        "but listed with every account (export and erasure)"
    );
    assert_eq!(
        store.account(user.id, acc.id).await.expect("account"),
        leaving,
        "but still readable by id (the disconnect job needs it)"
    );

    assert_err!(
        store
            .store_tokens(user.id, AccountId::new(), 1, &rotated)
            .await,
        StoreError::NotFound,
        "store_tokens on a missing account"
    );
    assert_err!(
        store
            .set_account_status(
                user.id,
                AccountId::new(),
                1,
                AccountStatus::Active,
                None,
                false
            )
            .await,
        StoreError::NotFound,
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
    store
        .set_account_status(
            a.id,
            broken.id,
            broken.version,
            AccountStatus::NeedsReconnect,
            Some("revoked"),
            false,
        )
        .await
        .expect("needs_reconnect");
    let retired = account_expiring(s, b.id, base + Duration::minutes(2)).await;
    store
        .set_account_status(
            b.id,
            retired.id,
            retired.version,
            AccountStatus::Active,
            None,
            true,
        )
        .await
        .expect("clear tokens");

    let refs = |acc: &TikTokAccount| AccountRef {
        user_id: acc.user_id,
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
    store
        .set_account_status(
            a.id,
            leaving.id,
            leaving.version,
            AccountStatus::Disconnecting,
            None,
            true,
        )
        .await
        .expect("disconnecting");
    let mut expected: Vec<AccountId> = mine.iter().map(|acc| acc.id).collect();
    expected.sort();

    let mut after = None;
    let mut seen: Vec<AccountId> = Vec::new();
    loop {
        let page = store
            .accounts_after(after, 2)
            .await
            .expect("accounts_after");
        assert!(page.len() <= 2, "the limit is honoured");
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page.iter().map(|acc| acc.id));
    }
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "ids strictly increase across pages: {seen:?}"
    );
    let found: Vec<AccountId> = seen
        .into_iter()
        .filter(|id| expected.contains(id))
        .collect();
    assert_eq!(
        found, expected,
        "every account, including one being disconnected"
    );
}

/// A post round-trips whole (every field of its document too) and deleting it makes it
/// `NotFound`.
pub async fn posts_are_created_read_and_deleted(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    let t = now();
    let mut p = post_for(user.id, AccountId::new(), PostState::Processing);
    p.media_id = Some(MediaId::new());
    p.scheduled_at = Some(t + Duration::hours(3));
    p.scheduled_tz = Some("America/New_York".into());
    p.tiktok = TikTokProgress {
        publish_id: Some("v_pub_file~v2.123".into()),
        upload_url: Some("https://upload.example.test/?upload_token=secret".into()),
        upload_url_issued_at: Some(t),
        plan: Some(UploadPlan {
            video_size: 5_000_000_123,
            chunk_size: 10_000_000,
            total_chunk_count: 500,
        }),
        uploaded_bytes: 5_000_000_123,
        status: Some("PROCESSING_UPLOAD".into()),
        fail_reason: None,
        public_post_ids: vec!["7312345678901234567".into()],
        status_polls: 3,
        publish_attempts: 2,
        upload_completed_at: Some(t),
        public_id_polls: 1,
    };
    p.error_code = Some("rate_limited".into());
    p.error_message = Some("TikTok asked us to slow down.".into());
    p.late_by_ms = Some(1500);
    p.idempotency_key = Some(unique("key"));
    p.request_hash = Some("sha256:abc".into());
    p.media_deleted_at = Some(t);
    p.published_at = Some(t);
    p.settings.brand_content_toggle = true;
    p.settings.is_aigc = true;

    let created = store.create_post(&p).await.expect("create_post");
    assert!(created.created);
    assert_eq!(created.value, p);
    assert_eq!(store.post(user.id, p.id).await.expect("post"), p);

    store.delete_post(user.id, p.id).await.expect("delete_post");
    assert_err!(
        store.post(user.id, p.id).await,
        StoreError::NotFound,
        "a deleted post"
    );
    assert_err!(
        store.delete_post(user.id, p.id).await,
        StoreError::NotFound,
        "deleting twice"
    );
}

/// A create with an idempotency key this user already used returns the first post and writes
/// nothing, also when the replays race.
pub async fn a_used_idempotency_key_returns_the_first_post(store: DynStore) {
    let s = store.as_ref();
    let user = new_user(s).await;
    let key = unique("key");
    let mut first = post_for(user.id, AccountId::new(), PostState::Queued);
    first.idempotency_key = Some(key.clone());
    let first = create(s, &first).await;

    let mut replay = post_for(user.id, AccountId::new(), PostState::Scheduled);
    replay.idempotency_key = Some(key.clone());
    replay.settings.title = "a different caption".into();
    let again = store.create_post(&replay).await.expect("replay");
    assert!(!again.created, "the key was used");
    assert_eq!(again.value, first, "the first post is returned as stored");
    assert_err!(
        store.post(user.id, replay.id).await,
        StoreError::NotFound,
        "the replay wrote nothing"
    );
    assert_eq!(
        store
            .post_by_idempotency_key(user.id, &key)
            .await
            .expect("by key"),
        Some(first.clone())
    );
    assert_eq!(
        store
            .post_by_idempotency_key(user.id, &unique("key"))
            .await
            .expect("by unused key"),
        None
    );

    let other = new_user(s).await;
    let mut theirs = post_for(other.id, AccountId::new(), PostState::Queued);
    theirs.idempotency_key = Some(key.clone());
    assert!(
        store.create_post(&theirs).await.expect("create").created,
        "keys are per user"
    );

    let unkeyed = [
        post_for(user.id, AccountId::new(), PostState::Queued),
        post_for(user.id, AccountId::new(), PostState::Queued),
    ];
    for p in &unkeyed {
        assert!(
            store.create_post(p).await.expect("create").created,
            "posts without a key never collide"
        );
    }

    let raced_key = unique("key");
    let barrier = Arc::new(Barrier::new(16));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            let barrier = barrier.clone();
            let mut p = post_for(user.id, AccountId::new(), PostState::Queued);
            p.idempotency_key = Some(raced_key.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.create_post(&p).await
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("task").expect("a racing create succeeds"));
    }
    assert_eq!(
        results.iter().filter(|r| r.created).count(),
        1,
        "exactly one racing create inserts"
    );
    let winner = results[0].value.id;
    assert!(
        results.iter().all(|r| r.value.id == winner),
        "every racer gets the same post"
    );
    let page = store.list_posts(user.id, None, 100).await.expect("list");
    assert_eq!(
        page.items
            .iter()
            .filter(|p| p.idempotency_key.as_deref() == Some(raced_key.as_str()))
            .count(),
        1
    );
}

/// Another user's ids behave exactly like missing ones, for every read and write, and the
/// owner's rows stay as they were.
pub async fn rows_of_another_user_are_not_found_and_stay_unchanged(store: DynStore) {
    let s = store.as_ref();
    let a = new_user(s).await;
    let b = new_user(s).await;
    let acc = new_account(s, a.id).await;
    let mut keyed = post_for(a.id, acc.id, PostState::Queued);
    keyed.idempotency_key = Some("shared-key".into());
    let post = create(s, &keyed).await;
    let media = new_media(s, a.id, now() + Duration::hours(24)).await;
    let key = new_key(s, a.id).await;
    let event = new_event(s, a.id).await;

    assert_err!(
        s.account(b.id, acc.id).await,
        StoreError::NotFound,
        "account"
    );
    assert_err!(s.post(b.id, post.id).await, StoreError::NotFound, "post");
    assert_err!(s.media(b.id, media.id).await, StoreError::NotFound, "media");
    assert_eq!(
        s.post_by_idempotency_key(b.id, "shared-key")
            .await
            .expect("by key"),
        None
    );
    assert!(s.list_accounts(b.id).await.expect("list").is_empty());
    assert!(
        s.list_posts(b.id, None, 10)
            .await
            .expect("list")
            .items
            .is_empty()
    );
    assert!(s.list_media(b.id).await.expect("list").is_empty());
    assert!(s.list_api_keys(b.id).await.expect("list").is_empty());
    assert!(s.list_audit(b.id, 10).await.expect("list").is_empty());

    assert_err!(
        s.store_tokens(b.id, acc.id, acc.version, &tokens("b", now()))
            .await,
        StoreError::NotFound,
        "store_tokens"
    );
    assert_err!(
        s.set_account_status(
            b.id,
            acc.id,
            acc.version,
            AccountStatus::Disconnecting,
            None,
            true
        )
        .await,
        StoreError::NotFound,
        "set_account_status"
    );
    let mut forged = post.clone();
    forged.user_id = b.id;
    forged.state = PostState::Uploading;
    assert_err!(
        s.save_post(&forged, PostState::Queued).await,
        StoreError::NotFound,
        "save_post"
    );
    assert_err!(
        s.transition_post(
            b.id,
            post.id,
            PostState::Queued,
            Box::new(|p| p.state = PostState::Cancelled)
        )
        .await,
        StoreError::NotFound,
        "transition_post"
    );
    assert_err!(
        s.attach_media(b.id, media.id, PostId::new()).await,
        StoreError::NotFound,
        "attach_media"
    );
    assert_err!(
        s.delete_post(b.id, post.id).await,
        StoreError::NotFound,
        "delete_post"
    );
    assert_err!(
        s.delete_account(b.id, acc.id).await,
        StoreError::NotFound,
        "delete_account"
    );
    assert_err!(
        s.delete_media(b.id, media.id).await,
        StoreError::NotFound,
        "delete_media"
    );
    assert_err!(
        s.delete_api_key(b.id, key.id).await,
        StoreError::NotFound,
        "delete_api_key"
    );
    s.erase_user(b.id).await.expect("erase the other user");

    assert_eq!(s.account(a.id, acc.id).await.expect("account"), acc);
    assert_eq!(s.post(a.id, post.id).await.expect("post"), post);
    assert_eq!(s.media(a.id, media.id).await.expect("media"), media);
    assert_eq!(s.list_api_keys(a.id).await.expect("keys"), vec![key]);
    assert_eq!(s.list_audit(a.id, 10).await.expect("audit"), vec![event]);
    assert_eq!(s.user(a.id).await.expect("user"), a);
}

/// `save_post` writes only over the expected state and version, bumps the version and
/// `updated_at`, and tells a lost race (`StaleState`) from a missing post (`NotFound`).
pub async fn saving_a_post_is_compare_and_set_on_state_and_version(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    let p = new_post(store.as_ref(), user.id, PostState::Queued).await;

    let mut next = p.clone();
    next.state = PostState::Uploading;
    next.tiktok.publish_id = Some("v_pub_1".into());
    let saved = store
        .save_post(&next, PostState::Queued)
        .await
        .expect("save_post");
    assert_eq!(saved.state, PostState::Uploading);
    assert_eq!(saved.version, p.version + 1);
    assert_eq!(saved.tiktok.publish_id.as_deref(), Some("v_pub_1"));
    assert_eq!(saved.created_at, p.created_at);
    assert!(saved.updated_at >= p.updated_at);
    assert_eq!(store.post(user.id, p.id).await.expect("post"), saved);

    let mut late = p.clone();
    late.state = PostState::Cancelled;
    assert_err!(
        store.save_post(&late, PostState::Queued).await,
        StoreError::StaleState,
        "a save from an old snapshot"
    );
    let mut wrong_state = saved.clone();
    wrong_state.state = PostState::Uploading;
    assert_err!(
        store.save_post(&wrong_state, PostState::Queued).await,
        StoreError::StaleState,
        "the right version but the wrong expected state"
    );
    assert_err!(
        store
            .transition_post(
                user.id,
                p.id,
                PostState::Queued,
                Box::new(|p| p.state = PostState::Uploading)
            )
            .await,
        StoreError::StaleState,
        "transition_post from a state the post left"
    );
    assert_eq!(
        store.post(user.id, p.id).await.expect("post"),
        saved,
        "lost races write nothing"
    );

    let mut progress = saved.clone();
    progress.tiktok.uploaded_bytes = 1024;
    let again = store
        .save_post(&progress, PostState::Uploading)
        .await
        .expect("a save without a state change");
    assert_eq!(again.version, saved.version + 1);
    assert_eq!(again.tiktok.uploaded_bytes, 1024);
    let mut lost_update = saved.clone();
    lost_update.tiktok.uploaded_bytes = 512;
    assert_err!(
        store.save_post(&lost_update, PostState::Uploading).await,
        StoreError::StaleState,
        "the right state but a stale version"
    );
    assert_eq!(
        store.post(user.id, p.id).await.expect("post"),
        again,
        "a stale version writes nothing"
    );

    let ghost = post_for(user.id, AccountId::new(), PostState::Queued);
    assert_err!(
        store.save_post(&ghost, PostState::Queued).await,
        StoreError::NotFound,
        "saving a post that was never created"
    );
}

/// Every pair of states: allowed transitions are written, the others are refused with
/// `IllegalTransition` before anything is written.
pub async fn the_state_machine_is_enforced_on_every_save(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    for from in PostState::ALL {
        for to in PostState::ALL {
            let p = new_post(store.as_ref(), user.id, from).await;
            let mut next = p.clone();
            next.state = to;
            let result = store.save_post(&next, from).await;
            if from == to || from.can_become(to) {
                let saved = result.unwrap_or_else(|e| panic!("{from} -> {to} is allowed: {e}"));
                assert_eq!(saved.state, to);
            } else {
                match result {
                    Err(StoreError::IllegalTransition { from: f, to: t }) => {
                        assert_eq!((f, t), (from, to));
                    }
                    other => panic!("{from} -> {to} must be refused, got {other:?}"),
                }
                assert_eq!(
                    store.post(user.id, p.id).await.expect("post"),
                    p,
                    "{from} -> {to} wrote nothing"
                );
            }
        }
    }
}

/// 32 tasks save the same snapshot `queued -> uploading` at once: one wins, 31 lose with
/// `StaleState`, and the stored post is the winner's.
pub async fn one_of_32_racing_saves_wins(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    let p = new_post(store.as_ref(), user.id, PostState::Queued).await;
    let barrier = Arc::new(Barrier::new(32));
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = store.clone();
            let barrier = barrier.clone();
            let mut next = p.clone();
            next.state = PostState::Uploading;
            next.tiktok.publish_id = Some(format!("v_pub_{i}"));
            tokio::spawn(async move {
                barrier.wait().await;
                store.save_post(&next, PostState::Queued).await
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut stale = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(saved) => winners.push(saved),
            Err(StoreError::StaleState) => stale += 1,
            Err(e) => panic!("a racing save failed with {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one save wins");
    assert_eq!(stale, 31, "every other save is stale");
    let stored = store.post(user.id, p.id).await.expect("post");
    assert_eq!(stored, winners[0]);
    assert_eq!(stored.version, p.version + 1);
}

/// 32 tasks call `transition_post(queued -> uploading)` at once: one wins, 31 get `StaleState`.
pub async fn one_of_32_racing_transitions_wins(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    let p = new_post(store.as_ref(), user.id, PostState::Queued).await;
    let barrier = Arc::new(Barrier::new(32));
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = store.clone();
            let barrier = barrier.clone();
            let (user, id) = (user.id, p.id);
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .transition_post(
                        user,
                        id,
                        PostState::Queued,
                        Box::new(move |p| {
                            p.state = PostState::Uploading;
                            p.tiktok.publish_id = Some(format!("v_pub_{i}"));
                        }),
                    )
                    .await
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut stale = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(saved) => winners.push(saved),
            Err(StoreError::StaleState) => stale += 1,
            Err(e) => panic!("a racing transition failed with {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one transition wins");
    assert_eq!(stale, 31, "every other transition is stale");
    let stored = store.post(user.id, p.id).await.expect("post");
    assert_eq!(stored, winners[0]);
    assert_eq!(stored.state, PostState::Uploading);
    assert_eq!(stored.version, p.version + 1);
}

/// History pages come newest first; a cursor keeps its place while new posts arrive, so
/// pages neither repeat nor skip a post.
pub async fn post_history_pages_newest_first_with_a_stable_cursor(store: DynStore) {
    let s = store.as_ref();
    let user = new_user(s).await;
    let other = new_user(s).await;
    let mut oldest_first = Vec::new();
    for _ in 0..25 {
        oldest_first.push(new_post(s, user.id, PostState::Published).await.id);
        new_post(s, other.id, PostState::Published).await;
    }
    let newest_first: Vec<PostId> = oldest_first.iter().rev().copied().collect();

    let p1 = store.list_posts(user.id, None, 10).await.expect("page 1");
    assert_eq!(ids(&p1.items), newest_first[..10]);
    let c1 = p1.next_cursor.expect("a second page");

    let mut newer = Vec::new();
    for _ in 0..3 {
        newer.push(new_post(s, user.id, PostState::Queued).await.id);
    }

    let p2 = store
        .list_posts(user.id, Some(&c1), 10)
        .await
        .expect("page 2");
    assert_eq!(
        ids(&p2.items),
        newest_first[10..20],
        "posts created meanwhile do not shift the pages"
    );
    let c2 = p2.next_cursor.expect("a third page");
    let p3 = store
        .list_posts(user.id, Some(&c2), 10)
        .await
        .expect("page 3");
    assert_eq!(ids(&p3.items), newest_first[20..]);
    assert_eq!(p3.next_cursor, None, "the last page says so");

    let exact = store
        .list_posts(user.id, Some(&c2), 5)
        .await
        .expect("a page that ends exactly at the oldest post");
    assert_eq!(ids(&exact.items), newest_first[20..]);
    assert_eq!(exact.next_cursor, None);

    let fresh = store
        .list_posts(user.id, None, 3)
        .await
        .expect("fresh page");
    newer.reverse();
    assert_eq!(
        ids(&fresh.items),
        newer,
        "new posts lead a fresh first page"
    );

    assert_err!(
        store.list_posts(user.id, Some("not-a-cursor"), 10).await,
        StoreError::NotFound,
        "a cursor the store never issued"
    );
}

/// The scheduler's tick: scheduled posts with `scheduled_at <= now`, every user, earliest
/// first, up to the limit; nothing in another state. Era: 1991.
pub async fn due_posts_are_scheduled_posts_whose_time_has_come_earliest_first(store: DynStore) {
    let base = era(1991);
    let s = store.as_ref();
    let a = new_user(s).await;
    let b = new_user(s).await;
    let three_ago = scheduled_post(s, a.id, base - Duration::minutes(3)).await;
    let one_ago = scheduled_post(s, b.id, base - Duration::minutes(1)).await;
    let two_ago = scheduled_post(s, a.id, base - Duration::minutes(2)).await;
    let exactly_now = scheduled_post(s, b.id, base).await;
    let _future = scheduled_post(s, a.id, base + Duration::minutes(1)).await;
    let mut queued = post_for(a.id, AccountId::new(), PostState::Queued);
    queued.scheduled_at = Some(base - Duration::minutes(5));
    create(s, &queued).await;
    let mut draft = post_for(b.id, AccountId::new(), PostState::Draft);
    draft.scheduled_at = Some(base - Duration::minutes(4));
    create(s, &draft).await;

    assert_eq!(
        store.due_posts(base, 10).await.expect("due"),
        vec![
            due(&three_ago),
            due(&two_ago),
            due(&one_ago),
            due(&exactly_now)
        ]
    );
    assert_eq!(
        store.due_posts(base, 2).await.expect("due, limit 2"),
        vec![due(&three_ago), due(&two_ago)]
    );

    let mut taken = three_ago.clone();
    taken.state = PostState::Queued;
    store
        .save_post(&taken, PostState::Scheduled)
        .await
        .expect("enqueue");
    assert_eq!(
        store.due_posts(base, 10).await.expect("due after enqueue"),
        vec![due(&two_ago), due(&one_ago), due(&exactly_now)],
        "a post that left `scheduled` is no longer due"
    );
}

/// Reconciliation sees posts in one state not updated since an instant, oldest update first,
/// across users, up to the limit. Era: 1992.
pub async fn posts_stuck_in_a_state_are_found_by_their_last_update(store: DynStore) {
    let base = era(1992);
    let s = store.as_ref();
    let a = new_user(s).await;
    let b = new_user(s).await;
    let two_h = post_updated_at(s, a.id, PostState::Uploading, base - Duration::hours(2)).await;
    let three_h = post_updated_at(s, b.id, PostState::Uploading, base - Duration::hours(3)).await;
    let _fresh = post_updated_at(s, a.id, PostState::Uploading, base).await;
    let processing =
        post_updated_at(s, b.id, PostState::Processing, base - Duration::hours(5)).await;

    let cutoff = base - Duration::hours(1);
    assert_eq!(
        store
            .posts_stuck_in(PostState::Uploading, cutoff, None, 10)
            .await
            .expect("stuck"),
        vec![three_h.clone(), two_h]
    );
    assert_eq!(
        store
            .posts_stuck_in(PostState::Uploading, cutoff, None, 1)
            .await
            .expect("stuck, limit 1"),
        vec![three_h]
    );
    assert_eq!(
        store
            .posts_stuck_in(PostState::Processing, cutoff, None, 10)
            .await
            .expect("stuck processing"),
        vec![processing]
    );
}

// ---- parked posts, staging quota (the Hardening issue) ----

/// A sweep pages past the stuck posts it skips: more than a page of posts, some sharing one
/// `updated_at` across the page boundary, come back exactly once each, in (updated_at, id)
/// order, and nothing after the last page. Era: 1990, in `queued` (the query has no lower
/// bound, so it stays clear of the other cases' older `uploading` rows).
pub async fn stuck_posts_page_past_full_pages_with_a_cursor(store: DynStore) {
    let base = era(1990);
    let s = store.as_ref();
    let user = new_user(s).await;
    let mut expected = Vec::new();
    // Seven posts: four share one instant (a tie straddling the first page boundary, pages
    // of three), then three each a minute apart.
    for i in 0..7i64 {
        let at = base - Duration::hours(2) + Duration::minutes((i - 3).max(0));
        expected.push(post_updated_at(s, user.id, PostState::Queued, at).await);
    }
    let _fresh = post_updated_at(s, user.id, PostState::Queued, base).await;
    expected.sort_by_key(|p| (p.updated_at, p.id.0));
    let cutoff = base - Duration::hours(1);

    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = s
            .posts_stuck_in(PostState::Queued, cutoff, after, 3)
            .await
            .expect("page");
        pages += 1;
        assert!(pages <= 4, "paging must end");
        let Some(last) = page.last() else { break };
        after = Some(StuckAfter::of(last));
        let full = page.len() == 3;
        seen.extend(page);
        if !full {
            break;
        }
    }
    assert_eq!(
        seen, expected,
        "every stuck post once, in (updated_at, id) order"
    );
    assert_eq!(
        s.posts_stuck_in(
            PostState::Queued,
            cutoff,
            Some(StuckAfter::of(expected.last().expect("posts"))),
            3
        )
        .await
        .expect("after the last"),
        vec![],
        "nothing after the last stuck post (the fresh one is not stuck)"
    );
}

/// `staged_bytes` is the sum of the user's media rows, attached or not, and forgets deleted
/// ones and other users' media.
pub async fn staged_bytes_sum_the_media_a_user_still_holds(store: DynStore) {
    let s = store.as_ref();
    let user = new_user(s).await;
    let other = new_user(s).await;
    assert_eq!(s.staged_bytes(user.id).await.expect("empty"), 0);
    let a = new_media(s, user.id, now() + Duration::hours(24)).await;
    let b = new_media(s, user.id, now() + Duration::hours(24)).await;
    let _theirs = new_media(s, other.id, now() + Duration::hours(24)).await;
    let post = create(
        s,
        &post_for(user.id, AccountId::new(), PostState::Scheduled),
    )
    .await;
    s.attach_media(user.id, b.id, post.id)
        .await
        .expect("attach");
    assert_eq!(
        s.staged_bytes(user.id).await.expect("two"),
        a.size + b.size,
        "attached media count too"
    );
    s.delete_media(user.id, a.id).await.expect("delete");
    assert_eq!(s.staged_bytes(user.id).await.expect("one"), b.size);
}

/// Media round-trip, attach to one post only (again to the same post is fine), and delete.
pub async fn media_are_created_attached_once_and_deleted(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    let m = new_media(store.as_ref(), user.id, now() + Duration::hours(24)).await;
    assert_eq!(store.media(user.id, m.id).await.expect("media"), m);
    assert_eq!(
        store.list_media(user.id).await.expect("list"),
        vec![m.clone()]
    );
    assert_err!(
        store.create_media(&m).await,
        StoreError::Conflict(_),
        "creating the same media twice"
    );

    let post = PostId::new();
    let attached = store
        .attach_media(user.id, m.id, post)
        .await
        .expect("attach");
    assert_eq!(attached.post_id, Some(post));
    assert_eq!(
        store
            .attach_media(user.id, m.id, post)
            .await
            .expect("attach again to the same post"),
        attached
    );
    assert_err!(
        store.attach_media(user.id, m.id, PostId::new()).await,
        StoreError::StaleState,
        "attaching to a second post"
    );
    assert_eq!(store.media(user.id, m.id).await.expect("media"), attached);
    assert_err!(
        store.attach_media(user.id, MediaId::new(), post).await,
        StoreError::NotFound,
        "attaching missing media"
    );

    store.delete_media(user.id, m.id).await.expect("delete");
    assert_err!(
        store.media(user.id, m.id).await,
        StoreError::NotFound,
        "deleted media"
    );
    assert_err!(
        store.delete_media(user.id, m.id).await,
        StoreError::NotFound,
        "deleting twice"
    );
    assert!(store.list_media(user.id).await.expect("list").is_empty());
}

/// The staging sweeper sees unattached media whose deadline has come, earliest first, across
/// users, up to the limit. Era: 1993.
pub async fn expired_media_are_unattached_media_past_their_deadline(store: DynStore) {
    let base = era(1993);
    let s = store.as_ref();
    let a = new_user(s).await;
    let b = new_user(s).await;
    let two_h = new_media(s, a.id, base - Duration::hours(2)).await;
    let one_h = new_media(s, b.id, base - Duration::hours(1)).await;
    let at_deadline = new_media(s, a.id, base).await;
    let _future = new_media(s, b.id, base + Duration::hours(1)).await;
    let attached = new_media(s, a.id, base - Duration::hours(3)).await;
    store
        .attach_media(a.id, attached.id, PostId::new())
        .await
        .expect("attach");

    assert_eq!(
        store.expired_media(base, 10).await.expect("expired"),
        vec![two_h.clone(), one_h, at_deadline]
    );
    assert_eq!(
        store
            .expired_media(base, 1)
            .await
            .expect("expired, limit 1"),
        vec![two_h]
    );
}

/// Key rotation pages through every media of every user in id order and re-wraps each data key
/// by compare-and-set on the old wrapped key, leaving every other field as it was.
pub async fn media_are_paged_in_id_order_and_rewrapped_by_compare_and_set(store: DynStore) {
    let s = store.as_ref();
    let a = new_user(s).await;
    let b = new_user(s).await;
    let mut mine = Vec::new();
    for user in [a.id, b.id, a.id, b.id, a.id] {
        mine.push(new_media(s, user, now() + Duration::hours(1)).await);
    }
    store
        .attach_media(a.id, mine[0].id, PostId::new())
        .await
        .expect("attach");
    let mut expected: Vec<MediaId> = mine.iter().map(|m| m.id).collect();
    expected.sort();
    let mut after = None;
    let mut seen: Vec<MediaId> = Vec::new();
    loop {
        let page = store.media_after(after, 2).await.expect("media_after");
        assert!(page.len() <= 2, "the limit is honoured");
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page.iter().map(|m| m.id));
    }
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "ids strictly increase across pages: {seen:?}"
    );
    let found: Vec<MediaId> = seen
        .into_iter()
        .filter(|id| expected.contains(id))
        .collect();
    assert_eq!(found, expected, "every media, attached or not");

    let m = store.media(a.id, mine[0].id).await.expect("media");
    let rewrapped = store
        .rewrap_media_key(a.id, m.id, &m.wrapped_key, "v2:rewrapped-data-key")
        .await
        .expect("rewrap");
    let mut want = m.clone();
    want.wrapped_key = "v2:rewrapped-data-key".into();
    assert_eq!(rewrapped, want, "only the wrapped key changes");
    assert_eq!(store.media(a.id, m.id).await.expect("media"), want);
    assert_err!(
        store
            .rewrap_media_key(a.id, m.id, &m.wrapped_key, "v3:late")
            .await,
        StoreError::StaleState,
        "a re-wrap based on the old key loses"
    );
    assert_err!(
        store
            .rewrap_media_key(b.id, m.id, "v2:rewrapped-data-key", "v3:x")
            .await,
        StoreError::NotFound,
        "another user's media"
    );
    assert_err!(
        store
            .rewrap_media_key(a.id, MediaId::new(), "v1:wrapped-data-key", "v3:x")
            .await,
        StoreError::NotFound,
        "a missing media"
    );
    assert_eq!(store.media(a.id, m.id).await.expect("media"), want);
}

/// API keys: listed per user, found by hash (unique), touched, and deleted.
pub async fn api_keys_are_found_by_hash_and_deleted(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    let key = new_key(store.as_ref(), user.id).await;
    assert_eq!(
        store.list_api_keys(user.id).await.expect("list"),
        vec![key.clone()]
    );
    assert_eq!(
        store.api_key_by_hash(&key.hash).await.expect("by hash"),
        Some(key.clone())
    );
    assert_eq!(
        store
            .api_key_by_hash(&unique("sha256"))
            .await
            .expect("unknown hash"),
        None
    );

    let mut twin = key_for(user.id);
    twin.hash = key.hash.clone();
    assert_err!(
        store.create_api_key(&twin).await,
        StoreError::Conflict(_),
        "a second key with the same hash"
    );

    let used = now();
    store
        .touch_api_key(key.id, used)
        .await
        .expect("touch_api_key");
    let touched = store
        .api_key_by_hash(&key.hash)
        .await
        .expect("by hash")
        .expect("still there");
    assert_eq!(touched.last_used_at, Some(used));
    assert_err!(
        store.touch_api_key(ApiKeyId::new(), used).await,
        StoreError::NotFound,
        "touching a missing key"
    );

    store
        .delete_api_key(user.id, key.id)
        .await
        .expect("delete_api_key");
    assert!(store.list_api_keys(user.id).await.expect("list").is_empty());
    assert_eq!(
        store.api_key_by_hash(&key.hash).await.expect("by hash"),
        None
    );
    assert_err!(
        store.delete_api_key(user.id, key.id).await,
        StoreError::NotFound,
        "deleting twice"
    );
}

/// Audit events come back whole, newest first, up to the limit, for their user only.
pub async fn audit_events_are_listed_newest_first(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    let other = new_user(store.as_ref()).await;
    let t0 = now();
    let mut events = Vec::new();
    for i in 0..5 {
        let e = event_for(user.id, "post_published", t0 + Duration::seconds(i));
        store.record_audit(&e).await.expect("record_audit");
        events.push(e);
    }
    events.reverse();
    assert_eq!(
        store.list_audit(user.id, 3).await.expect("audit"),
        events[..3]
    );
    assert_eq!(store.list_audit(user.id, 10).await.expect("audit"), events);
    assert!(
        store
            .list_audit(other.id, 10)
            .await
            .expect("audit")
            .is_empty()
    );
}

/// Erasure deletes every row the user owns, in every table, and nothing of anyone else;
/// erasing twice is fine. Era: 1995.
pub async fn erasing_a_user_deletes_everything_it_owns(store: DynStore) {
    let base = era(1995);
    let s = store.as_ref();

    struct Owned {
        user: User,
        account: TikTokAccount,
        due: Post,
        stuck: Post,
        keyed: Post,
        media: Media,
        key: ApiKey,
        event: AuditEvent,
        oauth_state: String,
    }
    async fn fill(s: &dyn Store, base: DateTime<Utc>) -> Owned {
        let user = new_user(s).await;
        let account = account_expiring(s, user.id, base + Duration::minutes(1)).await;
        let due = scheduled_post(s, user.id, base - Duration::minutes(1)).await;
        let stuck =
            post_updated_at(s, user.id, PostState::Uploading, base - Duration::hours(2)).await;
        let mut keyed = post_for(user.id, account.id, PostState::Queued);
        keyed.idempotency_key = Some("erase-me".into());
        let keyed = create(s, &keyed).await;
        let media = new_media(s, user.id, base - Duration::hours(1)).await;
        let key = new_key(s, user.id).await;
        let event = new_event(s, user.id).await;
        let oauth_state = unique("state");
        s.put_oauth_state(&oauth_state, user.id, now() + Duration::minutes(10))
            .await
            .expect("put_oauth_state");
        Owned {
            user,
            account,
            due,
            stuck,
            keyed,
            media,
            key,
            event,
            oauth_state,
        }
    }
    let gone = fill(s, base).await;
    let kept = fill(s, base).await;

    store.erase_user(gone.user.id).await.expect("erase_user");

    let g = &gone;
    assert_err!(s.user(g.user.id).await, StoreError::NotFound, "erased user");
    assert_eq!(
        s.user_by_google_uid(&g.user.google_uid)
            .await
            .expect("by uid"),
        None
    );
    assert_err!(
        s.account(g.user.id, g.account.id).await,
        StoreError::NotFound,
        "erased account"
    );
    for p in [&g.due, &g.stuck, &g.keyed] {
        assert_err!(
            s.post(g.user.id, p.id).await,
            StoreError::NotFound,
            "erased post"
        );
    }
    assert_err!(
        s.media(g.user.id, g.media.id).await,
        StoreError::NotFound,
        "erased media"
    );
    assert!(s.list_accounts(g.user.id).await.expect("list").is_empty());
    assert!(
        s.list_posts(g.user.id, None, 10)
            .await
            .expect("list")
            .items
            .is_empty()
    );
    assert!(s.list_media(g.user.id).await.expect("list").is_empty());
    assert!(s.list_api_keys(g.user.id).await.expect("list").is_empty());
    assert!(s.list_audit(g.user.id, 10).await.expect("list").is_empty());
    assert_eq!(s.api_key_by_hash(&g.key.hash).await.expect("by hash"), None);
    assert_eq!(
        s.take_oauth_state(&g.oauth_state, now())
            .await
            .expect("take"),
        None
    );

    let due_users: Vec<UserId> = s
        .due_posts(base, 100)
        .await
        .expect("due")
        .iter()
        .map(|d| d.user_id)
        .collect();
    assert!(!due_users.contains(&g.user.id) && due_users.contains(&kept.user.id));
    let expiring: Vec<UserId> = s
        .accounts_expiring_before(base + Duration::hours(1), 100)
        .await
        .expect("expiring")
        .iter()
        .map(|r| r.user_id)
        .collect();
    assert!(!expiring.contains(&g.user.id) && expiring.contains(&kept.user.id));
    let stuck: Vec<UserId> = s
        .posts_stuck_in(PostState::Uploading, base - Duration::hours(1), None, 100)
        .await
        .expect("stuck")
        .iter()
        .map(|p| p.user_id)
        .collect();
    assert!(!stuck.contains(&g.user.id) && stuck.contains(&kept.user.id));
    let expired: Vec<UserId> = s
        .expired_media(base, 100)
        .await
        .expect("expired")
        .iter()
        .map(|m| m.user_id)
        .collect();
    assert!(!expired.contains(&g.user.id) && expired.contains(&kept.user.id));
    let mut after = None;
    loop {
        let page = s.accounts_after(after, 50).await.expect("accounts_after");
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        assert!(page.iter().all(|acc| acc.user_id != g.user.id));
    }

    let k = &kept;
    assert_eq!(s.user(k.user.id).await.expect("user"), k.user);
    assert_eq!(
        s.account(k.user.id, k.account.id).await.expect("account"),
        k.account
    );
    for p in [&k.due, &k.stuck, &k.keyed] {
        assert_eq!(&s.post(k.user.id, p.id).await.expect("post"), p);
    }
    assert_eq!(
        s.media(k.user.id, k.media.id).await.expect("media"),
        k.media
    );
    assert_eq!(
        s.list_api_keys(k.user.id).await.expect("keys"),
        vec![k.key.clone()]
    );
    assert_eq!(
        s.list_audit(k.user.id, 10).await.expect("audit"),
        vec![k.event.clone()]
    );
    assert_eq!(
        s.take_oauth_state(&k.oauth_state, now())
            .await
            .expect("take"),
        Some(k.user.id)
    );

    store.erase_user(gone.user.id).await.expect("erasing twice");
    let back = new_user_with_uid(s, &g.user.google_uid).await;
    assert_ne!(back.id, g.user.id, "signing in again starts a new user");
}

/// Asking for erasure marks the user first: the mark keeps its first instant through later
/// marks and sign-ins, and the sweep lists marked users of every user, oldest mark first, at or
/// before an instant, up to the limit, until erasure deletes them. Era: 1996.
pub async fn users_marked_for_erasure_are_listed_until_erased(store: DynStore) {
    let base = era(1996);
    let at = |minutes: i64| base + Duration::minutes(minutes);
    let s = store.as_ref();
    let a = new_user(s).await;
    let b = new_user(s).await;
    let c = new_user(s).await;
    let unmarked = new_user(s).await;

    let marked = s.mark_user_erasing(a.id, at(2)).await.expect("mark");
    assert_eq!(marked.erasing_since, Some(at(2)));
    assert_eq!(
        (
            &marked.google_uid,
            &marked.email,
            &marked.name,
            &marked.picture
        ),
        (&a.google_uid, &a.email, &a.name, &a.picture),
        "marking changes nothing of the profile"
    );
    assert_eq!((marked.id, marked.created_at), (a.id, a.created_at));
    assert!(marked.updated_at >= a.updated_at);
    assert_eq!(s.user(a.id).await.expect("user"), marked);

    let again = s.mark_user_erasing(a.id, at(10)).await.expect("mark again");
    assert_eq!(again, marked, "a second mark keeps the first instant");
    assert_eq!(s.user(a.id).await.expect("user"), marked);

    let signed_in = s
        .upsert_user(&GoogleProfile {
            google_uid: a.google_uid.clone(),
            email: "back-again@example.test".into(),
            name: "Back Again".into(),
            picture: None,
        })
        .await
        .expect("sign in again");
    assert_eq!(signed_in.id, a.id);
    assert_eq!(signed_in.email, "back-again@example.test");
    assert_eq!(
        signed_in.erasing_since,
        Some(at(2)),
        "signing in again keeps the mark"
    );
    assert_eq!(s.user(a.id).await.expect("user"), signed_in);
    assert_eq!(
        s.user_by_google_uid(&a.google_uid).await.expect("by uid"),
        Some(signed_in)
    );

    s.mark_user_erasing(b.id, at(1)).await.expect("mark b");
    s.mark_user_erasing(c.id, at(3)).await.expect("mark c");
    assert_eq!(
        s.user(unmarked.id).await.expect("user").erasing_since,
        None,
        "marks are per user"
    );

    let erasing = |before: DateTime<Utc>, limit: u32| async move {
        s.users_erasing_before(before, limit)
            .await
            .expect("users_erasing_before")
    };
    assert_eq!(erasing(at(3), 10).await, vec![b.id, a.id, c.id]);
    assert_eq!(erasing(at(3), 2).await, vec![b.id, a.id], "up to the limit");
    assert_eq!(
        erasing(at(2), 10).await,
        vec![b.id, a.id],
        "a mark at the instant is listed, a later one is not"
    );
    assert_eq!(erasing(at(0), 10).await, Vec::<UserId>::new());

    s.erase_user(b.id).await.expect("erase b");
    assert_eq!(
        erasing(at(3), 10).await,
        vec![a.id, c.id],
        "erased: no longer listed"
    );
    assert_err!(s.user(b.id).await, StoreError::NotFound, "erased user");
    assert_err!(
        s.mark_user_erasing(b.id, at(4)).await,
        StoreError::NotFound,
        "marking an erased user"
    );
    assert_err!(
        s.mark_user_erasing(UserId::new(), at(4)).await,
        StoreError::NotFound,
        "marking an unknown user"
    );

    s.erase_user(a.id).await.expect("erase a");
    s.erase_user(c.id).await.expect("erase c");
    assert_eq!(erasing(at(60), 10).await, Vec::<UserId>::new());
    assert_eq!(
        s.user(unmarked.id).await.expect("user"),
        unmarked,
        "erasing others leaves an unmarked user alone"
    );
}

async fn new_user_with_uid(store: &dyn Store, uid: &str) -> User {
    store
        .upsert_user(&GoogleProfile {
            google_uid: uid.to_owned(),
            email: format!("{uid}@example.test"),
            name: "Returning Creator".into(),
            picture: None,
        })
        .await
        .expect("upsert_user")
}

/// An OAuth `state` answers its user once, only before it expires; of racing takers exactly
/// one gets it.
pub async fn oauth_states_are_taken_once_before_they_expire(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    let t = now();

    let state = unique("state");
    store
        .put_oauth_state(&state, user.id, t + Duration::minutes(10))
        .await
        .expect("put_oauth_state");
    assert_eq!(
        store.take_oauth_state(&state, t).await.expect("take"),
        Some(user.id)
    );
    assert_eq!(
        store.take_oauth_state(&state, t).await.expect("take again"),
        None,
        "a state is single-use"
    );

    let late = unique("state");
    store
        .put_oauth_state(&late, user.id, t + Duration::minutes(1))
        .await
        .expect("put_oauth_state");
    assert_eq!(
        store
            .take_oauth_state(&late, t + Duration::minutes(2))
            .await
            .expect("take after expiry"),
        None,
        "an expired state is refused"
    );
    assert_eq!(
        store
            .take_oauth_state(&unique("state"), t)
            .await
            .expect("take unknown"),
        None
    );

    let raced = unique("state");
    store
        .put_oauth_state(&raced, user.id, t + Duration::minutes(10))
        .await
        .expect("put_oauth_state");
    let barrier = Arc::new(Barrier::new(16));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            let barrier = barrier.clone();
            let raced = raced.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                store.take_oauth_state(&raced, t).await
            })
        })
        .collect();
    let mut taken = 0;
    for task in tasks {
        if task.await.expect("task").expect("take").is_some() {
            taken += 1;
        }
    }
    assert_eq!(taken, 1, "exactly one racing taker gets the state");
}

/// A lease is held by one holder until it expires or is released; every acquisition of a name
/// gets a larger fencing token; renewing needs the lease still held.
pub async fn leases_are_exclusive_until_they_expire_with_growing_fencing_tokens(store: DynStore) {
    let name = unique("lease");
    let ttl = Ttl::from_secs(30);
    let t = now();
    let at = |secs: i64| t + Duration::seconds(secs);

    let first = store
        .acquire_lease(&name, "a", ttl, at(0))
        .await
        .expect("acquire")
        .expect("a free lease is taken");
    assert_eq!(
        store
            .acquire_lease(&name, "b", ttl, at(10))
            .await
            .expect("acquire"),
        None,
        "a held lease is refused"
    );
    assert!(
        store
            .renew_lease(&name, "a", ttl, at(20))
            .await
            .expect("renew")
    );
    assert_eq!(
        store
            .acquire_lease(&name, "b", ttl, at(40))
            .await
            .expect("acquire"),
        None,
        "renewing extended the lease to 50 s"
    );
    assert!(
        !store
            .renew_lease(&name, "b", ttl, at(40))
            .await
            .expect("renew"),
        "only the holder renews"
    );

    let second = store
        .acquire_lease(&name, "b", ttl, at(60))
        .await
        .expect("acquire")
        .expect("an expired lease is taken");
    assert!(second > first, "fencing tokens grow: {first} then {second}");
    assert!(
        !store
            .renew_lease(&name, "a", ttl, at(61))
            .await
            .expect("renew"),
        "a lease taken over is lost"
    );

    store
        .release_lease(&name, "a")
        .await
        .expect("release by a non-holder");
    assert_eq!(
        store
            .acquire_lease(&name, "c", ttl, at(62))
            .await
            .expect("acquire"),
        None,
        "releasing someone else's lease does nothing"
    );
    store.release_lease(&name, "b").await.expect("release");
    let third = store
        .acquire_lease(&name, "c", ttl, at(62))
        .await
        .expect("acquire")
        .expect("a released lease is free");
    assert!(
        third > second,
        "fencing tokens survive a release: {second} then {third}"
    );

    assert!(
        store
            .acquire_lease(&unique("lease"), "a", ttl, at(62))
            .await
            .expect("acquire")
            .is_some(),
        "names are independent"
    );

    let raced = unique("lease");
    let barrier = Arc::new(Barrier::new(16));
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            let barrier = barrier.clone();
            let raced = raced.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .acquire_lease(&raced, &format!("holder-{i}"), ttl, t)
                    .await
            })
        })
        .collect();
    let mut holders = 0;
    for task in tasks {
        if task.await.expect("task").expect("acquire").is_some() {
            holders += 1;
        }
    }
    assert_eq!(holders, 1, "exactly one racing acquirer holds the lease");
}

// ---- sessions and API key scopes (who may act as whom) ----

/// A key's scopes come back exactly as chosen, through every read (list, by hash).
pub async fn api_key_scopes_are_stored_as_chosen(store: DynStore) {
    let user = new_user(store.as_ref()).await;
    for scopes in [
        ApiKeyScopes::of([ApiKeyScope::Publish]),
        ApiKeyScopes::of([ApiKeyScope::Accounts, ApiKeyScope::Read]),
        ApiKeyScopes::of(ApiKeyScope::ALL),
    ] {
        let mut key = key_for(user.id);
        key.scopes = scopes.clone();
        store.create_api_key(&key).await.expect("create_api_key");
        let found = store
            .api_key_by_hash(&key.hash)
            .await
            .expect("by hash")
            .expect("found");
        assert_eq!(found.scopes, scopes);
        assert_eq!(found, key);
    }
    let listed = store.list_api_keys(user.id).await.expect("list");
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0].scopes, ApiKeyScopes::of([ApiKeyScope::Publish]));
}

/// A signed-out cookie (by its hash) is refused until its own expiry, and only that cookie.
pub async fn revoked_sessions_are_refused_until_they_expire(store: DynStore) {
    let t = now();
    let ended = unique("jwt-sha256");
    let other = unique("jwt-sha256");
    assert!(!store.session_revoked(&ended, t).await.expect("unknown"));

    store
        .revoke_session(&ended, t + Duration::hours(1))
        .await
        .expect("revoke_session");
    assert!(store.session_revoked(&ended, t).await.expect("revoked"));
    assert!(
        !store.session_revoked(&other, t).await.expect("another"),
        "only that cookie is refused"
    );
    assert!(
        !store
            .session_revoked(&ended, t + Duration::hours(2))
            .await
            .expect("after expiry"),
        "past its expiry the entry no longer counts (the cookie itself is expired)"
    );

    // Revoking again (a second sign-out click) is harmless and never shortens the entry.
    store
        .revoke_session(&ended, t + Duration::minutes(5))
        .await
        .expect("revoke again, earlier");
    assert!(
        store
            .session_revoked(&ended, t + Duration::minutes(30))
            .await
            .expect("still revoked")
    );
    store
        .revoke_session(&ended, t + Duration::hours(3))
        .await
        .expect("revoke again, later");
    assert!(
        store
            .session_revoked(&ended, t + Duration::hours(2))
            .await
            .expect("the later expiry counts")
    );

    // An entry that expired already is swept by the next revocation, and is not revoked.
    let stale = unique("jwt-sha256");
    store
        .revoke_session(&stale, t - Duration::minutes(1))
        .await
        .expect("revoke an expired cookie");
    store
        .revoke_session(&other, t + Duration::hours(1))
        .await
        .expect("revoke another");
    assert!(!store.session_revoked(&stale, t).await.expect("stale"));
    assert!(store.session_revoked(&other, t).await.expect("other"));
}

/// "Sign out everywhere" stores its instant on the user, only ever moving it forward, and a
/// later sign-in (an upsert) keeps it.
pub async fn signing_out_everywhere_only_moves_forward_and_survives_sign_in(store: DynStore) {
    let s = store.as_ref();
    let user = new_user(s).await;
    assert_eq!(user.sessions_revoked_at, None);
    assert_eq!(user.sessions_valid_from(), user.created_at.timestamp());

    let t = now() + Duration::minutes(1);
    let revoked = s.revoke_user_sessions(user.id, t).await.expect("revoke");
    assert_eq!(revoked.sessions_revoked_at, Some(t));
    assert_eq!(
        (
            &revoked.google_uid,
            &revoked.email,
            revoked.created_at,
            revoked.erasing_since
        ),
        (
            &user.google_uid,
            &user.email,
            user.created_at,
            user.erasing_since
        ),
        "nothing else changes"
    );
    assert!(revoked.sessions_valid_from() > user.created_at.timestamp());
    assert_eq!(s.user(user.id).await.expect("user"), revoked);

    let earlier = s
        .revoke_user_sessions(user.id, t - Duration::minutes(5))
        .await
        .expect("revoke with an earlier instant");
    assert_eq!(earlier.sessions_revoked_at, Some(t), "it never moves back");
    let later = s
        .revoke_user_sessions(user.id, t + Duration::minutes(5))
        .await
        .expect("revoke again later");
    assert_eq!(later.sessions_revoked_at, Some(t + Duration::minutes(5)));

    let signed_in = s
        .upsert_user(&GoogleProfile {
            google_uid: user.google_uid.clone(),
            email: "new-address@example.test".into(),
            name: "Renamed".into(),
            picture: None,
        })
        .await
        .expect("sign in again");
    assert_eq!(signed_in.id, user.id);
    assert_eq!(
        signed_in.sessions_revoked_at,
        Some(t + Duration::minutes(5)),
        "signing in keeps the mark"
    );
    assert_eq!(
        s.user_by_google_uid(&user.google_uid)
            .await
            .expect("by uid")
            .expect("found")
            .sessions_revoked_at,
        Some(t + Duration::minutes(5))
    );

    assert_err!(
        s.revoke_user_sessions(UserId::new(), t).await,
        StoreError::NotFound,
        "an unknown user"
    );
}
