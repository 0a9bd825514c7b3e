//! The SQLite side of [`super::Queue`]: apalis-sqlite's `Jobs` table (one row per task, keyed by
//! `id`, queue in `job_type`). Its `status` moves `Pending → Queued (fetched) → Running → Done |
//! Failed | Killed`; a `Failed` row with `attempts < max_attempts` is handed out again, so a
//! dead task is `Killed` or a `Failed` row out of attempts.

use super::{
    Consumer, DeadJob, MISSED_HEARTBEATS, QueueError, QueueStats, TaskId, TaskState,
    decode_payload, from_unix, last_error,
};
use apalis::prelude::{BackendExt, IntervalStrategy, PollWith, Task};
use apalis_sqlite::{SqlitePool, SqliteStorage};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::time::Duration;

const DEAD: &str = "(status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts))";

pub(super) async fn open(path: &Path) -> Result<SqlitePool, QueueError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir).await.map_err(|e| {
            QueueError::Unavailable(format!("cannot create {}: {e}", dir.display()))
        })?;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        // WAL lets web pushes and worker fetches proceed together; writers wait, not fail.
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new().connect_with(options).await?;
    SqliteStorage::setup(&pool).await?;
    Ok(pool)
}

/// The apalis storage a worker consumes `queue` from.
pub(super) fn storage(
    pool: &SqlitePool,
    queue: &str,
    consumer: Consumer,
) -> PollWith<SqliteStorage<serde_json::Value>, IntervalStrategy> {
    let config = apalis_sqlite::Config::default()
        .queue(queue)
        .batch_size(consumer.batch_size())
        .heartbeat_interval(consumer.heartbeat)
        .missed_heartbeats(MISSED_HEARTBEATS);
    SqliteStorage::<serde_json::Value>::new(pool)
        .with_config(config)
        .poll_with_interval(consumer.poll_interval)
}

pub(super) async fn push(
    pool: &SqlitePool,
    queue: &str,
    tasks: &[Task<Vec<u8>>],
) -> Result<(), QueueError> {
    let mut tx = pool.begin().await?;
    apalis_sqlite::queries::push_tasks(&mut *tx, queue, tasks).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn stats(pool: &SqlitePool, queue: &str) -> Result<QueueStats, QueueError> {
    let row: (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT
            COALESCE(SUM(status = 'Pending' AND run_at <= ?2), 0),
            COALESCE(SUM(status IN ('Queued', 'Running')), 0),
            COALESCE(SUM(status = 'Pending' AND run_at > ?2), 0),
            COALESCE(SUM(status = 'Done'), 0),
            COALESCE(SUM(status = 'Failed' AND attempts < max_attempts), 0),
            COALESCE(SUM(status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts)), 0)
         FROM Jobs WHERE job_type = ?1",
    )
    .bind(queue)
    .bind(chrono::Utc::now().timestamp())
    .fetch_one(pool)
    .await?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(QueueStats {
        pending: n(row.0),
        active: n(row.1),
        scheduled: n(row.2),
        done: n(row.3),
        failed: n(row.4),
        dead: n(row.5),
    })
}

pub(super) async fn task_state(
    pool: &SqlitePool,
    queue: &str,
    id: &TaskId,
) -> Result<Option<TaskState>, QueueError> {
    let row: Option<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT status, attempts, max_attempts, run_at FROM Jobs WHERE job_type = ?1 AND id = ?2",
    )
    .bind(queue)
    .bind(id.as_str())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(
        |(status, attempts, max_attempts, run_at)| match status.as_str() {
            "Done" => TaskState::Done,
            "Killed" => TaskState::Dead,
            "Failed" if attempts >= max_attempts => TaskState::Dead,
            "Failed" => TaskState::Retrying,
            "Queued" | "Running" => TaskState::Running,
            _ if run_at > chrono::Utc::now().timestamp() => TaskState::Scheduled,
            _ => TaskState::Pending,
        },
    ))
}

#[derive(sqlx::FromRow)]
struct DeadRow {
    id: String,
    job: Vec<u8>,
    attempts: i64,
    last_result: Option<String>,
    done_at: Option<i64>,
}

pub(super) async fn dead_jobs(
    pool: &SqlitePool,
    queue: &str,
    limit: usize,
) -> Result<Vec<DeadJob>, QueueError> {
    let rows: Vec<DeadRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, job, attempts, last_result, done_at FROM Jobs
         WHERE job_type = ?1 AND {DEAD} ORDER BY id DESC LIMIT ?2"
    )))
    .bind(queue)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await?;
    Ok(dead_rows(rows))
}

/// One dead task, if `id` is dead.
pub(super) async fn dead_job(
    pool: &SqlitePool,
    queue: &str,
    id: &TaskId,
) -> Result<Option<DeadJob>, QueueError> {
    let rows: Vec<DeadRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, job, attempts, last_result, done_at FROM Jobs
         WHERE job_type = ?1 AND id = ?2 AND {DEAD}"
    )))
    .bind(queue)
    .bind(id.as_str())
    .fetch_all(pool)
    .await?;
    Ok(dead_rows(rows).pop())
}

fn dead_rows(rows: Vec<DeadRow>) -> Vec<DeadJob> {
    rows.into_iter()
        .map(|row| DeadJob {
            task_id: TaskId(row.id),
            payload: decode_payload(&row.job),
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            last_error: row.last_result.as_deref().and_then(last_error),
            failed_at: row.done_at.and_then(from_unix),
        })
        .collect()
}

pub(super) async fn replay(
    pool: &SqlitePool,
    queue: &str,
    id: &TaskId,
    make: impl FnOnce(Vec<u8>) -> Task<Vec<u8>>,
) -> Result<bool, QueueError> {
    // IMMEDIATE takes the write lock up front, so a racing replay waits instead of failing.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    // Deleting the dead row is the claim: of two racing replays only one deletes it.
    let payload: Option<(Vec<u8>,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "DELETE FROM Jobs WHERE job_type = ?1 AND id = ?2 AND {DEAD} RETURNING job"
    )))
    .bind(queue)
    .bind(id.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    let Some((payload,)) = payload else {
        return Ok(false);
    };
    apalis_sqlite::queries::push_tasks(&mut *tx, queue, &[make(payload)]).await?;
    tx.commit().await?;
    Ok(true)
}

/// Removes a dead task for good. False when it was not dead.
pub(super) async fn discard_dead(
    pool: &SqlitePool,
    queue: &str,
    id: &TaskId,
) -> Result<bool, QueueError> {
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM Jobs WHERE job_type = ?1 AND id = ?2 AND {DEAD}"
    )))
    .bind(queue)
    .bind(id.as_str())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes every finished task (done or dead) of every queue in `namespace` whose payload
/// contains `needle`. Returns how many.
pub(super) async fn forget_finished_matching(
    pool: &SqlitePool,
    namespace: &str,
    needle: &str,
) -> Result<usize, QueueError> {
    let pattern = format!("{}:%", like_escape(namespace));
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM Jobs WHERE job_type LIKE ?1 ESCAPE '\\' AND (status = 'Done' OR {DEAD}) \
         AND instr(CAST(job AS TEXT), ?2) > 0"
    )))
    .bind(&pattern)
    .bind(needle)
    .execute(pool)
    .await?;
    Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
}

/// Removes the done tasks of every queue in `namespace` that finished at or before `before`
/// (unix seconds), and those of the queues in `sooner` (full queue names) that finished at or
/// before their own, later time. Dead tasks are left alone. Returns how many.
pub(super) async fn trim_done(
    pool: &SqlitePool,
    namespace: &str,
    before: i64,
    sooner: &[(String, i64)],
) -> Result<u64, QueueError> {
    let mut removed = 0;
    for (queue, cutoff) in sooner {
        let done = sqlx::query(
            "DELETE FROM Jobs WHERE status = 'Done' AND done_at IS NOT NULL AND done_at <= ?1 \
             AND job_type = ?2",
        )
        .bind(cutoff)
        .bind(queue)
        .execute(pool)
        .await?;
        removed += done.rows_affected();
    }
    let prefix = format!("{namespace}:");
    // `substr` rather than LIKE: namespaces may contain `_`, a LIKE wildcard.
    let done = sqlx::query(
        "DELETE FROM Jobs WHERE status = 'Done' AND done_at IS NOT NULL AND done_at <= ?1 \
         AND substr(job_type, 1, ?2) = ?3",
    )
    .bind(before)
    .bind(i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX))
    .bind(&prefix)
    .execute(pool)
    .await?;
    Ok(removed + done.rows_affected())
}

pub(super) async fn ping(pool: &SqlitePool) -> Result<(), QueueError> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}

pub(super) async fn purge(pool: &SqlitePool, namespace: &str) -> Result<(), QueueError> {
    let pattern = format!("{}:%", like_escape(namespace));
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM Jobs WHERE job_type LIKE ?1 ESCAPE '\\'")
        .bind(&pattern)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM Workers WHERE worker_type LIKE ?1 ESCAPE '\\'")
        .bind(&pattern)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}
