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

fn cover_code(r: Result<(), PostError>) -> &'static str {
    match r {
        Err(PostError::Invalid { code, .. }) => code,
        other => panic!("expected an invalid request, got {other:?}"),
    }
}

#[test]
fn a_cover_frame_is_only_for_a_direct_video_and_within_it() {
    let cover = |ms| NewPost {
        video_cover_timestamp_ms: Some(ms),
        ..req()
    };
    // No cover: nothing to check, whatever the post.
    assert!(check_cover(&req(), Some(1_000)).is_ok());
    assert!(
        check_cover(
            &NewPost::photos(AccountId::new(), vec![MediaId::new()]),
            None
        )
        .is_ok()
    );

    let photos = NewPost {
        video_cover_timestamp_ms: Some(0),
        ..NewPost::photos(AccountId::new(), vec![MediaId::new()])
    };
    assert_eq!(
        cover_code(check_cover(&photos, None)),
        "cover_not_applicable"
    );
    let draft = NewPost {
        post_mode: PostMode::Inbox,
        ..cover(1500)
    };
    assert_eq!(
        cover_code(check_cover(&draft, None)),
        "cover_not_applicable"
    );

    // A staged video of known length: the cover must fall inside it.
    assert!(check_cover(&cover(0), Some(10_000)).is_ok());
    assert!(check_cover(&cover(9_999), Some(10_000)).is_ok());
    let past = check_cover(&cover(10_000), Some(10_000));
    let Err(PostError::Invalid { code, message }) = past else {
        panic!("a cover at the end must be refused: {past:?}");
    };
    assert_eq!(code, "cover_out_of_range");
    assert!(message.contains("0:10.0"), "{message}");
    assert_eq!(
        cover_code(check_cover(&cover(90_000), Some(10_000))),
        "cover_out_of_range"
    );

    // A URL or pass-through video's length is unknown here: any int32 goes (TikTok falls back
    // to the first frame), but not more than TikTok's field holds.
    let pulled = NewPost {
        video_cover_timestamp_ms: Some(3_600_000),
        ..NewPost::pulled(AccountId::new(), "https://media.example.com/a.mp4".into())
    };
    assert!(check_cover(&pulled, None).is_ok());
    let streamed = NewPost {
        media_id: None,
        upload: Some(UploadKind::Stream),
        ..cover(i32::MAX as u32)
    };
    assert!(check_cover(&streamed, None).is_ok());
    assert_eq!(
        cover_code(check_cover(&cover(i32::MAX as u32 + 1), None)),
        "cover_out_of_range"
    );
}

#[test]
fn the_cover_frame_is_part_of_the_request_hash_only_when_set() {
    let plain = request_hash(&req(), None);
    let covered = NewPost {
        video_cover_timestamp_ms: Some(1500),
        ..req()
    };
    assert_ne!(plain, request_hash(&covered, None));
    // An older client's request (no such field) hashes as it always did.
    let json = serde_json::to_string(&req()).unwrap();
    assert!(!json.contains("video_cover_timestamp_ms"), "{json}");
}
