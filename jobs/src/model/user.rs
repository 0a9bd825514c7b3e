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
    /// Set by "sign out everywhere": every session cookie issued before this instant is
    /// refused (see [`User::sessions_valid_from`]). `None` until the user first asks.
    #[serde(default)]
    pub sessions_revoked_at: Option<DateTime<Utc>>,
}

impl User {
    /// The earliest `iat` (Unix seconds) of a session cookie this user still accepts. One rule
    /// for two cases:
    /// - a cookie older than the user row belongs to an erased predecessor with the same
    ///   Google account: erasure ended those sessions for good. Rounded down, because the
    ///   first sign-in's cookie is issued within the second the row was created;
    /// - a cookie older than "sign out everywhere" is one of the sessions it ended. Rounded
    ///   up, because a cookie issued earlier within the same second is such a session too
    ///   (`iat` has whole seconds only).
    pub fn sessions_valid_from(&self) -> i64 {
        let created = self.created_at.timestamp();
        let revoked = self.sessions_revoked_at.map(|t| {
            let secs = t.timestamp();
            if t.timestamp_subsec_nanos() > 0 {
                secs + 1
            } else {
                secs
            }
        });
        revoked.map_or(created, |r| r.max(created))
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn user_created_at(secs: i64, nanos: u32) -> User {
        let t = Utc
            .timestamp_opt(secs, nanos)
            .single()
            .expect("valid instant");
        User {
            id: UserId::new(),
            google_uid: "uid".into(),
            email: "a@example.com".into(),
            name: "A".into(),
            picture: None,
            created_at: t,
            updated_at: t,
            erasing_since: None,
            sessions_revoked_at: None,
        }
    }

    #[test]
    fn sessions_are_valid_from_creation_rounded_down_and_from_sign_out_everywhere_rounded_up() {
        let mut u = user_created_at(1_000, 500_000_000);
        // The first sign-in's cookie carries iat 1000, issued in the second the row was made.
        assert_eq!(u.sessions_valid_from(), 1_000);
        // Sign out everywhere at 2000.25: a cookie issued at 2000.1 (iat 2000) is one it ended.
        u.sessions_revoked_at = Utc.timestamp_opt(2_000, 250_000_000).single();
        assert_eq!(u.sessions_valid_from(), 2_001);
        // Exactly on a second: a cookie issued at that instant came after the click.
        u.sessions_revoked_at = Utc.timestamp_opt(2_000, 0).single();
        assert_eq!(u.sessions_valid_from(), 2_000);
        // A mark older than the row (cannot happen, but the later instant always wins).
        u.sessions_revoked_at = Utc.timestamp_opt(10, 0).single();
        assert_eq!(u.sessions_valid_from(), 1_000);
    }
}
