//! What the cases share: rows built with every field set (so reading back proves each one is
//! stored), fixed eras for the cross-user cases, and races of many tasks started together.

use crate::model::{
    AccountConnect, AccountId, AccountStatus, ApiKey, ApiKeyId, ApiKeyScope, ApiKeyScopes,
    AuditEvent, AuditEventId, Container, EncryptedTokens, GoogleProfile, Media, MediaId, Post,
    PostId, PostMode, PostSettings, PostSource, PostState, PrivacyLevel, TikTokAccount,
    TikTokProgress, User, UserId, Workspace, WorkspaceId,
};
use crate::store::{DuePost, DynStore, Store, StoreError};
use chrono::{DateTime, Duration, SubsecRound, TimeZone, Utc};
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::Barrier;
use uuid::Uuid;

/// The personal workspace of `user` (its id is the user's): where the cases keep a user's rows.
pub fn ws_of(user: UserId) -> WorkspaceId {
    Workspace::personal_id(user)
}

/// Stores keep microseconds (see `codec::now`), so fixtures do too and compare equal.
pub(super) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// New-year midnight of `year`: the era of one cross-user case (see the module doc).
pub(super) fn era(year: i32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0)
        .single()
        .expect("new year's midnight exists")
}

pub(super) fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", Uuid::new_v4().simple())
}

pub(super) fn tokens(tag: &str, access_expires_at: DateTime<Utc>) -> EncryptedTokens {
    EncryptedTokens {
        access_token: format!("v1:access-{tag}"),
        refresh_token: format!("v1:refresh-{tag}"),
        access_expires_at,
        refresh_expires_at: access_expires_at + Duration::days(365),
    }
}

pub(super) fn connection(open_id: &str, tokens: EncryptedTokens) -> AccountConnect {
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

pub(super) async fn new_account(store: &dyn Store, user: UserId) -> TikTokAccount {
    let c = connection(&unique("open"), tokens("t", now() + Duration::hours(24)));
    store
        .connect_account(ws_of(user), user, &c)
        .await
        .expect("connect_account")
}

pub(super) async fn account_expiring(
    store: &dyn Store,
    user: UserId,
    at: DateTime<Utc>,
) -> TikTokAccount {
    let c = connection(&unique("open"), tokens("t", at));
    store
        .connect_account(ws_of(user), user, &c)
        .await
        .expect("connect_account")
}

/// A post by `user` in their personal workspace to `account` in `state`, unscheduled, stamped now: the fixture the
/// conformance cases, the scheduler's tests and the benches build on.
pub fn post_for(user: UserId, account: AccountId, state: PostState) -> Post {
    let t = now();
    Post {
        id: PostId::new(),
        workspace_id: ws_of(user),
        created_by: Some(user),
        account_id: account,
        media_id: None,
        source: PostSource::Staged,
        mode: PostMode::Direct,
        settings: PostSettings {
            title: "A caption #test".into(),
            privacy_level: PrivacyLevel::SelfOnly,
            disable_comment: false,
            disable_duet: true,
            disable_stitch: false,
            brand_content_toggle: false,
            brand_organic_toggle: false,
            is_aigc: false,
            video_cover_timestamp_ms: None,
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
        group: None,
        published_at: None,
        created_at: t,
        updated_at: t,
    }
}

pub(super) async fn create(store: &dyn Store, post: &Post) -> Post {
    let created = store.create_post(post).await.expect("create_post");
    assert!(created.created, "a post without a used key is created");
    created.value
}

pub(super) async fn new_post(store: &dyn Store, user: UserId, state: PostState) -> Post {
    create(store, &post_for(user, AccountId::new(), state)).await
}

pub(super) async fn scheduled_post(store: &dyn Store, user: UserId, at: DateTime<Utc>) -> Post {
    let mut p = post_for(user, AccountId::new(), PostState::Scheduled);
    p.scheduled_at = Some(at);
    p.scheduled_tz = Some("Europe/Paris".into());
    create(store, &p).await
}

pub(super) async fn post_updated_at(
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

pub(super) fn media_for(user: UserId, expires_at: DateTime<Utc>) -> Media {
    Media {
        id: MediaId::new(),
        workspace_id: ws_of(user),
        created_by: Some(user),
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

pub(super) async fn new_media(store: &dyn Store, user: UserId, expires_at: DateTime<Utc>) -> Media {
    let m = media_for(user, expires_at);
    store.create_media(&m).await.expect("create_media");
    m
}

pub(super) fn key_for(user: UserId) -> ApiKey {
    ApiKey {
        id: ApiKeyId::new(),
        workspace_id: ws_of(user),
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

pub(super) async fn new_key(store: &dyn Store, user: UserId) -> ApiKey {
    let k = key_for(user);
    store.create_api_key(&k).await.expect("create_api_key");
    k
}

pub(super) fn event_for(user: UserId, kind: &str, at: DateTime<Utc>) -> AuditEvent {
    AuditEvent {
        id: AuditEventId::new(),
        workspace_id: ws_of(user),
        actor_id: Some(user),
        kind: kind.to_owned(),
        detail: serde_json::json!({ "account_id": AccountId::new().to_string(), "n": 1 }),
        created_at: at,
    }
}

pub(super) async fn new_event(store: &dyn Store, user: UserId) -> AuditEvent {
    let e = event_for(user, "account_connected", now());
    store.record_audit(&e).await.expect("record_audit");
    e
}

pub(super) fn ids(posts: &[Post]) -> Vec<PostId> {
    posts.iter().map(|p| p.id).collect()
}

pub(super) fn due(post: &Post) -> DuePost {
    DuePost {
        workspace_id: post.workspace_id,
        post_id: post.id,
        scheduled_at: post.scheduled_at.expect("a scheduled post has a time"),
    }
}

/// A Google profile without a picture.
pub(super) fn profile(google_uid: &str, email: String, name: &str) -> GoogleProfile {
    GoogleProfile {
        google_uid: google_uid.to_owned(),
        email,
        name: name.to_owned(),
        picture: None,
    }
}

/// Signs in (creating the user the first time) as `uid`, named `name`.
pub(super) async fn user_with_uid(store: &dyn Store, uid: &str, name: &str) -> User {
    store
        .upsert_user(&profile(uid, format!("{uid}@example.test"), name))
        .await
        .expect("upsert_user")
}

pub(super) async fn new_user(store: &dyn Store) -> User {
    user_with_uid(store, &unique("google"), "Test Creator").await
}

/// `set_account_status` on `acc` as read (its owner, id and version).
pub(super) async fn set_status(
    store: &dyn Store,
    acc: &TikTokAccount,
    status: AccountStatus,
    reason: Option<&str>,
    clear_tokens: bool,
) -> Result<TikTokAccount, StoreError> {
    store
        .set_account_status(
            acc.workspace_id,
            acc.id,
            acc.version,
            status,
            reason,
            clear_tokens,
        )
        .await
}

/// Runs `n` tasks that start together (each waits at one barrier before `task(i)` is first
/// polled) and returns their results in task order.
pub(super) async fn race<T, Fut>(n: usize, task: impl Fn(usize) -> Fut) -> Vec<T>
where
    T: Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let barrier = barrier.clone();
            let run = task(i);
            tokio::spawn(async move {
                barrier.wait().await;
                run.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for task in tasks {
        results.push(task.await.expect("task"));
    }
    results
}

/// Splits the results of racing compare-and-sets into the winners and the number of losers
/// (`StaleState`); any other error fails the case.
pub(super) fn winners<T: Debug>(
    results: Vec<Result<T, StoreError>>,
    what: &str,
) -> (Vec<T>, usize) {
    let mut winners = Vec::new();
    let mut stale = 0;
    for result in results {
        match result {
            Ok(saved) => winners.push(saved),
            Err(StoreError::StaleState) => stale += 1,
            Err(e) => panic!("a racing {what} failed with {e}"),
        }
    }
    (winners, stale)
}

/// How many of the racers' answers are `Some` (each must be `Ok`: `what` names the call).
pub(super) fn count_some<T>(results: Vec<Result<Option<T>, StoreError>>, what: &str) -> usize {
    results
        .into_iter()
        .filter(|r| r.as_ref().expect(what).is_some())
        .count()
}

/// `n` tasks call `transition_post(queued -> uploading)` on the same post at once, each with
/// its own publish id; the winners and the number of `StaleState` losers.
pub async fn race_transitions(
    store: &DynStore,
    user: UserId,
    id: PostId,
    n: usize,
) -> (Vec<Post>, usize) {
    let results = race(n, |i| {
        let store = store.clone();
        async move {
            store
                .transition_post(
                    ws_of(user),
                    id,
                    PostState::Queued,
                    Box::new(move |p| {
                        p.state = PostState::Uploading;
                        p.tiktok.publish_id = Some(format!("v_pub_{i}"));
                    }),
                )
                .await
        }
    })
    .await;
    winners(results, "transition")
}

/// Pages through an id-ordered cross-user listing two at a time, from the start to the first
/// empty page; every id seen, in order.
pub(super) async fn ids_in_pages<I: Copy, T, Fut>(
    page: impl Fn(Option<I>) -> Fut,
    id: impl Fn(&T) -> I,
) -> Vec<I>
where
    Fut: Future<Output = Vec<T>>,
{
    let mut after = None;
    let mut seen = Vec::new();
    loop {
        let page = page(after).await;
        assert!(page.len() <= 2, "the limit is honoured");
        let Some(last) = page.last() else { break };
        after = Some(id(last));
        seen.extend(page.iter().map(&id));
    }
    seen
}

/// Pages seen by [`ids_in_pages`] hold `expected` (the case's own rows, sorted) in order,
/// and ids strictly increase across them.
pub(super) fn assert_paged_in_id_order<I: Ord + Debug>(seen: Vec<I>, expected: &[I], what: &str) {
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "ids strictly increase across pages: {seen:?}"
    );
    let found: Vec<I> = seen
        .into_iter()
        .filter(|id| expected.contains(id))
        .collect();
    assert_eq!(found, expected, "{what}");
}
