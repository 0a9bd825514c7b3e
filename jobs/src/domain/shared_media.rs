//! The one staged video of a post group (`Post::group`): every post of the group reads it, and
//! it is deleted when the last of them no longer needs it, however and in whatever order they
//! finish.
//!
//! # Why the video is deleted exactly when the last post lets it go
//! A post lets the video go when it reaches a state that never reads it again ([`released`]).
//! Every path that takes a post there goes through [`outcome::remove_staged_object`] twice:
//! once before writing that state (so a lone last post still deletes before it reads
//! "published", as a single post does) and once after it is written (`delete_staged_media`).
//! The object is deleted when every *other* post of the group is released.
//!
//! Two posts finishing together cannot both skip the deletion: each checks its siblings only
//! after its own state is written, so whichever check runs last sees both written. Both may
//! delete: deleting is idempotent. A worker that dies between writing the state and checking
//! leaves the video behind until its job runs again (the queue redelivers an unacknowledged
//! job, and a finished grouped post whose video is not recorded as deleted checks again).
//!
//! Only a post's own job writes to it: siblings are read, never written (a write would move
//! their version under a job that is driving them). So a sibling that let the video go before
//! it was deleted does not record the deletion; a retry of it finds the video gone.
//!
//! [`outcome::remove_staged_object`]: super::outcome::remove_staged_object

use crate::context::JobContext;
use crate::model::{Post, PostGroup, PostState};
use crate::store::StoreError;

/// True when `p` will never read the staged video again: its video was deleted or let go, it
/// ended, or TikTok has all of it.
pub(crate) fn released(p: &Post) -> bool {
    p.media_deleted_at.is_some()
        || p.state.is_terminal()
        || p.tiktok_has_video()
        || matches!(p.state, PostState::Failed | PostState::InInbox)
}

/// True when every post of `group` but `post` is released, so `post` is the last holder.
/// A sibling that cannot be read is taken as holding on (the video stays; nothing is lost).
pub(crate) async fn others_released(ctx: &JobContext, post: &Post, group: &PostGroup) -> bool {
    for id in group.posts.iter().filter(|id| **id != post.id) {
        match ctx.store.post(post.workspace_id, *id).await {
            Ok(sibling) if released(&sibling) => {}
            // A sibling whose creation was rolled back never needs it.
            Err(StoreError::NotFound) => {}
            Ok(_) => return false,
            Err(e) => {
                tracing::warn!(sibling = %id, error = %e, "could not read a sibling post; keeping the shared video");
                return false;
            }
        }
    }
    true
}
