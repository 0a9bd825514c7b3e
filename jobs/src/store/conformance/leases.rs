//! Leases: exclusive until expiry, with growing fencing tokens.

use super::fixtures::*;
use crate::store::DynStore;
use chrono::Duration;
use std::time::Duration as Ttl;

/// A lease is held by one holder until it expires or is released; every acquisition of a name
/// gets a larger fencing token; renewing needs the lease still held.
pub async fn leases_are_exclusive_until_they_expire_with_growing_fencing_tokens(store: DynStore) {
    let name = unique("lease");
    let ttl = Ttl::from_secs(30);
    let t = now();
    let at = |secs: i64| t + Duration::seconds(secs);

    let acquire = |holder: &'static str, secs: i64| {
        let (store, name, when) = (store.clone(), name.clone(), at(secs));
        async move {
            store
                .acquire_lease(&name, holder, ttl, when)
                .await
                .expect("acquire")
        }
    };
    let renew = |holder: &'static str, secs: i64| {
        let (store, name, when) = (store.clone(), name.clone(), at(secs));
        async move {
            store
                .renew_lease(&name, holder, ttl, when)
                .await
                .expect("renew")
        }
    };

    let first = acquire("a", 0).await.expect("a free lease is taken");
    assert_eq!(acquire("b", 10).await, None, "a held lease is refused");
    assert!(renew("a", 20).await);
    assert_eq!(
        acquire("b", 40).await,
        None,
        "renewing extended the lease to 50 s"
    );
    assert!(!renew("b", 40).await, "only the holder renews");

    let second = acquire("b", 60).await.expect("an expired lease is taken");
    assert!(second > first, "fencing tokens grow: {first} then {second}");
    assert!(!renew("a", 61).await, "a lease taken over is lost");

    store
        .release_lease(&name, "a")
        .await
        .expect("release by a non-holder");
    assert_eq!(
        acquire("c", 62).await,
        None,
        "releasing someone else's lease does nothing"
    );
    store.release_lease(&name, "b").await.expect("release");
    let third = acquire("c", 62).await.expect("a released lease is free");
    assert!(
        third > second,
        "fencing tokens survive a release: {second} then {third}"
    );

    assert!(
        store
            .acquire_lease(&unique("lease"), "a", ttl, at(62))
            .await
            .expect("acquire")
            .is_some(),
        "names are independent"
    );

    let raced = unique("lease");
    let results = race(16, |i| {
        let store = store.clone();
        let raced = raced.clone();
        async move {
            store
                .acquire_lease(&raced, &format!("holder-{i}"), ttl, t)
                .await
        }
    })
    .await;
    let holders = count_some(results, "acquire");
    assert_eq!(holders, 1, "exactly one racing acquirer holds the lease");
}
