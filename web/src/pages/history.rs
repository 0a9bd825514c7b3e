//! `/history`: the creator's posts, newest first, with state badges, fail reasons in words,
//! links to TikTok, and cancel / reschedule / retry where the state allows it; below them the
//! published videos of each account (`video.list`, loaded by the script).
//!
//! `/history/posts` renders just the list: while posts are in flight the script polls
//! `GET /api/posts` and, when something changed, swaps in the re-rendered items, so one
//! template renders a post whether the page is fresh or updated.

use super::accounts::{AccountView, visible_accounts};
use super::frame::{SignedIn, render};
use crate::error::PageError;
use crate::state::AppState;
use crate::views::Nav;
use crate::views::post_json;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, SecondsFormat, Utc};
use jobs::domain::schedule_time;
use jobs::domain::workspaces::Action;
use jobs::model::{Actor, Post, PostMode, PostState, Role, TikTokAccount};
use serde::Deserialize;

/// How many posts the page shows (the newest).
const PAGE_SIZE: u32 = 50;

/// One post as the page shows it.
pub struct PostView {
    pub id: String,
    /// The state's wire name: the badge's CSS class and what the poller compares.
    pub state: &'static str,
    pub badge: &'static str,
    /// What the state means for the creator, when the badge alone is not enough.
    pub explain: Option<&'static str>,
    /// `updated_at` exactly as `GET /api/posts` writes it, so the poller can tell a change.
    pub updated: String,
    pub account: String,
    pub caption: String,
    pub privacy: &'static str,
    /// "Scheduled for …", "Published …", "Created …", with the instant for the script to localise.
    pub when_label: &'static str,
    pub when_text: String,
    pub when_iso: String,
    /// True when the script should rewrite `when_text` in the browser's own time zone (a
    /// schedule stays in the zone it was made in).
    pub localize: bool,
    /// The fail reason in words (the API's `error.message`); for a rejected post, the
    /// approver's comment.
    pub message: Option<String>,
    /// What introduces `message`: "Rejected" for a rejected post, else "Why".
    pub message_label: &'static str,
    pub share_url: Option<String>,
    /// (bytes TikTok acknowledged, video size) while uploading.
    pub progress: Option<(u64, u64)>,
    pub can_cancel: bool,
    pub can_reschedule: bool,
    pub can_retry: bool,
    /// For a post waiting for a reconnect: when it fails and its video is deleted instead.
    pub reconnect_by: Option<String>,
    /// The schedule as `YYYY-MM-DDTHH:MM` in its zone, to prefill "Change time".
    pub schedule_input: String,
    pub schedule_tz: String,
    /// Its place in a group sent from one compose to several accounts: the group's posts are
    /// shown as one card, a line per account (`group_marks`).
    pub group: Option<GroupMark>,
}

/// Where a post sits in its group's card.
pub struct GroupMark {
    pub id: String,
    /// "first", "middle" or "last" (CSS joins the lines into one card).
    pub place: &'static str,
    /// On the first line: what the card is.
    pub head: Option<String>,
}

/// Marks the posts of each group that are shown next to each other as one card. Posts of a
/// group are created together, so the newest-first list shows them side by side.
fn group_marks(posts: &[Post], views: &mut [PostView]) {
    let key = |i: usize| posts.get(i).and_then(|p| p.group.as_ref()).map(|g| g.id);
    let mut i = 0;
    while i < posts.len() {
        let Some(id) = key(i) else {
            i += 1;
            continue;
        };
        let mut end = i + 1;
        while end < posts.len() && key(end) == Some(id) {
            end += 1;
        }
        let shown = end - i;
        if shown > 1 {
            let total = posts[i].group.as_ref().map_or(shown, |g| g.posts.len());
            for (n, view) in views[i..end].iter_mut().enumerate() {
                view.group = Some(GroupMark {
                    id: id.to_string(),
                    place: match n {
                        0 => "first",
                        n if n + 1 == shown => "last",
                        _ => "middle",
                    },
                    head: (n == 0).then(|| format!("One post to {total} accounts")),
                });
            }
        }
        i = end;
    }
}

fn badge(state: PostState) -> (&'static str, Option<&'static str>) {
    match state {
        PostState::Draft => ("Draft", None),
        PostState::Scheduled => ("Scheduled", None),
        PostState::Queued => ("Queued", Some("Waiting for its turn to upload.")),
        PostState::Uploading => ("Uploading", Some("Sending the video to TikTok.")),
        PostState::Processing => (
            "Processing",
            Some("TikTok has the video and is processing it; this usually takes a few minutes."),
        ),
        PostState::Published => ("Published", None),
        PostState::Failed => ("Failed", None),
        PostState::NeedsReconnect => (
            "Needs reconnect",
            Some("Reconnect this TikTok account on the Accounts page; the post then goes out."),
        ),
        PostState::Cancelled => ("Cancelled", None),
        PostState::Unconfirmed => (
            "Unconfirmed",
            Some("TikTok has not confirmed the outcome yet; we are checking the account's videos."),
        ),
        PostState::PendingApproval => (
            "Waiting for approval",
            Some("An admin of this workspace approves it before it goes out."),
        ),
        PostState::ApprovalExpired => ("Not approved in time", None),
        PostState::InInbox => (
            "Waiting in your TikTok inbox",
            Some(
                "TikTok has this draft. Open the TikTok app to finish and post it; it shows as published once you do.",
            ),
        ),
        PostState::LeftInInbox => (
            "Left in your TikTok inbox",
            Some("The draft was not posted from the TikTok app in time, so it was given up."),
        ),
    }
}

/// Who can see the post, in words: a draft's audience is the creator's choice in the TikTok
/// app, never the placeholder it stores.
pub(super) fn post_privacy(p: &Post) -> &'static str {
    match p.mode {
        PostMode::Inbox => "Chosen in the TikTok app",
        PostMode::Direct => privacy_words(p.settings.privacy_level),
    }
}

pub(super) fn privacy_words(p: jobs::model::PrivacyLevel) -> &'static str {
    use jobs::model::PrivacyLevel::*;
    match p {
        PublicToEveryone => "Everyone",
        MutualFollowFriends => "Friends",
        FollowerOfCreator => "Followers",
        SelfOnly => "Only me",
    }
}

fn utc_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The schedule as `YYYY-MM-DDTHH:MM` in its zone and that zone, to prefill "Change time";
/// empty when the post has no schedule.
pub(super) fn schedule_fields(p: &Post) -> (String, String) {
    // The zone was checked when the post was created; a zone this build no longer knows is
    // shown (and prefilled) as UTC rather than mislabelled.
    let zone = p
        .scheduled_tz
        .as_deref()
        .filter(|z| schedule_time::parse_time_zone(z).is_ok());
    match p.scheduled_at {
        Some(at) => (
            schedule_time::local_time(at, zone)
                .chars()
                .take("YYYY-MM-DDTHH:MM".len())
                .collect(),
            zone.unwrap_or("UTC").to_owned(),
        ),
        None => (String::new(), String::new()),
    }
}

/// Parked posts (waiting for a reconnect, or out of retries) can be retried too; the API says
/// why when it is not possible yet.
fn can_retry(p: &Post) -> bool {
    (p.state == PostState::Failed && p.media_deleted_at.is_none())
        || p.state == PostState::NeedsReconnect
        || p.error_code.as_deref() == Some(jobs::domain::outcome::RETRIES_EXHAUSTED)
}

/// For a post waiting for a reconnect: when it fails and its video is deleted instead.
fn reconnect_by(p: &Post, parked_ttl: std::time::Duration) -> Option<String> {
    (p.state == PostState::NeedsReconnect).then(|| {
        let ttl = chrono::Duration::from_std(parked_ttl).unwrap_or(chrono::Duration::MAX);
        utc_text(
            p.updated_at
                .checked_add_signed(ttl)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        )
    })
}

impl PostView {
    /// Built with the API's own `post_json`, so the page links and explains exactly what the API
    /// returns (`share_url`, `error.message`).
    /// `parked_ttl` is `PARKED_MEDIA_DAYS`: how long a post waits for a reconnect.
    pub fn new(p: &Post, accounts: &[TikTokAccount], parked_ttl: std::time::Duration) -> Self {
        let account = accounts.iter().find(|a| a.id == p.account_id);
        let json = post_json(p, account.and_then(|a| a.username.as_deref()));
        let (badge, explain) = badge(p.state);
        let (when_label, when) = match (p.state, p.published_at, p.scheduled_at) {
            (PostState::Published, Some(at), _) => ("Published", at),
            (PostState::Scheduled, _, Some(at)) => ("Scheduled for", at),
            _ => ("Created", p.created_at),
        };
        let (schedule_input, schedule_tz) = schedule_fields(p);
        let scheduled = p.state == PostState::Scheduled && !schedule_input.is_empty();
        let when_text = if scheduled {
            format!(
                "{} {schedule_tz} ({})",
                schedule_input.replace('T', " "),
                utc_text(when)
            )
        } else {
            utc_text(when)
        };
        let progress = match (p.state, p.tiktok.plan) {
            (PostState::Uploading, Some(plan)) => Some((p.tiktok.uploaded_bytes, plan.video_size)),
            _ => None,
        };
        PostView {
            id: p.id.to_string(),
            state: p.state.as_str(),
            badge,
            explain,
            updated: json["updated_at"].as_str().unwrap_or_default().to_owned(),
            account: account
                .map(|a| AccountView::new(a).handle())
                .unwrap_or_else(|| "a disconnected account".into()),
            caption: p.settings.title.clone(),
            privacy: post_privacy(p),
            when_label,
            when_text,
            localize: !scheduled,
            when_iso: when.to_rfc3339_opts(SecondsFormat::Secs, true),
            message: json["error"]["message"]
                .as_str()
                .filter(|m| !m.is_empty())
                .map(str::to_owned),
            message_label: if p.state == PostState::Cancelled
                && p.error_code.as_deref() == Some(jobs::model::REJECTED)
            {
                "Rejected"
            } else {
                "Why"
            },
            share_url: json["share_url"].as_str().map(str::to_owned),
            progress,
            can_cancel: matches!(
                p.state,
                PostState::Draft
                    | PostState::Scheduled
                    | PostState::Queued
                    | PostState::NeedsReconnect
                    | PostState::PendingApproval
            ),
            can_reschedule: p.state == PostState::Scheduled,
            can_retry: can_retry(p),
            reconnect_by: reconnect_by(p, parked_ttl),
            schedule_input,
            schedule_tz,
            group: None,
        }
    }

    /// Keeps only the actions `role` may take (`CancelPost`, `EditPost` for reschedule and
    /// retry).
    pub fn allowed(mut self, role: Role) -> Self {
        self.can_cancel &= role.can(Action::CancelPost);
        self.can_reschedule &= role.can(Action::EditPost);
        self.can_retry &= role.can(Action::EditPost);
        self
    }

    /// Upload progress as a whole percentage.
    pub fn percent(&self) -> u64 {
        match self.progress {
            Some((done, total)) if total > 0 => done.saturating_mul(100) / total,
            _ => 0,
        }
    }
}

/// The newest posts of `me`'s workspace, offering only the actions `me`'s role allows (a
/// viewer gets no cancel, reschedule or retry: the API would refuse them).
async fn posts(state: &AppState, me: &Actor) -> Result<Vec<PostView>, PageError> {
    let accounts = state.store.list_accounts(me.workspace).await?;
    let page = state
        .store
        .list_posts(me.workspace, None, PAGE_SIZE)
        .await?;
    let mut views: Vec<PostView> = page
        .items
        .iter()
        .map(|p| {
            PostView::new(p, &accounts, state.config.staging.parked_media_ttl).allowed(me.role)
        })
        .collect();
    group_marks(&page.items, &mut views);
    Ok(views)
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    nav: Nav,
    posts: Vec<PostView>,
    accounts: Vec<AccountView>,
    /// Shown after the compose page sent a post here.
    notice: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "posts.html")]
struct PostsFragment {
    posts: Vec<PostView>,
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    sent: Option<String>,
}

/// `GET /history[?sent=now|draft|scheduled|approval]`.
pub async fn page(
    State(state): State<AppState>,
    SignedIn(user, me): SignedIn,
    axum::extract::Query(q): axum::extract::Query<HistoryQuery>,
) -> Result<Response, PageError> {
    let notice = match q.sent.as_deref() {
        Some("now") => Some(
            "Sent to TikTok. Uploading and processing take a few minutes; this page updates by itself.",
        ),
        Some("draft") => Some(
            "Sent to TikTok as a draft. Once it waits in the creator's TikTok inbox, they finish and post it from the TikTok app; this page updates by itself.",
        ),
        Some("scheduled") => {
            Some("Scheduled. It goes out at the time you picked; you can change or cancel it here.")
        }
        Some("approval") => Some(
            "Sent for approval. It goes out once an admin or owner of this workspace approves it; it shows here as waiting until then.",
        ),
        _ => None,
    };
    render(&HistoryPage {
        nav: Nav::signed_in(&*state.store, &user, &me, "/history").await?,
        posts: posts(&state, &me).await?,
        accounts: visible_accounts(&state, me.workspace).await?,
        notice,
    })
}

/// `GET /history/posts`: the list alone, for the poller.
pub async fn fragment(
    State(state): State<AppState>,
    SignedIn(_, me): SignedIn,
) -> Result<Response, PageError> {
    render(&PostsFragment {
        posts: posts(&state, &me).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobs::model::{AccountId, UserId};
    use jobs::store::conformance::post_for;

    const WEEK: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

    #[test]
    fn a_groups_posts_side_by_side_are_one_card_with_a_line_per_account() {
        let user = UserId::new();
        let group = jobs::model::PostGroup {
            id: jobs::model::GroupId::new(),
            posts: vec![jobs::model::PostId::new(); 3],
        };
        let mut posts: Vec<Post> = (0..5)
            .map(|_| post_for(user, AccountId::new(), PostState::Scheduled))
            .collect();
        for p in &mut posts[1..4] {
            p.group = Some(group.clone());
        }
        let mut views: Vec<PostView> = posts.iter().map(|p| PostView::new(p, &[], WEEK)).collect();
        group_marks(&posts, &mut views);
        let places: Vec<Option<&str>> = views
            .iter()
            .map(|v| v.group.as_ref().map(|g| g.place))
            .collect();
        assert_eq!(
            places,
            [None, Some("first"), Some("middle"), Some("last"), None]
        );
        let head = views[1].group.as_ref().and_then(|g| g.head.as_deref());
        assert_eq!(head, Some("One post to 3 accounts"));
        assert!(views[2].group.as_ref().is_some_and(|g| g.head.is_none()));
    }

    #[test]
    fn a_post_waiting_for_a_reconnect_offers_retry_and_cancel_and_shows_its_deadline() {
        let mut p = post_for(UserId::new(), AccountId::new(), PostState::NeedsReconnect);
        p.updated_at = "2026-12-01T10:30:00Z".parse().unwrap();
        let v = PostView::new(&p, &[], WEEK);
        assert!(v.can_retry && v.can_cancel && !v.can_reschedule);
        assert_eq!(v.reconnect_by.as_deref(), Some("2026-12-08 10:30 UTC"));
        let viewer = PostView::new(&p, &[], WEEK).allowed(Role::Viewer);
        assert!(!viewer.can_retry && !viewer.can_cancel && !viewer.can_reschedule);
        let editor = PostView::new(&p, &[], WEEK).allowed(Role::Editor);
        assert!(editor.can_retry && editor.can_cancel);
    }

    #[test]
    fn a_waiting_post_says_so_and_a_rejected_one_shows_the_comment() {
        let mut p = post_for(UserId::new(), AccountId::new(), PostState::PendingApproval);
        let v = PostView::new(&p, &[], WEEK);
        assert_eq!(v.badge, "Waiting for approval");
        assert!(v.can_cancel && v.message.is_none());
        p.reject("Wrong account, post it to the client's.");
        let v = PostView::new(&p, &[], WEEK);
        assert_eq!(v.message_label, "Rejected");
        assert_eq!(
            v.message.as_deref(),
            Some("Wrong account, post it to the client's.")
        );
        let mut failed = post_for(UserId::new(), AccountId::new(), PostState::Failed);
        failed.error_code = Some("spam_risk".into());
        failed.error_message = Some("TikTok flagged it.".into());
        assert_eq!(PostView::new(&failed, &[], WEEK).message_label, "Why");
    }

    #[test]
    fn a_draft_reads_as_waiting_in_the_inbox_or_left_there_and_offers_no_action() {
        let draft = |state| {
            let mut p = post_for(UserId::new(), AccountId::new(), state);
            p.mode = PostMode::Inbox;
            p
        };
        let waiting = PostView::new(&draft(PostState::InInbox), &[], WEEK);
        assert_eq!(waiting.state, "in_inbox");
        assert_eq!(waiting.badge, "Waiting in your TikTok inbox");
        assert!(waiting.explain.unwrap().contains("TikTok app"));
        assert_eq!(waiting.privacy, "Chosen in the TikTok app");
        assert!(!waiting.can_cancel && !waiting.can_retry && !waiting.can_reschedule);
        let mut left = draft(PostState::LeftInInbox);
        left.error_code = Some("left_in_inbox".into());
        left.error_message = Some("This draft waited 24 hours.".into());
        let left = PostView::new(&left, &[], WEEK);
        assert_eq!(left.badge, "Left in your TikTok inbox");
        assert_eq!(left.message.as_deref(), Some("This draft waited 24 hours."));
        assert!(!left.can_retry && !left.can_cancel);
        let direct = post_for(UserId::new(), AccountId::new(), PostState::Published);
        assert_eq!(PostView::new(&direct, &[], WEEK).privacy, "Only me");
    }

    #[test]
    fn only_parked_or_failed_posts_with_their_video_offer_retry() {
        let post = |state| post_for(UserId::new(), AccountId::new(), state);
        let mut out_of_retries = post(PostState::Uploading);
        out_of_retries.error_code = Some(jobs::domain::outcome::RETRIES_EXHAUSTED.into());
        assert!(PostView::new(&out_of_retries, &[], WEEK).can_retry);
        assert!(PostView::new(&post(PostState::Failed), &[], WEEK).can_retry);
        let mut gone = post(PostState::Failed);
        gone.media_deleted_at = Some(Utc::now());
        assert!(!PostView::new(&gone, &[], WEEK).can_retry);
        for state in [
            PostState::Scheduled,
            PostState::Queued,
            PostState::Uploading,
            PostState::Published,
        ] {
            let v = PostView::new(&post(state), &[], WEEK);
            assert!(!v.can_retry, "{state}");
            assert_eq!(v.reconnect_by, None, "{state}");
        }
    }
}
