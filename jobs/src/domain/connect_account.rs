//! Connecting a TikTok account: starting (the authorize URL and its `state`), then TikTok's
//! [`callback`]: checking its `state`, and completing (code → tokens → profile → sealed upsert of the account
//! keyed by (workspace, open_id); then the posts that waited in `needs_reconnect` for this account go
//! back in line, `crate::domain::posts::parked`). Above both `accounts` and `posts`, so neither needs
//! the other's upper half.
//!
//! `state` is random (256 bits), single-use (taken from the store on the callback), short-lived
//! ([`STATE_TTL_MINUTES`]) and bound to the user who started and to their workspace: a callback
//! from another user's browser, a replayed or made-up state are all refused before the code is
//! used, and so is one whose starter may no longer connect accounts in that workspace.

use crate::context::JobContext;
use crate::domain::accounts::{self, AccountError, SCOPES};
use crate::domain::workspaces::Action;
use crate::model::{AccountConnect, AccountId, Actor, TikTokAccount, UserId, WorkspaceId};
use crate::store::StoreError;
use base64::Engine;
use chrono::Utc;
use rand::RngCore;
use sha2::{Digest, Sha256};
use url::Url;

/// How long a started connection may take.
pub const STATE_TTL_MINUTES: i64 = 10;

/// Why a callback's `state` is refused.
#[derive(Debug, thiserror::Error)]
pub enum ConnectStateError {
    #[error(
        "this TikTok sign-in link is not valid (expired, already used, or not yours); start again from Accounts"
    )]
    Invalid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Only a hash of the state is stored: a database reader cannot complete someone's flow.
fn state_hash(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

/// Stores a fresh state for `by` (the account will join their workspace) and returns TikTok's
/// authorize URL carrying it.
pub async fn start(ctx: &JobContext, by: Actor) -> Result<Url, StoreError> {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let oauth_state = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let expires = chrono::Utc::now() + chrono::Duration::minutes(STATE_TTL_MINUTES);
    ctx.store
        .put_oauth_state(&state_hash(&oauth_state), by.user, by.workspace, expires)
        .await?;
    Ok(ctx
        .tiktok
        .authorize_url(&SCOPES, &ctx.config.tiktok.redirect_uri, &oauth_state))
}

/// What TikTok's callback carries in its query, as the browser delivered it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Callback<'a> {
    pub state: Option<&'a str>,
    pub code: Option<&'a str>,
    /// TikTok's `error`: the creator declined, or TikTok refused the app.
    pub error: Option<&'a str>,
}

/// How a callback with a valid `state` ended.
#[derive(Debug)]
pub enum Connected {
    Account(Box<TikTokAccount>),
    /// The creator chose "Deny" on TikTok's page (`access_denied`).
    Denied,
    /// TikTok refused the app (any other `error`).
    Refused,
}

/// Why a callback did not connect an account.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    State(#[from] ConnectStateError),
    #[error("the callback has no code")]
    NoCode,
    #[error(transparent)]
    Account(#[from] AccountError),
}

/// TikTok's callback for `user`: checks and takes the `state` first (so a refused callback
/// still uses it up), then either reports TikTok's `error` or completes the connection in the
/// workspace the state was started for.
pub async fn callback(
    ctx: &JobContext,
    user: UserId,
    cb: Callback<'_>,
) -> Result<Connected, ConnectError> {
    let ws = take_state(ctx, user, cb.state).await?;
    match cb.error {
        Some("access_denied") => return Ok(Connected::Denied),
        Some(_) => return Ok(Connected::Refused),
        None => {}
    }
    let code = cb
        .code
        .filter(|c| !c.is_empty())
        .ok_or(ConnectError::NoCode)?;
    Ok(Connected::Account(Box::new(
        complete(ctx, ws, user, code).await?,
    )))
}

/// Takes the callback's `state` (absent or empty is refused): Ok only when it is known,
/// unexpired, was started by `user`, and `user` may still connect accounts in its workspace
/// (which it returns). A state is taken once, whatever the answer.
async fn take_state(
    ctx: &JobContext,
    user: UserId,
    given: Option<&str>,
) -> Result<WorkspaceId, ConnectStateError> {
    let given = given
        .filter(|s| !s.is_empty())
        .ok_or(ConnectStateError::Invalid)?;
    let (starter, ws) = ctx
        .store
        .take_oauth_state(&state_hash(given), chrono::Utc::now())
        .await?
        .ok_or(ConnectStateError::Invalid)?;
    if starter != user {
        return Err(ConnectStateError::Invalid);
    }
    match ctx.store.member(ws, user).await? {
        Some(m) if m.role.can(Action::ConnectAccount) => Ok(ws),
        _ => Err(ConnectStateError::Invalid),
    }
}

/// The profile fields read after connecting (the `username` needs `user.info.profile`).
const BASIC_FIELDS: [&str; 4] = ["open_id", "union_id", "avatar_url", "display_name"];

/// Completes a TikTok connection by `user` in `ws`: exchanges the code, reads the profile, and
/// upserts the account keyed by (workspace, open_id) with sealed tokens.
async fn complete(
    ctx: &JobContext,
    ws: WorkspaceId,
    user: UserId,
    code: &str,
) -> Result<TikTokAccount, AccountError> {
    let now = Utc::now();
    let grant = ctx
        .tiktok
        .exchange_code(code, &ctx.config.tiktok.redirect_uri)
        .await?;
    let mut fields: Vec<&str> = BASIC_FIELDS.to_vec();
    if grant.scope.iter().any(|s| s == "user.info.profile") {
        fields.push("username");
    }
    let info = ctx.tiktok.user_info(&grant.access_token, &fields).await?;
    // The account id is the associated data of its tokens, so it must be known before sealing:
    // reuse the existing row's id on a reconnect.
    let existing = ctx
        .store
        .list_accounts(ws)
        .await?
        .into_iter()
        .find(|a| a.open_id == grant.open_id);
    let id = existing.as_ref().map(|a| a.id).unwrap_or_default();
    let connect = AccountConnect {
        id,
        open_id: grant.open_id.clone(),
        union_id: info.union_id.clone(),
        display_name: info
            .display_name
            .clone()
            .unwrap_or_else(|| "TikTok account".into()),
        username: info.username.clone(),
        avatar_url: info.avatar_url.clone(),
        scopes: grant.scope.clone(),
        tokens: accounts::seal_grant(ctx, id, &grant, now),
    };
    let mut account = ctx.store.connect_account(ws, user, &connect).await?;
    if account.id != id {
        // Lost a race with a concurrent connect of the same account: re-seal for the winner's id.
        let tokens = accounts::seal_grant(ctx, account.id, &grant, now);
        account = ctx
            .store
            .store_tokens(ws, account.id, account.version, &tokens)
            .await?;
    }
    crate::domain::audit::record(
        &*ctx.store,
        ws,
        Some(user),
        crate::domain::audit::ACCOUNT_CONNECTED,
        serde_json::json!({ "account_id": account.id, "scopes": account.scopes }),
    )
    .await;
    requeue_parked_after_connect(ctx, ws, account.id).await;
    Ok(account)
}

/// Posts parked in `needs_reconnect` waited for this connect: put them back in line
/// (`crate::parked`). The connect itself has succeeded whatever happens here; a post left
/// parked by a failure can be retried by the creator, and a `queued` one whose push failed is
/// pushed by the stuck-post sweep.
async fn requeue_parked_after_connect(ctx: &JobContext, ws: WorkspaceId, id: AccountId) {
    if let Err(e) = crate::domain::posts::parked::requeue_account(ctx, ws, id).await {
        tracing::warn!(account_id = %id, error = %e, "parked posts not put back in line after connecting");
    }
}
