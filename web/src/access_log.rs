//! The access-log middleware: one [`AccessLine`] per request, written to
//! `<DATA_DIR>/logs/access-YYYY-MM-DD.log` (see `jobs::access_log` for the format and the
//! privacy promise it keeps).
//!
//! What is read from the request is exactly: the method, the matched route pattern (axum's
//! `MatchedPath`; never the URI, whose query may carry OAuth codes), the client IP (the socket
//! peer, or what `TRUSTED_PROXY_HOPS` proxies of ours saw: `crate::limits::ProxyTrust`, as the
//! rate limiter reads it) and the user agent. Headers such as
//! `Cookie` and `Authorization`, the query string and the body are never looked at, and no user
//! id is known here, so none can leak into the log. The same holds for tokens in paths: a photo's
//! capability URL (`/p/<token>`, what TikTok fetches) is logged as its pattern `/p/{token}`, so
//! every fetch is recorded and its token never is.
//!
//! Requests never wait for the disk: lines go through a bounded channel to one writer thread.
//! If the writer falls behind by [`QUEUE_LINES`] lines, new lines are dropped (and counted in a
//! warning) rather than slowing requests down. The writer also applies the retention when it
//! opens a new day, so a web host keeps the promise even where no scheduler shares its disk.
//!
//! Wiring: `build_app` builds an [`AccessLogState`] from the configuration and adds
//! `from_fn_with_state(state, middleware)` as its outermost layer, so the latency covers every
//! other layer and `MatchedPath` is already known (axum sets it before route layers run).

use crate::limits::ProxyTrust;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header::USER_AGENT;
use axum::middleware::Next;
use axum::response::Response;
use chrono::{NaiveDate, Utc};
use jobs::access_log::{AccessLine, AccessLog, clip_user_agent};
use jobs::config::Config;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Instant;

/// Lines that may wait for the writer before new ones are dropped.
pub const QUEUE_LINES: usize = 10_000;

/// The middleware's state: the channel to the writer thread and how to find the client IP.
/// Cheap to clone; the writer stops when the last clone is dropped.
#[derive(Clone)]
pub struct AccessLogState {
    tx: SyncSender<AccessLine>,
    proxies: ProxyTrust,
    dropped: Arc<AtomicU64>,
}

impl AccessLogState {
    /// Logs to `<DATA_DIR>/logs`, trusting `TRUSTED_PROXY_HOPS` proxies and keeping
    /// `LOG_RETENTION_DAYS` days.
    pub fn new(config: &Config) -> Self {
        Self::with_dir(
            AccessLog::dir_for(&config.server.data_dir),
            ProxyTrust::from_config(config),
            config.scheduler.log_retention_days,
        )
    }

    /// Logs to `dir`; starts the writer thread.
    pub fn with_dir(dir: PathBuf, proxies: ProxyTrust, retention_days: u32) -> Self {
        let (tx, rx) = sync_channel(QUEUE_LINES);
        let log = AccessLog::new(dir);
        let spawned = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_lines(&log, &rx, retention_days));
        if let Err(e) = spawned {
            // Without the thread every send fails and lines are counted as dropped; serving
            // requests matters more than logging them.
            tracing::error!(error = %e, "cannot start the access-log writer; access lines will be dropped");
        }
        Self {
            tx,
            proxies,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    fn send(&self, line: AccessLine) {
        match self.tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n == 1 || n.is_multiple_of(1000) {
                    tracing::warn!(
                        dropped_total = n,
                        "access-log writer behind or gone; lines dropped"
                    );
                }
            }
        }
    }
}

/// Logs the request once its response head is ready. See the module docs for what is read.
pub async fn middleware(State(log): State<AccessLogState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let ip = log
        .proxies
        .client_ip(req.headers(), peer.map(|p| p.ip()))
        .map(|ip| ip.to_string());
    let user_agent = req
        .headers()
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(clip_user_agent);

    let response = next.run(req).await;

    log.send(AccessLine {
        time: Utc::now(),
        ip,
        user_agent,
        method,
        route,
        status: response.status().as_u16(),
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
    });
    response
}

/// The writer thread: appends lines until every sender is gone, and applies the retention
/// whenever a new day starts.
fn write_lines(log: &AccessLog, rx: &Receiver<AccessLine>, retention_days: u32) {
    let mut swept: Option<NaiveDate> = None;
    let mut failing = false;
    while let Ok(line) = rx.recv() {
        let day = line.time.date_naive();
        if swept != Some(day) {
            swept = Some(day);
            if let Err(e) = log.delete_older_than(line.time, retention_days) {
                tracing::warn!(error = %e, "cannot apply the access-log retention");
            }
        }
        match log.append(&line) {
            Ok(()) => failing = false,
            Err(e) if !failing => {
                failing = true;
                tracing::error!(error = %e, dir = %log.dir().display(), "cannot write the access log");
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::middleware::from_fn_with_state;
    use axum::routing::{get, post};
    use tower::ServiceExt;

    /// A fresh directory removed on drop (`tempfile` is not a dependency of this crate).
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            let dir =
                std::env::temp_dir().join(format!("access-log-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
        fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    async fn wait_for_lines(dir: &std::path::Path, n: usize) -> Vec<AccessLine> {
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let mut lines = Vec::new();
            if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                    lines.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
                }
            }
            if lines.len() >= n {
                return lines;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} access lines written",
                lines.len()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    fn app(state: AccessLogState) -> Router {
        Router::new()
            .route("/api/posts/{id}", get(|| async { "ok" }))
            .route(
                "/api/posts",
                post(|body: String| async move { body.len().to_string() }),
            )
            .layer(from_fn_with_state(state, middleware))
    }

    #[tokio::test]
    async fn lines_hold_the_route_pattern_and_the_proxy_ip_only() {
        let dir = TempDir::new();
        // Two proxies of ours: the client is the second address from the right.
        let state = AccessLogState::with_dir(
            dir.path().to_owned(),
            ProxyTrust::new(Some("X-Forwarded-For"), 2),
            90,
        );
        let req = Request::builder()
            .uri("/api/posts/0190-secret-id?code=secret-code&state=xyz")
            .header("x-forwarded-for", "6.6.6.6, 198.51.100.4, 10.0.0.1")
            .header("user-agent", "agent/2.0")
            .header("cookie", "session=cookie-value")
            .header("authorization", "Bearer token-value")
            .body(Body::empty())
            .unwrap();
        let resp = app(state.clone()).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let unmatched = Request::builder()
            .uri("/nope?code=x")
            .body(Body::empty())
            .unwrap();
        assert_eq!(app(state).oneshot(unmatched).await.unwrap().status(), 404);

        let lines = wait_for_lines(dir.path(), 2).await;
        let hit = lines.iter().find(|l| l.status == 200).unwrap();
        assert_eq!(hit.route, "/api/posts/{id}");
        assert_eq!(hit.ip.as_deref(), Some("198.51.100.4"));
        assert_eq!(hit.user_agent.as_deref(), Some("agent/2.0"));
        assert_eq!(hit.method, "GET");
        let miss = lines.iter().find(|l| l.status == 404).unwrap();
        assert_eq!(miss.route, "unmatched");
        assert_eq!(
            miss.ip, None,
            "no socket peer and no proxy header in a oneshot call"
        );
        for e in std::fs::read_dir(dir.path()).unwrap().flatten() {
            let raw = std::fs::read_to_string(e.path()).unwrap();
            for secret in ["secret", "cookie-value", "token-value", "xyz", "code="] {
                assert!(!raw.contains(secret), "{secret} leaked into {raw}");
            }
        }
    }

    /// The whole application (as `build_app` wires it), over a real socket: a request carrying a
    /// cookie, a bearer token, an OAuth code in the query and a caption in the body leaves a
    /// line with IP, user agent, route and status, and none of those values.
    #[tokio::test]
    async fn the_full_app_logs_no_cookie_token_query_or_caption() {
        let dir = TempDir::new();
        let config = Arc::new(Config::for_tests(dir.path()));
        let store = jobs::store::connect(config.store.database_url.expose())
            .await
            .unwrap();
        let queue = jobs::queue::Queue::connect(&config).await.unwrap();
        let ctx = jobs::context::JobContext::new(config.clone(), store, queue)
            .await
            .unwrap();
        // `build_app` wires the middleware outermost.
        let app = crate::build_app(crate::state::AppState::new(ctx));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });

        let client = reqwest::Client::new();
        let me = client
            .get(format!(
                "{base}/api/me?code=secret-code-1&state=secret-state-2"
            ))
            .header("cookie", "session=secret-cookie-3")
            .header("authorization", "Bearer secret-token-4")
            .header("user-agent", "log-test/1.0")
            .send()
            .await
            .unwrap();
        let create = client
            .post(format!("{base}/api/keys"))
            .header("authorization", "Bearer secret-token-5")
            .header("user-agent", "log-test/1.0")
            .json(&serde_json::json!({ "name": "secret-caption-6 #fyp", "title": "secret-caption-6 #fyp" }))
            .send()
            .await
            .unwrap();
        let callback = client
            .get(format!(
                "{base}/auth/tiktok/callback?code=secret-code-7&state=secret-state-8"
            ))
            .header("user-agent", "log-test/1.0")
            .send()
            .await
            .unwrap();
        let statuses = [
            me.status().as_u16(),
            create.status().as_u16(),
            callback.status().as_u16(),
        ];

        let logs = AccessLog::dir_for(&config.server.data_dir);
        let lines = wait_for_lines(&logs, 3).await;
        for (route, status) in ["/api/me", "/api/keys", "/auth/tiktok/callback"]
            .iter()
            .zip(statuses)
        {
            let line = lines
                .iter()
                .find(|l| l.route == *route)
                .unwrap_or_else(|| panic!("no line for {route}: {lines:?}"));
            assert_eq!(line.status, status, "{route}");
            assert_eq!(line.ip.as_deref(), Some("127.0.0.1"));
            assert_eq!(line.user_agent.as_deref(), Some("log-test/1.0"));
        }
        for e in std::fs::read_dir(&logs).unwrap().flatten() {
            let raw = std::fs::read_to_string(e.path()).unwrap();
            assert!(
                !raw.contains("secret"),
                "a secret leaked into the access log: {raw}"
            );
            assert!(!raw.contains("#fyp") && !raw.contains("user_id"), "{raw}");
        }
        server.abort();
    }

    #[tokio::test]
    async fn the_proxy_header_is_ignored_unless_configured() {
        let dir = TempDir::new();
        let state = AccessLogState::with_dir(dir.path().to_owned(), ProxyTrust::default(), 90);
        let mut req = Request::builder()
            .uri("/api/posts/1")
            .header("x-forwarded-for", "198.51.100.4")
            .body(Body::empty())
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 9], 4711))));
        app(state).oneshot(req).await.unwrap();
        let lines = wait_for_lines(dir.path(), 1).await;
        assert_eq!(lines[0].ip.as_deref(), Some("192.0.2.9"));
    }
}
