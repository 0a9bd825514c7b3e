//! The example bodies of tiktok-api.md, verbatim (with the sandbox's sample ids and keys). The
//! sandbox's shape tests hold its answers against them; the app's TikTok client parses them.

/// `POST /v2/oauth/token/`: a granted token.
pub const TOKEN: &str = r#"{
  "access_token": "act.3f9c1e0b7a5d4c2e8f6a0b1c2d3e4f5aSimTok!4821",
  "expires_in": 86400,
  "open_id": "-000sim-open-id-0001",
  "refresh_expires_in": 31536000,
  "refresh_token": "rft.8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3dSimRef!4821",
  "scope": "user.info.basic,video.publish,video.upload",
  "token_type": "Bearer"
}"#;
/// An OAuth endpoint's flat error.
pub const OAUTH_ERROR: &str = r#"{ "error": "invalid_request", "error_description": "The request parameters are malformed.", "log_id": "20260901123045A1B2C3D4E5F60718293A" }"#;
/// `GET /v2/user/info/` with basic fields.
pub const USER_INFO: &str = r#"{
  "data": {
    "user": {
      "open_id": "-000sim-open-id-0001",
      "union_id": "5b0d6a52-3c1e-4e8f-9a47-1f2e3d4c5b6a",
      "avatar_url": "https://p16-sign.tiktokcdn.com/tos-sim/avatar~c5_168x168.jpeg",
      "display_name": "Sim Creator",
      "username": "simcreator"
    }
  },
  "error": { "code": "ok", "message": "", "log_id": "20260901120000F00DBABE0123456789AB" }
}"#;
/// `POST /v2/video/list/`: one page.
pub const VIDEO_LIST: &str = r#"{
  "data": {
    "videos": [
      { "id": "7402113344556677889", "title": "sim clip", "create_time": 1725180000,
        "cover_image_url": "https://p16-sign.tiktokcdn.com/sim/cover.image?x-expires=1725201600",
        "share_url": "https://www.tiktok.com/@simcreator/video/7402113344556677889", "duration": 14 }
    ],
    "cursor": 1725180000000,
    "has_more": false
  },
  "error": { "code": "ok", "message": "", "log_id": "20260901120001F00DBABE0123456789AC" }
}"#;
/// `POST /v2/post/publish/creator_info/query/`.
pub const CREATOR_INFO: &str = r#"{
  "data": {
    "creator_avatar_url": "https://p16-sign.tiktokcdn.com/sim/avatar.jpeg",
    "creator_username": "simcreator",
    "creator_nickname": "Sim Creator",
    "privacy_level_options": ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"],
    "comment_disabled": false,
    "duet_disabled": false,
    "stitch_disabled": true,
    "max_video_post_duration_sec": 600
  },
  "error": { "code": "ok", "message": "", "log_id": "20260901120002F00DBABE0123456789AD" }
}"#;
/// `POST /v2/post/publish/video/init/` for a FILE_UPLOAD.
pub const VIDEO_INIT: &str = r#"{
  "data": {
    "publish_id": "v_pub_file~v2-1.7400000000000000001",
    "upload_url": "https://open-upload.tiktokapis.com/video/?upload_id=7400000000000000101&upload_token=SimUploadTok01"
  },
  "error": { "code": "ok", "message": "", "log_id": "20260901120003F00DBABE0123456789AE" }
}"#;
/// `POST /v2/post/publish/inbox/video/init/`.
pub const INBOX_INIT: &str = r#"{"data":{"publish_id":"v_inbox_file~v2.7400000000000000003","upload_url":"https://open-upload.tiktokapis.com/video/?upload_id=7400000000000000103&upload_token=SimUploadTok03"},"error":{"code":"ok","message":"","log_id":"20260901120004F00DBABE0123456789AF"}}"#;
/// `POST /v2/post/publish/status/fetch/` of a published post.
pub const STATUS: &str = r#"{
  "data": {
    "status": "PUBLISH_COMPLETE",
    "publicaly_available_post_id": [7400000000000000999],
    "uploaded_bytes": 77360899
  },
  "error": { "code": "ok", "message": "", "log_id": "20260901120105F00DBABE0123456789B0" }
}"#;
/// `POST /v2/post/publish/status/fetch/` of a failed post.
pub const STATUS_FAILED: &str = r#"{"data":{"fail_reason":"file_format_check_failed","status":"FAILED"},"error":{"code":"ok","message":"","log_id":"20260901120105F00DBABE0123456789B0"}}"#;
/// A v2 error: an invalid access token.
pub const TOKEN_INVALID: &str = r#"{"data":{},"error":{"code":"access_token_invalid","message":"The access token is invalid or not found in the request.","log_id":"20260901120105F00DBABE0123456789B0"}}"#;
/// `POST /v2/post/publish/cancel/`: cancelled.
pub const CANCEL_OK: &str =
    r#"{"error":{"code":"ok","message":"","log_id":"20260901120105F00DBABE0123456789B0"}}"#;
/// A `post.publish.complete` webhook delivery.
pub const WEBHOOK: &str = r#"{
  "client_key": "awtestkey123",
  "event": "post.publish.complete",
  "create_time": 1725192345,
  "user_openid": "-000sim-open-id-0001",
  "content": "{\"publish_id\":\"v_pub_file~v2-1.7400000000000000001\",\"publish_type\":\"DIRECT_PUBLISH\"}"
}"#;
