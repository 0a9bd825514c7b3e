//! The periodic sweeps, one function each. Each takes `now` (tests inject the clock), reads a
//! bounded batch through a named cross-user store query, and either enqueues jobs (which are
//! safe to run twice) or deletes what is past its deadline. None of them holds state that a
//! restart would lose, except [`RecentPushes`], which only saves duplicate pushes.

use crate::SchedulerError;
use crate::settings::{SchedulerSettings, Sweep};
use chrono::{DateTime, Utc};
use jobs::access_log::AccessLog;
use jobs::context::JobContext;
use jobs::domain::outcome::RETRIES_EXHAUSTED;
use jobs::handlers::disconnect_account::DisconnectAccount;
use jobs::handlers::poll_status::PollStatus;
use jobs::handlers::publish::PublishPost;
use jobs::handlers::refresh_token::RefreshToken;
use jobs::model::{AccountId, AccountStatus, PostState};
use jobs::store::StuckAfter;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

/// What one sweep did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub sweep: Sweep,
    /// Candidates the query returned.
    pub found: usize,
    /// Jobs pushed or items deleted.
    pub done: usize,
    /// Candidates skipped: a job was pushed for them recently, they are parked (nothing to
    /// push), or they changed before the sweep reached them.
    pub skipped: usize,
}

impl SweepReport {
    fn new(sweep: Sweep) -> Self {
        Self {
            sweep,
            found: 0,
            done: 0,
            skipped: 0,
        }
    }

    /// Runs `push` for `key` unless a job was pushed for it within `window` before `now`,
    /// counting it done or skipped. A failed push is forgotten, so the next sweep tries again.
    async fn push_unless_recent<E>(
        &mut self,
        recent: &RecentPushes,
        key: &str,
        now: DateTime<Utc>,
        window: Duration,
        push: impl AsyncFnOnce() -> Result<(), E>,
    ) -> Result<(), SchedulerError>
    where
        SchedulerError: From<E>,
    {
        if !recent.claim(key, now, window) {
            self.skipped += 1;
            return Ok(());
        }
        if let Err(e) = push().await {
            recent.forget(key);
            return Err(e.into());
        }
        self.done += 1;
        Ok(())
    }
}

impl fmt::Display for SweepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: found {}, done {}, skipped {}",
            self.sweep.name(),
            self.found,
            self.done,
            self.skipped
        )
    }
}

/// Remembers which posts and accounts a sweep pushed a job for, so a sweep running every minute
/// does not pile up one job per run while workers are down or behind. In memory on purpose:
/// after a failover the new scheduler pushes once more, and every job tolerates that.
#[derive(Debug, Default)]
pub struct RecentPushes {
    pushed: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl RecentPushes {
    /// True (and remembered) unless `key` was pushed less than `window` before `now`.
    pub fn claim(&self, key: &str, now: DateTime<Utc>, window: Duration) -> bool {
        let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        let mut pushed = self.pushed.lock().unwrap_or_else(|p| p.into_inner());
        // Entries only matter within their window; a day bounds the map's size.
        pushed.retain(|_, at| now - *at < chrono::Duration::days(1));
        match pushed.get(key) {
            Some(at) if now - *at < window => false,
            _ => {
                pushed.insert(key.to_owned(), now);
                true
            }
        }
    }

    /// Forgets `key` (its push failed, so the next sweep should try again).
    pub fn forget(&self, key: &str) {
        self.pushed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

fn ago(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    now - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Enqueues `refresh_token` for active accounts whose access token expires before
/// `now + token_refresh_margin`, each delayed by a random part of `token_refresh_jitter`.
pub async fn refresh_expiring_tokens(
    ctx: &JobContext,
    settings: &SchedulerSettings,
    now: DateTime<Utc>,
    recent: &RecentPushes,
) -> Result<SweepReport, SchedulerError> {
    let mut report = SweepReport::new(Sweep::RefreshTokens);
    let margin =
        chrono::Duration::from_std(settings.token_refresh_margin).unwrap_or(chrono::Duration::MAX);
    let accounts = ctx
        .store
        .accounts_expiring_before(now + margin, settings.sweep_batch)
        .await?;
    report.found = accounts.len();
    let jitter_ms = u64::try_from(settings.token_refresh_jitter.as_millis()).unwrap_or(u64::MAX);
    for a in accounts {
        let key = format!("refresh:{}", a.account_id);
        let job = RefreshToken {
            workspace_id: a.workspace_id,
            account_id: a.account_id,
        };
        let push = async || {
            let delay = Duration::from_millis(rand::random_range(0..=jitter_ms));
            ctx.queue.push_after(&job, delay).await.map(drop)
        };
        report
            .push_unless_recent(recent, &key, now, settings.repush_after, push)
            .await?;
    }
    Ok(report)
}

/// Re-pushes jobs for posts that made no progress for too long: `publish` for `queued` (a crash
/// between the tick's compare-and-set and its push) and `uploading` (a worker died mid-upload;
/// `publish` resumes from the stored publish id), `poll_status` for `processing`, and for
/// `in_inbox` (a draft waiting for its creator) once it missed two of its slow polls.
///
/// `publish` also for a pass-through post still `draft` (its bytes never came) once its
/// settling job is overdue by `stuck_queued_after`: the delayed job `posts::insert` pushes may
/// never have been queued (the queue was down), and without it the post would read "draft"
/// forever. The job settles it (`upload_interrupted`) only once the browser's hour to send is
/// over, and never a post whose bytes started meanwhile (that one is `uploading`).
///
/// Posts parked after exhausting their retries (`retries_exhausted`) stay `queued`/`uploading`
/// until someone replays them, and `publish` ignores them: they are skipped, and the sweep pages
/// past them (and past posts pushed recently) with the store's cursor, so any number of them
/// can never fill every batch and hide the stuck posts behind them.
pub async fn reconcile_stuck_posts(
    ctx: &JobContext,
    settings: &SchedulerSettings,
    now: DateTime<Utc>,
    recent: &RecentPushes,
) -> Result<SweepReport, SchedulerError> {
    let mut report = SweepReport::new(Sweep::StuckPosts);
    // A waiting draft is polled only every INBOX_POLL_MAX_INTERVAL_SECS: stuck after two.
    let inbox_after = settings
        .stuck_processing_after
        .max(Duration::from_secs(ctx.config.tiktok.inbox_poll_max_interval_secs) * 2);
    let draft_after = chrono::Duration::to_std(&jobs::domain::posts::stream_settle_after())
        .unwrap_or_default()
        + settings.stuck_queued_after;
    let checks = [
        (PostState::Draft, draft_after),
        (PostState::Queued, settings.stuck_queued_after),
        (PostState::Uploading, settings.stuck_uploading_after),
        (PostState::Processing, settings.stuck_processing_after),
        (PostState::InInbox, inbox_after),
    ];
    for (state, after) in checks {
        let mut cursor: Option<StuckAfter> = None;
        loop {
            let posts = ctx
                .store
                .posts_stuck_in(state, ago(now, after), cursor, settings.sweep_batch)
                .await?;
            let full = posts.len() >= settings.sweep_batch as usize;
            cursor = posts.last().map(StuckAfter::of);
            report.found += posts.len();
            let mut publish = Vec::new();
            let mut poll = Vec::new();
            let mut keys = Vec::new();
            for p in posts {
                if !polled(state) && p.error_code.as_deref() == Some(RETRIES_EXHAUSTED) {
                    report.skipped += 1;
                    continue;
                }
                let key = format!("post:{}", p.id);
                if !recent.claim(&key, now, after) {
                    report.skipped += 1;
                    continue;
                }
                tracing::info!(post_id = %p.id, state = %state, "post made no progress; pushing its job again");
                keys.push(key);
                if polled(state) {
                    poll.push(PollStatus {
                        workspace_id: p.workspace_id,
                        post_id: p.id,
                    });
                } else {
                    publish.push(PublishPost {
                        workspace_id: p.workspace_id,
                        post_id: p.id,
                    });
                }
            }
            let pushed = match (publish.is_empty(), poll.is_empty()) {
                (false, _) => ctx.queue.push_bulk(&publish).await.map(drop),
                (true, false) => ctx.queue.push_bulk(&poll).await.map(drop),
                (true, true) => Ok(()),
            };
            if let Err(e) = pushed {
                keys.iter().for_each(|k| recent.forget(k));
                return Err(e.into());
            }
            report.done += keys.len();
            if !full {
                break;
            }
        }
    }
    Ok(report)
}

/// States `poll_status` follows (the others are `publish`'s).
fn polled(state: PostState) -> bool {
    matches!(state, PostState::Processing | PostState::InInbox)
}

/// Posts still waiting for approval when their time came never go out: they become
/// `approval_expired` and lose their staged video (`jobs::domain::posts::approval`).
pub async fn expire_pending_approvals(
    ctx: &JobContext,
    settings: &SchedulerSettings,
    now: DateTime<Utc>,
) -> Result<SweepReport, SchedulerError> {
    let mut report = SweepReport::new(Sweep::PendingApprovals);
    let expired = jobs::domain::posts::approval::expire_due(ctx, now, settings.sweep_batch).await?;
    report.found = expired;
    report.done = expired;
    Ok(report)
}

/// Fails posts parked in `needs_reconnect` for longer than `PARKED_MEDIA_DAYS` and deletes
/// their staged videos (`jobs::parked`): a video waits for a reconnect only that long. Pages
/// through every overdue post with the store's cursor.
pub async fn fail_overdue_parked_posts(
    ctx: &JobContext,
    settings: &SchedulerSettings,
    now: DateTime<Utc>,
) -> Result<SweepReport, SchedulerError> {
    let mut report = SweepReport::new(Sweep::ParkedPosts);
    let before = ago(now, ctx.config.staging.parked_media_ttl);
    let mut cursor: Option<StuckAfter> = None;
    loop {
        let posts = ctx
            .store
            .posts_stuck_in(
                PostState::NeedsReconnect,
                before,
                cursor,
                settings.sweep_batch,
            )
            .await?;
        let full = posts.len() >= settings.sweep_batch as usize;
        cursor = posts.last().map(StuckAfter::of);
        report.found += posts.len();
        for p in &posts {
            if jobs::domain::posts::parked::fail_overdue(ctx, p, now).await? {
                report.done += 1;
            } else {
                report.skipped += 1;
            }
        }
        if !full {
            break;
        }
    }
    Ok(report)
}

/// Re-pushes `disconnect_account` for accounts still `disconnecting` after
/// `stuck_disconnecting_after` (the web tier marked them and pushed the job, and the job never
/// finished). The store has no index on account status, so this walks the accounts in pages;
/// fine for a sweep every few minutes at our scale (see the crate docs for the store method
/// that would make it an index read).
pub async fn retry_disconnecting_accounts(
    ctx: &JobContext,
    settings: &SchedulerSettings,
    now: DateTime<Utc>,
    recent: &RecentPushes,
) -> Result<SweepReport, SchedulerError> {
    let mut report = SweepReport::new(Sweep::DisconnectingAccounts);
    let before = ago(now, settings.stuck_disconnecting_after);
    let mut after: Option<AccountId> = None;
    loop {
        let page = ctx
            .store
            .accounts_after(after, settings.sweep_batch)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        let full = page.len() >= settings.sweep_batch as usize;
        for a in page {
            if a.status != AccountStatus::Disconnecting || a.updated_at > before {
                continue;
            }
            report.found += 1;
            let key = format!("disconnect:{}", a.id);
            let job = DisconnectAccount {
                workspace_id: a.workspace_id,
                account_id: a.id,
            };
            let push = async || {
                tracing::info!(account_id = %a.id, "account still disconnecting; pushing its job again");
                ctx.queue.push(&job).await.map(drop)
            };
            report
                .push_unless_recent(recent, &key, now, settings.repush_after, push)
                .await?;
        }
        if !full {
            break;
        }
    }
    Ok(report)
}

/// Re-pushes `erase_user` for users whose erasure started more than `stuck_erasing_after` ago
/// and is not finished (the push after the request failed, or the job died on a long TikTok
/// outage): an erasure request is never forgotten.
pub async fn retry_erasing_users(
    ctx: &JobContext,
    settings: &SchedulerSettings,
    now: DateTime<Utc>,
    recent: &RecentPushes,
) -> Result<SweepReport, SchedulerError> {
    let mut report = SweepReport::new(Sweep::ErasingUsers);
    let before = ago(now, settings.stuck_erasing_after);
    for user in ctx
        .store
        .users_erasing_before(before, settings.sweep_batch)
        .await?
    {
        report.found += 1;
        let key = format!("erase:{user}");
        let push = async || {
            tracing::info!(user_id = %user, "erasure unfinished; pushing its job again");
            jobs::handlers::erase_user::push(ctx, user).await
        };
        report
            .push_unless_recent(recent, &key, now, settings.repush_after, push)
            .await?;
    }
    Ok(report)
}

/// Deletes staged videos past their deadline (object and media row) through the staging room
/// (`jobs::staging`), then objects left without a row for longer than `staging_orphan_grace`
/// (an upload that crashed between writing the object and inserting its row).
pub async fn delete_expired_media(
    ctx: &JobContext,
    settings: &SchedulerSettings,
    now: DateTime<Utc>,
) -> Result<SweepReport, SchedulerError> {
    let mut report = SweepReport::new(Sweep::ExpiredMedia);
    let expired = ctx
        .staging
        .delete_expired(now, settings.sweep_batch)
        .await?;
    let orphans = ctx
        .staging
        .delete_orphans(
            ago(now, settings.staging_orphan_grace),
            settings.sweep_batch as usize,
        )
        .await?;
    report.found = expired + orphans;
    report.done = expired + orphans;
    Ok(report)
}

/// Deletes access-log files older than `log_retention_days` from `log_dir` (the 90-day promise).
pub async fn delete_old_logs(
    settings: &SchedulerSettings,
    now: DateTime<Utc>,
) -> Result<SweepReport, SchedulerError> {
    let dir = settings.log_dir.clone();
    let days = settings.log_retention_days;
    let deleted =
        tokio::task::spawn_blocking(move || AccessLog::new(dir).delete_older_than(now, days))
            .await
            .map_err(|e| SchedulerError::Io(std::io::Error::other(e)))??;
    if deleted > 0 {
        tracing::info!(deleted, days, "old access logs deleted");
    }
    let mut report = SweepReport::new(Sweep::OldLogs);
    report.found = deleted;
    report.done = deleted;
    Ok(report)
}
