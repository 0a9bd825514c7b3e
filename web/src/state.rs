//! The one application state handed to every handler.

use crate::limits::Limits;
use jobs::config::Config;
use jobs::context::JobContext;
use jobs::identity::id_token::IdTokenVerifier;
use jobs::identity::session::SessionKeys;
use jobs::queue::Queue;
use jobs::store::DynStore;
use jobs::vault::Vault;
use std::sync::Arc;

/// Shared by every request. `config`, `store`, `vault` and `queue` are the same as in `jobs`,
/// named here for brevity in handlers.
#[derive(Clone)]
pub struct AppState {
    pub jobs: JobContext,
    pub config: Arc<Config>,
    pub store: DynStore,
    pub vault: Vault,
    pub queue: Queue,
    pub sessions: SessionKeys,
    pub id_tokens: Arc<IdTokenVerifier>,
    pub limits: Limits,
    /// Free slots for "post now" uploads streaming through this process
    /// (`PASSTHROUGH_MAX_CONCURRENT`).
    pub passthrough: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    pub fn new(jobs: JobContext) -> Self {
        let config = jobs.config.clone();
        Self {
            sessions: SessionKeys::new(
                config.identity.session_secret.expose().as_bytes(),
                config.identity.session_ttl,
            ),
            id_tokens: Arc::new(IdTokenVerifier::new(
                config.identity.google_certs_url.clone(),
                config.identity.firebase_project_id.clone(),
                config.identity.google_certs_refetch,
            )),
            limits: Limits::from_config(&config),
            passthrough: Arc::new(tokio::sync::Semaphore::new(
                config.limits.passthrough_max_concurrent,
            )),
            store: jobs.store.clone(),
            vault: jobs.vault.clone(),
            queue: jobs.queue.clone(),
            config,
            jobs,
        }
    }
}
