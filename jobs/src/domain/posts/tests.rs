//! The posting rules, one refusal each.

use super::*;

fn info() -> CreatorInfo {
    serde_json::from_value(serde_json::json!({
        "privacy_level_options": ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"],
        "comment_disabled": false, "duet_disabled": false, "stitch_disabled": true,
        "max_video_post_duration_sec": 60
    }))
    .unwrap()
}

fn req() -> NewPost {
    NewPost {
        title: "hello".into(),
        privacy_level: Some(PrivacyLevel::PublicToEveryone),
        disable_stitch: true,
        ..NewPost::staged(AccountId::new(), MediaId::new())
    }
}

fn code(r: Result<PrivacyLevel, PostError>) -> &'static str {
    match r {
        Err(PostError::Invalid { code, .. }) => code,
        other => panic!("expected an invalid request, got {other:?}"),
    }
}

#[test]
fn every_posting_rule_has_its_own_refusal() {
    assert!(validate(&req(), &info(), Some(10_000)).is_ok());
    assert_eq!(
        code(validate(
            &NewPost {
                privacy_level: None,
                ..req()
            },
            &info(),
            None
        )),
        "privacy_level_required"
    );
    assert_eq!(
        code(validate(
            &NewPost {
                privacy_level: Some(PrivacyLevel::FollowerOfCreator),
                ..req()
            },
            &info(),
            None
        )),
        "privacy_level_option_mismatch"
    );
    // 2200 UTF-16 units: an emoji counts twice.
    assert!(
        validate(
            &NewPost {
                title: "😀".repeat(1100),
                ..req()
            },
            &info(),
            None
        )
        .is_ok()
    );
    assert_eq!(
        code(validate(
            &NewPost {
                title: "😀".repeat(1101),
                ..req()
            },
            &info(),
            None
        )),
        "title_too_long"
    );
    assert_eq!(
        code(validate(
            &NewPost {
                disable_stitch: false,
                ..req()
            },
            &info(),
            None
        )),
        "stitch_disabled_by_creator"
    );
    let mut no_comments = info();
    no_comments.comment_disabled = true;
    assert_eq!(
        code(validate(&req(), &no_comments, None)),
        "comments_disabled_by_creator"
    );
    let mut no_duet = info();
    no_duet.duet_disabled = true;
    assert_eq!(
        code(validate(&req(), &no_duet, None)),
        "duet_disabled_by_creator"
    );
    assert_eq!(
        code(validate(
            &NewPost {
                brand_content_toggle: true,
                privacy_level: Some(PrivacyLevel::SelfOnly),
                ..req()
            },
            &info(),
            None
        )),
        "branded_content_cannot_be_private"
    );
    assert_eq!(
        code(validate(&req(), &info(), Some(61_000))),
        "video_too_long"
    );
}

#[test]
fn the_request_hash_tells_replays_from_changes() {
    let a = request_hash(&req(), None);
    let r = req();
    assert_eq!(request_hash(&r, None), request_hash(&r.clone(), None));
    assert_ne!(
        a,
        request_hash(
            &NewPost {
                title: "other".into(),
                ..r
            },
            None
        )
    );
}
