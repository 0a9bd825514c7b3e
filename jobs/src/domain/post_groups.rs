//! `POST /api/post-groups`: one compose sent to several accounts of the workspace. Shared values
//! (caption, privacy, toggles, disclosure, cover frame, time, the video) apply to every target unless the
//! target overrides them. The result is a group of independent posts, one per account, each
//! with its own state, exactly-once publish and outcome; they read one staged video, deleted
//! after the last of them no longer needs it (`shared_media`).
//!
//! A group is a campaign whose rows all name one group (`campaigns::groups`): the same checks
//! (every target against its creator's live `creator_info`, fetched concurrently, once per
//! account), all or nothing, and the same recovery when a write stops half way (the same
//! `Idempotency-Key` finishes the group). A refusal lists every target's problem and names its
//! account.

use super::campaigns::{self, CampaignError, CampaignRow, RowProblem};
use crate::context::JobContext;
use crate::model::{Actor, GroupId, Post};
use crate::store::{Created, StoreError};
use serde::{Deserialize, Serialize};

/// What every target gets unless it says otherwise; each field is the one of `POST /api/posts`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Fields {
    pub title: Option<String>,
    pub privacy_level: Option<String>,
    pub disable_comment: Option<bool>,
    pub disable_duet: Option<bool>,
    pub disable_stitch: Option<bool>,
    pub brand_content_toggle: Option<bool>,
    pub brand_organic_toggle: Option<bool>,
    pub is_aigc: Option<bool>,
    /// The cover frame, in ms from the video's start (TikTok's first frame when absent).
    pub video_cover_timestamp_ms: Option<u32>,
    /// RFC 3339 with an offset, a local time with `scheduled_tz`, or absent/"now".
    pub scheduled_at: Option<String>,
    pub scheduled_tz: Option<String>,
}

impl Fields {
    /// `self` where given, else `shared`.
    fn over(&self, shared: &Fields) -> Fields {
        let pick = |a: &Option<String>, b: &Option<String>| a.clone().or_else(|| b.clone());
        Fields {
            title: pick(&self.title, &shared.title),
            privacy_level: pick(&self.privacy_level, &shared.privacy_level),
            disable_comment: self.disable_comment.or(shared.disable_comment),
            disable_duet: self.disable_duet.or(shared.disable_duet),
            disable_stitch: self.disable_stitch.or(shared.disable_stitch),
            brand_content_toggle: self.brand_content_toggle.or(shared.brand_content_toggle),
            brand_organic_toggle: self.brand_organic_toggle.or(shared.brand_organic_toggle),
            is_aigc: self.is_aigc.or(shared.is_aigc),
            video_cover_timestamp_ms: self
                .video_cover_timestamp_ms
                .or(shared.video_cover_timestamp_ms),
            // A target's own time comes with its own zone (or none).
            scheduled_at: pick(&self.scheduled_at, &shared.scheduled_at),
            scheduled_tz: if self.scheduled_at.is_some() {
                self.scheduled_tz.clone()
            } else {
                pick(&self.scheduled_tz, &shared.scheduled_tz)
            },
        }
    }
}

/// One account of the group, with what it changes.
#[derive(Debug, Clone, Deserialize)]
pub struct Target {
    /// The account's id, or its `@username`.
    pub account_id: String,
    #[serde(flatten)]
    pub overrides: Fields,
}

/// The body of `POST /api/post-groups`.
#[derive(Debug, Clone, Deserialize)]
pub struct NewGroup {
    /// The staged video every post reads (from `POST /api/media`).
    pub media_id: Option<String>,
    /// Or a video TikTok downloads for each post, under a verified prefix.
    pub video_url: Option<String>,
    /// `direct` (default) or `inbox`, for every target.
    pub post_mode: Option<String>,
    #[serde(flatten)]
    pub shared: Fields,
    pub targets: Vec<Target>,
}

/// What one target's problem is, naming its account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetProblem {
    /// The target's place in `targets`, from 0.
    pub target: usize,
    pub account_id: String,
    pub code: &'static str,
    pub message: String,
}

/// Why a group was refused, or stopped half way.
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error("{0}")]
    Malformed(String),
    #[error("{} of the group's accounts cannot take this post; nothing was created. Fix or remove them, then send again", .0.len())]
    Targets(Vec<TargetProblem>),
    #[error("the group stopped at account {}: {}; the posts before it were created. Send the same request with the same Idempotency-Key to finish it", .problem.account_id, .problem.message)]
    Stopped {
        created: usize,
        problem: TargetProblem,
    },
    #[error("TikTok is unavailable right now; nothing was created, try again in a moment")]
    Unavailable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The group: its id and one post per target, in target order.
#[derive(Debug)]
pub struct GroupResult {
    pub id: GroupId,
    pub posts: Vec<Created<Post>>,
}

impl GroupResult {
    /// False when every post was already created by an earlier send with this key.
    pub fn created(&self) -> bool {
        self.posts.iter().any(|p| p.created)
    }
}

/// The name every row of a group carries (a request is one group).
const GROUP: &str = "group";

/// Creates the group (or returns the one this key already made). Without a key, a fresh one is
/// used: the request is then not safe to send twice.
pub async fn create(
    ctx: &JobContext,
    by: Actor,
    req: NewGroup,
    key: Option<String>,
) -> Result<GroupResult, GroupError> {
    if req.targets.is_empty() {
        return Err(GroupError::Malformed(
            "a group needs at least one target account".into(),
        ));
    }
    if req.targets.len() > campaigns::MAX_GROUP {
        return Err(GroupError::Malformed(format!(
            "a group has at most {} target accounts",
            campaigns::MAX_GROUP
        )));
    }
    let targets: Vec<String> = req.targets.iter().map(|t| t.account_id.clone()).collect();
    let rows = rows(req);
    let key = key.unwrap_or_else(|| format!("group-{}", GroupId::new()));
    let outcome = campaigns::create(ctx, by, rows, &key).await;
    // A refusal names each account as its creator knows it (`@username`).
    let labels = match &outcome {
        Err(CampaignError::Rows(_) | CampaignError::Stopped { .. }) => {
            let accounts = ctx.store.list_accounts(by.workspace).await?;
            targets
                .iter()
                .map(|t| campaigns::account_label(&accounts, t))
                .collect()
        }
        _ => targets.clone(),
    };
    let named = |p: RowProblem| named(&targets, &labels, p);
    let result = outcome.map_err(|e| match e {
        CampaignError::Malformed(m) => GroupError::Malformed(m),
        CampaignError::Rows(problems) => {
            GroupError::Targets(problems.into_iter().map(named).collect())
        }
        CampaignError::Stopped { created, problem } => GroupError::Stopped {
            created,
            problem: named(problem),
        },
        CampaignError::Unavailable => GroupError::Unavailable,
        CampaignError::Store(e) => GroupError::Store(e),
    })?;
    let id = result
        .posts
        .first()
        .and_then(|p| p.value.group.as_ref())
        .map(|g| g.id)
        .ok_or_else(|| GroupError::Malformed("the group has no posts".into()))?;
    Ok(GroupResult {
        id,
        posts: result.posts,
    })
}

/// A row's problem as its target's, naming the account as its creator knows it.
fn named(targets: &[String], labels: &[String], p: RowProblem) -> TargetProblem {
    let target = p.row.saturating_sub(1);
    let label = labels.get(target).cloned().unwrap_or_default();
    TargetProblem {
        message: format!("{label}: {}", p.message),
        target,
        account_id: targets.get(target).cloned().unwrap_or_default(),
        code: p.code,
    }
}

/// One campaign row per target, all in one group.
fn rows(req: NewGroup) -> Vec<CampaignRow> {
    let shared = req.shared;
    req.targets
        .into_iter()
        .map(|t| {
            let f = t.overrides.over(&shared);
            CampaignRow {
                account: t.account_id,
                media_id: req.media_id.clone().unwrap_or_default(),
                video_url: req.video_url.clone(),
                media_ids: None,
                photo_cover_index: None,
                description: None,
                auto_add_music: None,
                title: f.title.unwrap_or_default(),
                privacy_level: f.privacy_level,
                disable_comment: f.disable_comment,
                disable_duet: f.disable_duet,
                disable_stitch: f.disable_stitch,
                brand_content_toggle: f.brand_content_toggle,
                brand_organic_toggle: f.brand_organic_toggle,
                is_aigc: f.is_aigc,
                scheduled_at: f.scheduled_at,
                scheduled_tz: f.scheduled_tz,
                post_mode: req.post_mode.clone(),
                group: Some(GROUP.into()),
                video_cover_timestamp_ms: f.video_cover_timestamp_ms,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_overrides_only_what_it_names_and_its_time_brings_its_own_zone() {
        let shared = Fields {
            title: Some("shared".into()),
            privacy_level: Some("PUBLIC_TO_EVERYONE".into()),
            disable_duet: Some(true),
            scheduled_at: Some("2027-01-05T09:00".into()),
            scheduled_tz: Some("Europe/Paris".into()),
            ..Fields::default()
        };
        let own = Fields {
            title: Some("mine".into()),
            scheduled_at: Some("2027-01-05T10:00:00Z".into()),
            ..Fields::default()
        };
        let f = own.over(&shared);
        assert_eq!(f.title.as_deref(), Some("mine"));
        assert_eq!(f.privacy_level.as_deref(), Some("PUBLIC_TO_EVERYONE"));
        assert_eq!(f.disable_duet, Some(true));
        assert_eq!(f.scheduled_at.as_deref(), Some("2027-01-05T10:00:00Z"));
        assert_eq!(
            f.scheduled_tz, None,
            "the shared zone is not applied to the target's own time"
        );
        let follows = Fields::default().over(&shared);
        assert_eq!(follows.scheduled_tz.as_deref(), Some("Europe/Paris"));
        assert_eq!(follows.title.as_deref(), Some("shared"));
    }

    #[test]
    fn every_target_is_a_row_of_one_group_and_a_problem_names_its_account() {
        let req = NewGroup {
            media_id: Some("m".into()),
            video_url: None,
            post_mode: None,
            shared: Fields::default(),
            targets: vec![
                Target {
                    account_id: "@sunny".into(),
                    overrides: Fields::default(),
                },
                Target {
                    account_id: "@pia".into(),
                    overrides: Fields::default(),
                },
            ],
        };
        let rows = rows(req);
        assert_eq!(rows.len(), 2);
        assert!(
            rows.iter()
                .all(|r| r.group.as_deref() == Some(GROUP) && r.media_id == "m")
        );
        let accounts = vec!["id-1".to_owned(), "id-2".to_owned()];
        let labels = vec!["@sunny".to_owned(), "@pia".to_owned()];
        let p = named(
            &accounts,
            &labels,
            RowProblem {
                row: 2,
                code: "privacy_level_option_mismatch",
                message: "not offered".into(),
            },
        );
        assert_eq!((p.target, p.account_id.as_str()), (1, "id-2"));
        assert!(p.message.starts_with("@pia: "), "{}", p.message);
    }
}
