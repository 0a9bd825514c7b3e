//! The domain model: users, TikTok accounts, posts (with the state machine), media, API keys and
//! audit events. Plain data; the rules that move it live in the job modules and the store.

mod account;
mod api_key;
mod audit;
mod ids;
mod media;
mod post;
mod user;

pub use account::{AccountConnect, AccountStatus, EncryptedTokens, TikTokAccount};
pub use api_key::{ApiKey, ApiKeyScope, ApiKeyScopes, ScopesError};
pub use audit::AuditEvent;
pub use ids::{AccountId, ApiKeyId, AuditEventId, MediaId, PostId, UserId};
pub use media::{Container, Media};
pub use post::{
    Post, PostSettings, PostState, PrivacyLevel, TikTokProgress, UnknownPostState, UploadPlan,
};
pub use user::{GoogleProfile, User};
