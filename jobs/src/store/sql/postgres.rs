//! PostgreSQL, for more than one machine: web, worker and scheduler replicas share one
//! database. Ids are `uuid`, instants `timestamptz`, documents `jsonb`. Migrations from
//! `migrations/postgres` run when the store is opened; sqlx holds an advisory lock while it
//! migrates, so replicas starting together apply each migration once.

use super::dialect::{Arg, Dialect, Statement, bind_with};
use super::sqlx_error::from_sqlx;
use super::{SqlStore, statements};
use crate::store::StoreError;
use crate::store::codec::{self, Cells, bad_cell};
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::{Postgres, Row};
use std::time::Duration;
use uuid::Uuid;

/// Connections per process; several processes share the server's `max_connections`.
const MAX_CONNECTIONS: u32 = 10;
/// A store that cannot hand out a connection this quickly is `Unavailable`, so `/readyz` and
/// jobs fail fast instead of hanging.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The due-post query exactly as [`crate::store::Store::due_posts`] runs it (tests `EXPLAIN`
/// it).
pub const DUE_POSTS_SQL: &str = statements::DUE_POSTS;

/// The PostgreSQL backend.
pub type PostgresStore = SqlStore<Postgres>;

impl SqlStore<Postgres> {
    /// Connects to `database_url` (`postgres://user@host:port/db`) and migrates the database.
    pub async fn connect(database_url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(database_url)
            .await
            .map_err(from_sqlx)?;
        Self::migrated(pool).await
    }

    /// `EXPLAIN (FORMAT JSON)` of [`DUE_POSTS_SQL`], for tests that prove the scheduler's tick
    /// is served by `posts_due_idx`. Sequential scans are switched off for this one
    /// transaction: on a table of a few rows the planner would rightly prefer one, which says
    /// nothing about a table of millions.
    pub async fn explain_due_posts(&self) -> Result<String, StoreError> {
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        sqlx::query("SET LOCAL enable_seqscan = off")
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        let row = sqlx::query(concat!("EXPLAIN (FORMAT JSON) ", statements::due_posts!()))
            .bind(codec::now())
            .bind(100_i64)
            .fetch_one(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        let plan: serde_json::Value = row.try_get(0).map_err(|e| bad_cell("QUERY PLAN", e))?;
        tx.rollback().await.map_err(from_sqlx)?;
        Ok(plan.to_string())
    }
}

/// Ids and instants bind as themselves (`uuid`, `timestamptz`).
impl Dialect for Postgres {
    fn migrator() -> Migrator {
        sqlx::migrate!("../migrations/postgres")
    }
    fn bind(statement: Statement<Self>, arg: Arg<'_>) -> Statement<Self> {
        bind_with(statement, arg, |id| id, |t| t)
    }
}

/// Every cell decodes to its own Rust type: the column types are the domain's.
fn get<'r, T>(row: &'r PgRow, col: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(col).map_err(|e| bad_cell(col, e))
}

impl Cells for PgRow {
    fn opt_uuid(&self, col: &str) -> Result<Option<Uuid>, StoreError> {
        get(self, col)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        get(self, col)
    }
    fn int(&self, col: &str) -> Result<i64, StoreError> {
        get(self, col)
    }
    fn opt_ts(&self, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        get(self, col)
    }
    fn json(&self, col: &str) -> Result<serde_json::Value, StoreError> {
        get(self, col)
    }
}
