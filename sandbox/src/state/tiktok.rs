//! The TikTok side of the sandbox's world: apps, creators and their videos, authorization codes
//! and tokens, publish tasks, rate counters, queued media-check failures, and what the upload
//! host and token endpoint saw.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::task::{PublishTask, Status, WebhookEvent, World};
use crate::config::SandboxConfig;
use crate::ids::random_string;
use crate::knobs::Knobs;
use crate::model::{
    ALL_SCOPES, App, Creator, DEMO_CLIENT_KEY, DEMO_CLIENT_SECRET, DEMO_PRIVATE_OPEN_ID,
    DEMO_PUBLIC_OPEN_ID, Video,
};
use crate::records::{ChunkRecord, TokenEvent, TokenRecord};

/// The refresh token issued alongside a new access token.
#[derive(Debug, Clone)]
pub enum RefreshGrant {
    /// A new refresh token, expiring at the given instant or, without one, after the knobs'
    /// refresh-token lifetime.
    New(Option<DateTime<Utc>>),
    /// The existing token and its expiry, kept when refresh-token rotation is off.
    Reuse(String, DateTime<Utc>),
}

/// Makes the next matching post end `FAILED` with `fail_reason` once processing finishes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MediaCheck {
    pub fail_reason: String,
    /// Only posts by this creator (any creator when absent).
    #[serde(default)]
    pub open_id: Option<String>,
    /// How many posts it applies to.
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

pub(crate) struct AuthCode {
    pub client_key: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub open_id: String,
    pub code_challenge: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
}

/// An issued token: access and refresh tokens carry the same facts.
pub(crate) struct IssuedToken {
    pub token: String,
    pub client_key: String,
    pub open_id: String,
    pub scopes: Vec<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

impl IssuedToken {
    /// A new token of the grant, shaped like TikTok's: `<prefix>.` 48 random characters, `!`
    /// and four digits.
    fn mint(
        prefix: &str,
        client_key: &str,
        open_id: &str,
        scopes: &[String],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Self {
        Self {
            token: format!(
                "{prefix}.{}!{:04}",
                random_string(48),
                rand::rng().random_range(0..10_000)
            ),
            client_key: client_key.into(),
            open_id: open_id.into(),
            scopes: scopes.to_vec(),
            issued_at: now,
            expires_at,
            revoked: false,
        }
    }
}

impl IssuedToken {
    /// This token in the records, as a `kind` (`access` or `refresh`) token.
    fn record(&self, kind: &str) -> TokenRecord {
        TokenRecord {
            kind: kind.into(),
            token: self.token.clone(),
            client_key: self.client_key.clone(),
            open_id: self.open_id.clone(),
            scope: self.scopes.join(","),
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            revoked: self.revoked,
        }
    }
}

pub(crate) type AccessToken = IssuedToken;
pub(crate) type RefreshToken = IssuedToken;

/// The flat token-endpoint success body (no v2 envelope).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenResponse {
    pub access_token: String,
    pub expires_in: i64,
    pub open_id: String,
    pub refresh_expires_in: i64,
    pub refresh_token: String,
    pub scope: String,
    pub token_type: String,
}

pub(crate) struct TikTok {
    pub apps: BTreeMap<String, App>,
    pub creators: BTreeMap<String, Creator>,
    pub videos: Vec<Video>,
    pub codes: HashMap<String, AuthCode>,
    pub access: Vec<AccessToken>,
    pub refresh: Vec<RefreshToken>,
    pub tasks: Vec<PublishTask>,
    pub rate: HashMap<(String, &'static str), VecDeque<DateTime<Utc>>>,
    pub media_checks: Vec<MediaCheck>,
    pub chunks: Vec<ChunkRecord>,
    pub bytes_uploaded: u64,
    pub token_events: Vec<TokenEvent>,
}

impl TikTok {
    /// Empty, or seeded with the demo app, creators and videos.
    pub(crate) fn new(cfg: &SandboxConfig, base_url: &str) -> Self {
        let mut tiktok = Self {
            apps: BTreeMap::new(),
            creators: BTreeMap::new(),
            videos: Vec::new(),
            codes: HashMap::new(),
            access: Vec::new(),
            refresh: Vec::new(),
            tasks: Vec::new(),
            rate: HashMap::new(),
            media_checks: Vec::new(),
            chunks: Vec::new(),
            bytes_uploaded: 0,
            token_events: Vec::new(),
        };
        if cfg.seed_demo_data {
            tiktok.seed(cfg, base_url);
        }
        tiktok
    }

    fn seed(&mut self, cfg: &SandboxConfig, base_url: &str) {
        self.apps.insert(DEMO_CLIENT_KEY.into(), demo_app(cfg));
        for creator in demo_creators(base_url) {
            self.creators.insert(creator.open_id.clone(), creator);
        }
        self.videos = demo_videos();
    }

    /// The creator who consents when the authorize URL does not name one.
    pub fn default_open_id(&self, knobs: &Knobs) -> Option<String> {
        if let Some(id) = &knobs.default_open_id {
            return Some(id.clone());
        }
        if self.creators.contains_key(DEMO_PUBLIC_OPEN_ID) {
            return Some(DEMO_PUBLIC_OPEN_ID.into());
        }
        self.creators.keys().next().cloned()
    }

    pub fn task_mut(&mut self, publish_id: &str) -> Option<&mut PublishTask> {
        self.tasks.iter_mut().find(|t| t.publish_id == publish_id)
    }

    /// Moves every task's status machine to `now`.
    pub fn settle_all(&mut self, now: DateTime<Utc>, knobs: &Knobs) -> Vec<WebhookEvent> {
        let mut out = Vec::new();
        let Self {
            tasks,
            creators,
            apps,
            videos,
            ..
        } = self;
        let mut world = World {
            now,
            knobs,
            creators,
            apps,
            videos,
        };
        for task in tasks.iter_mut().filter(|t| !t.is_terminal()) {
            for (event, content) in task.settle(&mut world) {
                out.push(WebhookEvent {
                    client_key: task.client_key.clone(),
                    open_id: task.open_id.clone(),
                    event,
                    content,
                    create_time: now.timestamp(),
                });
            }
        }
        out
    }

    /// Counts a request against a sliding window; `false` when over the limit.
    pub fn take_rate(
        &mut self,
        token: &str,
        bucket: &'static str,
        limit: u32,
        window: TimeDelta,
        now: DateTime<Utc>,
    ) -> bool {
        let hits = self.rate.entry((token.to_owned(), bucket)).or_default();
        while hits.front().is_some_and(|t| *t <= now - window) {
            hits.pop_front();
        }
        if hits.len() >= limit as usize {
            return false;
        }
        hits.push_back(now);
        true
    }

    /// Issues an access token plus the refresh token `refresh` says.
    pub fn issue_tokens(
        &mut self,
        knobs: &Knobs,
        now: DateTime<Utc>,
        client_key: &str,
        open_id: &str,
        scopes: &[String],
        refresh: RefreshGrant,
    ) -> TokenResponse {
        let expires_at = now + TimeDelta::seconds(knobs.access_token_ttl_secs);
        let token = IssuedToken::mint("act", client_key, open_id, scopes, now, expires_at);
        let access = token.token.clone();
        self.access.push(token);
        let (refresh, refresh_expires_at) = match refresh {
            RefreshGrant::Reuse(token, expires_at) => (token, expires_at),
            RefreshGrant::New(expires_at) => {
                let expires_at =
                    expires_at.unwrap_or(now + TimeDelta::seconds(knobs.refresh_token_ttl_secs));
                let token = IssuedToken::mint("rft", client_key, open_id, scopes, now, expires_at);
                let refresh = token.token.clone();
                self.refresh.push(token);
                (refresh, expires_at)
            }
        };
        TokenResponse {
            access_token: access,
            expires_in: knobs.access_token_ttl_secs,
            open_id: open_id.into(),
            refresh_expires_in: (refresh_expires_at - now).num_seconds().max(0),
            refresh_token: refresh,
            scope: scopes.join(","),
            token_type: "Bearer".into(),
        }
    }

    pub fn token_event(
        &mut self,
        now: DateTime<Utc>,
        event: &str,
        client_key: &str,
        open_id: &str,
    ) {
        self.token_events.push(TokenEvent {
            at: now,
            event: event.into(),
            client_key: client_key.into(),
            open_id: open_id.into(),
        });
    }

    /// Revokes every token of one (app, creator) grant and fails its in-flight posts with
    /// `auth_removed`, as TikTok does when access is removed.
    pub fn revoke_grant(
        &mut self,
        now: DateTime<Utc>,
        client_key: &str,
        open_id: &str,
    ) -> Vec<WebhookEvent> {
        for t in self
            .access
            .iter_mut()
            .filter(|t| t.client_key == client_key && t.open_id == open_id)
        {
            t.revoked = true;
        }
        for t in self
            .refresh
            .iter_mut()
            .filter(|t| t.client_key == client_key && t.open_id == open_id)
        {
            t.revoked = true;
        }
        self.token_event(now, "revoked", client_key, open_id);
        let mut out = Vec::new();
        for task in self.tasks.iter_mut().filter(|t| {
            t.client_key == client_key
                && t.open_id == open_id
                && matches!(
                    t.status,
                    Status::ProcessingUpload | Status::ProcessingDownload | Status::SendToUserInbox
                )
        }) {
            let mut events = Vec::new();
            task.fail("auth_removed", &mut events);
            out.extend(events.into_iter().map(|(event, content)| WebhookEvent {
                client_key: client_key.into(),
                open_id: open_id.into(),
                event,
                content,
                create_time: now.timestamp(),
            }));
        }
        out.push(WebhookEvent {
            client_key: client_key.into(),
            open_id: open_id.into(),
            event: "authorization.removed".into(),
            content: json!({"reason": 5}),
            create_time: now.timestamp(),
        });
        out
    }

    /// Takes one queued media-check failure for a new post by `open_id`.
    pub fn take_media_check(&mut self, open_id: &str) -> Option<String> {
        let idx = self
            .media_checks
            .iter()
            .position(|m| m.count > 0 && m.open_id.as_deref().is_none_or(|o| o == open_id))?;
        let check = &mut self.media_checks[idx];
        check.count -= 1;
        let reason = check.fail_reason.clone();
        if check.count == 0 {
            self.media_checks.remove(idx);
        }
        Some(reason)
    }

    /// Every access and refresh token issued, for the records.
    pub fn token_records(&self) -> Vec<TokenRecord> {
        self.access
            .iter()
            .map(|t| t.record("access"))
            .chain(self.refresh.iter().map(|t| t.record("refresh")))
            .collect()
    }
}

/// The demo app: audited, every scope, the configured redirect URIs.
fn demo_app(cfg: &SandboxConfig) -> App {
    App {
        client_key: DEMO_CLIENT_KEY.into(),
        client_secret: DEMO_CLIENT_SECRET.into(),
        name: "MKT POST (sandbox demo)".into(),
        redirect_uris: cfg.redirect_uris.clone(),
        scopes: ALL_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        audited: true,
        verified_domains: vec!["example.com".into()],
        verified_url_prefixes: Vec::new(),
        active_user_cap: None,
        webhook_url: None,
    }
}

/// "Sunny Demo" (public) and "Pia Private" (private).
fn demo_creators(base_url: &str) -> [Creator; 2] {
    let public = Creator {
        open_id: DEMO_PUBLIC_OPEN_ID.into(),
        union_id: "5b0d6a52-3c1e-4e8f-9a47-5a4e00000001".into(),
        display_name: "Sunny Demo".into(),
        username: "sunny.demo".into(),
        bio_description: "Public sandbox creator. Posts go straight to the feed.".into(),
        avatar_url: format!("{base_url}/_sandbox/avatar/sunny.jpeg"),
        is_verified: true,
        follower_count: 12_480,
        following_count: 321,
        likes_count: 98_765,
        ..Creator::default()
    };
    let private = Creator {
        open_id: DEMO_PRIVATE_OPEN_ID.into(),
        union_id: "5b0d6a52-3c1e-4e8f-9a47-5a4e00000002".into(),
        display_name: "Pia Private".into(),
        username: "pia.private".into(),
        bio_description: "Private sandbox creator.".into(),
        avatar_url: format!("{base_url}/_sandbox/avatar/pia.jpeg"),
        follower_count: 42,
        following_count: 17,
        likes_count: 310,
        private_account: true,
        duet_disabled: true,
        stitch_disabled: true,
        max_video_post_duration_sec: 180,
        ..Creator::default()
    };
    [public, private]
}

/// A few older public videos so video/list paging works before anything is posted.
fn demo_videos() -> Vec<Video> {
    let mut videos = Vec::new();
    let base = Utc::now() - TimeDelta::days(30);
    for (i, title) in [
        "Morning light #sandbox",
        "Sunny side up",
        "Behind the scenes",
    ]
    .iter()
    .enumerate()
    {
        let days = i64::try_from(i).unwrap_or(0) * 3;
        videos.push(Video {
            id: (7_300_000_000_000_000_001_u64 + i as u64).to_string(),
            open_id: DEMO_PUBLIC_OPEN_ID.into(),
            title: (*title).into(),
            create_time: (base + TimeDelta::days(days)).timestamp(),
            duration: 14 + i32::try_from(i).unwrap_or(0),
            height: 1920,
            width: 1080,
            like_count: 120,
            comment_count: 8,
            share_count: 3,
            view_count: 4_200,
            publish_id: None,
            public: true,
        });
    }
    videos
}
