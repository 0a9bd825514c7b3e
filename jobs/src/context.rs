//! What every job handler and request handler needs, in one struct (like crates.io's
//! `Environment`): built once per process, cheap to clone (everything inside is shared).

use crate::config::Config;
use crate::locks::Locks;
use crate::queue::Queue;
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
}

impl JobContext {
    /// Builds the context from configuration and an opened store and queue.
    pub async fn new(config: Arc<Config>, store: DynStore, queue: Queue) -> anyhow::Result<Self> {
        let locks = match &config.redis_url {
            Some(url) => {
                let client = redis::Client::open(url.expose())?;
                Locks::Redis {
                    conn: redis::aio::ConnectionManager::new(client).await?,
                    prefix: config.queue_namespace.clone(),
                }
            }
            None => Locks::Store(store.clone()),
        };
        Ok(Self {
            vault: Vault::new(config.token_keys.clone()),
            tiktok: TikTokClient::new(&config)?,
            locks,
            queue,
            store,
            config,
        })
    }
}
