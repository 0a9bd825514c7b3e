//! The one application state handed to every handler.

use jobs::config::Config;
use jobs::queue::Queue;
use jobs::store::DynStore;
use jobs::vault::Vault;
use std::sync::Arc;

/// Shared by every request: configuration, store, vault and the producer side of the queue.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: DynStore,
    pub vault: Vault,
    pub queue: Queue,
}
