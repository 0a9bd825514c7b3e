//! A sandbox started in-process on port 0 plus a plain HTTP client, and small request helpers.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use sandbox::{
    ALL_SCOPES, DEMO_CLIENT_KEY, DEMO_CLIENT_SECRET, Sandbox, SandboxConfig, SandboxHandle,
    TokenResponse,
};
use serde_json::{Value, json};

/// Registered on the demo app; never served (tests read the redirect's Location).
pub const CALLBACK: &str = "http://127.0.0.1:9/auth/tiktok/callback";

/// The demo app's key and secret, followed by `more` form fields.
pub fn demo_form<'a>(more: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("client_key", DEMO_CLIENT_KEY),
        ("client_secret", DEMO_CLIENT_SECRET),
    ];
    form.extend_from_slice(more);
    form
}

/// The demo app's `authorization_code` exchange of `code`, with the registered callback.
pub fn code_form(code: &str) -> Vec<(&str, &str)> {
    demo_form(&[
        ("code", code),
        ("grant_type", "authorization_code"),
        ("redirect_uri", CALLBACK),
    ])
}

/// The consent form of the demo app with the registered callback, followed by `more` fields.
pub fn consent_form<'a>(
    state: &'a str,
    scope: &'a str,
    more: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("client_key", DEMO_CLIENT_KEY),
        ("redirect_uri", CALLBACK),
        ("state", state),
        ("scope", scope),
        ("response_type", "code"),
    ];
    form.extend_from_slice(more);
    form
}

pub struct TestSandbox {
    pub sb: SandboxHandle,
    pub http: reqwest::Client,
}

impl std::ops::Deref for TestSandbox {
    type Target = SandboxHandle;
    fn deref(&self) -> &SandboxHandle {
        &self.sb
    }
}

pub async fn start() -> TestSandbox {
    start_with(SandboxConfig::default()).await
}

pub async fn start_with(cfg: SandboxConfig) -> TestSandbox {
    let sb = Sandbox::start(cfg).await.expect("sandbox starts");
    sb.register_redirect_uri(CALLBACK)
        .expect("register callback");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    TestSandbox { sb, http }
}

/// Deterministic test bytes.
pub fn data(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| u8::try_from((i * 31 + i / 7) % 251).unwrap_or(0))
        .collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

pub fn code(v: &Value) -> &str {
    v.pointer("/error/code")
        .and_then(Value::as_str)
        .unwrap_or("<no error.code>")
}

/// Asserts an answer's HTTP status and TikTok `error.code`.
#[track_caller]
pub fn assert_answer((status, body): &(StatusCode, Value), expected: StatusCode, error_code: &str) {
    assert_eq!(*status, expected, "{body}");
    assert_eq!(code(body), error_code, "{body}");
}

/// The `publish_id` an init answered with.
pub fn publish_id(body: &Value) -> String {
    body["data"]["publish_id"].as_str().unwrap().to_owned()
}

impl TestSandbox {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// `GET`s one of the sandbox's paths.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    /// `POST`s a form to one of the sandbox's paths.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// `POST`s `body` as JSON to one of the sandbox's own endpoints; answers the JSON reply.
    pub async fn post_json(&self, path: &str, body: &Value) -> Value {
        self.send_json(Method::POST, path, body).await
    }

    /// `PATCH`es `body` as JSON to one of the sandbox's own endpoints; answers the JSON reply.
    pub async fn patch_json(&self, path: &str, body: &Value) -> Value {
        self.send_json(Method::PATCH, path, body).await
    }

    async fn send_json(&self, method: Method, path: &str, body: &Value) -> Value {
        json_reply(self.http.request(method, self.url(path)).json(body)).await
    }

    /// `GET /_sandbox/records` over HTTP, as an outside test harness reads them.
    pub async fn records_over_http<T: serde::de::DeserializeOwned>(&self) -> T {
        json_reply(self.http.get(self.url("/_sandbox/records"))).await
    }

    /// Raises the per-token init rate limit, for tests that init many posts.
    pub fn allow_many_inits(&self) {
        self.update_knobs(|k| k.rate_limits.init = 100);
    }

    /// Lowers the chunk rules so multi-chunk uploads of a few KB work.
    pub fn small_chunks(&self) {
        self.update_knobs(|k| {
            k.chunks.min_chunk = 1_000;
            k.chunks.max_chunk = 100_000;
            k.chunks.max_final_chunk = 200_000;
            k.chunks.max_single_chunk = 50_000;
        });
    }

    /// Tokens without the consent flow, for tests about other endpoints.
    pub fn token_for(&self, open_id: &str, scopes: &[&str]) -> String {
        self.issue_token(DEMO_CLIENT_KEY, open_id, scopes)
            .expect("issue token")
            .access_token
    }

    pub fn full_token(&self, open_id: &str) -> String {
        self.token_for(open_id, &ALL_SCOPES)
    }

    /// Submits the consent form like a browser would; returns the redirect Location.
    pub async fn consent(&self, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let resp = self
            .http
            .post(self.url("/v2/auth/authorize/"))
            .form(fields)
            .send()
            .await
            .expect("authorize");
        let status = resp.status();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, location)
    }

    /// Authorizes `scope` as `open_id`; returns the (decoded) code.
    pub async fn authorize(&self, open_id: &str, scope: &str) -> String {
        let form = consent_form(
            "st4te",
            scope,
            &[("open_id", open_id), ("decision", "authorize")],
        );
        let (status, location) = self.consent(&form).await;
        assert_eq!(status, StatusCode::FOUND, "{location}");
        query_param(&location, "code").expect("code in redirect")
    }

    pub async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(self.url("/v2/oauth/token/"))
            .header("Cache-Control", "no-cache")
            .form(form)
            .send()
            .await
            .expect("token");
        let status = resp.status();
        (status, resp.json().await.expect("json"))
    }

    pub async fn exchange(&self, code: &str) -> TokenResponse {
        let (status, body) = self.token(&code_form(code)).await;
        assert_eq!(status, StatusCode::OK);
        serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    pub async fn refresh(&self, refresh_token: &str) -> (StatusCode, Value) {
        let form = demo_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ]);
        self.token(&form).await
    }

    pub async fn revoke(&self, token: &str) -> (StatusCode, Value) {
        let resp = self
            .post_form("/v2/oauth/revoke/", &demo_form(&[("token", token)]))
            .await;
        let status = resp.status();
        (status, resp.json().await.expect("json"))
    }

    /// A v2 JSON call with a bearer token.
    pub async fn v2(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json; charset=UTF-8")
                .body(b.to_string());
        }
        let resp = req.send().await.expect("v2 call");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
        )
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.v2(Method::POST, path, token, Some(body)).await
    }

    pub async fn user_info(&self, token: &str, fields: &str) -> (StatusCode, Value) {
        self.v2(
            Method::GET,
            &format!("/v2/user/info/?fields={fields}"),
            token,
            None,
        )
        .await
    }

    pub async fn creator_info(&self, token: &str) -> (StatusCode, Value) {
        self.post("/v2/post/publish/creator_info/query/", token, json!({}))
            .await
    }

    pub async fn init_direct(
        &self,
        token: &str,
        privacy: &str,
        size: u64,
        chunk: u64,
        count: u64,
    ) -> (StatusCode, Value) {
        self.post(
            "/v2/post/publish/video/init/",
            token,
            json!({
                "post_info": {"title": "sandbox test #rust", "privacy_level": privacy, "disable_duet": false,
                              "disable_comment": false, "disable_stitch": false, "brand_content_toggle": false},
                "source_info": {"source": "FILE_UPLOAD", "video_size": size, "chunk_size": chunk, "total_chunk_count": count}
            }),
        )
        .await
    }

    /// The first page (20 videos) of `/v2/video/list/` with these fields.
    pub async fn video_list(&self, token: &str, fields: &str) -> (StatusCode, Value) {
        let path = format!("/v2/video/list/?fields={fields}");
        self.post(&path, token, json!({"max_count": 20})).await
    }

    /// `POST /v2/post/publish/video/init/` with this body.
    pub async fn video_init(&self, token: &str, body: Value) -> (StatusCode, Value) {
        self.post("/v2/post/publish/video/init/", token, body).await
    }

    /// `POST /v2/post/publish/inbox/video/init/` with this body.
    pub async fn inbox_init(&self, token: &str, body: Value) -> (StatusCode, Value) {
        self.post("/v2/post/publish/inbox/video/init/", token, body)
            .await
    }

    /// `POST /v2/post/publish/cancel/` for a publish id.
    pub async fn cancel(&self, token: &str, publish_id: &str) -> (StatusCode, Value) {
        let body = json!({ "publish_id": publish_id });
        self.post("/v2/post/publish/cancel/", token, body).await
    }

    /// The `data` of a post's status/fetch answer.
    pub async fn status_data(&self, token: &str, publish_id: &str) -> Value {
        let (_, mut body) = self.status(token, publish_id).await;
        body["data"].take()
    }

    pub async fn status(&self, token: &str, publish_id: &str) -> (StatusCode, Value) {
        self.post(
            "/v2/post/publish/status/fetch/",
            token,
            json!({"publish_id": publish_id}),
        )
        .await
    }

    /// PUTs one chunk with exact headers.
    pub async fn put(
        &self,
        upload_url: &str,
        bytes: &[u8],
        start: u64,
        total: u64,
    ) -> reqwest::Result<reqwest::Response> {
        let end = start + bytes.len() as u64 - 1;
        self.http
            .put(upload_url)
            .header("Content-Type", "video/mp4")
            .header("Content-Range", format!("bytes {start}-{end}/{total}"))
            .body(bytes.to_vec())
            .send()
            .await
    }

    /// Uploads `bytes` following TikTok's plan (floor count, last chunk takes the remainder);
    /// returns each PUT's status.
    pub async fn upload_all(&self, upload_url: &str, bytes: &[u8], chunk: u64) -> Vec<u16> {
        let total = bytes.len() as u64;
        let count = (total / chunk).max(1);
        let mut statuses = Vec::new();
        for i in 0..count {
            let start = i * chunk;
            let end = if i + 1 == count { total } else { start + chunk };
            let part =
                &bytes[usize::try_from(start).unwrap_or(0)..usize::try_from(end).unwrap_or(0)];
            let resp = self.put(upload_url, part, start, total).await.expect("put");
            statuses.push(resp.status().as_u16());
        }
        statuses
    }

    /// A direct FILE_UPLOAD post of `bytes` as one chunk; returns the publish id.
    pub async fn post_small(&self, token: &str, privacy: &str, bytes: &[u8]) -> String {
        let n = bytes.len() as u64;
        let (status, body) = self.init_direct(token, privacy, n, n, 1).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let url = body["data"]["upload_url"]
            .as_str()
            .expect("upload_url")
            .to_owned();
        let resp = self.put(&url, bytes, 0, n).await.expect("put");
        assert_eq!(resp.status(), StatusCode::CREATED);
        body["data"]["publish_id"]
            .as_str()
            .expect("publish_id")
            .to_owned()
    }
}

pub fn query_param(url: &str, key: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Sends `request` and decodes its JSON reply.
async fn json_reply<T: serde::de::DeserializeOwned>(request: reqwest::RequestBuilder) -> T {
    request.send().await.unwrap().json().await.unwrap()
}
