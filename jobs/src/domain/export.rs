//! The creator's export: everything MKT POST holds about one user, read in one place. The web
//! tier turns it into the `GET /api/export` document with the same views as the API.

use crate::context::JobContext;
use crate::domain::audit;
use crate::model::{ApiKey, AuditEvent, Media, Post, TikTokAccount, UserId};
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
}

/// Reads everything held about `user` and records that it was exported.
pub async fn gather(ctx: &JobContext, user: UserId) -> Result<Export, StoreError> {
    let store = &ctx.store;
    let accounts = store.all_accounts(user).await?;
    let mut posts = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store.list_posts(user, cursor.as_deref(), POST_PAGE).await?;
        posts.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let media = store.list_media(user).await?;
    let api_keys = store.list_api_keys(user).await?;
    let audit = store.list_audit(user, AUDIT_LIMIT).await?;
    tracing::info!(user_id = %user, posts = posts.len(), "data exported");
    audit::record(
        &**store,
        user,
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
    })
}
