//! A workspace's staged videos: uploading one within the limits (`MAX_UPLOAD_BYTES` for one upload,
//! the staging quota of [`crate::domain::quota`] for all of them) and deleting one no post uses.
//!
//! An upload is checked twice. [`admit`] looks at the declared length before a byte is read, so
//! a clearly-too-big upload is refused at once (and the web tier can still answer with a plain
//! status); [`Upload::stage`] then streams the body into staging and settles the quota with the
//! real size, deleting the video again (object and row) when it does not fit.

use crate::context::JobContext;
use crate::domain::quota::{self, QuotaError};
use crate::model::{Actor, Media, MediaId, PostId, WorkspaceId};
use crate::staging::{Progress, Staging, StagingError, UploadLimits};
use crate::store::DynStore;
use bytes::Bytes;
use futures::Stream;
use std::fmt;

/// Why a video was not staged or deleted.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error(transparent)]
    Staging(#[from] StagingError),
    /// A video a post (this one) uses is the post's to delete.
    #[error("a post uses this video; cancel or delete the post instead")]
    InUse(PostId),
    #[error(transparent)]
    Quota(#[from] QuotaError),
}

/// An upload admitted by its declared length, ready to read its body.
pub struct Upload {
    staging: Staging,
    store: DynStore,
    by: Actor,
    limits: UploadLimits,
    quota: u64,
}

/// Admits an upload of `declared_len` bytes (the `Content-Length`, when sent) by `by` into
/// their workspace: refused when it is over `MAX_UPLOAD_BYTES` or does not fit the
/// workspace's staging quota.
pub async fn admit(
    ctx: &JobContext,
    by: Actor,
    declared_len: Option<u64>,
) -> Result<Upload, MediaError> {
    let limits =
        UploadLimits::new(ctx.config.staging.max_upload_bytes).with_declared_len(declared_len);
    if limits.declared_len.is_some_and(|n| n > limits.max_bytes) {
        return Err(StagingError::TooLarge {
            limit: limits.max_bytes,
        }
        .into());
    }
    let quota = ctx.config.staging.quota_bytes;
    if let Some(declared) = limits.declared_len {
        // Before a byte is stored; `Upload::stage` checks the real size afterwards.
        quota::check_room(ctx.store.as_ref(), by.workspace, declared, quota).await?;
    }
    Ok(Upload {
        staging: ctx.staging.clone(),
        store: ctx.store.clone(),
        by,
        limits,
        quota,
    })
}

impl Upload {
    /// Streams `body` into staging (calling `progress` as it arrives), then keeps the video
    /// only if the workspace's staged total still fits the quota.
    pub async fn stage(
        self,
        body: impl Stream<Item = Result<Bytes, impl fmt::Display>> + Send,
        progress: Option<Progress<'_>>,
    ) -> Result<Media, MediaError> {
        let media = self
            .staging
            .stage(self.by, body, self.limits, progress)
            .await?;
        Ok(quota::settle(self.store.as_ref(), &self.staging, media, self.quota).await?)
    }
}

/// Deletes the workspace's staged video `id` (object and row), unless a post uses it.
pub async fn delete(ctx: &JobContext, ws: WorkspaceId, id: MediaId) -> Result<(), MediaError> {
    let media = ctx.store.media(ws, id).await.map_err(StagingError::Store)?;
    if let Some(post) = media.post_id {
        return Err(MediaError::InUse(post));
    }
    ctx.staging.delete(&media).await?;
    Ok(())
}
