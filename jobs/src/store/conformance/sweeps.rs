//! The listings of posts: a user's history pages and the cross-user sweeps (due posts, stuck
//! posts).

use super::fixtures::*;
use crate::model::{AccountId, PostId, PostState};
use crate::store::{DynStore, StuckAfter};
use chrono::Duration;

/// History pages come newest first; a cursor keeps its place while new posts arrive, so
/// pages neither repeat nor skip a post.
pub async fn post_history_pages_newest_first_with_a_stable_cursor(store: DynStore) {
    let s = store.as_ref();
    let user = new_user(s).await;
    let other = new_user(s).await;
    let mut oldest_first = Vec::new();
    for _ in 0..25 {
        oldest_first.push(new_post(s, user.id, PostState::Published).await.id);
        new_post(s, other.id, PostState::Published).await;
    }
    let newest_first: Vec<PostId> = oldest_first.iter().rev().copied().collect();

    let p1 = store
        .list_posts(ws_of(user.id), None, 10)
        .await
        .expect("page 1");
    assert_eq!(ids(&p1.items), newest_first[..10]);
    let c1 = p1.next_cursor.expect("a second page");

    let mut newer = Vec::new();
    for _ in 0..3 {
        newer.push(new_post(s, user.id, PostState::Queued).await.id);
    }

    let p2 = store
        .list_posts(ws_of(user.id), Some(&c1), 10)
        .await
        .expect("page 2");
    assert_eq!(
        ids(&p2.items),
        newest_first[10..20],
        "posts created meanwhile do not shift the pages"
    );
    let c2 = p2.next_cursor.expect("a third page");
    let p3 = store
        .list_posts(ws_of(user.id), Some(&c2), 10)
        .await
        .expect("page 3");
    assert_eq!(ids(&p3.items), newest_first[20..]);
    assert_eq!(p3.next_cursor, None, "the last page says so");

    let exact = store
        .list_posts(ws_of(user.id), Some(&c2), 5)
        .await
        .expect("a page that ends exactly at the oldest post");
    assert_eq!(ids(&exact.items), newest_first[20..]);
    assert_eq!(exact.next_cursor, None);

    let fresh = store
        .list_posts(ws_of(user.id), None, 3)
        .await
        .expect("fresh page");
    newer.reverse();
    assert_eq!(
        ids(&fresh.items),
        newer,
        "new posts lead a fresh first page"
    );

    assert_not_found!(
        store
            .list_posts(ws_of(user.id), Some("not-a-cursor"), 10)
            .await,
        "a cursor the store never issued"
    );
}

/// The scheduler's tick: scheduled posts with `scheduled_at <= now`, every user, earliest
/// first, up to the limit; nothing in another state. Era: 1991.
pub async fn due_posts_are_scheduled_posts_whose_time_has_come_earliest_first(store: DynStore) {
    let base = era(1991);
    let s = store.as_ref();
    let a = new_user(s).await;
    let b = new_user(s).await;
    let three_ago = scheduled_post(s, a.id, base - Duration::minutes(3)).await;
    let one_ago = scheduled_post(s, b.id, base - Duration::minutes(1)).await;
    let two_ago = scheduled_post(s, a.id, base - Duration::minutes(2)).await;
    let exactly_now = scheduled_post(s, b.id, base).await;
    let _future = scheduled_post(s, a.id, base + Duration::minutes(1)).await;
    let mut queued = post_for(a.id, AccountId::new(), PostState::Queued);
    queued.scheduled_at = Some(base - Duration::minutes(5));
    create(s, &queued).await;
    let mut draft = post_for(b.id, AccountId::new(), PostState::Draft);
    draft.scheduled_at = Some(base - Duration::minutes(4));
    create(s, &draft).await;

    assert_eq!(
        store.due_posts(base, 10).await.expect("due"),
        vec![
            due(&three_ago),
            due(&two_ago),
            due(&one_ago),
            due(&exactly_now)
        ]
    );
    assert_eq!(
        store.due_posts(base, 2).await.expect("due, limit 2"),
        vec![due(&three_ago), due(&two_ago)]
    );

    let mut taken = three_ago.clone();
    taken.state = PostState::Queued;
    store
        .save_post(&taken, PostState::Scheduled)
        .await
        .expect("enqueue");
    assert_eq!(
        store.due_posts(base, 10).await.expect("due after enqueue"),
        vec![due(&two_ago), due(&one_ago), due(&exactly_now)],
        "a post that left `scheduled` is no longer due"
    );
}

/// Reconciliation sees posts in one state not updated since an instant, oldest update first,
/// across users, up to the limit. Era: 1992.
pub async fn posts_stuck_in_a_state_are_found_by_their_last_update(store: DynStore) {
    let base = era(1992);
    let s = store.as_ref();
    let a = new_user(s).await;
    let b = new_user(s).await;
    let two_h = post_updated_at(s, a.id, PostState::Uploading, base - Duration::hours(2)).await;
    let three_h = post_updated_at(s, b.id, PostState::Uploading, base - Duration::hours(3)).await;
    let _fresh = post_updated_at(s, a.id, PostState::Uploading, base).await;
    let processing =
        post_updated_at(s, b.id, PostState::Processing, base - Duration::hours(5)).await;
    // A pass-through post whose bytes never came (its settling job was never queued).
    let draft = post_updated_at(s, a.id, PostState::Draft, base - Duration::hours(2)).await;
    let _fresh_draft = post_updated_at(s, b.id, PostState::Draft, base).await;

    let cutoff = base - Duration::hours(1);
    assert_eq!(
        store
            .posts_stuck_in(PostState::Uploading, cutoff, None, 10)
            .await
            .expect("stuck"),
        vec![three_h.clone(), two_h]
    );
    assert_eq!(
        store
            .posts_stuck_in(PostState::Uploading, cutoff, None, 1)
            .await
            .expect("stuck, limit 1"),
        vec![three_h]
    );
    assert_eq!(
        store
            .posts_stuck_in(PostState::Processing, cutoff, None, 10)
            .await
            .expect("stuck processing"),
        vec![processing]
    );
    assert_eq!(
        store
            .posts_stuck_in(PostState::Draft, cutoff, None, 10)
            .await
            .expect("stuck drafts"),
        vec![draft]
    );
}

/// A sweep pages past the stuck posts it skips: more than a page of posts, some sharing one
/// `updated_at` across the page boundary, come back exactly once each, in (updated_at, id)
/// order, and nothing after the last page. Era: 1990, in `queued` (the query has no lower
/// bound, so it stays clear of the other cases' older `uploading` rows).
pub async fn stuck_posts_page_past_full_pages_with_a_cursor(store: DynStore) {
    let base = era(1990);
    let s = store.as_ref();
    let user = new_user(s).await;
    let mut expected = Vec::new();
    // Seven posts: four share one instant (a tie straddling the first page boundary, pages
    // of three), then three each a minute apart.
    for i in 0..7i64 {
        let at = base - Duration::hours(2) + Duration::minutes((i - 3).max(0));
        expected.push(post_updated_at(s, user.id, PostState::Queued, at).await);
    }
    let _fresh = post_updated_at(s, user.id, PostState::Queued, base).await;
    expected.sort_by_key(|p| (p.updated_at, p.id.0));
    let cutoff = base - Duration::hours(1);

    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = s
            .posts_stuck_in(PostState::Queued, cutoff, after, 3)
            .await
            .expect("page");
        pages += 1;
        assert!(pages <= 4, "paging must end");
        let Some(last) = page.last() else { break };
        after = Some(StuckAfter::of(last));
        let full = page.len() == 3;
        seen.extend(page);
        if !full {
            break;
        }
    }
    assert_eq!(
        seen, expected,
        "every stuck post once, in (updated_at, id) order"
    );
    assert_eq!(
        s.posts_stuck_in(
            PostState::Queued,
            cutoff,
            Some(StuckAfter::of(expected.last().expect("posts"))),
            3
        )
        .await
        .expect("after the last"),
        vec![],
        "nothing after the last stuck post (the fresh one is not stuck)"
    );
}
