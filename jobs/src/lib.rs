//! MKT POST's core library, shared by every binary.
//!
//! The rooms, from the bottom up (an import only ever points down this list):
//! - [`model`]: the domain types, no behaviour beyond their own invariants;
//! - infrastructure: [`config`], [`telemetry`], [`store`], [`vault`], [`identity`], [`queue`],
//!   [`staging`], [`tiktok`], [`locks`], [`pacing`], [`access_log`], and [`context`] which bundles
//!   them for one process;
//! - [`domain`]: the rules of accounts, posts and campaigns, and what a job's outcome does to a
//!   post ([`domain::outcome`]);
//! - [`handlers`]: one module per queued job (publish, status poll, token refresh, disconnect,
//!   erasure, ping);
//! - [`ops`]: what operators see and do (queue dashboards, replays, the scheduler heartbeat,
//!   key rotation).

pub mod model;

pub mod access_log;
pub mod config;
pub mod context;
pub mod identity;
pub mod locks;
pub mod pacing;
pub mod queue;
pub mod staging;
pub mod store;
pub mod telemetry;
pub mod tiktok;
pub mod vault;

pub mod domain;
pub mod handlers;
pub mod ops;
