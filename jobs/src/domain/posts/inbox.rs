//! What creating a draft for the creator's TikTok inbox (`post_mode: "inbox"`, tiktok-api.md
//! §5.3) checks, for `POST /api/posts` and campaign rows alike.
//!
//! A draft is finished by the creator in the TikTok app: they write the caption, pick who can
//! see it and the interaction settings there, with TikTok's sounds and effects. TikTok's
//! `inbox/video/init` takes only the video (`source_info`) and ignores everything else; a photo
//! draft (`content/init` with `MEDIA_UPLOAD`, §5.4) carries its title and description, which
//! the creator can still edit in the app. So:
//! - `privacy_level` is **not required** for a draft, and ignored when given: a required field
//!   TikTok then throws away would only mislead. The post stores [`DRAFT_PRIVACY`] in its place,
//!   and the views show the audience as chosen in the TikTok app, never as this value.
//! - A video draft's caption and interaction toggles are kept for our history but not sent; a
//!   photo draft sends its title and description, which TikTok's photo `post_info` takes.
//! - No `creator_info` call: TikTok asks for none in this flow, and an account granted only
//!   `video.upload` may not make it. The account must have granted `video.upload`.
//! - A photo draft keeps every photo rule (`photos::check_request`: count, duplicates, cover,
//!   90-character title, description): TikTok refuses a draft that breaks them just as it
//!   refuses such a post, and an early refusal beats a failed job.

use super::error::{conflict, invalid};
use super::{NewPost, PostError, Requested, check_title, photos};
use crate::domain::accounts;
use crate::model::{PrivacyLevel, TikTokAccount};

/// What a draft stores as its privacy level, which TikTok ignores for drafts: the most private
/// one, so nothing ever reads a draft as more public than the creator may choose.
pub const DRAFT_PRIVACY: PrivacyLevel = PrivacyLevel::SelfOnly;

/// Checks a draft request against its account. Pure, like `validate` for direct posts.
pub fn validate_draft(req: &NewPost, account: &TikTokAccount) -> Result<PrivacyLevel, PostError> {
    if let Some((code, why)) = accounts::cannot_send_drafts_reason(account) {
        return Err(conflict(code, why));
    }
    match req.source()? {
        Requested::Staged(_) | Requested::Url(_) => check_title(req)?,
        Requested::Photos(_) => photos::check_request(req)?,
        // The pass-through initialises a direct post (`posts::stream`); it has no draft form.
        Requested::Stream => {
            return Err(invalid(
                "source_not_supported",
                "A draft for the TikTok inbox is sent from an uploaded video (media_id), photos (media_ids) or a video_url.",
            ));
        }
    }
    Ok(DRAFT_PRIVACY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccountId, AccountStatus, EncryptedTokens, MediaId, PostMode, WorkspaceId};
    use chrono::{DateTime, Utc};

    fn account(scopes: &[&str]) -> TikTokAccount {
        let t = DateTime::<Utc>::UNIX_EPOCH;
        TikTokAccount {
            id: AccountId::new(),
            workspace_id: WorkspaceId::new(),
            created_by: None,
            open_id: "o".into(),
            union_id: None,
            display_name: "d".into(),
            username: None,
            avatar_url: None,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            status: AccountStatus::Active,
            status_reason: None,
            tokens: Some(EncryptedTokens {
                access_token: "a".into(),
                refresh_token: "r".into(),
                access_expires_at: t,
                refresh_expires_at: t,
            }),
            version: 1,
            created_at: t,
            updated_at: t,
        }
    }

    fn draft() -> NewPost {
        NewPost {
            post_mode: PostMode::Inbox,
            ..NewPost::staged(AccountId::new(), MediaId::new())
        }
    }

    fn code(r: Result<PrivacyLevel, PostError>) -> &'static str {
        match r {
            Err(PostError::Invalid { code, .. } | PostError::Conflict { code, .. }) => code,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_draft_needs_no_privacy_level_and_ignores_one_given() {
        let upload = account(&["video.upload"]);
        assert_eq!(validate_draft(&draft(), &upload).unwrap(), DRAFT_PRIVACY);
        let public = NewPost {
            privacy_level: Some(PrivacyLevel::PublicToEveryone),
            ..draft()
        };
        assert_eq!(validate_draft(&public, &upload).unwrap(), DRAFT_PRIVACY);
    }

    #[test]
    fn a_draft_is_refused_without_video_upload_or_with_another_source() {
        let publish_only = account(&["video.publish"]);
        assert_eq!(
            code(validate_draft(&draft(), &publish_only)),
            "scope_missing"
        );
        let stream = NewPost {
            media_id: None,
            upload: Some(super::super::UploadKind::Stream),
            ..draft()
        };
        assert_eq!(
            code(validate_draft(&stream, &account(&["video.upload"]))),
            "source_not_supported"
        );
        let long = NewPost {
            title: "x".repeat(2201),
            ..draft()
        };
        assert_eq!(
            code(validate_draft(&long, &account(&["video.upload"]))),
            "title_too_long"
        );
    }

    fn photo_draft(n: usize) -> NewPost {
        NewPost {
            post_mode: PostMode::Inbox,
            ..NewPost::photos(AccountId::new(), (0..n).map(|_| MediaId::new()).collect())
        }
    }

    #[test]
    fn a_photo_draft_needs_only_video_upload() {
        let upload = account(&["video.upload"]);
        let titled = NewPost {
            title: "é".repeat(90),
            description: "d".repeat(4000),
            photo_cover_index: Some(2),
            ..photo_draft(3)
        };
        assert_eq!(validate_draft(&titled, &upload).unwrap(), DRAFT_PRIVACY);
        assert_eq!(
            code(validate_draft(
                &photo_draft(1),
                &account(&["video.publish"])
            )),
            "scope_missing"
        );
    }

    #[test]
    fn a_photo_draft_keeps_the_photo_rules() {
        let upload = account(&["video.upload"]);
        let refused = |req: NewPost| code(validate_draft(&req, &upload));
        assert_eq!(refused(photo_draft(0)), "photo_count");
        assert_eq!(refused(photo_draft(36)), "photo_count");
        let mut twice = photo_draft(2);
        let ids = twice.media_ids.as_mut().unwrap();
        ids[1] = ids[0];
        assert_eq!(refused(twice), "photo_duplicate");
        let cover = NewPost {
            photo_cover_index: Some(3),
            ..photo_draft(3)
        };
        assert_eq!(refused(cover), "photo_cover_index");
        // 91 characters: within a video's caption limit, over a photo title's.
        let title = NewPost {
            title: "x".repeat(91),
            ..photo_draft(1)
        };
        assert_eq!(refused(title), "photo_title_too_long");
        let description = NewPost {
            description: "d".repeat(4001),
            ..photo_draft(1)
        };
        assert_eq!(refused(description), "photo_description_too_long");
    }
}
