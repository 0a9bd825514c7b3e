//! Display API: `/v2/user/info/`, `/v2/video/list/`, `/v2/video/query/` (tiktok-api.md §4).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::v2::{Caller, Gate, V2Error, admit, json_body, locked, ok};
use crate::knobs::FieldScopeMiss;
use crate::model::Video;
use crate::state::{Inner, SandboxState};

// The rate-limited endpoints here: who may call them, and the bucket each counts in.
const USER_INFO: Gate = Gate::new(&["user.info.basic"], "user.info", |r| r.display);
const VIDEO_LIST: Gate = Gate::new(&["video.list"], "video.list", |r| r.display);
const VIDEO_QUERY: Gate = Gate::new(&["video.list"], "video.query", |r| r.display);

/// Which scope each user field needs.
fn user_field_scope(field: &str) -> Option<&'static str> {
    Some(match field {
        "open_id" | "union_id" | "avatar_url" | "avatar_url_100" | "avatar_large_url"
        | "display_name" => "user.info.basic",
        "bio_description" | "profile_deep_link" | "profile_web_link" | "is_verified"
        | "username" => "user.info.profile",
        "follower_count" | "following_count" | "likes_count" | "video_count" => "user.info.stats",
        _ => return None,
    })
}

const VIDEO_FIELDS: [&str; 16] = [
    "id",
    "create_time",
    "cover_image_url",
    "share_url",
    "video_description",
    "duration",
    "height",
    "width",
    "title",
    "embed_html",
    "embed_link",
    "like_count",
    "comment_count",
    "share_count",
    "view_count",
    "is_aigc",
];

fn fields_param(q: &HashMap<String, String>) -> Result<Vec<String>, V2Error> {
    let fields: Vec<String> = q
        .get("fields")
        .map(|f| {
            f.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if fields.is_empty() {
        return Err(V2Error::invalid_params("The fields parameter is required."));
    }
    Ok(fields)
}

/// `GET /v2/user/info/?fields=…` — only the requested fields, each gated by its scope.
pub(crate) async fn user_info(
    State(s): State<SandboxState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    locked(&s, |inner, now| {
        let caller = admit(inner, &headers, now, &USER_INFO)?;
        let fields = fields_param(&q)?;
        for f in &fields {
            let scope = user_field_scope(f)
                .ok_or_else(|| V2Error::invalid_params(format!("Invalid field: {f}")))?;
            if !caller.has(scope) {
                return Err(match inner.knobs.field_scope_miss {
                    FieldScopeMiss::ScopePermissionMissed => V2Error::new(
                        axum::http::StatusCode::BAD_REQUEST,
                        "scope_permission_missed",
                        format!(
                            "The field {f} requires the {scope} scope, which the user did not grant."
                        ),
                    ),
                    FieldScopeMiss::ScopeNotAuthorized => V2Error::scope_not_authorized(),
                });
            }
        }
        let c = inner
            .tiktok
            .creators
            .get(&caller.open_id)
            .ok_or_else(V2Error::token_invalid)?;
        let video_count = inner
            .tiktok
            .videos
            .iter()
            .filter(|v| v.open_id == c.open_id && v.public)
            .count();
        let user = pick_fields(&fields, |f| {
            Some(match f {
                "open_id" => json!(c.open_id),
                "union_id" => json!(c.union_id),
                "avatar_url" | "avatar_url_100" | "avatar_large_url" => json!(c.avatar_url),
                "display_name" => json!(c.display_name),
                "bio_description" => json!(c.bio_description),
                "profile_deep_link" => {
                    json!(format!("https://vm.tiktok.com/sandbox-{}/", c.username))
                }
                "profile_web_link" => json!(format!("https://www.tiktok.com/@{}", c.username)),
                "is_verified" => json!(c.is_verified),
                "username" => json!(c.username),
                "follower_count" => json!(c.follower_count),
                "following_count" => json!(c.following_count),
                "likes_count" => json!(c.likes_count),
                "video_count" => json!(video_count),
                _ => return None,
            })
        });
        Ok(ok(json!({ "user": user })))
    })
}

/// The requested fields that `value` knows, in the order asked, as a JSON object.
fn pick_fields(fields: &[String], value: impl Fn(&str) -> Option<Value>) -> Map<String, Value> {
    fields
        .iter()
        .filter_map(|f| Some((f.clone(), value(f)?)))
        .collect()
}

fn video_json(v: &Video, fields: &[String], username: &str, base_url: &str) -> Value {
    Value::Object(pick_fields(fields, |f| {
        Some(match f {
            "id" => json!(v.id),
            "create_time" => json!(v.create_time),
            "cover_image_url" => json!(format!("{base_url}/_sandbox/cover/{}.jpeg", v.id)),
            "share_url" => json!(format!("https://www.tiktok.com/@{username}/video/{}", v.id)),
            "video_description" | "title" => json!(v.title),
            "duration" => json!(v.duration),
            "height" => json!(v.height),
            "width" => json!(v.width),
            "embed_html" => json!(format!(
                "<blockquote class=\"tiktok-embed\" cite=\"https://www.tiktok.com/@{username}/video/{id}\" data-video-id=\"{id}\"></blockquote>",
                id = v.id
            )),
            "embed_link" => json!(format!("https://www.tiktok.com/player/v1/{}", v.id)),
            "like_count" => json!(v.like_count),
            "comment_count" => json!(v.comment_count),
            "share_count" => json!(v.share_count),
            "view_count" => json!(v.view_count),
            "is_aigc" => json!(false),
            _ => return None,
        })
    }))
}

/// The creator's username, shown on each video (empty for a creator that is gone).
fn username_of(inner: &Inner, open_id: &str) -> String {
    inner
        .tiktok
        .creators
        .get(open_id)
        .map(|c| c.username.clone())
        .unwrap_or_default()
}

fn video_fields(q: &HashMap<String, String>) -> Result<Vec<String>, V2Error> {
    let fields = fields_param(q)?;
    if let Some(bad) = fields.iter().find(|f| !VIDEO_FIELDS.contains(&f.as_str())) {
        return Err(V2Error::invalid_params(format!("Invalid field: {bad}")));
    }
    Ok(fields)
}

/// What a video endpoint reads: the sandbox, the headers, `?fields=` and the JSON body.
type VideoRequest = (
    State<SandboxState>,
    HeaderMap,
    Query<HashMap<String, String>>,
    Bytes,
);

/// The videos an answer lists, and where the next page starts.
struct Page<'a> {
    videos: Vec<&'a Video>,
    cursor: i64,
    has_more: bool,
}

/// Settles due work, admits the caller through `gate`, reads `?fields=` and the body (which
/// may be empty when `empty_body`), and lists the videos `page` picks with those fields.
fn video_page(
    (State(s), headers, Query(q), body): VideoRequest,
    gate: &Gate,
    empty_body: bool,
    page: impl for<'a> FnOnce(&'a Inner, &Caller, &Value) -> Result<Page<'a>, V2Error>,
) -> Response {
    s.settle();
    let base_url = s.base_url().to_owned();
    locked(&s, |inner, now| {
        let caller = admit(inner, &headers, now, gate)?;
        let fields = video_fields(&q)?;
        let body = json_body(&headers, &body, empty_body)?;
        let inner: &Inner = inner;
        let page = page(inner, &caller, &body)?;
        let username = username_of(inner, &caller.open_id);
        let list: Vec<Value> = page
            .videos
            .iter()
            .map(|v| video_json(v, &fields, &username, &base_url))
            .collect();
        Ok(ok(
            json!({"videos": list, "cursor": page.cursor, "has_more": page.has_more}),
        ))
    })
}

/// `POST /v2/video/list/` — the creator's public videos, newest first, paged by a
/// millisecond `cursor`.
pub(crate) async fn video_list(request: VideoRequest) -> Response {
    video_page(request, &VIDEO_LIST, true, |inner, caller, body| {
        let cursor = match body.get("cursor") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_i64()
                    .ok_or_else(|| V2Error::invalid_params("cursor must be an int64."))?,
            ),
        };
        let max_count = match body.get("max_count") {
            None | Some(Value::Null) => 10,
            Some(v) => v
                .as_i64()
                .ok_or_else(|| V2Error::invalid_params("max_count must be an int32."))?,
        };
        if !(1..=20).contains(&max_count) {
            return Err(V2Error::invalid_params(
                "max_count must be between 1 and 20.",
            ));
        }
        let public_only = inner.knobs.video_list_public_only;
        let mut videos: Vec<&Video> = inner
            .tiktok
            .videos
            .iter()
            .filter(|v| v.open_id == caller.open_id && (v.public || !public_only))
            .filter(|v| cursor.is_none_or(|c| v.create_time * 1000 < c))
            .collect();
        videos.sort_by(|a, b| b.create_time.cmp(&a.create_time).then(b.id.cmp(&a.id)));
        let take = usize::try_from(max_count).unwrap_or(10);
        let has_more = videos.len() > take;
        videos.truncate(take);
        let cursor = videos
            .last()
            .map_or(cursor.unwrap_or(0), |v| v.create_time * 1000);
        Ok(Page {
            videos,
            cursor,
            has_more,
        })
    })
}

/// `POST /v2/video/query/` — up to 20 of the creator's own videos by id.
pub(crate) async fn video_query(request: VideoRequest) -> Response {
    video_page(request, &VIDEO_QUERY, false, |inner, caller, body| {
        let ids: Vec<String> = body
            .pointer("/filters/video_ids")
            .and_then(Value::as_array)
            .ok_or_else(|| V2Error::invalid_params("filters.video_ids is required."))?
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| V2Error::invalid_params("video_ids must be strings."))
            })
            .collect::<Result<_, _>>()?;
        if ids.is_empty() || ids.len() > 20 {
            return Err(V2Error::invalid_params(
                "filters.video_ids must hold 1 to 20 ids.",
            ));
        }
        let videos = inner
            .tiktok
            .videos
            .iter()
            .filter(|v| v.open_id == caller.open_id && ids.contains(&v.id))
            .collect();
        Ok(Page {
            videos,
            cursor: 0,
            has_more: false,
        })
    })
}
