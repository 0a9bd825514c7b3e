//! The domain model: users, TikTok accounts, posts (with the state machine), media, API keys and
//! audit events. Plain data, and what each post transition writes on it; when to take a step (and
//! what goes with it outside the row) lives in `domain` and the job handlers.

mod account;
mod api_key;
mod audit;
mod ids;
mod invitation;
mod media;
mod post;
mod user;
mod workspace;

pub use account::{AccountConnect, AccountStatus, EncryptedTokens, TikTokAccount};
pub use api_key::{ApiKey, ApiKeyScope, ApiKeyScopes, ScopesError};
pub use audit::AuditEvent;
pub use ids::{
    AccountId, ApiKeyId, AuditEventId, GroupId, InvitationId, MediaId, PostId, UserId, WorkspaceId,
};
pub use invitation::{Invitation, InvitationStatus};
pub use media::{Container, Media};
pub use post::{
    APPROVAL_EXPIRED, Attempt, PhotoPost, Post, PostGroup, PostMode, PostSettings, PostSource,
    PostState, PrivacyLevel, REJECTED, RETRIES_EXHAUSTED, TikTokProgress, UnknownPostState,
    UploadPlan,
};
pub use user::{GoogleProfile, User};
pub use workspace::{Actor, Member, Role, UnknownRole, Workspace};
