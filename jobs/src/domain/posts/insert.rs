//! Writing a validated post: the second half of `create`, shared with campaigns and groups.

use super::*;

/// How a validated post is written: its idempotency key and request fingerprint, and its place
/// in a group when it is one of several posts of one compose.
pub(crate) struct Writing {
    pub idempotency_key: Option<String>,
    pub hash: String,
    /// The group and this post's index in it: the post takes the id the group reserved for it,
    /// and only the group's first post attaches the shared video (the others read it).
    pub group: Option<(PostGroup, usize)>,
}

impl Writing {
    /// A post on its own.
    pub(crate) fn alone(idempotency_key: Option<String>, hash: String) -> Self {
        Writing {
            idempotency_key,
            hash,
            group: None,
        }
    }
}

/// Writes a validated post, attaches its video and (unless scheduled, or waiting for approval)
/// queues it: the second half of [`create`], shared with campaigns, which validate every row
/// before writing any.
pub(crate) async fn insert(
    ctx: &JobContext,
    who: approval::Submitter,
    req: &NewPost,
    privacy: PrivacyLevel,
    scheduled: Option<(DateTime<Utc>, Option<String>)>,
    writing: Writing,
) -> Result<Created<Post>, PostError> {
    let Writing {
        idempotency_key,
        hash,
        group,
    } = writing;
    let now = Utc::now();
    let by = who.by;
    let (source, staged) = source_of(req)?;
    let state = if who.needs_approval {
        PostState::PendingApproval
    } else if source == PostSource::Stream {
        // Waits for its bytes (`PUT /api/posts/{id}/video`).
        PostState::Draft
    } else if scheduled.is_some() {
        PostState::Scheduled
    } else {
        PostState::Queued
    };
    let id = match &group {
        Some((g, index)) => g.posts[*index],
        None => PostId::new(),
    };
    // The group's first post holds the shared video; the others only read it.
    let to_attach: &[MediaId] = match &group {
        Some((_, index)) if *index > 0 => &[],
        _ => &staged,
    };
    let post = Post {
        id,
        workspace_id: by.workspace,
        created_by: Some(by.user),
        account_id: req.account_id,
        media_id: match source {
            PostSource::Staged => staged.first().copied(),
            _ => None,
        },
        source,
        mode: req.post_mode,
        settings: settings_of(req, privacy),
        state,
        version: 0,
        scheduled_at: scheduled.as_ref().map(|(at, _)| *at),
        scheduled_tz: scheduled.and_then(|(_, tz)| tz),
        tiktok: TikTokProgress::default(),
        error_code: None,
        error_message: None,
        late_by_ms: None,
        idempotency_key,
        request_hash: Some(hash.clone()),
        media_deleted_at: None,
        group: group.map(|(g, _)| g),
        published_at: None,
        created_at: now,
        updated_at: now,
    };
    let created = ctx.store.create_post(&post).await?;
    if !created.created {
        return replayed(created.value, &hash); // lost a race with the same key
    }
    // Attach the staged media; if another post grabbed any meanwhile, undo the post (no half
    // state).
    if let Err(e) = attach_all(ctx, by.workspace, to_attach, post.id).await {
        let _ = ctx.store.delete_post(by.workspace, post.id).await;
        return Err(match e {
            StoreError::StaleState | StoreError::Conflict(_) => conflict(
                "media_in_use",
                "This video is already used by another post; upload it again for a new post.",
            ),
            e => e.into(),
        });
    }
    queue_new(ctx, &post, now).await?;
    tracing::info!(post_id = %post.id, state = %state, "post created");
    Ok(created)
}

/// The post's source as stored, and every staged file it reads.
fn source_of(req: &NewPost) -> Result<(PostSource, Vec<MediaId>), PostError> {
    Ok(match req.source()? {
        Requested::Staged(id) => (PostSource::Staged, vec![id]),
        Requested::Stream => (PostSource::Stream, vec![]),
        Requested::Url(video_url) => (PostSource::Url { video_url }, vec![]),
        Requested::Photos(media_ids) => (
            PostSource::Photos(PhotoPost {
                cover_index: req.photo_cover_index.unwrap_or(0),
                description: req.description.clone(),
                auto_add_music: req.auto_add_music,
                media_ids: media_ids.clone(),
            }),
            media_ids,
        ),
    })
}

fn settings_of(req: &NewPost, privacy: PrivacyLevel) -> PostSettings {
    PostSettings {
        title: req.title.clone(),
        privacy_level: privacy,
        disable_comment: req.disable_comment,
        disable_duet: req.disable_duet,
        disable_stitch: req.disable_stitch,
        brand_content_toggle: req.brand_content_toggle,
        brand_organic_toggle: req.brand_organic_toggle,
        is_aigc: req.is_aigc,
        video_cover_timestamp_ms: req.video_cover_timestamp_ms,
    }
}

/// Queues a new post's first job, after the write: a crash in between leaves a `queued` post
/// that the scheduler's reconcile sweep enqueues.
async fn queue_new(ctx: &JobContext, post: &Post, now: DateTime<Utc>) -> Result<(), PostError> {
    let job = PublishPost {
        workspace_id: post.workspace_id,
        post_id: post.id,
    };
    let pushed = match post.state {
        // The publish job settles what an interrupted pass-through leaves, once TikTok's hour
        // for it is over (`stream`, rule 4); queued now so a web process that dies mid-body
        // leaves nothing unsettled. Should this push fail, the scheduler's stuck-post sweep
        // pushes it once the post is older than `stream_settle_after` and still `draft`.
        PostState::Draft => ctx.queue.push_at(&job, now + stream_settle_after()).await,
        PostState::Queued => ctx.queue.push(&job).await,
        _ => return Ok(()),
    };
    pushed
        .map(drop)
        .map_err(|e| PostError::Queue(e.to_string()))
}

/// Attaches every staged file to `post`, in order. When one fails (another post took it), the
/// ones already attached are detached again, so no image stays tied to a post that is undone.
async fn attach_all(
    ctx: &JobContext,
    ws: WorkspaceId,
    media: &[MediaId],
    post: PostId,
) -> Result<(), StoreError> {
    for (n, id) in media.iter().enumerate() {
        if let Err(e) = ctx.store.attach_media(ws, *id, post).await {
            for done in &media[..n] {
                if let Err(undo) = ctx.store.detach_media(ws, *done, post).await {
                    tracing::warn!(media_id = %done, error = %undo, "could not detach media of an undone post");
                }
            }
            return Err(e);
        }
    }
    Ok(())
}
