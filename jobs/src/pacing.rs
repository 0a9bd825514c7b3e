//! Pacing inside TikTok's per-token limits (6 `init`, 20 `creator_info`, 30 `status/fetch` per
//! minute), shared by every worker process: a sliding-window log per (account, endpoint) in
//! Redis, or in process memory for the embedded default (one process owns the queue there).
//!
//! Callers `acquire` before each call; when the window is full they wait until the oldest call in
//! it leaves the window, so a burst of 50 posts for one account is spread out instead of drawing
//! 429s. A call that still gets a 429 (another app using the same token) is retried with
//! TikTok's `Retry-After` by the job's error classes.

use crate::model::AccountId;
use redis::aio::ConnectionManager;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// The rate-limited TikTok endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Init,
    CreatorInfo,
    Status,
}

impl Endpoint {
    /// TikTok's documented per-token limit per window (tiktok-api.md §5.10).
    pub fn limit(self) -> u32 {
        match self {
            Endpoint::Init => 6,
            Endpoint::CreatorInfo => 20,
            Endpoint::Status => 30,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Endpoint::Init => "init",
            Endpoint::CreatorInfo => "creator_info",
            Endpoint::Status => "status",
        }
    }
}

/// Per (account, endpoint): when recent calls were let through.
type CallLog = HashMap<(AccountId, Endpoint), VecDeque<Instant>>;

/// The shared pacer.
#[derive(Clone)]
pub enum Pacer {
    Redis {
        conn: ConnectionManager,
        prefix: String,
        window: Duration,
    },
    Local {
        log: Arc<Mutex<CallLog>>,
        window: Duration,
    },
}

/// Atomically: drop entries older than the window; if there is room, record this call and
/// return 0; else return how many ms until the oldest entry leaves the window.
const TAKE: &str = r#"
local key, now, window, limit, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, window)
  return 0
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"#;

impl Pacer {
    /// In-process pacing (the embedded default).
    pub fn local(window: Duration) -> Self {
        Pacer::Local {
            log: Arc::default(),
            window,
        }
    }

    /// The window we enforce: TikTok's plus a margin (10%, at least 1 s), because TikTok stamps
    /// a call when it arrives, after we let it go, and latency varies from call to call (a busy
    /// worker host easily adds hundreds of milliseconds to one request and not the next).
    fn effective(window: Duration) -> Duration {
        window + (window / 10).max(Duration::from_secs(1))
    }

    /// Waits until a call to `endpoint` for `account` fits in TikTok's window, then records it.
    pub async fn acquire(&self, account: AccountId, endpoint: Endpoint) -> Result<(), String> {
        loop {
            let wait = self.try_take(account, endpoint).await?;
            if wait.is_zero() {
                return Ok(());
            }
            tracing::debug!(%account, endpoint = endpoint.as_str(), wait_ms = wait.as_millis() as u64, "pacing");
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes a call to `endpoint` for `account` if it fits in TikTok's window now; otherwise
    /// records nothing and says how long until it would. For a request that answers 429 with
    /// `Retry-After` rather than hold a browser's upload open while it waits.
    pub async fn try_acquire(
        &self,
        account: AccountId,
        endpoint: Endpoint,
    ) -> Result<Option<Duration>, String> {
        let wait = self.try_take(account, endpoint).await?;
        Ok((!wait.is_zero()).then_some(wait))
    }

    async fn try_take(&self, account: AccountId, endpoint: Endpoint) -> Result<Duration, String> {
        match self {
            Pacer::Redis {
                conn,
                prefix,
                window,
            } => {
                let window = Self::effective(*window);
                let now_ms = chrono::Utc::now().timestamp_millis();
                let member = format!("{now_ms}-{}", uuid::Uuid::new_v4().simple());
                let wait_ms: i64 = redis::Script::new(TAKE)
                    .key(format!("{prefix}:pace:{account}:{}", endpoint.as_str()))
                    .arg(now_ms)
                    .arg(window.as_millis() as i64)
                    .arg(endpoint.limit())
                    .arg(member)
                    .invoke_async(&mut conn.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Duration::from_millis(wait_ms.max(0) as u64))
            }
            Pacer::Local { log, window } => {
                let window = &Self::effective(*window);
                let mut log = log.lock().await;
                let entries = log.entry((account, endpoint)).or_default();
                let now = Instant::now();
                while entries
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= *window)
                {
                    entries.pop_front();
                }
                if entries.len() < endpoint.limit() as usize {
                    entries.push_back(now);
                    return Ok(Duration::ZERO);
                }
                let oldest = entries.front().copied().unwrap_or(now);
                Ok((oldest + *window)
                    .saturating_duration_since(now)
                    .max(Duration::from_millis(1)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_seventh_init_in_a_window_waits_for_the_first_to_leave_it() {
        let pacer = Pacer::local(Duration::from_secs(60));
        let account = AccountId::new();
        let start = Instant::now();
        for _ in 0..6 {
            pacer.acquire(account, Endpoint::Init).await.unwrap();
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        pacer.acquire(account, Endpoint::Init).await.unwrap();
        assert!(start.elapsed() >= Duration::from_secs(60));
        // TikTok's minute plus our 10% margin for arrival latency, not a second window.
        assert!(
            start.elapsed() <= Duration::from_secs(67),
            "{:?}",
            start.elapsed()
        );
        // Other accounts and endpoints have their own windows.
        let t = Instant::now();
        pacer
            .acquire(AccountId::new(), Endpoint::Init)
            .await
            .unwrap();
        pacer.acquire(account, Endpoint::Status).await.unwrap();
        assert_eq!(t.elapsed(), Duration::ZERO);
    }
}
