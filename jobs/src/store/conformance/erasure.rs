//! Erasure and ownership: erasing a user deletes what it owns and nothing else; another
//! user's rows are `NotFound` for every read and write.

use super::fixtures::*;
use crate::model::{
    AccountStatus, ApiKey, AuditEvent, Media, Post, PostId, PostState, TikTokAccount, User,
    WorkspaceId,
};
use crate::store::{DynStore, Store};
use chrono::{DateTime, Duration, Utc};

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
        s.put_oauth_state(
            &oauth_state,
            user.id,
            ws_of(user.id),
            now() + Duration::minutes(10),
        )
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
    assert_not_found!(s.user(g.user.id).await, "erased user");
    let personal = crate::model::Workspace::personal_id(g.user.id);
    assert_not_found!(s.workspace(personal).await, "erased personal workspace");
    assert!(s.workspaces_of(g.user.id).await.expect("of").is_empty());
    assert_eq!(
        s.user_by_google_uid(&g.user.google_uid)
            .await
            .expect("by uid"),
        None
    );
    assert_not_found!(
        s.account(ws_of(g.user.id), g.account.id).await,
        "erased account"
    );
    for p in [&g.due, &g.stuck, &g.keyed] {
        assert_not_found!(s.post(ws_of(g.user.id), p.id).await, "erased post");
    }
    assert_not_found!(s.media(ws_of(g.user.id), g.media.id).await, "erased media");
    assert!(
        s.list_accounts(ws_of(g.user.id))
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        s.list_posts(ws_of(g.user.id), None, 10)
            .await
            .expect("list")
            .items
            .is_empty()
    );
    assert!(
        s.list_media(ws_of(g.user.id))
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        s.list_api_keys(ws_of(g.user.id))
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        s.list_audit(ws_of(g.user.id), 10)
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(s.api_key_by_hash(&g.key.hash).await.expect("by hash"), None);
    assert_eq!(
        s.take_oauth_state(&g.oauth_state, now())
            .await
            .expect("take"),
        None
    );

    // The cross-user listings see the kept user's rows and none of the erased user's.
    let only_kept = |owners: Vec<WorkspaceId>| {
        !owners.contains(&ws_of(g.user.id)) && owners.contains(&ws_of(kept.user.id))
    };
    let due_posts = s.due_posts(base, 100).await.expect("due");
    assert!(only_kept(
        due_posts.iter().map(|d| d.workspace_id).collect()
    ));
    let expiring = s
        .accounts_expiring_before(base + Duration::hours(1), 100)
        .await
        .expect("expiring");
    assert!(only_kept(expiring.iter().map(|r| r.workspace_id).collect()));
    let stuck = s
        .posts_stuck_in(PostState::Uploading, base - Duration::hours(1), None, 100)
        .await
        .expect("stuck");
    assert!(only_kept(stuck.iter().map(|p| p.workspace_id).collect()));
    let expired = s.expired_media(base, 100).await.expect("expired");
    assert!(only_kept(expired.iter().map(|m| m.workspace_id).collect()));
    let mut after = None;
    loop {
        let page = s.accounts_after(after, 50).await.expect("accounts_after");
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        assert!(page.iter().all(|acc| acc.workspace_id != ws_of(g.user.id)));
    }

    let k = &kept;
    assert_eq!(s.user(k.user.id).await.expect("user"), k.user);
    let kept_ws = s.workspaces_of(k.user.id).await.expect("of");
    assert_eq!(kept_ws.len(), 1, "the kept user's personal workspace stays");
    assert_eq!(
        s.account(ws_of(k.user.id), k.account.id)
            .await
            .expect("account"),
        k.account
    );
    for p in [&k.due, &k.stuck, &k.keyed] {
        assert_eq!(&s.post(ws_of(k.user.id), p.id).await.expect("post"), p);
    }
    assert_eq!(
        s.media(ws_of(k.user.id), k.media.id).await.expect("media"),
        k.media
    );
    assert_eq!(
        s.list_api_keys(ws_of(k.user.id)).await.expect("keys"),
        vec![k.key.clone()]
    );
    assert_eq!(
        s.list_audit(ws_of(k.user.id), 10).await.expect("audit"),
        vec![k.event.clone()]
    );
    assert_eq!(
        s.take_oauth_state(&k.oauth_state, now())
            .await
            .expect("take"),
        Some((k.user.id, ws_of(k.user.id)))
    );

    store.erase_user(gone.user.id).await.expect("erasing twice");
    let back = user_with_uid(s, &g.user.google_uid, "Returning Creator").await;
    assert_ne!(back.id, g.user.id, "signing in again starts a new user");
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

    assert_not_found!(s.account(ws_of(b.id), acc.id).await, "account");
    assert_not_found!(s.post(ws_of(b.id), post.id).await, "post");
    assert_not_found!(s.media(ws_of(b.id), media.id).await, "media");
    assert_eq!(
        s.post_by_idempotency_key(ws_of(b.id), "shared-key")
            .await
            .expect("by key"),
        None
    );
    assert!(s.list_accounts(ws_of(b.id)).await.expect("list").is_empty());
    assert!(
        s.list_posts(ws_of(b.id), None, 10)
            .await
            .expect("list")
            .items
            .is_empty()
    );
    assert!(s.list_media(ws_of(b.id)).await.expect("list").is_empty());
    assert!(s.list_api_keys(ws_of(b.id)).await.expect("list").is_empty());
    assert!(
        s.list_audit(ws_of(b.id), 10)
            .await
            .expect("list")
            .is_empty()
    );

    assert_not_found!(
        s.store_tokens(ws_of(b.id), acc.id, acc.version, &tokens("b", now()))
            .await,
        "store_tokens"
    );
    assert_not_found!(
        s.set_account_status(
            ws_of(b.id),
            acc.id,
            acc.version,
            AccountStatus::Disconnecting,
            None,
            true
        )
        .await,
        "set_account_status"
    );
    let mut forged = post.clone();
    forged.workspace_id = ws_of(b.id);
    forged.state = PostState::Uploading;
    assert_not_found!(s.save_post(&forged, PostState::Queued).await, "save_post");
    assert_not_found!(
        s.transition_post(
            ws_of(b.id),
            post.id,
            PostState::Queued,
            Box::new(|p| p.state = PostState::Cancelled)
        )
        .await,
        "transition_post"
    );
    assert_not_found!(
        s.attach_media(ws_of(b.id), media.id, PostId::new()).await,
        "attach_media"
    );
    assert_not_found!(s.delete_post(ws_of(b.id), post.id).await, "delete_post");
    assert_not_found!(
        s.delete_account(ws_of(b.id), acc.id).await,
        "delete_account"
    );
    assert_not_found!(s.delete_media(ws_of(b.id), media.id).await, "delete_media");
    assert_not_found!(
        s.delete_api_key(ws_of(b.id), key.id).await,
        "delete_api_key"
    );
    s.erase_user(b.id).await.expect("erase the other user");

    assert_eq!(s.account(ws_of(a.id), acc.id).await.expect("account"), acc);
    assert_eq!(s.post(ws_of(a.id), post.id).await.expect("post"), post);
    assert_eq!(s.media(ws_of(a.id), media.id).await.expect("media"), media);
    assert_eq!(s.list_api_keys(ws_of(a.id)).await.expect("keys"), vec![key]);
    assert_eq!(
        s.list_audit(ws_of(a.id), 10).await.expect("audit"),
        vec![event]
    );
    assert_eq!(s.user(a.id).await.expect("user"), a);
}
