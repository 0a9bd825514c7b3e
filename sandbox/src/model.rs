//! The things the sandbox pretends TikTok and Google hold: apps, creators, videos, test users.
//!
//! These are also the bodies of the control API (`POST /_sandbox/apps`, `/_sandbox/creators`,
//! `/_sandbox/google/users`), so every field has a default and can be omitted.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// The demo app's client key; MKT POST's development configuration uses it as its default.
pub const DEMO_CLIENT_KEY: &str = "sbawdemo0000000001";
/// The demo app's client secret (also the webhook signing key, as on TikTok).
pub const DEMO_CLIENT_SECRET: &str = "sandbox-demo-client-secret";
/// The seeded creator with a public account.
pub const DEMO_PUBLIC_OPEN_ID: &str = "-000sandbox-public-0001";
/// The seeded creator with a private account.
pub const DEMO_PRIVATE_OPEN_ID: &str = "-000sandbox-private-0002";
/// Every scope the sandbox knows (and the demo app has enabled).
pub const ALL_SCOPES: [&str; 6] = [
    "user.info.basic",
    "user.info.profile",
    "user.info.stats",
    "video.publish",
    "video.upload",
    "video.list",
];

/// A TikTok developer app.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct App {
    /// Generated (`sbaw` + 14 random characters) when empty on creation.
    pub client_key: String,
    /// Generated when empty on creation.
    pub client_secret: String,
    pub name: String,
    /// Exact-match list checked at authorize and token exchange.
    pub redirect_uris: Vec<String>,
    /// Scopes enabled for the app; asking for others fails authorize with `invalid_scope`.
    pub scopes: BTreeSet<String>,
    /// Unaudited apps may only post `SELF_ONLY` to private accounts, for ≤ 5 creators a day.
    pub audited: bool,
    /// PULL_FROM_URL: verified domains (cover subdomains).
    pub verified_domains: Vec<String>,
    /// PULL_FROM_URL: verified URL prefixes (`https://host/path/`).
    pub verified_url_prefixes: Vec<String>,
    /// Distinct creators that may direct-post per 24 h; `None` = unlimited when audited,
    /// `knobs.unaudited_active_user_cap` when not.
    pub active_user_cap: Option<u32>,
    /// Where `post.publish.*` / `authorization.removed` events are POSTed.
    pub webhook_url: Option<String>,
}

impl Default for App {
    fn default() -> Self {
        Self {
            client_key: String::new(),
            client_secret: String::new(),
            name: "Sandbox app".into(),
            redirect_uris: Vec::new(),
            scopes: ALL_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            audited: false,
            verified_domains: Vec::new(),
            verified_url_prefixes: Vec::new(),
            active_user_cap: None,
            webhook_url: None,
        }
    }
}

/// A TikTok account that can consent on the authorize page.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Creator {
    /// Generated (`-000sandbox-` + random) when empty on creation.
    pub open_id: String,
    pub union_id: String,
    pub display_name: String,
    pub username: String,
    pub bio_description: String,
    pub avatar_url: String,
    pub is_verified: bool,
    pub follower_count: i64,
    pub following_count: i64,
    pub likes_count: i64,
    /// Private accounts get `FOLLOWER_OF_CREATOR` instead of `PUBLIC_TO_EVERYONE`.
    pub private_account: bool,
    /// `spam_risk_user_banned_from_posting` everywhere; fails in-flight posts too.
    pub banned: bool,
    /// Direct posts per trailing 24 h before `spam_risk_too_many_posts`.
    pub daily_post_cap: u32,
    pub comment_disabled: bool,
    pub duet_disabled: bool,
    pub stitch_disabled: bool,
    pub max_video_post_duration_sec: i32,
}

impl Default for Creator {
    fn default() -> Self {
        Self {
            open_id: String::new(),
            union_id: String::new(),
            display_name: "Sandbox Creator".into(),
            username: "sandbox.creator".into(),
            bio_description: String::new(),
            avatar_url: String::new(),
            is_verified: false,
            follower_count: 0,
            following_count: 0,
            likes_count: 0,
            private_account: false,
            banned: false,
            daily_post_cap: 15,
            comment_disabled: false,
            duet_disabled: false,
            stitch_disabled: false,
            max_video_post_duration_sec: 600,
        }
    }
}

/// A video on a creator's profile, as the Display API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Video {
    /// 19-digit id, as a string (the Display API's `id`).
    pub id: String,
    pub open_id: String,
    pub title: String,
    /// UTC seconds.
    pub create_time: i64,
    pub duration: i32,
    pub height: i32,
    pub width: i32,
    pub like_count: i32,
    pub comment_count: i32,
    pub share_count: i32,
    pub view_count: i64,
    /// Set for videos that came from a publish task.
    pub publish_id: Option<String>,
    /// Publicly viewable (PUBLIC_TO_EVERYONE and past moderation). `video/list` shows only
    /// these unless `knobs.video_list_public_only` is off.
    pub public: bool,
}

/// A person who can sign in on the sandbox's Google page.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct GoogleUser {
    /// Firebase uid (the ID token's `sub`); derived from the email when empty.
    pub uid: String,
    pub email: String,
    pub name: String,
    pub picture: String,
}

impl GoogleUser {
    /// A user with a stable uid derived from the email, so typing the same email twice signs in
    /// the same person.
    pub fn from_email(email: &str, name: &str) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(email.trim().to_lowercase().as_bytes());
        let uid: String = hex::encode(digest).chars().take(28).collect();
        let name = if name.trim().is_empty() {
            email.split('@').next().unwrap_or(email).to_owned()
        } else {
            name.trim().to_owned()
        };
        Self {
            uid,
            email: email.trim().to_owned(),
            name,
            picture: format!(
                "https://lh3.googleusercontent.com/a/sandbox-{}",
                &hex::encode(digest)[..12]
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_emails_map_to_a_stable_firebase_like_uid() {
        let a = GoogleUser::from_email("Ada@Example.com ", "");
        let b = GoogleUser::from_email("ada@example.com", "Ada");
        assert_eq!(a.uid, b.uid);
        assert_eq!(a.uid.len(), 28);
        assert_eq!(a.name, "Ada");
        assert_eq!(b.name, "Ada");
    }
}
