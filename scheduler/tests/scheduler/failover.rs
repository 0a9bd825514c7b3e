//! One active scheduler: a second instance stands by, and takes over when the first stops
//! (at once: the lease is released) or dies (within the lease TTL). Across the handover every
//! post is enqueued exactly once.

use crate::support::{Db, Env, Lease, QueueKind, each_way};
use chrono::Utc;
use jobs::model::Post;
use scheduler::Heartbeat;
use std::time::{Duration, Instant};

async fn wait_active(env: &Env, id: &str) -> Heartbeat {
    env.wait_for("the scheduler to be active", || async {
        match scheduler::heartbeat(&env.ctx).await {
            Some(b) if b.instance == id && b.is_fresh(Utc::now()) => Ok(b),
            other => Err(format!("{:?}", other.map(|b| b.instance))),
        }
    })
    .await
}

async fn due_now(env: &Env, n: usize) -> Vec<Post> {
    let user = env.user().await;
    let mut posts = Vec::new();
    for _ in 0..n {
        posts.push(env.scheduled(user, Utc::now()).await);
    }
    posts
}

async fn wait_queued(env: &Env, posts: &[Post]) {
    for p in posts {
        env.wait_queued("a due post to be queued", p).await;
    }
}

async fn a_standby_takes_over_when_the_active_scheduler_stops(lease: Lease) {
    let env = Env::with(Db::Sqlite, lease, QueueKind::Redis).await;
    let a = env.start();
    let first = wait_active(&env, &a.id).await;
    let b = env.start();

    let before = due_now(&env, 20).await;
    wait_queued(&env, &before).await;
    let beat = scheduler::heartbeat(&env.ctx).await.unwrap();
    assert_eq!(
        beat.instance, a.id,
        "the standby stays out while the active one runs"
    );
    assert!(!b.task.is_finished());

    let stopped = Instant::now();
    a.stop().await;
    let second = wait_active(&env, &b.id).await;
    let took = stopped.elapsed();
    assert!(
        took < env.settings.lease_ttl,
        "a released lease is taken at the standby's next poll, took {took:?}"
    );
    assert!(second.fencing_token > first.fencing_token);

    let after = due_now(&env, 20).await;
    wait_queued(&env, &after).await;
    b.stop().await;

    let jobs = env.published_once(40).await;
    for p in before.iter().chain(&after) {
        assert_eq!(jobs.get(&p.id), Some(&1), "post {} enqueued once", p.id);
    }
}

each_way!(a_standby_takes_over_when_the_active_scheduler_stops =>
    redis_lease(Lease::Redis),
    store_lease(Lease::Store),
);

async fn a_killed_scheduler_is_replaced_within_the_lease_ttl(lease: Lease, db: Db) {
    let env = Env::with(db, lease, QueueKind::Redis).await;
    let a = env.start();
    wait_active(&env, &a.id).await;
    let b = env.start();
    let before = due_now(&env, 10).await;
    wait_queued(&env, &before).await;

    // Killed: no shutdown, no release; the lease must run out.
    a.task.abort();
    let killed = Instant::now();
    let beat = wait_active(&env, &b.id).await;
    let took = killed.elapsed();
    assert!(
        took <= env.settings.lease_ttl + Duration::from_millis(1000),
        "standby took over after {took:?} (lease TTL {:?})",
        env.settings.lease_ttl
    );
    assert_eq!(beat.instance, b.id);

    let after = due_now(&env, 10).await;
    wait_queued(&env, &after).await;
    b.stop().await;
    env.published_once(20).await;
    eprintln!("takeover after a kill took {took:?}");
}

each_way!(a_killed_scheduler_is_replaced_within_the_lease_ttl =>
    redis_lease(Lease::Redis, Db::Sqlite),
    sqlite_lease(Lease::Store, Db::Sqlite),
    postgres_lease(Lease::Store, Db::Postgres),
);

/// Two schedulers started together while posts are already due: one wins the lease, the other
/// never ticks, and each post is enqueued once.
#[tokio::test]
async fn two_schedulers_starting_together_enqueue_each_post_once() {
    let env = Env::new(Db::Sqlite).await;
    let posts = due_now(&env, 50).await;
    let a = env.start();
    let b = env.start();
    wait_queued(&env, &posts).await;
    let beat = env
        .wait_for("the active scheduler to report 50 enqueued", || async {
            match scheduler::heartbeat(&env.ctx).await {
                Some(b) if b.enqueued_total == 50 => Ok(b),
                other => Err(format!("{:?}", other.map(|b| b.enqueued_total))),
            }
        })
        .await;
    assert!(beat.instance == a.id || beat.instance == b.id);
    for r in [a, b] {
        r.stop().await;
    }
    env.published_once(50).await;
}
