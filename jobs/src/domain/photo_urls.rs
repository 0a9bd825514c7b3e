//! Capability URLs for a photo post's staged images: TikTok only pulls photos from a URL
//! (tiktok-api.md §5.4, §5.6), so each image is served, decrypted while it streams, from
//! `<PUBLIC_URL>/p/<token>` for as long as the token allows.
//!
//! # Why the tokens are derived, not stored
//! A token is `<workspace>.<media>.<minted>.<expires>.<mac>`, the MAC being HMAC-SHA-256 under a
//! key derived from `SESSION_SECRET` over everything before it. Nothing new is stored: the
//! only state a token depends on is already on the post and the media row, so no `Store`
//! method, migration or sweep of dead tokens is needed on three backends, and a token cannot
//! outlive what it names. It is unguessable (256-bit MAC under a server secret), it expires
//! (`PHOTO_URL_TTL_MINUTES` after minting), and it dies with its image: serving looks the media
//! row up first, and a deleted image has none.
//!
//! A token also only works for the publish it was minted for: `minted` must equal the instant
//! the post recorded (by compare-and-set) just before `content/init`, and the post must hold
//! the `publish_id` that init returned. That is what makes the photo path exactly-once (see
//! `handlers::publish::photos`): URLs handed to an init whose `publish_id` was never recorded
//! never serve a byte, so that init can never become a post.

use crate::config::Config;
use crate::context::JobContext;
use crate::model::{Media, MediaId, Post, PostSource, PostState, WorkspaceId};
use crate::store::StoreError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::time::Duration;
use url::Url;

/// The URL path prefix the web tier serves capability URLs under.
pub const PATH_PREFIX: &str = "/p/";

/// How long a fetch waits for the post to record its `publish_id`: TikTok may start pulling
/// the moment `content/init` answers, a few milliseconds before our compare-and-set lands.
const PUBLISH_ID_WAIT: Duration = Duration::from_secs(5);

/// Why a capability URL serves nothing. The web tier answers every one of them with the same
/// plain 404, so a caller learns nothing about which part was wrong.
#[derive(Debug, thiserror::Error)]
pub enum PhotoUrlError {
    /// Malformed, forged, expired, or its image, post or publish is gone or another one.
    #[error("no such photo")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Mints and checks tokens under a key derived from `SESSION_SECRET` (a separate key for this
/// purpose, so a token can never pass as a session or the other way round).
#[derive(Clone)]
pub struct PhotoUrls {
    key: [u8; 32],
    base: Url,
    ttl: chrono::Duration,
}

impl std::fmt::Debug for PhotoUrls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhotoUrls").finish_non_exhaustive()
    }
}

type HmacSha256 = Hmac<Sha256>;

fn mac_over(key: &[u8], text: &str) -> HmacSha256 {
    #[expect(clippy::expect_used, reason = "HMAC takes keys of any length")]
    let mut mac = HmacSha256::new_from_slice(key).expect("any key length");
    mac.update(text.as_bytes());
    mac
}

impl PhotoUrls {
    /// From the configuration: `SESSION_SECRET`, `PUBLIC_URL`, `PHOTO_URL_TTL_MINUTES`.
    pub fn new(config: &Config) -> Self {
        let derived = mac_over(
            config.identity.session_secret.expose().as_bytes(),
            "mktpost photo capability urls v1",
        )
        .finalize()
        .into_bytes();
        let mut key = [0u8; 32];
        key.copy_from_slice(&derived);
        Self {
            key,
            base: config.server.public_url.clone(),
            ttl: chrono::Duration::from_std(config.staging.photo_url_ttl)
                .unwrap_or(chrono::Duration::hours(1)),
        }
    }

    /// When URLs minted at `minted` stop working.
    pub fn expires_at(&self, minted: DateTime<Utc>) -> DateTime<Utc> {
        minted + self.ttl
    }

    /// The token for one image of a publish whose URLs were minted at `minted`.
    pub fn token(&self, ws: WorkspaceId, media: MediaId, minted: DateTime<Utc>) -> String {
        let body = format!(
            "{ws}.{media}.{}.{}",
            minted.timestamp_millis(),
            self.expires_at(minted).timestamp()
        );
        let mac = mac_over(&self.key, &body).finalize().into_bytes();
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(mac))
    }

    /// The public URL of one image (`<PUBLIC_URL>/p/<token>`).
    pub fn url(&self, ws: WorkspaceId, media: MediaId, minted: DateTime<Utc>) -> String {
        format!(
            "{}{PATH_PREFIX}{}",
            self.base.as_str().trim_end_matches('/'),
            self.token(ws, media, minted)
        )
    }

    /// Checks a token's MAC and expiry. Returns what it names: the image and the mint instant.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Option<Grant> {
        let (body, mac) = token.rsplit_once('.')?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        mac_over(&self.key, body).verify_slice(&mac).ok()?;
        let mut parts = body.split('.');
        let ws = WorkspaceId::parse(parts.next()?).ok()?;
        let media = MediaId::parse(parts.next()?).ok()?;
        let minted_ms: i64 = parts.next()?.parse().ok()?;
        let expires: i64 = parts.next()?.parse().ok()?;
        if parts.next().is_some() || now.timestamp() >= expires {
            return None;
        }
        Some(Grant {
            workspace: ws,
            media,
            minted_ms,
        })
    }
}

/// What a valid token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub workspace: WorkspaceId,
    pub media: MediaId,
    /// The mint instant, in milliseconds: must equal the post's recorded one.
    pub minted_ms: i64,
}

/// Whether the photo URLs of `post` (minted when its publish began) have expired.
pub fn expired(urls: &PhotoUrls, post: &Post, now: DateTime<Utc>) -> bool {
    matches!(post.source, PostSource::Photos(_))
        && post
            .tiktok
            .upload_url_issued_at
            .is_some_and(|minted| now >= urls.expires_at(minted))
}

/// The staged image a capability token opens, or `NotFound`. See the module docs for every
/// condition; all of them are checked on each fetch.
pub async fn open(ctx: &JobContext, token: &str) -> Result<Media, PhotoUrlError> {
    let urls = PhotoUrls::new(&ctx.config);
    let grant = urls
        .verify(token, Utc::now())
        .ok_or(PhotoUrlError::NotFound)?;
    let media = found(ctx.store.media(grant.workspace, grant.media).await)?;
    let post_id = media.post_id.ok_or(PhotoUrlError::NotFound)?;
    let deadline = tokio::time::Instant::now() + PUBLISH_ID_WAIT;
    loop {
        let post = found(ctx.store.post(grant.workspace, post_id).await)?;
        let PostSource::Photos(photos) = &post.source else {
            return Err(PhotoUrlError::NotFound);
        };
        let minted = post
            .tiktok
            .upload_url_issued_at
            .map(|t| t.timestamp_millis());
        if !photos.media_ids.contains(&media.id)
            || minted != Some(grant.minted_ms)
            || !matches!(post.state, PostState::Uploading | PostState::Processing)
        {
            return Err(PhotoUrlError::NotFound);
        }
        if post.tiktok.publish_id.is_some() {
            return Ok(media);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(PhotoUrlError::NotFound);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn found<T>(r: Result<T, StoreError>) -> Result<T, PhotoUrlError> {
    match r {
        Ok(v) => Ok(v),
        Err(StoreError::NotFound) => Err(PhotoUrlError::NotFound),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn urls(secret: &str) -> PhotoUrls {
        let vars: HashMap<String, String> = [
            ("SESSION_SECRET".to_owned(), secret.to_owned()),
            ("PHOTO_URL_TTL_MINUTES".to_owned(), "60".to_owned()),
            ("PUBLIC_URL".to_owned(), "https://post.example/".to_owned()),
        ]
        .into();
        PhotoUrls::new(&Config::from_vars(&vars).unwrap())
    }

    #[test]
    fn a_token_opens_its_image_until_it_expires() {
        let u = urls("one secret that is long enough for this test");
        let (ws, media, minted) = (WorkspaceId::new(), MediaId::new(), Utc::now());
        let token = u.token(ws, media, minted);
        let grant = u.verify(&token, minted).unwrap();
        assert_eq!((grant.workspace, grant.media), (ws, media));
        assert_eq!(grant.minted_ms, minted.timestamp_millis());
        assert!(
            u.verify(&token, minted + chrono::Duration::minutes(59))
                .is_some()
        );
        assert!(
            u.verify(&token, minted + chrono::Duration::minutes(60))
                .is_none()
        );
        assert!(
            u.url(ws, media, minted)
                .starts_with("https://post.example/p/")
        );
    }

    #[test]
    fn altered_or_foreign_tokens_open_nothing() {
        let u = urls("one secret that is long enough for this test");
        let (ws, media, now) = (WorkspaceId::new(), MediaId::new(), Utc::now());
        let token = u.token(ws, media, now);
        let other = urls("another secret, equally long for the test");
        assert!(other.verify(&token, now).is_none());
        // Another image's id, a later expiry, a cut MAC: each breaks the MAC.
        let swapped = token.replace(&media.to_string(), &MediaId::new().to_string());
        assert!(u.verify(&swapped, now).is_none());
        let (body, mac) = token.rsplit_once('.').unwrap();
        let (head, expires) = body.rsplit_once('.').unwrap();
        let later = format!("{head}.{}.{mac}", expires.parse::<i64>().unwrap() + 3600);
        assert!(u.verify(&later, now).is_none());
        assert!(u.verify(&token[..token.len() - 2], now).is_none());
        assert!(u.verify("", now).is_none());
        assert!(u.verify("a.b.c.d.e", now).is_none());
    }
}
