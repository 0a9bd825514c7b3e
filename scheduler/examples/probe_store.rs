//! Temporary probe (deleted after use).
use chrono::Utc;
use jobs::model::*;
use std::time::Instant;
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/x.db", dir.path().display());
    let store = jobs::store::connect(&url).await?;
    let user = store
        .upsert_user(&GoogleProfile {
            google_uid: "u".into(),
            email: "e".into(),
            name: "n".into(),
            picture: None,
        })
        .await?
        .id;
    let mut posts = Vec::new();
    let t = Instant::now();
    for _ in 0..1000 {
        let now = Utc::now();
        let p = Post {
            id: PostId::new(),
            user_id: user,
            account_id: AccountId::new(),
            media_id: None,
            settings: PostSettings {
                title: "t".into(),
                privacy_level: PrivacyLevel::SelfOnly,
                disable_comment: false,
                disable_duet: false,
                disable_stitch: false,
                brand_content_toggle: false,
                brand_organic_toggle: false,
                is_aigc: false,
            },
            state: PostState::Scheduled,
            version: 1,
            scheduled_at: Some(now),
            scheduled_tz: None,
            tiktok: TikTokProgress::default(),
            error_code: None,
            error_message: None,
            late_by_ms: None,
            idempotency_key: None,
            request_hash: None,
            media_deleted_at: None,
            published_at: None,
            created_at: now,
            updated_at: now,
        };
        posts.push(store.create_post(&p).await?.value);
    }
    println!("insert {:?}/post", t.elapsed() / 1000);
    let t = Instant::now();
    for p in &posts {
        store.post(user, p.id).await?;
    }
    println!("read {:?}/post", t.elapsed() / 1000);
    let t = Instant::now();
    for p in &posts {
        let mut q = p.clone();
        q.state = PostState::Queued;
        store.save_post(&q, PostState::Scheduled).await?;
    }
    println!("cas {:?}/post", t.elapsed() / 1000);
    let t = Instant::now();
    for _ in 0..1000 {
        store.ping().await?;
    }
    println!("ping {:?}", t.elapsed() / 1000);
    Ok(())
}
