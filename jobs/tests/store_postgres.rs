//! The store conformance suite and the query-plan checks on PostgreSQL, each test on a
//! database of its own, created for it and dropped after it.
//!
//! The server comes from `TEST_POSTGRES_URL` (an admin URL: the role must be allowed to create
//! databases), by default `postgres://postgres@127.0.0.1:5432/postgres`.

use futures::FutureExt;
use jobs::store::postgres::{DUE_POSTS_SQL, PostgresStore};
use jobs::store::{self, DynStore, conformance};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use url::Url;
use uuid::Uuid;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database with a random name on the test server.
struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    async fn create() -> Self {
        let admin_url =
            std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
        let name = format!("mktpost_test_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .expect("connect to TEST_POSTGRES_URL");
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let mut url = Url::parse(&admin_url).expect("TEST_POSTGRES_URL is a URL");
        url.set_path(&name);
        Self {
            admin_url,
            name,
            url: url.into(),
        }
    }

    async fn drop_database(self) {
        let mut admin = PgConnection::connect(&self.admin_url)
            .await
            .expect("connect to TEST_POSTGRES_URL");
        sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut admin)
        .await
        .expect("drop test database");
    }
}

/// Runs `test` on a migrated store over a fresh database, then drops the database, also when
/// the test panicked (the panic is passed on afterwards).
async fn with_store<F, Fut>(test: F)
where
    F: FnOnce(PostgresStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = TestDatabase::create().await;
    let store = PostgresStore::connect(&db.url)
        .await
        .expect("open postgres store");
    let outcome = AssertUnwindSafe(test(store.clone())).catch_unwind().await;
    // Tasks a failed case left running may still hold connections; FORCE ends them anyway.
    let _ = tokio::time::timeout(Duration::from_secs(5), store.close()).await;
    db.drop_database().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

macro_rules! postgres_cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                with_store(|store| conformance::$case(Arc::new(store))).await;
            }
        )*
    };
}

jobs::store_conformance_cases!(postgres_cases);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_suite_runs_on_one_shared_store() {
    with_store(|store| conformance::run_all(Arc::new(store))).await;
}

/// Every node of an `EXPLAIN (FORMAT JSON)` plan tree.
fn plan_nodes(node: &serde_json::Value, out: &mut Vec<serde_json::Value>) {
    out.push(node.clone());
    for child in node["Plans"].as_array().into_iter().flatten() {
        plan_nodes(child, out);
    }
}

#[tokio::test]
async fn the_due_post_query_is_served_by_posts_due_idx() {
    with_store(|store| async move {
        assert!(DUE_POSTS_SQL.contains("state = 'scheduled'"));
        let plan = store.explain_due_posts().await.expect("explain");
        let json: serde_json::Value = serde_json::from_str(&plan).expect("plan is JSON");
        let mut nodes = Vec::new();
        plan_nodes(&json[0]["Plan"], &mut nodes);
        let served = nodes.iter().any(|n| {
            matches!(
                n["Node Type"].as_str(),
                Some("Index Scan" | "Index Only Scan" | "Bitmap Index Scan")
            ) && n["Index Name"] == "posts_due_idx"
        });
        assert!(
            served,
            "the due-post query must scan posts_due_idx, plan was:\n{plan}"
        );
        assert!(
            nodes.iter().all(|n| n["Node Type"] != "Sort"),
            "the index already gives the order, plan was:\n{plan}"
        );
    })
    .await;
}

#[tokio::test]
async fn connect_and_migrate_choose_postgres_by_scheme_and_migrate_is_repeatable() {
    let db = TestDatabase::create().await;
    store::migrate(&db.url).await.expect("first migrate");
    store::migrate(&db.url)
        .await
        .expect("migrating again is a no-op");
    let opened: DynStore = store::connect(&db.url).await.expect("connect");
    opened.ping().await.expect("ping");
    drop(opened);
    db.drop_database().await;
}

/// Runs `test` (given the URL and a pool) on a fresh database at the last migration before
/// workspaces, holding `sql` (rows written then); drops the database afterwards, also when
/// `test` panics.
async fn before_workspaces<F, Fut>(sql: String, test: F)
where
    F: FnOnce(String, sqlx::PgPool) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let db = TestDatabase::create().await;
    let pool = sqlx::PgPool::connect(&db.url).await.expect("open");
    let outcome = AssertUnwindSafe(async {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/postgres");
        let until = conformance::LAST_MIGRATION_BEFORE_WORKSPACES;
        let migrator = sqlx::migrate::Migrator::new(dir).await.expect("migrations");
        migrator.run_to(until, &pool).await.expect("migrate");
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .expect("earlier rows");
        test(db.url.clone(), pool.clone()).await;
    })
    .catch_unwind()
    .await;
    pool.close().await;
    db.drop_database().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Migration 0007 moves every row written before workspaces into its user's personal
/// workspace, made by that user (see the SQLite twin).
#[tokio::test]
async fn rows_written_before_workspaces_move_into_personal_workspaces() {
    let (earlier, insert) = conformance::earlier_users();
    let users: Vec<_> = earlier.iter().map(|(id, _)| *id).collect();
    let rows = conformance::earlier_rows(&users);
    before_workspaces(format!("{insert};\n{rows}"), |url, _| async move {
        let store = PostgresStore::connect(&url).await.expect("migrate all");
        conformance::earlier_rows_belong_to_personal_workspaces(&store, &users).await;
        store.close().await;
    })
    .await;
}

/// Migration 0005 gives every user who existed before it a personal workspace (id = the user's)
/// with the user as owner, and its backfill is harmless to run again (see the SQLite twin).
#[tokio::test]
async fn the_workspace_backfill_covers_earlier_users_and_can_run_again() {
    const MIGRATION: &str = include_str!("../../migrations/postgres/0005_workspaces.sql");
    let (users, sql) = conformance::earlier_users();
    before_workspaces(sql, |url, pool| async move {
        let store = PostgresStore::connect(&url).await.expect("migrate all");
        let run_again = sqlx::raw_sql(conformance::backfill_of(MIGRATION)).execute(&pool);
        let run_again = async { run_again.await.map(drop).expect("run again") };
        conformance::the_backfill_covers_earlier_users(&store, &users, run_again).await;
        store.close().await;
    })
    .await;
}
