use super::*;
use crate::vault::KeyRing;
use std::time::Duration;

fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_vars(&vars)
}

#[test]
fn defaults_run_locally() {
    let c = with(&[]).unwrap();
    assert_eq!(c.store.kind, StoreKind::Sqlite);
    assert!(c.queue.redis_url.is_none());
    assert_eq!(c.scheduler.log_retention_days, 90);
    assert_eq!(
        c.tiktok.redirect_uri.as_str(),
        "http://127.0.0.1:8080/auth/tiktok/callback"
    );
    assert!(c.identity.google_signin_url.is_some());
}

#[test]
fn bad_values_name_their_variable() {
    assert_eq!(
        with(&[("TOKEN_KEYS", "v1:short")]).unwrap_err().var,
        "TOKEN_KEYS"
    );
    assert_eq!(
        with(&[("PUBLIC_URL", "not a url")]).unwrap_err().var,
        "PUBLIC_URL"
    );
    assert_eq!(
        with(&[("WORKER_CONCURRENCY", "many")]).unwrap_err().var,
        "WORKER_CONCURRENCY"
    );
    assert_eq!(
        with(&[("DATABASE_URL", "mysql://x")]).unwrap_err().var,
        "DATABASE_URL"
    );
    let e = with(&[("TOKEN_KEYS", "v1:short")]).unwrap_err().to_string();
    assert!(e.starts_with("configuration error: TOKEN_KEYS:"), "{e}");
}

#[test]
fn inbox_drafts_poll_hourly_and_end_after_a_day_unless_configured() {
    let d = with(&[]).unwrap();
    assert_eq!(d.tiktok.inbox_poll_max_interval_secs, 3600);
    assert_eq!(d.tiktok.inbox_draft_ttl, Duration::from_secs(24 * 3600));
    let c = with(&[
        ("INBOX_POLL_MAX_INTERVAL_SECS", "600"),
        ("INBOX_DRAFT_TTL_HOURS", "6"),
    ])
    .unwrap();
    assert_eq!(c.tiktok.inbox_poll_max_interval_secs, 600);
    assert_eq!(c.tiktok.inbox_draft_ttl, Duration::from_secs(6 * 3600));
    for var in ["INBOX_POLL_MAX_INTERVAL_SECS", "INBOX_DRAFT_TTL_HOURS"] {
        assert_eq!(with(&[(var, "0")]).unwrap_err().var, var);
        assert_eq!(with(&[(var, "soon")]).unwrap_err().var, var);
    }
}

/// A production configuration that passes every check; tests take one thing away.
fn production(keys: &str) -> Vec<(&'static str, String)> {
    [
        ("MKTPOST_ENV", "production"),
        ("PUBLIC_URL", "https://mktpost.example"),
        ("TOKEN_KEYS", keys),
        ("TIKTOK_CLIENT_KEY", "awprodclientkey01"),
        ("TIKTOK_CLIENT_SECRET", "real-secret"),
        (
            "SESSION_SECRET",
            "0123456789abcdef0123456789abcdef-long-enough",
        ),
        ("GOOGLE_SIGNIN_URL", "https://mktpost-prod.web.app/"),
        ("TIKTOK_AUTH_URL", "https://www.tiktok.com"),
        ("TIKTOK_API_URL", "https://open.tiktokapis.com"),
        (
            "GOOGLE_CERTS_URL",
            "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com",
        ),
        ("FIREBASE_PROJECT_ID", "mktpost-prod"),
        ("METRICS_TOKEN", "a-long-random-metrics-token"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect()
}

fn with_owned(pairs: &[(&'static str, String)]) -> Result<Config, ConfigError> {
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    with(&refs)
}

/// `base` with `var` set to `value` (or removed when `None`).
fn changed(
    base: &[(&'static str, String)],
    var: &'static str,
    value: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut out: Vec<_> = base.iter().filter(|(k, _)| *k != var).cloned().collect();
    if let Some(v) = value {
        out.push((var, v.to_owned()));
    }
    out
}

#[test]
fn production_refuses_short_or_default_secrets() {
    let keys = KeyRing::generate_entry("v1");
    let ok = production(&keys);
    assert!(with_owned(&ok).unwrap().is_production());
    let short = changed(&ok, "SESSION_SECRET", Some("too-short"));
    assert_eq!(with_owned(&short).unwrap_err().var, "SESSION_SECRET");
    let dev_keys = changed(&ok, "TOKEN_KEYS", None);
    assert_eq!(with_owned(&dev_keys).unwrap_err().var, "TOKEN_KEYS");
    let no_signin = changed(&ok, "GOOGLE_SIGNIN_URL", None);
    assert_eq!(with_owned(&no_signin).unwrap_err().var, "GOOGLE_SIGNIN_URL");
}

#[test]
fn production_refuses_the_development_firebase_project() {
    let keys = KeyRing::generate_entry("v1");
    let ok = production(&keys);
    for value in [None, Some(DEV_FIREBASE_PROJECT)] {
        let e = with_owned(&changed(&ok, "FIREBASE_PROJECT_ID", value)).unwrap_err();
        assert_eq!(e.var, "FIREBASE_PROJECT_ID", "{value:?}: {e}");
    }
    let e = with_owned(&changed(&ok, "TIKTOK_CLIENT_KEY", None)).unwrap_err();
    assert_eq!(e.var, "TIKTOK_CLIENT_KEY");
}

#[test]
fn production_refuses_sandbox_and_loopback_tiktok_and_google_urls() {
    let keys = KeyRing::generate_entry("v1");
    let ok = production(&keys);
    let vars = [
        "TIKTOK_AUTH_URL",
        "TIKTOK_API_URL",
        "TIKTOK_REDIRECT_URI",
        "GOOGLE_CERTS_URL",
        "GOOGLE_SIGNIN_URL",
    ];
    let bad = [
        "https://localhost/",
        "https://api.localhost:8443/",
        "https://127.0.0.1/",
        "https://127.8.9.10:9000/x",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://0.0.0.0/",
        "http://127.0.0.1:8090",
        // The sandbox served on a LAN address, and its Google pages wherever they are.
        "https://sandbox.example/_google/signin",
    ];
    for var in vars {
        for url in bad {
            let e = with_owned(&changed(&ok, var, Some(url))).unwrap_err();
            assert_eq!(e.var, var, "{var}={url}: {e}");
        }
        let mut lan_sandbox = changed(&ok, var, Some("https://10.1.2.3:8090/"));
        lan_sandbox.push(("SANDBOX_BIND", "10.1.2.3:8090".into()));
        let e = with_owned(&lan_sandbox).unwrap_err();
        assert_eq!(e.var, var, "{e}");
        assert!(e.message.contains("sandbox"), "{e}");
    }
    // Left at their defaults, the TikTok and Google URLs are the sandbox's.
    for var in ["TIKTOK_AUTH_URL", "TIKTOK_API_URL", "GOOGLE_CERTS_URL"] {
        let e = with_owned(&changed(&ok, var, None)).unwrap_err();
        assert_eq!(e.var, var, "{e}");
    }
    // Development keeps them, of course.
    assert!(with(&[("TIKTOK_API_URL", "http://localhost:8090")]).is_ok());
}

#[test]
fn production_requires_a_metrics_token() {
    let keys = KeyRing::generate_entry("v1");
    let ok = production(&keys);
    for value in [None, Some("")] {
        let e = with_owned(&changed(&ok, "METRICS_TOKEN", value)).unwrap_err();
        assert_eq!(e.var, "METRICS_TOKEN", "{e}");
    }
}

#[test]
fn proxy_trust_counts_hops_and_never_takes_the_header_alone() {
    let c = with(&[]).unwrap();
    assert_eq!(
        (c.server.trusted_proxy_header, c.server.trusted_proxy_hops),
        (None, 0)
    );
    let c = with(&[("TRUSTED_PROXY_HOPS", "1")]).unwrap();
    assert_eq!(
        c.server.trusted_proxy_header.as_deref(),
        Some("x-forwarded-for")
    );
    assert_eq!(c.server.trusted_proxy_hops, 1);
    let c = with(&[
        ("TRUSTED_PROXY_HOPS", "2"),
        ("TRUSTED_PROXY_HEADER", "X-Real-Forwarded"),
    ])
    .unwrap();
    assert_eq!(
        c.server.trusted_proxy_header.as_deref(),
        Some("x-real-forwarded")
    );
    assert_eq!(c.server.trusted_proxy_hops, 2);
    for (pairs, var) in [
        (
            vec![("TRUSTED_PROXY_HEADER", "x-forwarded-for")],
            "TRUSTED_PROXY_HOPS",
        ),
        (vec![("TRUSTED_PROXY_HOPS", "-1")], "TRUSTED_PROXY_HOPS"),
        (vec![("TRUSTED_PROXY_HOPS", "99")], "TRUSTED_PROXY_HOPS"),
        (
            vec![
                ("TRUSTED_PROXY_HOPS", "1"),
                ("TRUSTED_PROXY_HEADER", "x forwarded: for"),
            ],
            "TRUSTED_PROXY_HEADER",
        ),
    ] {
        assert_eq!(with(&pairs).unwrap_err().var, var, "{pairs:?}");
    }
    let c = with(&[("PAGE_RATE_PER_MIN", "7"), ("READYZ_RATE_PER_MIN", "8")]).unwrap();
    assert_eq!(
        (c.limits.page_rate_per_min, c.limits.readyz_rate_per_min),
        (7, 8)
    );
    assert_eq!(c.limits.avatar_rate_per_min, 120);
}

#[test]
fn the_store_is_chosen_by_url_or_by_store() {
    let c = with(&[("DATABASE_URL", "postgres://u@h/db")]).unwrap();
    assert_eq!(c.store.kind, StoreKind::Postgres);
    let c = with(&[("DATABASE_URL", "firestore://mktpost-prod/main")]).unwrap();
    assert_eq!(c.store.kind, StoreKind::Firestore);
    assert_eq!(
        c.store.database_url.expose(),
        "firestore://mktpost-prod/main"
    );

    let c = with(&[
        ("STORE", "firestore"),
        ("FIRESTORE_PROJECT_ID", "mktpost-prod"),
    ])
    .unwrap();
    assert_eq!(c.store.kind, StoreKind::Firestore);
    assert_eq!(
        c.store.database_url.expose(),
        "firestore://mktpost-prod/(default)"
    );
    let c = with(&[
        ("STORE", "firestore"),
        ("FIRESTORE_PROJECT_ID", "p"),
        ("FIRESTORE_DATABASE", "mktpost"),
        ("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8686"),
    ])
    .unwrap();
    assert_eq!(
        c.store.database_url.expose(),
        "firestore://p/mktpost?emulator_host=127.0.0.1:8686"
    );
    // The emulator variable applies to a Firestore DATABASE_URL too, as in Google's clients.
    let c = with(&[
        ("DATABASE_URL", "firestore://p"),
        ("FIRESTORE_EMULATOR_HOST", "127.0.0.1:9"),
    ])
    .unwrap();
    assert_eq!(
        c.store.database_url.expose(),
        "firestore://p/(default)?emulator_host=127.0.0.1:9"
    );

    for (pairs, var) in [
        (vec![("STORE", "firestore")], "FIRESTORE_PROJECT_ID"),
        (vec![("STORE", "mongodb")], "STORE"),
        (vec![("STORE", "postgres")], "DATABASE_URL"),
        (
            vec![
                ("STORE", "firestore"),
                ("DATABASE_URL", "postgres://u@h/db"),
            ],
            "STORE",
        ),
        (
            vec![
                ("DATABASE_URL", "firestore://a"),
                ("FIRESTORE_PROJECT_ID", "b"),
            ],
            "FIRESTORE_PROJECT_ID",
        ),
        (vec![("DATABASE_URL", "firestore://")], "DATABASE_URL"),
    ] {
        assert_eq!(with(&pairs).unwrap_err().var, var, "{pairs:?}");
    }
}

#[test]
fn production_refuses_the_firestore_emulator() {
    let keys = KeyRing::generate_entry("v1");
    let mut vars = production(&keys);
    vars.push(("STORE", "firestore".into()));
    vars.push(("FIRESTORE_PROJECT_ID", "mktpost-prod".into()));
    assert!(with_owned(&vars).is_ok());
    vars.push(("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8686".into()));
    assert_eq!(
        with_owned(&vars).unwrap_err().var,
        "FIRESTORE_EMULATOR_HOST"
    );
}

#[test]
fn scheduler_settings_come_from_the_environment() {
    let c = with(&[]).unwrap();
    assert_eq!(c.scheduler.tick, Duration::from_millis(250));
    assert_eq!(
        c.scheduler.job_record_ttl,
        Duration::from_secs(7 * 24 * 3600)
    );
    let c = with(&[
        ("SCHEDULER_TICK_MS", "100"),
        ("STUCK_UPLOADING_SECS", "60"),
        ("SCHEDULER_CRON_OLD_LOGS", "0 0 3 * * *"),
        ("JOB_RECORD_TTL_HOURS", "1"),
    ])
    .unwrap();
    assert_eq!(c.scheduler.tick, Duration::from_millis(100));
    assert_eq!(c.scheduler.stuck_uploading_after, Duration::from_secs(60));
    assert_eq!(c.scheduler.cron_old_logs, "0 0 3 * * *");
    assert_eq!(c.scheduler.job_record_ttl, Duration::from_secs(3600));
    let e = with(&[("SCHEDULER_CRON_STUCK_POSTS", "every minute")]).unwrap_err();
    assert_eq!(e.var, "SCHEDULER_CRON_STUCK_POSTS");
    assert!(e.message.contains("every minute"), "{e}");
    assert_eq!(
        with(&[("SCHEDULER_TICK_MS", "0")]).unwrap_err().var,
        "SCHEDULER_TICK_MS"
    );
    assert_eq!(
        with(&[("SCHEDULER_LEASE_TTL_SECS", "1")]).unwrap_err().var,
        "SCHEDULER_LEASE_TTL_SECS"
    );
    // Absurd values are refused, not overflowed into a panic.
    for (var, value) in [
        ("SCHEDULER_TICK_MS", "18446744073709551615"),
        ("SCHEDULER_LEASE_TTL_SECS", "18446744073709551615"),
        ("JOB_RECORD_TTL_HOURS", "18446744073709551615"),
        ("SESSION_TTL_HOURS", "5124095576030432"),
    ] {
        assert_eq!(with(&[(var, value)]).unwrap_err().var, var);
    }
}

/// `.env.example` is the reference for operators: it must parse, give a valid configuration,
/// and mention every variable this folder reads.
#[test]
fn env_example_is_valid_and_lists_every_variable() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../.env.example");
    let text = std::fs::read_to_string(path).unwrap();
    let vars: HashMap<String, String> = dotenvy::from_path_iter(path)
        .unwrap()
        .map(|kv| kv.unwrap())
        .collect();
    let c = Config::from_vars(&vars).unwrap();
    let d = with(&[]).unwrap();
    assert_eq!(c.scheduler, d.scheduler, "the example shows the defaults");
    // Every file of this folder: the variables are read where their group is built.
    let sources = [
        include_str!("mod.rs"),
        include_str!("identity.rs"),
        include_str!("limits.rs"),
        include_str!("production.rs"),
        include_str!("queue.rs"),
        include_str!("scheduler.rs"),
        include_str!("server.rs"),
        include_str!("staging.rs"),
        include_str!("store.rs"),
        include_str!("tiktok.rs"),
        include_str!("vars.rs"),
        include_str!("tests.rs"),
    ];
    let read: std::collections::BTreeSet<&str> = sources
        .iter()
        .flat_map(|source| source.split('"'))
        .filter(|w| {
            w.len() > 3
                && w.chars()
                    .all(|ch| ch.is_ascii_uppercase() || ch == '_' || ch.is_ascii_digit())
                && w.contains('_')
        })
        .filter(|w| {
            !w.starts_with("DEV_") && !w.starts_with("SANDBOX_CLIENT") && !w.starts_with("CARGO_")
        })
        .collect();
    assert!(read.len() > 40, "{read:?}");
    let missing: Vec<_> = read.iter().filter(|v| !text.contains(*v)).collect();
    assert!(
        missing.is_empty(),
        ".env.example does not mention {missing:?}"
    );
}

#[test]
fn verified_url_prefixes_and_the_audit_flag_are_read_and_checked() {
    let d = with(&[]).unwrap();
    assert!(
        d.tiktok.verified_url_prefixes.is_empty(),
        "no URL posting by default"
    );
    assert!(d.tiktok.app_audited);
    let c = with(&[
        (
            "TIKTOK_VERIFIED_URL_PREFIXES",
            " https://media.example.com/tiktok/ ,,https://cdn.example.org/v/",
        ),
        ("TIKTOK_APP_AUDITED", "false"),
    ])
    .unwrap();
    assert_eq!(
        c.tiktok.verified_url_prefixes,
        [
            "https://media.example.com/tiktok/",
            "https://cdn.example.org/v/"
        ]
    );
    assert!(!c.tiktok.app_audited);
    for bad in [
        "http://media.example.com/v/",
        "https://203.0.113.7/v/",
        "https://media.example.com",
        "https://media.example.com/v",
        "not a url",
    ] {
        let e = with(&[("TIKTOK_VERIFIED_URL_PREFIXES", bad)]).unwrap_err();
        assert_eq!(e.var, "TIKTOK_VERIFIED_URL_PREFIXES", "{bad}");
    }
    assert_eq!(
        with(&[("TIKTOK_APP_AUDITED", "maybe")]).unwrap_err().var,
        "TIKTOK_APP_AUDITED"
    );
}

#[test]
fn secrets_are_redacted_in_debug() {
    let c = with(&[("SESSION_SECRET", "super-secret-value-1234567890-abcdef")]).unwrap();
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("super-secret-value"));
    assert!(!dbg.contains(SANDBOX_CLIENT_SECRET));
}

/// Compiles only while secrets wipe themselves on drop.
fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}

#[test]
fn secrets_are_wiped_on_drop() {
    wiped_on_drop::<Secret>();
}

#[test]
fn firestore_urls_name_project_database_and_emulator() {
    assert_eq!(
        FirestoreUrl::parse("firestore://mktpost-prod").expect("url"),
        FirestoreUrl {
            project: "mktpost-prod".into(),
            database: FirestoreUrl::DEFAULT_DATABASE.into(),
            emulator_host: None
        }
    );
    assert_eq!(
        FirestoreUrl::parse("firestore://p/db-1?emulator_host=127.0.0.1:8686").expect("url"),
        FirestoreUrl {
            project: "p".into(),
            database: "db-1".into(),
            emulator_host: Some("127.0.0.1:8686".into())
        }
    );
    for bad in [
        "firestore://",
        "firestore:///db",
        "firestore://p/db/x",
        "firestore://p?password=hunter2",
        "postgres://p",
    ] {
        let err = FirestoreUrl::parse(bad).expect_err(bad);
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
