//! The Redis side of [`super::Queue`]: pushes through apalis-redis' own batch script, and reads
//! the keys apalis-redis 1.0 writes (named by `apalis_redis::Config`):
//! - `{q}:active` LIST of ready task ids, `{q}:scheduled` ZSET (score = run time in seconds; every
//!   push lands here first, and failed attempts are re-scheduled here),
//! - `{q}:done` and `{q}:dead` SETs, `{q}:workers` ZSET of worker names with their inflight SETs
//!   at `{q}:inflight:{worker}`,
//! - `{q}:meta:{id}` HASH (status, attempts, max_attempts, result, done_at…), `{q}:data` HASH of
//!   payloads.

use super::{
    Consumer, DeadJob, MISSED_HEARTBEATS, QueueError, QueueStats, TaskId, TaskState,
    decode_payload, from_unix, last_error,
};
use apalis::prelude::{BackendExt, IntervalStrategy, PollWith, Task};
use apalis_redis::{Config, ConnectionManager, RedisStorage};
use redis::{AsyncCommands, ToRedisArgs};
use std::collections::HashMap;
use std::sync::LazyLock;

/// The registry of queue names apalis-redis keeps outside any namespace.
const APALIS_QUEUES_KEY: &str = "core:apalis:queues:list";

fn config(queue: &str) -> Config {
    Config::default().queue(queue)
}

fn meta_key(config: &Config, id: &str) -> String {
    format!("{}:{id}", config.job_meta_hash())
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

pub(super) async fn push(
    mut conn: ConnectionManager,
    queue: &str,
    tasks: &[Task<Vec<u8>>],
) -> Result<(), QueueError> {
    apalis_redis::queries::push_tasks(&mut conn, &config(queue), tasks).await?;
    Ok(())
}

/// The apalis storage a worker consumes `queue` from.
pub(super) fn storage(
    conn: ConnectionManager,
    queue: &str,
    consumer: Consumer,
) -> PollWith<RedisStorage<serde_json::Value>, IntervalStrategy> {
    let config = config(queue)
        .batch_size(consumer.batch_size())
        .heartbeat_interval(consumer.heartbeat)
        .missed_heartbeats(MISSED_HEARTBEATS);
    RedisStorage::<serde_json::Value>::new(conn)
        .with_config(config)
        .poll_with_interval(consumer.poll_interval)
}

/// One round trip, one consistent snapshot. A scheduled entry whose meta status is `Failed` is
/// a retry the backend will hand out again; the others are pending (due) or scheduled (later).
static STATS: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local now = tonumber(ARGV[1])
local pending = redis.call('LLEN', KEYS[1])
local scheduled, failed = 0, 0
local entries = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
for i = 1, #entries, 2 do
  local status = redis.call('HGET', ARGV[2] .. ':' .. entries[i], 'status')
  if status == 'Failed' then
    failed = failed + 1
  elseif tonumber(entries[i + 1]) <= now then
    pending = pending + 1
  else
    scheduled = scheduled + 1
  end
end
local active = 0
for _, worker in ipairs(redis.call('ZRANGE', KEYS[5], 0, -1)) do
  active = active + redis.call('SCARD', ARGV[3] .. ':' .. worker)
end
return {pending, active, scheduled, redis.call('SCARD', KEYS[3]), failed, redis.call('SCARD', KEYS[4])}
",
    )
});

pub(super) async fn stats(
    mut conn: ConnectionManager,
    queue: &str,
) -> Result<QueueStats, QueueError> {
    let c = config(queue);
    let v: Vec<u64> = STATS
        .key(c.active_jobs_list())
        .key(c.scheduled_jobs_set())
        .key(c.done_jobs_set())
        .key(c.dead_jobs_set())
        .key(c.workers_set())
        .arg(now_secs())
        .arg(c.job_meta_hash())
        .arg(c.inflight_jobs_set())
        .invoke_async(&mut conn)
        .await?;
    match v.as_slice() {
        &[pending, active, scheduled, done, failed, dead] => Ok(QueueStats {
            pending,
            active,
            scheduled,
            done,
            failed,
            dead,
        }),
        other => Err(QueueError::Backend(format!(
            "stats script returned {} values",
            other.len()
        ))),
    }
}

pub(super) async fn task_state(
    mut conn: ConnectionManager,
    queue: &str,
    id: &TaskId,
) -> Result<Option<TaskState>, QueueError> {
    let c = config(queue);
    let (status, dead, done, score): (Option<String>, bool, bool, Option<i64>) = redis::pipe()
        .hget(meta_key(&c, id.as_str()), "status")
        .sismember(c.dead_jobs_set(), id.as_str())
        .sismember(c.done_jobs_set(), id.as_str())
        .zscore(c.scheduled_jobs_set(), id.as_str())
        .query_async(&mut conn)
        .await?;
    let Some(status) = status else {
        return Ok(None);
    };
    Ok(Some(if dead {
        TaskState::Dead
    } else if done {
        TaskState::Done
    } else {
        match status.as_str() {
            "Running" | "Queued" => TaskState::Running,
            "Failed" => TaskState::Retrying,
            _ if score.is_some_and(|s| s > now_secs()) => TaskState::Scheduled,
            _ => TaskState::Pending,
        }
    }))
}

pub(super) async fn dead_jobs(
    mut conn: ConnectionManager,
    queue: &str,
    limit: usize,
) -> Result<Vec<DeadJob>, QueueError> {
    let c = config(queue);
    let mut ids: Vec<String> = conn.smembers(c.dead_jobs_set()).await?;
    // Task ids are ULIDs, which sort by creation time: newest first.
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids.truncate(limit);
    details(&mut conn, &c, ids).await
}

/// One dead task, if `id` is in the dead set.
pub(super) async fn dead_job(
    mut conn: ConnectionManager,
    queue: &str,
    id: &TaskId,
) -> Result<Option<DeadJob>, QueueError> {
    let c = config(queue);
    let dead: bool = conn.sismember(c.dead_jobs_set(), id.as_str()).await?;
    if !dead {
        return Ok(None);
    }
    Ok(details(&mut conn, &c, vec![id.as_str().to_owned()])
        .await?
        .pop())
}

/// Metadata and payloads of dead tasks `ids`, in that order.
async fn details(
    conn: &mut ConnectionManager,
    c: &Config,
    ids: Vec<String>,
) -> Result<Vec<DeadJob>, QueueError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for id in &ids {
        pipe.hgetall(meta_key(c, id));
    }
    let metas: Vec<HashMap<String, String>> = pipe.query_async(conn).await?;
    let payloads: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
        .arg(c.job_data_hash())
        .arg(&ids)
        .query_async(conn)
        .await?;
    Ok(ids
        .into_iter()
        .zip(metas)
        .zip(payloads)
        .map(|((id, meta), payload)| DeadJob {
            task_id: TaskId(id),
            payload: payload
                .as_deref()
                .map(decode_payload)
                .unwrap_or(serde_json::Value::Null),
            attempts: meta
                .get("attempts")
                .and_then(|a| a.parse().ok())
                .unwrap_or(0),
            last_error: meta.get("result").and_then(|r| last_error(r)),
            failed_at: meta
                .get("done_at")
                .and_then(|t| t.parse().ok())
                .and_then(from_unix),
        })
        .collect())
}

/// Claims a dead task for replay: removing it from the dead set is the claim, so two racing
/// replays cannot both re-queue it. Returns its payload, or nil when it was not dead.
static CLAIM_DEAD: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return false end
local payload = redis.call('HGET', KEYS[2], ARGV[1])
if not payload then
  redis.call('SADD', KEYS[1], ARGV[1])
  return false
end
return payload
",
    )
});

pub(super) async fn replay(
    mut conn: ConnectionManager,
    queue: &str,
    id: &TaskId,
    make: impl FnOnce(Vec<u8>) -> Task<Vec<u8>>,
) -> Result<bool, QueueError> {
    let c = config(queue);
    let payload: Option<Vec<u8>> = CLAIM_DEAD
        .key(c.dead_jobs_set())
        .key(c.job_data_hash())
        .arg(id.as_str())
        .invoke_async(&mut conn)
        .await?;
    let Some(payload) = payload else {
        return Ok(false);
    };
    if let Err(e) = apalis_redis::queries::push_tasks(&mut conn, &c, &[make(payload)]).await {
        // Give the claim back so the task stays visible and replayable.
        let _: Result<(), _> = conn.sadd(c.dead_jobs_set(), id.as_str()).await;
        return Err(e.into());
    }
    forget(&mut conn, &c, id).await?;
    Ok(true)
}

/// Deletes a task's data and metadata (after it left the dead set).
async fn forget(conn: &mut ConnectionManager, c: &Config, id: &TaskId) -> Result<(), QueueError> {
    let _: () = redis::pipe()
        .del(meta_key(c, id.as_str()))
        .hdel(c.job_data_hash(), id.as_str())
        .query_async(conn)
        .await?;
    Ok(())
}

/// A script that removes from the set KEYS[1] each id in ARGV[3..] for which the Lua body
/// `doomed` (a function of `id` and `meta`, the task's meta hash key) is true, with its meta hash
/// (prefix ARGV[1]) and its payload (in KEYS[2]). Returns how many it removed.
fn removal_script(doomed: &str) -> redis::Script {
    redis::Script::new(&format!(
        r"
local function doomed(id, meta)
{doomed}
end
local removed = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  local meta = ARGV[1] .. ':' .. id
  if doomed(id, meta) then
    redis.call('SREM', KEYS[1], id)
    redis.call('DEL', meta)
    redis.call('HDEL', KEYS[2], id)
    removed = removed + 1
  end
end
return removed
"
    ))
}

/// Removes the ids (done or dead) whose payload contains ARGV[2] (see [`removal_script`]).
static FORGET_MATCHING: LazyLock<redis::Script> = LazyLock::new(|| {
    removal_script(
        r"
  local payload = redis.call('HGET', KEYS[2], id)
  return payload and string.find(payload, ARGV[2], 1, true)
",
    )
});

/// Removes every finished task (done or dead) of every queue in `namespace` whose payload
/// contains `needle`. Pending, scheduled and running tasks are left alone. Returns how many.
pub(super) async fn forget_finished_matching(
    mut conn: ConnectionManager,
    namespace: &str,
    needle: &str,
) -> Result<usize, QueueError> {
    let mut removed = 0;
    for queue in worked_queues(&mut conn, namespace).await? {
        let c = config(&queue);
        for set in [c.done_jobs_set(), c.dead_jobs_set()] {
            removed += sweep_set(&mut conn, &FORGET_MATCHING, &c, &set, needle).await?;
        }
    }
    Ok(removed)
}

/// Removes done tasks whose `done_at` is at or before ARGV[2] (see [`removal_script`]). Ids in
/// the done set whose meta is gone are dropped too.
static TRIM_DONE: LazyLock<redis::Script> = LazyLock::new(|| {
    removal_script(
        r"
  local status = redis.call('HGET', meta, 'status')
  local done_at = tonumber(redis.call('HGET', meta, 'done_at'))
  return not status or (status == 'Done' and done_at and done_at <= tonumber(ARGV[2]))
",
    )
});

/// Removes the done tasks of every queue in `namespace` that finished at or before `before`
/// (unix seconds), and those of the queues in `sooner` (full queue names) that finished at or
/// before their own, later time. Dead tasks are left alone. Returns how many.
pub(super) async fn trim_done(
    mut conn: ConnectionManager,
    namespace: &str,
    before: i64,
    sooner: &[(String, i64)],
) -> Result<usize, QueueError> {
    let mut removed = 0;
    for queue in worked_queues(&mut conn, namespace).await? {
        let cutoff = sooner
            .iter()
            .find(|(q, _)| *q == queue)
            .map_or(before, |&(_, at)| at.max(before));
        let c = config(&queue);
        let done = c.done_jobs_set();
        removed += sweep_set(&mut conn, &TRIM_DONE, &c, &done, cutoff).await?;
    }
    Ok(removed)
}

/// Task ids handed to one script call: one call stays short, so Redis is never blocked for long.
const BATCH: usize = 500;

/// The queues of `namespace` that ever had a worker. Only those can hold finished tasks, and
/// apalis-redis registers each of them in [`APALIS_QUEUES_KEY`] (member `<queue>:workers`).
async fn worked_queues(
    conn: &mut ConnectionManager,
    namespace: &str,
) -> Result<Vec<String>, QueueError> {
    let prefix = format!("{namespace}:");
    let registered: Vec<String> = conn.zrange(APALIS_QUEUES_KEY, 0, -1).await?;
    Ok(registered
        .iter()
        .filter_map(|m| m.strip_suffix(":workers"))
        .filter(|q| q.starts_with(&prefix))
        .map(str::to_owned)
        .collect())
}

/// Runs `script` over every id in `set` (a SET of queue `c`), [`BATCH`] ids per call (SSCAN),
/// with `KEYS = [set, data hash]` and `ARGV = [meta hash prefix, arg, ids…]`. Returns the sum of
/// what the calls return (the tasks they removed).
async fn sweep_set(
    conn: &mut ConnectionManager,
    script: &redis::Script,
    c: &Config,
    set: &str,
    arg: impl ToRedisArgs + Copy,
) -> Result<usize, QueueError> {
    let mut removed = 0;
    let mut cursor: u64 = 0;
    loop {
        let (next, ids): (u64, Vec<String>) = redis::cmd("SSCAN")
            .arg(set)
            .arg(cursor)
            .arg("COUNT")
            .arg(BATCH)
            .query_async(conn)
            .await?;
        if !ids.is_empty() {
            let n: usize = script
                .key(set)
                .key(c.job_data_hash())
                .arg(c.job_meta_hash())
                .arg(arg)
                .arg(&ids)
                .invoke_async(conn)
                .await?;
            removed += n;
        }
        if next == 0 {
            return Ok(removed);
        }
        cursor = next;
    }
}

/// Removes a dead task for good (its data and metadata too). False when it was not dead.
pub(super) async fn discard_dead(
    mut conn: ConnectionManager,
    queue: &str,
    id: &TaskId,
) -> Result<bool, QueueError> {
    let c = config(queue);
    let removed: i64 = conn.srem(c.dead_jobs_set(), id.as_str()).await?;
    if removed == 0 {
        return Ok(false);
    }
    forget(&mut conn, &c, id).await?;
    Ok(true)
}

pub(super) async fn ping(mut conn: ConnectionManager) -> Result<(), QueueError> {
    let _: String = redis::cmd("PING").query_async(&mut conn).await?;
    Ok(())
}

pub(super) async fn purge(mut conn: ConnectionManager, namespace: &str) -> Result<(), QueueError> {
    let prefix = format!("{namespace}:");
    let pattern = format!("{}*", glob_escape(&prefix));
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            let _: () = redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(&mut conn)
                .await?;
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let registered: Vec<String> = conn.zrange(APALIS_QUEUES_KEY, 0, -1).await?;
    let ours: Vec<&String> = registered
        .iter()
        .filter(|q| q.starts_with(&prefix))
        .collect();
    if !ours.is_empty() {
        let _: () = conn.zrem(APALIS_QUEUES_KEY, ours).await?;
    }
    Ok(())
}

fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(ch, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}
