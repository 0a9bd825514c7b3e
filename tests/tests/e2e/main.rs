//! End-to-end tests over real HTTP: the sandbox for TikTok and Google, real Redis, SQLite and
//! PostgreSQL. One binary, one module per user flow.

mod crash;
mod health;
mod identity;
mod media;
mod publish;
mod scheduler;
