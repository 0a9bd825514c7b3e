//! Starting a TikTok connection and checking its callback's `state`.
//!
//! `state` is random (256 bits), single-use (taken from the store on the callback), short-lived
//! ([`STATE_TTL_MINUTES`]) and bound to the user who started: a callback from another user's
//! browser, a replayed or made-up state are all refused before the code is used. Exchanging the
//! code is `accounts::connect`.

use crate::accounts::SCOPES;
use crate::context::JobContext;
use crate::model::UserId;
use crate::store::StoreError;
use base64::Engine;
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

/// Stores a fresh state for `user` and returns TikTok's authorize URL carrying it.
pub async fn start(ctx: &JobContext, user: UserId) -> Result<Url, StoreError> {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let oauth_state = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let expires = chrono::Utc::now() + chrono::Duration::minutes(STATE_TTL_MINUTES);
    ctx.store
        .put_oauth_state(&state_hash(&oauth_state), user, expires)
        .await?;
    Ok(ctx
        .tiktok
        .authorize_url(&SCOPES, &ctx.config.tiktok_redirect_uri, &oauth_state))
}

/// Takes the callback's `state` (absent or empty is refused): Ok only when it is known,
/// unexpired and was started by `user`. A state is taken once, whatever the answer.
pub async fn take_state(
    ctx: &JobContext,
    user: UserId,
    given: Option<&str>,
) -> Result<(), ConnectStateError> {
    let given = given
        .filter(|s| !s.is_empty())
        .ok_or(ConnectStateError::Invalid)?;
    let owner = ctx
        .store
        .take_oauth_state(&state_hash(given), chrono::Utc::now())
        .await?
        .ok_or(ConnectStateError::Invalid)?;
    if owner != user {
        return Err(ConnectStateError::Invalid);
    }
    Ok(())
}
