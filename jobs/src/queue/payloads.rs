//! Every job's payload, in one place: what the domain queues and a handler runs. Payloads hold
//! ids only (user, post, account), never tokens, captions or emails: that is a privacy promise
//! (job payloads sit in Redis), and it also means a replayed task sees the store's current
//! state. They live here, below the domain, because the domain queues them (a creator's retry,
//! a reconnect sending parked posts out) while the handlers that run them stand above it.

use super::Job;
use crate::model::{AccountId, PostId, UserId, WorkspaceId};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

/// Queue `<namespace>:publish`. Never rename a job: queued tasks refer to it.
pub const PUBLISH: &str = "publish";
/// Queue `<namespace>:poll_status`.
pub const POLL_STATUS: &str = "poll_status";
/// Queue `<namespace>:refresh_token`.
pub const REFRESH_TOKEN: &str = "refresh_token";
/// Queue `<namespace>:disconnect_account`.
pub const DISCONNECT_ACCOUNT: &str = "disconnect_account";
/// Queue `<namespace>:erase_user`.
pub const ERASE_USER: &str = "erase_user";
/// Queue `<namespace>:delete_workspace`.
pub const DELETE_WORKSPACE: &str = "delete_workspace";
/// Queue `<namespace>:ping`.
pub const PING: &str = "ping";

/// Publish this post. Ids only: the handler loads the rest, so a replay sees current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishPost {
    /// Tasks queued before workspaces (#16) name the user, whose personal workspace has
    /// the user's id: the alias reads them as that workspace's.
    #[serde(alias = "user_id")]
    pub workspace_id: WorkspaceId,
    pub post_id: PostId,
}

impl Job for PublishPost {
    const NAME: &'static str = PUBLISH;
    // A 4 GiB upload at a few MB/s takes a while; chunks checkpoint progress, so a timeout
    // only costs a resume.
    const TIMEOUT: Duration = Duration::from_secs(3600);
}

/// Poll this post's status at TikTok.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollStatus {
    /// Tasks queued before workspaces (#16) name the user, whose personal workspace has
    /// the user's id: the alias reads them as that workspace's.
    #[serde(alias = "user_id")]
    pub workspace_id: WorkspaceId,
    pub post_id: PostId,
}

impl Job for PollStatus {
    const NAME: &'static str = POLL_STATUS;
}

/// Refresh this account's token if it is within the refresh margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshToken {
    /// Tasks queued before workspaces (#16) name the user, whose personal workspace has
    /// the user's id: the alias reads them as that workspace's.
    #[serde(alias = "user_id")]
    pub workspace_id: WorkspaceId,
    pub account_id: AccountId,
}

impl Job for RefreshToken {
    const NAME: &'static str = REFRESH_TOKEN;
}

/// Disconnect this account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisconnectAccount {
    /// Tasks queued before workspaces (#16) name the user, whose personal workspace has
    /// the user's id: the alias reads them as that workspace's.
    #[serde(alias = "user_id")]
    pub workspace_id: WorkspaceId,
    pub account_id: AccountId,
}

impl Job for DisconnectAccount {
    const NAME: &'static str = DISCONNECT_ACCOUNT;
}

/// Erase this user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EraseUser {
    pub user_id: UserId,
}

impl Job for EraseUser {
    const NAME: &'static str = ERASE_USER;
}

/// Delete this (team) workspace and everything it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteWorkspace {
    pub workspace_id: WorkspaceId,
}

impl Job for DeleteWorkspace {
    const NAME: &'static str = DELETE_WORKSPACE;
}

/// Asks a worker to answer. The id only correlates the run with whoever sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingJob {
    pub id: Uuid,
}

impl PingJob {
    /// A ping with a fresh id.
    pub fn new() -> Self {
        Self { id: Uuid::now_v7() }
    }
}

impl Default for PingJob {
    fn default() -> Self {
        Self::new()
    }
}

impl Job for PingJob {
    const NAME: &'static str = PING;
}
