//! The store conformance suite on Google's Firestore emulator, the Firestore-specific
//! concurrency cases, the check of `firestore.indexes.json` against the backend's queries, and
//! the production authentication path against local fakes.
//!
//! The emulator: one per test binary, shared, and a project id per test; see
//! [`jobs::store::firestore::emulator`] for how it is started and stopped. Without Java or the
//! jar the emulator tests print `SKIPPED` and pass, unless `MKTPOST_REQUIRE_FIRESTORE=1` (CI and
//! `scripts/test.sh`): then they fail, so a green run never claims Firestore coverage it did
//! not have.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{SubsecRound, Utc};
use jobs::model::{AccountId, PostState};
use jobs::store::firestore::emulator::{self, fresh_project, watchdog};
use jobs::store::firestore::{
    DEFAULT_DATABASE, Direction, FirestoreStore, QuerySpec, composite_queries, queries,
};
use jobs::store::{self, Store, conformance};
use serde_json::{Value, json};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A store on a project of its own, or `None` when the emulator is skipped.
async fn fresh() -> Option<FirestoreStore> {
    let emulator = emulator::shared()?;
    let store = FirestoreStore::connect(&fresh_project(), DEFAULT_DATABASE, Some(emulator.host()))
        .await
        .expect("open the firestore store on the emulator");
    Some(store)
}

macro_rules! firestore_cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(store) = fresh().await else { return };
                conformance::$case(Arc::new(store)).await;
            }
        )*
    };
}

jobs::store_conformance_cases!(firestore_cases);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_suite_runs_on_one_shared_store() {
    let Some(store) = fresh().await else { return };
    conformance::run_all(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_connect_opens_a_firestore_url() {
    let Some(emulator) = emulator::shared() else {
        return;
    };
    let url = format!(
        "firestore://{}/{DEFAULT_DATABASE}?emulator_host={}",
        fresh_project(),
        emulator.host()
    );
    let s = store::connect(&url).await.expect("connect");
    s.ping().await.expect("ping");
    conformance::users_are_upserted_by_google_uid(s).await;
}

/// Documents written before workspaces (only `user_id`) are not found by workspace until
/// `mktpost migrate` backfills them; then they are their user's personal workspace's, made by
/// that user, and a second run patches nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workspace_backfill_moves_earlier_documents_into_personal_workspaces() {
    let Some(store) = fresh().await else { return };
    let mut users = Vec::new();
    for n in 0..2 {
        let profile = jobs::model::GoogleProfile {
            google_uid: format!("google-backfill-{n}-{}", Uuid::new_v4()),
            email: "earlier@example.test".into(),
            name: "Earlier".into(),
            picture: None,
        };
        users.push(store.upsert_user(&profile).await.expect("user").id);
    }
    conformance::rows_of_each_kind(&store, &users).await;
    store
        .forget_workspaces_for_tests()
        .await
        .expect("earlier shape");
    let ws = conformance::ws_of(users[0]);
    assert!(store.list_accounts(ws).await.expect("list").is_empty());
    let patched = store.backfill_workspaces().await.expect("backfill");
    // Per user: account, post, media, key, audit event and three markers.
    assert_eq!(patched, users.len() * 8);
    conformance::earlier_rows_belong_to_personal_workspaces(&store, &users).await;
    assert_eq!(store.backfill_workspaces().await.expect("again"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_transitions_of_one_post_have_one_winner() {
    let Some(store) = fresh().await else { return };
    let store: Arc<dyn Store> = Arc::new(store);
    let user = store
        .upsert_user(&jobs::model::GoogleProfile {
            google_uid: format!("google-{}", Uuid::new_v4()),
            email: "racer@example.test".into(),
            name: "Racer".into(),
            picture: None,
        })
        .await
        .expect("user");
    let post = conformance::post_for(user.id, AccountId::new(), PostState::Queued);
    store.create_post(&post).await.expect("create");
    let (winners, _stale) = conformance::race_transitions(&store, user.id, post.id, 8).await;
    assert_eq!(winners.len(), 1, "exactly one transition wins");
    let stored = store
        .post(conformance::ws_of(user.id), post.id)
        .await
        .expect("post");
    assert_eq!(stored, winners[0]);
    assert_eq!(stored.version, post.version + 1);
}

/// Firestore locks for transactions: while another client's transaction holds a read lock on
/// the lease document, the store's commit waits and ends in `ABORTED` (after about 2 s on the
/// emulator). The store must retry the whole read-decide-commit, and succeed once the lock is
/// released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_aborted_by_a_transactions_lock_is_retried_and_succeeds() {
    let Some(emulator) = emulator::shared() else {
        return;
    };
    let Some(store) = fresh().await else { return };
    let lease = "contended-lease";
    let doc = store.lease_document(lease);
    let (documents, _) = doc
        .split_once("/documents/")
        .expect("a document name has /documents/");
    let base = format!("http://{}/v1/{documents}/documents", emulator.host());
    let http = reqwest::Client::new();
    let call = |method: &'static str, body: Value| {
        let request = http.post(format!("{base}:{method}")).json(&body);
        async move {
            let response = request.send().await.expect("emulator answers");
            assert!(response.status().is_success(), "{method}: {response:?}");
            response.json::<Value>().await.expect("json")
        }
    };

    let tx = call(
        "beginTransaction",
        json!({ "options": { "readWrite": {} } }),
    )
    .await["transaction"]
        .as_str()
        .expect("a transaction id")
        .to_owned();
    call("batchGet", json!({ "documents": [doc], "transaction": tx })).await;

    let before = store.aborted_retries();
    let now = Utc::now().trunc_subsecs(6);
    let task = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .acquire_lease(lease, "worker", Duration::from_secs(30), now)
                .await
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.aborted_retries() == before {
        assert!(
            Instant::now() < deadline,
            "the store's commit was never aborted while the lock was held"
        );
        assert!(
            !task.is_finished(),
            "acquired while another transaction held the lock"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    call("rollback", json!({ "transaction": tx })).await;

    let token = task
        .await
        .expect("task")
        .expect("acquire after the retry")
        .expect("the lease was free");
    assert_eq!(token, 1);
    assert!(store.aborted_retries() > before);
    assert_eq!(
        store
            .acquire_lease(lease, "other", Duration::from_secs(30), now)
            .await
            .expect("acquire"),
        None,
        "the retried acquisition was committed"
    );
}

// ---- indexes: what the emulator cannot check ----

fn index_file() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../firestore.indexes.json");
    let text = std::fs::read_to_string(path).expect("firestore.indexes.json at the repo root");
    serde_json::from_str(&text).expect("firestore.indexes.json is JSON")
}

fn index_fields(index: &Value) -> Vec<(String, String)> {
    index["fields"]
        .as_array()
        .expect("an index has fields")
        .iter()
        .map(|f| {
            (
                f["fieldPath"].as_str().expect("fieldPath").to_owned(),
                f["order"].as_str().expect("order").to_owned(),
            )
        })
        .collect()
}

fn spec_fields(q: &QuerySpec) -> Vec<(String, String)> {
    q.index_fields()
        .into_iter()
        .map(|(f, d)| (f.to_owned(), d.as_str().to_owned()))
        .collect()
}

#[test]
fn every_composite_query_has_its_index_in_firestore_indexes_json() {
    let file = index_file();
    let indexes = file["indexes"].as_array().expect("indexes");
    let composite = composite_queries();
    assert!(
        composite.iter().any(|q| q.name == "due_posts"),
        "the due-post query is one of them"
    );
    for q in &composite {
        let wanted = spec_fields(q);
        let found = indexes.iter().any(|i| {
            i["collectionGroup"] == q.collection
                && i["queryScope"] == "COLLECTION"
                && index_fields(i) == wanted
        });
        assert!(
            found,
            "query {} on {} needs the composite index {wanted:?} in firestore.indexes.json",
            q.name, q.collection
        );
    }
    for i in indexes {
        let serves_one = composite
            .iter()
            .any(|q| i["collectionGroup"] == q.collection && index_fields(i) == spec_fields(q));
        assert!(
            serves_one,
            "index {i} serves no query of the backend: remove it"
        );
    }
}

#[test]
fn no_query_reads_a_field_exempt_from_indexing() {
    let file = index_file();
    let exempt: Vec<(String, String)> = file["fieldOverrides"]
        .as_array()
        .expect("fieldOverrides")
        .iter()
        .filter(|o| o["indexes"].as_array().is_some_and(|a| a.is_empty()))
        .map(|o| {
            (
                o["collectionGroup"]
                    .as_str()
                    .expect("collectionGroup")
                    .to_owned(),
                o["fieldPath"].as_str().expect("fieldPath").to_owned(),
            )
        })
        .collect();
    assert!(
        exempt.contains(&("posts".to_owned(), "doc".to_owned())),
        "the JSON documents are exempt: {exempt:?}"
    );
    for q in queries() {
        for (field, _) in q.index_fields() {
            assert!(
                !exempt.contains(&(q.collection.to_owned(), field.to_owned())),
                "query {} reads {}.{field}, which firestore.indexes.json exempts from indexing",
                q.name,
                q.collection
            );
        }
    }
}

#[test]
fn history_pages_scan_ids_newest_first() {
    let list = queries()
        .into_iter()
        .find(|q| q.name == "list_posts (first page)")
        .expect("the history query");
    assert_eq!(
        list.index_fields(),
        vec![
            ("workspace_id", Direction::Ascending),
            ("id", Direction::Descending),
            ("__name__", Direction::Descending)
        ]
    );
}

// ---- production authentication, against local fakes ----

#[derive(Default)]
struct Seen {
    token_requests: Vec<String>,
    authorizations: Vec<String>,
}

type Shared = Arc<Mutex<Seen>>;

async fn token_endpoint(State(seen): State<Shared>, body: String) -> axum::Json<Value> {
    seen.lock().expect("lock").token_requests.push(body);
    axum::Json(
        json!({ "access_token": "ya29.test-token", "expires_in": 3600, "token_type": "Bearer" }),
    )
}

async fn firestore_endpoint(State(seen): State<Shared>, headers: HeaderMap) -> axum::Json<Value> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    seen.lock().expect("lock").authorizations.push(auth);
    axum::Json(json!([{ "missing": "ping", "readTime": "2026-01-01T00:00:00Z" }]))
}

/// A PKCS#8 PEM RSA key, as in a service-account key file.
fn rsa_pem() -> String {
    use aws_lc_rs::encoding::AsDer;
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa key");
    let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&key).expect("pkcs8");
    let b64 = STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ascii"));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}

/// The service-account flow of Application Default Credentials, offline: `gcp_auth` signs a
/// JWT with the key file's key, exchanges it at the key file's `token_uri` (a local fake), and
/// the store sends the access token to Firestore (another local fake).
#[tokio::test]
async fn the_google_path_sends_an_access_token_from_the_service_account_flow() {
    let seen: Shared = Arc::default();
    let app = Router::new()
        .route("/token", post(token_endpoint))
        .route("/v1/{*method}", post(firestore_endpoint))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let key = json!({
        "type": "service_account",
        "project_id": "mktpost-test",
        "private_key": rsa_pem(),
        "client_email": "mktpost@mktpost-test.iam.gserviceaccount.com",
        "token_uri": format!("http://{addr}/token"),
    });
    let account = gcp_auth::CustomServiceAccount::from_json(&key.to_string()).expect("key file");
    let store = FirestoreStore::with_token_provider(
        &format!("http://{addr}/v1"),
        "mktpost-test",
        DEFAULT_DATABASE,
        Arc::new(account),
    )
    .await
    .expect("open against the fake");
    store.ping().await.expect("ping");

    let seen = seen.lock().expect("lock");
    assert_eq!(
        seen.authorizations,
        vec!["Bearer ya29.test-token"; 2],
        "every request carries the access token"
    );
    assert_eq!(seen.token_requests.len(), 1, "the token is cached");
    let assertion = url::form_urlencoded::parse(seen.token_requests[0].as_bytes())
        .find(|(k, _)| k == "assertion")
        .expect("a JWT assertion")
        .1;
    let claims = assertion.split('.').nth(1).expect("a JWT has claims");
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(claims.trim_end_matches('='))
            .expect("base64url"),
    )
    .expect("json");
    assert_eq!(claims["scope"], "https://www.googleapis.com/auth/datastore");
    assert_eq!(
        claims["iss"],
        "mktpost@mktpost-test.iam.gserviceaccount.com"
    );
}

/// The watchdog takes its command down once the parent is gone, as it must for the emulator
/// when this test binary exits. Here the parent is a short `sleep` and the command a long one.
#[test]
fn the_watchdog_kills_its_command_once_the_parent_is_gone() {
    let mut parent = Command::new("sleep").arg("1").spawn().expect("sleep");
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("child.log");
    let mut dog = watchdog(
        parent.id(),
        &log,
        &[
            "sh".as_ref(),
            "-c".as_ref(),
            "echo $$; exec sleep 300".as_ref(),
        ],
    )
    .expect("watchdog");
    let deadline = Instant::now() + Duration::from_secs(10);
    let child_pid = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(pid) = text
            .lines()
            .next()
            .and_then(|l| l.trim().parse::<u32>().ok())
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    // A killed process may linger as a zombie until someone reaps it: that is gone too.
    let alive = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
        })
    };
    assert!(alive(child_pid), "the command runs while the parent lives");
    parent.wait().expect("the parent ends");

    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(child_pid) {
        assert!(Instant::now() < deadline, "the command outlived its parent");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(dog.wait().is_ok(), "the watchdog ended too");
    assert!(!log.exists(), "the log of a finished run is removed");
}

#[test]
fn fresh_project_ids_are_valid_and_distinct() {
    let (a, b) = (fresh_project(), fresh_project());
    assert_ne!(a, b);
    for id in [a, b] {
        assert!((6..=30).contains(&id.len()), "{id}");
        assert!(id.starts_with(|c: char| c.is_ascii_lowercase()), "{id}");
        assert!(!id.ends_with('-'), "{id}");
        assert!(
            id.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{id}"
        );
    }
}
