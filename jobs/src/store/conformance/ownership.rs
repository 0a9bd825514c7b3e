//! For the migration tests of the SQL backends: rows written before workspaces owned anything
//! (issue #16) move into their user's personal workspace, with that user as who made them.

use super::fixtures::{connection, event_for, key_for, media_for, now, post_for, tokens, ws_of};
use crate::model::{AccountStatus, Member, PostState, Role, UserId, Workspace, WorkspaceId};
use crate::store::{DynStore, Store};
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

/// Erasing someone who made rows in a workspace they share with others (an account, a post,
/// a video, an audit event, an API key) keeps the rows, nameless ("former member"), and takes
/// their key and membership; the workspace and its other owner stay.
pub async fn erasing_a_member_keeps_the_shared_workspaces_content_nameless(store: DynStore) {
    let s = store.as_ref();
    let owner = super::fixtures::new_user(s).await;
    let member = super::fixtures::new_user(s).await;
    let team = Workspace {
        id: WorkspaceId::new(),
        name: "Agency".into(),
        personal: false,
        approval_required: false,
        created_at: now(),
        version: 1,
    };
    let team = s.create_workspace(&team, owner.id).await.expect("team");
    let joined = Member {
        workspace_id: team.id,
        user_id: member.id,
        role: Role::Editor,
        joined_at: now(),
    };
    s.put_member(&joined).await.expect("member");
    let c = connection(
        &super::fixtures::unique("open"),
        tokens("m", now() + Duration::hours(1)),
    );
    let acc = s
        .connect_account(team.id, member.id, &c)
        .await
        .expect("connect");
    let mut post = post_for(member.id, acc.id, PostState::Scheduled);
    post.workspace_id = team.id;
    let post = s.create_post(&post).await.expect("post").value;
    let mut media = media_for(member.id, now() + Duration::hours(1));
    media.workspace_id = team.id;
    s.create_media(&media).await.expect("media");
    let mut event = event_for(member.id, "account_connected", now());
    event.workspace_id = team.id;
    s.record_audit(&event).await.expect("audit");
    let mut key = key_for(member.id);
    key.workspace_id = team.id;
    s.create_api_key(&key).await.expect("key");

    s.mark_user_erasing(member.id, now()).await.expect("mark");
    s.erase_user(member.id).await.expect("erase");

    let acc = s
        .account(team.id, acc.id)
        .await
        .expect("the team's account stays");
    assert_eq!(acc.created_by, None, "connected by a former member");
    let kept = s
        .post(team.id, post.id)
        .await
        .expect("the team's post stays");
    assert_eq!((kept.created_by, kept.state), (None, post.state));
    let kept = s
        .media(team.id, media.id)
        .await
        .expect("the team's video stays");
    assert_eq!(kept.created_by, None);
    let events = s.list_audit(team.id, 10).await.expect("audit");
    let theirs: Vec<_> = events.iter().filter(|e| e.id == event.id).collect();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].actor_id, None);
    assert_eq!(s.api_key_by_hash(&key.hash).await.expect("by hash"), None);
    assert!(s.list_api_keys(team.id).await.expect("keys").is_empty());
    assert_eq!(s.member(team.id, member.id).await.expect("member"), None);
    let members = s.members(team.id).await.expect("members");
    assert_eq!(members.len(), 1);
    assert_eq!(
        (members[0].user_id, members[0].role),
        (owner.id, Role::Owner)
    );
}
