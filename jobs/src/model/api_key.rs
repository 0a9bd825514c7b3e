//! API keys for agency automation. Only a hash is stored; the key is shown once.

use super::ids::{ApiKeyId, UserId, WorkspaceId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A stored API key (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: ApiKeyId,
    /// The workspace it works in.
    pub workspace_id: WorkspaceId,
    /// The member it acts as: it never does more than that member's current role allows, and
    /// stops working when they leave the workspace.
    pub user_id: UserId,
    pub name: String,
    /// The first characters of the key (`mkp_ab12…`), to recognise it in a list.
    pub prefix: String,
    /// Hex SHA-256 of the whole key.
    pub hash: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// What the key may do, chosen when it was created. A leaked posting script's key then
    /// reaches only what that script needed; what only the person may do (keys, export,
    /// erasure, disconnect, operations) no key reaches, whatever its scopes.
    pub scopes: ApiKeyScopes,
}

/// One thing an API key may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyScope {
    /// Read the profile, posts, staged media and the key list.
    Read,
    /// Upload and delete media; create, cancel, reschedule and retry posts.
    Publish,
    /// Queue campaigns (many posts at once).
    Campaigns,
    /// Read the connected TikTok accounts and what TikTok says about them (creator info,
    /// published videos).
    Accounts,
}

impl ApiKeyScope {
    /// Every scope, in the order they are shown.
    pub const ALL: [ApiKeyScope; 4] = [
        ApiKeyScope::Read,
        ApiKeyScope::Publish,
        ApiKeyScope::Campaigns,
        ApiKeyScope::Accounts,
    ];

    /// The stable name (API, storage, UI).
    pub fn as_str(self) -> &'static str {
        match self {
            ApiKeyScope::Read => "read",
            ApiKeyScope::Publish => "publish",
            ApiKeyScope::Campaigns => "campaigns",
            ApiKeyScope::Accounts => "accounts",
        }
    }

    /// The scope named `s`, if there is one.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for ApiKeyScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a requested set of scopes was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopesError {
    #[error("choose at least one scope for the key: read, publish, campaigns or accounts")]
    Empty,
    #[error("unknown scope {0:?}; the scopes are read, publish, campaigns and accounts")]
    Unknown(String),
}

/// A key's scopes: a set, kept sorted and without repeats so two equal sets compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ApiKeyScopes(Vec<ApiKeyScope>);

impl ApiKeyScopes {
    /// What keys created before scopes existed keep: every scope, since each of them only
    /// names something those keys could already do. What became session-only is no scope,
    /// so old keys lose exactly that.
    pub fn legacy() -> Self {
        Self(ApiKeyScope::ALL.to_vec())
    }

    /// Validates what a creator asked for: at least one scope, every one known.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, ScopesError> {
        let mut scopes = Vec::with_capacity(names.len());
        for name in names {
            let name = name.as_ref().trim();
            scopes.push(ApiKeyScope::parse(name).ok_or_else(|| ScopesError::Unknown(name.into()))?);
        }
        if scopes.is_empty() {
            return Err(ScopesError::Empty);
        }
        Ok(Self::of(scopes))
    }

    /// The set of these scopes.
    pub fn of(scopes: impl IntoIterator<Item = ApiKeyScope>) -> Self {
        let mut v: Vec<_> = scopes.into_iter().collect();
        v.sort();
        v.dedup();
        Self(v)
    }

    /// The stored form: names separated by single spaces (`"read publish"`). Unknown names
    /// (written by a newer release) are dropped when read back: a key never gains access
    /// from a name this release cannot enforce.
    pub fn to_stored(&self) -> String {
        self.iter()
            .map(ApiKeyScope::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Reads [`ApiKeyScopes::to_stored`]'s form.
    pub fn from_stored(s: &str) -> Self {
        Self::of(s.split_whitespace().filter_map(ApiKeyScope::parse))
    }

    pub fn contains(&self, scope: ApiKeyScope) -> bool {
        self.0.contains(&scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = ApiKeyScope> + '_ {
        self.0.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_as_a_set_and_refuse_empty_or_unknown_names() {
        let s = ApiKeyScopes::parse(&["publish", "read", "publish"]).unwrap();
        assert_eq!(s.to_stored(), "read publish");
        assert_eq!(ApiKeyScopes::from_stored("read publish"), s);
        assert_eq!(ApiKeyScopes::parse::<&str>(&[]), Err(ScopesError::Empty));
        assert_eq!(
            ApiKeyScopes::parse(&["read", "admin"]),
            Err(ScopesError::Unknown("admin".into()))
        );
        assert_eq!(
            ApiKeyScopes::from_stored("read future_scope"),
            ApiKeyScopes::of([ApiKeyScope::Read])
        );
        assert_eq!(
            ApiKeyScopes::legacy().to_stored(),
            "read publish campaigns accounts"
        );
    }
}
