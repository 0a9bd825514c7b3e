//! The rules of a photo post (tiktok-api.md §5.4, §5.12): 1 to 35 staged JPEG/WebP images of
//! this workspace that no post uses yet, a cover among them, a title of at most 90 characters
//! and a description of at most 4000. Privacy and the comment toggle follow the video rules;
//! Duet and Stitch do not exist for photos.

use super::error::{conflict, invalid};
use super::{NewPost, PostError};
use crate::context::JobContext;
use crate::model::{MediaId, WorkspaceId};
use crate::store::StoreError;
use std::collections::HashSet;

/// TikTok's most images in one photo post.
pub const MAX_PHOTOS: usize = 35;
/// TikTok's photo title limit, in characters.
pub const MAX_PHOTO_TITLE_CHARS: usize = 90;
/// TikTok's photo description limit, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4000;

/// The checks that need nothing but the request.
pub fn check_request(req: &NewPost) -> Result<(), PostError> {
    let ids = req.media_ids.as_deref().unwrap_or_default();
    if ids.is_empty() || ids.len() > MAX_PHOTOS {
        return Err(invalid(
            "photo_count",
            format!(
                "A photo post has 1 to {MAX_PHOTOS} images; this one has {}.",
                ids.len()
            ),
        ));
    }
    if ids.iter().collect::<HashSet<_>>().len() != ids.len() {
        return Err(invalid(
            "photo_duplicate",
            "The same image is listed twice; upload it again to show it twice.",
        ));
    }
    let cover = req.photo_cover_index.unwrap_or(0);
    if cover as usize >= ids.len() {
        return Err(invalid(
            "photo_cover_index",
            format!(
                "The cover index {cover} is not one of the {} images (counting from 0).",
                ids.len()
            ),
        ));
    }
    let title = req.title.chars().count();
    if title > MAX_PHOTO_TITLE_CHARS {
        return Err(invalid(
            "photo_title_too_long",
            format!(
                "A photo post's title is {title} characters long; TikTok allows {MAX_PHOTO_TITLE_CHARS}."
            ),
        ));
    }
    let description = req.description.chars().count();
    if description > MAX_DESCRIPTION_CHARS {
        return Err(invalid(
            "photo_description_too_long",
            format!(
                "The description is {description} characters long; TikTok allows {MAX_DESCRIPTION_CHARS}."
            ),
        ));
    }
    Ok(())
}

/// The request as the shared posting rules (`super::validate`) should see it: Duet and Stitch
/// do not apply to photos, so a creator who turned them off is no reason to refuse.
pub fn as_validated(req: &NewPost) -> NewPost {
    NewPost {
        disable_duet: true,
        disable_stitch: true,
        ..req.clone()
    }
}

/// Checks that every image is a staged photo of this workspace that no post uses yet.
pub async fn unused_images(
    ctx: &JobContext,
    ws: WorkspaceId,
    ids: &[MediaId],
) -> Result<(), PostError> {
    for (n, id) in ids.iter().enumerate() {
        let media = match ctx.store.media(ws, *id).await {
            Ok(m) => m,
            Err(StoreError::NotFound) => {
                return Err(invalid(
                    "photo_not_found",
                    format!("Image {n} ({id}) is not a staged upload of this workspace."),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        if !media.container.is_image() {
            return Err(invalid(
                "photo_not_image",
                format!("Upload {n} ({id}) is a video; a photo post takes JPEG or WebP images."),
            ));
        }
        if media.post_id.is_some() {
            return Err(conflict(
                "media_in_use",
                format!("Image {n} ({id}) is already used by another post; upload it again."),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AccountId;

    fn photos(n: usize) -> NewPost {
        NewPost {
            media_id: None,
            media_ids: Some((0..n).map(|_| MediaId::new()).collect()),
            ..NewPost::staged(AccountId::new(), MediaId::new())
        }
    }

    fn code(r: Result<(), PostError>) -> &'static str {
        match r {
            Err(PostError::Invalid { code, .. }) => code,
            other => panic!("expected an invalid request, got {other:?}"),
        }
    }

    #[test]
    fn each_photo_rule_has_its_own_refusal() {
        assert!(check_request(&photos(1)).is_ok());
        assert!(check_request(&photos(35)).is_ok());
        assert_eq!(code(check_request(&photos(0))), "photo_count");
        assert_eq!(code(check_request(&photos(36))), "photo_count");
        let mut twice = photos(2);
        let ids = twice.media_ids.as_mut().unwrap();
        ids[1] = ids[0];
        assert_eq!(code(check_request(&twice)), "photo_duplicate");
        let cover = |i| NewPost {
            photo_cover_index: Some(i),
            ..photos(3)
        };
        assert!(check_request(&cover(2)).is_ok());
        assert_eq!(code(check_request(&cover(3))), "photo_cover_index");
        let titled = |n| NewPost {
            title: "é".repeat(n),
            ..photos(1)
        };
        assert!(check_request(&titled(90)).is_ok());
        assert_eq!(code(check_request(&titled(91))), "photo_title_too_long");
        let described = |n| NewPost {
            description: "d".repeat(n),
            ..photos(1)
        };
        assert!(check_request(&described(4000)).is_ok());
        assert_eq!(
            code(check_request(&described(4001))),
            "photo_description_too_long"
        );
    }

    #[test]
    fn duet_and_stitch_never_refuse_a_photo_post() {
        let req = photos(1);
        let seen = as_validated(&req);
        assert!(seen.disable_duet && seen.disable_stitch);
        assert_eq!(seen.disable_comment, req.disable_comment);
    }
}
