//! `refresh_token`: refreshes one account's access token ahead of expiry (queued by the
//! scheduler's sweep). Goes through the same single-flight helper as every TikTok call, so a
//! sweep racing a publish never refreshes twice.

use crate::context::JobContext;
use crate::domain::accounts::{self, AccountError};
use crate::queue::JobError;
use apalis::prelude::Data;

/// The payload this handler runs, and its queue name.
pub use crate::queue::payloads::{REFRESH_TOKEN as NAME, RefreshToken};

/// Maps an account failure to the job outcome: transient retries, a dead grant is recorded
/// (by the helper) and stops, a vanished account is done.
pub fn job_error(e: AccountError) -> JobError {
    match e {
        AccountError::NeedsReconnect(why) => JobError::Reconnect(why),
        e if e.is_transient() => JobError::Retry(e.to_string()),
        e => JobError::Permanent(e.to_string()),
    }
}

#[tracing::instrument(skip_all, fields(job = NAME, account_id = %job.account_id))]
pub async fn handle(job: RefreshToken, ctx: Data<JobContext>) -> Result<(), JobError> {
    match accounts::fresh_access_token(&ctx, job.workspace_id, job.account_id).await {
        Ok(_) => Ok(()),
        // Disconnected or erased meanwhile: nothing to refresh.
        Err(AccountError::Store(crate::store::StoreError::NotFound)) => Ok(()),
        Err(e) => Err(job_error(e)),
    }
}
