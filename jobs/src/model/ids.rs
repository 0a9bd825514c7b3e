//! Typed ids. Every entity id is a UUIDv7 (time-ordered, so new rows sort last in indexes) wrapped
//! in its own newtype, so a `PostId` can never be passed where an `AccountId` is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            /// Parses the canonical hyphenated form (what the API and the store use).
            pub fn parse(s: &str) -> Result<Self, uuid::Error> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

id_type!(
    /// Our own id for a user (the Google uid is a separate, unique attribute).
    UserId
);
id_type!(
    /// A connected TikTok account (one user may connect many).
    AccountId
);
id_type!(
    /// A post: one video to publish to one TikTok account.
    PostId
);
id_type!(
    /// A staged video.
    MediaId
);
id_type!(
    /// A post group: one compose (or campaign group) sent to several accounts, one post each,
    /// sharing one staged video.
    GroupId
);
id_type!(
    /// An API key (agency automation).
    ApiKeyId
);
id_type!(
    /// An audit event.
    AuditEventId
);
id_type!(
    /// A workspace (a user's personal workspace has the user's id).
    WorkspaceId
);
id_type!(
    /// An invitation to a workspace.
    InvitationId
);
