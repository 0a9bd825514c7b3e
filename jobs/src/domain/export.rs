//! The creator's export: everything MKT POST holds about one user, read in one place: their
//! personal workspace's content and the workspaces they are a member of, with their role. The
//! web tier turns it into the `GET /api/export` document with the same views as the API.

use crate::context::JobContext;
use crate::domain::audit;
use crate::model::{ApiKey, AuditEvent, Media, Post, Role, TikTokAccount, UserId, Workspace};
use crate::store::StoreError;
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
    tracing::info!(user_id = %user, posts = posts.len(), "data exported");
    audit::record(
        &**store,
        ws,
        Some(user),
        audit::DATA_EXPORTED,
        json!({ "posts": posts.len() }),
    )
    .await;
    Ok(Export {
        accounts,
        posts,
        media,
        api_keys,
        audit,
        memberships,
    })
}
