//! The embedded default: one SQLite file (under the data directory by default), in WAL mode so
//! readers never wait for the writer, with a busy timeout so concurrent writers queue instead of
//! failing. Migrations from `migrations/sqlite` run when the store is opened.
//!
//! Ids are stored as hyphenated text and timestamps as fixed-width UTC text (see the
//! migration), so text order is id order and time order, and the database stays readable
//! with the `sqlite3` shell.

use super::dialect::{Arg, Dialect, Statement, bind_with};
use super::sqlx_error::from_sqlx;
use super::{SqlStore, statements};
use crate::store::StoreError;
use crate::store::codec::{self, Cells, bad_cell};
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
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

/// The due-post query exactly as [`crate::store::Store::due_posts`] runs it (tests `EXPLAIN`
/// it).
pub const DUE_POSTS_SQL: &str = statements::DUE_POSTS;

/// The SQLite backend.
pub type SqliteStore = SqlStore<Sqlite>;

impl SqlStore<Sqlite> {
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
        Self::migrated(pool).await
    }

    /// `EXPLAIN QUERY PLAN` of [`DUE_POSTS_SQL`], one plan line per row, for tests that prove
    /// the scheduler's tick is served by `posts_due_idx`.
    pub async fn explain_due_posts(&self) -> Result<String, StoreError> {
        let rows = sqlx::query(concat!("EXPLAIN QUERY PLAN ", statements::due_posts!()))
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
}

/// Ids and instants are text here (see the module doc).
impl Dialect for Sqlite {
    fn migrator() -> Migrator {
        sqlx::migrate!("../migrations/sqlite")
    }
    fn bind(statement: Statement<Self>, arg: Arg<'_>) -> Statement<Self> {
        bind_with(statement, arg, |id| id.to_string(), ts)
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.format(TS_FORMAT).to_string()
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
    fn opt_uuid(&self, col: &str) -> Result<Option<Uuid>, StoreError> {
        get::<Option<String>>(self, col)?
            .map(|s| parse_uuid(col, &s))
            .transpose()
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        get(self, col)
    }
    fn int(&self, col: &str) -> Result<i64, StoreError> {
        get(self, col)
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
