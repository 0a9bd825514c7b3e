//! `mktpost rotate-keys`: re-seals every token with the current key, and `--retire` deletes what
//! a leaked key sealed, asking those creators to reconnect.

use chrono::{Duration, Utc};
use jobs::model::{AccountConnect, AccountId, AccountStatus, EncryptedTokens, GoogleProfile};
use jobs::rotate_keys::{RotationError, rotate_keys};
use jobs::store::DynStore;
use jobs::vault::{KeyRing, Vault, key_id_of};

async fn store() -> (tempfile::TempDir, DynStore) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/db.sqlite", dir.path().display());
    (dir, jobs::store::connect(&url).await.unwrap())
}

/// Connects `n` accounts for one user, their tokens sealed by `vault`.
async fn seed(store: &DynStore, vault: &Vault, n: usize) -> Vec<AccountId> {
    let user = store
        .upsert_user(&GoogleProfile {
            google_uid: "u".into(),
            email: "u@example.com".into(),
            name: "U".into(),
            picture: None,
        })
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        let id = AccountId::new();
        let record = format!("account:{id}");
        let connect = AccountConnect {
            id,
            open_id: format!("open-{i}"),
            union_id: None,
            display_name: format!("c{i}"),
            username: None,
            avatar_url: None,
            scopes: vec!["video.publish".into()],
            tokens: EncryptedTokens {
                access_token: vault.seal_token(&format!("act.{i}"), record.as_bytes()),
                refresh_token: vault.seal_token(&format!("rft.{i}"), record.as_bytes()),
                access_expires_at: Utc::now() + Duration::hours(24),
                refresh_expires_at: Utc::now() + Duration::days(365),
            },
        };
        ids.push(store.connect_account(user.id, &connect).await.unwrap().id);
    }
    ids
}

#[tokio::test]
async fn rotation_reseals_every_token_with_the_current_key_in_batches_and_is_idempotent() {
    let (_dir, store) = store().await;
    let v1 = KeyRing::generate_entry("v1");
    let old = Vault::new(KeyRing::parse(&v1).unwrap());
    let ids = seed(&store, &old, 7).await;
    let new =
        Vault::new(KeyRing::parse(&format!("{},{v1}", KeyRing::generate_entry("v2"))).unwrap());

    let report = rotate_keys(store.as_ref(), &new, 3, None).await.unwrap();
    assert_eq!(
        (
            report.scanned,
            report.resealed,
            report.current,
            report.failed
        ),
        (7, 7, 0, 0)
    );
    for a in store.accounts_after(None, 100).await.unwrap() {
        let t = a.tokens.unwrap();
        assert_eq!(key_id_of(&t.access_token), Some("v2"));
        assert_eq!(key_id_of(&t.refresh_token), Some("v2"));
        let record = format!("account:{}", a.id);
        assert!(
            new.open_token(&t.access_token, record.as_bytes())
                .unwrap()
                .expose()
                .starts_with("act.")
        );
    }
    // A second run (or a re-run after an interruption) finds nothing left to do.
    let again = rotate_keys(store.as_ref(), &new, 3, None).await.unwrap();
    assert_eq!((again.resealed, again.current), (0, 7));
    assert_eq!(ids.len(), 7);
}

#[tokio::test]
async fn retiring_a_leaked_key_deletes_what_it_sealed_and_asks_for_a_reconnect() {
    let (_dir, store) = store().await;
    let v1 = KeyRing::generate_entry("v1");
    let leaked = Vault::new(KeyRing::parse(&v1).unwrap());
    seed(&store, &leaked, 2).await;
    let ring = format!("{},{v1}", KeyRing::generate_entry("v2"));
    let current = Vault::new(KeyRing::parse(&ring).unwrap());
    // One account already re-sealed with v2 (e.g. a refresh happened meanwhile).
    let mut accounts = store.accounts_after(None, 10).await.unwrap();
    let fresh = accounts.remove(0);
    let record = format!("account:{}", fresh.id);
    let mut t = fresh.tokens.clone().unwrap();
    t.access_token = current.reseal(&t.access_token, record.as_bytes()).unwrap();
    t.refresh_token = current.reseal(&t.refresh_token, record.as_bytes()).unwrap();
    store
        .store_tokens(fresh.user_id, fresh.id, fresh.version, &t)
        .await
        .unwrap();

    assert!(matches!(
        rotate_keys(store.as_ref(), &current, 10, Some("v2")).await,
        Err(RotationError::RetiringCurrentKey(_))
    ));
    assert!(matches!(
        rotate_keys(store.as_ref(), &current, 10, Some("v9")).await,
        Err(RotationError::UnknownKey(_))
    ));
    let report = rotate_keys(store.as_ref(), &current, 10, Some("v1"))
        .await
        .unwrap();
    assert_eq!((report.retired, report.current), (1, 1));
    let after = store.accounts_after(None, 10).await.unwrap();
    let retired = after.iter().find(|a| a.id != fresh.id).unwrap();
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
    let kept = after.iter().find(|a| a.id == fresh.id).unwrap();
    assert_eq!(kept.status, AccountStatus::Active);
    assert!(kept.tokens.is_some());
}
