//! TikTok's two response shapes, turned into values or [`TikTokError`]s.
//!
//! - v2 APIs: `{"data": …, "error": {"code", "message", "log_id"}}`; success ⇔ `code == "ok"`,
//!   whatever the HTTP status; `data` may be `{}` or absent on errors.
//! - OAuth (token, revoke): flat `{"error", "error_description", "log_id"}`, sometimes with
//!   HTTP 200, so a string `error` means failure regardless of status.
//!
//! Both shapes are recognised everywhere: a proxy or a TikTok change mixing them up must still
//! come out as a typed error rather than a parse failure.

use super::error::TikTokError;
use super::types::{TokenGrant, WireToken};
use bytes::Bytes;
use reqwest::header::{CONTENT_RANGE, HeaderMap, RETRY_AFTER};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::time::Duration;

/// A response read off the wire: everything the parsers need, nothing tied to reqwest.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) body: Bytes,
}

impl Reply {
    fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The error part of a body, in either shape.
enum ErrorPart {
    /// No usable error object.
    Absent,
    /// v2 `error.code == "ok"`.
    Ok,
    /// A v2 code other than `ok`, or an OAuth `error` string.
    Failed(TikTokError),
}

fn str_field(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn error_part(endpoint: &'static str, reply: &Reply, body: &Value) -> ErrorPart {
    match body.get("error") {
        Some(Value::String(error)) if !error.is_empty() => ErrorPart::Failed(TikTokError::OAuth {
            endpoint,
            status: reply.status,
            error: error.clone(),
            description: str_field(body, "error_description"),
            log_id: str_field(body, "log_id"),
            retry_after: reply.retry_after,
        }),
        Some(err @ Value::Object(_)) => match err.get("code").and_then(Value::as_str) {
            Some("ok") => ErrorPart::Ok,
            Some(code) if !code.is_empty() => ErrorPart::Failed(TikTokError::Api {
                endpoint,
                status: reply.status,
                code: code.to_owned(),
                message: str_field(err, "message"),
                // The docs' tables say `logid`; every real body says `log_id`.
                log_id: err
                    .get("log_id")
                    .or_else(|| err.get("logid"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                retry_after: reply.retry_after,
            }),
            _ => ErrorPart::Absent,
        },
        _ => ErrorPart::Absent,
    }
}

/// A body we cannot use: a bare HTTP error when the status already says failure, otherwise a
/// contract problem.
fn unusable(endpoint: &'static str, reply: &Reply, detail: String) -> TikTokError {
    if reply.is_success() {
        TikTokError::Malformed {
            endpoint,
            status: reply.status,
            detail,
        }
    } else {
        TikTokError::Http {
            endpoint,
            status: reply.status,
            retry_after: reply.retry_after,
        }
    }
}

/// Describes a serde error without quoting the input: "invalid type: string \"act.…\"" would
/// put a token in a log line. Missing-field messages name only the field, so they are kept.
fn describe(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if text.starts_with("missing field") {
        text
    } else {
        format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        )
    }
}

fn json_body(endpoint: &'static str, reply: &Reply) -> Result<Value, TikTokError> {
    serde_json::from_slice(&reply.body).map_err(|e| unusable(endpoint, reply, describe(&e)))
}

/// Parses a v2 envelope into its `data`.
pub(crate) fn parse_v2<T: DeserializeOwned>(
    endpoint: &'static str,
    reply: &Reply,
) -> Result<T, TikTokError> {
    let mut body = json_body(endpoint, reply)?;
    match error_part(endpoint, reply, &body) {
        ErrorPart::Ok => {}
        ErrorPart::Failed(err) => return Err(err),
        ErrorPart::Absent => return Err(unusable(endpoint, reply, "no error object".into())),
    }
    let data = match body.get_mut("data").map(Value::take) {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(data) => data,
    };
    serde_json::from_value(data).map_err(|e| unusable(endpoint, reply, describe(&e)))
}

/// Parses the token endpoint's answer (code exchange or refresh).
pub(crate) fn parse_token(
    endpoint: &'static str,
    reply: &Reply,
) -> Result<TokenGrant, TikTokError> {
    let body = json_body(endpoint, reply)?;
    if let ErrorPart::Failed(err) = error_part(endpoint, reply, &body) {
        return Err(err);
    }
    let wire: WireToken =
        serde_json::from_value(body).map_err(|e| unusable(endpoint, reply, describe(&e)))?;
    wire.into_grant()
        .map_err(|missing| unusable(endpoint, reply, missing.into()))
}

/// Parses the revoke endpoint's answer: an empty body or `{}` on success.
pub(crate) fn parse_revoke(endpoint: &'static str, reply: &Reply) -> Result<(), TikTokError> {
    if let Ok(body) = serde_json::from_slice::<Value>(&reply.body)
        && let ErrorPart::Failed(err) = error_part(endpoint, reply, &body)
    {
        return Err(err);
    }
    if reply.is_success() {
        Ok(())
    } else {
        Err(unusable(endpoint, reply, String::new()))
    }
}

/// `Retry-After` as delta-seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(raw).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// The bytes TikTok holds according to `Content-Range: bytes 0-{n-1}/{total}` (so `n`).
/// `bytes */{total}` (nothing yet) gives `None`, like a missing or unreadable header.
pub(crate) fn received_bytes(headers: &HeaderMap) -> Option<u64> {
    let raw = headers.get(CONTENT_RANGE)?.to_str().ok()?.trim();
    let rest = raw
        .strip_prefix("bytes")?
        .trim_start_matches([' ', '='])
        .trim();
    let (range, _total) = rest.split_once('/')?;
    let (_first, last) = range.split_once('-')?;
    last.trim().parse::<u64>().ok()?.checked_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiktok::{
        CreatorInfo, ErrorClass, InitResult, PublishStatusKind, UserInfoData, VideoPage, WireStatus,
    };
    use reqwest::header::HeaderValue;
    use sandbox::doc_examples::{CREATOR_INFO, TOKEN, USER_INFO, VIDEO_INIT, VIDEO_LIST};

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            retry_after: None,
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn user_info_example_parses() {
        let data: UserInfoData = parse_v2("user/info", &reply(200, USER_INFO)).unwrap();
        assert_eq!(data.user.open_id.as_deref(), Some("-000sim-open-id-0001"));
        assert_eq!(data.user.username.as_deref(), Some("simcreator"));
        assert_eq!(data.user.follower_count, None);
    }

    #[test]
    fn video_list_example_parses() {
        let page: VideoPage = parse_v2("video/list", &reply(200, VIDEO_LIST)).unwrap();
        assert_eq!(page.videos.len(), 1);
        assert_eq!(page.videos[0].id, "7402113344556677889");
        assert_eq!(page.videos[0].duration, Some(14));
        assert_eq!(page.cursor, 1_725_180_000_000);
        assert!(!page.has_more);
    }

    #[test]
    fn creator_info_example_parses() {
        let info: CreatorInfo = parse_v2("creator_info", &reply(200, CREATOR_INFO)).unwrap();
        assert_eq!(info.privacy_level_options.len(), 3);
        assert!(info.stitch_disabled);
        assert_eq!(info.max_video_post_duration_sec, Some(600));
        assert_eq!(info.creator_nickname.as_deref(), Some("Sim Creator"));
    }

    #[test]
    fn init_example_parses() {
        let init: InitResult = parse_v2("video/init", &reply(200, VIDEO_INIT)).unwrap();
        assert_eq!(init.publish_id, "v_pub_file~v2-1.7400000000000000001");
        assert_eq!(
            init.upload_url.as_deref(),
            Some(
                "https://open-upload.tiktokapis.com/video/?upload_id=7400000000000000101&upload_token=SimUploadTok01"
            )
        );
        let pull = r#"{"data":{"publish_id":"v_pub_url~v2-1.7400000000000000002"},"error":{"code":"ok","message":"","log_id":"x"}}"#;
        let init: InitResult = parse_v2("video/init", &reply(200, pull)).unwrap();
        assert_eq!(init.upload_url, None);
    }

    #[test]
    fn status_with_19_digit_numeric_post_ids_keeps_every_digit() {
        let body = r#"{
          "data": {
            "status": "PUBLISH_COMPLETE",
            "publicaly_available_post_id": [7400000000000000999, "7261463769757501445", 9999999999999999999],
            "uploaded_bytes": 77360899
          },
          "error": { "code": "ok", "message": "", "log_id": "20260901120105F00DBABE0123456789B0" }
        }"#;
        let s = parse_v2::<WireStatus>("status/fetch", &reply(200, body))
            .unwrap()
            .into_status()
            .unwrap();
        assert_eq!(s.status, PublishStatusKind::PublishComplete);
        assert_eq!(
            s.public_post_ids,
            vec![
                "7400000000000000999",
                "7261463769757501445",
                "9999999999999999999"
            ]
        );
        assert_eq!(s.uploaded_bytes, Some(77_360_899));
    }

    #[test]
    fn status_with_only_status_and_fail_reason_parses() {
        let body = r#"{"data":{"fail_reason":"file_format_check_failed","status":"FAILED"},"error":{"code":"ok","message":"","log_id":"x"}}"#;
        let s = parse_v2::<WireStatus>("status/fetch", &reply(200, body))
            .unwrap()
            .into_status()
            .unwrap();
        assert_eq!(s.status, PublishStatusKind::Failed);
        assert_eq!(s.fail_reason.as_deref(), Some("file_format_check_failed"));
        assert!(s.public_post_ids.is_empty());
        let e = s.failure().unwrap();
        assert_eq!(e.class(), ErrorClass::Permanent);
    }

    #[test]
    fn an_error_with_empty_data_object_is_typed() {
        let body = r#"{"data":{},"error":{"code":"access_token_invalid","message":"The access token is invalid or not found in the request.","log_id":"202609011200001234567890ABCDEF0123"}}"#;
        let e = parse_v2::<InitResult>("video/init", &reply(401, body)).unwrap_err();
        assert_eq!(e.code(), Some("access_token_invalid"));
        assert_eq!(e.status(), Some(401));
        assert_eq!(e.log_id(), Some("202609011200001234567890ABCDEF0123"));
        assert_eq!(e.class(), ErrorClass::RefreshAndRetry);
    }

    #[test]
    fn an_error_without_data_is_typed() {
        let body =
            r#"{"error":{"code":"spam_risk_too_many_pending_share","message":"","log_id":"x"}}"#;
        let e = parse_v2::<InitResult>("inbox/init", &reply(403, body)).unwrap_err();
        assert_eq!(e.code(), Some("spam_risk_too_many_pending_share"));
        assert_eq!(e.class(), ErrorClass::Wait);
    }

    #[test]
    fn an_error_code_with_http_200_is_still_an_error() {
        for (code, class) in [
            ("spam_risk_too_many_posts", ErrorClass::Wait),
            ("spam_risk_user_banned_from_posting", ErrorClass::Permanent),
            ("reached_active_user_cap", ErrorClass::AppCapWait),
        ] {
            let body = format!(
                r#"{{"data":{{}},"error":{{"code":"{code}","message":"m","log_id":"L"}}}}"#
            );
            let e = parse_v2::<CreatorInfo>("creator_info", &reply(200, &body)).unwrap_err();
            assert_eq!(e.code(), Some(code));
            assert_eq!(e.status(), Some(200));
            assert_eq!(e.class(), class);
        }
    }

    #[test]
    fn invalid_param_singular_and_plural_are_both_permanent() {
        for code in ["invalid_param", "invalid_params"] {
            let body = format!(
                r#"{{"error":{{"code":"{code}","message":"The chunk size is invalid","log_id":"L"}}}}"#
            );
            let e = parse_v2::<InitResult>("video/init", &reply(400, &body)).unwrap_err();
            assert_eq!(e.class(), ErrorClass::Permanent);
            assert!(e.to_string().contains("The chunk size is invalid"));
        }
    }

    #[test]
    fn logid_spelling_from_the_docs_tables_is_accepted() {
        let body = r#"{"error":{"code":"internal_error","message":"","logid":"LOG1"}}"#;
        let e = parse_v2::<InitResult>("video/init", &reply(500, body)).unwrap_err();
        assert_eq!(e.log_id(), Some("LOG1"));
    }

    #[test]
    fn success_with_missing_required_data_is_malformed_and_outcome_unknown() {
        let body = r#"{"data":{},"error":{"code":"ok","message":"","log_id":"x"}}"#;
        let e = parse_v2::<InitResult>("video/init", &reply(200, body)).unwrap_err();
        assert!(matches!(e, TikTokError::Malformed { .. }), "{e:?}");
        assert!(e.to_string().contains("publish_id"));
        assert!(e.outcome_unknown());
    }

    #[test]
    fn a_proxy_error_page_is_a_bare_http_error() {
        let e = parse_v2::<InitResult>("video/init", &reply(502, "<html>bad gateway</html>"))
            .unwrap_err();
        assert!(matches!(e, TikTokError::Http { status: 502, .. }), "{e:?}");
        assert_eq!(e.class(), ErrorClass::Retryable { retry_after: None });
    }

    #[test]
    fn oauth_success_parses_and_splits_scopes() {
        let g = parse_token("oauth/token", &reply(200, TOKEN)).unwrap();
        assert_eq!(
            g.access_token.expose(),
            "act.3f9c1e0b7a5d4c2e8f6a0b1c2d3e4f5aSimTok!4821"
        );
        assert_eq!(
            g.refresh_token.expose(),
            "rft.8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3dSimRef!4821"
        );
        assert_eq!((g.expires_in, g.refresh_expires_in), (86400, 31_536_000));
        assert_eq!(g.open_id, "-000sim-open-id-0001");
        assert_eq!(
            g.scope,
            vec!["user.info.basic", "video.publish", "video.upload"]
        );
        assert_eq!(g.token_type, "Bearer");
    }

    #[test]
    fn oauth_error_with_http_200_is_an_error() {
        let body = r#"{"error":"invalid_grant","error_description":"Refresh token is invalid or expired.","log_id":"20260901123045A1B2C3D4E5F60718293A"}"#;
        let e = parse_token("oauth/token", &reply(200, body)).unwrap_err();
        assert_eq!(e.code(), Some("invalid_grant"));
        assert_eq!(e.status(), Some(200));
        assert_eq!(e.log_id(), Some("20260901123045A1B2C3D4E5F60718293A"));
        assert_eq!(e.class(), ErrorClass::Reauth);
        let body = r#"{"error":"invalid_request","error_description":"Redirect_uri is not matched with the uri when requesting code.","log_id":"x"}"#;
        let e = parse_token("oauth/token", &reply(400, body)).unwrap_err();
        assert_eq!(e.class(), ErrorClass::Permanent);
        let body = r#"{"error":"temporarily_unavailable","error_description":"","log_id":"x"}"#;
        let e = parse_token("oauth/token", &reply(200, body)).unwrap_err();
        assert_eq!(e.class(), ErrorClass::Retryable { retry_after: None });
    }

    #[test]
    fn oauth_body_without_access_token_is_a_failure_even_with_http_200() {
        let e = parse_token("oauth/token", &reply(200, "{}")).unwrap_err();
        assert!(matches!(e, TikTokError::Malformed { .. }), "{e:?}");
        let e = parse_token("oauth/token", &reply(500, "{}")).unwrap_err();
        assert!(matches!(e, TikTokError::Http { status: 500, .. }), "{e:?}");
    }

    #[test]
    fn oauth_parse_errors_never_quote_the_body() {
        // A token where a number belongs must not end up in the error text.
        let body = r#"{"access_token":"act.x","refresh_token":"rft.x","open_id":"o","expires_in":"act.LEAK","refresh_expires_in":1}"#;
        let e = parse_token("oauth/token", &reply(200, body)).unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(!text.contains("LEAK"), "{text}");
    }

    #[test]
    fn revoke_accepts_empty_and_empty_object_bodies() {
        parse_revoke("oauth/revoke", &reply(200, "")).unwrap();
        parse_revoke("oauth/revoke", &reply(200, "{}")).unwrap();
        let e = parse_revoke(
            "oauth/revoke",
            &reply(
                200,
                r#"{"error":"invalid_request","error_description":"bad token","log_id":"x"}"#,
            ),
        )
        .unwrap_err();
        assert_eq!(e.code(), Some("invalid_request"));
        let e = parse_revoke("oauth/revoke", &reply(503, "")).unwrap_err();
        assert_eq!(e.class(), ErrorClass::Retryable { retry_after: None });
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("12"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(12)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(
            retry_after(&h),
            Some(Duration::ZERO),
            "a past date means now"
        );
        let future = (chrono::Utc::now() + chrono::Duration::seconds(120))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        h.insert(RETRY_AFTER, HeaderValue::from_str(&future).unwrap());
        let wait = retry_after(&h).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn content_range_gives_the_bytes_received() {
        let mut h = HeaderMap::new();
        assert_eq!(received_bytes(&h), None);
        h.insert(
            CONTENT_RANGE,
            HeaderValue::from_static("bytes 0-19999999/77360899"),
        );
        assert_eq!(received_bytes(&h), Some(20_000_000));
        h.insert(CONTENT_RANGE, HeaderValue::from_static("bytes=0-9/10"));
        assert_eq!(received_bytes(&h), Some(10));
        h.insert(CONTENT_RANGE, HeaderValue::from_static("bytes */77360899"));
        assert_eq!(received_bytes(&h), None);
        h.insert(CONTENT_RANGE, HeaderValue::from_static("garbage"));
        assert_eq!(received_bytes(&h), None);
    }
}
