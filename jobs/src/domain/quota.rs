//! The per-workspace staging quota (`STAGING_QUOTA_BYTES`, default 20 GiB): how many bytes of video
//! one workspace may have staged at once, counting every video uploaded and not yet deleted
//! (attached to a post or not). It keeps one account from filling the staging store.
//!
//! Uploads are checked twice: before streaming, against the declared `Content-Length` (so a
//! clearly-too-big upload is refused before a byte is stored), and after, with the real size
//! and the media row already written ([`settle`]). The second check sees every upload that
//! finished before it, including concurrent ones: if the total is over, this upload is deleted
//! again (object and row) and refused. Two racing uploads that together pass the quota may
//! both be refused; neither can slip through.

use crate::model::{Media, WorkspaceId};
use crate::staging::Staging;
use crate::store::{Store, StoreError};

/// Why an upload does not fit.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    #[error(
        "your staged videos use {} of your {} staging quota, and this {} upload does not fit; \
         publish, cancel or delete staged videos first",
        human(*used), human(*quota), human(*incoming)
    )]
    Exceeded {
        used: u64,
        incoming: u64,
        quota: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Refuses an upload of `incoming` bytes (the declared length) that cannot fit.
pub async fn check_room(
    store: &dyn Store,
    ws: WorkspaceId,
    incoming: u64,
    quota: u64,
) -> Result<(), QuotaError> {
    let used = store.staged_bytes(ws).await?;
    if used.saturating_add(incoming) > quota {
        return Err(QuotaError::Exceeded {
            used,
            incoming,
            quota,
        });
    }
    Ok(())
}

/// After `media` was staged: keeps it if the workspace's total (this video included) fits, else
/// deletes it again and refuses. A failed deletion is logged: the expired-media sweep removes
/// the unattached video at its deadline.
pub async fn settle(
    store: &dyn Store,
    staging: &Staging,
    media: Media,
    quota: u64,
) -> Result<Media, QuotaError> {
    let total = match store.staged_bytes(media.workspace_id).await {
        Ok(t) => t,
        Err(e) => {
            discard(staging, &media).await;
            return Err(e.into());
        }
    };
    if total > quota {
        discard(staging, &media).await;
        return Err(QuotaError::Exceeded {
            used: total.saturating_sub(media.size),
            incoming: media.size,
            quota,
        });
    }
    Ok(media)
}

async fn discard(staging: &Staging, media: &Media) {
    if let Err(e) = staging.delete(media).await {
        tracing::warn!(media_id = %media.id, error = %e, "refused upload not deleted; the expired-media sweep will");
    }
}

/// Bytes for people: `20 GiB`, `1.5 MiB`, `812 bytes`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    let text = format!("{value:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human(812), "812 bytes");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(20 << 30), "20 GiB");
        assert_eq!(human(3 << 40), "3 TiB");
    }

    #[test]
    fn the_refusal_names_usage_quota_and_upload() {
        let e = QuotaError::Exceeded {
            used: 19 << 30,
            incoming: 2 << 30,
            quota: 20 << 30,
        };
        let m = e.to_string();
        assert!(
            m.contains("19 GiB") && m.contains("20 GiB") && m.contains("2 GiB"),
            "{m}"
        );
    }
}
