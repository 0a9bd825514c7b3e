//! A person who signed in with Google. We hold exactly what the privacy promise names:
//! the Google uid, email, display name and picture URL. Nothing else.

use super::ids::UserId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A signed-in user.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    /// Firebase/Google `sub`; unique.
    pub google_uid: String,
    pub email: String,
    pub name: String,
    pub picture: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set when the user asked for erasure (sessions and API keys are refused from then on);
    /// `None` otherwise. The user row is deleted last, when erasure completes.
    #[serde(default)]
    pub erasing_since: Option<DateTime<Utc>>,
}

/// Personal data stays out of logs: `Debug` shows the id only.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// What sign-in gives us, for an upsert keyed by `google_uid`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoogleProfile {
    pub google_uid: String,
    pub email: String,
    pub name: String,
    pub picture: Option<String>,
}

impl std::fmt::Debug for GoogleProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GoogleProfile([redacted])")
    }
}
