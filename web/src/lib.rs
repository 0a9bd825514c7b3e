//! The web tier: JSON API, pages, sessions, OAuth callbacks and uploads. It translates HTTP into
//! calls on `jobs` and enqueues jobs; business rules live in `jobs`.

pub mod access_log;
pub mod auth;
pub mod error;
pub mod limits;
pub mod pages;
pub mod roles;
pub mod routes;
pub mod state;
pub mod views;

use axum::Router;
use axum::extract::MatchedPath;
use axum::http::{HeaderName, Request};
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post};
use state::AppState;
use std::future::Future;
use std::net::SocketAddr;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole router with its layers.
pub fn build_app(state: AppState) -> Router {
    use routes::health;
    let access_log_state = access_log::AccessLogState::new(&state.config);
    let production = state.config.is_production();
    Router::new()
        .route("/healthz", get(health::healthz))
        .route(
            "/readyz",
            get(health::readyz).route_layer(from_fn_with_state(state.clone(), auth::limit_readyz)),
        )
        .route("/metrics", get(health::metrics))
        .route("/p/{token}", routes::photo_urls::route())
        .merge(pages::router().route_layer(from_fn_with_state(state.clone(), auth::limit_pages)))
        .merge(auth_routes(&state))
        .merge(api_routes(&state))
        .layer(from_fn_with_state(state.clone(), auth::require_same_origin))
        .with_state(state)
        .layer(axum::middleware::map_response(pages::security_headers))
        .layer(axum::middleware::map_response_with_state(
            production,
            strict_transport_security,
        ))
        .layer(
            // One span per request with the matched route, never the raw URI: OAuth callbacks
            // carry authorization codes in the query string.
            TraceLayer::new_for_http().make_span_with(request_span),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        // Outermost: the access log's latency covers every other layer (web/src/access_log.rs).
        .layer(from_fn_with_state(access_log_state, access_log::middleware))
}

/// `/auth/*`: signing in and out, connecting TikTok; limited per IP.
fn auth_routes(state: &AppState) -> Router<AppState> {
    use routes::{session, tiktok};
    Router::new()
        .route(
            "/auth/session",
            post(session::create).delete(session::delete),
        )
        .route("/auth/sessions", delete(session::revoke_all))
        .route("/auth/google/start", post(session::start))
        .route("/auth/tiktok/connect", get(tiktok::connect))
        .route("/auth/tiktok/callback", get(tiktok::callback))
        .route_layer(from_fn_with_state(state.clone(), auth::limit_auth))
}

/// `/api/*`: the JSON API; limited per user.
fn api_routes(state: &AppState) -> Router<AppState> {
    use routes::{accounts, keys, ops, post_groups, posts, privacy, session, videos};
    Router::new()
        .route("/api/me", get(session::me).delete(privacy::erase))
        .route("/api/export", get(privacy::export))
        .route("/api/campaigns", routes::campaigns::route())
        .route("/api/ops/queues", get(ops::queues))
        .route("/api/ops/queues/{job}/dead", get(ops::dead))
        .route("/api/ops/queues/{job}/dead/{task_id}", delete(ops::discard))
        .route(
            "/api/ops/queues/{job}/dead/{task_id}/replay",
            post(ops::replay),
        )
        .route("/api/accounts", get(accounts::list))
        .route("/api/accounts/{id}", delete(accounts::disconnect))
        .route(
            "/api/accounts/{id}/creator-info",
            get(accounts::creator_info),
        )
        .route("/api/accounts/{id}/videos", get(videos::list))
        .route("/api/posts", post(posts::create).get(posts::list))
        .route("/api/post-groups", post(post_groups::create))
        .route(
            "/api/posts/{id}",
            get(posts::get)
                .delete(posts::cancel)
                .patch(posts::reschedule),
        )
        .route("/api/posts/{id}/video", routes::post_video::route())
        .route("/api/posts/{id}/retry", post(posts::retry))
        .route("/api/posts/{id}/approve", post(posts::approve))
        .route("/api/posts/{id}/reject", post(posts::reject))
        .route("/api/approvals", get(posts::approvals))
        .route("/api/keys", post(keys::create).get(keys::list))
        .route("/api/keys/{id}", delete(keys::delete))
        .route("/api/media", routes::media::upload_route())
        .route("/api/media/{id}", routes::media::item_route())
        .merge(workspace_routes())
        .route_layer(from_fn_with_state(state.clone(), auth::limit_api))
}

/// `/api/workspaces/*` and accepting an invitation (issue #16).
fn workspace_routes() -> Router<AppState> {
    use axum::routing::{patch, put};
    use routes::workspaces as w;
    Router::new()
        .route("/api/workspaces", get(w::list).post(w::create))
        .route(
            "/api/workspaces/current",
            put(w::switch).patch(w::update).delete(w::delete),
        )
        .route("/api/workspaces/current/members", get(w::list_members))
        .route(
            "/api/workspaces/current/members/{id}",
            patch(w::change_role).delete(w::remove_member),
        )
        .route(
            "/api/workspaces/current/invitations",
            get(w::list_invitations).post(w::invite),
        )
        .route(
            "/api/workspaces/current/invitations/{id}",
            delete(w::revoke_invitation),
        )
        .route("/api/invitations/accept", post(w::accept))
        .route(
            "/api/workspaces/current/export",
            get(routes::privacy::export_workspace),
        )
        .route(
            "/api/workspaces/current/audit",
            get(routes::privacy::audit_log),
        )
}

/// The request's span: method, matched route and request id.
fn request_span<B>(req: &Request<B>) -> tracing::Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or("unmatched");
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", method = %req.method(), route, request_id)
}

/// In production, tells browsers to use https only, for two years, subdomains included: the
/// first visit's redirect to https is then the only one an attacker on the network could strip.
/// Never in development, where the site is served over plain http.
async fn strict_transport_security(
    axum::extract::State(production): axum::extract::State<bool>,
    mut resp: axum::response::Response,
) -> axum::response::Response {
    if production {
        resp.headers_mut().insert(
            axum::http::header::STRICT_TRANSPORT_SECURITY,
            axum::http::HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
        );
    }
    resp
}

/// The `Strict-Transport-Security` value sent in production.
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=63072000; includeSubDomains";

/// Binds, logs the bound address first (tests read it), and serves until `shutdown` resolves.
pub async fn serve(
    state: AppState,
    bind: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(bind).await?;
    serve_on(state, listener, shutdown).await
}

/// Serves on an already bound listener (tests bind first so the configuration can name the port).
pub async fn serve_on(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "web listening on http://{addr}");
    axum::serve(
        listener,
        build_app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}
