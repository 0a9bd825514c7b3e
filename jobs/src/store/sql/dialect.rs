//! The small trait the one SQL implementation ([`super::SqlStore`]) is generic over. SQLite and
//! PostgreSQL run the same statements (`super::statements`); a dialect only says how it stores
//! the two kinds of value they keep differently (ids and instants: text in SQLite, `uuid` and
//! `timestamptz` in PostgreSQL), how one cell of its row is read back (`Cells`), and which
//! executors run a statement. Opening a pool and migrating it are each dialect's own business
//! (`super::sqlite`, `super::postgres`).

use crate::model::{
    AccountId, ApiKeyId, AuditEventId, InvitationId, MediaId, PostId, UserId, WorkspaceId,
};
use crate::store::StoreError;
use crate::store::codec::Cells;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use sqlx::migrate::{Migrate, Migrator};
use sqlx::postgres::{PgConnection, PgQueryResult};
use sqlx::query::Query;
use sqlx::sqlite::{SqliteConnection, SqliteQueryResult};
use sqlx::{Database, Encode, Executor, IntoArguments, Pool, Postgres, Sqlite, Type};
use uuid::Uuid;

/// A statement with its arguments bound, ready to run on dialect `D`.
pub type Statement<D> = Query<'static, D, <D as Database>::Arguments>;

/// A database the one SQL implementation runs on: where its migrations are and how it binds a
/// value. Implemented by the `sqlx` database types themselves (`sqlx::Sqlite`, `sqlx::Postgres`)
/// in their own files; how a cell is read back is their row's `Cells`.
pub trait Dialect:
    Driver + Database<Row: Cells, Arguments: IntoArguments<Self>, Connection: Migrate>
{
    /// This dialect's migrations (`migrations/<dialect>`).
    fn migrator() -> Migrator;
    /// Binds the next `$N`.
    fn bind(statement: Statement<Self>, arg: Arg<'_>) -> Statement<Self>;
}

/// How a driver runs one statement. Every `sqlx` driver has these, spelled the same, but under
/// no trait a generic caller can name (its executors are bound by higher-ranked clauses that a
/// generic impl would have to repeat everywhere), so they are implemented here, once for both.
pub trait Driver: Database {
    /// The pool, as the executor of one statement.
    fn on_pool(pool: &Pool<Self>) -> impl Executor<'_, Database = Self>;
    /// One connection (inside a transaction), as the executor of one statement.
    fn on_connection(conn: &mut Self::Connection) -> impl Executor<'_, Database = Self>;
    /// How many rows a statement without `RETURNING` changed.
    fn rows_affected(done: &Self::QueryResult) -> u64;
}

macro_rules! driver {
    ($($db:ty: $conn:ty, $done:ty;)*) => {$(
        impl Driver for $db {
            fn on_pool(pool: &Pool<Self>) -> impl Executor<'_, Database = Self> {
                pool
            }
            fn on_connection(conn: &mut $conn) -> impl Executor<'_, Database = Self> {
                conn
            }
            fn rows_affected(done: &$done) -> u64 {
                done.rows_affected()
            }
        }
    )*};
}
driver! {
    Sqlite: SqliteConnection, SqliteQueryResult;
    Postgres: PgConnection, PgQueryResult;
}

/// One value bound to a statement's `$N`, in domain types.
#[derive(Debug, Clone)]
pub enum Arg<'a> {
    /// An id (stored as text in SQLite, `uuid` in PostgreSQL).
    Id(Option<Uuid>),
    /// An instant (stored as fixed-width text in SQLite, `timestamptz` in PostgreSQL).
    Ts(Option<DateTime<Utc>>),
    Text(Option<&'a str>),
    Int(i64),
    Bool(bool),
    /// A JSON document, serialized once (text in SQLite, `jsonb` in PostgreSQL).
    Json(Box<RawValue>),
}

/// The arguments of one statement, in `$N` order.
pub type Args<'a> = Vec<Arg<'a>>;

/// `args![a, b, …]`: the arguments of one statement, each converted with `Arg::from`.
macro_rules! args {
    ($($arg:expr),* $(,)?) => {
        vec![$($crate::store::sql::dialect::Arg::from($arg)),*]
    };
}
pub(crate) use args;

/// A JSON document argument (a `doc` or `detail` column).
pub fn json(value: &impl Serialize) -> Result<Arg<'static>, StoreError> {
    serde_json::value::to_raw_value(value)
        .map(Arg::Json)
        .map_err(|e| StoreError::Backend(format!("cannot encode a document: {e}")))
}

/// Binds `arg` the way every dialect does, except ids and instants, which `id` and `ts` turn
/// into the dialect's own column type.
pub(super) fn bind_with<'a, D, I, T>(
    statement: Statement<D>,
    arg: Arg<'a>,
    id: fn(Uuid) -> I,
    ts: fn(DateTime<Utc>) -> T,
) -> Statement<D>
where
    D: Database,
    Option<I>: Encode<'a, D> + Type<D>,
    Option<T>: Encode<'a, D> + Type<D>,
    Option<&'a str>: Encode<'a, D> + Type<D>,
    i64: Encode<'a, D> + Type<D>,
    bool: Encode<'a, D> + Type<D>,
    Box<RawValue>: Encode<'a, D> + Type<D>,
{
    match arg {
        Arg::Id(v) => statement.bind(v.map(id)),
        Arg::Ts(v) => statement.bind(v.map(ts)),
        Arg::Text(v) => statement.bind(v),
        Arg::Int(v) => statement.bind(v),
        Arg::Bool(v) => statement.bind(v),
        Arg::Json(v) => statement.bind(v),
    }
}

impl From<Uuid> for Arg<'_> {
    fn from(v: Uuid) -> Self {
        Arg::Id(Some(v))
    }
}

impl From<DateTime<Utc>> for Arg<'_> {
    fn from(v: DateTime<Utc>) -> Self {
        Arg::Ts(Some(v))
    }
}

impl From<Option<DateTime<Utc>>> for Arg<'_> {
    fn from(v: Option<DateTime<Utc>>) -> Self {
        Arg::Ts(v)
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(v))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v)
    }
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

/// A `LIMIT`.
impl From<u32> for Arg<'_> {
    fn from(v: u32) -> Self {
        Arg::Int(i64::from(v))
    }
}

impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}

/// Every typed id binds as the id it wraps, and so does an optional one.
macro_rules! id_args {
    ($($id:ty),*) => {$(
        impl From<$id> for Arg<'_> {
            fn from(v: $id) -> Self {
                Arg::Id(Some(v.0))
            }
        }
        impl From<Option<$id>> for Arg<'_> {
            fn from(v: Option<$id>) -> Self {
                Arg::Id(v.map(|id| id.0))
            }
        }
    )*};
}
id_args!(
    UserId,
    AccountId,
    PostId,
    MediaId,
    ApiKeyId,
    AuditEventId,
    WorkspaceId,
    InvitationId
);
