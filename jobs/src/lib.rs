//! MKT POST's core library, shared by every binary: configuration, telemetry, the domain model,
//! the store, the token vault, the job queue and (in later modules) the TikTok client, staging,
//! pacing and one module per job.

pub mod access_log;
pub mod accounts;
pub mod audit;
pub mod campaigns;
pub mod config;
pub mod connect_account;
pub mod context;
pub mod disconnect_account;
pub mod erase_user;
pub mod export;
pub mod heartbeat;
pub mod identity;
pub mod locks;
pub mod model;
pub mod ops;
pub mod outcome;
pub mod paced;
pub mod pacing;
pub mod ping;
pub mod poll_status;
pub mod posts;
pub mod publish;
pub mod queue;
pub mod quota;
pub mod refresh_token;
pub mod rotate_keys;
pub mod schedule_time;
pub mod staging;
pub mod store;
pub mod telemetry;
pub mod tiktok;
pub mod vault;
