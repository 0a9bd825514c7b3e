//! Schedules entered in local time go out at the right instant across DST transitions: the
//! parser's UTC instant is what the tick compares against (the clock is injected).

use crate::support::{Db, Env, on_sqlite_and_postgres};
use chrono::{DateTime, Utc};
use jobs::domain::schedule_time::{self, Schedule};
use jobs::model::{Post, PostState};
use scheduler::enqueue_due_posts;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Long before every date below, so no schedule counts as "in the past".
fn early() -> DateTime<Utc> {
    utc("2026-01-01T00:00:00Z")
}

async fn create(env: &Env, s: &Schedule) -> Post {
    let user = env.user().await;
    let mut p = crate::support::post(user, PostState::Scheduled, Some(s.utc), Utc::now());
    p.scheduled_tz = s.tz.clone();
    env.ctx.store.create_post(&p).await.unwrap().value
}

/// Ticks at `at` and returns the posts (of `posts`) that are queued afterwards.
async fn queued_after_tick(env: &Env, posts: &[&Post], at: &str) -> Vec<bool> {
    enqueue_due_posts(&env.ctx, &env.settings, utc(at))
        .await
        .unwrap();
    let mut out = Vec::new();
    for p in posts {
        out.push(env.state_of(p).await.state == PostState::Queued);
    }
    out
}

/// Ticks at each instant in turn, asserting which of `posts` are queued after each.
async fn assert_ticks(env: &Env, posts: &[&Post], ticks: &[(&str, &[bool])]) {
    for (at, queued) in ticks {
        assert_eq!(
            queued_after_tick(env, posts, at).await,
            *queued,
            "tick at {at}"
        );
    }
}

async fn local_times_fire_at_their_instant_across_dst(db: Db) {
    let env = Env::new(db).await;
    let parse = |at: &str, tz: &str| schedule_time::parse_schedule(at, Some(tz), early()).unwrap();

    // Berlin springs forward on 2026-03-29 at 02:00 → 03:00: 03:30 local is 01:30Z.
    let berlin_spring = create(&env, &parse("2026-03-29T03:30", "Europe/Berlin")).await;
    // Berlin falls back on 2026-10-25 at 03:00 → 02:00: 02:30 happens twice; both explicit.
    let berlin_summer = create(&env, &parse("2026-10-25T02:30:00+02:00", "Europe/Berlin")).await;
    let berlin_winter = create(&env, &parse("2026-10-25T02:30:00+01:00", "Europe/Berlin")).await;
    // New York springs forward on 2026-03-08 at 02:00 → 03:00: 03:15 local is 07:15Z.
    let ny_spring = create(&env, &parse("2026-03-08T03:15", "America/New_York")).await;
    // New York falls back on 2026-11-01 at 02:00 → 01:00.
    let ny_edt = create(&env, &parse("2026-11-01T01:30-04:00", "America/New_York")).await;
    let ny_est = create(&env, &parse("2026-11-01T01:30-05:00", "America/New_York")).await;

    // The springs forward, in date order.
    assert_ticks(
        &env,
        &[&ny_spring, &berlin_spring],
        &[
            ("2026-03-08T07:14:59Z", &[false, false]),
            ("2026-03-08T07:15:00Z", &[true, false]),
            ("2026-03-29T01:29:59Z", &[true, false]),
            ("2026-03-29T01:30:00Z", &[true, true]),
        ],
    )
    .await;
    // The folds: each zone's first 01:30/02:30 fires an hour before its second.
    assert_ticks(
        &env,
        &[&berlin_summer, &berlin_winter, &ny_edt, &ny_est],
        &[
            ("2026-10-25T00:29:59Z", &[false, false, false, false]),
            ("2026-10-25T00:30:00Z", &[true, false, false, false]),
            ("2026-10-25T01:29:59Z", &[true, false, false, false]),
            ("2026-10-25T01:30:00Z", &[true, true, false, false]),
            ("2026-11-01T05:30:00Z", &[true, true, true, false]),
            ("2026-11-01T06:29:59Z", &[true, true, true, false]),
            ("2026-11-01T06:30:00Z", &[true, true, true, true]),
        ],
    )
    .await;

    // The zone is kept for display, and shows the time the way it was entered.
    let stored = env.state_of(&berlin_winter).await;
    assert_eq!(stored.scheduled_tz.as_deref(), Some("Europe/Berlin"));
    assert_eq!(
        schedule_time::local_time(stored.scheduled_at.unwrap(), stored.scheduled_tz.as_deref()),
        "2026-10-25T02:30:00+01:00"
    );
}

on_sqlite_and_postgres!(local_times_fire_at_their_instant_across_dst);

#[tokio::test]
async fn the_gap_and_the_fold_are_refused_in_both_zones() {
    let cases = [
        (
            "2026-03-29T02:30",
            "Europe/Berlin",
            "nonexistent_local_time",
        ),
        ("2026-10-25T02:30", "Europe/Berlin", "ambiguous_local_time"),
        (
            "2026-03-08T02:30",
            "America/New_York",
            "nonexistent_local_time",
        ),
        (
            "2026-11-01T01:30",
            "America/New_York",
            "ambiguous_local_time",
        ),
    ];
    for (at, tz, code) in cases {
        let e = schedule_time::parse_schedule(at, Some(tz), early()).unwrap_err();
        assert_eq!(e.code(), code, "{at} {tz}: {e}");
    }
}

/// A reschedule moves the instant the tick sees: the post goes out at the new time only.
#[tokio::test]
async fn a_rescheduled_post_fires_at_its_new_time_only() {
    let env = Env::new(Db::Sqlite).await;
    let first =
        schedule_time::parse_schedule("2026-07-01T09:00", Some("Europe/Berlin"), early()).unwrap();
    let post = create(&env, &first).await;
    let moved =
        schedule_time::parse_schedule("2026-07-01T09:00", Some("America/New_York"), early())
            .unwrap();
    let saved =
        schedule_time::reschedule(env.ctx.store.as_ref(), post.workspace_id, post.id, &moved)
            .await
            .unwrap();
    assert_eq!(saved.scheduled_at, Some(utc("2026-07-01T13:00:00Z")));
    assert_eq!(saved.scheduled_tz.as_deref(), Some("America/New_York"));

    assert_eq!(
        queued_after_tick(&env, &[&post], "2026-07-01T07:00:00Z").await,
        [false]
    );
    assert_eq!(
        queued_after_tick(&env, &[&post], "2026-07-01T12:59:59Z").await,
        [false]
    );
    assert_eq!(
        queued_after_tick(&env, &[&post], "2026-07-01T13:00:00Z").await,
        [true]
    );
    let e = schedule_time::reschedule(env.ctx.store.as_ref(), post.workspace_id, post.id, &first)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "post_not_scheduled");
}
