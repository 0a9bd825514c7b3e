//! The sandbox's in-memory world, split by side: TikTok's ([`tiktok`], with its publish
//! [`task`]s) and Google's ([`google`]), each behind its own lock. Besides TikTok's side, the
//! main lock holds what both sides share: the knobs, injected faults and the call log.
//! Handlers lock briefly, never across an `.await`, and never hold both locks at once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::config::SandboxConfig;
use crate::faults::{CallSite, Fault, FaultAction, FaultSpec};
use crate::knobs::Knobs;
use crate::records::{CallCount, CallRecord, Records, WebhookRecord};

pub(crate) mod google;
pub(crate) mod task;
pub(crate) mod tiktok;

use google::Google;
use task::{PublishTask, WebhookEvent};
use tiktok::TikTok;
pub use tiktok::{MediaCheck, RefreshGrant, TokenResponse};

/// Cheap to clone; shared by every handler, the ticker and the webhook sender.
#[derive(Clone)]
pub struct SandboxState(pub(crate) Arc<Shared>);

pub(crate) struct Shared {
    pub cfg: SandboxConfig,
    pub base_url: String,
    pub clock: Clock,
    pub inner: Mutex<Inner>,
    pub google: Mutex<Google>,
    pub webhooks: mpsc::UnboundedSender<WebhookEvent>,
}

/// Everything under the main lock.
pub(crate) struct Inner {
    pub knobs: Knobs,
    pub tiktok: TikTok,
    pub faults: Vec<Fault>,
    pub next_fault_id: u64,
    pub calls: Vec<CallRecord>,
    pub call_counts: BTreeMap<String, CallCount>,
    pub webhooks: Vec<WebhookRecord>,
}

impl Inner {
    pub(crate) fn new(cfg: &SandboxConfig, base_url: &str) -> Self {
        Self {
            knobs: cfg.knobs.clone(),
            tiktok: TikTok::new(cfg, base_url),
            faults: Vec::new(),
            next_fault_id: 1,
            calls: Vec::new(),
            call_counts: BTreeMap::new(),
            webhooks: Vec::new(),
        }
    }

    /// The creator who consents when the authorize URL does not name one.
    pub fn default_open_id(&self) -> Option<String> {
        self.tiktok.default_open_id(&self.knobs)
    }

    /// Counts a request against the knobs' sliding window; `false` when over the limit.
    pub fn take_rate(
        &mut self,
        token: &str,
        bucket: &'static str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> bool {
        let window = TimeDelta::seconds(self.knobs.rate_limits.window_secs);
        self.tiktok.take_rate(token, bucket, limit, window, now)
    }

    /// Issues tokens with the knobs' lifetimes (see [`TikTok::issue_tokens`]).
    pub fn issue_tokens(
        &mut self,
        now: DateTime<Utc>,
        client_key: &str,
        open_id: &str,
        scopes: &[String],
        refresh: RefreshGrant,
    ) -> TokenResponse {
        self.tiktok
            .issue_tokens(&self.knobs, now, client_key, open_id, scopes, refresh)
    }

    /// Checks faults for a call; returns the actions that fire (and counts the call).
    pub(crate) fn fire_faults(&mut self, call: &CallSite<'_>) -> Vec<FaultAction> {
        self.faults.iter_mut().filter_map(|f| f.hit(call)).collect()
    }

    pub fn add_fault(&mut self, spec: FaultSpec) -> u64 {
        let id = self.next_fault_id;
        self.next_fault_id += 1;
        self.faults.push(Fault {
            id,
            spec,
            seen: 0,
            fired: 0,
        });
        id
    }

    pub fn log_call(&mut self, record: CallRecord) {
        let count = self.call_counts.entry(record.endpoint.clone()).or_default();
        count.total += 1;
        if let Some(open_id) = &record.open_id {
            *count.by_open_id.entry(open_id.clone()).or_default() += 1;
        }
        // Bounded so a long-running dev sandbox does not grow without limit.
        if self.calls.len() >= 20_000 {
            self.calls.drain(..5_000);
        }
        self.calls.push(record);
    }

    pub fn records(&self) -> Records {
        let tiktok = &self.tiktok;
        let mut refresh_counts = BTreeMap::new();
        for e in tiktok
            .token_events
            .iter()
            .filter(|e| e.event == "refreshed")
        {
            *refresh_counts.entry(e.open_id.clone()).or_insert(0) += 1;
        }
        let tokens = tiktok.token_records();
        Records {
            posts: tiktok.tasks.iter().map(PublishTask::record).collect(),
            chunks: tiktok.chunks.clone(),
            bytes_uploaded: tiktok.bytes_uploaded,
            revoked_tokens: tokens
                .iter()
                .filter(|t| t.revoked)
                .map(|t| t.token.clone())
                .collect(),
            tokens,
            token_events: tiktok.token_events.clone(),
            refresh_counts,
            calls: self.calls.clone(),
            call_counts: self.call_counts.clone(),
            webhooks: self.webhooks.clone(),
            videos: tiktok.videos.clone(),
        }
    }
}

impl SandboxState {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.0
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn google(&self) -> MutexGuard<'_, Google> {
        self.0
            .google
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The sandbox clock's "now".
    pub fn now(&self) -> DateTime<Utc> {
        self.0.clock.now()
    }

    /// The base URL used in URLs the sandbox hands out (upload URLs, avatars, sign-in).
    pub fn base_url(&self) -> &str {
        &self.0.base_url
    }

    pub(crate) fn config(&self) -> &SandboxConfig {
        &self.0.cfg
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.0.clock
    }

    /// Queues webhook events for delivery.
    pub(crate) fn emit(&self, events: Vec<WebhookEvent>) {
        for e in events {
            // The receiver lives as long as the server; after shutdown events are moot.
            let _ = self.0.webhooks.send(e);
        }
    }

    /// Advances every publish task to the current sandbox time and sends the resulting events.
    pub fn settle(&self) {
        let now = self.now();
        let events = {
            let mut inner = self.lock();
            let Inner { knobs, tiktok, .. } = &mut *inner;
            tiktok.settle_all(now, knobs)
        };
        self.emit(events);
    }

    /// Everything the sandbox recorded (settled to "now" first).
    pub fn records(&self) -> Records {
        self.settle();
        self.lock().records()
    }
}
