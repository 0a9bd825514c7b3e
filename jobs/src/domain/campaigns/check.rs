//! Checking a campaign's rows before any is written: each row's cells, its video, its account
//! and TikTok's rules for the creator (`RowCheck`), with the creator info of every account
//! fetched up front.

use super::*;

/// The fingerprint of a row as sent, stored as its post's request hash.
pub(super) fn row_hash(row: &CampaignRow) -> String {
    use sha2::{Digest, Sha256};
    let canonical = serde_json::to_string(row).unwrap_or_default();
    hex::encode(Sha256::digest(
        format!("campaign-row:{canonical}").as_bytes(),
    ))
}

pub(super) fn row_key(key: &str, row: usize) -> String {
    format!("{key}:{row}")
}

pub(super) enum RowOutcome {
    Problem(RowProblem),
    Fatal(CampaignError),
}

impl From<StoreError> for RowOutcome {
    fn from(e: StoreError) -> Self {
        RowOutcome::Fatal(e.into())
    }
}

/// Where a row's video comes from.
pub(super) enum RowMedia {
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
pub(super) fn refusal(n: usize, e: PostError) -> RowOutcome {
    match e {
        PostError::Invalid { code, message } | PostError::Conflict { code, message } => {
            RowOutcome::Problem(problem(n, code, message))
        }
        PostError::Store(e) => e.into(),
        other => RowOutcome::Problem(problem(n, "invalid_row", row_message(&other))),
    }
}

/// What checking a campaign's rows shares from one row to the next.
pub(super) struct RowCheck<'a> {
    pub(super) ctx: &'a JobContext,
    pub(super) ws: WorkspaceId,
    pub(super) accounts: &'a [TikTokAccount],
    /// Each account's creator info, fetched once per campaign.
    pub(super) infos: HashMap<AccountId, Result<CreatorInfo, PostError>>,
    /// A video or photo may back one row only (a group's rows share one, see `groups`).
    pub(super) videos_seen: HashSet<MediaId>,
    pub(super) groups: groups::Groups,
    /// The campaign's idempotency key.
    pub(super) key: &'a str,
    pub(super) now: DateTime<Utc>,
}

impl<'a> RowCheck<'a> {
    /// Checks row `n`, in the order its problems are reported: an earlier send, the row's own
    /// cells, the video, the account, then TikTok's rules for the creator.
    pub(super) async fn check(
        &mut self,
        row: CampaignRow,
        n: usize,
    ) -> Result<Checked, RowOutcome> {
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
        let duration_ms = self
            .media_checked(&media, &req, group.as_deref(), account.id, n)
            .await?;
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

    /// Row `n`'s media checked (unused, or its group's), and the video's length when known. A
    /// grouped row joins its group first: the group's video is checked on its first row only.
    async fn media_checked(
        &mut self,
        media: &RowMedia,
        req: &NewPost,
        group: Option<&str>,
        account: AccountId,
        n: usize,
    ) -> Result<Option<u64>, RowOutcome> {
        let admitted = match group {
            Some(name) => Some(
                self.groups
                    .admit(name, n, media, account)
                    .map_err(|(code, message)| RowOutcome::Problem(problem(n, code, message)))?,
            ),
            None => None,
        };
        Ok(match (media, admitted) {
            (RowMedia::Staged(_), Some(groups::Admitted::Shared { duration_ms })) => duration_ms,
            (RowMedia::Staged(id), Some(groups::Admitted::Resumed { posts })) => {
                self.resumed_duration(*id, &posts, n).await?
            }
            (RowMedia::Staged(media_id), _) => {
                let d = self.staged_duration(*media_id, n).await?;
                if let Some(name) = group {
                    self.groups.set_duration(name, d);
                }
                d
            }
            // TikTok downloads it later: its length is TikTok's to check.
            (RowMedia::Url(_), _) => None,
            (RowMedia::Photos(ids), _) => {
                self.staged_photos(req, ids, n).await?;
                None
            }
        })
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
    pub(super) async fn prefetch_creator_infos(&mut self, rows: &[CampaignRow]) {
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
