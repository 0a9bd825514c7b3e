//! Videos TikTok downloads itself (PULL_FROM_URL, tiktok-api.md §5.6): which URLs a post may
//! name, and cancelling a post while TikTok is still downloading it (§5.9).

use super::PostError;
use super::error::{conflict, invalid};
use crate::context::JobContext;
use crate::domain::accounts::{self, AccountError};
use crate::domain::outcome::transition;
use crate::model::{Post, PostSource, PostState};
use crate::store::StoreError;

/// The error code of a `video_url` TikTok would refuse to pull.
pub const URL_NOT_VERIFIED: &str = "url_not_verified";

/// Checks `raw` against TikTok's PULL_FROM_URL rules and the app's verified prefixes
/// (`TIKTOK_VERIFIED_URL_PREFIXES`). Pure, so every rule has a unit test. TikTok matches a
/// prefix against the URL as sent, so the URL is sent verbatim; it must also match once
/// normalised, so `https://host/verified/../elsewhere` cannot climb out of its prefix.
pub fn check_video_url(raw: &str, prefixes: &[String]) -> Result<(), PostError> {
    let refuse = |why: &str| {
        invalid(
            URL_NOT_VERIFIED,
            format!(
                "TikTok cannot download this video_url: {why}. A video_url must be https, on a domain name, and start with one of the prefixes verified for our TikTok app (the TIKTOK_VERIFIED_URL_PREFIXES setting{}).",
                match prefixes {
                    [] => ", which is empty: URL posting is off".to_owned(),
                    some => format!(": {}", some.join(", ")),
                }
            ),
        )
    };
    let url = url::Url::parse(raw).map_err(|_| refuse("it is not a URL"))?;
    if url.scheme() != "https" {
        return Err(refuse("it does not use https"));
    }
    if !matches!(url.host(), Some(url::Host::Domain(_))) {
        return Err(refuse("its host is an IP address, not a domain name"));
    }
    let under = |p: &String| raw.starts_with(p.as_str()) && url.as_str().starts_with(p.as_str());
    if !prefixes.iter().any(under) {
        return Err(refuse("it is not under a verified URL prefix"));
    }
    Ok(())
}

/// Whether `post` is a URL post TikTok may still be downloading: the one case a post TikTok
/// already has can be cancelled (the `processing → cancelled` edge of the state table).
pub(crate) fn downloading(post: &Post) -> bool {
    post.state == PostState::Processing
        && matches!(post.source, PostSource::Url { .. })
        && post.tiktok.publish_id.is_some()
}

/// Cancels a URL post while TikTok downloads it: TikTok's `publish/cancel` first, then the post
/// ends `cancelled`. TikTok's `publish_not_cancellable` (the download is over) is a 409. A
/// `poll_status` that meanwhile saw TikTok's `publish_cancelled` ends the post the same way, so
/// whichever write lands first, the post reads `cancelled`.
pub(crate) async fn cancel_download(ctx: &JobContext, post: Post) -> Result<Post, PostError> {
    let publish_id = post.tiktok.publish_id.clone().unwrap_or_default();
    let tiktok = ctx.tiktok.clone();
    // Not paced: cancel has no documented per-token limit of its own (tiktok-api.md §5.10).
    let answer = accounts::with_fresh_token(ctx, post.workspace_id, post.account_id, move |t| {
        let (tiktok, publish_id) = (tiktok.clone(), publish_id.clone());
        async move { tiktok.cancel_publish(&t, &publish_id).await }
    })
    .await;
    match answer {
        Ok(()) => {}
        Err(AccountError::TikTok(t)) if t.code() == Some("publish_not_cancellable") => {
            return Err(not_cancellable(
                "TikTok has already downloaded this video, so it can no longer be cancelled.",
            ));
        }
        Err(e) => return Err(super::account_error(e)),
    }
    tracing::info!(post_id = %post.id, "TikTok cancelled the download");
    let mut current = post;
    for _ in 0..3 {
        if current.state == PostState::Cancelled {
            return Ok(current);
        }
        if !downloading(&current) {
            break;
        }
        match transition(ctx, &current, Post::cancel).await {
            Ok(done) => return Ok(done),
            Err(StoreError::StaleState) => {
                current = ctx.store.post(current.workspace_id, current.id).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(not_cancellable(format!(
        "TikTok stopped the download, but this post is now {}.",
        current.state
    )))
}

fn not_cancellable(message: impl Into<String>) -> PostError {
    conflict("not_cancellable", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes() -> Vec<String> {
        vec![
            "https://media.example.com/tiktok/".into(),
            "https://cdn.example.org/v/".into(),
        ]
    }

    fn refused(raw: &str, prefixes: &[String]) -> String {
        match check_video_url(raw, prefixes) {
            Err(PostError::Invalid { code, message }) => {
                assert_eq!(code, URL_NOT_VERIFIED);
                message
            }
            other => panic!("{raw}: expected url_not_verified, got {other:?}"),
        }
    }

    #[test]
    fn a_url_under_a_verified_prefix_passes() {
        for ok in [
            "https://media.example.com/tiktok/clip.mp4",
            "https://cdn.example.org/v/2026/12/a.mp4?sig=abc",
        ] {
            assert!(check_video_url(ok, &prefixes()).is_ok(), "{ok}");
        }
    }

    #[test]
    fn every_pull_rule_has_its_refusal_naming_the_setting() {
        for (raw, why) in [
            ("http://media.example.com/tiktok/clip.mp4", "https"),
            ("https://203.0.113.7/tiktok/clip.mp4", "IP address"),
            ("https://[2001:db8::1]/tiktok/clip.mp4", "IP address"),
            ("https://media.example.com/other/clip.mp4", "prefix"),
            ("https://media.example.com.evil.net/tiktok/a.mp4", "prefix"),
            (
                "https://evil.net/https://media.example.com/tiktok/",
                "prefix",
            ),
            (
                "https://media.example.com/tiktok/../private/a.mp4",
                "prefix",
            ),
            ("not a url", "not a URL"),
        ] {
            let message = refused(raw, &prefixes());
            assert!(message.contains(why), "{raw}: {message}");
            assert!(
                message.contains("TIKTOK_VERIFIED_URL_PREFIXES"),
                "{message}"
            );
        }
    }

    #[test]
    fn without_prefixes_no_url_is_accepted_and_the_message_says_so() {
        let message = refused("https://media.example.com/tiktok/clip.mp4", &[]);
        assert!(message.contains("URL posting is off"), "{message}");
    }
}
