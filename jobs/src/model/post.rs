//! Posts and the post state machine. The allowed transitions live in [`PostState::can_become`]
//! and nowhere else: the store's compare-and-set refuses anything this table does not allow.
//! What each transition writes on the post is a method of [`Post`] (`transitions`).

mod transitions;

pub use transitions::{APPROVAL_EXPIRED, Attempt, REJECTED, RETRIES_EXHAUSTED};

use super::ids::{AccountId, GroupId, MediaId, PostId, UserId, WorkspaceId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a post is in its life (design.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostState {
    /// Created, waiting for something before it can go out: a pass-through ("post now") post
    /// waits here for its bytes (`PUT /api/posts/{id}/video`).
    Draft,
    /// Waiting for its `scheduled_at`; the scheduler moves it on.
    Scheduled,
    /// A `publish` job is (or is about to be) in the queue.
    Queued,
    /// `publish` owns it: init and chunk upload to TikTok.
    Uploading,
    /// All bytes are at TikTok; `poll_status` watches it.
    Processing,
    /// TikTok says `PUBLISH_COMPLETE`. Terminal.
    Published,
    /// TikTok or our checks refused it for good (with a reason). Replayable when safe.
    Failed,
    /// The account's grant is dead; the creator must reconnect, then it can be queued again.
    NeedsReconnect,
    /// Cancelled by the creator before upload started. Terminal.
    Cancelled,
    /// The outcome is ambiguous (status budget ran out); being reconciled against `video.list`.
    Unconfirmed,
    /// An editor's post in a workspace that requires approval: it waits for an admin to approve
    /// it (then it goes on as it would have) or reject it.
    PendingApproval,
    /// Its time passed while it still waited for approval: it never goes out. Terminal.
    ApprovalExpired,
    /// A draft (`PostMode::Inbox`) TikTok delivered to the creator's inbox: it waits for the
    /// creator to finish and post it in the TikTok app.
    InInbox,
    /// A draft the creator never posted within the configured time. Terminal.
    LeftInInbox,
}

impl PostState {
    /// Every state, for exhaustive tests and documentation.
    pub const ALL: [PostState; 14] = [
        PostState::Draft,
        PostState::Scheduled,
        PostState::Queued,
        PostState::Uploading,
        PostState::Processing,
        PostState::Published,
        PostState::Failed,
        PostState::NeedsReconnect,
        PostState::Cancelled,
        PostState::Unconfirmed,
        PostState::PendingApproval,
        PostState::ApprovalExpired,
        PostState::InInbox,
        PostState::LeftInInbox,
    ];

    /// The one table of allowed transitions.
    ///
    /// Why each edge exists:
    /// - `Queued|Uploading → Scheduled`: a "wait" error (daily cap) re-schedules into the next window;
    ///   `Uploading` can only go back before TikTok accepted an init, which the publish job checks.
    /// - `Draft → Uploading`: a pass-through post's bytes start to arrive; `Draft → Failed`: they
    ///   never did (the browser went away before TikTok's upload URL was even asked for).
    /// - `Uploading → Cancelled`: a pass-through the creator stopped mid-way, once TikTok said it
    ///   is missing bytes that, with the post cancelled, nobody will ever send.
    /// - `Uploading → Queued`: a crash before `video/init` persisted nothing at TikTok; re-queue is safe.
    /// - `Failed → Queued`: an operator replay (refused elsewhere while a live `publish_id` exists).
    /// - `NeedsReconnect → Queued|Scheduled`: after the creator reconnects.
    /// - `Unconfirmed → Published|Failed|Processing`: reconciliation found the truth.
    /// - `PendingApproval → Queued|Scheduled`: approved; `→ Cancelled`: rejected or withdrawn;
    ///   `→ ApprovalExpired`: its time passed first; `→ Failed`: its account was lost.
    /// - `Processing|Unconfirmed → InInbox`: a draft reached the creator's TikTok inbox;
    ///   `InInbox → Published` once they post it, `→ LeftInInbox` when they never do,
    ///   `→ Failed` when TikTok fails it.
    /// - `Processing → Cancelled`: only a URL post (PULL_FROM_URL) whose download TikTok's
    ///   `publish/cancel` stopped (`posts::url::cancel_download` guards it): TikTok then ends the
    ///   publish `FAILED`/`publish_cancelled`, so it never becomes a TikTok post. Any other
    ///   `processing` post has all its bytes at TikTok and cannot be called back.
    pub fn can_become(self, to: PostState) -> bool {
        use PostState::*;
        matches!(
            (self, to),
            (Draft, Scheduled | Queued | Cancelled | Uploading | Failed)
                | (Scheduled, Queued | Cancelled | NeedsReconnect | Failed)
                | (
                    Queued,
                    Uploading | Scheduled | Cancelled | Failed | NeedsReconnect
                )
                | (
                    Uploading,
                    Processing
                        | Queued
                        | Scheduled
                        | Failed
                        | NeedsReconnect
                        | Unconfirmed
                        | Cancelled
                )
                | (
                    Processing,
                    Published | Failed | Unconfirmed | InInbox | Cancelled
                )
                | (Unconfirmed, Published | Failed | Processing | InInbox)
                | (InInbox, Published | Failed | LeftInInbox)
                | (NeedsReconnect, Queued | Scheduled | Cancelled | Failed)
                | (Failed, Queued)
                | (
                    PendingApproval,
                    Queued | Scheduled | Cancelled | ApprovalExpired | Failed
                )
        )
    }

    /// Terminal states never change again (a replay of `Failed` is the one exit, by design).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            PostState::Published
                | PostState::Cancelled
                | PostState::ApprovalExpired
                | PostState::LeftInInbox
        )
    }

    /// The stable wire/storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            PostState::Draft => "draft",
            PostState::Scheduled => "scheduled",
            PostState::Queued => "queued",
            PostState::Uploading => "uploading",
            PostState::Processing => "processing",
            PostState::Published => "published",
            PostState::Failed => "failed",
            PostState::NeedsReconnect => "needs_reconnect",
            PostState::Cancelled => "cancelled",
            PostState::Unconfirmed => "unconfirmed",
            PostState::PendingApproval => "pending_approval",
            PostState::ApprovalExpired => "approval_expired",
            PostState::InInbox => "in_inbox",
            PostState::LeftInInbox => "left_in_inbox",
        }
    }
}

impl fmt::Display for PostState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state name that is not one of ours (only possible with a corrupted store row).
#[derive(Debug, thiserror::Error)]
#[error("unknown post state {0:?}")]
pub struct UnknownPostState(pub String);

impl FromStr for PostState {
    type Err = UnknownPostState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PostState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownPostState(s.to_owned()))
    }
}

/// TikTok's privacy levels (`privacy_level_options`). No default on purpose: the creator picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PrivacyLevel {
    PublicToEveryone,
    MutualFollowFriends,
    FollowerOfCreator,
    SelfOnly,
}

impl PrivacyLevel {
    /// TikTok's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            PrivacyLevel::PublicToEveryone => "PUBLIC_TO_EVERYONE",
            PrivacyLevel::MutualFollowFriends => "MUTUAL_FOLLOW_FRIENDS",
            PrivacyLevel::FollowerOfCreator => "FOLLOWER_OF_CREATOR",
            PrivacyLevel::SelfOnly => "SELF_ONLY",
        }
    }

    /// From TikTok's wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            PrivacyLevel::PublicToEveryone,
            PrivacyLevel::MutualFollowFriends,
            PrivacyLevel::FollowerOfCreator,
            PrivacyLevel::SelfOnly,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// TikTok's chunk plan for a FILE_UPLOAD, persisted with the post before the first byte is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadPlan {
    pub video_size: u64,
    pub chunk_size: u64,
    pub total_chunk_count: u64,
}

/// Where a post's media comes from and so how TikTok gets it (tiktok-api.md §5.2–5.6). Stored
/// with the post; posts written before there was a choice are `Staged`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PostSource {
    /// A video staged encrypted on our side (`Post::media_id`); `publish` PUTs it as
    /// FILE_UPLOAD, then it is deleted.
    #[default]
    Staged,
    /// "Post now" pass-through: the browser's `PUT /api/posts/{id}/video` streams through the
    /// web tier's memory straight to TikTok (FILE_UPLOAD); nothing is written on our side.
    Stream,
    /// TikTok downloads the video from a URL under one of the app's verified prefixes
    /// (PULL_FROM_URL); the bytes never pass through us.
    Url { video_url: String },
    /// A photo carousel: staged images TikTok pulls from our capability URLs.
    Photos(PhotoPost),
}

/// A photo post's images and its photo-only settings (tiktok-api.md §5.4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PhotoPost {
    /// 1–35 staged images, in the order they appear.
    pub media_ids: Vec<MediaId>,
    /// Which image is the cover (an index into `media_ids`).
    pub cover_index: u32,
    /// The photo post's description (its `title` is `PostSettings::title`, ≤ 90 characters).
    pub description: String,
    pub auto_add_music: bool,
}

/// Whether TikTok posts it, or delivers it to the creator's inbox as a draft they finish in the
/// TikTok app (scope `video.upload`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostMode {
    #[default]
    Direct,
    Inbox,
}

impl PostMode {
    /// TikTok's `post_mode` name (photos' `content/init`).
    pub fn as_tiktok(self) -> &'static str {
        match self {
            PostMode::Direct => "DIRECT_POST",
            PostMode::Inbox => "MEDIA_UPLOAD",
        }
    }
}

/// The creator's settings for one post, as sent to TikTok's `post_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostSettings {
    /// The caption. Never logged.
    pub title: String,
    pub privacy_level: PrivacyLevel,
    pub disable_comment: bool,
    pub disable_duet: bool,
    pub disable_stitch: bool,
    #[serde(default)]
    pub brand_content_toggle: bool,
    #[serde(default)]
    pub brand_organic_toggle: bool,
    #[serde(default)]
    pub is_aigc: bool,
    /// A video's cover frame, in ms from its start; TikTok's first frame when unset. Posts
    /// stored before it existed read as unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_cover_timestamp_ms: Option<u32>,
}

/// What we know of the post's life at TikTok. Everything is optional until it happens.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TikTokProgress {
    /// Set by `publish` before the first byte is sent; its presence means "resume, never re-init".
    pub publish_id: Option<String>,
    /// Carries an upload token: stored, never logged.
    pub upload_url: Option<String>,
    pub upload_url_issued_at: Option<DateTime<Utc>>,
    pub plan: Option<UploadPlan>,
    /// Bytes TikTok acknowledged (from its `Content-Range`).
    pub uploaded_bytes: u64,
    /// Last `status/fetch` status, verbatim.
    pub status: Option<String>,
    /// TikTok's `fail_reason`, verbatim.
    pub fail_reason: Option<String>,
    /// The public post ids (19-digit, kept as strings so no precision is lost).
    pub public_post_ids: Vec<String>,
    pub status_polls: u32,
    /// Publish attempts that ended in a transient failure (bounded: nothing retries forever).
    pub publish_attempts: u32,
    /// When TikTok answered 201 (all bytes received).
    pub upload_completed_at: Option<DateTime<Utc>>,
    /// Polls spent waiting for a public post's id after `PUBLISH_COMPLETE`.
    pub public_id_polls: u32,
    /// PULL_FROM_URL: bytes TikTok reported downloaded so far (`status/fetch`).
    pub downloaded_bytes: Option<u64>,
    /// PULL_FROM_URL: set before `video/init` is sent. Such an init alone makes a TikTok post,
    /// so a set mark without a `publish_id` means an init whose answer we never stored: it must
    /// not be sent again (see `handlers::publish::url`).
    pub pull_requested_at: Option<DateTime<Utc>>,
}

/// The upload URL carries an upload token: never in `Debug`.
impl std::fmt::Debug for TikTokProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TikTokProgress")
            .field("publish_id", &self.publish_id)
            .field("plan", &self.plan)
            .field("uploaded_bytes", &self.uploaded_bytes)
            .field("status", &self.status)
            .field("fail_reason", &self.fail_reason)
            .field("public_post_ids", &self.public_post_ids)
            .field("downloaded_bytes", &self.downloaded_bytes)
            .field("pull_requested_at", &self.pull_requested_at)
            .finish_non_exhaustive()
    }
}

/// One video to publish to one TikTok account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Post {
    pub id: PostId,
    /// The workspace that owns it.
    pub workspace_id: WorkspaceId,
    /// Its author; `None` once that person erased themselves ("former member").
    pub created_by: Option<UserId>,
    pub account_id: AccountId,
    /// The staged video of a `PostSource::Staged` post (photos list theirs in the source).
    pub media_id: Option<MediaId>,
    /// How TikTok gets the media.
    #[serde(default)]
    pub source: PostSource,
    /// Direct post, or a draft to the creator's inbox.
    #[serde(default)]
    pub mode: PostMode,
    pub settings: PostSettings,
    pub state: PostState,
    /// Bumped on every write; the compare-and-set token.
    pub version: i64,
    /// The UTC instant to publish at (None = now).
    pub scheduled_at: Option<DateTime<Utc>>,
    /// The IANA zone the creator scheduled in, shown back to them.
    pub scheduled_tz: Option<String>,
    pub tiktok: TikTokProgress,
    /// A machine-readable code for why it failed / needs attention.
    pub error_code: Option<String>,
    /// A sentence a creator understands.
    pub error_message: Option<String>,
    /// How late the scheduler enqueued it, when it was late.
    pub late_by_ms: Option<i64>,
    pub idempotency_key: Option<String>,
    /// Hash of the request that created it, to tell a replay from a conflicting reuse of a key.
    pub request_hash: Option<String>,
    pub media_deleted_at: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
    /// The group this post was sent in, if any: its siblings share its staged video.
    pub group: Option<PostGroup>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One compose sent to several accounts: a post per account, each with its own state and
/// outcome, all reading one staged video, which is deleted when the last of them no longer
/// needs it (`domain::posts::group`). Every post of the group holds the whole list, so any
/// one of them finds its siblings without a query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostGroup {
    pub id: GroupId,
    /// Every post of the group, this one included, in the order the targets were given.
    pub posts: Vec<PostId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The allowed edges, spelled out independently of `can_become`, so a change to the table
    /// must be made twice on purpose.
    const ALLOWED: &[(PostState, PostState)] = {
        use PostState::*;
        &[
            (Draft, Scheduled),
            (Draft, Queued),
            (Draft, Cancelled),
            (Draft, Uploading),
            (Draft, Failed),
            (Scheduled, Queued),
            (Scheduled, Cancelled),
            (Scheduled, NeedsReconnect),
            (Scheduled, Failed),
            (Queued, Uploading),
            (Queued, Scheduled),
            (Queued, Cancelled),
            (Queued, Failed),
            (Queued, NeedsReconnect),
            (Uploading, Processing),
            (Uploading, Queued),
            (Uploading, Scheduled),
            (Uploading, Failed),
            (Uploading, NeedsReconnect),
            (Uploading, Unconfirmed),
            (Uploading, Cancelled),
            (Processing, Published),
            (Processing, Failed),
            (Processing, Unconfirmed),
            (Processing, Cancelled),
            (Unconfirmed, Published),
            (Unconfirmed, Failed),
            (Unconfirmed, Processing),
            (NeedsReconnect, Queued),
            (NeedsReconnect, Scheduled),
            (NeedsReconnect, Cancelled),
            (NeedsReconnect, Failed),
            (Failed, Queued),
            (PendingApproval, Queued),
            (PendingApproval, Scheduled),
            (PendingApproval, Cancelled),
            (PendingApproval, ApprovalExpired),
            (PendingApproval, Failed),
            (Processing, InInbox),
            (Unconfirmed, InInbox),
            (InInbox, Published),
            (InInbox, Failed),
            (InInbox, LeftInInbox),
        ]
    };

    #[test]
    fn every_pair_of_states_is_allowed_exactly_when_listed() {
        for from in PostState::ALL {
            for to in PostState::ALL {
                let listed = ALLOWED.contains(&(from, to));
                assert_eq!(from.can_become(to), listed, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn terminal_states_have_no_way_out() {
        for from in PostState::ALL.into_iter().filter(|s| s.is_terminal()) {
            for to in PostState::ALL {
                assert!(!from.can_become(to), "{from} -> {to} must be refused");
            }
        }
    }

    #[test]
    fn settings_stored_before_the_cover_frame_read_unchanged() {
        let old = serde_json::json!({
            "title": "t", "privacy_level": "SELF_ONLY",
            "disable_comment": false, "disable_duet": true, "disable_stitch": false,
        });
        let s: PostSettings = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(s.video_cover_timestamp_ms, None);
        // Without a cover, the stored document has no new key at all.
        let mut written = serde_json::to_value(&s).unwrap();
        assert!(
            written.get("video_cover_timestamp_ms").is_none(),
            "{written}"
        );
        written["video_cover_timestamp_ms"] = 1500.into();
        let covered: PostSettings = serde_json::from_value(written).unwrap();
        assert_eq!(covered.video_cover_timestamp_ms, Some(1500));
    }

    #[test]
    fn state_names_round_trip() {
        for s in PostState::ALL {
            assert_eq!(s.as_str().parse::<PostState>().unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!("sent".parse::<PostState>().is_err());
    }
}
