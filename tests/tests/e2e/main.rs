//! End-to-end tests over real HTTP: the sandbox for TikTok and Google, real Redis, SQLite and
//! PostgreSQL, and Google's Firestore emulator (one per run of this binary, started by the first
//! Firestore test; `SKIPPED:` without Java or the jar unless `MKTPOST_REQUIRE_FIRESTORE=1`).
//! One binary, one module per user flow.

mod authorization;
mod campaigns;
mod cover;
mod crash;
mod edge;
mod expect;
mod forget;
mod groups;
mod health;
mod identity;
mod inbox;
mod media;
mod ops;
mod parked;
mod photos;
mod privacy;
mod publish;
mod pull_url;
mod required;
mod resume;
mod scheduler;
mod scopes;
mod sessions;
mod stream;
mod workspaces;
