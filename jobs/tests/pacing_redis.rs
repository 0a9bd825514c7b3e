//! The Redis pacer keeps a sliding window shared by every process.

use jobs::model::AccountId;
use jobs::pacing::{Endpoint, Pacer};
use std::time::{Duration, Instant};

#[tokio::test]
async fn the_redis_pacer_lets_limit_calls_per_window_and_no_more() {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let conn = redis::aio::ConnectionManager::new(redis::Client::open(url).unwrap())
        .await
        .unwrap();
    let window = Duration::from_millis(1500);
    let prefix = format!("test_pace_{}", uuid::Uuid::new_v4().simple());
    // Two pacers on one key space stand for two worker processes.
    let a = Pacer::Redis {
        conn: conn.clone(),
        prefix: prefix.clone(),
        window,
    };
    let b = Pacer::Redis {
        conn,
        prefix,
        window,
    };
    let account = AccountId::new();
    let start = Instant::now();
    let mut stamps = Vec::new();
    for i in 0..14 {
        let p = if i % 2 == 0 { &a } else { &b };
        p.acquire(account, Endpoint::Init).await.unwrap();
        stamps.push(start.elapsed());
    }
    // Any 7 consecutive grants span more than the window (limit 6 per window).
    for w in stamps.windows(7) {
        assert!(w[6] - w[0] >= window, "{stamps:?}");
    }
}
