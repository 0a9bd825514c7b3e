//! The SQL backends: one implementation of [`Store`], written once over a [`Dialect`], with
//! SQLite (the embedded default) and PostgreSQL (for more than one machine) as its two dialects.
//! Both run the same statements (`statements`) and decode rows with the same code
//! (`super::codec`); each dialect file says how it opens and migrates its database and how it
//! stores ids and instants.

pub mod dialect;
pub mod postgres;
pub mod sqlite;
mod sqlx_error;
mod statements;

use super::codec::{self, AccountDoc, Cells, MediaDoc, PostDoc};
use super::{AccountRef, Created, DuePost, Page, Store, StoreError, StuckAfter, check_transition};
use crate::model::{
    AccountConnect, AccountId, AccountStatus, ApiKey, ApiKeyId, AuditEvent, EncryptedTokens,
    GoogleProfile, Media, MediaId, Post, PostId, PostState, TikTokAccount, User, UserId,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dialect::{Args, Dialect, Statement, args, json};
use sqlx::{Database, Pool};
use sqlx_error::from_sqlx;
use statements as st;
use uuid::Uuid;

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

/// How to run a statement and read what it returns; every `Store` method below is one or two
/// of these.
impl<D: Dialect> SqlStore<D> {
    fn statement(sql: &'static str, args: Args<'_>) -> Statement<D> {
        args.into_iter().fold(sqlx::query(sql), D::bind)
    }

    async fn optional(
        &self,
        sql: &'static str,
        args: Args<'_>,
    ) -> Result<Option<D::Row>, StoreError> {
        Self::statement(sql, args)
            .fetch_optional(D::on_pool(&self.pool))
            .await
            .map_err(from_sqlx)
    }

    /// The one row the statement returns; none is `NotFound`.
    async fn one(&self, sql: &'static str, args: Args<'_>) -> Result<D::Row, StoreError> {
        self.optional(sql, args).await?.ok_or(StoreError::NotFound)
    }

    async fn all(&self, sql: &'static str, args: Args<'_>) -> Result<Vec<D::Row>, StoreError> {
        Self::statement(sql, args)
            .fetch_all(D::on_pool(&self.pool))
            .await
            .map_err(from_sqlx)
    }

    /// Runs a statement without `RETURNING`; how many rows it changed.
    async fn execute(&self, sql: &'static str, args: Args<'_>) -> Result<u64, StoreError> {
        let done = Self::statement(sql, args)
            .execute(D::on_pool(&self.pool))
            .await
            .map_err(from_sqlx)?;
        Ok(D::rows_affected(&done))
    }

    /// Runs a user-scoped compare-and-set (`… WHERE id = $1 AND user_id = $2 AND … RETURNING *`).
    /// When it matched no row: if the row is there (for this user, `exists_sql`) it moved on
    /// (`StaleState`), else it is `NotFound`.
    async fn compare_and_set(
        &self,
        sql: &'static str,
        args: Args<'_>,
        exists_sql: &'static str,
        id: Uuid,
        user: UserId,
    ) -> Result<D::Row, StoreError> {
        if let Some(row) = self.optional(sql, args).await? {
            return Ok(row);
        }
        Err(match self.optional(exists_sql, args![id, user]).await {
            Ok(Some(_)) => StoreError::StaleState,
            Ok(None) => StoreError::NotFound,
            Err(e) => e,
        })
    }

    /// Runs a user-scoped `DELETE`; no row deleted means not found (or not theirs).
    async fn delete_owned(
        &self,
        sql: &'static str,
        id: Uuid,
        user: UserId,
    ) -> Result<(), StoreError> {
        match self.execute(sql, args![id, user]).await? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    /// Runs every statement with the same arguments, in one transaction.
    async fn in_transaction(
        &self,
        sqls: &[&'static str],
        args: Args<'_>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        for sql in sqls {
            Self::statement(sql, args.clone())
                .execute(D::on_connection(&mut tx))
                .await
                .map_err(from_sqlx)?;
        }
        tx.commit().await.map_err(from_sqlx)
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
        codec::user(&self.one(st::UPSERT_USER, args).await?)
    }

    async fn user(&self, id: UserId) -> Result<User, StoreError> {
        codec::user(&self.one(st::USER, args![id]).await?)
    }

    async fn user_by_google_uid(&self, google_uid: &str) -> Result<Option<User>, StoreError> {
        let row = self
            .optional(st::USER_BY_GOOGLE_UID, args![google_uid])
            .await?;
        row.as_ref().map(codec::user).transpose()
    }

    async fn mark_user_erasing(&self, id: UserId, at: DateTime<Utc>) -> Result<User, StoreError> {
        let args = args![id, at, codec::now()];
        codec::user(&self.one(st::MARK_USER_ERASING, args).await?)
    }

    async fn users_erasing_before(
        &self,
        before: DateTime<Utc>,
        n: u32,
    ) -> Result<Vec<UserId>, StoreError> {
        let rows = self.all(st::USERS_ERASING_BEFORE, args![before, n]).await?;
        codec::all(&rows, |r| Ok(UserId(r.uuid("id")?)))
    }

    async fn erase_user(&self, id: UserId) -> Result<(), StoreError> {
        self.in_transaction(&st::ERASE_USER, args![id]).await
    }

    async fn connect_account(
        &self,
        user: UserId,
        connect: &AccountConnect,
    ) -> Result<TikTokAccount, StoreError> {
        let t = &connect.tokens;
        let args = args![
            connect.id,
            user,
            &connect.open_id,
            &t.access_token,
            &t.refresh_token,
            t.access_expires_at,
            t.refresh_expires_at,
            json(&AccountDoc::of_connect(connect))?,
            codec::now(),
        ];
        codec::account(&self.one(st::CONNECT_ACCOUNT, args).await?)
    }

    async fn account(&self, user: UserId, id: AccountId) -> Result<TikTokAccount, StoreError> {
        codec::account(&self.one(st::ACCOUNT, args![id, user]).await?)
    }

    async fn all_accounts(&self, user: UserId) -> Result<Vec<TikTokAccount>, StoreError> {
        let rows = self.all(st::ALL_ACCOUNTS, args![user]).await?;
        codec::all(&rows, codec::account)
    }

    async fn store_tokens(
        &self,
        user: UserId,
        id: AccountId,
        expected_version: i64,
        tokens: &EncryptedTokens,
    ) -> Result<TikTokAccount, StoreError> {
        let args = args![
            id,
            user,
            expected_version,
            &tokens.access_token,
            tokens.access_expires_at,
            &tokens.refresh_token,
            tokens.refresh_expires_at,
            codec::now(),
        ];
        let row = self
            .compare_and_set(st::STORE_TOKENS, args, st::ACCOUNT_EXISTS, id.0, user)
            .await?;
        codec::account(&row)
    }

    async fn set_account_status(
        &self,
        user: UserId,
        id: AccountId,
        expected_version: i64,
        status: AccountStatus,
        reason: Option<&str>,
        clear_tokens: bool,
    ) -> Result<TikTokAccount, StoreError> {
        let args = args![
            id,
            user,
            expected_version,
            status.as_str(),
            reason,
            clear_tokens,
            codec::now(),
        ];
        let row = self
            .compare_and_set(st::SET_ACCOUNT_STATUS, args, st::ACCOUNT_EXISTS, id.0, user)
            .await?;
        codec::account(&row)
    }

    async fn delete_account(&self, user: UserId, id: AccountId) -> Result<(), StoreError> {
        self.delete_owned(st::DELETE_ACCOUNT, id.0, user).await
    }

    async fn accounts_expiring_before(
        &self,
        at: DateTime<Utc>,
        n: u32,
    ) -> Result<Vec<AccountRef>, StoreError> {
        let rows = self.all(st::ACCOUNTS_EXPIRING_BEFORE, args![at, n]).await?;
        codec::all(&rows, |r| {
            Ok(AccountRef {
                user_id: UserId(r.uuid("user_id")?),
                account_id: AccountId(r.uuid("id")?),
            })
        })
    }

    async fn accounts_after(
        &self,
        after: Option<AccountId>,
        n: u32,
    ) -> Result<Vec<TikTokAccount>, StoreError> {
        let rows = match after {
            Some(after) => self.all(st::ACCOUNTS_AFTER, args![after, n]).await?,
            None => self.all(st::ACCOUNTS_FIRST, args![n]).await?,
        };
        codec::all(&rows, codec::account)
    }

    async fn create_post(&self, post: &Post) -> Result<Created<Post>, StoreError> {
        let args = args![
            post.id,
            post.user_id,
            post.account_id,
            post.media_id,
            post.state.as_str(),
            post.version,
            post.scheduled_at,
            post.idempotency_key.as_deref(),
            json(&PostDoc::of(post))?,
            post.created_at,
            post.updated_at,
        ];
        if let Some(row) = self.optional(st::CREATE_POST, args).await? {
            return Ok(Created {
                value: codec::post(&row)?,
                created: true,
            });
        }
        // Only the idempotency key can make the insert do nothing.
        let key = post.idempotency_key.as_deref();
        match self
            .optional(st::POST_BY_IDEMPOTENCY_KEY, args![post.user_id, key])
            .await?
        {
            Some(row) => Ok(Created {
                value: codec::post(&row)?,
                created: false,
            }),
            // The holder of the key was deleted between the two statements.
            None => Err(StoreError::Conflict(
                "idempotency key was just released".into(),
            )),
        }
    }

    async fn post(&self, user: UserId, id: PostId) -> Result<Post, StoreError> {
        codec::post(&self.one(st::POST, args![id, user]).await?)
    }

    async fn post_by_idempotency_key(
        &self,
        user: UserId,
        key: &str,
    ) -> Result<Option<Post>, StoreError> {
        let row = self
            .optional(st::POST_BY_IDEMPOTENCY_KEY, args![user, key])
            .await?;
        row.as_ref().map(codec::post).transpose()
    }

    async fn list_posts(
        &self,
        user: UserId,
        cursor: Option<&str>,
        n: u32,
    ) -> Result<Page<Post>, StoreError> {
        let n = n.max(1);
        // One row more than asked says whether there is a next page.
        let asked = i64::from(n) + 1;
        let rows = match codec::parse_cursor(cursor)? {
            Some(before) => {
                self.all(st::POSTS_PAGE_AFTER, args![user, before, asked])
                    .await?
            }
            None => self.all(st::POSTS_FIRST_PAGE, args![user, asked]).await?,
        };
        Ok(codec::page_of(codec::all(&rows, codec::post)?, n as usize))
    }

    async fn save_post(&self, post: &Post, expected_state: PostState) -> Result<Post, StoreError> {
        check_transition(expected_state, post.state)?;
        let args = args![
            post.id,
            post.user_id,
            post.account_id,
            post.media_id,
            post.state.as_str(),
            post.scheduled_at,
            json(&PostDoc::of(post))?,
            codec::now(),
            expected_state.as_str(),
            post.version,
        ];
        let row = self
            .compare_and_set(
                st::SAVE_POST,
                args,
                st::POST_EXISTS,
                post.id.0,
                post.user_id,
            )
            .await?;
        codec::post(&row)
    }

    async fn delete_post(&self, user: UserId, id: PostId) -> Result<(), StoreError> {
        self.delete_owned(st::DELETE_POST, id.0, user).await
    }

    async fn due_posts(&self, now: DateTime<Utc>, n: u32) -> Result<Vec<DuePost>, StoreError> {
        let rows = self.all(st::DUE_POSTS, args![now, n]).await?;
        codec::all(&rows, codec::due_post)
    }

    async fn posts_stuck_in(
        &self,
        state: PostState,
        before: DateTime<Utc>,
        after: Option<StuckAfter>,
        n: u32,
    ) -> Result<Vec<Post>, StoreError> {
        let state = state.as_str();
        let rows = match after {
            None => {
                self.all(st::POSTS_STUCK_IN, args![state, before, n])
                    .await?
            }
            Some(a) => {
                let args = args![state, before, a.updated_at, a.id, n];
                self.all(st::POSTS_STUCK_IN_AFTER, args).await?
            }
        };
        codec::all(&rows, codec::post)
    }

    async fn create_media(&self, media: &Media) -> Result<(), StoreError> {
        let args = args![
            media.id,
            media.user_id,
            media.post_id,
            media.expires_at,
            json(&MediaDoc::of(media))?,
            media.created_at,
        ];
        self.execute(st::CREATE_MEDIA, args).await.map(drop)
    }

    async fn media(&self, user: UserId, id: MediaId) -> Result<Media, StoreError> {
        codec::media(&self.one(st::MEDIA, args![id, user]).await?)
    }

    async fn attach_media(
        &self,
        user: UserId,
        id: MediaId,
        post: PostId,
    ) -> Result<Media, StoreError> {
        let args = args![id, user, post];
        let row = self
            .compare_and_set(st::ATTACH_MEDIA, args, st::MEDIA_EXISTS, id.0, user)
            .await?;
        codec::media(&row)
    }

    async fn delete_media(&self, user: UserId, id: MediaId) -> Result<(), StoreError> {
        self.delete_owned(st::DELETE_MEDIA, id.0, user).await
    }

    async fn expired_media(&self, now: DateTime<Utc>, n: u32) -> Result<Vec<Media>, StoreError> {
        let rows = self.all(st::EXPIRED_MEDIA, args![now, n]).await?;
        codec::all(&rows, codec::media)
    }

    async fn list_media(&self, user: UserId) -> Result<Vec<Media>, StoreError> {
        let rows = self.all(st::LIST_MEDIA, args![user]).await?;
        codec::all(&rows, codec::media)
    }

    async fn media_after(&self, after: Option<MediaId>, n: u32) -> Result<Vec<Media>, StoreError> {
        let rows = match after {
            Some(after) => self.all(st::MEDIA_AFTER, args![after, n]).await?,
            None => self.all(st::MEDIA_FIRST, args![n]).await?,
        };
        codec::all(&rows, codec::media)
    }

    async fn rewrap_media_key(
        &self,
        user: UserId,
        id: MediaId,
        expected: &str,
        wrapped_key: &str,
    ) -> Result<Media, StoreError> {
        let mut media = self.media(user, id).await?;
        media.wrapped_key = wrapped_key.to_owned();
        let args = args![id, user, expected, json(&MediaDoc::of(&media))?];
        let row = self
            .compare_and_set(st::REWRAP_MEDIA_KEY, args, st::MEDIA_EXISTS, id.0, user)
            .await?;
        codec::media(&row)
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
        ];
        self.execute(st::CREATE_API_KEY, args).await.map(drop)
    }

    async fn list_api_keys(&self, user: UserId) -> Result<Vec<ApiKey>, StoreError> {
        let rows = self.all(st::LIST_API_KEYS, args![user]).await?;
        codec::all(&rows, codec::api_key)
    }

    async fn delete_api_key(&self, user: UserId, id: ApiKeyId) -> Result<(), StoreError> {
        self.delete_owned(st::DELETE_API_KEY, id.0, user).await
    }

    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = self.optional(st::API_KEY_BY_HASH, args![hash]).await?;
        row.as_ref().map(codec::api_key).transpose()
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: DateTime<Utc>) -> Result<(), StoreError> {
        match self.execute(st::TOUCH_API_KEY, args![id, at]).await? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    async fn record_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let args = args![
            event.id,
            event.user_id,
            &event.kind,
            json(&event.detail)?,
            event.created_at,
        ];
        self.execute(st::RECORD_AUDIT, args).await.map(drop)
    }

    async fn list_audit(&self, user: UserId, n: u32) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = self.all(st::LIST_AUDIT, args![user, n]).await?;
        codec::all(&rows, codec::audit_event)
    }

    async fn put_oauth_state(
        &self,
        state_hash: &str,
        user: UserId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(st::SWEEP_OAUTH_STATES, args![codec::now()])
            .await?;
        let args = args![state_hash, user, expires_at];
        self.execute(st::PUT_OAUTH_STATE, args).await.map(drop)
    }

    async fn take_oauth_state(
        &self,
        state_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>, StoreError> {
        match self
            .optional(st::TAKE_OAUTH_STATE, args![state_hash])
            .await?
        {
            Some(row) if row.ts("expires_at")? > now => Ok(Some(UserId(row.uuid("user_id")?))),
            _ => Ok(None),
        }
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let args = args![name, holder, codec::lease_end(now, ttl)?, now];
        let row = self.optional(st::ACQUIRE_LEASE, args).await?;
        row.map(|r| r.int("fencing_token")).transpose()
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
        let row = self
            .optional(st::SESSION_REVOKED, args![token_hash, now])
            .await?;
        Ok(row.is_some())
    }

    async fn revoke_user_sessions(
        &self,
        id: UserId,
        at: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        let args = args![id, at, codec::now()];
        codec::user(&self.one(st::REVOKE_USER_SESSIONS, args).await?)
    }
}
