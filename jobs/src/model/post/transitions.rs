//! What each step of a post's life writes on it. The store's compare-and-set decides whether a
//! step may happen (the state table in [`PostState::can_become`]); these methods say what it
//! then records, so a state, its error code and message, and the counters and timestamps that
//! go with it are written the same way by every job and request that takes the step.
//!
//! Times are passed in rather than read here, so each rule can be tested at a fixed instant.

use super::{Post, PostState, TikTokProgress, UploadPlan};
use chrono::{DateTime, Utc};

/// The code a post carries while parked after exhausting its retries (replay clears it).
pub const RETRIES_EXHAUSTED: &str = "retries_exhausted";

/// The code of a post an approver rejected (its message is their comment).
pub const REJECTED: &str = "rejected";

/// The code of a post whose time passed while it waited for approval.
pub const APPROVAL_EXPIRED: &str = "approval_expired";

/// The code of a draft the creator never posted from their TikTok inbox in time.
const LEFT_IN_INBOX: &str = "left_in_inbox";

/// The code of a post whose account must be reconnected before anything else happens to it.
const NEEDS_RECONNECT: &str = "needs_reconnect";

/// One more transient failure of a post's publish: which attempt it used up, and whether that
/// was the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub number: u32,
    pub exhausted: bool,
}

impl TikTokProgress {
    /// Releases the stored publish so the next step initialises again. Only once TikTok's
    /// `status/fetch` has said that publish can never become a post (see `publish.rs`, rule 3).
    pub fn forget_publish(&mut self) {
        self.publish_id = None;
        self.upload_url = None;
        self.upload_url_issued_at = None;
        self.uploaded_bytes = 0;
        self.downloaded_bytes = None;
        self.pull_requested_at = None;
    }

    /// Takes TikTok's count of received bytes from a status answer, when it gives one. Never
    /// lowers ours: a count that lags behind a chunk TikTok already acknowledged is stale.
    pub fn saw_uploaded_bytes(&mut self, received: Option<u64>) {
        if let Some(b) = received {
            self.uploaded_bytes = self.uploaded_bytes.max(b);
        }
    }
}

impl Post {
    /// `queued → uploading`: a `publish` job takes the post. The compare-and-set on this write
    /// is what lets exactly one job win (rule 1 of `publish`).
    pub fn start_upload(&mut self) {
        self.state = PostState::Uploading;
    }

    /// TikTok accepted a `video/init`: its publish, upload URL (valid one hour from `issued_at`)
    /// and chunk plan, persisted before the first byte is sent (rule 2 of `publish`). A fresh
    /// publish has no bytes yet, and any earlier error no longer applies.
    pub fn record_init(
        &mut self,
        publish_id: String,
        upload_url: String,
        plan: UploadPlan,
        issued_at: DateTime<Utc>,
    ) {
        self.tiktok.publish_id = Some(publish_id);
        self.tiktok.upload_url = Some(upload_url);
        self.tiktok.upload_url_issued_at = Some(issued_at);
        self.tiktok.plan = Some(plan);
        self.tiktok.uploaded_bytes = 0;
        self.clear_error();
    }

    /// `draft → uploading` for a pass-through post: its first bytes are here and TikTok
    /// accepted the init, recorded together in one compare-and-set before the first byte goes
    /// on (rule 2 of `publish`, for `posts::stream`).
    pub fn start_stream(
        &mut self,
        publish_id: String,
        upload_url: String,
        plan: UploadPlan,
        issued_at: DateTime<Utc>,
    ) {
        self.start_upload();
        self.record_init(publish_id, upload_url, plan, issued_at);
    }

    /// The bytes TikTok acknowledged so far (its `Content-Range`): a resume sends from there.
    pub fn record_uploaded(&mut self, bytes: u64) {
        self.tiktok.uploaded_bytes = bytes;
    }

    /// `uploading → processing`: every byte is at TikTok, so `poll_status` follows the post
    /// from here. The attempts start again at zero: they bound the failures of one stage, and
    /// the upload stage is over.
    pub fn upload_complete(&mut self, now: DateTime<Utc>) {
        self.state = PostState::Processing;
        if let Some(plan) = self.tiktok.plan {
            self.tiktok.uploaded_bytes = plan.video_size;
        }
        self.tiktok.upload_completed_at = Some(now);
        self.tiktok.publish_attempts = 0;
    }

    /// One `status/fetch` answer: TikTok's status verbatim and how many polls it took, so the
    /// poll budget counts across jobs.
    pub fn record_poll(&mut self, status: String, polls: u32) {
        self.tiktok.status = Some(status);
        self.tiktok.status_polls = polls;
    }

    /// A complete publish still without its public post id: one of the few extra polls spent
    /// waiting for it, so the creator gets a link.
    pub fn await_public_id(&mut self, status: String, polls: u32) {
        self.record_poll(status, polls);
        self.tiktok.public_id_polls += 1;
    }

    /// `→ published`: TikTok confirmed the post (its status, or the creator's public videos).
    /// Whatever went wrong on the way no longer applies.
    pub fn confirm_published(&mut self, public_post_ids: Vec<String>, now: DateTime<Utc>) {
        self.state = PostState::Published;
        self.tiktok.public_post_ids = public_post_ids;
        self.published_at = Some(now);
        self.clear_error();
    }

    /// `processing|unconfirmed → in_inbox`: TikTok delivered the draft to the creator's inbox
    /// (`SEND_TO_USER_INBOX`), so it holds the video: the staged copy was deleted just before,
    /// when `deleted` says so. What remains is the creator's move in the TikTok app.
    pub fn reached_inbox(&mut self, status: String, polls: u32, deleted: Option<DateTime<Utc>>) {
        self.record_poll(status, polls);
        self.state = PostState::InInbox;
        self.note_media_deleted(deleted);
        self.clear_error();
    }

    /// When a draft still waiting in the creator's inbox is given up: `ttl` after TikTok received
    /// every byte (TikTok counts its day from the upload; the post's creation when that was
    /// never recorded).
    pub fn inbox_deadline(&self, ttl: std::time::Duration) -> DateTime<Utc> {
        let since = self.tiktok.upload_completed_at.unwrap_or(self.created_at);
        since + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX)
    }

    /// `in_inbox → left_in_inbox`: the creator did not post the draft within `ttl`, and TikTok
    /// discards drafts that wait that long. Terminal: a new draft needs a new upload.
    pub fn left_in_inbox(&mut self, status: String, polls: u32, ttl: std::time::Duration) {
        self.record_poll(status, polls);
        self.state = PostState::LeftInInbox;
        let secs = ttl.as_secs();
        let waited = match secs {
            3600.. => format!("{} hours", secs / 3600),
            60.. => format!("{} minutes", secs / 60),
            _ => format!("{secs} seconds"),
        };
        self.set_error(
            LEFT_IN_INBOX,
            format!(
                "This draft waited in the creator's TikTok inbox for {waited} without being posted, and TikTok discards drafts left that long. To post it, upload the video again and send a new draft (or post it directly)."
            ),
        );
    }

    /// The poll budget ran out and the creator's recent public videos were searched: found, the
    /// post is published with that video's id; not found, it is `unconfirmed` (it may still
    /// appear), and the creator is told so.
    pub fn reconcile(&mut self, found: Option<String>, polls: u32, now: DateTime<Utc>) {
        self.tiktok.status_polls = polls;
        match found {
            Some(id) => self.confirm_published(vec![id], now),
            None => {
                self.state = PostState::Unconfirmed;
                self.set_error(
                    "unconfirmed",
                    "TikTok has not confirmed this post yet. We keep checking; it may still appear on your profile.".into(),
                );
            }
        }
    }

    /// `→ failed`: refused for good, with a code, a sentence for the creator, and TikTok's own
    /// `fail_reason` when it gave one (an earlier one is kept otherwise).
    pub fn fail(&mut self, code: String, message: String, fail_reason: Option<String>) {
        self.state = PostState::Failed;
        self.error_code = Some(code);
        self.error_message = Some(message);
        if fail_reason.is_some() {
            self.tiktok.fail_reason = fail_reason;
        }
    }

    /// The account's grant is dead. A post TikTok already has the video of (`processing`,
    /// `unconfirmed`) becomes `unconfirmed`: it may well be published, we just cannot ask until
    /// the creator reconnects. Any other post is parked in `needs_reconnect` and goes out again
    /// after the reconnect.
    pub fn needs_reconnect(&mut self, message: String) {
        if self.tiktok_has_video() {
            self.state = PostState::Unconfirmed;
            self.set_error(
                NEEDS_RECONNECT,
                format!(
                    "{message} TikTok has this video; reconnect the account so we can confirm it was published."
                ),
            );
        } else {
            self.state = PostState::NeedsReconnect;
            self.set_error(NEEDS_RECONNECT, message);
        }
    }

    /// True once TikTok holds every byte of the video (it only reaches `processing` after
    /// TikTok's 201): nothing will be uploaded again.
    pub fn tiktok_has_video(&self) -> bool {
        matches!(self.state, PostState::Processing | PostState::Unconfirmed)
    }

    /// `→ scheduled` for `until`: a daily cap (ours or TikTok's) says try in the next window.
    /// Only before TikTok accepted an init; the caller checks.
    pub fn defer(&mut self, until: DateTime<Utc>, code: &str, message: String) {
        self.state = PostState::Scheduled;
        self.scheduled_at = Some(until);
        self.set_error(code, message);
    }

    /// The attempt one more transient failure uses up, out of `max_attempts`.
    pub fn next_attempt(&self, max_attempts: u32) -> Attempt {
        let number = self.tiktok.publish_attempts + 1;
        Attempt {
            number,
            exhausted: number >= max_attempts,
        }
    }

    /// Counts a transient failure. The last allowed one parks the post (it keeps its state, and
    /// `publish` leaves it alone) until an operator or the creator replays it: nothing retries
    /// forever.
    pub fn record_attempt(&mut self, attempt: Attempt) {
        self.tiktok.publish_attempts = attempt.number;
        if attempt.exhausted {
            self.set_error(
                RETRIES_EXHAUSTED,
                "TikTok kept failing for this post; it is parked until it is replayed.".into(),
            );
        }
    }

    /// `→ cancelled` by the creator, before TikTok has anything of it.
    pub fn cancel(&mut self) {
        self.state = PostState::Cancelled;
    }

    /// `pending_approval →` what the post would have been without approval: `scheduled` while
    /// its time is still ahead at `now`, else `queued` (a late approval sends it at once).
    pub fn approve(&mut self, now: DateTime<Utc>) {
        self.state = match self.scheduled_at {
            Some(at) if at > now => PostState::Scheduled,
            _ => PostState::Queued,
        };
        self.clear_error();
    }

    /// `pending_approval → cancelled`, with the approver's comment as the reason the author
    /// reads (user content, like the caption: stored, never logged).
    pub fn reject(&mut self, comment: &str) {
        self.cancel_because(REJECTED, comment);
    }

    /// `pending_approval → approval_expired`: its time passed before anyone approved it.
    pub fn expire_approval(&mut self) {
        self.state = PostState::ApprovalExpired;
        self.set_error(
            APPROVAL_EXPIRED,
            "Nobody approved this post before its time, so it was not sent.".into(),
        );
    }

    /// `→ cancelled` for a reason the creator did not choose (the account was disconnected,
    /// the user is being erased), recorded so the history says why.
    pub fn cancel_because(&mut self, code: &str, message: &str) {
        self.cancel();
        self.set_error(code, message.into());
    }

    /// A replay of a failed or parked post: a failed one is `queued` again, a parked one carries
    /// on from its state. Its error and attempts start afresh. A publish TikTok reported `FAILED`
    /// (`dead_at_tiktok`) is released, so the replay initialises again; any other is resumed.
    pub fn replay(&mut self, dead_at_tiktok: bool) {
        if self.state == PostState::Failed {
            self.state = PostState::Queued;
        }
        self.clear_error();
        self.tiktok.publish_attempts = 0;
        if dead_at_tiktok {
            self.tiktok.forget_publish();
        }
        // A URL post whose init answer was lost (no publish id) was failed asking the creator
        // to check TikTok first; their retry is that check done, so it may initialise again.
        if self.tiktok.publish_id.is_none() {
            self.tiktok.pull_requested_at = None;
        }
    }

    /// A post parked in `needs_reconnect`, back in line at `now` after its account was
    /// reconnected: still ahead of its time, `scheduled` again; due (or "post now"), `queued`,
    /// marked late by how long after its time it goes out when that is more than
    /// `late_after_ms`, as the scheduler marks a late tick.
    pub fn back_in_line(&mut self, now: DateTime<Utc>, late_after_ms: i64) {
        let due_at = self.scheduled_at.unwrap_or(self.created_at);
        self.clear_error();
        if due_at > now {
            self.state = PostState::Scheduled;
            self.late_by_ms = None;
        } else {
            self.state = PostState::Queued;
            let late_by_ms = (now - due_at).num_milliseconds();
            self.late_by_ms = (late_by_ms > late_after_ms).then_some(late_by_ms);
        }
    }

    /// The staged video left our side at `at` (the privacy promise: only until TikTok has it).
    pub fn media_deleted(&mut self, at: DateTime<Utc>) {
        self.media_deleted_at = Some(at);
    }

    /// Records a deletion made just before a terminal step, when there was one (`None`: staging
    /// failed and the next terminal step tries again). The first recorded time stays.
    pub fn note_media_deleted(&mut self, deleted: Option<DateTime<Utc>>) {
        self.media_deleted_at = self.media_deleted_at.or(deleted);
    }

    fn set_error(&mut self, code: &str, message: String) {
        self.error_code = Some(code.to_owned());
        self.error_message = Some(message);
    }

    fn clear_error(&mut self) {
        self.error_code = None;
        self.error_message = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccountId, MediaId, PostId, WorkspaceId};
    use chrono::Duration;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(minute)
    }

    /// A post in `state` that carries an old error, created at minute 0.
    fn post(state: PostState) -> Post {
        serde_json::from_value(serde_json::json!({
            "id": PostId::new(), "workspace_id": WorkspaceId::new(), "account_id": AccountId::new(),
            "media_id": MediaId::new(), "state": state, "version": 3, "tiktok": {},
            "settings": { "title": "t", "privacy_level": "SELF_ONLY", "disable_comment": false,
                          "disable_duet": false, "disable_stitch": false },
            "error_code": "old", "error_message": "old",
            "created_at": at(0), "updated_at": at(0),
        }))
        .expect("a post")
    }

    fn plan(size: u64) -> UploadPlan {
        UploadPlan {
            video_size: size,
            chunk_size: size,
            total_chunk_count: 1,
        }
    }

    #[test]
    fn an_init_starts_a_fresh_upload_and_clears_the_old_error() {
        let mut p = post(PostState::Uploading);
        p.tiktok.uploaded_bytes = 7;
        p.record_init("v_1".into(), "https://up".into(), plan(10), at(5));
        assert_eq!(p.tiktok.publish_id.as_deref(), Some("v_1"));
        assert_eq!(p.tiktok.upload_url_issued_at, Some(at(5)));
        assert_eq!(p.tiktok.plan, Some(plan(10)));
        assert_eq!(p.tiktok.uploaded_bytes, 0);
        assert_eq!((p.error_code, p.error_message), (None, None));
    }

    #[test]
    fn a_stream_starts_uploading_with_its_init_in_one_write() {
        let mut p = post(PostState::Draft);
        p.start_stream("v_2".into(), "https://up".into(), plan(10), at(7));
        assert_eq!(p.state, PostState::Uploading);
        assert_eq!(p.tiktok.publish_id.as_deref(), Some("v_2"));
        assert_eq!(p.tiktok.upload_url_issued_at, Some(at(7)));
        assert_eq!((p.error_code, p.error_message), (None, None));
    }

    #[test]
    fn a_complete_upload_counts_every_byte_and_resets_the_attempts() {
        let mut p = post(PostState::Uploading);
        p.tiktok.plan = Some(plan(10));
        p.tiktok.uploaded_bytes = 4;
        p.tiktok.publish_attempts = 2;
        p.upload_complete(at(1));
        assert_eq!(p.state, PostState::Processing);
        assert_eq!(p.tiktok.uploaded_bytes, 10);
        assert_eq!(p.tiktok.upload_completed_at, Some(at(1)));
        assert_eq!(p.tiktok.publish_attempts, 0);
        // Without a plan the acknowledged count is all we know.
        let mut q = post(PostState::Uploading);
        q.tiktok.uploaded_bytes = 4;
        q.upload_complete(at(1));
        assert_eq!(q.tiktok.uploaded_bytes, 4);
    }

    #[test]
    fn a_status_count_never_lowers_the_acknowledged_bytes() {
        let mut t = TikTokProgress {
            uploaded_bytes: 8,
            ..Default::default()
        };
        t.saw_uploaded_bytes(Some(5));
        assert_eq!(t.uploaded_bytes, 8);
        t.saw_uploaded_bytes(None);
        assert_eq!(t.uploaded_bytes, 8);
        t.saw_uploaded_bytes(Some(9));
        assert_eq!(t.uploaded_bytes, 9);
    }

    #[test]
    fn forgetting_a_publish_releases_its_upload_but_keeps_the_plan() {
        let mut p = post(PostState::Uploading);
        p.record_init("v_1".into(), "https://up".into(), plan(10), at(5));
        p.record_uploaded(6);
        p.tiktok.forget_publish();
        assert_eq!(p.tiktok.publish_id, None);
        assert_eq!(p.tiktok.upload_url, None);
        assert_eq!(p.tiktok.upload_url_issued_at, None);
        assert_eq!(p.tiktok.uploaded_bytes, 0);
        assert_eq!(p.tiktok.plan, Some(plan(10)));
    }

    #[test]
    fn polls_for_a_public_id_are_counted_apart() {
        let mut p = post(PostState::Processing);
        p.await_public_id("PUBLISH_COMPLETE".into(), 4);
        p.await_public_id("PUBLISH_COMPLETE".into(), 5);
        assert_eq!(p.tiktok.status.as_deref(), Some("PUBLISH_COMPLETE"));
        assert_eq!(p.tiktok.status_polls, 5);
        assert_eq!(p.tiktok.public_id_polls, 2);
        assert_eq!(p.state, PostState::Processing);
    }

    #[test]
    fn reconciling_publishes_what_was_found_and_otherwise_says_unconfirmed() {
        let mut found = post(PostState::Processing);
        found.reconcile(Some("7300".into()), 30, at(9));
        assert_eq!(found.state, PostState::Published);
        assert_eq!(found.tiktok.public_post_ids, vec!["7300".to_owned()]);
        assert_eq!(found.published_at, Some(at(9)));
        assert_eq!(found.tiktok.status_polls, 30);
        assert_eq!(found.error_code, None);

        let mut missing = post(PostState::Processing);
        missing.reconcile(None, 30, at(9));
        assert_eq!(missing.state, PostState::Unconfirmed);
        assert_eq!(missing.error_code.as_deref(), Some("unconfirmed"));
        assert_eq!(missing.published_at, None);
    }

    #[test]
    fn a_failure_keeps_an_earlier_fail_reason_when_none_is_given() {
        let mut p = post(PostState::Processing);
        p.tiktok.fail_reason = Some("spam_risk".into());
        p.fail("account_gone".into(), "gone".into(), None);
        assert_eq!(p.state, PostState::Failed);
        assert_eq!(p.error_code.as_deref(), Some("account_gone"));
        assert_eq!(p.tiktok.fail_reason.as_deref(), Some("spam_risk"));
        p.fail(
            "x".into(),
            "y".into(),
            Some("file_format_check_failed".into()),
        );
        assert_eq!(
            p.tiktok.fail_reason.as_deref(),
            Some("file_format_check_failed")
        );
    }

    #[test]
    fn a_dead_grant_parks_a_post_unless_tiktok_has_its_video() {
        for (from, to) in [
            (PostState::Queued, PostState::NeedsReconnect),
            (PostState::Uploading, PostState::NeedsReconnect),
            (PostState::Processing, PostState::Unconfirmed),
            (PostState::Unconfirmed, PostState::Unconfirmed),
        ] {
            let mut p = post(from);
            p.needs_reconnect("Reconnect.".into());
            assert_eq!(p.state, to, "from {from}");
            assert!(from.can_become(to) || from == to);
            assert_eq!(p.error_code.as_deref(), Some("needs_reconnect"));
            let message = p.error_message.unwrap();
            assert!(message.starts_with("Reconnect."));
            assert_eq!(
                message.contains("TikTok has this video"),
                to == PostState::Unconfirmed
            );
        }
    }

    #[test]
    fn a_deferral_reschedules_with_the_reason() {
        let mut p = post(PostState::Uploading);
        p.defer(at(60), "daily_cap", "later".into());
        assert_eq!(p.state, PostState::Scheduled);
        assert_eq!(p.scheduled_at, Some(at(60)));
        assert_eq!(p.error_code.as_deref(), Some("daily_cap"));
    }

    #[test]
    fn the_last_allowed_attempt_parks_the_post() {
        let mut p = post(PostState::Uploading);
        p.error_code = None;
        let first = p.next_attempt(3);
        assert_eq!(
            first,
            Attempt {
                number: 1,
                exhausted: false
            }
        );
        p.record_attempt(first);
        assert_eq!(p.error_code, None);
        p.record_attempt(p.next_attempt(3));
        let last = p.next_attempt(3);
        assert!(last.exhausted);
        p.record_attempt(last);
        assert_eq!(p.tiktok.publish_attempts, 3);
        assert_eq!(p.state, PostState::Uploading);
        assert_eq!(p.error_code.as_deref(), Some(RETRIES_EXHAUSTED));
    }

    #[test]
    fn a_replay_queues_a_failed_post_and_resumes_a_parked_one() {
        let mut failed = post(PostState::Failed);
        failed.tiktok.publish_id = Some("v_1".into());
        failed.tiktok.publish_attempts = 5;
        failed.replay(false);
        assert_eq!(failed.state, PostState::Queued);
        assert_eq!(failed.tiktok.publish_attempts, 0);
        assert_eq!(failed.error_code, None);
        assert_eq!(failed.tiktok.publish_id.as_deref(), Some("v_1"));

        let mut parked = post(PostState::Uploading);
        parked.tiktok.publish_id = Some("v_2".into());
        parked.replay(true);
        assert_eq!(parked.state, PostState::Uploading);
        assert_eq!(parked.tiktok.publish_id, None);
    }

    #[test]
    fn a_reconnected_post_is_scheduled_or_queued_and_marked_late_past_the_threshold() {
        let mut ahead = post(PostState::NeedsReconnect);
        ahead.scheduled_at = Some(at(30));
        ahead.late_by_ms = Some(1);
        ahead.back_in_line(at(10), 60_000);
        assert_eq!(ahead.state, PostState::Scheduled);
        assert_eq!(ahead.late_by_ms, None);
        assert_eq!(ahead.error_code, None);

        let mut slightly_late = post(PostState::NeedsReconnect);
        slightly_late.scheduled_at = Some(at(10));
        slightly_late.back_in_line(at(11), 60_000);
        assert_eq!(slightly_late.state, PostState::Queued);
        assert_eq!(slightly_late.late_by_ms, None);

        // "Post now" counts from its creation.
        let mut late = post(PostState::NeedsReconnect);
        late.back_in_line(at(5), 60_000);
        assert_eq!(late.state, PostState::Queued);
        assert_eq!(late.late_by_ms, Some(5 * 60_000));
    }

    #[test]
    fn the_first_recorded_media_deletion_stays() {
        let mut p = post(PostState::Processing);
        p.note_media_deleted(None);
        assert_eq!(p.media_deleted_at, None);
        p.note_media_deleted(Some(at(1)));
        p.note_media_deleted(Some(at(2)));
        assert_eq!(p.media_deleted_at, Some(at(1)));
        p.media_deleted(at(3));
        assert_eq!(p.media_deleted_at, Some(at(3)));
    }

    #[test]
    fn a_delivered_draft_waits_in_the_inbox_then_is_posted_or_left() {
        for from in [PostState::Processing, PostState::Unconfirmed] {
            let mut p = post(from);
            p.reached_inbox("SEND_TO_USER_INBOX".into(), 4, Some(at(2)));
            assert_eq!(p.state, PostState::InInbox);
            assert!(from.can_become(p.state));
            assert_eq!(p.tiktok.status.as_deref(), Some("SEND_TO_USER_INBOX"));
            assert_eq!(p.tiktok.status_polls, 4);
            assert_eq!(p.media_deleted_at, Some(at(2)));
            assert_eq!((p.error_code, p.error_message), (None, None));
        }
        let mut posted = post(PostState::InInbox);
        posted.confirm_published(vec!["7400".into()], at(30));
        assert_eq!(posted.state, PostState::Published);

        let mut left = post(PostState::InInbox);
        left.left_in_inbox(
            "SEND_TO_USER_INBOX".into(),
            9,
            std::time::Duration::from_secs(24 * 3600),
        );
        assert_eq!(left.state, PostState::LeftInInbox);
        assert!(left.state.is_terminal());
        assert_eq!(left.tiktok.status_polls, 9);
        assert_eq!(left.error_code.as_deref(), Some(LEFT_IN_INBOX));
        let message = left.error_message.unwrap();
        assert!(message.contains("24 hours"), "{message}");
        assert!(message.contains("upload the video again"), "{message}");
    }

    #[test]
    fn a_draft_is_given_up_a_ttl_after_tiktok_received_it() {
        let day = std::time::Duration::from_secs(24 * 3600);
        let mut p = post(PostState::InInbox);
        assert_eq!(
            p.inbox_deadline(day),
            at(24 * 60),
            "from creation when unrecorded"
        );
        p.tiktok.upload_completed_at = Some(at(90));
        assert_eq!(p.inbox_deadline(day), at(90 + 24 * 60));
    }

    #[test]
    fn cancelling_for_a_reason_records_it() {
        let mut p = post(PostState::Scheduled);
        p.cancel_because("account_disconnected", "The account was disconnected.");
        assert_eq!(p.state, PostState::Cancelled);
        assert_eq!(p.error_code.as_deref(), Some("account_disconnected"));
    }

    #[test]
    fn an_approved_post_goes_on_as_it_would_have_and_a_rejected_one_says_why() {
        let mut later = post(PostState::PendingApproval);
        later.scheduled_at = Some(at(60));
        later.approve(at(30));
        assert_eq!(
            (later.state, later.error_code.as_deref()),
            (PostState::Scheduled, None)
        );
        let mut late = post(PostState::PendingApproval);
        late.scheduled_at = Some(at(60));
        late.approve(at(61));
        assert_eq!(
            late.state,
            PostState::Queued,
            "its time passed: sent at once"
        );
        let mut now = post(PostState::PendingApproval);
        now.approve(at(1));
        assert_eq!(now.state, PostState::Queued);
        let mut rejected = post(PostState::PendingApproval);
        rejected.reject("wrong caption");
        assert_eq!(rejected.state, PostState::Cancelled);
        assert_eq!(rejected.error_code.as_deref(), Some(REJECTED));
        assert_eq!(rejected.error_message.as_deref(), Some("wrong caption"));
        let mut expired = post(PostState::PendingApproval);
        expired.expire_approval();
        assert_eq!(expired.state, PostState::ApprovalExpired);
        assert!(expired.state.is_terminal());
        assert_eq!(expired.error_code.as_deref(), Some(APPROVAL_EXPIRED));
        for to in [
            PostState::Queued,
            PostState::Scheduled,
            PostState::Cancelled,
        ] {
            assert!(PostState::PendingApproval.can_become(to));
        }
        assert!(!PostState::PendingApproval.can_become(PostState::Uploading));
        assert!(!PostState::ApprovalExpired.can_become(PostState::Queued));
    }
}
