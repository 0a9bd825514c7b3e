//! The embedded default: one SQLite file (under the data directory by default), in WAL mode so
//! readers never wait for the writer, with a busy timeout so concurrent writers queue instead of
//! failing. Migrations from `migrations/sqlite` run when the store is opened.
//!
//! Ids are stored as hyphenated text and timestamps as fixed-width UTC text (see the
//! migration), so text order is id order and time order, and the database stays readable
//! with the `sqlite3` shell.

use super::codec::{self, Cells, bad_cell};
use super::sql;
use super::sqlx_error::{from_migrate, from_sqlx};
use super::{AccountRef, Created, DuePost, Page, Store, StoreError, StuckAfter, check_transition};
use crate::model::{
    AccountConnect, AccountId, AccountStatus, ApiKey, ApiKeyId, AuditEvent, EncryptedTokens,
    GoogleProfile, Media, MediaId, Post, PostId, PostState, TikTokAccount, User, UserId,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::types::Json;
use sqlx::{Row, Sqlite};
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

/// How long a writer waits for another writer before giving up with `Unavailable`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// SQLite has one writer at a time; a few connections let reads run beside it.
const MAX_CONNECTIONS: u32 = 8;
/// `ts` writes this; every stored instant has the same width, so text order is time order.
const TS_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

/// The due-post query exactly as [`Store::due_posts`] runs it (tests `EXPLAIN` it).
pub const DUE_POSTS_SQL: &str = sql::DUE_POSTS;

/// The SQLite backend.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating the file and its directory if missing) and migrates the database at
    /// `database_url` (`sqlite://path/to/file.db`, or `sqlite::memory:` for a private
    /// in-memory database).
    pub async fn connect(database_url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(database_url)
            .map_err(from_sqlx)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable in WAL mode except for the last commits on power loss.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let in_memory = database_url.contains(":memory:") || database_url.contains("mode=memory");
        let pool_options = if in_memory {
            // An in-memory database lives as long as its last connection: keep exactly one.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            let file = options.get_filename();
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                tokio::fs::create_dir_all(dir).await.map_err(|e| {
                    StoreError::Backend(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            SqlitePoolOptions::new().max_connections(MAX_CONNECTIONS)
        };
        let pool = pool_options
            .connect_with(options)
            .await
            .map_err(from_sqlx)?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations not applied yet, each in its own transaction. Migrations this
    /// binary does not know (a newer release ran) are tolerated, so an older replica can still
    /// start during a rolling deploy; that is safe because migrations only add (README).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut migrator = sqlx::migrate!("../migrations/sqlite");
        migrator.set_ignore_missing(true);
        migrator.run(&self.pool).await.map_err(from_migrate)
    }

    /// Closes every connection (after this, calls answer `Unavailable`).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// `EXPLAIN QUERY PLAN` of [`DUE_POSTS_SQL`], one plan line per row, for tests that prove
    /// the scheduler's tick is served by `posts_due_idx`.
    pub async fn explain_due_posts(&self) -> Result<String, StoreError> {
        let rows = sqlx::query(concat!("EXPLAIN QUERY PLAN ", sql::due_posts!()))
            .bind(ts(codec::now()))
            .bind(100_i64)
            .fetch_all(&self.pool)
            .await
            .map_err(from_sqlx)?;
        let lines: Result<Vec<String>, StoreError> = rows
            .iter()
            .map(|r| {
                r.try_get::<String, _>("detail")
                    .map_err(|e| bad_cell("detail", e))
            })
            .collect();
        Ok(lines?.join("\n"))
    }

    /// After a compare-and-set matched no row: if the row is there (for this user) it moved on
    /// (`StaleState`), else it is `NotFound`.
    async fn missed(&self, exists_sql: &'static str, id: Uuid, user: UserId) -> StoreError {
        let found = sqlx::query(exists_sql)
            .bind(id.to_string())
            .bind(user.to_string())
            .fetch_optional(&self.pool)
            .await;
        match found {
            Ok(Some(_)) => StoreError::StaleState,
            Ok(None) => StoreError::NotFound,
            Err(e) => from_sqlx(e),
        }
    }

    /// Runs a user-scoped `DELETE`; no row deleted means not found (or not theirs).
    async fn delete_owned(
        &self,
        sql: &'static str,
        id: Uuid,
        user: UserId,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(sql)
            .bind(id.to_string())
            .bind(user.to_string())
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.format(TS_FORMAT).to_string()
}

fn opt_ts(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(ts)
}

fn opt_id(id: Option<Uuid>) -> Option<String> {
    id.map(|u| u.to_string())
}

fn limit(n: u32) -> i64 {
    i64::from(n)
}

fn get<'r, T>(row: &'r SqliteRow, col: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(col).map_err(|e| bad_cell(col, e))
}

fn parse_uuid(col: &str, s: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(|e| bad_cell(col, e))
}

fn parse_ts(col: &str, s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| bad_cell(col, e))
}

impl Cells for SqliteRow {
    fn uuid(&self, col: &str) -> Result<Uuid, StoreError> {
        parse_uuid(col, &get::<String>(self, col)?)
    }
    fn opt_uuid(&self, col: &str) -> Result<Option<Uuid>, StoreError> {
        get::<Option<String>>(self, col)?
            .map(|s| parse_uuid(col, &s))
            .transpose()
    }
    fn text(&self, col: &str) -> Result<String, StoreError> {
        get(self, col)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        get(self, col)
    }
    fn int(&self, col: &str) -> Result<i64, StoreError> {
        get(self, col)
    }
    fn ts(&self, col: &str) -> Result<DateTime<Utc>, StoreError> {
        parse_ts(col, &get::<String>(self, col)?)
    }
    fn opt_ts(&self, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        get::<Option<String>>(self, col)?
            .map(|s| parse_ts(col, &s))
            .transpose()
    }
    fn json(&self, col: &str) -> Result<serde_json::Value, StoreError> {
        serde_json::from_str(&get::<String>(self, col)?).map_err(|e| bad_cell(col, e))
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(sql::PING)
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(())
    }

    async fn upsert_user(&self, profile: &GoogleProfile) -> Result<User, StoreError> {
        let row = sqlx::query(sql::UPSERT_USER)
            .bind(UserId::new().to_string())
            .bind(&profile.google_uid)
            .bind(&profile.email)
            .bind(&profile.name)
            .bind(profile.picture.as_deref())
            .bind(ts(codec::now()))
            .fetch_one(&self.pool)
            .await
            .map_err(from_sqlx)?;
        codec::user(&row)
    }

    async fn user(&self, id: UserId) -> Result<User, StoreError> {
        let row = sqlx::query(sql::USER)
            .bind(id.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(from_sqlx)?;
        codec::user(&row)
    }

    async fn user_by_google_uid(&self, google_uid: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(sql::USER_BY_GOOGLE_UID)
            .bind(google_uid)
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?;
        row.as_ref().map(codec::user).transpose()
    }

    async fn mark_user_erasing(&self, id: UserId, at: DateTime<Utc>) -> Result<User, StoreError> {
        let row = sqlx::query(sql::MARK_USER_ERASING)
            .bind(id.to_string())
            .bind(ts(at))
            .bind(ts(codec::now()))
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?;
        match row {
            Some(row) => codec::user(&row),
            None => Err(StoreError::NotFound),
        }
    }

    async fn users_erasing_before(
        &self,
        before: DateTime<Utc>,
        n: u32,
    ) -> Result<Vec<UserId>, StoreError> {
        let rows = sqlx::query(sql::USERS_ERASING_BEFORE)
            .bind(ts(before))
            .bind(limit(n))
            .fetch_all(&self.pool)
            .await
            .map_err(from_sqlx)?;
        codec::all(&rows, |r| Ok(UserId(r.uuid("id")?)))
    }

    async fn erase_user(&self, id: UserId) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        for statement in sql::ERASE_USER {
            sqlx::query(statement)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?;
        }
        tx.commit().await.map_err(from_sqlx)
    }

    async fn connect_account(
        &self,
        user: UserId,
        connect: &AccountConnect,
    ) -> Result<TikTokAccount, StoreError> {
        let t = &connect.tokens;
        let row = sqlx::query(sql::CONNECT_ACCOUNT)
            .bind(connect.id.to_string())
            .bind(user.to_string())
            .bind(&connect.open_id)
            .bind(&t.access_token)
            .bind(&t.refresh_token)
            .bind(ts(t.access_expires_at))
            .bind(ts(t.refresh_expires_at))
            .bind(Json(codec::AccountDoc::of_connect(connect)))
            .bind(ts(codec::now()))
            .fetch_one(&self.pool)
            .await
            .map_err(from_sqlx)?;
        codec::account(&row)
    }

    async fn account(&self, user: UserId, id: AccountId) -> Result<TikTokAccount, StoreError> {
        let row = sqlx::query(sql::ACCOUNT)
            .bind(id.to_string())
            .bind(user.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(from_sqlx)?;
        codec::account(&row)
    }

    async fn all_accounts(&self, user: UserId) -> Result<Vec<TikTokAccount>, StoreError> {
        let rows = sqlx::query(sql::ALL_ACCOUNTS)
            .bind(user.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(from_sqlx)?;
        codec::all(&rows, codec::account)
    }

    async fn store_tokens(
        &self,
        user: UserId,
        id: AccountId,
        expected_version: i64,
        tokens: &EncryptedTokens,
    ) -> Result<TikTokAccount, StoreError> {
        let row = sqlx::query(sql::STORE_TOKENS)
            .bind(id.to_string())
            .bind(user.to_string())
            .bind(expected_version)
            .bind(&tokens.access_token)
            .bind(ts(tokens.access_expires_at))
            .bind(&tokens.refresh_token)
            .bind(ts(tokens.refresh_expires_at))
            .bind(ts(codec::now()))
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?;
        match row {
            Some(row) => codec::account(&row),
            None => Err(self.missed(sql::ACCOUNT_EXISTS, id.0, user).await),
        }
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
        let row = sqlx::query(sql::SET_ACCOUNT_STATUS)
            .bind(id.to_string())
            .bind(user.to_string())
            .bind(expected_version)
            .bind(status.as_str())
            .bind(reason)
            .bind(clear_tokens)
            .bind(ts(codec::now()))
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?;
        match row {
            Some(row) => codec::account(&row),
            None => Err(self.missed(sql::ACCOUNT_EXISTS, id.0, user).await),
        }
    }

    async fn delete_account(&self, user: UserId, id: AccountId) -> Result<(), StoreError> {
        self.delete_owned(sql::DELETE_ACCOUNT, id.0, user).await
    }

    async fn accounts_expiring_before(
        &self,
        at: DateTime<Utc>,
        n: u32,
    ) -> Result<Vec<AccountRef>, StoreError> {
        let rows = sqlx::query(sql::ACCOUNTS_EXPIRING_BEFORE)
            .bind(ts(at))
            .bind(limit(n))
            .fetch_all(&self.pool)
            .await
            .map_err(from_sqlx)?;
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
        let query = match after {
            Some(after) => sqlx::query(sql::ACCOUNTS_AFTER)
                .bind(after.to_string())
                .bind(limit(n)),
            None => sqlx::query(sql::ACCOUNTS_FIRST).bind(limit(n)),
        };
        let rows = query.fetch_all(&self.pool).await.map_err(from_sqlx)?;
        codec::all(&rows, codec::account)
    }

    async fn create_post(&self, post: &Post) -> Result<Created<Post>, StoreError> {
        let inserted = sqlx::query(sql::CREATE_POST)
            .bind(post.id.to_string())
            .bind(post.user_id.to_string())
            .bind(post.account_id.to_string())
            .bind(opt_id(post.media_id.map(|m| m.0)))
            .bind(post.state.as_str())
            .bind(post.version)
            .bind(opt_ts(post.scheduled_at))
            .bind(post.idempotency_key.as_deref())
            .bind(Json(codec::PostDoc::of(post)))
            .bind(ts(post.created_at))
            .bind(ts(post.updated_at))
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?;
        if let Some(row) = inserted {
            return Ok(Created {
                value: codec::post(&row)?,
                created: true,
            });
        }
        // Only the idempotency key can make the insert do nothing.
        let existing = sqlx::query(sql::POST_BY_IDEMPOTENCY_KEY)
            .bind(post.user_id.to_string())
            .bind(post.idempotency_key.as_deref())
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?;
        match existing {
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
        let row = sqlx::query(sql::POST)
            .bind(id.to_string())
            .bind(user.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(from_sqlx)?;
        codec::post(&row)
    }

    async fn post_by_idempotency_key(
        &self,
        user: UserId,
        key: &str,
    ) -> Result<Option<Post>, StoreError> {
        let row = sqlx::query(sql::POST_BY_IDEMPOTENCY_KEY)
            .bind(user.to_string())
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?;
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
        let query = match codec::parse_cursor(cursor)? {
            Some(before) => sqlx::query(sql::POSTS_PAGE_AFTER)
                .bind(user.to_string())
                .bind(before.to_string())
                .bind(limit(n) + 1),
            None => sqlx::query(sql::POSTS_FIRST_PAGE)
                .bind(user.to_string())
                .bind(limit(n) + 1),
        };
        let rows = query.fetch_all(&self.pool).await.map_err(from_sqlx)?;
        Ok(codec::page_of(codec::all(&rows, codec::post)?, n as usize))
    }

    async fn save_post(&self, post: &Post, expected_state: PostState) -> Result<Post, StoreError> {
        check_transition(expected_state, post.state)?;
        let row = sqlx::query(sql::SAVE_POST)
            .bind(post.id.to_string())
            .bind(post.user_id.to_string())
            .bind(post.account_id.to_string())
            .bind(opt_id(post.media_id.map(|m| m.0)))
            .bind(post.state.as_str())
            .bind(opt_ts(post.scheduled_at))
            .bind(Json(codec::PostDoc::of(post)))
            .bind(ts(codec::now()))
            .bind(expected_state.as_str())
            .bind(post.version)
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?;
        match row {
            Some(row) => codec::post(&row),
            None => Err(self.missed(sql::POST_EXISTS, post.id.0, post.user_id).await),
        }
    }

    async fn delete_post(&self, user: UserId, id: PostId) -> Result<(), StoreError> {
        self.delete_owned(sql::DELETE_POST, id.0, user).await
    }

    async fn due_posts(&self, now: DateTime<Utc>, n: u32) -> Result<Vec<DuePost>, StoreError> {
        let rows = sqlx::query(DUE_POSTS_SQL)
            .bind(ts(now))
            .bind(limit(n))
            .fetch_all(&self.pool)
            .await
            .map_err(from_sqlx)?;
        codec::all(&rows, codec::due_post)
    }

    async fn posts_stuck_in(
        &self,
        state: PostState,
        before: DateTime<Utc>,
        after: Option<StuckAfter>,
        n: u32,
    ) -> Result<Vec<Post>, StoreError> {
        let query = match after {
            None => sqlx::query(sql::POSTS_STUCK_IN)
                .bind(state.as_str())
                .bind(ts(before))
                .bind(limit(n)),
            Some(a) => sqlx::query(sql::POSTS_STUCK_IN_AFTER)
                .bind(state.as_str())
                .bind(ts(before))
                .bind(ts(a.updated_at))
                .bind(a.id.to_string())
                .bind(limit(n)),
        };
        let rows = query.fetch_all(&self.pool).await.map_err(from_sqlx)?;
        codec::all(&rows, codec::post)
    }

    async fn create_media(&self, media: &Media) -> Result<(), StoreError> {
        sqlx::query(sql::CREATE_MEDIA)
            .bind(media.id.to_string())
            .bind(media.user_id.to_string())
            .bind(opt_id(media.post_id.map(|p| p.0)))
            .bind(ts(media.expires_at))
            .bind(Json(codec::MediaDoc::of(media)))
            .bind(ts(media.created_at))
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(())
    }

    async fn media(&self, user: UserId, id: MediaId) -> Result<Media, StoreError> {
        let row = sqlx::query(sql::MEDIA)
            .bind(id.to_string())
            .bind(user.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(from_sqlx)?;
        codec::media(&row)
    }

    async fn attach_media(
        &self,
        user: UserId,
        id: MediaId,
        post: PostId,
    ) -> Result<Media, StoreError> {
        let row = sqlx::query(sql::ATTACH_MEDIA)
            .bind(id.to_string())
            .bind(user.to_string())
            .bind(post.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?;
        match row {
            Some(row) => codec::media(&row),
            None => Err(self.missed(sql::MEDIA_EXISTS, id.0, user).await),
        }
    }

    async fn delete_media(&self, user: UserId, id: MediaId) -> Result<(), StoreError> {
        self.delete_owned(sql::DELETE_MEDIA, id.0, user).await
    }

    async fn expired_media(&self, now: DateTime<Utc>, n: u32) -> Result<Vec<Media>, StoreError> {
        let rows = sqlx::query(sql::EXPIRED_MEDIA)
            .bind(ts(now))
            .bind(limit(n))
            .fetch_all(&self.pool)
            .await
            .map_err(from_sqlx)?;
        codec::all(&rows, codec::media)
    }

    async fn list_media(&self, user: UserId) -> Result<Vec<Media>, StoreError> {
        let rows = sqlx::query(sql::LIST_MEDIA)
            .bind(user.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(from_sqlx)?;
        codec::all(&rows, codec::media)
    }

    async fn media_after(&self, after: Option<MediaId>, n: u32) -> Result<Vec<Media>, StoreError> {
        let query = match after {
            Some(after) => sqlx::query(sql::MEDIA_AFTER)
                .bind(after.to_string())
                .bind(limit(n)),
            None => sqlx::query(sql::MEDIA_FIRST).bind(limit(n)),
        };
        let rows = query.fetch_all(&self.pool).await.map_err(from_sqlx)?;
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
        let row = sqlx::query(sql::REWRAP_MEDIA_KEY)
            .bind(id.to_string())
            .bind(user.to_string())
            .bind(expected)
            .bind(Json(codec::MediaDoc::of(&media)))
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?;
        match row {
            Some(row) => codec::media(&row),
            None => Err(self.missed(sql::MEDIA_EXISTS, id.0, user).await),
        }
    }

    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        sqlx::query(sql::CREATE_API_KEY)
            .bind(key.id.to_string())
            .bind(key.user_id.to_string())
            .bind(&key.name)
            .bind(&key.prefix)
            .bind(&key.hash)
            .bind(ts(key.created_at))
            .bind(opt_ts(key.last_used_at))
            .bind(key.scopes.to_stored())
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(())
    }

    async fn list_api_keys(&self, user: UserId) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(sql::LIST_API_KEYS)
            .bind(user.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(from_sqlx)?;
        codec::all(&rows, codec::api_key)
    }

    async fn delete_api_key(&self, user: UserId, id: ApiKeyId) -> Result<(), StoreError> {
        self.delete_owned(sql::DELETE_API_KEY, id.0, user).await
    }

    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(sql::API_KEY_BY_HASH)
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?;
        row.as_ref().map(codec::api_key).transpose()
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: DateTime<Utc>) -> Result<(), StoreError> {
        let done = sqlx::query(sql::TOUCH_API_KEY)
            .bind(id.to_string())
            .bind(ts(at))
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn record_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        sqlx::query(sql::RECORD_AUDIT)
            .bind(event.id.to_string())
            .bind(event.user_id.to_string())
            .bind(&event.kind)
            .bind(Json(&event.detail))
            .bind(ts(event.created_at))
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(())
    }

    async fn list_audit(&self, user: UserId, n: u32) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query(sql::LIST_AUDIT)
            .bind(user.to_string())
            .bind(limit(n))
            .fetch_all(&self.pool)
            .await
            .map_err(from_sqlx)?;
        codec::all(&rows, codec::audit_event)
    }

    async fn put_oauth_state(
        &self,
        state_hash: &str,
        user: UserId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(sql::SWEEP_OAUTH_STATES)
            .bind(ts(codec::now()))
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        sqlx::query(sql::PUT_OAUTH_STATE)
            .bind(state_hash)
            .bind(user.to_string())
            .bind(ts(expires_at))
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(())
    }

    async fn take_oauth_state(
        &self,
        state_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>, StoreError> {
        let row = sqlx::query(sql::TAKE_OAUTH_STATE)
            .bind(state_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?;
        match row {
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
        let row = sqlx::query(sql::ACQUIRE_LEASE)
            .bind(name)
            .bind(holder)
            .bind(ts(codec::lease_end(now, ttl)?))
            .bind(ts(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?;
        row.map(|r| r.int("fencing_token")).transpose()
    }

    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(sql::RENEW_LEASE)
            .bind(name)
            .bind(holder)
            .bind(ts(codec::lease_end(now, ttl)?))
            .bind(ts(now))
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query(sql::RELEASE_LEASE)
            .bind(name)
            .bind(holder)
            .bind(ts(DateTime::UNIX_EPOCH))
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(())
    }

    // ---- sessions: sign-out and "sign out everywhere" ----

    async fn revoke_session(
        &self,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(sql::SWEEP_REVOKED_SESSIONS)
            .bind(ts(codec::now()))
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        sqlx::query(sql::REVOKE_SESSION)
            .bind(token_hash)
            .bind(ts(expires_at))
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(())
    }

    async fn session_revoked(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(sql::SESSION_REVOKED)
            .bind(token_hash)
            .bind(ts(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(row.is_some())
    }

    async fn revoke_user_sessions(
        &self,
        id: UserId,
        at: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        let row = sqlx::query(sql::REVOKE_USER_SESSIONS)
            .bind(id.to_string())
            .bind(ts(at))
            .bind(ts(codec::now()))
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?;
        match row {
            Some(row) => codec::user(&row),
            None => Err(StoreError::NotFound),
        }
    }
}
