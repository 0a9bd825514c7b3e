//! What every job handler and request handler needs, in one struct (like crates.io's
//! `Environment`): built once per process, cheap to clone (everything inside is shared).

use crate::config::Config;
use crate::locks::Locks;
use crate::pacing::Pacer;
use crate::queue::Queue;
use crate::staging::Staging;
use crate::store::DynStore;
use crate::tiktok::TikTokClient;
use crate::vault::Vault;
use std::sync::Arc;

/// Shared dependencies of the jobs and the web tier.
#[derive(Clone)]
pub struct JobContext {
    pub config: Arc<Config>,
    pub store: DynStore,
    pub vault: Vault,
    pub tiktok: TikTokClient,
    /// Cross-process locks (Redis when configured, else store leases).
    pub locks: Locks,
    /// The producer side of the queue, for jobs that enqueue follow-ups.
    pub queue: Queue,
    /// Encrypted video staging.
    pub staging: Staging,
    /// TikTok's per-token rate limits, shared by all workers.
    pub pacer: Pacer,
}

impl JobContext {
    /// Builds the context from configuration and an opened store and queue.
    pub async fn new(config: Arc<Config>, store: DynStore, queue: Queue) -> anyhow::Result<Self> {
        let window = std::time::Duration::from_secs(config.tiktok.pacing_window_secs);
        let (locks, pacer) = match &config.queue.redis_url {
            Some(url) => {
                let client = redis::Client::open(url.expose())?;
                let conn = redis::aio::ConnectionManager::new(client).await?;
                let prefix = config.queue.namespace.clone();
                (
                    Locks::Redis {
                        conn: conn.clone(),
                        prefix: prefix.clone(),
                    },
                    Pacer::Redis {
                        conn,
                        prefix,
                        window,
                    },
                )
            }
            None => (Locks::Store(store.clone()), Pacer::local(window)),
        };
        let vault = Vault::new(config.identity.token_keys.clone());
        Ok(Self {
            staging: Staging::new(&config, vault.clone(), store.clone())?,
            pacer,
            vault,
            tiktok: TikTokClient::new(&config)?,
            locks,
            queue,
            store,
            config,
        })
    }
}
