//! The MKT POST sandbox: a local stand-in for TikTok (Login Kit, OAuth, Display API, Content
//! Posting API, upload host) and Google/Firebase sign-in.
//!
//! Code that passes against it should work against the real services with only base URLs
//! changed, so it follows TikTok's paths, envelopes, error codes and limits
//! (`shared/tiktok-api.md` §1–6); what TikTok leaves open is a [`Knobs`] field. Time is the
//! sandbox [`clock`], which tests advance instead of sleeping.
//!
//! It runs three ways: its own process (`mktpost sandbox --port N` calls [`Sandbox::start`]),
//! embedded in `mktpost dev`, and in-process in tests on port 0:
//!
//! ```no_run
//! # async fn demo() -> Result<(), sandbox::SandboxError> {
//! let sb = sandbox::Sandbox::start(sandbox::SandboxConfig::default()).await?;
//! sb.register_redirect_uri("http://127.0.0.1:9999/auth/tiktok/callback")?;
//! println!("TikTok and Google at {}", sb.base_url());
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceExt;

pub mod clock;
mod config;
mod control;
pub mod doc_examples;
mod error;
pub mod faults;
pub mod google;
mod html;
mod ids;
pub mod knobs;
pub mod model;
mod observe;
pub mod records;
mod state;
mod tiktok;
pub mod webhook;

pub use config::SandboxConfig;
pub use error::SandboxError;
pub use faults::{Fault, FaultAction, FaultSpec};
pub use google::{IdTokenRequest, IdTokenVariant, MintedIdToken};
pub use knobs::{ChunkRules, FieldScopeMiss, GoogleClock, Knobs, RateLimits};
pub use model::{
    ALL_SCOPES, App, Creator, DEMO_CLIENT_KEY, DEMO_CLIENT_SECRET, DEMO_PRIVATE_OPEN_ID,
    DEMO_PUBLIC_OPEN_ID, GoogleUser, Video,
};
pub use records::Records;
pub use state::{MediaCheck, SandboxState, TokenResponse};

/// Entry point.
pub struct Sandbox;

impl Sandbox {
    /// Binds, seeds, generates the Google signing key and serves until the handle is dropped
    /// or [`SandboxHandle::shutdown`] is called.
    pub async fn start(cfg: SandboxConfig) -> Result<SandboxHandle, SandboxError> {
        let listener = TcpListener::bind(cfg.bind).await?;
        let addr = listener.local_addr()?;
        let base_url = cfg
            .public_base_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let state = SandboxState::new(cfg, base_url).await?;
        let app = router(state.clone());
        let (tx, rx) = oneshot::channel();
        let server = tokio::spawn(serve(listener, app, rx));
        Ok(SandboxHandle {
            state,
            addr,
            shutdown: Some(tx),
            server: Some(server),
        })
    }
}

impl SandboxState {
    /// Builds the state and starts its background tasks (status ticker, webhook sender); they
    /// stop once the last clone of the state is dropped. Use with [`router`] to mount the
    /// sandbox in another server (injected connection drops then become broken bodies).
    pub async fn new(cfg: SandboxConfig, base_url: String) -> Result<Self, SandboxError> {
        let keys = tokio::task::spawn_blocking(state::google::GoogleKeys::generate)
            .await
            .map_err(|e| SandboxError::Keys(e.to_string()))??;
        let base_url = base_url.trim_end_matches('/').to_owned();
        let (tx, rx) = mpsc::unbounded_channel();
        let inner = state::Inner::new(&cfg, &base_url);
        let google = state::google::Google::new(keys, &cfg);
        let tick = cfg.tick_interval;
        let shared = Arc::new(state::Shared {
            cfg,
            base_url,
            clock: clock::Clock::default(),
            inner: Mutex::new(inner),
            google: Mutex::new(google),
            webhooks: tx,
        });
        tokio::spawn(webhook::run(Arc::downgrade(&shared), rx));
        tokio::spawn(ticker(Arc::downgrade(&shared), tick));
        Ok(SandboxState(shared))
    }
}

/// Advances publish tasks on real time, so webhooks fire without anyone polling.
async fn ticker(weak: std::sync::Weak<state::Shared>, every: Duration) {
    let mut interval = tokio::time::interval(every.max(Duration::from_millis(5)));
    loop {
        interval.tick().await;
        let Some(shared) = weak.upgrade() else { break };
        SandboxState(shared).settle();
    }
}

/// Every sandbox route: TikTok (real paths), Google, and the `/_sandbox` control API.
pub fn router(state: SandboxState) -> Router {
    Router::new()
        .merge(tiktok::router())
        .merge(google::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .merge(control::router())
        .with_state(state)
}

#[derive(Debug, thiserror::Error)]
#[error("connection dropped by an injected fault")]
struct DroppedByFault;

/// Accept loop on hyper directly: a handler error closes the connection without a response,
/// which is how injected "dropped connection" faults reach the client.
async fn serve(listener: TcpListener, app: Router, mut shutdown: oneshot::Receiver<()>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors or similar: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let app = app.clone();
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let app = app.clone();
                        async move {
                            let resp = match app.oneshot(req.map(Body::new)).await {
                                Ok(r) => r,
                                Err(never) => match never {},
                            };
                            if resp.extensions().get::<observe::DropConnection>().is_some() {
                                Err(DroppedByFault)
                            } else {
                                Ok(resp)
                            }
                        }
                    });
                    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    // Errors here are clients going away or injected drops; nothing to do.
                    let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
}

/// A running sandbox. Dereferences to [`SandboxState`] for the Rust-side control helpers
/// (`knobs`, `update_knobs`, `advance_clock`, `inject_fault`, `records`, `mint_id_token`, …).
/// Dropping it stops the server.
pub struct SandboxHandle {
    state: SandboxState,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl SandboxHandle {
    /// `http://127.0.0.1:PORT` (or the configured public base URL), without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.state.base_url()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (also reachable through `Deref`).
    pub fn state(&self) -> &SandboxState {
        &self.state
    }

    /// Stops accepting connections, closes open ones and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl std::ops::Deref for SandboxHandle {
    type Target = SandboxState;

    fn deref(&self) -> &SandboxState {
        &self.state
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
