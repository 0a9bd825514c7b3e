//! The active scheduler's heartbeat: when it last ticked and what it did, for `/readyz`,
//! `/metrics` and operators. It lives here rather than in the `scheduler` crate because the
//! web tier reads it and the scheduler writes it. Written by the active instance only, where every process of the
//! deployment can read it: in Redis (`<namespace>:scheduler:heartbeat`) when Redis is
//! configured, else in `<DATA_DIR>/scheduler-heartbeat.json` (the embedded default runs on one
//! machine). A write carrying an older fencing token than the stored one is dropped, so a
//! deposed instance cannot overwrite its successor's heartbeat.

use crate::context::JobContext;
use crate::locks::Locks;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

/// A heartbeat older than this means no scheduler is active: three lease TTLs at the default
/// `SCHEDULER_LEASE_TTL_SECS` (see [`stale_after`]).
pub const STALE_AFTER: Duration = Duration::from_secs(30);

/// How old a heartbeat may be before `/readyz` and `/metrics` call the scheduler dead: three
/// lease TTLs (a standby takes over within one, then ticks every `SCHEDULER_TICK_MS`).
pub fn stale_after(config: &crate::config::Config) -> Duration {
    config.scheduler.lease_ttl * 3
}
/// How long Redis keeps a heartbeat nobody refreshes (a retired namespace cleans itself up).
const REDIS_TTL: Duration = Duration::from_secs(24 * 3600);

/// The last tick, in counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickSummary {
    /// Rows the due index returned.
    pub due: usize,
    /// Posts enqueued.
    pub enqueued: usize,
    /// Posts cancelled, rescheduled or taken by another instance in between.
    pub lost_races: usize,
    /// Posts left for the next tick after a store or queue error.
    pub failed: usize,
    /// The latest enqueue of the tick, in milliseconds after its time.
    pub max_late_ms: Option<i64>,
    /// How long the tick took.
    pub took_ms: u64,
    /// The tick's error, if it failed as a whole.
    pub error: Option<String>,
}

/// The last run of one sweep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepRecord {
    pub at: DateTime<Utc>,
    pub ok: bool,
    /// `found 3, done 3, skipped 0`, or the error.
    pub summary: String,
}

/// What the active scheduler last reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// `<host>-<pid>-<random>` of the active instance.
    pub instance: String,
    /// The fencing token of its lease (grows with every takeover).
    pub fencing_token: i64,
    /// When it became active.
    pub active_since: DateTime<Utc>,
    /// When it last ticked.
    pub at: DateTime<Utc>,
    pub last_tick: TickSummary,
    /// Posts enqueued since it became active.
    pub enqueued_total: u64,
    /// The last run of each sweep, by sweep name.
    pub sweeps: BTreeMap<String, SweepRecord>,
}

impl Heartbeat {
    /// How long ago the last tick was.
    pub fn age(&self, now: DateTime<Utc>) -> Duration {
        (now - self.at).to_std().unwrap_or(Duration::ZERO)
    }

    /// True while the last tick is recent enough ([`STALE_AFTER`]) to believe a scheduler runs.
    pub fn is_fresh(&self, now: DateTime<Utc>) -> bool {
        self.is_fresh_within(now, STALE_AFTER)
    }

    /// [`age`](Self::age) in whole milliseconds.
    pub fn age_ms(&self, now: DateTime<Utc>) -> u64 {
        u64::try_from(self.age(now).as_millis()).unwrap_or(u64::MAX)
    }

    /// True while the last tick is at most `stale_after` old.
    pub fn is_fresh_within(&self, now: DateTime<Utc>, stale_after: Duration) -> bool {
        self.age(now) <= stale_after
    }
}

/// What the heartbeat says about the scheduler, the one judgement `/readyz`, `/metrics` and
/// the operators' views share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedulerHealth {
    /// A heartbeat younger than [`stale_after`].
    Ok,
    /// A heartbeat, but too old: no scheduler is active.
    Stale,
    /// No scheduler ever reported.
    Missing,
}

impl SchedulerHealth {
    /// Judges `beat` at `now` against the configuration's lease TTL.
    pub fn of(
        beat: Option<&Heartbeat>,
        config: &crate::config::Config,
        now: DateTime<Utc>,
    ) -> Self {
        match beat {
            None => Self::Missing,
            Some(b) if b.is_fresh_within(now, stale_after(config)) => Self::Ok,
            Some(_) => Self::Stale,
        }
    }

    /// `ok`, `stale` or `missing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Stale => "stale",
            Self::Missing => "missing",
        }
    }
}

/// Where heartbeats are kept.
enum Place {
    Redis {
        conn: redis::aio::ConnectionManager,
        key: String,
    },
    File(PathBuf),
}

fn place(ctx: &JobContext) -> Place {
    match &ctx.locks {
        Locks::Redis { conn, prefix } => Place::Redis {
            conn: conn.clone(),
            key: format!("{prefix}:scheduler:heartbeat"),
        },
        Locks::Store(_) => Place::File(ctx.config.server.data_dir.join("scheduler-heartbeat.json")),
    }
}

/// Sets the heartbeat unless a newer holder (larger fencing token) already wrote one.
static WRITE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local current = redis.call('GET', KEYS[1])
if current then
  local ok, doc = pcall(cjson.decode, current)
  if ok and type(doc) == 'table' and tonumber(doc.fencing_token)
     and tonumber(doc.fencing_token) > tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
",
    )
});

/// The active scheduler's last heartbeat, or `None` if none was ever written (or it cannot be
/// read). Check [`Heartbeat::is_fresh`]: a heartbeat is kept after its scheduler stops.
pub async fn heartbeat(ctx: &JobContext) -> Option<Heartbeat> {
    let raw = match place(ctx) {
        Place::Redis { mut conn, key } => {
            match redis::cmd("GET")
                .arg(&key)
                .query_async::<Option<String>>(&mut conn)
                .await
            {
                Ok(v) => v?,
                Err(e) => {
                    tracing::debug!(error = %e, "cannot read the scheduler heartbeat");
                    return None;
                }
            }
        }
        Place::File(path) => tokio::fs::read_to_string(path).await.ok()?,
    };
    serde_json::from_str(&raw).ok()
}

/// Writes `beat` (the active instance calls this after its ticks). Failures are returned for the
/// caller to log; the scheduler keeps working without a heartbeat.
pub async fn record(ctx: &JobContext, beat: &Heartbeat) -> Result<(), String> {
    let json = serde_json::to_string(beat).map_err(|e| e.to_string())?;
    match place(ctx) {
        Place::Redis { mut conn, key } => WRITE
            .key(key)
            .arg(json)
            .arg(beat.fencing_token)
            .arg(u64::try_from(REDIS_TTL.as_millis()).unwrap_or(u64::MAX))
            .invoke_async::<i64>(&mut conn)
            .await
            .map(drop)
            .map_err(|e| e.to_string()),
        Place::File(path) => {
            if let Ok(current) = tokio::fs::read_to_string(&path).await
                && let Ok(current) = serde_json::from_str::<Heartbeat>(&current)
                && current.fencing_token > beat.fencing_token
            {
                return Ok(());
            }
            // Write then rename, so readers never see half a file.
            let tmp = path.with_extension(format!("json.{}.tmp", beat.instance));
            tokio::fs::write(&tmp, json)
                .await
                .map_err(|e| e.to_string())?;
            tokio::fs::rename(&tmp, &path)
                .await
                .map_err(|e| e.to_string())
        }
    }
}
