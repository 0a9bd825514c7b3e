//! `disconnect_account`: revoke at TikTok, then delete the tokens and the account row.
//!
//! [`request`] has already marked the account `disconnecting` (it vanished from lists at once).
//! Revoke is retried on transient errors; if TikTok says the token is already invalid (or it
//! cannot be opened, or the grant is dead), there is nothing left to revoke and deletion still
//! happens: the creator asked us to forget the account. Posts still waiting for the account
//! (scheduled, queued, parked) are cancelled first, and their staged videos deleted.

use crate::context::JobContext;
use crate::model::{AccountId, AccountStatus, Actor};
use crate::queue::JobError;
use crate::store::StoreError;
use crate::tiktok::ErrorClass;
use apalis::prelude::Data;

/// The payload this handler runs, and its queue name.
pub use crate::queue::payloads::{DISCONNECT_ACCOUNT as NAME, DisconnectAccount};

/// Why a disconnect request could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum DisconnectError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
}

/// Marks the account `disconnecting` (it vanishes from lists at once) and pushes the job. A
/// concurrent token refresh that bumped the version is read again and retried. The push comes
/// after the state write: a crash in between leaves a `disconnecting` row that the scheduler's
/// reconcile sweep re-queues. Recorded in the audit log as `by`'s request; the job records the
/// revocation itself.
pub async fn request(ctx: &JobContext, by: Actor, id: AccountId) -> Result<(), DisconnectError> {
    let ws = by.workspace;
    let mut account = ctx.store.account(ws, id).await?;
    while account.status != AccountStatus::Disconnecting {
        match ctx
            .store
            .set_account_status(
                ws,
                id,
                account.version,
                AccountStatus::Disconnecting,
                None,
                false,
            )
            .await
        {
            Ok(_) => break,
            Err(StoreError::StaleState) => account = ctx.store.account(ws, id).await?,
            Err(e) => return Err(e.into()),
        }
    }
    ctx.queue
        .push(&DisconnectAccount {
            workspace_id: ws,
            account_id: id,
        })
        .await?;
    crate::domain::audit::record(
        &*ctx.store,
        ws,
        Some(by.user),
        crate::domain::audit::ACCOUNT_DISCONNECT_REQUESTED,
        serde_json::json!({ "account_id": id }),
    )
    .await;
    Ok(())
}

#[tracing::instrument(skip_all, fields(job = NAME, account_id = %job.account_id))]
pub async fn handle(job: DisconnectAccount, ctx: Data<JobContext>) -> Result<(), JobError> {
    let account = match ctx.store.account(job.workspace_id, job.account_id).await {
        Ok(a) => a,
        Err(StoreError::NotFound) => return Ok(()), // already gone: a replay or a double click
        Err(e) => return Err(e.into()),
    };
    if account.status != AccountStatus::Disconnecting {
        return Err(JobError::Permanent(
            "account is not being disconnected".into(),
        ));
    }
    // Posts that were waiting for this account cannot go out any more: cancel them (with their
    // staged videos) now rather than let them fail when due.
    let cancelled = crate::domain::posts::cancel_unsent(
        &ctx,
        job.workspace_id,
        Some(job.account_id),
        "account_disconnected",
        "Cancelled: you disconnected this TikTok account.",
    )
    .await?;
    revoke(&ctx, &account).await?;
    ctx.store
        .delete_account(job.workspace_id, job.account_id)
        .await?;
    crate::domain::audit::record(
        &*ctx.store,
        job.workspace_id,
        None,
        crate::domain::audit::ACCOUNT_DISCONNECTED,
        serde_json::json!({ "account_id": job.account_id, "cancelled_posts": cancelled }),
    )
    .await;
    tracing::info!(
        cancelled_posts = cancelled,
        "account disconnected: revoked at TikTok and deleted"
    );
    Ok(())
}

/// Revokes the access token at TikTok. Uses the stored token as is, without refreshing: a token
/// that is already dead has nothing left to revoke.
pub async fn revoke(
    ctx: &JobContext,
    account: &crate::model::TikTokAccount,
) -> Result<(), JobError> {
    let Some(tokens) = &account.tokens else {
        return Ok(());
    };
    let token = match ctx.vault.open_access(account.id, tokens) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "stored token unreadable; nothing to revoke");
            return Ok(());
        }
    };
    match ctx.tiktok.revoke(&token).await {
        Ok(()) => Ok(()),
        Err(e) => match e.class() {
            ErrorClass::Retryable { .. } => Err(JobError::Retry(e.to_string())),
            // Already invalid / dead grant: TikTok has nothing of ours left to revoke.
            _ => {
                tracing::info!(code = ?e.code(), "revoke refused as already invalid; deleting anyway");
                Ok(())
            }
        },
    }
}
