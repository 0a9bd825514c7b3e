//! What every job handler and request handler needs, in one struct (like crates.io's
//! `Environment`): built once per process, shared behind an `Arc`.

use crate::config::Config;
use crate::store::DynStore;
use crate::vault::Vault;
use std::sync::Arc;

/// Shared dependencies of the jobs. Later issues add the TikTok client, staging and pacing.
#[derive(Clone)]
pub struct JobContext {
    pub config: Arc<Config>,
    pub store: DynStore,
    pub vault: Vault,
}
