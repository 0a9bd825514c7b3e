//! A connected TikTok account. Tokens are held only as vault ciphertext (see `vault`).

use super::ids::{AccountId, UserId, WorkspaceId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Whether the account can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Tokens are good (or refreshable).
    Active,
    /// The grant is dead (invalid_grant, revoked, retired key): the creator must reconnect.
    NeedsReconnect,
    /// Being disconnected (revoke + delete in a job); hidden from lists at once.
    Disconnecting,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::NeedsReconnect => "needs_reconnect",
            AccountStatus::Disconnecting => "disconnecting",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            AccountStatus::Active,
            AccountStatus::NeedsReconnect,
            AccountStatus::Disconnecting,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// Both tokens and both expiries, always written together in one store operation (TikTok may
/// rotate the refresh token; losing the new one loses the account).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedTokens {
    /// Vault ciphertext (carries its key id).
    pub access_token: String,
    pub refresh_token: String,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for EncryptedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedTokens")
            .field("access_expires_at", &self.access_expires_at)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .finish_non_exhaustive()
    }
}

/// A TikTok account connected to a workspace, keyed by (workspace, open_id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TikTokAccount {
    pub id: AccountId,
    /// The workspace that owns it (the one whose members may post with it).
    pub workspace_id: WorkspaceId,
    /// The member who connected it; `None` once that person erased themselves ("former member").
    pub created_by: Option<UserId>,
    pub open_id: String,
    pub union_id: Option<String>,
    pub display_name: String,
    pub username: Option<String>,
    pub avatar_url: Option<String>,
    /// Scopes the creator actually granted.
    pub scopes: Vec<String>,
    pub status: AccountStatus,
    /// Why it needs a reconnect (a sentence a creator understands).
    pub status_reason: Option<String>,
    /// None only after a key retirement deleted what a leaked key could open.
    pub tokens: Option<EncryptedTokens>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TikTokAccount {
    /// Direct Post needs `video.publish`; an account without it is connected but cannot publish.
    pub fn can_publish(&self) -> bool {
        self.status == AccountStatus::Active
            && self.tokens.is_some()
            && self.scopes.iter().any(|s| s == "video.publish")
    }
}

/// What the OAuth callback learned, for an upsert keyed by (workspace, open_id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountConnect {
    /// The id to use if this creates the account (the tokens are sealed for it); an existing
    /// (workspace, open_id) row keeps its own id.
    pub id: AccountId,
    pub open_id: String,
    pub union_id: Option<String>,
    pub display_name: String,
    pub username: Option<String>,
    pub avatar_url: Option<String>,
    pub scopes: Vec<String>,
    pub tokens: EncryptedTokens,
}
