//! The tick: due posts are enqueued exactly once, on time, caught up after downtime, and never
//! after a cancel or a reschedule that won the race.

use crate::support::{Db, Env, on_sqlite_and_postgres, secs};
use chrono::Utc;
use jobs::domain::schedule_time::{self, ScheduleChangeError};
use jobs::handlers::publish;
use jobs::model::{Post, PostState};
use scheduler::enqueue_due_posts;

async fn due_posts_are_enqueued_once_and_future_ones_wait(db: Db) {
    let env = Env::new(db).await;
    let user = env.user().await;
    let now = Utc::now();
    let due = [
        env.scheduled(user, now - secs(30)).await,
        env.scheduled(user, now - secs(1)).await,
        env.scheduled(user, now).await,
    ];
    let later = [
        env.scheduled(user, now + secs(60)).await,
        env.scheduled(user, now + secs(3600)).await,
    ];

    let report = enqueue_due_posts(&env.ctx, &env.settings, now)
        .await
        .unwrap();
    assert_eq!(report.enqueued.len(), 3);
    assert_eq!(report.lost_races + report.failed, 0);
    let again = enqueue_due_posts(&env.ctx, &env.settings, now)
        .await
        .unwrap();
    assert_eq!(again.due, 0, "queued posts leave the due index");

    let jobs = env.jobs_per_post(publish::NAME).await;
    assert_eq!(jobs.len(), 3);
    for p in &due {
        assert_eq!(jobs.get(&p.id), Some(&1), "one publish job per due post");
        let stored = env.state_of(p).await;
        assert_eq!(stored.state, PostState::Queued);
    }
    assert_eq!(env.state_of(&due[0]).await.late_by_ms, Some(30_000));
    assert_eq!(
        env.state_of(&due[1]).await.late_by_ms,
        None,
        "1 s late is on time"
    );
    for p in &later {
        assert_eq!(env.state_of(p).await.state, PostState::Scheduled);
        assert!(!jobs.contains_key(&p.id));
    }
    assert_eq!(env.queue().stats(publish::NAME).await.unwrap().pending, 3);
}

on_sqlite_and_postgres!(due_posts_are_enqueued_once_and_future_ones_wait);

/// Posts that fell due while no scheduler ran (days ago: no horizon) go out on start, marked with
/// how late they are; a post falling due while it runs goes out within a second.
async fn missed_posts_are_caught_up_on_start_and_marked_late(db: Db) {
    let env = Env::new(db).await;
    let user = env.user().await;
    let now = Utc::now();
    let missed = [
        (
            env.scheduled(user, now - chrono::Duration::days(3)).await,
            3 * 86_400_000,
        ),
        (env.scheduled(user, now - secs(3600)).await, 3_600_000),
        (env.scheduled(user, now - secs(5)).await, 5_000),
    ];
    let soon = env.scheduled(user, now + secs(2)).await;

    let running = env.start();
    for (p, late) in &missed {
        let stored = env.wait_queued("a missed post to be queued", p).await;
        let late_by = stored.late_by_ms.expect("marked late");
        assert!(
            late_by >= *late && late_by < late + 10_000,
            "late_by_ms {late_by}, expected about {late}"
        );
    }
    let on_time = env
        .wait_queued("the post due during the run to be queued", &soon)
        .await;
    assert_eq!(on_time.late_by_ms, None, "enqueued within 1 s of its time");
    running.stop().await;

    env.published_once(4).await;
    let beat = scheduler::heartbeat(&env.ctx)
        .await
        .expect("heartbeat recorded");
    assert_eq!(beat.enqueued_total, 4);
}

on_sqlite_and_postgres!(missed_posts_are_caught_up_on_start_and_marked_late);

/// A cancel and a tick race for the same due post, many times: each time exactly one wins. A
/// post whose cancel succeeded has no publish job; a post the tick took cannot be cancelled.
async fn a_cancel_racing_the_tick_has_exactly_one_winner(db: Db) {
    race_the_tick(db, Change::Cancel).await;
}

on_sqlite_and_postgres!(a_cancel_racing_the_tick_has_exactly_one_winner);

/// A reschedule to an hour later races the tick: either the post keeps its old time and is
/// queued once (and the reschedule is refused), or it moves and has no job.
async fn a_reschedule_racing_the_tick_has_exactly_one_winner(db: Db) {
    race_the_tick(db, Change::Reschedule).await;
}

on_sqlite_and_postgres!(a_reschedule_racing_the_tick_has_exactly_one_winner);

/// What races the tick in [`race_the_tick`].
#[derive(Clone, Copy, PartialEq)]
enum Change {
    Cancel,
    /// To a time far ahead.
    Reschedule,
}

/// Races `change` against the tick on 40 fresh due posts: exactly one wins each time, and
/// after a later tick only the posts the tick took have a publish job (one each).
async fn race_the_tick(db: Db, change: Change) {
    let env = Env::new(db).await;
    let user = env.user().await;
    let (mut won, mut queued) = (0, 0);
    let mut posts = Vec::new();
    for _ in 0..40 {
        let p = env.scheduled(user, Utc::now()).await;
        let later =
            schedule_time::parse_schedule("2099-01-01T12:00", Some("Europe/Berlin"), Utc::now())
                .unwrap();
        let store = env.ctx.store.as_ref();
        let attempt = async {
            match change {
                Change::Cancel => {
                    schedule_time::cancel_scheduled(
                        store,
                        jobs::model::Workspace::personal_id(user),
                        p.id,
                    )
                    .await
                }
                Change::Reschedule => {
                    schedule_time::reschedule(
                        store,
                        jobs::model::Workspace::personal_id(user),
                        p.id,
                        &later,
                    )
                    .await
                }
            }
        };
        let (tick, result) = tokio::join!(
            enqueue_due_posts(&env.ctx, &env.settings, Utc::now()),
            attempt,
        );
        tick.unwrap();
        let stored = env.state_of(&p).await;
        let won_state = match change {
            Change::Cancel => PostState::Cancelled,
            Change::Reschedule => PostState::Scheduled,
        };
        if change_won(result, &stored, won_state) {
            if change == Change::Reschedule {
                assert_eq!(stored.scheduled_at, Some(later.utc));
            }
            won += 1;
        } else {
            if change == Change::Reschedule {
                assert_ne!(stored.scheduled_at, Some(later.utc));
            }
            queued += 1;
        }
        posts.push(stored);
    }
    // A later tick must not pick up anything either.
    assert_queued_ones_have_one_job(&env, &posts).await;
    assert_eq!(won + queued, 40);
    let what = match change {
        Change::Cancel => "cancel",
        Change::Reschedule => "reschedule",
    };
    eprintln!("{what} won {won} times, the tick {queued} times");
}

/// Whether a change racing the tick won: it answered the post in state `won` and the post is
/// stored so; otherwise the tick won, the change was refused and the post is queued.
fn change_won(change: Result<Post, ScheduleChangeError>, stored: &Post, won: PostState) -> bool {
    match change {
        Ok(p) => {
            assert_eq!(p.state, won);
            assert_eq!(stored.state, won);
            true
        }
        Err(ScheduleChangeError::NotScheduled { state }) => {
            assert_eq!(state, PostState::Queued);
            assert_eq!(stored.state, PostState::Queued);
            false
        }
        Err(e) => panic!("unexpected error changing the schedule: {e}"),
    }
}

/// After one more tick, each of `posts` that the tick queued has exactly one publish job and
/// the others none.
async fn assert_queued_ones_have_one_job(env: &Env, posts: &[Post]) {
    enqueue_due_posts(&env.ctx, &env.settings, Utc::now())
        .await
        .unwrap();
    let jobs = env.jobs_per_post(publish::NAME).await;
    for p in posts {
        let expected = usize::from(p.state == PostState::Queued);
        assert_eq!(
            jobs.get(&p.id).copied().unwrap_or(0),
            expected,
            "post {} ({})",
            p.id,
            p.state
        );
    }
}

/// Even with no lease at all (four ticks at once, as if four schedulers believed they were
/// active), the compare-and-set lets each post into the queue exactly once.
async fn concurrent_ticks_enqueue_each_post_exactly_once(db: Db) {
    let env = Env::new(db).await;
    let user = env.user().await;
    let now = Utc::now();
    let mut ids = Vec::new();
    for i in 0..200 {
        ids.push(env.scheduled(user, now - secs(i % 7)).await.id);
    }
    let mut settings = env.settings.clone();
    settings.due_batch = 50;
    let tick = || async {
        let mut total = 0;
        loop {
            let r = enqueue_due_posts(&env.ctx, &settings, Utc::now())
                .await
                .unwrap();
            total += r.enqueued.len();
            if r.due == 0 {
                return total;
            }
        }
    };
    let (a, b, c, d) = tokio::join!(tick(), tick(), tick(), tick());
    assert_eq!(
        a + b + c + d,
        200,
        "each post claimed once in all: {a} {b} {c} {d}"
    );
    let jobs = env.published_once(200).await;
    assert!(ids.iter().all(|id| jobs.contains_key(id)));
}

on_sqlite_and_postgres!(concurrent_ticks_enqueue_each_post_exactly_once);

/// A full due batch is drained within the same tick loop (a backlog after downtime does not
/// wait one tick per batch).
#[tokio::test]
async fn a_backlog_larger_than_one_batch_drains_in_one_run() {
    let env = Env::new(Db::Sqlite).await;
    let user = env.user().await;
    let now = Utc::now();
    for i in 0..120 {
        env.scheduled(user, now - secs(600 + i)).await;
    }
    let mut settings = env.settings.clone();
    settings.due_batch = 25;
    let running = env.start_with(settings);
    env.wait_for("120 posts enqueued", || async {
        let n = env.jobs_per_post(publish::NAME).await.len();
        if n == 120 {
            Ok(())
        } else {
            Err(format!("{n} enqueued"))
        }
    })
    .await;
    running.stop().await;
    env.published_once(120).await;
}
