//! A pass-through ("post now") post as the publish job sees it. The job never has its bytes:
//! they only pass through the web request that receives them (`domain::posts::stream`). The
//! job is queued for the moment TikTok's hour for the upload is over and settles what an
//! interrupted upload left (rule 4 of `posts::stream`): it never sends a byte.

use crate::context::JobContext;
use crate::domain::outcome::{Stop, transition};
use crate::domain::posts::stream::{UPLOAD_INTERRUPTED, UPLOAD_INTERRUPTED_MESSAGE};
use crate::domain::upload::{Stored, UPLOAD_URL_TTL, after_the_url, hand_over};
use crate::model::{Post, PostState, TikTokAccount};
use crate::queue::JobError;
use crate::store::StoreError;
use chrono::{DateTime, Utc};

/// Until when the browser may still send (or resume) the post's bytes: the job waits till then.
pub(super) fn not_before(post: &Post, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let since = match post.state {
        PostState::Draft => post.created_at,
        PostState::Uploading => post.tiktok.upload_url_issued_at?,
        _ => return None,
    };
    let until = since + UPLOAD_URL_TTL;
    (now < until).then_some(until)
}

/// A pass-through post whose bytes never came: it fails (nothing was ever at TikTok). Losing
/// the compare-and-set means a PUT started it meanwhile, which is then its own story.
pub(super) async fn never_arrived(ctx: &JobContext, post: &Post) -> Result<(), JobError> {
    match transition(ctx, post, |p| {
        p.fail(
            UPLOAD_INTERRUPTED.into(),
            UPLOAD_INTERRUPTED_MESSAGE.into(),
            None,
        )
    })
    .await
    {
        Ok(_) | Err(StoreError::StaleState) | Err(StoreError::NotFound) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// An `uploading` pass-through post whose upload URL can take no more bytes: TikTok's status
/// says whether every byte arrived (then `poll_status` follows it) or not (then it fails, and
/// that publish can never become a post).
pub(super) async fn settle_interrupted(ctx: &JobContext, post: Post) -> Result<(), Stop> {
    let account: TikTokAccount = ctx
        .store
        .account(post.workspace_id, post.account_id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => Stop::refused(
                "account_gone",
                "The TikTok account of this post was disconnected.",
            ),
            e => e.into(),
        })?;
    if post.tiktok.publish_id.is_some()
        && after_the_url(ctx, &account, &post).await? == Stored::Received
    {
        return hand_over(ctx, post).await;
    }
    Err(Stop::refused(
        UPLOAD_INTERRUPTED,
        UPLOAD_INTERRUPTED_MESSAGE,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccountId, UserId};
    use crate::store::conformance::post_for;

    #[test]
    fn the_job_waits_for_the_hour_a_browser_has_to_send_or_resume() {
        let mut p = post_for(UserId::new(), AccountId::new(), PostState::Draft);
        let created = p.created_at;
        // A draft: an hour from its creation for the first byte.
        assert_eq!(not_before(&p, created), Some(created + UPLOAD_URL_TTL));
        assert_eq!(not_before(&p, created + UPLOAD_URL_TTL), None);
        // Uploading: an hour from TikTok's upload URL, to resume.
        p.state = PostState::Uploading;
        let issued = created + chrono::Duration::minutes(50);
        p.tiktok.upload_url_issued_at = Some(issued);
        assert_eq!(not_before(&p, issued), Some(issued + UPLOAD_URL_TTL));
        assert_eq!(not_before(&p, issued + UPLOAD_URL_TTL), None);
        // Anything else is not waiting for bytes.
        p.state = PostState::Processing;
        assert_eq!(not_before(&p, created), None);
    }
}
