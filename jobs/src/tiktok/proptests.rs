//! Property tests of the TikTok response parsers (`envelope`, `types`): whatever TikTok, a proxy
//! or an attacker in the middle sends, parsing never panics, every failure is one of the four
//! typed outcomes a response can have (`Api`, `OAuth`, `Http`, `Malformed`) with the HTTP status
//! deciding between `Http` and `Malformed`, no error text quotes a token from the body, and
//! valid bodies (19-digit ids as numbers or strings included) parse to exactly what was sent.

// Shared with the integration tests, which cannot reach into the crate; two test modules
// including one small file is cheaper than a crate-wide test module for it.
#[allow(clippy::duplicate_mod)]
#[path = "../../tests/support/mutate.rs"]
mod mutate;

use super::envelope::{Reply, parse_revoke, parse_token, parse_v2, received_bytes, retry_after};
use super::types::{UserInfoData, WireStatus};
use super::{CreatorInfo, InitResult, TikTokError, VideoPage};
use bytes::Bytes;
use mutate::{config, huge_string, wild_string};
use proptest::prelude::*;
use proptest::sample::Index;
use reqwest::header::{CONTENT_RANGE, HeaderMap, HeaderValue, RETRY_AFTER};
use serde_json::{Value, json};
use std::time::Duration;

/// Planted in token and data fields: no error text may ever contain it.
const SECRET: &str = "SECRETxMARKER";

fn reply(status: u16, body: impl Into<Bytes>) -> Reply {
    Reply {
        status,
        retry_after: None,
        body: body.into(),
    }
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        4 => proptest::sample::select(&[200u16, 201, 204, 206, 301, 400, 401, 403, 404, 416, 429, 500, 502, 503, 504][..]),
        1 => 100u16..600,
    ]
}

fn log_id() -> impl Strategy<Value = String> {
    "[0-9A-F]{0,34}"
}

fn ok_error() -> impl Strategy<Value = Value> {
    log_id().prop_map(|l| json!({ "code": "ok", "message": "", "log_id": l }))
}

fn text() -> impl Strategy<Value = String> {
    wild_string(20)
}

fn secret_text() -> impl Strategy<Value = String> {
    text().prop_map(|t| format!("{t}{SECRET}"))
}

/// A 19-digit (or any u64) id, sent as a JSON number or a string.
fn id() -> impl Strategy<Value = (u64, bool)> {
    (
        prop_oneof![
            7_000_000_000_000_000_000u64..=u64::MAX,
            Just(u64::MAX),
            Just(i64::MAX as u64 + 1),
            any::<u64>(),
        ],
        any::<bool>(),
    )
}

fn id_json((n, as_string): (u64, bool)) -> Value {
    if as_string {
        json!(n.to_string())
    } else {
        json!(n)
    }
}

/// Which parser a body goes to.
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    UserInfo,
    VideoList,
    CreatorInfo,
    Init,
    Status,
    Token,
    Revoke,
}

const ENDPOINTS: [Endpoint; 7] = [
    Endpoint::UserInfo,
    Endpoint::VideoList,
    Endpoint::CreatorInfo,
    Endpoint::Init,
    Endpoint::Status,
    Endpoint::Token,
    Endpoint::Revoke,
];

/// A valid success body for `endpoint`, with secrets planted where tokens and private data go.
fn valid_body(endpoint: Endpoint) -> BoxedStrategy<Value> {
    match endpoint {
        Endpoint::UserInfo => (ok_error(), secret_text(), text(), any::<i64>(), any::<bool>())
            .prop_map(|(error, name, open_id, followers, verified)| {
                json!({
                    "data": { "user": {
                        "open_id": open_id, "display_name": name, "username": name,
                        "follower_count": followers, "is_verified": verified,
                        "avatar_url": format!("https://p16.example/{SECRET}")
                    }},
                    "error": error,
                })
            })
            .boxed(),
        Endpoint::VideoList => (
            ok_error(),
            proptest::collection::vec((id(), secret_text(), any::<i64>()), 0..4),
            any::<i64>(),
            any::<bool>(),
        )
            .prop_map(|(error, videos, cursor, has_more)| {
                let videos: Vec<Value> = videos
                    .into_iter()
                    .map(|(id, title, t)| {
                        json!({ "id": id_json(id), "title": title, "create_time": t, "duration": 14 })
                    })
                    .collect();
                json!({
                    "data": { "videos": videos, "cursor": cursor, "has_more": has_more },
                    "error": error,
                })
            })
            .boxed(),
        Endpoint::CreatorInfo => (
            ok_error(),
            proptest::collection::vec(
                proptest::sample::select(
                    &[
                        "PUBLIC_TO_EVERYONE",
                        "MUTUAL_FOLLOW_FRIENDS",
                        "FOLLOWER_OF_CREATOR",
                        "SELF_ONLY",
                        "SOMETHING_NEW",
                    ][..],
                ),
                0..5,
            ),
            secret_text(),
            any::<bool>(),
            proptest::option::of(any::<i64>()),
        )
            .prop_map(|(error, options, name, disabled, max)| {
                json!({
                    "data": {
                        "creator_nickname": name, "creator_username": name,
                        "privacy_level_options": options, "comment_disabled": disabled,
                        "duet_disabled": disabled, "stitch_disabled": !disabled,
                        "max_video_post_duration_sec": max,
                    },
                    "error": error,
                })
            })
            .boxed(),
        Endpoint::Init => (ok_error(), text(), any::<bool>())
            .prop_map(|(error, publish_id, pull)| {
                let mut data = json!({ "publish_id": publish_id });
                if !pull {
                    data["upload_url"] =
                        json!(format!("https://open-upload.example/?upload_token={SECRET}"));
                }
                json!({ "data": data, "error": error })
            })
            .boxed(),
        Endpoint::Status => (
            ok_error(),
            proptest::sample::select(
                &[
                    "PROCESSING_UPLOAD",
                    "PROCESSING_DOWNLOAD",
                    "SEND_TO_USER_INBOX",
                    "PUBLISH_COMPLETE",
                    "FAILED",
                    "SOMETHING_NEW",
                ][..],
            ),
            proptest::option::of(text()),
            proptest::collection::vec(id(), 0..4),
            proptest::option::of(any::<u64>()),
        )
            .prop_map(|(error, status, reason, ids, uploaded)| {
                let ids: Vec<Value> = ids.into_iter().map(id_json).collect();
                json!({
                    "data": {
                        "status": status, "fail_reason": reason,
                        "publicaly_available_post_id": ids, "uploaded_bytes": uploaded,
                    },
                    "error": error,
                })
            })
            .boxed(),
        Endpoint::Token => (secret_text(), secret_text(), any::<i64>(), any::<i64>(), text(), log_id())
            .prop_map(|(access, refresh, expires, refresh_expires, open_id, log)| {
                json!({
                    "access_token": format!("act.{access}"), "refresh_token": format!("rft.{refresh}"),
                    "expires_in": expires, "refresh_expires_in": refresh_expires,
                    "open_id": open_id, "scope": "user.info.basic,video.publish",
                    "token_type": "Bearer", "log_id": log,
                })
            })
            .boxed(),
        Endpoint::Revoke => prop_oneof![Just(json!({})), log_id().prop_map(|l| json!({ "log_id": l }))].boxed(),
    }
}

/// An error body in either shape (v2 object, OAuth flat), with any code.
fn error_body() -> impl Strategy<Value = Value> {
    let code = prop_oneof![
        proptest::sample::select(
            &[
                "access_token_invalid",
                "scope_not_authorized",
                "rate_limit_exceeded",
                "spam_risk_too_many_posts",
                "reached_active_user_cap",
                "invalid_param",
                "internal_error",
                "invalid_grant",
                "server_error",
                "",
            ][..]
        )
        .prop_map(str::to_owned),
        text(),
    ];
    (code, text(), log_id(), any::<bool>(), any::<bool>()).prop_map(
        |(code, message, log, oauth, with_data)| {
            if oauth {
                json!({ "error": code, "error_description": message, "log_id": log })
            } else {
                let mut v = json!({ "error": { "code": code, "message": message, "logid": log } });
                if with_data {
                    v["data"] = json!({});
                }
                v
            }
        },
    )
}

/// Every JSON pointer in `v`, the root included.
fn pointers(v: &Value, here: String, out: &mut Vec<String>) {
    out.push(here.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                pointers(
                    child,
                    format!("{here}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                pointers(child, format!("{here}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Raw number literals no JSON value type holds exactly, spliced in as text.
const RAW_NUMBERS: [&str; 10] = [
    "1e400",
    "-1e400",
    "18446744073709551616",
    "99999999999999999999999999999",
    "-9223372036854775809",
    "7.2e18",
    "-1",
    "0.5",
    "-0",
    "1E2",
];

/// A JSON-level change at one place of a body: the wrong type, a missing field, a number no
/// type can hold, or a huge string.
#[derive(Debug, Clone)]
enum Change {
    Replace(Index, Value),
    Remove(Index),
    RawNumber(Index, usize),
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text().prop_map(Value::from),
        Just(json!("ok")),
        Just(json!({ "code": "ok" })),
    ];
    leaf.prop_recursive(2, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        3 => (any::<Index>(), any_json()).prop_map(|(i, v)| Change::Replace(i, v)),
        2 => any::<Index>().prop_map(Change::Remove),
        2 => (any::<Index>(), 0..RAW_NUMBERS.len()).prop_map(|(i, n)| Change::RawNumber(i, n)),
    ]
}

/// Applies `changes` to `body` and serialises it.
fn apply(mut body: Value, changes: &[Change]) -> Vec<u8> {
    const RAW: &str = "__raw_number__";
    let mut raw = None;
    for c in changes {
        let mut all = Vec::new();
        pointers(&body, String::new(), &mut all);
        let pick = |i: &Index| all[i.index(all.len())].clone();
        match c {
            Change::Replace(i, v) => {
                if let Some(slot) = body.pointer_mut(&pick(i)) {
                    *slot = v.clone();
                }
            }
            Change::Remove(i) => {
                let p = pick(i);
                if let Some((parent, key)) = p.rsplit_once('/') {
                    let key = key.replace("~1", "/").replace("~0", "~");
                    match body.pointer_mut(parent) {
                        Some(Value::Object(m)) => {
                            m.remove(&key);
                        }
                        Some(Value::Array(a)) => {
                            if let Ok(i) = key.parse::<usize>() {
                                a.remove(i);
                            }
                        }
                        _ => {}
                    }
                }
            }
            Change::RawNumber(i, n) => {
                if let Some(slot) = body.pointer_mut(&pick(i)) {
                    *slot = json!(RAW);
                    raw = Some(RAW_NUMBERS[*n]);
                }
            }
        }
    }
    let text = body.to_string();
    match raw {
        Some(n) => text.replace(&format!("\"{RAW}\""), n).into_bytes(),
        None => text.into_bytes(),
    }
}

/// Runs the endpoint's parser; `Ok` carries nothing but the fact.
fn parse(endpoint: Endpoint, r: &Reply) -> Result<(), TikTokError> {
    match endpoint {
        Endpoint::UserInfo => parse_v2::<UserInfoData>("user/info", r).map(drop),
        Endpoint::VideoList => parse_v2::<VideoPage>("video/list", r).map(drop),
        Endpoint::CreatorInfo => parse_v2::<CreatorInfo>("creator_info", r).map(drop),
        Endpoint::Init => parse_v2::<InitResult>("video/init", r).map(drop),
        Endpoint::Status => parse_v2::<WireStatus>("status/fetch", r)
            // As the client does: the envelope said `ok`, so the body is TikTok's success.
            .and_then(|w| {
                w.into_status().map_err(|m| TikTokError::Malformed {
                    endpoint: "status/fetch",
                    status: 200,
                    detail: m.into(),
                })
            })
            .map(drop),
        Endpoint::Token => parse_token("oauth/token", r).map(drop),
        Endpoint::Revoke => parse_revoke("oauth/revoke", r),
    }
}

/// The contract every failure keeps; `structural` bodies were changed as JSON only, so any
/// secret in them still sits in a data or token field.
fn check(endpoint: Endpoint, r: &Reply, structural: bool) -> Result<(), TestCaseError> {
    let success = (200..300).contains(&r.status);
    match parse(endpoint, r) {
        Ok(()) => {
            if !matches!(endpoint, Endpoint::Token | Endpoint::Revoke) {
                // A v2 body only succeeds with `error.code == "ok"`.
                let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                prop_assert_eq!(v.pointer("/error/code").and_then(Value::as_str), Some("ok"));
            }
            if matches!(endpoint, Endpoint::Revoke) {
                prop_assert!(success);
            }
        }
        Err(e) => {
            match &e {
                TikTokError::Api { code, status, .. } => {
                    prop_assert!(!code.is_empty() && code != "ok");
                    prop_assert_eq!(*status, r.status);
                }
                TikTokError::OAuth { error, status, .. } => {
                    prop_assert!(!error.is_empty());
                    prop_assert_eq!(*status, r.status);
                }
                TikTokError::Http { status, .. } => prop_assert!(!(200..300).contains(status)),
                TikTokError::Malformed { status, detail, .. } => {
                    prop_assert!(
                        (200..300).contains(status),
                        "Malformed with HTTP {}",
                        status
                    );
                    prop_assert!(!detail.is_empty());
                }
                other => prop_assert!(false, "a response parser returned {other:?}"),
            }
            let _ = e.class();
            let _ = e.outcome_unknown();
            prop_assert!(!e.creator_message().is_empty());
            let text = format!("{e} {e:?}");
            prop_assert!(!text.is_empty());
            if structural {
                prop_assert!(!text.contains(SECRET), "leaked: {text}");
            }
        }
    }
    Ok(())
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    proptest::sample::select(ENDPOINTS.to_vec())
}

/// A body for `endpoint`: valid or an error body, then maybe changed as JSON.
fn structural_body() -> impl Strategy<Value = (Endpoint, Vec<u8>)> {
    endpoint().prop_flat_map(|ep| {
        let base = prop_oneof![3 => valid_body(ep), 1 => error_body()];
        (Just(ep), base, proptest::collection::vec(change(), 0..4))
            .prop_map(|(ep, body, changes)| (ep, apply(body, &changes)))
    })
}

proptest! {
    #![proptest_config(config(3000))]

    /// Wrong types, missing fields, numbers too big for any type, error bodies of both shapes,
    /// under any status.
    #[test]
    fn changed_bodies_fail_typed_and_never_quote_a_token(
        (ep, body) in structural_body(),
        status in status(),
    ) {
        check(ep, &reply(status, body), true)?;
    }

    /// Byte-level damage, junk and huge bodies: never a panic, always a typed outcome.
    #[test]
    fn damaged_bodies_fail_typed(
        (ep, body) in prop_oneof![
            4 => structural_body().prop_flat_map(|(ep, b)| (Just(ep), mutate::mutated_bytes(b, 6))),
            1 => (endpoint(), proptest::collection::vec(any::<u8>(), 0..200)),
            1 => (endpoint(), huge_string().prop_map(String::into_bytes)),
        ],
        status in status(),
    ) {
        check(ep, &reply(status, body), false)?;
    }

    /// `publicaly_available_post_id` keeps every digit of 19- and 20-digit ids, as numbers or
    /// strings, and refuses (never rounds) what is not an exact unsigned id.
    #[test]
    fn post_ids_keep_every_digit(ids in proptest::collection::vec(id(), 0..6), bad in proptest::option::of(0usize..7)) {
        let mut items: Vec<String> = ids
            .iter()
            .map(|(n, s)| if *s { format!("\"{n}\"") } else { n.to_string() })
            .collect();
        let hostile = ["18446744073709551616", "-5", "1.5", "7.2e18", "\"12a\"", "\"\"", "null"];
        if let Some(b) = bad {
            items.push(hostile[b].to_owned());
        }
        let body = format!(
            r#"{{"data":{{"status":"PUBLISH_COMPLETE","publicaly_available_post_id":[{}]}},"error":{{"code":"ok","message":"","log_id":"x"}}}}"#,
            items.join(",")
        );
        let got = parse_v2::<WireStatus>("status/fetch", &reply(200, body)).map(|w| w.into_status());
        match bad {
            None => {
                let s = got.unwrap().unwrap();
                let want: Vec<String> = ids.iter().map(|(n, _)| n.to_string()).collect();
                prop_assert_eq!(s.public_post_ids, want);
            }
            Some(_) => {
                let e = got.err();
                prop_assert!(matches!(e, Some(TikTokError::Malformed { status: 200, .. })), "{e:?}");
            }
        }
    }

    /// Video ids in `video/list` too.
    #[test]
    fn video_ids_keep_every_digit(ids in proptest::collection::vec(id(), 0..6)) {
        let videos: Vec<Value> = ids.iter().map(|&i| json!({ "id": id_json(i) })).collect();
        let body = json!({ "data": { "videos": videos }, "error": { "code": "ok" } }).to_string();
        let page = parse_v2::<VideoPage>("video/list", &reply(200, body)).unwrap();
        let got: Vec<String> = page.videos.into_iter().map(|v| v.id).collect();
        let want: Vec<String> = ids.iter().map(|(n, _)| n.to_string()).collect();
        prop_assert_eq!(got, want);
    }

    /// `Content-Range` and `Retry-After`: exact for well-formed values, `None` (never a panic or
    /// a wrapped number) for the rest.
    #[test]
    fn progress_and_retry_headers_parse_or_are_ignored(
        first in any::<u64>(),
        last in any::<u64>(),
        total in any::<u64>(),
        sep in proptest::sample::select(&[" ", "=", " = ", "  "][..]),
        secs in any::<u64>(),
        junk in wild_string(40),
    ) {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_RANGE, HeaderValue::from_str(&format!("bytes{sep}{first}-{last}/{total}")).unwrap());
        prop_assert_eq!(received_bytes(&h), last.checked_add(1));
        h.insert(RETRY_AFTER, HeaderValue::from_str(&secs.to_string()).unwrap());
        prop_assert_eq!(retry_after(&h), Some(Duration::from_secs(secs)));
        if let Ok(v) = HeaderValue::from_bytes(junk.as_bytes()) {
            h.insert(CONTENT_RANGE, v.clone());
            h.insert(RETRY_AFTER, v);
            if let Some(n) = received_bytes(&h) {
                prop_assert!(n >= 1);
            }
            let _ = retry_after(&h);
        }
    }
}
