//! The one translation of `sqlx` errors into [`StoreError`], shared by the SQL backends, so a
//! caller sees the same domain error whichever database answered.

use super::StoreError;
use sqlx::error::{DatabaseError, ErrorKind};
use sqlx::migrate::MigrateError;

/// Maps a driver error to the domain: unreachable or overloaded is `Unavailable` (retryable),
/// a unique key is `Conflict`, a missing owner row is `NotFound`, anything else is `Backend`.
pub(crate) fn from_sqlx(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => StoreError::Unavailable(e.to_string()),
        sqlx::Error::Database(db) => from_database(db.as_ref()),
        sqlx::Error::Migrate(m) => from_migrate(*m),
        other => StoreError::Backend(other.to_string()),
    }
}

fn from_database(db: &dyn DatabaseError) -> StoreError {
    match db.kind() {
        // PostgreSQL names the constraint; SQLite's message names the columns.
        ErrorKind::UniqueViolation => {
            StoreError::Conflict(db.constraint().unwrap_or(db.message()).to_owned())
        }
        // Every foreign key points at the owning user: writing for a user that does not
        // exist (or was just erased) is the same as writing to another user's row.
        ErrorKind::ForeignKeyViolation => StoreError::NotFound,
        _ if is_transient(db) => StoreError::Unavailable(db.message().to_owned()),
        _ => StoreError::Backend(db.message().to_owned()),
    }
}

/// Errors that go away by themselves: a busy SQLite file, a PostgreSQL server that is
/// restarting, out of connections, or that broke a deadlock or serialization conflict.
fn is_transient(db: &dyn DatabaseError) -> bool {
    let Some(code) = db.code() else {
        return false;
    };
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // SQLite extended codes carry the primary code in the low byte.
        const SQLITE_BUSY: i32 = 5;
        const SQLITE_LOCKED: i32 = 6;
        return code
            .parse::<i32>()
            .is_ok_and(|c| matches!(c & 0xff, SQLITE_BUSY | SQLITE_LOCKED));
    }
    // PostgreSQL SQLSTATE: 08 connection exception, 53 insufficient resources,
    // 57P01..57P03 shutdown or not yet accepting, 40001 serialization, 40P01 deadlock.
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(&*code, "57P01" | "57P02" | "57P03" | "40001" | "40P01")
}

/// Migration failures: a database the store cannot reach is `Unavailable`; a changed or
/// failed migration is `Backend` (start-up must stop and a person must look).
pub(crate) fn from_migrate(e: MigrateError) -> StoreError {
    match e {
        MigrateError::Execute(inner) => from_sqlx(inner),
        other => StoreError::Backend(format!("migration: {other}")),
    }
}
