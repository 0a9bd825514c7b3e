//! Content Posting API: creator_info, direct and inbox video init, photo content init,
//! status/fetch and cancel (tiktok-api.md §5), with TikTok's caps and audit rules.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use super::upload::UPLOAD_PATH;
use super::v2::{Caller, Gate, PostRequest, V2Error, admit, json_body, locked, ok};
use crate::ids::{new_post_id, random_string};
use crate::model::{App, Creator};
use crate::state::task::{
    ChunkPlan, PhotoPull, PostInfo, PostMode, PublishTask, Source, Status, Upload,
};
use crate::state::{Inner, SandboxState};

// The rate-limited endpoints here: who may call them, and the bucket each counts in.
const CREATOR_INFO: Gate = Gate::new(&["video.publish"], "creator_info", |r| r.creator_info);
const VIDEO_INIT: Gate = Gate::new(&["video.publish"], "video.init", |r| r.init);
const INBOX_VIDEO_INIT: Gate = Gate::new(&["video.upload"], "inbox.video.init", |r| r.init);
/// Either scope, depending on the post mode: checked once the body says which.
const CONTENT_INIT: Gate = Gate::new(&[], "content.init", |r| r.init);

const PRIVACY_LEVELS: [&str; 4] = [
    "PUBLIC_TO_EVERYONE",
    "MUTUAL_FOLLOW_FRIENDS",
    "FOLLOWER_OF_CREATOR",
    "SELF_ONLY",
];

/// Privacy options TikTok offers for an account (public vs private differ).
pub(crate) fn privacy_options(c: &Creator) -> Vec<&'static str> {
    if c.private_account {
        vec!["FOLLOWER_OF_CREATOR", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]
    } else {
        vec!["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]
    }
}

fn day_ago(now: DateTime<Utc>) -> DateTime<Utc> {
    now - TimeDelta::hours(24)
}

/// Direct posts by a creator in the trailing 24 h (shared across apps, as on TikTok).
fn daily_posts(inner: &Inner, open_id: &str, now: DateTime<Utc>) -> usize {
    inner
        .tiktok
        .tasks
        .iter()
        .filter(|t| {
            t.mode == PostMode::Direct && t.open_id == open_id && t.created_at > day_ago(now)
        })
        .count()
}

/// Whether a new creator would exceed the app's daily active-publishing-user quota.
fn app_cap_reached(inner: &Inner, app: &App, open_id: &str, now: DateTime<Utc>) -> bool {
    let cap = app
        .active_user_cap
        .or((!app.audited).then_some(inner.knobs.unaudited_active_user_cap));
    let Some(cap) = cap else { return false };
    let mut users: Vec<&str> = inner
        .tiktok
        .tasks
        .iter()
        .filter(|t| {
            t.mode == PostMode::Direct
                && t.client_key == app.client_key
                && t.created_at > day_ago(now)
        })
        .map(|t| t.open_id.as_str())
        .collect();
    users.sort_unstable();
    users.dedup();
    !users.contains(&open_id) && users.len() >= cap as usize
}

/// Inbox shares created in the trailing 24 h that the creator has not posted yet.
fn pending_shares(inner: &Inner, open_id: &str, now: DateTime<Utc>) -> usize {
    inner
        .tiktok
        .tasks
        .iter()
        .filter(|t| {
            t.mode == PostMode::Inbox
                && t.open_id == open_id
                && t.created_at > day_ago(now)
                && !matches!(t.status, Status::PublishComplete | Status::Failed)
        })
        .count()
}

fn creator_and_app(inner: &Inner, caller: &Caller) -> Result<(Creator, App), V2Error> {
    let creator = inner.tiktok.creators.get(&caller.open_id).cloned();
    let app = inner.tiktok.apps.get(&caller.client_key).cloned();
    creator.zip(app).ok_or_else(V2Error::token_invalid)
}

fn banned() -> V2Error {
    V2Error::forbidden(
        "spam_risk_user_banned_from_posting",
        "The user is banned from making new posts.",
    )
}

fn too_many_posts() -> V2Error {
    V2Error::forbidden(
        "spam_risk_too_many_posts",
        "The daily post cap from the API is reached for the current user.",
    )
}

/// The inbox refusal; TikTok sends it without a `data` object.
fn too_many_pending_shares() -> V2Error {
    let mut e = V2Error::forbidden(
        "spam_risk_too_many_pending_share",
        "The user has too many pending shares awaiting action in the inbox.",
    );
    e.omit_data = true;
    e
}

fn active_user_cap() -> V2Error {
    V2Error::forbidden(
        "reached_active_user_cap",
        "The daily quota of active publishing users for this client is reached.",
    )
}

/// `POST /v2/post/publish/creator_info/query/`. Caps and bans come back with HTTP 200.
pub(crate) async fn creator_info((State(s), headers, body): PostRequest) -> Response {
    locked(&s, |inner, now| {
        let caller = admit(inner, &headers, now, &CREATOR_INFO)?;
        json_body(&headers, &body, true)?;
        let (c, app) = creator_and_app(inner, &caller)?;
        // TikTok answers these "intentionally" with 200; the UI must read error.code.
        let with_200 = |mut e: V2Error| {
            e.status = StatusCode::OK;
            e
        };
        if c.banned {
            return Err(with_200(banned()));
        }
        if daily_posts(inner, &c.open_id, now) >= c.daily_post_cap as usize {
            return Err(with_200(too_many_posts()));
        }
        if app_cap_reached(inner, &app, &c.open_id, now) {
            return Err(with_200(active_user_cap()));
        }
        Ok(ok(json!({
            "creator_avatar_url": c.avatar_url,
            "creator_username": c.username,
            "creator_nickname": c.display_name,
            "privacy_level_options": privacy_options(&c),
            "comment_disabled": c.comment_disabled,
            "duet_disabled": c.duet_disabled || c.private_account,
            "stitch_disabled": c.stitch_disabled || c.private_account,
            "max_video_post_duration_sec": c.max_video_post_duration_sec,
        })))
    })
}

fn object<'a>(body: &'a Value, key: &str) -> Result<&'a serde_json::Map<String, Value>, V2Error> {
    body.get(key)
        .and_then(Value::as_object)
        .ok_or_else(|| V2Error::invalid_params(format!("{key} is required.")))
}

fn opt_bool(obj: &serde_json::Map<String, Value>, key: &str) -> Result<bool, V2Error> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(V2Error::invalid_params(format!("{key} must be a boolean."))),
    }
}

fn opt_string(obj: &serde_json::Map<String, Value>, key: &str) -> Result<Option<String>, V2Error> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(V2Error::invalid_params(format!("{key} must be a string."))),
    }
}

fn positive_int(obj: &serde_json::Map<String, Value>, key: &str) -> Result<u64, V2Error> {
    obj.get(key).and_then(Value::as_u64).ok_or_else(|| {
        V2Error::invalid_params(format!("{key} is required and must be a positive integer."))
    })
}

fn parse_post_info(
    obj: &serde_json::Map<String, Value>,
    max_title_utf16: usize,
) -> Result<PostInfo, V2Error> {
    let title = opt_string(obj, "title")?;
    if title
        .as_ref()
        .is_some_and(|t| t.encode_utf16().count() > max_title_utf16)
    {
        return Err(V2Error::invalid_params(format!(
            "The title exceeds {max_title_utf16} characters."
        )));
    }
    for key in [
        "brand_content_toggle",
        "brand_organic_toggle",
        "is_aigc",
        "auto_add_music",
    ] {
        opt_bool(obj, key)?;
    }
    let cover = match obj.get("video_cover_timestamp_ms") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .and_then(|ms| i32::try_from(ms).ok())
                .ok_or_else(|| {
                    V2Error::invalid_params("video_cover_timestamp_ms must be an int32.")
                })?,
        ),
    };
    Ok(PostInfo {
        title,
        privacy_level: opt_string(obj, "privacy_level")?,
        disable_comment: opt_bool(obj, "disable_comment")?,
        disable_duet: opt_bool(obj, "disable_duet")?,
        disable_stitch: opt_bool(obj, "disable_stitch")?,
        video_cover_timestamp_ms: cover.and_then(|ms| u32::try_from(ms).ok()),
    })
}

/// Privacy and audit rules of a direct post, in TikTok's order.
fn check_direct_rules(
    inner: &Inner,
    c: &Creator,
    app: &App,
    privacy: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), V2Error> {
    let mismatch = || {
        V2Error::forbidden(
            "privacy_level_option_mismatch",
            "privacy_level is missing or not one of the creator's privacy_level_options.",
        )
    };
    let privacy = privacy.ok_or_else(mismatch)?;
    if !PRIVACY_LEVELS.contains(&privacy) || !privacy_options(c).contains(&privacy) {
        return Err(mismatch());
    }
    if !app.audited {
        if !c.private_account {
            return Err(V2Error::forbidden(
                "unaudited_client_can_only_post_to_private_accounts",
                "Unaudited clients can only post to a private account.",
            ));
        }
        if privacy != "SELF_ONLY" {
            let code = inner.knobs.unaudited_privacy_error.clone();
            return Err(V2Error::forbidden(
                &code,
                "Unaudited clients can only post with SELF_ONLY visibility.",
            ));
        }
    }
    if c.banned {
        return Err(banned());
    }
    if daily_posts(inner, &c.open_id, now) >= c.daily_post_cap as usize {
        return Err(too_many_posts());
    }
    if app_cap_reached(inner, app, &c.open_id, now) {
        return Err(active_user_cap());
    }
    Ok(())
}

/// PULL_FROM_URL: https, a domain host, under a verified domain or URL prefix.
fn check_pull_url(app: &App, raw: &str, allow_http: bool) -> Result<(), V2Error> {
    let url =
        url::Url::parse(raw).map_err(|_| V2Error::invalid_params("The media URL is invalid."))?;
    if allow_http
        && matches!(url.scheme(), "http" | "https")
        && app
            .verified_url_prefixes
            .iter()
            .any(|p| raw.starts_with(p.as_str()))
    {
        return Ok(()); // the `pull_allows_http` knob: a test server under a verified prefix
    }
    if url.scheme() != "https" {
        return Err(V2Error::invalid_params("The media URL must use https."));
    }
    let unverified = || {
        V2Error::forbidden(
            "url_ownership_unverified",
            "The media URL is not under a verified domain or URL prefix.",
        )
    };
    let Some(url::Host::Domain(host)) = url.host() else {
        return Err(unverified());
    };
    let host = host.to_ascii_lowercase();
    let domain_ok = app.verified_domains.iter().any(|d| {
        let d = d.to_ascii_lowercase();
        host == d || host.ends_with(&format!(".{d}"))
    });
    let prefix_ok = app
        .verified_url_prefixes
        .iter()
        .any(|p| raw.starts_with(p.as_str()));
    if domain_ok || prefix_ok {
        Ok(())
    } else {
        Err(unverified())
    }
}

/// `source_info` of a video init.
enum VideoSource {
    File(ChunkPlan),
    Pull { video_url: String },
}

fn parse_source(body: &Value, inner: &Inner, app: &App) -> Result<VideoSource, V2Error> {
    let src = object(body, "source_info")?;
    match src.get("source").and_then(Value::as_str) {
        Some("FILE_UPLOAD") => {
            let plan = ChunkPlan {
                video_size: positive_int(src, "video_size")?,
                chunk_size: positive_int(src, "chunk_size")?,
                total_chunk_count: positive_int(src, "total_chunk_count")?,
            };
            inner
                .knobs
                .chunks
                .validate(plan.video_size, plan.chunk_size, plan.total_chunk_count)
                .map_err(|e| V2Error::new(StatusCode::BAD_REQUEST, e.code(), e.message()))?;
            Ok(VideoSource::File(plan))
        }
        Some("PULL_FROM_URL") => {
            let video_url = opt_string(src, "video_url")?
                .filter(|u| !u.is_empty())
                .ok_or_else(|| {
                    V2Error::invalid_params("video_url is required for PULL_FROM_URL.")
                })?;
            check_pull_url(app, &video_url, inner.knobs.pull_allows_http)?;
            Ok(VideoSource::Pull { video_url })
        }
        _ => Err(V2Error::invalid_params(
            "source_info.source must be FILE_UPLOAD or PULL_FROM_URL.",
        )),
    }
}

struct NewTask {
    mode: PostMode,
    photo: bool,
    info: PostInfo,
    source: VideoSource,
    /// Photo posts: the images to pull (fetched when `pull_fetches_photos` is on).
    photo_urls: Vec<String>,
}

/// A fresh upload slot on the sandbox's upload host, with its one-hour URL.
fn new_upload(base_url: &str, now: DateTime<Utc>, keep_bytes: bool) -> Upload {
    let upload_id = new_post_id().to_string();
    let upload_token = random_string(32);
    let url = format!("{base_url}{UPLOAD_PATH}?upload_id={upload_id}&upload_token={upload_token}");
    Upload {
        upload_id,
        upload_token,
        url,
        issued_at: now,
        received: 0,
        chunks: 0,
        hasher: Some(sha2::Digest::new()),
        sha256: None,
        bytes: keep_bytes.then(Vec::new),
        head: Vec::new(),
    }
}

/// Creates the task and answers `{publish_id, upload_url?}`.
fn create_task(
    s: &SandboxState,
    inner: &mut Inner,
    caller: &Caller,
    now: DateTime<Utc>,
    t: NewTask,
) -> Response {
    let digits = new_post_id();
    let (prefix, source) = match (&t.source, t.mode, t.photo) {
        (_, _, true) => ("p_pub_url~v2.", Source::PullFromUrl),
        (VideoSource::File(_), PostMode::Direct, _) => ("v_pub_file~v2-1.", Source::FileUpload),
        (VideoSource::Pull { .. }, PostMode::Direct, _) => ("v_pub_url~v2-1.", Source::PullFromUrl),
        (VideoSource::File(_), PostMode::Inbox, _) => ("v_inbox_file~v2.", Source::FileUpload),
        (VideoSource::Pull { .. }, PostMode::Inbox, _) => ("v_inbox_url~v2.", Source::PullFromUrl),
    };
    let publish_id = format!("{prefix}{digits}");
    let (plan, video_url, upload) = match t.source {
        VideoSource::File(plan) => {
            let keep = plan.video_size <= inner.knobs.keep_upload_bytes_max;
            (Some(plan), None, Some(new_upload(s.base_url(), now, keep)))
        }
        VideoSource::Pull { video_url } => (None, Some(video_url), None),
    };
    let forced_failure = inner.tiktok.take_media_check(&caller.open_id);
    let upload_url = upload.as_ref().map(|u| u.url.clone());
    let fetch = inner.knobs.pull_fetches_photos && !t.photo_urls.is_empty();
    if fetch {
        tokio::spawn(super::pull::fetch_photos(
            s.clone(),
            publish_id.clone(),
            t.photo_urls.clone(),
        ));
    }
    inner.tiktok.tasks.push(PublishTask {
        publish_id: publish_id.clone(),
        client_key: caller.client_key.clone(),
        open_id: caller.open_id.clone(),
        mode: t.mode,
        photo: t.photo,
        source,
        info: t.info,
        plan,
        video_url,
        upload,
        status: if source == Source::FileUpload {
            Status::ProcessingUpload
        } else {
            Status::ProcessingDownload
        },
        fail_reason: None,
        post_ids: Vec::new(),
        created_at: now,
        ready_at: None,
        delivered_at: None,
        published_at: None,
        public_pending: false,
        forced_failure,
        photo_pull: if fetch {
            PhotoPull::Running
        } else {
            PhotoPull::Simulated
        },
    });
    match upload_url {
        Some(u) => ok(json!({"publish_id": publish_id, "upload_url": u})),
        None => ok(json!({"publish_id": publish_id})),
    }
}

/// Admits the caller through `gate`, reads the JSON body, and creates the task `build` reads
/// from it.
fn init_task(
    (State(s), headers, body): PostRequest,
    gate: &Gate,
    build: impl FnOnce(&Inner, &Caller, &Value, DateTime<Utc>) -> Result<NewTask, V2Error>,
) -> Response {
    locked(&s, |inner, now| {
        let caller = admit(inner, &headers, now, gate)?;
        let body = json_body(&headers, &body, false)?;
        let task = build(inner, &caller, &body, now)?;
        Ok(create_task(&s, inner, &caller, now, task))
    })
}

/// `POST /v2/post/publish/video/init/` — Direct Post.
pub(crate) async fn video_init(request: PostRequest) -> Response {
    init_task(request, &VIDEO_INIT, |inner, caller, body, now| {
        let (c, app) = creator_and_app(inner, caller)?;
        let info = parse_post_info(object(body, "post_info")?, inner.knobs.max_title_utf16)?;
        object(body, "source_info")?;
        check_direct_rules(inner, &c, &app, info.privacy_level.as_deref(), now)?;
        let source = parse_source(body, inner, &app)?;
        Ok(NewTask {
            mode: PostMode::Direct,
            photo: false,
            info,
            source,
            photo_urls: Vec::new(),
        })
    })
}

/// `POST /v2/post/publish/inbox/video/init/` — upload to the creator's inbox as a draft.
pub(crate) async fn inbox_init(request: PostRequest) -> Response {
    init_task(request, &INBOX_VIDEO_INIT, |inner, caller, body, now| {
        let (c, app) = creator_and_app(inner, caller)?;
        // Only source_info is documented; a title is recorded (whether TikTok honours it is
        // UNCONFIRMED) and everything else is ignored.
        let title = match body.get("post_info").and_then(Value::as_object) {
            Some(p) => opt_string(p, "title")?,
            None => None,
        };
        object(body, "source_info")?;
        if c.banned {
            return Err(banned());
        }
        if pending_shares(inner, &c.open_id, now) >= inner.knobs.pending_share_cap as usize {
            return Err(too_many_pending_shares());
        }
        let source = parse_source(body, inner, &app)?;
        let info = PostInfo {
            title,
            privacy_level: None,
            disable_comment: false,
            disable_duet: false,
            disable_stitch: false,
            video_cover_timestamp_ms: None,
        };
        Ok(NewTask {
            mode: PostMode::Inbox,
            photo: false,
            info,
            source,
            photo_urls: Vec::new(),
        })
    })
}

/// `media_type` must be `PHOTO`; `post_mode` picks direct or inbox.
fn photo_mode(body: &Value) -> Result<PostMode, V2Error> {
    if body.get("media_type").and_then(Value::as_str) != Some("PHOTO") {
        return Err(V2Error::invalid_params("media_type must be PHOTO."));
    }
    match body.get("post_mode").and_then(Value::as_str) {
        Some("DIRECT_POST") => Ok(PostMode::Direct),
        Some("MEDIA_UPLOAD") => Ok(PostMode::Inbox),
        _ => Err(V2Error::invalid_params(
            "post_mode must be DIRECT_POST or MEDIA_UPLOAD.",
        )),
    }
}

/// A photo post's `post_info`: a direct post's fields, a 90-character title, a description.
fn photo_info(body: &Value, max_title_utf16: usize) -> Result<PostInfo, V2Error> {
    let post_info = body
        .get("post_info")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let info = parse_post_info(&post_info, max_title_utf16)?;
    if info.title.as_ref().is_some_and(|t| t.chars().count() > 90) {
        return Err(V2Error::invalid_params(
            "The photo title exceeds 90 characters.",
        ));
    }
    if opt_string(&post_info, "description")?.is_some_and(|d| d.chars().count() > 4000) {
        return Err(V2Error::invalid_params(
            "The description exceeds 4000 characters.",
        ));
    }
    Ok(info)
}

/// `source_info` of a photo post: PULL_FROM_URL, 1 to 35 images, a cover index among them.
fn photo_images(body: &Value) -> Result<Vec<String>, V2Error> {
    let src = object(body, "source_info")?;
    if src.get("source").and_then(Value::as_str) != Some("PULL_FROM_URL") {
        return Err(V2Error::invalid_params(
            "source_info.source must be PULL_FROM_URL for photos.",
        ));
    }
    let images: Vec<String> = src
        .get("photo_images")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if images.is_empty() || images.len() > 35 {
        return Err(V2Error::invalid_params(
            "photo_images must hold 1 to 35 URLs.",
        ));
    }
    let cover = src
        .get("photo_cover_index")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if cover >= images.len() as u64 {
        return Err(V2Error::invalid_params(
            "photo_cover_index is out of range.",
        ));
    }
    Ok(images)
}

/// `POST /v2/post/publish/content/init/` — photo posts (PULL_FROM_URL only).
pub(crate) async fn content_init(request: PostRequest) -> Response {
    init_task(request, &CONTENT_INIT, |inner, caller, body, now| {
        let mode = photo_mode(body)?;
        let scope = if mode == PostMode::Direct {
            "video.publish"
        } else {
            "video.upload"
        };
        if !caller.has(scope) {
            return Err(V2Error::scope_not_authorized());
        }
        let (c, app) = creator_and_app(inner, caller)?;
        let info = photo_info(body, inner.knobs.max_title_utf16)?;
        let images = photo_images(body)?;
        if mode == PostMode::Direct {
            check_direct_rules(inner, &c, &app, info.privacy_level.as_deref(), now)?;
        } else if pending_shares(inner, &c.open_id, now) >= inner.knobs.pending_share_cap as usize {
            return Err(too_many_pending_shares());
        } else if c.banned {
            return Err(banned());
        }
        for image in &images {
            check_pull_url(&app, image, inner.knobs.pull_allows_http)?;
        }
        let source = VideoSource::Pull {
            video_url: images[0].clone(),
        };
        Ok(NewTask {
            mode,
            photo: true,
            info,
            source,
            photo_urls: images,
        })
    })
}
