//! The creator's export: everything MKT POST holds about one user, read in one place: their
//! personal workspace's content and the workspaces they are a member of, with their role. The
//! web tier turns it into the `GET /api/export` document with the same views as the API.

use crate::context::JobContext;
use crate::domain::audit;
use crate::domain::workspaces::{Action, members};
use crate::model::{
    Actor, ApiKey, AuditEvent, Invitation, Media, Member, Post, Role, TikTokAccount, User, UserId,
    Workspace, WorkspaceId,
};
use crate::store::{Store, StoreError};
use serde_json::json;

/// Audit events are few per user; this bounds one export.
const AUDIT_LIMIT: u32 = 100_000;
const POST_PAGE: u32 = 500;

/// What one user's export holds (tokens stay inside the accounts: the document only says
/// whether they are held).
#[derive(Debug)]
pub struct Export {
    /// Every account, those being disconnected too.
    pub accounts: Vec<TikTokAccount>,
    /// Every post, all pages, in the history's order.
    pub posts: Vec<Post>,
    pub media: Vec<Media>,
    pub api_keys: Vec<ApiKey>,
    pub audit: Vec<AuditEvent>,
    /// Every workspace the user is a member of (the personal one too), with their role.
    pub memberships: Vec<(Workspace, Role)>,
}

/// Reads everything held about `user` and records that it was exported.
pub async fn gather(ctx: &JobContext, user: UserId) -> Result<Export, StoreError> {
    let store = &ctx.store;
    let memberships = store.workspaces_of(user).await?;
    let ws = Workspace::personal_id(user);
    let (accounts, posts, media, api_keys, audit) = content(&**store, ws).await?;
    tracing::info!(user_id = %user, posts = posts.len(), "data exported");
    let detail = json!({ "posts": posts.len() });
    audit::record(&**store, ws, Some(user), audit::DATA_EXPORTED, detail).await;
    Ok(Export {
        accounts,
        posts,
        media,
        api_keys,
        audit,
        memberships,
    })
}

/// What a workspace's own export holds (for its owners): its content, its members with their
/// profiles, and its open invitations.
#[derive(Debug)]
pub struct WorkspaceExport {
    pub workspace: Workspace,
    pub accounts: Vec<TikTokAccount>,
    pub posts: Vec<Post>,
    pub media: Vec<Media>,
    pub api_keys: Vec<ApiKey>,
    pub audit: Vec<AuditEvent>,
    pub members: Vec<(Member, User)>,
    pub invitations: Vec<Invitation>,
}

/// Why a workspace export was refused.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceExportError {
    /// Only owners export a workspace (it holds every member's email).
    #[error("only the workspace's owners may export it")]
    InsufficientRole,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads everything `actor`'s workspace holds, if they own it, and records the export.
pub async fn gather_workspace(
    ctx: &JobContext,
    actor: &Actor,
) -> Result<WorkspaceExport, WorkspaceExportError> {
    if !actor.role.can(Action::ExportWorkspace) {
        return Err(WorkspaceExportError::InsufficientRole);
    }
    let store = &*ctx.store;
    let ws = actor.workspace;
    let workspace = store.workspace(ws).await?;
    let (accounts, posts, media, api_keys, audit) = content(store, ws).await?;
    let members = members::list(store, *actor).await?;
    let invitations = store.pending_invitations(ws).await?;
    let detail = json!({ "posts": posts.len(), "workspace": true });
    audit::record(store, ws, Some(actor.user), audit::DATA_EXPORTED, detail).await;
    Ok(WorkspaceExport {
        workspace,
        accounts,
        posts,
        media,
        api_keys,
        audit,
        members,
        invitations,
    })
}

type Content = (
    Vec<TikTokAccount>,
    Vec<Post>,
    Vec<Media>,
    Vec<ApiKey>,
    Vec<AuditEvent>,
);

/// Everything workspace `ws` owns: accounts (those being disconnected too), every post (all
/// pages, newest first), staged videos, keys and audit events.
async fn content(store: &dyn Store, ws: WorkspaceId) -> Result<Content, StoreError> {
    let accounts = store.all_accounts(ws).await?;
    let mut posts = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store.list_posts(ws, cursor.as_deref(), POST_PAGE).await?;
        posts.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let media = store.list_media(ws).await?;
    let api_keys = store.list_api_keys(ws).await?;
    let audit = store.list_audit(ws, AUDIT_LIMIT).await?;
    Ok((accounts, posts, media, api_keys, audit))
}
