//! Cancelling posts: one the creator calls back, and every post TikTok has nothing of yet when
//! an account is disconnected or a user erased.

use super::error::conflict;
use super::{PostError, url};
use crate::context::JobContext;
use crate::domain::outcome::{delete_staged_media, transition};
use crate::model::{AccountId, Post, PostId, PostSource, PostState, WorkspaceId};
use crate::store::StoreError;

/// Cancels a post that has not started uploading; its staged video is deleted at once. A URL
/// post can also be cancelled while TikTok is still downloading it ([`url::cancel_download`]), a
/// pass-through one stopped mid-way once TikTok says bytes are missing (`stream::cancel_midway`).
pub async fn cancel(ctx: &JobContext, ws: WorkspaceId, id: PostId) -> Result<Post, PostError> {
    loop {
        let post = ctx.store.post(ws, id).await?;
        if url::downloading(&post) {
            return url::cancel_download(ctx, post).await;
        }
        if post.source == PostSource::Stream && post.state == PostState::Uploading {
            return super::stream::cancel_midway(ctx, &post).await;
        }
        if !matches!(
            post.state,
            PostState::Draft
                | PostState::Scheduled
                | PostState::Queued
                | PostState::NeedsReconnect
                | PostState::PendingApproval
        ) {
            return Err(conflict(
                "not_cancellable",
                format!(
                    "This post is {} and can no longer be cancelled (TikTok already has it or it is finished).",
                    post.state
                ),
            ));
        }
        match transition(ctx, &post, Post::cancel).await {
            Ok(cancelled) => {
                delete_staged_media(ctx, &cancelled).await;
                return Ok(ctx.store.post(ws, id).await?);
            }
            // The scheduler or a worker moved it meanwhile: look again.
            Err(StoreError::StaleState) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The post states TikTok has nothing of yet.
const NOT_AT_TIKTOK: [PostState; 5] = [
    PostState::Draft,
    PostState::PendingApproval,
    PostState::Scheduled,
    PostState::Queued,
    PostState::NeedsReconnect,
];

/// Cancels the workspace's posts that TikTok has nothing of yet (all of them, or one account's),
/// recording `code` and `message` as the reason, and deletes their staged videos at once. A post
/// the scheduler or a worker moves meanwhile is read again; one that reached TikTok is left to
/// finish. Used when an account is disconnected and when a user is erased. Returns how many
/// were cancelled.
pub async fn cancel_unsent(
    ctx: &JobContext,
    ws: WorkspaceId,
    only_account: Option<AccountId>,
    code: &'static str,
    message: &'static str,
) -> Result<usize, StoreError> {
    const PAGE: u32 = 200;
    let mut cancelled = 0;
    let mut cursor: Option<String> = None;
    loop {
        let page = ctx.store.list_posts(ws, cursor.as_deref(), PAGE).await?;
        for post in &page.items {
            if only_account.is_some_and(|a| a != post.account_id) {
                continue;
            }
            let mut current = post.clone();
            for _ in 0..3 {
                if !NOT_AT_TIKTOK.contains(&current.state) {
                    break;
                }
                match transition(ctx, &current, move |p| p.cancel_because(code, message)).await {
                    Ok(done) => {
                        delete_staged_media(ctx, &done).await;
                        cancelled += 1;
                        break;
                    }
                    Err(StoreError::StaleState) => match ctx.store.post(ws, post.id).await {
                        Ok(p) => current = p,
                        Err(StoreError::NotFound) => break,
                        Err(e) => return Err(e),
                    },
                    Err(StoreError::NotFound) => break,
                    Err(e) => return Err(e),
                }
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(cancelled)
}
