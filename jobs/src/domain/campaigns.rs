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

mod groups;
mod photos;

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

/// The fingerprint of a row as sent, stored as its post's request hash.
fn row_hash(row: &CampaignRow) -> String {
    use sha2::{Digest, Sha256};
    let canonical = serde_json::to_string(row).unwrap_or_default();
    hex::encode(Sha256::digest(
        format!("campaign-row:{canonical}").as_bytes(),
    ))
}

fn row_key(key: &str, row: usize) -> String {
    format!("{key}:{row}")
}

enum RowOutcome {
    Problem(RowProblem),
    Fatal(CampaignError),
}

impl From<StoreError> for RowOutcome {
    fn from(e: StoreError) -> Self {
        RowOutcome::Fatal(e.into())
    }
}

/// Where a row's video comes from.
enum RowMedia {
    Staged(MediaId),
    /// A `video_url` under a verified prefix (already checked).
    Url(String),
    /// A photo post's staged images, in order.
    Photos(Vec<MediaId>),
}

/// A row as written, resolved: the post it asks for and when.
struct Parsed<'a> {
    account: &'a TikTokAccount,
    media: RowMedia,
    req: NewPost,
    scheduled: Option<(DateTime<Utc>, Option<String>)>,
}

/// A post refusal as row `n`'s problem; a store failure stops the whole check.
fn refusal(n: usize, e: PostError) -> RowOutcome {
    match e {
        PostError::Invalid { code, message } | PostError::Conflict { code, message } => {
            RowOutcome::Problem(problem(n, code, message))
        }
        PostError::Store(e) => e.into(),
        other => RowOutcome::Problem(problem(n, "invalid_row", row_message(&other))),
    }
}

/// What checking a campaign's rows shares from one row to the next.
struct RowCheck<'a> {
    ctx: &'a JobContext,
    ws: WorkspaceId,
    accounts: &'a [TikTokAccount],
    /// Each account's creator info, fetched once per campaign.
    infos: HashMap<AccountId, Result<CreatorInfo, PostError>>,
    /// A video or photo may back one row only (a group's rows share one, see `groups`).
    videos_seen: HashSet<MediaId>,
    groups: groups::Groups,
    /// The campaign's idempotency key.
    key: &'a str,
    now: DateTime<Utc>,
}

impl<'a> RowCheck<'a> {
    /// Checks row `n`, in the order its problems are reported: an earlier send, the row's own
    /// cells, the video, the account, then TikTok's rules for the creator.
    async fn check(&mut self, row: CampaignRow, n: usize) -> Result<Checked, RowOutcome> {
        let bad =
            |code: &'static str, message: String| RowOutcome::Problem(problem(n, code, message));
        // First: did a previous send of this campaign write this row? Compared on the row as
        // sent (not on resolved times or accounts), so a retry still matches after a scheduled
        // time has passed or an account was renamed.
        let hash = row_hash(&row);
        if let Some(existing) = self
            .ctx
            .store
            .post_by_idempotency_key(self.ws, &row_key(self.key, n))
            .await?
        {
            if let Some(name) = groups::name_of(row.group.as_deref()) {
                self.groups.note_written(name, n, &existing);
            }
            return match posts::replayed(existing, &hash) {
                Ok(created) => Ok(Checked::Done(Box::new(created))),
                Err(_) => Err(bad(
                    "idempotency_key_reused",
                    "this Idempotency-Key was used for a different campaign (this row differs)"
                        .into(),
                )),
            };
        }
        let group = groups::name_of(row.group.as_deref()).map(str::to_owned);
        let Parsed {
            account,
            media,
            req,
            scheduled,
        } = self.parse(row, n)?;
        let admitted = match &group {
            Some(name) => Some(
                self.groups
                    .admit(name, n, &media, account.id)
                    .map_err(|(code, message)| bad(code, message))?,
            ),
            None => None,
        };
        let duration_ms = match (&media, admitted) {
            (RowMedia::Staged(_), Some(groups::Admitted::Shared { duration_ms })) => duration_ms,
            (RowMedia::Staged(id), Some(groups::Admitted::Resumed { posts })) => {
                self.resumed_duration(*id, &posts, n).await?
            }
            (RowMedia::Staged(media_id), _) => {
                let d = self.staged_duration(*media_id, n).await?;
                if let Some(name) = &group {
                    self.groups.set_duration(name, d);
                }
                d
            }
            // TikTok downloads it later: its length is TikTok's to check.
            (RowMedia::Url(_), _) => None,
            (RowMedia::Photos(ids), _) => {
                self.staged_photos(&req, ids, n).await?;
                None
            }
        };
        let refused = |e| refusal(n, e);
        posts::check_cover(&req, duration_ms).map_err(refused)?;
        let privacy = if req.post_mode == PostMode::Inbox {
            posts::inbox::validate_draft(&req, account).map_err(refused)?
        } else {
            if let Some(why) = accounts::cannot_publish_reason(account) {
                return Err(bad("account_cannot_publish", why));
            }
            let audited = self.ctx.config.tiktok.app_audited;
            let info = self.creator_info(account.id, n).await?;
            let seen = match media {
                RowMedia::Photos(_) => posts::photos::as_validated(&req),
                _ => req.clone(),
            };
            posts::validate(&seen, info, duration_ms)
                .and_then(|privacy| {
                    posts::unaudited::check(audited, info, privacy).map(|()| privacy)
                })
                .map_err(refused)?
        };
        Ok(Checked::Ready(Box::new(Ready {
            req,
            privacy,
            scheduled,
            hash,
            group: None,
        })))
    }

    /// The length of a video a group's earlier send attached to one of its `posts`.
    async fn resumed_duration(
        &self,
        media_id: MediaId,
        posts: &[PostId],
        n: usize,
    ) -> Result<Option<u64>, RowOutcome> {
        match self.ctx.store.media(self.ws, media_id).await {
            Ok(m) if m.post_id.is_none_or(|p| posts.contains(&p)) => Ok(m.duration_ms),
            Ok(_) => Err(RowOutcome::Problem(problem(
                n,
                "media_in_use",
                "this video is already used by a post outside this group; upload it again",
            ))),
            Err(StoreError::NotFound) => Err(RowOutcome::Problem(problem(
                n,
                "unknown_media",
                format!("no uploaded video {media_id} (it may have expired)"),
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// A staged video's duration, once it is known to be unused (by a post, or by an earlier row).
    async fn staged_duration(
        &mut self,
        media_id: MediaId,
        n: usize,
    ) -> Result<Option<u64>, RowOutcome> {
        let bad =
            |code: &'static str, message: String| RowOutcome::Problem(problem(n, code, message));
        if !self.videos_seen.insert(media_id) {
            return Err(bad(
                "media_repeated",
                "this video is already used by an earlier row; upload it once per post".into(),
            ));
        }
        match posts::unused_media(self.ctx, self.ws, media_id).await {
            Ok(m) => Ok(m.duration_ms),
            Err(PostError::NotFound) => Err(bad(
                "unknown_media",
                format!("no uploaded video {media_id} (it may have expired)"),
            )),
            Err(PostError::Conflict { code, message }) => Err(bad(code, message)),
            Err(PostError::Store(e)) => Err(e.into()),
            Err(e) => Err(bad("invalid_row", row_message(&e))),
        }
    }

    /// A photo row's images: none used by an earlier row or a post, and the photo rules kept.
    async fn staged_photos(
        &mut self,
        req: &NewPost,
        ids: &[MediaId],
        n: usize,
    ) -> Result<(), RowOutcome> {
        if ids.iter().any(|id| !self.videos_seen.insert(*id)) {
            return Err(RowOutcome::Problem(problem(
                n,
                "media_repeated",
                "this photo is already used by an earlier row; upload it once per post",
            )));
        }
        posts::photos::check_request(req).map_err(|e| refusal(n, e))?;
        posts::photos::unused_images(self.ctx, self.ws, ids)
            .await
            .map_err(|e| refusal(n, e))
    }

    /// Row `n`'s media: a staged `media_id`, a verified `video_url` or photos (`media_ids`),
    /// exactly one.
    fn media(&self, row: &CampaignRow, n: usize) -> Result<RowMedia, RowOutcome> {
        let bad =
            |code: &'static str, message: String| RowOutcome::Problem(problem(n, code, message));
        let media_id = row.media_id.trim();
        let video_url = row.video_url.as_deref().map(str::trim).unwrap_or_default();
        if row.media_ids.is_some() && video_url.is_empty() {
            return photos::media_of(row)
                .map(RowMedia::Photos)
                .map_err(|(code, message)| bad(code, message));
        }
        if row.media_ids.is_some() {
            return Err(bad(
                "media_ambiguous",
                "name either photos (media_ids) or a video_url, not both".into(),
            ));
        }
        match (media_id.is_empty(), video_url.is_empty()) {
            (false, false) => Err(bad(
                "media_ambiguous",
                "give either a media_id or a video_url, not both".into(),
            )),
            (true, true) => Err(bad(
                "media_required",
                "give the row's video: a media_id from POST /api/media or a video_url".into(),
            )),
            (true, false) => {
                posts::url::check_video_url(
                    video_url,
                    &self.ctx.config.tiktok.verified_url_prefixes,
                )
                .map_err(|e| bad(posts::url::URL_NOT_VERIFIED, row_message(&e)))?;
                Ok(RowMedia::Url(video_url.to_owned()))
            }
            (false, true) => {
                let id = MediaId::parse(media_id).map_err(|_| {
                    bad(
                        "unknown_media",
                        format!(
                            "{} is not a video id from POST /api/media",
                            quoted(media_id)
                        ),
                    )
                })?;
                Ok(RowMedia::Staged(id))
            }
        }
    }

    /// Resolves row `n`'s cells: the account, the video, the privacy level, the schedule.
    fn parse(&self, row: CampaignRow, n: usize) -> Result<Parsed<'a>, RowOutcome> {
        let bad =
            |code: &'static str, message: String| RowOutcome::Problem(problem(n, code, message));
        let account = find_account(self.accounts, row.account.trim()).ok_or_else(|| {
            bad(
                "unknown_account",
                format!(
                    "no connected TikTok account {} (use its id or @username)",
                    quoted(&row.account)
                ),
            )
        })?;
        let media = self.media(&row, n)?;
        let privacy_level = match row.privacy_level.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(p) => Some(PrivacyLevel::parse(p).ok_or_else(|| {
                bad(
                    "invalid_privacy_level",
                    format!("privacy_level {p:?} is not one of TikTok's privacy levels"),
                )
            })?),
        };
        let post_mode = match row.post_mode.as_deref().map(str::trim) {
            None | Some("" | "direct") => PostMode::Direct,
            Some("inbox") => PostMode::Inbox,
            Some(other) => {
                return Err(bad(
                    "invalid_post_mode",
                    format!("post_mode is {}; use direct or inbox", quoted(other)),
                ));
            }
        };
        let req = NewPost {
            post_mode,
            photo_cover_index: row.photo_cover_index,
            description: row.description.unwrap_or_default(),
            auto_add_music: row.auto_add_music.unwrap_or(false),
            title: row.title,
            privacy_level,
            disable_comment: row.disable_comment.unwrap_or(false),
            disable_duet: row.disable_duet.unwrap_or(false),
            disable_stitch: row.disable_stitch.unwrap_or(false),
            brand_content_toggle: row.brand_content_toggle.unwrap_or(false),
            brand_organic_toggle: row.brand_organic_toggle.unwrap_or(false),
            is_aigc: row.is_aigc.unwrap_or(false),
            video_cover_timestamp_ms: row.video_cover_timestamp_ms,
            ..match &media {
                RowMedia::Staged(id) => NewPost::staged(account.id, *id),
                RowMedia::Url(url) => NewPost::pulled(account.id, url.clone()),
                RowMedia::Photos(ids) => NewPost::photos(account.id, ids.clone()),
            }
        };
        let scheduled = match row.scheduled_at.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(now_word) if now_word.eq_ignore_ascii_case("now") => None,
            Some(at) => {
                let s = schedule_time::parse_schedule_within(
                    at,
                    row.scheduled_tz.as_deref(),
                    self.now,
                    self.ctx.config.limits.schedule_horizon,
                )
                .map_err(|e| bad(e.code(), e.to_string()))?;
                Some((s.utc, s.tz))
            }
        };
        Ok(Parsed {
            account,
            media,
            req,
            scheduled,
        })
    }

    /// Fetches, concurrently, the creator info of every account a direct row posts to: each call
    /// waits only for its own account's pacer, so a group of 20 accounts takes about one
    /// round trip, not 20. At most [`PREFETCH_CONCURRENCY`] are in flight.
    async fn prefetch_creator_infos(&mut self, rows: &[CampaignRow]) {
        use futures::StreamExt;
        let mut wanted = Vec::new();
        for row in rows {
            if row.post_mode.as_deref().map(str::trim) == Some("inbox") {
                continue;
            }
            if let Some(a) = find_account(self.accounts, row.account.trim())
                && accounts::cannot_publish_reason(a).is_none()
                && !wanted.contains(&a.id)
            {
                wanted.push(a.id);
            }
        }
        let (ctx, ws) = (self.ctx, self.ws);
        let fetched: Vec<_> = futures::stream::iter(wanted)
            .map(|id| async move {
                let info = crate::domain::paced::creator_info_paced(ctx, ws, id)
                    .await
                    .map_err(posts::account_error);
                (id, info)
            })
            .buffer_unordered(PREFETCH_CONCURRENCY)
            .collect()
            .await;
        self.infos.extend(fetched);
    }

    /// The account's creator info, fetched on its first row only: creator_info is limited to
    /// 20 calls a minute.
    async fn creator_info(
        &mut self,
        account: AccountId,
        n: usize,
    ) -> Result<&CreatorInfo, RowOutcome> {
        let bad =
            |code: &'static str, message: String| RowOutcome::Problem(problem(n, code, message));
        if !self.infos.contains_key(&account) {
            let fetched = crate::domain::paced::creator_info_paced(self.ctx, self.ws, account)
                .await
                .map_err(posts::account_error);
            self.infos.insert(account, fetched);
        }
        match &self.infos[&account] {
            Ok(info) => Ok(info),
            Err(PostError::Unavailable) => Err(RowOutcome::Fatal(CampaignError::Unavailable)),
            Err(PostError::Conflict { code, message } | PostError::Invalid { code, message }) => {
                Err(bad(code, message.clone()))
            }
            Err(PostError::Store(e)) => Err(RowOutcome::Fatal(CampaignError::Store(
                StoreError::Backend(e.to_string()),
            ))),
            Err(e) => Err(bad("cannot_post_now", row_message(e))),
        }
    }
}

#[cfg(test)]
mod tests;
