//! Trimming finished job records. Both queue backends keep every completed task (payload, meta,
//! result) forever; this sweep removes those that finished more than `job_record_ttl` ago.
//! Dead tasks are never trimmed: they stay visible and replayable until an operator acts.
//!
//! (This reads the backends' own layouts, like `jobs::queue`'s inspection code does; it would sit
//! best as a `Queue::trim_done` method there.)

use crate::SchedulerError;
use crate::settings::Sweep;
use crate::sweeps::SweepReport;
use chrono::{DateTime, Utc};
use jobs::queue::{Queue, QueueBackend, QueueError};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use std::sync::LazyLock;
use std::time::Duration;

/// apalis-redis registers every queue a worker ever ran on here (member `<queue>:workers`), and
/// only queues with workers have finished tasks.
const APALIS_QUEUES_KEY: &str = "core:apalis:queues:list";
/// Task ids checked per script call: one call stays short, so Redis is never blocked for long.
const BATCH: usize = 500;

/// Removes done tasks whose `done_at` is at or before ARGV[2] from the done set, with their meta
/// hash and payload. Ids in the done set whose meta is gone are dropped too. Returns how many
/// tasks were removed.
static TRIM_DONE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local removed = 0
local cutoff = tonumber(ARGV[2])
for i = 3, #ARGV do
  local id = ARGV[i]
  local meta = ARGV[1] .. ':' .. id
  local status = redis.call('HGET', meta, 'status')
  local done_at = tonumber(redis.call('HGET', meta, 'done_at'))
  if not status or (status == 'Done' and done_at and done_at <= cutoff) then
    redis.call('SREM', KEYS[1], id)
    redis.call('DEL', meta)
    redis.call('HDEL', KEYS[2], id)
    removed = removed + 1
  end
end
return removed
",
    )
});

/// Removes the records of tasks that finished successfully more than `ttl` before `now` from
/// every queue of this namespace, and reports how many.
pub async fn trim_finished_jobs(
    queue: &Queue,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<SweepReport, SchedulerError> {
    let cutoff = now.timestamp() - i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
    // A finished erasure's record names a person who asked to be forgotten: it goes at once.
    let cutoffs = Cutoffs {
        usual: cutoff,
        erasures: now.timestamp(),
    };
    let removed = match queue.backend() {
        QueueBackend::Redis(conn) => trim_redis(conn.clone(), queue.namespace(), cutoffs).await?,
        QueueBackend::Sqlite(pool) => trim_sqlite(pool, queue.namespace(), cutoffs).await?,
    };
    if removed > 0 {
        tracing::info!(removed, "finished job records trimmed");
    }
    Ok(SweepReport {
        sweep: Sweep::JobRecords,
        found: removed,
        done: removed,
        skipped: 0,
    })
}

/// Done tasks that finished at or before these unix times are trimmed.
#[derive(Clone, Copy)]
struct Cutoffs {
    usual: i64,
    /// `erase_user` tasks.
    erasures: i64,
}

impl Cutoffs {
    fn for_queue(self, queue: &str) -> i64 {
        let erasures = queue
            .rsplit_once(':')
            .is_some_and(|(_, job)| job == jobs::erase_user::NAME);
        if erasures { self.erasures } else { self.usual }
    }
}

async fn trim_redis(
    mut conn: ConnectionManager,
    namespace: &str,
    cutoffs: Cutoffs,
) -> Result<usize, QueueError> {
    let prefix = format!("{namespace}:");
    let registered: Vec<String> = conn.zrange(APALIS_QUEUES_KEY, 0, -1).await?;
    let queues = registered.iter().filter_map(|member| {
        member
            .strip_suffix(":workers")
            .filter(|q| q.starts_with(&prefix))
            .map(str::to_owned)
    });
    let mut removed = 0;
    for queue in queues {
        let cutoff = cutoffs.for_queue(&queue);
        let config = apalis_redis::Config::default().queue(&queue);
        let done = config.done_jobs_set();
        let mut cursor: u64 = 0;
        loop {
            let (next, ids): (u64, Vec<String>) = redis::cmd("SSCAN")
                .arg(&done)
                .arg(cursor)
                .arg("COUNT")
                .arg(BATCH)
                .query_async(&mut conn)
                .await?;
            if !ids.is_empty() {
                let n: usize = TRIM_DONE
                    .key(&done)
                    .key(config.job_data_hash())
                    .arg(config.job_meta_hash())
                    .arg(cutoff)
                    .arg(&ids)
                    .invoke_async(&mut conn)
                    .await?;
                removed += n;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    Ok(removed)
}

async fn trim_sqlite(
    pool: &jobs::queue::SqlitePool,
    namespace: &str,
    cutoffs: Cutoffs,
) -> Result<usize, QueueError> {
    let erasures = sqlx::query(
        "DELETE FROM Jobs WHERE status = 'Done' AND done_at IS NOT NULL AND done_at <= ?1 \
         AND job_type = ?2",
    )
    .bind(cutoffs.erasures)
    .bind(format!("{namespace}:{}", jobs::erase_user::NAME))
    .execute(pool)
    .await?;
    let cutoff = cutoffs.usual;
    let prefix = format!("{namespace}:");
    // `substr` rather than LIKE: namespaces may contain `_`, a LIKE wildcard.
    let done = sqlx::query(
        "DELETE FROM Jobs WHERE status = 'Done' AND done_at IS NOT NULL AND done_at <= ?1 \
         AND substr(job_type, 1, ?2) = ?3",
    )
    .bind(cutoff)
    .bind(i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX))
    .bind(&prefix)
    .execute(pool)
    .await?;
    Ok(usize::try_from(done.rows_affected() + erasures.rows_affected()).unwrap_or(usize::MAX))
}
