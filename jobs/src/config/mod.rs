//! The one configuration, read from the environment (and an optional `.env`), with defaults that
//! run locally with nothing installed. Nothing else reads the environment.
//!
//! [`Config`] holds one typed group per concern; each group's file reads its variables, and each
//! field documents its variable and default:
//! - [`server`]: mode, addresses, data directory, log format, metrics token, trusted proxies;
//! - [`store`]: the state backend and its URL (`DATABASE_URL`, `STORE`, `FIRESTORE_*`);
//! - [`queue`]: the job queue; [`WorkerConfig`]: one worker process;
//! - [`identity`]: Google sign-in through Firebase, sessions, the token key ring, operators;
//! - [`tiktok`]: the TikTok app, its addresses, upload chunking, pacing and status polls;
//! - [`staging`]: where staged videos wait, their sizes, quota and lifetimes;
//! - [`limits`]: request rates and the scheduling horizon;
//! - [`scheduler`]: the scheduler's schedules, thresholds and retention periods.
//!
//! A bad value stops the process with exit code 2 and one line naming the variable
//! (see [`ConfigError`]); production mode also refuses development secrets and sandbox URLs
//! (`production.rs`).

pub mod identity;
pub mod limits;
mod production;
pub mod queue;
pub mod scheduler;
pub mod server;
pub mod staging;
pub mod store;
pub mod tiktok;
mod vars;

pub use identity::{DEV_FIREBASE_PROJECT, DEV_SESSION_SECRET, DEV_TOKEN_KEYS, IdentityConfig};
pub use limits::LimitsConfig;
pub use queue::{QueueConfig, WorkerConfig};
pub use scheduler::SchedulerConfig;
pub use server::{LogFormat, Mode, ServerConfig};
pub use staging::StagingConfig;
pub use store::{FirestoreUrl, FirestoreUrlError, StoreConfig, StoreKind};
pub use tiktok::{SANDBOX_CLIENT_KEY, SANDBOX_CLIENT_SECRET, TikTokConfig};

use std::collections::HashMap;
use std::fmt;
use vars::Vars;

/// A configuration problem, naming the variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration error: {var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

/// A secret string whose `Debug`/`Display` never show it; wiped from memory when dropped.
#[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The only way to read it: grep for `expose` to audit every use.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The whole configuration, one field per concern.
#[derive(Debug, Clone)]
pub struct Config {
    /// Mode, addresses, data directory, logs, metrics token, trusted proxies.
    pub server: ServerConfig,
    /// The state backend.
    pub store: StoreConfig,
    /// The job queue.
    pub queue: QueueConfig,
    /// One worker process.
    pub worker: WorkerConfig,
    /// Sign-in, sessions, the token key ring, operators.
    pub identity: IdentityConfig,
    /// The TikTok app and how we talk to TikTok.
    pub tiktok: TikTokConfig,
    /// Staged videos.
    pub staging: StagingConfig,
    /// Request rates and the scheduling horizon.
    pub limits: LimitsConfig,
    /// The scheduler's schedules, thresholds and retention periods.
    pub scheduler: SchedulerConfig,
}

impl Config {
    /// Reads the process environment over an optional `.env` in the working directory.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut vars: HashMap<String, String> = HashMap::new();
        if let Ok(iter) = dotenvy::from_path_iter(".env") {
            for (k, v) in iter.flatten() {
                vars.insert(k, v);
            }
        }
        vars.extend(std::env::vars());
        Self::from_vars(&vars)
    }

    /// Builds a configuration from explicit variables (tests use this; they never touch the
    /// process environment).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let v = Vars(vars);
        let server = ServerConfig::from_vars(&v)?;
        let cfg = Config {
            store: StoreConfig::from_vars(&v, &server.data_dir, server.mode)?,
            queue: QueueConfig::from_vars(&v)?,
            worker: WorkerConfig::from_vars(&v)?,
            identity: IdentityConfig::from_vars(&v, &server)?,
            tiktok: TikTokConfig::from_vars(&v, &server)?,
            staging: StagingConfig::from_vars(&v, &server.data_dir)?,
            limits: LimitsConfig::from_vars(&v)?,
            scheduler: SchedulerConfig::from_vars(&v)?,
            server,
        };
        cfg.check_production()?;
        Ok(cfg)
    }

    /// True in production: cookies get `Secure`.
    pub fn is_production(&self) -> bool {
        self.server.mode == Mode::Production
    }

    /// Development defaults, rooted at `data_dir`, listening on ephemeral ports (tests).
    pub fn for_tests(data_dir: &std::path::Path) -> Self {
        let mut vars = HashMap::new();
        vars.insert("DATA_DIR".into(), data_dir.display().to_string());
        vars.insert("BIND_ADDR".into(), "127.0.0.1:0".into());
        Self::from_vars(&vars).expect("test defaults are valid")
    }
}

#[cfg(test)]
mod tests;
