//! For the migration tests of the SQL backends: rows written before workspaces owned anything
//! (issue #16) move into their user's personal workspace, with that user as who made them.

use super::fixtures::{connection, event_for, key_for, media_for, now, post_for, tokens, ws_of};
use crate::model::{AccountStatus, PostState, UserId};
use crate::store::Store;
use chrono::Duration;

/// One row of every owned kind for each of `users` (written before workspaces existed, so
/// owned by `user_id`), as one SQL text of `INSERT`s whose literals read the same in both SQL
/// dialects (PostgreSQL casts the text to `uuid`, `timestamptz` and `jsonb`).
pub fn earlier_rows(users: &[UserId]) -> String {
    let at = "2020-01-05T00:00:00.000000Z";
    let mut sql = String::new();
    for (n, u) in users.iter().enumerate() {
        let account = format!(
            "INSERT INTO accounts (id, user_id, open_id, status, doc, version, created_at, \
             updated_at) VALUES ('{}', '{u}', 'open-{n}', 'needs_reconnect', \
             '{{\"display_name\":\"Creator {n}\",\"scopes\":[\"video.publish\"]}}', 1, '{at}', '{at}');",
            uuid::Uuid::now_v7()
        );
        let post = format!(
            "INSERT INTO posts (id, user_id, account_id, state, version, idempotency_key, doc, \
             created_at, updated_at) VALUES ('{}', '{u}', '{}', 'queued', 1, 'key-{n}', \
             '{{\"settings\":{{\"title\":\"t\",\"privacy_level\":\"SELF_ONLY\",\
             \"disable_comment\":false,\"disable_duet\":false,\"disable_stitch\":false}}}}', \
             '{at}', '{at}');",
            uuid::Uuid::now_v7(),
            uuid::Uuid::now_v7()
        );
        let media = format!(
            "INSERT INTO media (id, user_id, expires_at, doc, created_at) VALUES ('{}', '{u}', \
             '{at}', '{{\"size\":10,\"container\":\"mp4\",\"duration_ms\":null,\
             \"object_key\":\"media/{u}/m\",\"wrapped_key\":\"v1:k\",\"segment_size\":1024}}', '{at}');",
            uuid::Uuid::now_v7()
        );
        let key = format!(
            "INSERT INTO api_keys (id, user_id, name, prefix, hash, created_at) VALUES ('{}', \
             '{u}', 'k', 'mkp_x', 'hash-{u}', '{at}');",
            uuid::Uuid::now_v7()
        );
        let event = format!(
            "INSERT INTO audit_events (id, user_id, kind, detail, created_at) VALUES ('{}', \
             '{u}', 'account_connected', '{{}}', '{at}');",
            uuid::Uuid::now_v7()
        );
        for statement in [account, post, media, key, event] {
            sql.push_str(&statement);
            sql.push('\n');
        }
    }
    sql
}

/// After the ownership migration ran on a database holding [`earlier_rows`] of `users`: each
/// user's rows are their personal workspace's, made by them, and nobody else's.
pub async fn earlier_rows_belong_to_personal_workspaces(store: &dyn Store, users: &[UserId]) {
    for (n, &u) in users.iter().enumerate() {
        let ws = ws_of(u);
        let accounts = store.all_accounts(ws).await.expect("accounts");
        let [account] = accounts.as_slice() else {
            panic!("one account each, got {accounts:?}");
        };
        assert_eq!((account.workspace_id, account.created_by), (ws, Some(u)));
        assert_eq!(account.status, AccountStatus::NeedsReconnect);
        assert_eq!(account.open_id, format!("open-{n}"));
        let posts = store.list_posts(ws, None, 10).await.expect("posts").items;
        let [post] = posts.as_slice() else {
            panic!("one post each, got {posts:?}");
        };
        assert_eq!((post.workspace_id, post.created_by), (ws, Some(u)));
        assert_eq!(post.state, PostState::Queued);
        let key = format!("key-{n}");
        let by_key = store
            .post_by_idempotency_key(ws, &key)
            .await
            .expect("by key");
        assert_eq!(by_key.as_ref(), Some(post));
        let media = store.list_media(ws).await.expect("media");
        assert_eq!(media.len(), 1);
        assert_eq!((media[0].workspace_id, media[0].created_by), (ws, Some(u)));
        let keys = store.list_api_keys(ws).await.expect("keys");
        assert_eq!(keys.len(), 1);
        assert_eq!((keys[0].workspace_id, keys[0].user_id), (ws, u));
        let events = store.list_audit(ws, 10).await.expect("audit");
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].workspace_id, events[0].actor_id), (ws, Some(u)));
    }
}

/// What [`earlier_rows`] holds for the `n`th of `users`, written through `store` (for Firestore,
/// whose documents are then turned back into their earlier shape by its test).
pub async fn rows_of_each_kind(store: &dyn Store, users: &[UserId]) {
    for (n, &u) in users.iter().enumerate() {
        let c = connection(
            &format!("open-{n}"),
            tokens("t", now() + Duration::hours(1)),
        );
        let acc = store
            .connect_account(ws_of(u), u, &c)
            .await
            .expect("connect");
        let status = AccountStatus::NeedsReconnect;
        store
            .set_account_status(ws_of(u), acc.id, acc.version, status, None, false)
            .await
            .expect("status");
        let mut post = post_for(u, acc.id, PostState::Queued);
        post.idempotency_key = Some(format!("key-{n}"));
        store.create_post(&post).await.expect("post");
        store
            .create_media(&media_for(u, now() + Duration::hours(1)))
            .await
            .expect("media");
        store.create_api_key(&key_for(u)).await.expect("key");
        let event = event_for(u, "account_connected", now());
        store.record_audit(&event).await.expect("audit");
    }
}
