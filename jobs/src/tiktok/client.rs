//! [`TikTokClient`]: the only code in MKT POST that talks to TikTok (Login Kit OAuth, Display API,
//! Content Posting API and the chunk upload host).
//!
//! Every call returns a typed value or a [`TikTokError`] whose [`class`](TikTokError::class) says
//! what to do next. Calls are not retried here: retry policy belongs to the jobs, which know
//! whether a call is idempotent (`video/init` is not).
//!
//! Logging: endpoint name, HTTP status, TikTok code and `log_id` at `debug`. Never tokens, codes,
//! client secrets, upload URLs or captions.

use super::envelope::{self, Reply};
use super::error::{TikTokError, UploadRejection};
use super::photo::{PhotoInitRequest, PhotoPostInfo, PhotoSource};
use super::types::{
    AccessToken, ChunkOutcome, CreatorInfo, InboxInitRequest, InitRequest, InitResult, PostInfo,
    PublishStatus, RefreshToken, SourceInfo, TokenGrant, UserInfo, UserInfoData, VideoPage,
    WireStatus,
};
use crate::config::{Config, Secret};
use bytes::{Bytes, BytesMut};
use reqwest::header::{
    CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderMap, HeaderValue,
};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::time::Duration;
use url::Url;

/// Budget of one JSON or form call, connection included.
const API_TIMEOUT: Duration = Duration::from_secs(30);
/// Budget of opening a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// An upload PUT gets this much plus the time to send its bytes at [`UPLOAD_MIN_BYTES_PER_SEC`]:
/// a fixed total would either kill large chunks on slow links or let a stalled one hang for long.
const UPLOAD_BASE_TIMEOUT: Duration = Duration::from_secs(60);
/// The slowest sustained upload rate we wait for (100 kB/s ≈ 0.8 Mbit/s).
const UPLOAD_MIN_BYTES_PER_SEC: u64 = 100_000;
/// TikTok's bodies are small; anything bigger is not TikTok and is cut off (then fails to parse).
const MAX_BODY_BYTES: usize = 1 << 20;

/// The fields `video_list` asks for: what reconciliation and the history page need.
pub const VIDEO_LIST_FIELDS: &str = "id,title,create_time,cover_image_url,share_url,duration";
/// TikTok's maximum `max_count` for `video/list`.
pub const VIDEO_LIST_MAX_COUNT: u32 = 20;

/// A TikTok API client. Cheap to clone (the HTTP connection pool is shared).
///
/// The base URLs are configuration, so the sandbox can stand in for TikTok: `auth_base` serves the
/// browser consent page (`https://www.tiktok.com`), `api_base` every server API
/// (`https://open.tiktokapis.com`). Upload URLs come from `video/init` and are used verbatim.
#[derive(Clone, Debug)]
pub struct TikTokClient {
    http: reqwest::Client,
    auth_base: Url,
    api_base: Url,
    client_key: String,
    client_secret: Secret,
}

/// The HTTP client TikTok calls use: connect timeout, and no redirects (TikTok's APIs never
/// redirect, and following one could carry a bearer token or form secret elsewhere).
pub fn default_http_client() -> Result<reqwest::Client, TikTokError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("mktpost/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|_| TikTokError::Config("the HTTP client could not be built"))
}

impl TikTokClient {
    /// The client for the configured TikTok (or sandbox).
    pub fn new(config: &Config) -> Result<Self, TikTokError> {
        Self::from_parts(
            config.tiktok.auth_url.clone(),
            config.tiktok.api_url.clone(),
            config.tiktok.client_key.clone(),
            config.tiktok.client_secret.clone(),
        )
    }

    /// A client from explicit parts, with [`default_http_client`].
    pub fn from_parts(
        auth_base: Url,
        api_base: Url,
        client_key: impl Into<String>,
        client_secret: Secret,
    ) -> Result<Self, TikTokError> {
        Self::with_http_client(
            default_http_client()?,
            auth_base,
            api_base,
            client_key,
            client_secret,
        )
    }

    /// A client on a caller-built `reqwest::Client` (keep redirects off).
    pub fn with_http_client(
        http: reqwest::Client,
        auth_base: Url,
        api_base: Url,
        client_key: impl Into<String>,
        client_secret: Secret,
    ) -> Result<Self, TikTokError> {
        for base in [&auth_base, &api_base] {
            if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
                return Err(TikTokError::Config("TikTok base URLs must be http(s) URLs"));
            }
        }
        Ok(Self {
            http,
            auth_base,
            api_base,
            client_key: client_key.into(),
            client_secret,
        })
    }

    /// The consent page to send the creator's browser to (tiktok-api.md §2.2).
    /// `disable_auto_auth=1` always shows the consent screen, so a creator can pick another
    /// account instead of TikTok silently re-authorising the logged-in one.
    pub fn authorize_url(&self, scopes: &[&str], redirect_uri: &Url, state: &str) -> Url {
        let mut url = join(&self.auth_base, "/v2/auth/authorize/");
        url.query_pairs_mut()
            .append_pair("client_key", &self.client_key)
            .append_pair("scope", &scopes.join(","))
            .append_pair("redirect_uri", redirect_uri.as_str())
            .append_pair("state", state)
            .append_pair("response_type", "code")
            .append_pair("disable_auto_auth", "1");
        url
    }

    /// Exchanges the callback's `code` (already URL-decoded, as query extractors give it) for
    /// tokens. `redirect_uri` must equal the one sent to [`authorize_url`](Self::authorize_url).
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &Url,
    ) -> Result<TokenGrant, TikTokError> {
        let fields = [
            ("code", code),
            ("grant_type", "authorization_code"),
            ("redirect_uri", redirect_uri.as_str()),
        ];
        self.oauth_call(
            "oauth/token",
            "/v2/oauth/token/",
            &fields,
            envelope::parse_token,
        )
        .await
    }

    /// Gets fresh tokens. TikTok may rotate the refresh token: store the returned one.
    pub async fn refresh(&self, refresh_token: &RefreshToken) -> Result<TokenGrant, TikTokError> {
        let fields = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ];
        self.oauth_call(
            "oauth/refresh",
            "/v2/oauth/token/",
            &fields,
            envelope::parse_token,
        )
        .await
    }

    /// Revokes the creator's grant (disconnect). TikTok then sends `authorization.removed`.
    pub async fn revoke(&self, access_token: &AccessToken) -> Result<(), TikTokError> {
        let fields = [("token", access_token.expose())];
        self.oauth_call(
            "oauth/revoke",
            "/v2/oauth/revoke/",
            &fields,
            envelope::parse_revoke,
        )
        .await
    }

    /// The creator's profile; only the requested `fields` are filled (each needs its scope).
    pub async fn user_info(
        &self,
        token: &AccessToken,
        fields: &[&str],
    ) -> Result<UserInfo, TikTokError> {
        // Field names go into the query unencoded, as in TikTok's examples, so they must be plain.
        let plain = |f: &&str| {
            !f.is_empty()
                && f.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        if fields.is_empty() || !fields.iter().all(plain) {
            return Err(TikTokError::InvalidRequest(
                "user_info fields must be non-empty snake_case names",
            ));
        }
        let mut url = join(&self.api_base, "/v2/user/info/");
        url.set_query(Some(&format!("fields={}", fields.join(","))));
        let req = self.http.get(url).bearer_auth(token.expose());
        let data: UserInfoData = self.v2_call("user/info", req).await?;
        Ok(data.user)
    }

    /// One page of the creator's public videos, newest first ([`VIDEO_LIST_FIELDS`]).
    /// `cursor` is the previous page's cursor; `max_count` is clamped to TikTok's 1..=20.
    pub async fn video_list(
        &self,
        token: &AccessToken,
        cursor: Option<i64>,
        max_count: u32,
    ) -> Result<VideoPage, TikTokError> {
        let mut url = join(&self.api_base, "/v2/video/list/");
        url.set_query(Some(&format!("fields={VIDEO_LIST_FIELDS}")));
        let mut body = json!({ "max_count": max_count.clamp(1, VIDEO_LIST_MAX_COUNT) });
        if let Some(cursor) = cursor {
            body["cursor"] = json!(cursor);
        }
        let req = self.http.post(url).bearer_auth(token.expose()).json(&body);
        self.v2_call("video/list", req).await
    }

    /// What the creator may post now. TikTok answers "can't post now" (daily cap, ban, app cap)
    /// with HTTP 200 and an error code; those come back as errors, never as a usable value.
    pub async fn creator_info(&self, token: &AccessToken) -> Result<CreatorInfo, TikTokError> {
        let url = join(&self.api_base, "/v2/post/publish/creator_info/query/");
        let req = self
            .http
            .post(url)
            .bearer_auth(token.expose())
            .json(&json!({}));
        self.v2_call("creator_info", req).await
    }

    /// Starts a direct post. Not idempotent: each success is a new publish at TikTok, so after an
    /// error with [`outcome_unknown`](TikTokError::outcome_unknown) the caller must not blindly
    /// call it again.
    pub async fn init_direct_post(
        &self,
        token: &AccessToken,
        post_info: &PostInfo,
        source_info: &SourceInfo,
    ) -> Result<InitResult, TikTokError> {
        const ENDPOINT: &str = "video/init";
        // The exact plan is worth a log line: multi-chunk inits were rejected for weeks in
        // Aug 2026 ("The chunk size is invalid") and the numbers are what support asks for.
        if let SourceInfo::FileUpload {
            video_size,
            chunk_size,
            total_chunk_count,
        } = source_info
        {
            tracing::debug!(
                endpoint = ENDPOINT,
                video_size,
                chunk_size,
                total_chunk_count,
                "tiktok init plan"
            );
        }
        let url = join(&self.api_base, "/v2/post/publish/video/init/");
        let body = InitRequest {
            post_info,
            source_info,
        };
        let req = self.http.post(url).bearer_auth(token.expose()).json(&body);
        let init: InitResult = self.v2_call(ENDPOINT, req).await?;
        check_init(ENDPOINT, source_info, init)
    }

    /// Sends a video to the creator's TikTok inbox as a draft (`inbox/video/init`, scope
    /// `video.upload`, tiktok-api.md §5.3): FILE_UPLOAD (the upload that follows is the same as
    /// a direct post's) or PULL_FROM_URL (TikTok starts downloading at once). Only `source_info`
    /// is documented: the creator writes the caption and picks privacy and settings in the
    /// TikTok app. Not idempotent, like [`init_direct_post`](Self::init_direct_post).
    pub async fn init_inbox(
        &self,
        token: &AccessToken,
        source_info: &SourceInfo,
    ) -> Result<InitResult, TikTokError> {
        const ENDPOINT: &str = "inbox/video/init";
        let url = join(&self.api_base, "/v2/post/publish/inbox/video/init/");
        let body = InboxInitRequest { source_info };
        let req = self.http.post(url).bearer_auth(token.expose()).json(&body);
        let init: InitResult = self.v2_call(ENDPOINT, req).await?;
        check_init(ENDPOINT, source_info, init)
    }

    /// Asks TikTok to stop a publish whose PULL_FROM_URL download is still running
    /// (`publish/cancel`, best effort): it then ends `FAILED` with `publish_cancelled`. Once the
    /// download is over TikTok answers `publish_not_cancellable`.
    pub async fn cancel_publish(
        &self,
        token: &AccessToken,
        publish_id: &str,
    ) -> Result<(), TikTokError> {
        let url = join(&self.api_base, "/v2/post/publish/cancel/");
        let req = self
            .http
            .post(url)
            .bearer_auth(token.expose())
            .json(&json!({ "publish_id": publish_id }));
        let _: serde::de::IgnoredAny = self.v2_call("publish/cancel", req).await?;
        Ok(())
    }

    /// Starts a photo post (`content/init`, tiktok-api.md §5.4): TikTok pulls every image from
    /// its URL. `post_mode` is `DIRECT_POST` or `MEDIA_UPLOAD` (a draft in the creator's inbox).
    /// Not idempotent, like [`init_direct_post`](Self::init_direct_post).
    pub async fn init_photo_post(
        &self,
        token: &AccessToken,
        post_mode: &'static str,
        post_info: &PhotoPostInfo,
        source_info: &PhotoSource,
    ) -> Result<InitResult, TikTokError> {
        const ENDPOINT: &str = "content/init";
        let url = join(&self.api_base, "/v2/post/publish/content/init/");
        let body = PhotoInitRequest {
            media_type: "PHOTO",
            post_mode,
            post_info,
            source_info,
        };
        let req = self.http.post(url).bearer_auth(token.expose()).json(&body);
        let init: InitResult = self.v2_call(ENDPOINT, req).await?;
        if init.publish_id.is_empty() {
            return Err(TikTokError::Malformed {
                endpoint: ENDPOINT,
                status: 200,
                detail: "empty publish_id".to_owned(),
            });
        }
        Ok(init)
    }

    /// The publish's current status. A `FAILED` status is a value here; use
    /// [`PublishStatus::failure`] to classify it.
    pub async fn fetch_status(
        &self,
        token: &AccessToken,
        publish_id: &str,
    ) -> Result<PublishStatus, TikTokError> {
        const ENDPOINT: &str = "status/fetch";
        let url = join(&self.api_base, "/v2/post/publish/status/fetch/");
        let req = self
            .http
            .post(url)
            .bearer_auth(token.expose())
            .json(&json!({ "publish_id": publish_id }));
        let wire: WireStatus = self.v2_call(ENDPOINT, req).await?;
        wire.into_status().map_err(|detail| TikTokError::Malformed {
            endpoint: ENDPOINT,
            status: 200,
            detail: detail.to_owned(),
        })
    }

    /// PUTs bytes `first..=last_inclusive` of a `total`-byte video to `upload_url` (verbatim).
    ///
    /// `Content-Length` is set explicitly to the range length, so a streamed `body` goes out with
    /// a fixed length instead of chunked transfer encoding, which TikTok refuses; the body must
    /// yield exactly that many bytes. 416 is an outcome, not an error: the caller resumes from
    /// the progress TikTok reports.
    pub async fn upload_chunk(
        &self,
        upload_url: &str,
        content_type: &str,
        first: u64,
        last_inclusive: u64,
        total: u64,
        body: reqwest::Body,
    ) -> Result<ChunkOutcome, TikTokError> {
        const ENDPOINT: &str = "upload";
        if first > last_inclusive || last_inclusive >= total {
            return Err(TikTokError::InvalidRequest(
                "chunk range must satisfy first <= last < total",
            ));
        }
        let url = Url::parse(upload_url)
            .map_err(|_| TikTokError::InvalidRequest("upload_url is not an absolute URL"))?;
        let content_type = HeaderValue::from_str(content_type)
            .map_err(|_| TikTokError::InvalidRequest("content_type is not a header value"))?;
        let len = last_inclusive - first + 1;
        let timeout = UPLOAD_BASE_TIMEOUT + Duration::from_secs(len / UPLOAD_MIN_BYTES_PER_SEC);
        let req = self
            .http
            .put(url)
            .header(CONTENT_TYPE, content_type)
            .header(CONTENT_LENGTH, len)
            .header(
                CONTENT_RANGE,
                format!("bytes {first}-{last_inclusive}/{total}"),
            )
            .timeout(timeout)
            .body(body);
        let (status, headers, _) = self.execute(ENDPOINT, req).await?;
        let received = envelope::received_bytes(&headers);
        // A 206 means this chunk was taken; without a readable Content-Range, its end is the
        // best knowledge of TikTok's progress.
        let through_this_chunk = received.unwrap_or(last_inclusive + 1);
        let outcome = match status {
            201 => Ok(ChunkOutcome::Complete),
            206 => Ok(ChunkOutcome::Partial {
                received: through_this_chunk,
            }),
            // Not documented, but some clients see it: decide by progress.
            200 if through_this_chunk >= total => Ok(ChunkOutcome::Complete),
            200 => Ok(ChunkOutcome::Partial {
                received: through_this_chunk,
            }),
            416 => Ok(ChunkOutcome::RangeMismatch { received }),
            status => Err(TikTokError::UploadRejected {
                status,
                reason: UploadRejection::from_status(status),
                retry_after: envelope::retry_after(&headers),
            }),
        };
        tracing::debug!(
            endpoint = ENDPOINT,
            status,
            first,
            last = last_inclusive,
            total,
            received,
            "tiktok call"
        );
        outcome
    }

    /// Sends a form-encoded OAuth call (`Cache-Control: no-cache`, as TikTok's examples do): the
    /// client's key and secret, then `fields`; `parse` reads the reply.
    async fn oauth_call<T>(
        &self,
        endpoint: &'static str,
        path: &str,
        fields: &[(&str, &str)],
        parse: fn(&'static str, &Reply) -> Result<T, TikTokError>,
    ) -> Result<T, TikTokError> {
        let mut form = vec![
            ("client_key", self.client_key.as_str()),
            ("client_secret", self.client_secret.expose()),
        ];
        form.extend_from_slice(fields);
        let req = self
            .http
            .post(join(&self.api_base, path))
            .header(CACHE_CONTROL, "no-cache")
            .form(&form);
        let reply = self.send(endpoint, req).await?;
        log_outcome(endpoint, &reply, parse(endpoint, &reply))
    }

    /// Sends a v2 call and unwraps its envelope.
    async fn v2_call<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        req: reqwest::RequestBuilder,
    ) -> Result<T, TikTokError> {
        let reply = self.send(endpoint, req).await?;
        log_outcome(endpoint, &reply, envelope::parse_v2(endpoint, &reply))
    }

    async fn send(
        &self,
        endpoint: &'static str,
        req: reqwest::RequestBuilder,
    ) -> Result<Reply, TikTokError> {
        let (status, headers, body) = self.execute(endpoint, req.timeout(API_TIMEOUT)).await?;
        Ok(Reply {
            status,
            retry_after: envelope::retry_after(&headers),
            body,
        })
    }

    async fn execute(
        &self,
        endpoint: &'static str,
        req: reqwest::RequestBuilder,
    ) -> Result<(u16, HeaderMap, Bytes), TikTokError> {
        let result = async {
            let mut resp = req.send().await?;
            let status = resp.status().as_u16();
            let headers = std::mem::take(resp.headers_mut());
            let body = read_capped(&mut resp).await?;
            Ok((status, headers, body))
        }
        .await;
        result.map_err(|e: reqwest::Error| {
            let err = TikTokError::transport(endpoint, e);
            tracing::debug!(endpoint, error = %err, "tiktok call");
            err
        })
    }
}

/// Logs one call's outcome (never its content) and passes the result through.
fn log_outcome<T>(
    endpoint: &'static str,
    reply: &Reply,
    result: Result<T, TikTokError>,
) -> Result<T, TikTokError> {
    match &result {
        Ok(_) => tracing::debug!(endpoint, status = reply.status, "tiktok call"),
        Err(e) => tracing::debug!(
            endpoint,
            status = reply.status,
            code = e.code().unwrap_or_default(),
            log_id = e.log_id().unwrap_or_default(),
            "tiktok call failed"
        ),
    }
    result
}

/// An init's answer must name its publish, and a FILE_UPLOAD one its upload URL.
fn check_init(
    endpoint: &'static str,
    source_info: &SourceInfo,
    init: InitResult,
) -> Result<InitResult, TikTokError> {
    let malformed = |detail: &str| TikTokError::Malformed {
        endpoint,
        status: 200,
        detail: detail.to_owned(),
    };
    if init.publish_id.is_empty() {
        return Err(malformed("empty publish_id"));
    }
    if matches!(source_info, SourceInfo::FileUpload { .. }) && init.upload_url.is_none() {
        return Err(malformed("no upload_url for a FILE_UPLOAD init"));
    }
    Ok(init)
}

/// `base` with `path` appended to its own path (so a base with a path prefix keeps it).
fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}{}", base.path().trim_end_matches('/'), path);
    url.set_path(&joined);
    url.set_query(None);
    url.set_fragment(None);
    url
}

async fn read_capped(resp: &mut reqwest::Response) -> Result<Bytes, reqwest::Error> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = MAX_BODY_BYTES.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() >= MAX_BODY_BYTES {
            break;
        }
    }
    Ok(buf.freeze())
}
