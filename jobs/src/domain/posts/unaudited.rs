//! An app TikTok has not audited yet (`TIKTOK_APP_AUDITED=false`). TikTok's rule (tiktok-api.md
//! §5.10): its posts can only be `SELF_ONLY`, to private accounts; anything else fails at
//! `video/init` with `unaudited_client_can_only_post_to_private_accounts`. So creation refuses
//! it first, with the reason, and creator-info offers only what TikTok would accept.

use super::PostError;
use super::error::invalid;
use crate::model::PrivacyLevel;
use crate::tiktok::CreatorInfo;

/// The error code of a post an unaudited app cannot make.
pub const UNAUDITED_APP_PRIVATE_ONLY: &str = "unaudited_app_private_only";

const SELF_ONLY_REASON: &str = "TikTok has not audited MKT POST's app yet, so it can only post videos visible to the creator alone (\"Only me\", SELF_ONLY), and only to private TikTok accounts.";

const PUBLIC_ACCOUNT_REASON: &str = "TikTok has not audited MKT POST's app yet, so it can only post to private TikTok accounts, and this account is public. Make it private in the TikTok app, then try again.";

/// Whether the creator's account is public: TikTok offers `PUBLIC_TO_EVERYONE` only to public
/// accounts (a private account's options are followers, friends and "Only me").
fn public_account(info: &CreatorInfo) -> bool {
    info.privacy_level_options
        .contains(&PrivacyLevel::PublicToEveryone)
}

/// Why this account can only post privately through this app, if it can (`None` when the app
/// is audited): the sentence creator-info shows next to the options.
pub fn private_only_reason(audited: bool, info: &CreatorInfo) -> Option<&'static str> {
    match (audited, public_account(info)) {
        (true, _) => None,
        (false, true) => Some(PUBLIC_ACCOUNT_REASON),
        (false, false) => Some(SELF_ONLY_REASON),
    }
}

/// The privacy levels a post through this app may use: TikTok's options, narrowed to
/// `SELF_ONLY` while the app is unaudited.
pub fn offered_privacy(audited: bool, info: &CreatorInfo) -> Vec<PrivacyLevel> {
    info.privacy_level_options
        .iter()
        .copied()
        .filter(|p| audited || *p == PrivacyLevel::SelfOnly)
        .collect()
}

/// Refuses what an unaudited app cannot post: any privacy but `SELF_ONLY`, or a public
/// account. Every way a post is created calls it after [`super::validate`].
pub fn check(audited: bool, info: &CreatorInfo, privacy: PrivacyLevel) -> Result<(), PostError> {
    if audited {
        return Ok(());
    }
    if privacy != PrivacyLevel::SelfOnly {
        return Err(invalid(
            UNAUDITED_APP_PRIVATE_ONLY,
            format!(
                "{SELF_ONLY_REASON} Choose \"Only me\" instead of {}.",
                privacy.as_str()
            ),
        ));
    }
    if public_account(info) {
        return Err(invalid(UNAUDITED_APP_PRIVATE_ONLY, PUBLIC_ACCOUNT_REASON));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(public: bool) -> CreatorInfo {
        let mut options = vec!["MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"];
        options.push(if public {
            "PUBLIC_TO_EVERYONE"
        } else {
            "FOLLOWER_OF_CREATOR"
        });
        serde_json::from_value(serde_json::json!({ "privacy_level_options": options })).unwrap()
    }

    fn code(r: Result<(), PostError>) -> &'static str {
        match r {
            Err(PostError::Invalid { code, .. }) => code,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn an_audited_app_posts_as_tiktok_offers() {
        assert!(check(true, &info(true), PrivacyLevel::PublicToEveryone).is_ok());
        assert_eq!(offered_privacy(true, &info(true)).len(), 3);
        assert_eq!(private_only_reason(true, &info(true)), None);
    }

    #[test]
    fn an_unaudited_app_posts_only_self_only_to_private_accounts() {
        for privacy in [
            PrivacyLevel::PublicToEveryone,
            PrivacyLevel::MutualFollowFriends,
            PrivacyLevel::FollowerOfCreator,
        ] {
            assert_eq!(
                code(check(false, &info(false), privacy)),
                UNAUDITED_APP_PRIVATE_ONLY
            );
        }
        assert!(check(false, &info(false), PrivacyLevel::SelfOnly).is_ok());
        assert_eq!(
            code(check(false, &info(true), PrivacyLevel::SelfOnly)),
            UNAUDITED_APP_PRIVATE_ONLY
        );
        assert_eq!(
            offered_privacy(false, &info(false)),
            [PrivacyLevel::SelfOnly]
        );
        assert!(private_only_reason(false, &info(true)).is_some_and(|r| r.contains("private")));
        assert!(private_only_reason(false, &info(false)).is_some_and(|r| r.contains("SELF_ONLY")));
    }
}
