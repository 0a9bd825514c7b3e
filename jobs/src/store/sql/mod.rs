//! The SQL backends: one implementation of [`Store`], written once over a [`Dialect`], with
//! SQLite (the embedded default) and PostgreSQL (for more than one machine) as its two dialects.
//! Both run the same statements (`statements`) and decode rows with the same code
//! (`super::codec`); each dialect file says how it opens and migrates its database and how it
//! stores ids and instants. `run` holds the few helpers every method below is built from;
//! `workspaces` and `invitations` the methods of those areas that take more than one statement.

pub mod dialect;
mod invitations;
pub mod postgres;
mod run;
pub mod sqlite;
mod sqlx_error;
mod statements;
mod workspaces;

use super::codec::{self, AccountDoc, Cells, MediaDoc, PostDoc};
use super::{AccountRef, Created, DuePost, Page, Store, StoreError, StuckAfter, check_transition};
use crate::model::{
    AccountConnect, AccountId, AccountStatus, ApiKey, ApiKeyId, AuditEvent, EncryptedTokens,
    GoogleProfile, Invitation, InvitationId, Media, MediaId, Member, Post, PostId, PostState, Role,
    TikTokAccount, User, UserId, Workspace, WorkspaceId,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dialect::{Dialect, args, json};
use sqlx::{Database, Pool};
use sqlx_error::from_migrate;
use statements as st;

/// A store on a SQL database of dialect `D` ([`sqlite::SqliteStore`], [`postgres::PostgresStore`]).
#[derive(Debug)]
pub struct SqlStore<D: Database> {
    pool: Pool<D>,
}

impl<D: Database> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
        }
    }
}

impl<D: Database> SqlStore<D> {
    /// Closes every connection (after this, calls answer `Unavailable`).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl<D: Dialect> SqlStore<D> {
    /// Wraps a freshly opened pool and brings its schema up to date.
    async fn migrated(pool: Pool<D>) -> Result<Self, StoreError> {
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations not applied yet, each in its own transaction. Migrations this
    /// binary does not know (a newer release ran) are tolerated, so an older replica can still
    /// start during a rolling deploy; that is safe because migrations only add (README).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut migrator = D::migrator();
        migrator.set_ignore_missing(true);
        migrator.run(&self.pool).await.map_err(from_migrate)
    }
}

#[async_trait]
impl<D: Dialect> Store for SqlStore<D> {
    async fn ping(&self) -> Result<(), StoreError> {
        self.execute(st::PING, args![]).await.map(drop)
    }

    async fn upsert_user(&self, profile: &GoogleProfile) -> Result<User, StoreError> {
        let args = args![
            UserId::new(),
            &profile.google_uid,
            &profile.email,
            &profile.name,
            profile.picture.as_deref(),
            codec::now(),
        ];
        let user = self.one(st::UPSERT_USER, args, codec::user).await?;
        // A user being erased gets no new workspace: erasure is taking everything away.
        if user.erasing_since.is_none() {
            self.ensure_personal(&user).await?;
        }
        Ok(user)
    }

    async fn user(&self, id: UserId) -> Result<User, StoreError> {
        self.one(st::USER, args![id], codec::user).await
    }

    async fn user_by_google_uid(&self, google_uid: &str) -> Result<Option<User>, StoreError> {
        let args = args![google_uid];
        self.optional(st::USER_BY_GOOGLE_UID, args, codec::user)
            .await
    }

    async fn mark_user_erasing(&self, id: UserId, at: DateTime<Utc>) -> Result<User, StoreError> {
        let args = args![id, at, codec::now()];
        self.one(st::MARK_USER_ERASING, args, codec::user).await
    }

    async fn users_erasing_before(
        &self,
        before: DateTime<Utc>,
        n: u32,
    ) -> Result<Vec<UserId>, StoreError> {
        let args = args![before, n];
        self.all(st::USERS_ERASING_BEFORE, args, |r| {
            Ok(UserId(r.uuid("id")?))
        })
        .await
    }

    async fn erase_user(&self, id: UserId) -> Result<(), StoreError> {
        self.in_transaction(&st::ERASE_USER, args![id]).await
    }

    async fn connect_account(
        &self,
        ws: WorkspaceId,
        by: UserId,
        connect: &AccountConnect,
    ) -> Result<TikTokAccount, StoreError> {
        let t = &connect.tokens;
        let args = args![
            connect.id,
            ws,
            &connect.open_id,
            &t.access_token,
            &t.refresh_token,
            t.access_expires_at,
            t.refresh_expires_at,
            json(&AccountDoc::of_connect(connect))?,
            codec::now(),
            by,
        ];
        self.one(st::CONNECT_ACCOUNT, args, codec::account).await
    }

    async fn account(&self, ws: WorkspaceId, id: AccountId) -> Result<TikTokAccount, StoreError> {
        self.one(st::ACCOUNT, args![id, ws], codec::account).await
    }

    async fn all_accounts(&self, ws: WorkspaceId) -> Result<Vec<TikTokAccount>, StoreError> {
        self.all(st::ALL_ACCOUNTS, args![ws], codec::account).await
    }

    async fn store_tokens(
        &self,
        ws: WorkspaceId,
        id: AccountId,
        expected_version: i64,
        tokens: &EncryptedTokens,
    ) -> Result<TikTokAccount, StoreError> {
        let args = args![
            id,
            ws,
            expected_version,
            &tokens.access_token,
            tokens.access_expires_at,
            &tokens.refresh_token,
            tokens.refresh_expires_at,
            codec::now(),
        ];
        self.compare_and_set(st::STORE_TOKENS, st::ACCOUNT_EXISTS, args, codec::account)
            .await
    }

    async fn set_account_status(
        &self,
        ws: WorkspaceId,
        id: AccountId,
        expected_version: i64,
        status: AccountStatus,
        reason: Option<&str>,
        clear_tokens: bool,
    ) -> Result<TikTokAccount, StoreError> {
        let args = args![
            id,
            ws,
            expected_version,
            status.as_str(),
            reason,
            clear_tokens,
            codec::now(),
        ];
        let sql = st::SET_ACCOUNT_STATUS;
        self.compare_and_set(sql, st::ACCOUNT_EXISTS, args, codec::account)
            .await
    }

    async fn delete_account(&self, ws: WorkspaceId, id: AccountId) -> Result<(), StoreError> {
        self.change_one(st::DELETE_ACCOUNT, args![id, ws]).await
    }

    async fn accounts_expiring_before(
        &self,
        at: DateTime<Utc>,
        n: u32,
    ) -> Result<Vec<AccountRef>, StoreError> {
        let args = args![at, n];
        self.all(st::ACCOUNTS_EXPIRING_BEFORE, args, codec::account_ref)
            .await
    }

    async fn accounts_after(
        &self,
        after: Option<AccountId>,
        n: u32,
    ) -> Result<Vec<TikTokAccount>, StoreError> {
        match after {
            Some(after) => self.all(st::ACCOUNTS_AFTER, args![after, n], codec::account),
            None => self.all(st::ACCOUNTS_FIRST, args![n], codec::account),
        }
        .await
    }

    async fn create_post(&self, post: &Post) -> Result<Created<Post>, StoreError> {
        let args = args![
            post.id,
            post.workspace_id,
            post.account_id,
            post.media_id,
            post.state.as_str(),
            post.version,
            post.scheduled_at,
            post.idempotency_key.as_deref(),
            json(&PostDoc::of(post))?,
            post.created_at,
            post.updated_at,
            post.created_by,
        ];
        if let Some(value) = self.optional(st::CREATE_POST, args, codec::post).await? {
            return Ok(Created {
                value,
                created: true,
            });
        }
        // Only the idempotency key can make the insert do nothing.
        let args = args![post.workspace_id, post.idempotency_key.as_deref()];
        let existing = self.optional(st::POST_BY_IDEMPOTENCY_KEY, args, codec::post);
        match existing.await? {
            Some(value) => Ok(Created {
                value,
                created: false,
            }),
            // The holder of the key was deleted between the two statements.
            None => Err(StoreError::Conflict(
                "idempotency key was just released".into(),
            )),
        }
    }

    async fn post(&self, ws: WorkspaceId, id: PostId) -> Result<Post, StoreError> {
        self.one(st::POST, args![id, ws], codec::post).await
    }

    async fn post_by_idempotency_key(
        &self,
        ws: WorkspaceId,
        key: &str,
    ) -> Result<Option<Post>, StoreError> {
        let args = args![ws, key];
        self.optional(st::POST_BY_IDEMPOTENCY_KEY, args, codec::post)
            .await
    }

    async fn list_posts(
        &self,
        ws: WorkspaceId,
        cursor: Option<&str>,
        n: u32,
    ) -> Result<Page<Post>, StoreError> {
        let n = n.max(1);
        // One row more than asked says whether there is a next page.
        let asked = i64::from(n) + 1;
        let posts = match codec::parse_cursor(cursor)? {
            Some(before) => {
                let args = args![ws, before, asked];
                self.all(st::POSTS_PAGE_AFTER, args, codec::post).await?
            }
            None => {
                let args = args![ws, asked];
                self.all(st::POSTS_FIRST_PAGE, args, codec::post).await?
            }
        };
        Ok(codec::page_of(posts, n as usize))
    }

    async fn save_post(&self, post: &Post, expected_state: PostState) -> Result<Post, StoreError> {
        check_transition(expected_state, post.state)?;
        let args = args![
            post.id,
            post.workspace_id,
            post.account_id,
            post.media_id,
            post.state.as_str(),
            post.scheduled_at,
            json(&PostDoc::of(post))?,
            codec::now(),
            expected_state.as_str(),
            post.version,
        ];
        self.compare_and_set(st::SAVE_POST, st::POST_EXISTS, args, codec::post)
            .await
    }

    async fn delete_post(&self, ws: WorkspaceId, id: PostId) -> Result<(), StoreError> {
        self.change_one(st::DELETE_POST, args![id, ws]).await
    }

    async fn due_posts(&self, now: DateTime<Utc>, n: u32) -> Result<Vec<DuePost>, StoreError> {
        self.all(st::DUE_POSTS, args![now, n], codec::due_post)
            .await
    }

    async fn posts_stuck_in(
        &self,
        state: PostState,
        before: DateTime<Utc>,
        after: Option<StuckAfter>,
        n: u32,
    ) -> Result<Vec<Post>, StoreError> {
        let state = state.as_str();
        let (sql, args) = match after {
            None => (st::POSTS_STUCK_IN, args![state, before, n]),
            Some(a) => (
                st::POSTS_STUCK_IN_AFTER,
                args![state, before, a.updated_at, a.id, n],
            ),
        };
        self.all(sql, args, codec::post).await
    }

    async fn create_media(&self, media: &Media) -> Result<(), StoreError> {
        let args = args![
            media.id,
            media.workspace_id,
            media.post_id,
            media.expires_at,
            json(&MediaDoc::of(media))?,
            media.created_at,
            media.created_by,
        ];
        self.execute(st::CREATE_MEDIA, args).await.map(drop)
    }

    async fn media(&self, ws: WorkspaceId, id: MediaId) -> Result<Media, StoreError> {
        self.one(st::MEDIA, args![id, ws], codec::media).await
    }

    async fn attach_media(
        &self,
        ws: WorkspaceId,
        id: MediaId,
        post: PostId,
    ) -> Result<Media, StoreError> {
        let args = args![id, ws, post];
        self.compare_and_set(st::ATTACH_MEDIA, st::MEDIA_EXISTS, args, codec::media)
            .await
    }

    async fn detach_media(
        &self,
        ws: WorkspaceId,
        id: MediaId,
        post: PostId,
    ) -> Result<Media, StoreError> {
        let args = args![id, ws, post];
        self.compare_and_set(st::DETACH_MEDIA, st::MEDIA_EXISTS, args, codec::media)
            .await
    }

    async fn delete_media(&self, ws: WorkspaceId, id: MediaId) -> Result<(), StoreError> {
        self.change_one(st::DELETE_MEDIA, args![id, ws]).await
    }

    async fn expired_media(&self, now: DateTime<Utc>, n: u32) -> Result<Vec<Media>, StoreError> {
        self.all(st::EXPIRED_MEDIA, args![now, n], codec::media)
            .await
    }

    async fn list_media(&self, ws: WorkspaceId) -> Result<Vec<Media>, StoreError> {
        self.all(st::LIST_MEDIA, args![ws], codec::media).await
    }

    async fn media_after(&self, after: Option<MediaId>, n: u32) -> Result<Vec<Media>, StoreError> {
        match after {
            Some(after) => self.all(st::MEDIA_AFTER, args![after, n], codec::media),
            None => self.all(st::MEDIA_FIRST, args![n], codec::media),
        }
        .await
    }

    async fn rewrap_media_key(
        &self,
        ws: WorkspaceId,
        id: MediaId,
        expected: &str,
        wrapped_key: &str,
    ) -> Result<Media, StoreError> {
        let mut media = self.media(ws, id).await?;
        media.wrapped_key = wrapped_key.to_owned();
        let args = args![id, ws, expected, json(&MediaDoc::of(&media))?];
        let sql = st::REWRAP_MEDIA_KEY;
        self.compare_and_set(sql, st::MEDIA_EXISTS, args, codec::media)
            .await
    }

    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        let scopes = key.scopes.to_stored();
        let args = args![
            key.id,
            key.user_id,
            &key.name,
            &key.prefix,
            &key.hash,
            key.created_at,
            key.last_used_at,
            &scopes,
            key.workspace_id,
        ];
        self.execute(st::CREATE_API_KEY, args).await.map(drop)
    }

    async fn list_api_keys(&self, ws: WorkspaceId) -> Result<Vec<ApiKey>, StoreError> {
        self.all(st::LIST_API_KEYS, args![ws], codec::api_key).await
    }

    async fn delete_api_key(&self, ws: WorkspaceId, id: ApiKeyId) -> Result<(), StoreError> {
        self.change_one(st::DELETE_API_KEY, args![id, ws]).await
    }

    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        self.optional(st::API_KEY_BY_HASH, args![hash], codec::api_key)
            .await
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.change_one(st::TOUCH_API_KEY, args![id, at]).await
    }

    async fn record_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let args = args![
            event.id,
            event.workspace_id,
            &event.kind,
            json(&event.detail)?,
            event.created_at,
            event.actor_id,
        ];
        self.execute(st::RECORD_AUDIT, args).await.map(drop)
    }

    async fn list_audit(&self, ws: WorkspaceId, n: u32) -> Result<Vec<AuditEvent>, StoreError> {
        self.all(st::LIST_AUDIT, args![ws, n], codec::audit_event)
            .await
    }

    async fn put_oauth_state(
        &self,
        state_hash: &str,
        user: UserId,
        ws: WorkspaceId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(st::SWEEP_OAUTH_STATES, args![codec::now()])
            .await?;
        let args = args![state_hash, user, expires_at, ws];
        self.execute(st::PUT_OAUTH_STATE, args).await.map(drop)
    }

    async fn take_oauth_state(
        &self,
        state_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(UserId, WorkspaceId)>, StoreError> {
        // An expired state is taken (deleted) too, and refused.
        let taken = self.optional(st::TAKE_OAUTH_STATE, args![state_hash], |row| {
            if row.ts("expires_at")? > now {
                let user = row.uuid("user_id")?;
                // States issued before workspaces (#16) connect to the personal workspace.
                let ws = row.opt_uuid("workspace_id")?.unwrap_or(user);
                Ok(Some((UserId(user), WorkspaceId(ws))))
            } else {
                Ok(None)
            }
        });
        Ok(taken.await?.flatten())
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let args = args![name, holder, codec::lease_end(now, ttl)?, now];
        self.optional(st::ACQUIRE_LEASE, args, |r| r.int("fencing_token"))
            .await
    }

    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let args = args![name, holder, codec::lease_end(now, ttl)?, now];
        Ok(self.execute(st::RENEW_LEASE, args).await? == 1)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let args = args![name, holder, DateTime::UNIX_EPOCH];
        self.execute(st::RELEASE_LEASE, args).await.map(drop)
    }

    // ---- sessions: sign-out and "sign out everywhere" ----

    async fn revoke_session(
        &self,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(st::SWEEP_REVOKED_SESSIONS, args![codec::now()])
            .await?;
        let args = args![token_hash, expires_at];
        self.execute(st::REVOKE_SESSION, args).await.map(drop)
    }

    async fn session_revoked(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let args = args![token_hash, now];
        let found = self.optional(st::SESSION_REVOKED, args, |_| Ok(()));
        Ok(found.await?.is_some())
    }

    async fn revoke_user_sessions(
        &self,
        id: UserId,
        at: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        let args = args![id, at, codec::now()];
        self.one(st::REVOKE_USER_SESSIONS, args, codec::user).await
    }

    async fn ensure_personal_workspace(&self, user: &User) -> Result<Workspace, StoreError> {
        self.ensure_personal(user).await
    }

    async fn workspace(&self, id: WorkspaceId) -> Result<Workspace, StoreError> {
        self.one(st::WORKSPACE, args![id], codec::workspace).await
    }

    async fn workspaces_of(&self, user: UserId) -> Result<Vec<(Workspace, Role)>, StoreError> {
        self.memberships(user).await
    }

    async fn member(&self, ws: WorkspaceId, user: UserId) -> Result<Option<Member>, StoreError> {
        self.optional(st::MEMBER, args![ws, user], codec::member)
            .await
    }

    async fn members(&self, ws: WorkspaceId) -> Result<Vec<Member>, StoreError> {
        self.all(st::MEMBERS, args![ws], codec::member).await
    }

    async fn put_member(&self, member: &Member) -> Result<Member, StoreError> {
        self.put(member).await
    }

    async fn remove_member(&self, ws: WorkspaceId, user: UserId) -> Result<(), StoreError> {
        self.remove(ws, user).await
    }

    async fn delete_workspace(&self, ws: WorkspaceId) -> Result<(), StoreError> {
        self.in_transaction(&st::DELETE_WORKSPACE, args![ws]).await
    }

    async fn create_workspace(
        &self,
        ws: &Workspace,
        owner: UserId,
    ) -> Result<Workspace, StoreError> {
        self.create_team(ws, owner).await
    }

    async fn update_workspace(
        &self,
        ws: &Workspace,
        version: i64,
    ) -> Result<Workspace, StoreError> {
        self.update_settings(ws, version).await
    }

    async fn create_invitation(&self, invitation: &Invitation) -> Result<(), StoreError> {
        self.invite(invitation).await
    }

    async fn invitation_by_token_hash(&self, hash: &str) -> Result<Option<Invitation>, StoreError> {
        self.invitation_by_hash(hash).await
    }

    async fn pending_invitations(&self, ws: WorkspaceId) -> Result<Vec<Invitation>, StoreError> {
        self.open_invitations(ws).await
    }

    async fn revoke_invitation(
        &self,
        ws: WorkspaceId,
        id: InvitationId,
    ) -> Result<Invitation, StoreError> {
        self.revoke_invitation_of(ws, id).await
    }

    async fn accept_invitation(
        &self,
        id: InvitationId,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Result<Member, StoreError> {
        self.accept(id, user, at).await
    }
}
