//! A TikTok avatar, fetched for re-serving from our own origin (the web tier's
//! `/accounts/{id}/avatar`): the creator's browser then never talks to TikTok's CDN.
//!
//! TikTok's avatar URLs are signed CDN links that expire and may redirect, so this fetch has its
//! own HTTP client: it follows a few redirects (the API client follows none, since an API call
//! carries a bearer token or a form secret), carries no credentials, and gives up quickly.

use super::client::TikTokClient;
use bytes::{Bytes, BytesMut};
use reqwest::header::CONTENT_TYPE;
use std::sync::OnceLock;
use std::time::Duration;
use url::Url;

/// Largest avatar we fetch; TikTok's are a few kilobytes.
pub const AVATAR_MAX_BYTES: usize = 512 * 1024;
/// Budget of the whole fetch: a page waits for it.
const AVATAR_TIMEOUT: Duration = Duration::from_secs(5);
/// Redirects followed (CDN hops).
const AVATAR_REDIRECTS: usize = 3;

/// An avatar image as fetched.
#[derive(Debug, Clone)]
pub struct Avatar {
    /// The CDN's `Content-Type`, an `image/…` type.
    pub content_type: String,
    pub bytes: Bytes,
}

/// Why an avatar could not be fetched; the caller shows a stand-in instead.
#[derive(Debug, thiserror::Error)]
pub enum AvatarError {
    #[error("the avatar URL is not an https URL")]
    Url,
    #[error("the avatar client could not be built")]
    Client,
    #[error("the avatar could not be fetched: {0}")]
    Unreachable(String),
    #[error("the avatar URL answered HTTP {0}")]
    Status(u16),
    #[error("the avatar is not an image")]
    NotImage,
    #[error("the avatar is larger than {AVATAR_MAX_BYTES} bytes")]
    TooLarge,
}

fn avatar_http() -> Option<&'static reqwest::Client> {
    static CLIENT: OnceLock<Option<reqwest::Client>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .timeout(AVATAR_TIMEOUT)
                .redirect(reqwest::redirect::Policy::limited(AVATAR_REDIRECTS))
                .build()
                .ok()
        })
        .as_ref()
}

impl TikTokClient {
    /// Fetches the avatar at `url`. TikTok's CDN is https; `allow_http` admits plain http too,
    /// for the sandbox on a developer's machine (never in production).
    pub async fn avatar(&self, url: &str, allow_http: bool) -> Result<Avatar, AvatarError> {
        let parsed = Url::parse(url).map_err(|_| AvatarError::Url)?;
        if !(parsed.scheme() == "https" || (allow_http && parsed.scheme() == "http")) {
            return Err(AvatarError::Url);
        }
        let unreachable = |e: reqwest::Error| AvatarError::Unreachable(e.without_url().to_string());
        let http = avatar_http().ok_or(AvatarError::Client)?;
        let mut resp = http.get(parsed).send().await.map_err(unreachable)?;
        if !resp.status().is_success() {
            return Err(AvatarError::Status(resp.status().as_u16()));
        }
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .filter(|t| t.starts_with("image/"))
            .ok_or(AvatarError::NotImage)?
            .to_owned();
        if resp.content_length().unwrap_or(0) > AVATAR_MAX_BYTES as u64 {
            return Err(AvatarError::TooLarge);
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = resp.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > AVATAR_MAX_BYTES {
                return Err(AvatarError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Avatar {
            content_type,
            bytes: body.freeze(),
        })
    }
}
