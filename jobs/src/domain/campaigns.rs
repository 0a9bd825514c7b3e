//! Campaigns: many posts across many accounts in one request, for agencies (`POST
//! /api/campaigns`, JSON or CSV). Videos and photos are uploaded first (`POST /api/media`), then
//! the campaign names them by id, one row per post: `media_id` for a video, `media_ids` for a
//! photo post (a JSON list; in CSV, ids separated by spaces or `;`).
//!
//! All or nothing where it can be: every row is checked before any post is written (account,
//! video, the creator's live options from `creator_info`, fetched once per account, and the
//! schedule), and one bad row refuses the whole campaign with every row's problem listed.
//! Writing then goes row by row; each row's post carries the idempotency key
//! `<campaign key>:<row>`, so when something fails half way (a store outage), sending the same
//! request with the same `Idempotency-Key` again finishes the campaign without duplicating a
//! post. That is why the key is required.
//!
//! Pacing is the publish pipeline's: posts due now are queued at once and the shared pacer keeps
//! each account inside TikTok's per-minute limits; a daily cap defers the rest to the next window.

use crate::context::JobContext;
use crate::domain::accounts;
use crate::domain::posts::{self, NewPost, PostError};
use crate::domain::schedule_time;
use crate::model::{
    AccountId, Actor, MediaId, Post, PostGroup, PostId, PostMode, PrivacyLevel, TikTokAccount,
    WorkspaceId,
};
use crate::store::{Created, StoreError};
use crate::tiktok::CreatorInfo;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

mod check;
mod groups;
mod photos;

#[cfg(test)]
use check::row_hash;
use check::{RowCheck, RowOutcome, row_key};

pub use groups::MAX_GROUP;

/// The most rows one campaign may have.
pub const MAX_ROWS: usize = 1000;
/// How many accounts' creator info a campaign asks TikTok for at once.
const PREFETCH_CONCURRENCY: usize = 16;
/// The longest campaign idempotency key (row keys append `:<row>`).
pub const MAX_KEY: usize = 150;

/// One row: one video (or one photo post) to one account. `account` is the account's id or its
/// `@username`; the media is a staged `media_id`, a `video_url` TikTok downloads, or the
/// `media_ids` of a photo post (exactly one of them). Fields added later are left out of the
/// row's fingerprint when unset, so a row of an older client hashes as it always did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignRow {
    pub account: String,
    /// A video; empty for a URL or a photo post.
    #[serde(default)]
    pub media_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_url: Option<String>,
    /// A photo post's images, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_cover_index: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_add_music: Option<bool>,
    #[serde(default)]
    pub title: String,
    /// Required, as on every post: TikTok forbids a default.
    #[serde(default)]
    pub privacy_level: Option<String>,
    #[serde(default)]
    pub disable_comment: Option<bool>,
    #[serde(default)]
    pub disable_duet: Option<bool>,
    #[serde(default)]
    pub disable_stitch: Option<bool>,
    #[serde(default)]
    pub brand_content_toggle: Option<bool>,
    #[serde(default)]
    pub brand_organic_toggle: Option<bool>,
    #[serde(default)]
    pub is_aigc: Option<bool>,
    /// RFC 3339 with an offset, a local time with `scheduled_tz`, or empty/"now".
    #[serde(default)]
    pub scheduled_at: Option<String>,
    #[serde(default)]
    pub scheduled_tz: Option<String>,
    /// `direct` (empty: the default) or `inbox`: a draft the creator finishes in the TikTok app
    /// (no privacy level needed, see `posts::inbox`). Left out of the row's hash when unset, so
    /// older campaigns sent again still match their posts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_mode: Option<String>,
    /// Rows naming the same group are one compose sent to several accounts: they share one
    /// video (the same `media_id` or `video_url`), each to a different account (`groups`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// A video's cover frame, in ms from its start (see `posts::check_cover`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_cover_timestamp_ms: Option<u32>,
}

/// What is wrong with one row (rows are numbered from 1, the CSV header not counted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowProblem {
    pub row: usize,
    pub code: &'static str,
    pub message: String,
}

/// Why a campaign was refused or stopped.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error("{0}")]
    Malformed(String),
    #[error("{} of the campaign's rows have problems; no post was created", .0.len())]
    Rows(Vec<RowProblem>),
    /// Writing stopped at `problem.row`; rows before it were created. Sending the same request
    /// with the same key again finishes the campaign.
    #[error("the campaign stopped at row {}: {}; rows before it were created. Send the same request with the same Idempotency-Key to finish it", .problem.row, .problem.message)]
    Stopped { created: usize, problem: RowProblem },
    #[error("TikTok is unavailable right now; nothing was created, try again in a moment")]
    Unavailable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One created (or, on a retry, already created) post per row, in row order.
#[derive(Debug)]
pub struct CampaignResult {
    pub posts: Vec<Created<Post>>,
}

/// Reads a CSV campaign: a header row naming the columns of [`CampaignRow`] (any order; only
/// `account` and one of `media_id`, `video_url` and `media_ids` are required), then one row per
/// post. Booleans are `true`/`false` (or `1`/`0`, `yes`/`no`); `media_ids` are separated by
/// spaces or `;`; empty cells mean "not given".
pub fn parse_csv(bytes: &[u8]) -> Result<Vec<CampaignRow>, CampaignError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| CampaignError::Malformed(format!("the CSV header cannot be read: {e}")))?
        .clone();
    let has = |column: &str| headers.iter().any(|h| h == column);
    if !has("account") {
        return Err(CampaignError::Malformed(
            "the CSV header has no `account` column".into(),
        ));
    }
    if !has("media_id") && !has("video_url") && !has("media_ids") {
        return Err(CampaignError::Malformed(
            "the CSV header has no `media_id` (video), `video_url` or `media_ids` (photos) column"
                .into(),
        ));
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 1;
        let record = record
            .map_err(|e| CampaignError::Malformed(format!("CSV row {row} cannot be read: {e}")))?;
        if rows.len() == MAX_ROWS {
            return Err(too_many());
        }
        let cell = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .and_then(|i| record.get(i))
                .map(str::to_owned)
                .filter(|v| !v.is_empty())
        };
        let flag = |name: &str| -> Result<Option<bool>, CampaignError> {
            match cell(name)
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                None => Ok(None),
                Some("true" | "1" | "yes") => Ok(Some(true)),
                Some("false" | "0" | "no") => Ok(Some(false)),
                // Quoted clipped: a cell can be megabytes, an error message must not be.
                Some(other) => Err(CampaignError::Malformed(format!(
                    "CSV row {row}: {name} is {}; use true or false",
                    quoted(other)
                ))),
            }
        };
        rows.push(CampaignRow {
            account: cell("account").unwrap_or_default(),
            media_id: cell("media_id").unwrap_or_default(),
            video_url: cell("video_url"),
            media_ids: cell("media_ids").map(|ids| photos::split_ids(&ids)),
            photo_cover_index: photos::cover_cell(cell("photo_cover_index"), row)?,
            description: cell("description"),
            auto_add_music: flag("auto_add_music")?,
            title: cell("title").unwrap_or_default(),
            privacy_level: cell("privacy_level"),
            disable_comment: flag("disable_comment")?,
            disable_duet: flag("disable_duet")?,
            disable_stitch: flag("disable_stitch")?,
            brand_content_toggle: flag("brand_content_toggle")?,
            brand_organic_toggle: flag("brand_organic_toggle")?,
            is_aigc: flag("is_aigc")?,
            scheduled_at: cell("scheduled_at"),
            scheduled_tz: cell("scheduled_tz"),
            post_mode: cell("post_mode"),
            group: cell("group"),
            video_cover_timestamp_ms: cell("video_cover_timestamp_ms")
                .map(|c| {
                    c.parse().map_err(|_| {
                        CampaignError::Malformed(format!(
                            "CSV row {row}: video_cover_timestamp_ms is {}; use a whole number of milliseconds from 0",
                            quoted(&c)
                        ))
                    })
                })
                .transpose()?,
        });
    }
    Ok(rows)
}

fn too_many() -> CampaignError {
    CampaignError::Malformed(format!("a campaign has at most {MAX_ROWS} rows; split it"))
}

/// A row checked and ready to write.
struct Ready {
    req: NewPost,
    privacy: PrivacyLevel,
    scheduled: Option<(DateTime<Utc>, Option<String>)>,
    hash: String,
    /// Its group and place in it, assigned once every row is checked.
    group: Option<(PostGroup, usize)>,
}

/// What a row turned out to be before writing.
enum Checked {
    Ready(Box<Ready>),
    /// A previous send of this campaign already created it.
    Done(Box<Created<Post>>),
}

/// A cell quoted into an error message, clipped: a cell can be megabytes, a message must not.
pub fn quoted(cell: &str) -> String {
    const MAX: usize = 40;
    let clipped: String = cell.chars().take(MAX).collect();
    if cell.chars().nth(MAX).is_some() {
        format!("{clipped:?}…")
    } else {
        format!("{clipped:?}")
    }
}

/// What a row's author may read of a post failure: the refusal's own words, never the text of
/// a store or queue error (which names tables, hosts and drivers): that is logged instead.
fn row_message(e: &PostError) -> String {
    match e {
        PostError::Invalid { message, .. } | PostError::Conflict { message, .. } => message.clone(),
        PostError::NotFound | PostError::Unavailable | PostError::InsufficientRole => e.to_string(),
        PostError::Store(_) | PostError::Queue(_) => {
            tracing::error!(error = %e, "a campaign row failed");
            "this row could not be written because of an internal error".into()
        }
    }
}

fn problem(row: usize, code: &'static str, message: impl Into<String>) -> RowProblem {
    RowProblem {
        row,
        code,
        message: message.into(),
    }
}

/// How a creator recognises the account `wanted` (an id or `@username`): `@username`, else its
/// display name, else `wanted` as given.
pub fn account_label(accounts: &[TikTokAccount], wanted: &str) -> String {
    match find_account(accounts, wanted.trim()) {
        Some(a) => match &a.username {
            Some(u) => format!("@{u}"),
            None => a.display_name.clone(),
        },
        None => wanted.to_owned(),
    }
}

fn find_account<'a>(accounts: &'a [TikTokAccount], wanted: &str) -> Option<&'a TikTokAccount> {
    if let Ok(id) = AccountId::parse(wanted) {
        return accounts.iter().find(|a| a.id == id);
    }
    let name = wanted.trim_start_matches('@');
    accounts.iter().find(|a| {
        a.username
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case(name))
    })
}

/// Checks every row, then creates one post per row (see the module doc). `key` is the
/// campaign's idempotency key.
pub async fn create(
    ctx: &JobContext,
    by: Actor,
    rows: Vec<CampaignRow>,
    key: &str,
) -> Result<CampaignResult, CampaignError> {
    if rows.is_empty() {
        return Err(CampaignError::Malformed("the campaign has no rows".into()));
    }
    if rows.len() > MAX_ROWS {
        return Err(too_many());
    }
    let accounts = ctx.store.list_accounts(by.workspace).await?;
    let mut rows_check = RowCheck {
        ctx,
        ws: by.workspace,
        accounts: &accounts,
        infos: HashMap::new(),
        videos_seen: HashSet::new(),
        groups: groups::Groups::default(),
        key,
        now: Utc::now(),
    };
    rows_check.prefetch_creator_infos(&rows).await;
    let mut problems = Vec::new();
    let mut checked = Vec::with_capacity(rows.len());
    for (i, row) in rows.into_iter().enumerate() {
        match rows_check.check(row, i + 1).await {
            Ok(c) => checked.push(c),
            Err(RowOutcome::Problem(p)) => problems.push(p),
            Err(RowOutcome::Fatal(e)) => return Err(e),
        }
    }
    if !problems.is_empty() {
        return Err(CampaignError::Rows(problems));
    }
    let mut placed = rows_check
        .groups
        .assign()
        .map_err(CampaignError::Malformed)?;
    for (i, c) in checked.iter_mut().enumerate() {
        if let Checked::Ready(r) = c {
            r.group = placed.remove(&(i + 1));
        }
    }
    let who = posts::approval::Submitter::of(ctx, by).await?;
    let posts = write_rows(ctx, who, checked, key).await?;
    tracing::info!(
        rows = posts.len(),
        created = posts.iter().filter(|p| p.created).count(),
        "campaign created"
    );
    Ok(CampaignResult { posts })
}

/// Writes the checked rows in order; the first that fails stops the campaign.
async fn write_rows(
    ctx: &JobContext,
    who: posts::approval::Submitter,
    checked: Vec<Checked>,
    key: &str,
) -> Result<Vec<Created<Post>>, CampaignError> {
    let mut posts = Vec::with_capacity(checked.len());
    for (i, c) in checked.into_iter().enumerate() {
        let n = i + 1;
        let r = match c {
            Checked::Done(created) => {
                posts.push(*created);
                continue;
            }
            Checked::Ready(r) => r,
        };
        let writing = posts::Writing {
            idempotency_key: Some(row_key(key, n)),
            hash: r.hash,
            group: r.group,
        };
        match posts::insert(ctx, who, &r.req, r.privacy, r.scheduled, writing).await {
            Ok(created) => posts.push(created),
            Err(e) => {
                let (code, message) = match &e {
                    PostError::Conflict { code, message }
                    | PostError::Invalid { code, message } => (*code, message.clone()),
                    other => ("write_failed", row_message(other)),
                };
                // A queue failure comes after the post was written (the stuck-post sweep
                // queues it later), so that row counts as created.
                let written = usize::from(matches!(e, PostError::Queue(_)));
                return Err(CampaignError::Stopped {
                    created: posts.iter().filter(|p| p.created).count() + written,
                    problem: problem(n, code, message),
                });
            }
        }
    }
    Ok(posts)
}

#[cfg(test)]
mod tests;
