//! One module per queued job. Each holds the job's payload (ids only, never tokens or PII), the
//! function that queues it and the handler a worker runs; what the outcome does to a post is
//! `crate::domain::outcome`.

pub mod delete_workspace;
pub mod disconnect_account;
pub mod erase_user;
pub mod ping;
pub mod poll_status;
pub mod publish;
pub mod refresh_token;
