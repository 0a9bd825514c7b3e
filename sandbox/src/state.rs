//! The sandbox's in-memory world and the rules that move it: tokens, publish tasks and their
//! status machine, limits, faults and records. Handlers lock [`Inner`] briefly, never across
//! an `.await`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::SandboxConfig;
use crate::clock::Clock;
use crate::faults::{CallSite, Fault, FaultAction, FaultSpec};
use crate::google::GoogleKeys;
use crate::knobs::Knobs;
use crate::model::{
    ALL_SCOPES, App, Creator, DEMO_CLIENT_KEY, DEMO_CLIENT_SECRET, DEMO_PRIVATE_OPEN_ID,
    DEMO_PUBLIC_OPEN_ID, GoogleUser, Video,
};
use crate::records::{
    CallCount, CallRecord, ChunkRecord, PostRecord, Records, TokenEvent, TokenRecord, WebhookRecord,
};

/// Cheap to clone; shared by every handler, the ticker and the webhook sender.
#[derive(Clone)]
pub struct SandboxState(pub(crate) Arc<Shared>);

pub(crate) struct Shared {
    pub cfg: SandboxConfig,
    pub base_url: String,
    pub clock: Clock,
    pub inner: Mutex<Inner>,
    pub google: Mutex<GoogleKeys>,
    pub webhooks: mpsc::UnboundedSender<WebhookEvent>,
}

/// An event waiting to be POSTed to an app's webhook URL.
#[derive(Debug, Clone)]
pub(crate) struct WebhookEvent {
    pub client_key: String,
    pub open_id: String,
    pub event: String,
    pub content: Value,
    pub create_time: i64,
}

pub(crate) struct Inner {
    pub knobs: Knobs,
    pub apps: BTreeMap<String, App>,
    pub creators: BTreeMap<String, Creator>,
    pub videos: Vec<Video>,
    pub google_users: Vec<GoogleUser>,
    pub codes: HashMap<String, AuthCode>,
    pub access: Vec<AccessToken>,
    pub refresh: Vec<RefreshToken>,
    pub tasks: Vec<PublishTask>,
    pub rate: HashMap<(String, &'static str), VecDeque<DateTime<Utc>>>,
    pub faults: Vec<Fault>,
    pub next_fault_id: u64,
    pub media_checks: Vec<MediaCheck>,
    pub chunks: Vec<ChunkRecord>,
    pub bytes_uploaded: u64,
    pub token_events: Vec<TokenEvent>,
    pub calls: Vec<CallRecord>,
    pub call_counts: BTreeMap<String, CallCount>,
    pub webhooks: Vec<WebhookRecord>,
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

pub(crate) struct AccessToken {
    pub token: String,
    pub client_key: String,
    pub open_id: String,
    pub scopes: Vec<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

pub(crate) struct RefreshToken {
    pub token: String,
    pub client_key: String,
    pub open_id: String,
    pub scopes: Vec<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PostMode {
    Direct,
    Inbox,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    FileUpload,
    PullFromUrl,
}

/// TikTok's publish statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum Status {
    ProcessingUpload,
    ProcessingDownload,
    SendToUserInbox,
    PublishComplete,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProcessingUpload => "PROCESSING_UPLOAD",
            Self::ProcessingDownload => "PROCESSING_DOWNLOAD",
            Self::SendToUserInbox => "SEND_TO_USER_INBOX",
            Self::PublishComplete => "PUBLISH_COMPLETE",
            Self::Failed => "FAILED",
        }
    }
}

pub(crate) struct Upload {
    pub upload_id: String,
    pub upload_token: String,
    pub url: String,
    pub issued_at: DateTime<Utc>,
    pub received: u64,
    pub chunks: u64,
    /// Taken out while a chunk streams in, so a concurrent PUT sees the upload busy.
    pub hasher: Option<Sha256>,
    pub sha256: Option<String>,
    pub bytes: Option<Vec<u8>>,
    /// First bytes of the file, for the optional format check.
    pub head: Vec<u8>,
}

pub(crate) struct PublishTask {
    pub publish_id: String,
    pub client_key: String,
    pub open_id: String,
    pub mode: PostMode,
    pub photo: bool,
    pub source: Source,
    pub title: Option<String>,
    pub privacy_level: Option<String>,
    pub disable_comment: bool,
    pub disable_duet: bool,
    pub disable_stitch: bool,
    pub video_size: Option<u64>,
    pub chunk_size: Option<u64>,
    pub total_chunk_count: Option<u64>,
    pub video_url: Option<String>,
    pub upload: Option<Upload>,
    pub status: Status,
    pub fail_reason: Option<String>,
    pub post_ids: Vec<u64>,
    pub created_at: DateTime<Utc>,
    /// When all media had arrived (last chunk, or end of a PULL download).
    pub ready_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
    /// Public and waiting for moderation before the post id appears.
    pub public_pending: bool,
    pub forced_failure: Option<String>,
}

impl PublishTask {
    pub fn publish_type(&self) -> &'static str {
        match self.mode {
            PostMode::Direct => "DIRECT_PUBLISH",
            PostMode::Inbox => "INBOX_SHARE",
        }
    }

    pub fn is_terminal(&self) -> bool {
        self.status == Status::Failed
            || (self.status == Status::PublishComplete && !self.public_pending)
    }

    pub fn uploaded_bytes(&self) -> u64 {
        self.upload.as_ref().map_or(0, |u| u.received)
    }

    fn fail(&mut self, reason: &str, events: &mut Vec<(String, Value)>) {
        self.status = Status::Failed;
        self.fail_reason = Some(reason.to_owned());
        self.public_pending = false;
        events.push((
            "post.publish.failed".into(),
            json!({"publish_id": self.publish_id, "reason": reason, "publish_type": self.publish_type()}),
        ));
    }

    /// Records a post from this task: direct publish, or the creator posting an inbox draft.
    fn publish(
        &mut self,
        at: DateTime<Utc>,
        public: bool,
        videos: &mut Vec<Video>,
        events: &mut Vec<(String, Value)>,
    ) {
        self.status = Status::PublishComplete;
        self.published_at = Some(at);
        self.public_pending = public;
        videos.push(Video {
            id: new_post_id().to_string(),
            open_id: self.open_id.clone(),
            title: self.title.clone().unwrap_or_default(),
            create_time: at.timestamp(),
            duration: 15,
            height: 1920,
            width: 1080,
            like_count: 0,
            comment_count: 0,
            share_count: 0,
            view_count: 0,
            publish_id: Some(self.publish_id.clone()),
            public: false,
        });
        events.push((
            "post.publish.complete".into(),
            json!({"publish_id": self.publish_id, "publish_type": self.publish_type()}),
        ));
    }

    /// Advances the status machine to `now`; returns the webhook events of each transition.
    fn settle(
        &mut self,
        now: DateTime<Utc>,
        knobs: &Knobs,
        creators: &BTreeMap<String, Creator>,
        apps: &BTreeMap<String, App>,
        videos: &mut Vec<Video>,
    ) -> Vec<(String, Value)> {
        let mut events = Vec::new();
        // Several transitions may be due at once after a clock jump; walk them in order.
        for _ in 0..8 {
            if !self.step(now, knobs, creators, apps, videos, &mut events) {
                break;
            }
        }
        events
    }

    fn step(
        &mut self,
        now: DateTime<Utc>,
        knobs: &Knobs,
        creators: &BTreeMap<String, Creator>,
        apps: &BTreeMap<String, App>,
        videos: &mut Vec<Video>,
        events: &mut Vec<(String, Value)>,
    ) -> bool {
        match self.status {
            Status::Failed => false,
            Status::ProcessingDownload if self.ready_at.is_none() => {
                if knobs.pull_stalls {
                    if now >= self.created_at + TimeDelta::seconds(knobs.pull_timeout_secs) {
                        let reason = if self.photo {
                            "photo_pull_failed"
                        } else {
                            "video_pull_failed"
                        };
                        self.fail(reason, events);
                        return true;
                    }
                    return false;
                }
                let done = self.created_at + TimeDelta::milliseconds(knobs.pull_download_ms);
                if now >= done {
                    self.ready_at = Some(done);
                    return true;
                }
                false
            }
            Status::ProcessingUpload | Status::ProcessingDownload => {
                let Some(ready) = self.ready_at else {
                    return false;
                };
                let at = ready + TimeDelta::milliseconds(knobs.processing_delay_ms);
                if now < at {
                    return false;
                }
                let creator = creators.get(&self.open_id);
                if let Some(reason) = self.forced_failure.clone() {
                    self.fail(&reason, events);
                } else if creator.is_some_and(|c| c.banned) {
                    self.fail("spam_risk_user_banned_from_posting", events);
                } else if knobs.check_file_format
                    && self.source == Source::FileUpload
                    && !self
                        .upload
                        .as_ref()
                        .is_some_and(|u| looks_like_video(&u.head))
                {
                    self.fail("file_format_check_failed", events);
                } else if self.mode == PostMode::Direct {
                    let audited = apps.get(&self.client_key).is_some_and(|a| a.audited);
                    let public =
                        audited && self.privacy_level.as_deref() == Some("PUBLIC_TO_EVERYONE");
                    self.publish(at, public, videos, events);
                } else {
                    self.status = Status::SendToUserInbox;
                    self.delivered_at = Some(at);
                    events.push((
                        "post.publish.inbox_delivered".into(),
                        json!({"publish_id": self.publish_id, "publish_type": "INBOX_SHARE"}),
                    ));
                }
                true
            }
            Status::SendToUserInbox => {
                let (Some(delay), Some(delivered)) = (knobs.inbox_auto_post_ms, self.delivered_at)
                else {
                    return false;
                };
                let at = delivered + TimeDelta::milliseconds(delay);
                if now < at {
                    return false;
                }
                let public = creators
                    .get(&self.open_id)
                    .is_some_and(|c| !c.private_account);
                self.privacy_level = Some(
                    if public {
                        "PUBLIC_TO_EVERYONE"
                    } else {
                        "SELF_ONLY"
                    }
                    .to_owned(),
                );
                self.publish(at, public, videos, events);
                true
            }
            Status::PublishComplete => {
                let Some(published) = self.published_at else {
                    return false;
                };
                if !self.public_pending
                    || now < published + TimeDelta::milliseconds(knobs.moderation_delay_ms)
                {
                    return false;
                }
                self.public_pending = false;
                if let Some(video) = videos
                    .iter_mut()
                    .rev()
                    .find(|v| v.publish_id.as_deref() == Some(self.publish_id.as_str()))
                {
                    video.public = true;
                    let id: u64 = video.id.parse().unwrap_or_default();
                    self.post_ids.push(id);
                    events.push((
                        "post.publish.publicly_available".into(),
                        json!({"publish_id": self.publish_id, "post_id": id, "publish_type": self.publish_type()}),
                    ));
                }
                true
            }
        }
    }

    pub fn record(&self) -> PostRecord {
        let upload = self.upload.as_ref();
        PostRecord {
            publish_id: self.publish_id.clone(),
            client_key: self.client_key.clone(),
            open_id: self.open_id.clone(),
            post_mode: match self.mode {
                PostMode::Direct => "DIRECT_POST",
                PostMode::Inbox => "MEDIA_UPLOAD",
            }
            .into(),
            media_type: if self.photo { "PHOTO" } else { "VIDEO" }.into(),
            source: match self.source {
                Source::FileUpload => "FILE_UPLOAD",
                Source::PullFromUrl => "PULL_FROM_URL",
            }
            .into(),
            title: self.title.clone(),
            privacy_level: self.privacy_level.clone(),
            disable_comment: self.disable_comment,
            disable_duet: self.disable_duet,
            disable_stitch: self.disable_stitch,
            video_size: self.video_size,
            chunk_size: self.chunk_size,
            total_chunk_count: self.total_chunk_count,
            video_url: self.video_url.clone(),
            upload_url: upload.map(|u| u.url.clone()),
            uploaded_bytes: self.uploaded_bytes(),
            chunks_received: upload.map_or(0, |u| u.chunks),
            upload_complete: upload.is_some_and(|u| u.sha256.is_some()),
            sha256: upload.and_then(|u| u.sha256.clone()),
            status: self.status.as_str().into(),
            fail_reason: self.fail_reason.clone(),
            publicaly_available_post_id: self.post_ids.clone(),
            created_at: self.created_at,
            bytes_kept: upload.is_some_and(|u| u.bytes.is_some()),
        }
    }
}

/// The creator posts an inbox draft from the TikTok app.
pub(crate) fn creator_post(
    task: &mut PublishTask,
    at: DateTime<Utc>,
    public: bool,
    videos: &mut Vec<Video>,
) -> Vec<WebhookEvent> {
    let mut events = Vec::new();
    task.publish(at, public, videos, &mut events);
    events
        .into_iter()
        .map(|(event, content)| WebhookEvent {
            client_key: task.client_key.clone(),
            open_id: task.open_id.clone(),
            event,
            content,
            create_time: at.timestamp(),
        })
        .collect()
}

/// MP4/MOV (`ftyp` box) or WebM (EBML magic).
fn looks_like_video(head: &[u8]) -> bool {
    head.get(4..8) == Some(b"ftyp") || head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3])
}

/// 19-digit ids, like TikTok's post and upload ids (fit in i64, not in a JS double).
pub(crate) fn new_post_id() -> u64 {
    rand::rng().random_range(7_000_000_000_000_000_000..7_900_000_000_000_000_000)
}

pub(crate) fn random_string(len: usize) -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), len)
}

/// `YYYYMMDDHHMMSS` + 20 upper-case hex characters, like TikTok's `log_id`.
pub(crate) fn log_id() -> String {
    let bytes: [u8; 10] = rand::rng().random();
    format!(
        "{}{}",
        Utc::now().format("%Y%m%d%H%M%S"),
        hex::encode_upper(bytes)
    )
}

impl Inner {
    pub(crate) fn new(cfg: &SandboxConfig, base_url: &str) -> Self {
        let mut inner = Self {
            knobs: cfg.knobs.clone(),
            apps: BTreeMap::new(),
            creators: BTreeMap::new(),
            videos: Vec::new(),
            google_users: Vec::new(),
            codes: HashMap::new(),
            access: Vec::new(),
            refresh: Vec::new(),
            tasks: Vec::new(),
            rate: HashMap::new(),
            faults: Vec::new(),
            next_fault_id: 1,
            media_checks: Vec::new(),
            chunks: Vec::new(),
            bytes_uploaded: 0,
            token_events: Vec::new(),
            calls: Vec::new(),
            call_counts: BTreeMap::new(),
            webhooks: Vec::new(),
        };
        if cfg.seed_demo_data {
            inner.seed(cfg, base_url);
        }
        inner
    }

    fn seed(&mut self, cfg: &SandboxConfig, base_url: &str) {
        self.apps.insert(
            DEMO_CLIENT_KEY.into(),
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
            },
        );
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
        self.creators.insert(public.open_id.clone(), public);
        self.creators.insert(private.open_id.clone(), private);
        // A few older public videos so video/list paging works before anything is posted.
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
            self.videos.push(Video {
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
        self.google_users = vec![
            GoogleUser {
                uid: "sandboxGoogleUserAda00000001".into(),
                email: "ada.demo@example.com".into(),
                name: "Ada Demo".into(),
                picture: "https://lh3.googleusercontent.com/a/sandbox-ada".into(),
            },
            GoogleUser {
                uid: "sandboxGoogleUserBen00000002".into(),
                email: "ben.demo@example.com".into(),
                name: "Ben Demo".into(),
                picture: "https://lh3.googleusercontent.com/a/sandbox-ben".into(),
            },
        ];
    }

    /// The creator who consents when the authorize URL does not name one.
    pub fn default_open_id(&self) -> Option<String> {
        if let Some(id) = &self.knobs.default_open_id {
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
    pub fn settle_all(&mut self, now: DateTime<Utc>) -> Vec<WebhookEvent> {
        let mut out = Vec::new();
        let Self {
            tasks,
            knobs,
            creators,
            apps,
            videos,
            ..
        } = self;
        for task in tasks.iter_mut().filter(|t| !t.is_terminal()) {
            for (event, content) in task.settle(now, knobs, creators, apps, videos) {
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
        now: DateTime<Utc>,
    ) -> bool {
        let window = TimeDelta::seconds(self.knobs.rate_limits.window_secs);
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

    /// Issues an access token plus a refresh token: a new one, or `reuse` (token, expiry) when
    /// refresh-token rotation is off.
    pub fn issue_tokens(
        &mut self,
        now: DateTime<Utc>,
        client_key: &str,
        open_id: &str,
        scopes: &[String],
        new_refresh_expires_at: Option<DateTime<Utc>>,
        reuse: Option<(String, DateTime<Utc>)>,
    ) -> TokenResponse {
        let access = format!(
            "act.{}!{:04}",
            random_string(48),
            rand::rng().random_range(0..10_000)
        );
        let expires_at = now + TimeDelta::seconds(self.knobs.access_token_ttl_secs);
        self.access.push(AccessToken {
            token: access.clone(),
            client_key: client_key.into(),
            open_id: open_id.into(),
            scopes: scopes.to_vec(),
            issued_at: now,
            expires_at,
            revoked: false,
        });
        let (refresh, refresh_expires_at) = match reuse {
            Some(existing) => existing,
            None => {
                let token = format!(
                    "rft.{}!{:04}",
                    random_string(48),
                    rand::rng().random_range(0..10_000)
                );
                let expires_at = new_refresh_expires_at
                    .unwrap_or(now + TimeDelta::seconds(self.knobs.refresh_token_ttl_secs));
                self.refresh.push(RefreshToken {
                    token: token.clone(),
                    client_key: client_key.into(),
                    open_id: open_id.into(),
                    scopes: scopes.to_vec(),
                    issued_at: now,
                    expires_at,
                    revoked: false,
                });
                (token, expires_at)
            }
        };
        TokenResponse {
            access_token: access,
            expires_in: self.knobs.access_token_ttl_secs,
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

    /// Checks faults for a call; returns the actions that fire (and counts the call).
    pub(crate) fn fire_faults(&mut self, call: &CallSite<'_>) -> Vec<FaultAction> {
        self.faults.iter_mut().filter_map(|f| f.hit(call)).collect()
    }

    pub fn add_fault(&mut self, spec: FaultSpec) -> u64 {
        let id = self.next_fault_id;
        self.next_fault_id += 1;
        self.faults.push(Fault {
            id,
            spec,
            seen: 0,
            fired: 0,
        });
        id
    }

    pub fn log_call(&mut self, record: CallRecord) {
        let count = self.call_counts.entry(record.endpoint.clone()).or_default();
        count.total += 1;
        if let Some(open_id) = &record.open_id {
            *count.by_open_id.entry(open_id.clone()).or_default() += 1;
        }
        // Bounded so a long-running dev sandbox does not grow without limit.
        if self.calls.len() >= 20_000 {
            self.calls.drain(..5_000);
        }
        self.calls.push(record);
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

    pub fn records(&self) -> Records {
        let mut refresh_counts = BTreeMap::new();
        for e in self.token_events.iter().filter(|e| e.event == "refreshed") {
            *refresh_counts.entry(e.open_id.clone()).or_insert(0) += 1;
        }
        let tokens: Vec<TokenRecord> = self
            .access
            .iter()
            .map(|t| TokenRecord {
                kind: "access".into(),
                token: t.token.clone(),
                client_key: t.client_key.clone(),
                open_id: t.open_id.clone(),
                scope: t.scopes.join(","),
                issued_at: t.issued_at,
                expires_at: t.expires_at,
                revoked: t.revoked,
            })
            .chain(self.refresh.iter().map(|t| TokenRecord {
                kind: "refresh".into(),
                token: t.token.clone(),
                client_key: t.client_key.clone(),
                open_id: t.open_id.clone(),
                scope: t.scopes.join(","),
                issued_at: t.issued_at,
                expires_at: t.expires_at,
                revoked: t.revoked,
            }))
            .collect();
        Records {
            posts: self.tasks.iter().map(PublishTask::record).collect(),
            chunks: self.chunks.clone(),
            bytes_uploaded: self.bytes_uploaded,
            revoked_tokens: tokens
                .iter()
                .filter(|t| t.revoked)
                .map(|t| t.token.clone())
                .collect(),
            tokens,
            token_events: self.token_events.clone(),
            refresh_counts,
            calls: self.calls.clone(),
            call_counts: self.call_counts.clone(),
            webhooks: self.webhooks.clone(),
            videos: self.videos.clone(),
        }
    }
}

impl SandboxState {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.0
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn google(&self) -> MutexGuard<'_, GoogleKeys> {
        self.0
            .google
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The sandbox clock's "now".
    pub fn now(&self) -> DateTime<Utc> {
        self.0.clock.now()
    }

    /// The base URL used in URLs the sandbox hands out (upload URLs, avatars, sign-in).
    pub fn base_url(&self) -> &str {
        &self.0.base_url
    }

    pub(crate) fn config(&self) -> &SandboxConfig {
        &self.0.cfg
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.0.clock
    }

    /// Queues webhook events for delivery.
    pub(crate) fn emit(&self, events: Vec<WebhookEvent>) {
        for e in events {
            // The receiver lives as long as the server; after shutdown events are moot.
            let _ = self.0.webhooks.send(e);
        }
    }

    /// Advances every publish task to the current sandbox time and sends the resulting events.
    pub fn settle(&self) {
        let now = self.now();
        let events = self.lock().settle_all(now);
        self.emit(events);
    }

    /// Everything the sandbox recorded (settled to "now" first).
    pub fn records(&self) -> Records {
        self.settle();
        self.lock().records()
    }
}
