use super::*;
use serde_json::json;

#[test]
fn tokens_and_grants_never_show_secrets_in_debug() {
    let grant = WireToken {
        access_token: Some("act.secret-access".into()),
        refresh_token: Some("rft.secret-refresh".into()),
        expires_in: Some(86400),
        refresh_expires_in: Some(31536000),
        open_id: Some("-000sim-open-id-0001".into()),
        scope: "user.info.basic,video.publish".into(),
        token_type: "Bearer".into(),
    }
    .into_grant()
    .unwrap();
    let dbg = format!(
        "{grant:?} {:?} {:?}",
        grant.access_token, grant.refresh_token
    );
    assert!(!dbg.contains("secret"), "{dbg}");
    assert!(dbg.contains("[redacted]"));
    assert_eq!(format!("{:?}", AccessToken::new("act.x")), "[redacted]");
    assert_eq!(grant.access_token.expose(), "act.secret-access");
    assert_eq!(grant.scope, vec!["user.info.basic", "video.publish"]);
}

/// Compiles only while the bound holds: a change that drops the wipe-on-drop of a token
/// type fails the build, not just a test run.
fn wiped_on_drop<T: ZeroizeOnDrop>() {}

#[test]
fn plaintext_tokens_are_wiped_when_dropped() {
    wiped_on_drop::<AccessToken>();
    wiped_on_drop::<RefreshToken>();
    wiped_on_drop::<WireToken>();
    // What the derive generates on drop, observed on a live value.
    let mut t = AccessToken::new("act.to-be-wiped");
    t.zeroize();
    assert_eq!(t.expose(), "");
}

#[test]
fn captions_names_and_upload_urls_stay_out_of_debug() {
    let init = InitResult {
        publish_id: "v_pub_file~v2-1.1".into(),
        upload_url: Some("https://up.example/video/?upload_token=SECRET".into()),
    };
    let info = PostInfo {
        title: Some("my private caption".into()),
        privacy_level: PrivacyLevel::SelfOnly,
        disable_duet: false,
        disable_comment: false,
        disable_stitch: false,
        video_cover_timestamp_ms: None,
        brand_content_toggle: false,
        brand_organic_toggle: false,
        is_aigc: false,
    };
    let user = UserInfo {
        display_name: Some("Jane Creator".into()),
        username: Some("janecreates".into()),
        ..Default::default()
    };
    let creator = CreatorInfo {
        creator_nickname: Some("Jane Creator".into()),
        creator_username: Some("janecreates".into()),
        ..Default::default()
    };
    let video = Video {
        id: "1".into(),
        title: Some("my private caption".into()),
        ..Default::default()
    };
    let dbg = format!("{init:?} {info:?} {user:?} {creator:?} {video:?}");
    for secret in ["SECRET", "caption", "Jane", "janecreates"] {
        assert!(!dbg.contains(secret), "{secret} leaked: {dbg}");
    }
    assert!(dbg.contains("v_pub_file~v2-1.1"));
}

#[test]
fn post_info_always_sends_brand_content_toggle_and_omits_an_empty_caption() {
    let settings = PostSettings {
        title: String::new(),
        privacy_level: PrivacyLevel::SelfOnly,
        disable_comment: true,
        disable_duet: false,
        disable_stitch: true,
        brand_content_toggle: false,
        brand_organic_toggle: false,
        is_aigc: true,
        video_cover_timestamp_ms: None,
    };
    let v = serde_json::to_value(PostInfo::from(&settings)).unwrap();
    assert_eq!(
        v,
        json!({
            "privacy_level": "SELF_ONLY",
            "disable_duet": false,
            "disable_comment": true,
            "disable_stitch": true,
            "brand_content_toggle": false,
            "brand_organic_toggle": false,
            "is_aigc": true
        })
    );
}

#[test]
fn post_info_carries_the_stored_cover_frame() {
    let settings = PostSettings {
        title: String::new(),
        privacy_level: PrivacyLevel::SelfOnly,
        disable_comment: false,
        disable_duet: false,
        disable_stitch: false,
        brand_content_toggle: false,
        brand_organic_toggle: false,
        is_aigc: false,
        video_cover_timestamp_ms: Some(1500),
    };
    let v = serde_json::to_value(PostInfo::from(&settings)).unwrap();
    assert_eq!(v["video_cover_timestamp_ms"], 1500);
}

#[test]
fn file_upload_source_declares_the_plan() {
    let plan = UploadPlan {
        video_size: 77_360_899,
        chunk_size: 10_000_000,
        total_chunk_count: 7,
    };
    assert_eq!(
        serde_json::to_value(SourceInfo::file_upload(&plan)).unwrap(),
        json!({"source": "FILE_UPLOAD", "video_size": 77360899, "chunk_size": 10000000, "total_chunk_count": 7})
    );
    assert_eq!(
        serde_json::to_value(SourceInfo::PullFromUrl {
            video_url: "https://media.example.com/a.mp4".into()
        })
        .unwrap(),
        json!({"source": "PULL_FROM_URL", "video_url": "https://media.example.com/a.mp4"})
    );
}

#[test]
fn status_kinds_round_trip_and_keep_unknown_values() {
    for s in [
        "PROCESSING_UPLOAD",
        "PROCESSING_DOWNLOAD",
        "SEND_TO_USER_INBOX",
        "PUBLISH_COMPLETE",
        "FAILED",
        "PUBLISH_SUCCESS",
    ] {
        assert_eq!(PublishStatusKind::from(s.to_owned()).as_str(), s);
    }
    assert_eq!(
        PublishStatusKind::from("PROCESSING".to_owned()),
        PublishStatusKind::Unknown("PROCESSING".into())
    );
}

#[test]
fn ids_refuse_floats_negative_numbers_and_non_digits() {
    let parse = |v: serde_json::Value| serde_json::from_value::<PostIdWire>(v).map(|p| p.0);
    assert_eq!(
        parse(json!(7261463769757501445u64)).unwrap(),
        "7261463769757501445"
    );
    assert_eq!(
        parse(json!("7261463769757501445")).unwrap(),
        "7261463769757501445"
    );
    assert!(parse(json!(7.2e18)).is_err());
    assert!(parse(json!(-5)).is_err());
    assert!(parse(json!("12a")).is_err());
    assert!(parse(json!("")).is_err());
}

#[test]
fn unknown_privacy_levels_are_dropped() {
    let c: CreatorInfo = serde_json::from_value(json!({
        "privacy_level_options": ["PUBLIC_TO_EVERYONE", "SOMETHING_NEW", "SELF_ONLY"]
    }))
    .unwrap();
    assert_eq!(
        c.privacy_level_options,
        vec![PrivacyLevel::PublicToEveryone, PrivacyLevel::SelfOnly]
    );
}

#[test]
fn a_failed_status_becomes_a_classifiable_error() {
    let s = PublishStatus {
        status: PublishStatusKind::Failed,
        fail_reason: Some("auth_removed".into()),
        public_post_ids: vec![],
        uploaded_bytes: None,
        downloaded_bytes: None,
    };
    let e = s.failure().unwrap();
    assert_eq!(e.fail_reason(), Some("auth_removed"));
    assert_eq!(e.class(), super::super::ErrorClass::Reauth);
    let done = PublishStatus {
        status: PublishStatusKind::PublishComplete,
        ..s
    };
    assert!(done.failure().is_none());
}
