//! Short-lived named locks shared by every process: Redis `SET NX PX` in production, a lease row
//! in the store for the embedded default (where there may be no Redis at all). Each holder gets
//! a fencing token (a number that grows with every acquisition), so a holder that outlived its
//! lease can be told apart from the current one.

use crate::store::DynStore;
use rand::RngCore;
use redis::aio::ConnectionManager;
use std::time::Duration;

/// A held lock. Release it with [`Locks::release`]; if the process dies, it expires by itself.
#[derive(Debug, Clone)]
pub struct LockGuard {
    pub name: String,
    holder: String,
    /// Grows with every acquisition of this name.
    pub fencing_token: i64,
}

/// The lock service.
#[derive(Clone)]
pub enum Locks {
    Redis {
        conn: ConnectionManager,
        prefix: String,
    },
    Store(DynStore),
}

fn holder_id() -> String {
    let mut b = [0u8; 12];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Deletes the key only if we still hold it (never someone else's lock after our lease expired).
const RELEASE: &str = r#"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"#;

impl Locks {
    /// Tries once; `None` means someone else holds it.
    pub async fn try_acquire(
        &self,
        name: &str,
        ttl: Duration,
    ) -> Result<Option<LockGuard>, String> {
        let holder = holder_id();
        match self {
            Locks::Redis { conn, prefix } => {
                let mut c = conn.clone();
                let key = format!("{prefix}:lock:{name}");
                let ok: Option<String> = redis::cmd("SET")
                    .arg(&key)
                    .arg(&holder)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl.as_millis() as u64)
                    .query_async(&mut c)
                    .await
                    .map_err(|e| e.to_string())?;
                if ok.is_none() {
                    return Ok(None);
                }
                let fencing_token: i64 = redis::cmd("INCR")
                    .arg(format!("{prefix}:fence:{name}"))
                    .query_async(&mut c)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Some(LockGuard {
                    name: name.to_owned(),
                    holder,
                    fencing_token,
                }))
            }
            Locks::Store(store) => {
                let token = store
                    .acquire_lease(name, &holder, ttl, chrono::Utc::now())
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(token.map(|fencing_token| LockGuard {
                    name: name.to_owned(),
                    holder,
                    fencing_token,
                }))
            }
        }
    }

    /// Extends a held lock (scheduler heartbeat). False when it was lost meanwhile.
    pub async fn renew(&self, guard: &LockGuard, ttl: Duration) -> Result<bool, String> {
        match self {
            Locks::Redis { conn, prefix } => {
                const RENEW: &str = r#"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end"#;
                let n: i64 = redis::Script::new(RENEW)
                    .key(format!("{prefix}:lock:{}", guard.name))
                    .arg(&guard.holder)
                    .arg(ttl.as_millis() as u64)
                    .invoke_async(&mut conn.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(n == 1)
            }
            Locks::Store(store) => store
                .renew_lease(&guard.name, &guard.holder, ttl, chrono::Utc::now())
                .await
                .map_err(|e| e.to_string()),
        }
    }

    /// Releases a held lock; failures only log (the lease expires anyway).
    pub async fn release(&self, guard: LockGuard) {
        let result = match self {
            Locks::Redis { conn, prefix } => redis::Script::new(RELEASE)
                .key(format!("{prefix}:lock:{}", guard.name))
                .arg(&guard.holder)
                .invoke_async::<i64>(&mut conn.clone())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Locks::Store(store) => store
                .release_lease(&guard.name, &guard.holder)
                .await
                .map_err(|e| e.to_string()),
        };
        if let Err(e) = result {
            tracing::warn!(lock = %guard.name, error = %e, "lock release failed; it will expire");
        }
    }
}
