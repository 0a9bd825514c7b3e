//! The store conformance suite and the query-plan checks on SQLite, each test on its own
//! database file in a fresh temporary directory.

use jobs::store::sqlite::{DUE_POSTS_SQL, SqliteStore};
use jobs::store::{self, DynStore, conformance};
use std::sync::Arc;
use tempfile::TempDir;

/// A migrated store on a new file; the directory (and file) go away when the `TempDir` drops.
async fn fresh() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    // A directory that does not exist yet: opening the store must create it.
    let url = format!("sqlite://{}/data/mktpost.db", dir.path().display());
    let store = SqliteStore::connect(&url).await.expect("open sqlite store");
    (dir, store)
}

macro_rules! sqlite_cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (_dir, store) = fresh().await;
                conformance::$case(Arc::new(store)).await;
            }
        )*
    };
}

jobs::store_conformance_cases!(sqlite_cases);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_suite_runs_on_one_shared_store() {
    let (_dir, store) = fresh().await;
    conformance::run_all(Arc::new(store)).await;
}

#[tokio::test]
async fn the_due_post_query_is_served_by_posts_due_idx() {
    let (_dir, store) = fresh().await;
    assert!(DUE_POSTS_SQL.contains("state = 'scheduled'"));
    let plan = store.explain_due_posts().await.expect("explain");
    assert!(
        plan.contains("USING INDEX posts_due_idx"),
        "the due-post query must use posts_due_idx, plan was:\n{plan}"
    );
    assert!(
        !plan.contains("TEMP B-TREE"),
        "the index already gives the order, plan was:\n{plan}"
    );
}

#[tokio::test]
async fn connect_creates_the_file_in_wal_mode_and_migrate_is_repeatable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("nested/deeper/mktpost.db");
    let url = format!("sqlite://{}", file.display());

    store::migrate(&url).await.expect("first migrate");
    assert!(
        file.exists(),
        "migrate creates the file and its directories"
    );
    store::migrate(&url)
        .await
        .expect("migrating again is a no-op");

    let opened: DynStore = store::connect(&url).await.expect("connect");
    opened.ping().await.expect("ping");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut sqlx_connection(&url).await)
        .await
        .expect("journal_mode");
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn an_in_memory_store_keeps_its_data_across_calls() {
    let s = store::connect("sqlite::memory:")
        .await
        .expect("in-memory store");
    conformance::users_are_upserted_by_google_uid(s.clone()).await;
    conformance::post_history_pages_newest_first_with_a_stable_cursor(s).await;
}

#[tokio::test]
async fn an_unknown_scheme_is_refused_without_echoing_the_url() {
    let err = store::connect("mysql://user:hunter2@db/x")
        .await
        .err()
        .expect("refused");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

async fn sqlx_connection(url: &str) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    sqlx::SqliteConnection::connect(url)
        .await
        .expect("raw connection")
}

/// A database file at the last migration before workspaces, holding `sql` (rows written
/// then): its URL and an open pool (the directory lives as long as the `TempDir`).
async fn before_workspaces(sql: String) -> (TempDir, String, sqlx::SqlitePool) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/before.db?mode=rwc", dir.path().display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("open");
    let migrations = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/sqlite");
    let migrator = sqlx::migrate::Migrator::new(migrations)
        .await
        .expect("migrations");
    let before = conformance::LAST_MIGRATION_BEFORE_WORKSPACES;
    migrator.run_to(before, &pool).await.expect("migrate");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&pool)
        .await
        .expect("earlier rows");
    (dir, url, pool)
}

/// Migration 0007 moves every row written before workspaces into its user's personal
/// workspace, made by that user (SQLite rebuilds the tables to change their foreign keys).
#[tokio::test]
async fn rows_written_before_workspaces_move_into_personal_workspaces() {
    let (earlier, insert) = conformance::earlier_users();
    let users: Vec<_> = earlier.iter().map(|(id, _)| *id).collect();
    let rows = conformance::earlier_rows(&users);
    let (_dir, url, pool) = before_workspaces(format!("{insert};\n{rows}")).await;
    pool.close().await;
    let store = SqliteStore::connect(&url)
        .await
        .expect("migrate to the end");
    conformance::earlier_rows_belong_to_personal_workspaces(&store, &users).await;
}

/// Migration 0005 gives every user who existed before it a personal workspace (id = the user's)
/// with the user as owner, and its backfill is harmless to run again: nothing is duplicated and
/// a role changed since stays changed.
#[tokio::test]
async fn the_workspace_backfill_covers_earlier_users_and_can_run_again() {
    const MIGRATION: &str = include_str!("../../migrations/sqlite/0005_workspaces.sql");
    let (earlier, insert) = conformance::earlier_users();
    let (_dir, url, pool) = before_workspaces(insert).await;
    let store = SqliteStore::connect(&url)
        .await
        .expect("migrate to the end");
    let again = sqlx::raw_sql(conformance::backfill_of(MIGRATION)).execute(&pool);
    let again = async { again.await.map(drop).expect("backfill again") };
    conformance::the_backfill_covers_earlier_users(&store, &earlier, again).await;
}
