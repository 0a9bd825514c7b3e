//! `mktpost rotate-keys`: re-seals every token and re-wraps every staged video's data key with
//! the current key; `--retire` revokes at TikTok, then deletes, what a leaked key sealed, asking
//! those creators to reconnect. Runs against the TikTok sandbox.

mod support;

use bytes::Bytes;
use chrono::{Duration, Utc};
use futures::TryStreamExt;
use jobs::context::JobContext;
use jobs::model::{AccountStatus, Media};
use jobs::ops::rotate_keys::{RotationError, RotationOptions, rotate_keys};
use jobs::staging::UploadLimits;
use jobs::vault::key_id_of;
use sandbox::{DEMO_PRIVATE_OPEN_ID, DEMO_PUBLIC_OPEN_ID, FaultAction, FaultSpec};
use support::{Harness, entry};

fn options(batch: u32, retire: Option<&str>) -> RotationOptions {
    RotationOptions {
        batch,
        retire: retire.map(str::to_owned),
        lock_wait: std::time::Duration::from_millis(300),
    }
}

/// An MP4-looking file (a real `ftyp` box) spanning several segments.
fn fake_mp4(len: usize, seed: u8) -> Vec<u8> {
    let mut v = b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2".to_vec();
    v.extend((0..len - 24).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    v
}

async fn stage(ctx: &JobContext, h: &Harness, bytes: &[u8]) -> Media {
    let body = futures::stream::iter(
        bytes
            .chunks(5_000)
            .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    ctx.staging
        .stage(
            jobs::model::Actor::personal(h.user),
            body,
            UploadLimits::new(u64::MAX),
            None,
        )
        .await
        .unwrap()
}

async fn read_all(ctx: &JobContext, media: &Media) -> Vec<u8> {
    let parts: Vec<Bytes> = ctx
        .staging
        .open_range(media, 0, media.size - 1)
        .try_collect()
        .await
        .unwrap();
    parts.concat()
}

#[tokio::test]
async fn rotation_reseals_every_token_and_rewraps_every_staged_video_in_batches_idempotently() {
    let v1 = entry("v1");
    let h = Harness::start(&v1).await;
    let old = h.ctx.vault.clone();
    let mut ids = Vec::new();
    for i in 0..7 {
        let a = h
            .connect(
                &old,
                &format!("open-{i}"),
                &format!("act.{i}"),
                &format!("rft.{i}"),
                Utc::now() + Duration::hours(24),
            )
            .await;
        ids.push(a.id);
    }
    let videos: Vec<Vec<u8>> = (0..3)
        .map(|i| fake_mp4(20_000 + i * 3_001, i as u8))
        .collect();
    let mut staged = Vec::new();
    for v in &videos {
        staged.push(stage(&h.ctx, &h, v).await);
    }
    let v2 = entry("v2");
    let new = h.with_ring(&format!("{v2},{v1}"));

    let report = rotate_keys(&new, &options(3, None)).await.unwrap();
    assert_eq!(
        (
            report.scanned,
            report.resealed,
            report.current,
            report.failed
        ),
        (7, 7, 0, 0),
        "{report}"
    );
    assert_eq!(
        (
            report.media_scanned,
            report.media_rewrapped,
            report.media_failed
        ),
        (3, 3, 0),
        "{report}"
    );
    assert!(!report.needs_rerun());
    // v1 is gone from the ring: everything must open with v2 alone.
    let only_new = h.with_ring(&v2);
    for (i, id) in ids.iter().enumerate() {
        let a = h.ctx.store.account(h.ws(), *id).await.unwrap();
        let t = a.tokens.unwrap();
        assert_eq!(key_id_of(&t.access_token), Some("v2"));
        assert_eq!(key_id_of(&t.refresh_token), Some("v2"));
        assert_eq!(
            h.tokens(&only_new.vault, *id).await.unwrap(),
            (format!("act.{i}"), format!("rft.{i}"))
        );
    }
    for (media, bytes) in staged.iter().zip(&videos) {
        let m = h.ctx.store.media(h.ws(), media.id).await.unwrap();
        assert_eq!(key_id_of(&m.wrapped_key), Some("v2"));
        assert_eq!(
            (m.size, &m.object_key, m.segment_size),
            (media.size, &media.object_key, media.segment_size),
            "only the wrapped key changes"
        );
        assert_eq!(
            &read_all(&only_new, &m).await,
            bytes,
            "byte-exact with only the new key"
        );
    }
    // A second run (or a re-run after an interruption) finds nothing left to do.
    let again = rotate_keys(&new, &options(3, None)).await.unwrap();
    assert_eq!(
        (
            again.resealed,
            again.current,
            again.media_rewrapped,
            again.media_current
        ),
        (0, 7, 0, 3)
    );
}

#[tokio::test]
async fn retiring_a_leaked_key_revokes_at_tiktok_then_deletes_and_asks_for_a_reconnect() {
    let v1 = entry("v1");
    let h = Harness::start(&v1).await;
    let leaked = h.ctx.vault.clone();
    let (access, refresh) = h.issue(DEMO_PUBLIC_OPEN_ID);
    let exposed = h
        .connect(
            &leaked,
            DEMO_PUBLIC_OPEN_ID,
            &access,
            &refresh,
            Utc::now() + Duration::hours(24),
        )
        .await;
    let video = fake_mp4(15_000, 9);
    let media = stage(&h.ctx, &h, &video).await;
    let v2 = entry("v2");
    let current = h.with_ring(&format!("{v2},{v1}"));
    // Another account already re-sealed with v2 (a refresh happened meanwhile): kept as is.
    let (kept_access, kept_refresh) = h.issue(DEMO_PRIVATE_OPEN_ID);
    let kept = h
        .connect(
            &current.vault,
            DEMO_PRIVATE_OPEN_ID,
            &kept_access,
            &kept_refresh,
            Utc::now() + Duration::hours(24),
        )
        .await;

    assert!(matches!(
        rotate_keys(&current, &options(10, Some("v2"))).await,
        Err(RotationError::RetiringCurrentKey(_))
    ));
    assert!(matches!(
        rotate_keys(&current, &options(10, Some("v9"))).await,
        Err(RotationError::UnknownKey(_))
    ));
    let report = rotate_keys(&current, &options(10, Some("v1")))
        .await
        .unwrap();
    assert_eq!(
        (
            report.retired,
            report.current,
            report.revoke_failed,
            report.media_rewrapped
        ),
        (1, 1, 0, 1),
        "{report}"
    );

    let records = h.sandbox.records();
    assert!(
        records.revoked_tokens.contains(&access),
        "the leaked grant was revoked at TikTok"
    );
    assert!(
        !records.revoked_tokens.contains(&kept_access),
        "the other creator's grant was left alone"
    );
    let retired = h.ctx.store.account(h.ws(), exposed.id).await.unwrap();
    assert_eq!(retired.status, AccountStatus::NeedsReconnect);
    assert!(
        retired.tokens.is_none(),
        "nothing a leaked key can open is kept"
    );
    assert!(
        retired
            .status_reason
            .as_deref()
            .unwrap()
            .contains("reconnect")
    );
    let kept = h.ctx.store.account(h.ws(), kept.id).await.unwrap();
    assert_eq!(kept.status, AccountStatus::Active);
    assert_eq!(
        h.tokens(&current.vault, kept.id).await.unwrap(),
        (kept_access, kept_refresh)
    );
    // The staged video survives the retirement and reads with the new key alone.
    let m = h.ctx.store.media(h.ws(), media.id).await.unwrap();
    assert_eq!(key_id_of(&m.wrapped_key), Some("v2"));
    assert_eq!(read_all(&h.with_ring(&v2), &m).await, video);
}

#[tokio::test]
async fn retiring_revokes_with_the_refresh_token_when_tiktok_no_longer_knows_the_access_token() {
    let v1 = entry("v1");
    let h = Harness::start(&v1).await;
    let leaked = h.ctx.vault.clone();
    // The stored access token is long gone at TikTok; the refresh token still lives.
    let (_, refresh) = h.issue(DEMO_PUBLIC_OPEN_ID);
    let live = h
        .connect(
            &leaked,
            DEMO_PUBLIC_OPEN_ID,
            "act.expired-long-ago",
            &refresh,
            Utc::now() - Duration::hours(1),
        )
        .await;
    // This one is dead at TikTok altogether: nothing left to revoke, so it is deleted too.
    let dead = h
        .connect(
            &leaked,
            DEMO_PRIVATE_OPEN_ID,
            "act.unknown",
            "rft.unknown",
            Utc::now() - Duration::hours(1),
        )
        .await;
    // One being disconnected stays so: its job deletes it (and it stays out of the lists).
    let leaving = h
        .connect(
            &leaked,
            "open-leaving",
            "act.leaving",
            "rft.leaving",
            Utc::now() + Duration::hours(1),
        )
        .await;
    h.ctx
        .store
        .set_account_status(
            h.ws(),
            leaving.id,
            leaving.version,
            AccountStatus::Disconnecting,
            None,
            false,
        )
        .await
        .unwrap();
    let current = h.with_ring(&format!("{},{v1}", entry("v2")));
    let report = rotate_keys(&current, &options(10, Some("v1")))
        .await
        .unwrap();
    assert_eq!((report.retired, report.revoke_failed), (3, 0), "{report}");
    let leaving = h.ctx.store.account(h.ws(), leaving.id).await.unwrap();
    assert_eq!(
        (leaving.status, leaving.tokens.is_none()),
        (AccountStatus::Disconnecting, true)
    );
    let records = h.sandbox.records();
    assert!(
        records
            .token_events
            .iter()
            .any(|e| e.open_id == DEMO_PUBLIC_OPEN_ID && e.event == "revoked"),
        "the grant behind the leaked refresh token was revoked: {:?}",
        records.token_events
    );
    for id in [live.id, dead.id] {
        let a = h.ctx.store.account(h.ws(), id).await.unwrap();
        assert_eq!(
            (a.status, a.tokens.is_none()),
            (AccountStatus::NeedsReconnect, true)
        );
    }
}

#[tokio::test]
async fn a_tiktok_failure_while_retiring_keeps_the_tokens_for_a_rerun() {
    let v1 = entry("v1");
    let h = Harness::start(&v1).await;
    let (access, refresh) = h.issue(DEMO_PUBLIC_OPEN_ID);
    let a = h
        .connect(
            &h.ctx.vault,
            DEMO_PUBLIC_OPEN_ID,
            &access,
            &refresh,
            Utc::now() + Duration::hours(24),
        )
        .await;
    let current = h.with_ring(&format!("{},{v1}", entry("v2")));
    let mut down = FaultSpec::new("oauth.revoke", 1, FaultAction::Status { status: 503 });
    down.times = 100;
    h.sandbox.inject_fault(down);

    let report = rotate_keys(&current, &options(10, Some("v1")))
        .await
        .unwrap();
    assert_eq!((report.retired, report.revoke_failed), (0, 1), "{report}");
    assert!(report.needs_rerun());
    let after = h.ctx.store.account(h.ws(), a.id).await.unwrap();
    assert_eq!(after.status, AccountStatus::Active);
    assert_eq!(
        h.tokens(&current.vault, a.id).await.unwrap(),
        (access.clone(), refresh),
        "a token TikTok did not revoke is never deleted"
    );

    h.sandbox.clear_faults();
    let rerun = rotate_keys(&current, &options(10, Some("v1")))
        .await
        .unwrap();
    assert_eq!((rerun.retired, rerun.revoke_failed), (1, 0), "{rerun}");
    assert!(h.sandbox.records().revoked_tokens.contains(&access));
    assert!(
        h.ctx
            .store
            .account(h.ws(), a.id)
            .await
            .unwrap()
            .tokens
            .is_none()
    );
}

#[tokio::test]
async fn rotation_waits_for_a_refresh_in_progress_and_never_overwrites_its_grant() {
    let v1 = entry("v1");
    let h = Harness::start(&v1).await;
    let a = h
        .connect(
            &h.ctx.vault,
            "open-refreshing",
            "act.old",
            "rft.old",
            Utc::now() + Duration::hours(24),
        )
        .await;
    let current = h.with_ring(&format!("{},{v1}", entry("v2")));
    // A refresh holds the account's token lock; it read the account before rotation started.
    let lock = format!("refresh:{}", a.id);
    let guard = h
        .ctx
        .locks
        .try_acquire(&lock, std::time::Duration::from_secs(30))
        .await
        .unwrap()
        .expect("lock free");

    // A lock that stays busy: the account is skipped and reported, its tokens untouched.
    let report = rotate_keys(&current, &options(10, None)).await.unwrap();
    assert_eq!((report.busy, report.resealed), (1, 0), "{report}");
    assert!(report.needs_rerun());
    let unchanged = h.ctx.store.account(h.ws(), a.id).await.unwrap();
    assert_eq!(
        unchanged.version, a.version,
        "nothing written under the lock"
    );

    // A lock released in time: rotation waits for it, then sees the refresh's grant.
    let waiting = {
        let current = current.clone();
        tokio::spawn(async move {
            let options = RotationOptions {
                lock_wait: std::time::Duration::from_secs(10),
                ..options(10, None)
            };
            rotate_keys(&current, &options).await.unwrap()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // The refresh stores its new grant against the version it read: it must not lose.
    let grant = support::seal(
        &current.vault,
        a.id,
        "act.new",
        "rft.new",
        Utc::now() + Duration::hours(24),
    );
    h.ctx
        .store
        .store_tokens(h.ws(), a.id, a.version, &grant)
        .await
        .expect("the refresh's write wins: rotation did not touch the row under its lock");
    h.ctx.locks.release(guard).await;
    let report = waiting.await.unwrap();
    assert_eq!(
        (report.busy, report.current, report.resealed),
        (0, 1, 0),
        "{report}"
    );
    assert_eq!(
        h.tokens(&current.vault, a.id).await.unwrap(),
        ("act.new".to_owned(), "rft.new".to_owned())
    );
}
