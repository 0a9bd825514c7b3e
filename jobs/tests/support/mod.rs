//! A `JobContext` on a temp SQLite store, the embedded queue and store-lease locks, talking to
//! an in-process TikTok sandbox: enough to run the token and key jobs against real HTTP.

#![allow(dead_code)] // each test binary uses its own subset

use chrono::{DateTime, Utc};
use jobs::config::Config;
use jobs::context::JobContext;
use jobs::model::{
    AccountConnect, AccountId, EncryptedTokens, GoogleProfile, TikTokAccount, UserId,
};
use jobs::queue::Queue;
use jobs::staging::Staging;
use jobs::vault::{AccessToken, KeyRing, RefreshToken, Vault};
use sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use std::sync::Arc;

/// Small segments so a few KiB of video spans several of them.
pub const SEGMENT: u32 = 4096;

pub struct Harness {
    pub sandbox: SandboxHandle,
    pub ctx: JobContext,
    pub user: UserId,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// The user's personal workspace, where the harness keeps its rows.
    pub fn ws(&self) -> jobs::model::WorkspaceId {
        jobs::model::Workspace::personal_id(self.user)
    }

    /// Everything sealed with `ring` (`v2:…,v1:…`, current first).
    pub async fn start(ring: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        let mut config = Config::for_tests(dir.path());
        config.tiktok.auth_url = sandbox.base_url().parse().unwrap();
        config.tiktok.api_url = sandbox.base_url().parse().unwrap();
        config.identity.token_keys = KeyRing::parse(ring).unwrap();
        let config = Arc::new(config);
        let store = jobs::store::connect(config.store.database_url.expose())
            .await
            .unwrap();
        let queue = Queue::connect(&config).await.unwrap();
        let mut ctx = JobContext::new(config, store, queue).await.unwrap();
        ctx.staging = ctx.staging.clone().with_segment_size(SEGMENT);
        let user = ctx
            .store
            .upsert_user(&GoogleProfile {
                google_uid: "u".into(),
                email: "u@example.com".into(),
                name: "U".into(),
                picture: None,
            })
            .await
            .unwrap()
            .id;
        Self {
            sandbox,
            ctx,
            user,
            _dir: dir,
        }
    }

    /// The same store, staging area and sandbox, with another key ring (a deploy that changed
    /// `TOKEN_KEYS`).
    pub fn with_ring(&self, ring: &str) -> JobContext {
        let mut ctx = self.ctx.clone();
        ctx.vault = Vault::new(KeyRing::parse(ring).unwrap());
        ctx.staging = Staging::new(&ctx.config, ctx.vault.clone(), ctx.store.clone())
            .unwrap()
            .with_segment_size(SEGMENT);
        ctx
    }

    /// Tokens the sandbox issued for `open_id`, as TikTok would after a consent.
    pub fn issue(&self, open_id: &str) -> (String, String) {
        let t = self
            .sandbox
            .issue_token(
                &self.ctx.config.tiktok.client_key,
                open_id,
                &sandbox::ALL_SCOPES,
            )
            .unwrap();
        (t.access_token, t.refresh_token)
    }

    /// Connects an account holding `access`/`refresh`, sealed by `vault`.
    pub async fn connect(
        &self,
        vault: &Vault,
        open_id: &str,
        access: &str,
        refresh: &str,
        access_expires_at: DateTime<Utc>,
    ) -> TikTokAccount {
        let id = AccountId::new();
        let connect = AccountConnect {
            id,
            open_id: open_id.into(),
            union_id: None,
            display_name: open_id.into(),
            username: None,
            avatar_url: None,
            scopes: vec!["video.publish".into()],
            tokens: seal(vault, id, access, refresh, access_expires_at),
        };
        self.ctx
            .store
            .connect_account(self.ws(), self.user, &connect)
            .await
            .unwrap()
    }

    /// The account's stored tokens, opened with `vault`.
    pub async fn tokens(&self, vault: &Vault, id: AccountId) -> Option<(String, String)> {
        let a = self.ctx.store.account(self.ws(), id).await.unwrap();
        let t = a.tokens?;
        Some((
            vault.open_access(id, &t).unwrap().expose().to_owned(),
            vault.open_refresh(id, &t).unwrap().expose().to_owned(),
        ))
    }
}

/// Both tokens sealed for account `id`.
pub fn seal(
    vault: &Vault,
    id: AccountId,
    access: &str,
    refresh: &str,
    access_expires_at: DateTime<Utc>,
) -> EncryptedTokens {
    vault.seal_tokens(
        id,
        &AccessToken::new(access),
        &RefreshToken::new(refresh),
        access_expires_at,
        Utc::now() + chrono::Duration::days(365),
    )
}

/// `id:key` entries for a ring.
pub fn entry(id: &str) -> String {
    KeyRing::generate_entry(id)
}
