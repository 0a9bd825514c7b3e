//! A TikTok publish task and its status machine (`PROCESSING_UPLOAD` → … → `PUBLISH_COMPLETE`
//! or `FAILED`), and the webhook events its transitions emit.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::ids::new_post_id;
use crate::knobs::Knobs;
use crate::model::{App, Creator, Video};
use crate::records::PostRecord;

/// An event waiting to be POSTed to an app's webhook URL.
#[derive(Debug, Clone)]
pub(crate) struct WebhookEvent {
    pub client_key: String,
    pub open_id: String,
    pub event: String,
    pub content: Value,
    pub create_time: i64,
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

/// What a task's transitions read (the time, knobs, creators and apps) and change (the
/// creators' videos) besides the task itself.
pub(crate) struct World<'a> {
    pub now: DateTime<Utc>,
    pub knobs: &'a Knobs,
    pub creators: &'a BTreeMap<String, Creator>,
    pub apps: &'a BTreeMap<String, App>,
    pub videos: &'a mut Vec<Video>,
}

/// The `post_info` a task was created with (an inbox upload has only a title).
pub(crate) struct PostInfo {
    pub title: Option<String>,
    pub privacy_level: Option<String>,
    pub disable_comment: bool,
    pub disable_duet: bool,
    pub disable_stitch: bool,
    /// The cover frame a direct video post asked for; `None` when absent or not one TikTok
    /// can use (a negative time: TikTok falls back to the first frame).
    pub video_cover_timestamp_ms: Option<u32>,
}

/// A FILE_UPLOAD's declared chunk plan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChunkPlan {
    pub video_size: u64,
    pub chunk_size: u64,
    pub total_chunk_count: u64,
}

/// Where a photo post's real download of its images stands (knob `pull_fetches_photos`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PhotoPull {
    /// Nothing is fetched: the download only takes `pull_download_ms` (videos, or the knob off).
    Simulated,
    /// The images are being fetched.
    Running,
    /// Every image arrived: how many, and their total size.
    Done { images: usize, bytes: u64 },
    /// An image did not arrive (why, for the records): the task fails `photo_pull_failed`.
    Failed(String),
}

pub(crate) struct PublishTask {
    pub publish_id: String,
    pub client_key: String,
    pub open_id: String,
    pub mode: PostMode,
    pub photo: bool,
    pub source: Source,
    pub info: PostInfo,
    /// FILE_UPLOAD only.
    pub plan: Option<ChunkPlan>,
    /// PULL_FROM_URL only.
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
    pub photo_pull: PhotoPull,
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

    pub(crate) fn fail(&mut self, reason: &str, events: &mut Vec<(String, Value)>) {
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
            title: self.info.title.clone().unwrap_or_default(),
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

    /// Advances the status machine to `world.now`; returns the webhook events of each
    /// transition.
    pub(crate) fn settle(&mut self, world: &mut World<'_>) -> Vec<(String, Value)> {
        let mut events = Vec::new();
        // Several transitions may be due at once after a clock jump; walk them in order.
        for _ in 0..8 {
            if !self.step(world, &mut events) {
                break;
            }
        }
        events
    }

    fn step(&mut self, world: &mut World<'_>, events: &mut Vec<(String, Value)>) -> bool {
        match self.status {
            Status::Failed => false,
            Status::ProcessingDownload if self.ready_at.is_none() => {
                self.step_download(world.now, world.knobs, events)
            }
            Status::ProcessingUpload | Status::ProcessingDownload => {
                self.step_processing(world, events)
            }
            Status::SendToUserInbox => self.step_inbox(world, events),
            Status::PublishComplete => {
                self.step_moderation(world.now, world.knobs, world.videos, events)
            }
        }
    }

    /// A PULL download finishes after `pull_download_ms`, or times out when it stalls.
    fn step_download(
        &mut self,
        now: DateTime<Utc>,
        knobs: &Knobs,
        events: &mut Vec<(String, Value)>,
    ) -> bool {
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
        match &self.photo_pull {
            PhotoPull::Running => {
                if now >= self.created_at + TimeDelta::seconds(knobs.pull_timeout_secs) {
                    self.fail("photo_pull_failed", events);
                    return true;
                }
                return false;
            }
            PhotoPull::Failed(_) => {
                self.fail("photo_pull_failed", events);
                return true;
            }
            PhotoPull::Simulated | PhotoPull::Done { .. } => {}
        }
        let done = self.created_at + TimeDelta::milliseconds(knobs.pull_download_ms);
        if now >= done {
            self.ready_at = Some(done);
            return true;
        }
        false
    }

    /// Once all media is in and processing took its time: fail, publish, or deliver to the inbox.
    fn step_processing(
        &mut self,
        world: &mut World<'_>,
        events: &mut Vec<(String, Value)>,
    ) -> bool {
        let World {
            now,
            knobs,
            creators,
            apps,
            ref mut videos,
        } = *world;
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
                audited && self.info.privacy_level.as_deref() == Some("PUBLIC_TO_EVERYONE");
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

    /// With `inbox_auto_post_ms` set, the creator posts the inbox draft on their own.
    fn step_inbox(&mut self, world: &mut World<'_>, events: &mut Vec<(String, Value)>) -> bool {
        let World {
            now,
            knobs,
            creators,
            ref mut videos,
            ..
        } = *world;
        let (Some(delay), Some(delivered)) = (knobs.inbox_auto_post_ms, self.delivered_at) else {
            return false;
        };
        let at = delivered + TimeDelta::milliseconds(delay);
        if now < at {
            return false;
        }
        let public = creators
            .get(&self.open_id)
            .is_some_and(|c| !c.private_account);
        self.info.privacy_level = Some(
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

    /// A public post becomes publicly available (and gets its post id) after moderation.
    fn step_moderation(
        &mut self,
        now: DateTime<Utc>,
        knobs: &Knobs,
        videos: &mut [Video],
        events: &mut Vec<(String, Value)>,
    ) -> bool {
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
            title: self.info.title.clone(),
            privacy_level: self.info.privacy_level.clone(),
            disable_comment: self.info.disable_comment,
            disable_duet: self.info.disable_duet,
            disable_stitch: self.info.disable_stitch,
            video_cover_timestamp_ms: self.info.video_cover_timestamp_ms,
            video_size: self.plan.map(|p| p.video_size),
            chunk_size: self.plan.map(|p| p.chunk_size),
            total_chunk_count: self.plan.map(|p| p.total_chunk_count),
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
pub(crate) fn post_draft(
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
