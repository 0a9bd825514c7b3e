//! Browser tests: the creator pages in a real headless Chromium (driven over WebDriver from
//! Rust), against the real app, worker, scheduler and the sandbox; and the page-level security
//! rules (CSP header, nothing loaded from another origin). One binary, one module per flow.
//!
//! Needs `chromium` and `chromium-driver` (Debian); the test starts its own chromedriver on a
//! free port and fails with an install hint when they are missing. Screenshots land in
//! `target/screenshots/`; with `UPDATE_DOCS_SCREENSHOTS=1` two of them are also copied to
//! `docs/screenshots/` for the README.

mod approvals;
mod campaigns;
mod cover;
mod creator;
mod driver;
mod login;
mod many;
mod pages;
mod parked;
mod posting_paths;
mod privacy;
mod workspaces;

use anyhow::{Context, Result, ensure};
use driver::Browser;
use e2e::{Backend, Chunked, TestApp};
use tokio_util::sync::CancellationToken;

/// Points "Sign in with Google" at this app's sandbox, as `mktpost dev` does with its own
/// (`TestApp` leaves the development default, a sandbox on port 8090, in place).
pub fn sandbox_signin(c: &mut jobs::config::Config) {
    c.identity.google_signin_url = c.tiktok.auth_url.join("/_google/signin").ok();
}

/// An app with TikTok's chunk rules lowered (a few hundred KB go in a few chunks, as in the e2e
/// publish tests) and quick processing at the sandbox.
pub async fn browser_app() -> Result<TestApp> {
    let pace = Chunked {
        single_chunk_max: 250_000,
        processing_ms: 200,
        // The public post id comes with PUBLISH_COMPLETE: poll_status records the post as
        // published on that status and does not wait for an id that moderation adds later.
        moderation_ms: 0,
    };
    TestApp::start_chunked(Backend::Sqlite, true, pace, sandbox_signin).await
}

/// Runs the real scheduler (as `mktpost dev` does) until the token is cancelled: TestApp starts
/// only web and worker.
pub fn start_scheduler(app: &TestApp) -> CancellationToken {
    let stop = CancellationToken::new();
    tokio::spawn(scheduler::run(
        app.ctx.clone(),
        stop.clone().cancelled_owned(),
    ));
    stop
}

/// Runs `flow` in a new browser on `app` and closes the browser whatever happened. Answers the
/// flow's error, else fails on any problem the browser console reported that `excused` does not
/// excuse.
pub async fn in_browser(
    app: &TestApp,
    flow: impl AsyncFnOnce(&Browser) -> Result<()>,
    excused: fn(&str) -> bool,
) -> Result<()> {
    let browser = Browser::start(&app.base_url).await?;
    let outcome = flow(&browser).await;
    let console = browser.console_problems().await;
    browser.close().await;
    outcome?;
    let console = console.context("the browser console")?;
    let unexpected: Vec<&String> = console.iter().filter(|c| !excused(c)).collect();
    ensure!(
        unexpected.is_empty(),
        "the browser console reported: {unexpected:#?}"
    );
    Ok(())
}

/// [`in_browser`] with two browsers on `app` (say an owner's and an editor's): both are closed
/// whatever happened, and the console problems of both are checked.
pub async fn in_two_browsers(
    app: &TestApp,
    flow: impl AsyncFnOnce(&Browser, &Browser) -> Result<()>,
    excused: fn(&str) -> bool,
) -> Result<()> {
    let first = Browser::start(&app.base_url).await?;
    let second = match Browser::start(&app.base_url).await {
        Ok(b) => b,
        Err(e) => {
            first.close().await;
            return Err(e);
        }
    };
    let outcome = flow(&first, &second).await;
    let mut console = Vec::new();
    for b in [&first, &second] {
        console.push(b.console_problems().await);
    }
    first.close().await;
    second.close().await;
    outcome?;
    let mut unexpected = Vec::new();
    for problems in console {
        let problems = problems.context("the browser console")?;
        unexpected.extend(problems.into_iter().filter(|c| !excused(c)));
    }
    ensure!(
        unexpected.is_empty(),
        "the browser console reported: {unexpected:#?}"
    );
    Ok(())
}

/// For [`in_browser`]: no console problem is expected.
pub fn nothing(_: &str) -> bool {
    false
}

/// A file that passes the MP4 magic-byte check (the sandbox does not decode video).
pub fn video_file(
    dir: &std::path::Path,
    name: &str,
    size: usize,
    seed: u8,
) -> Result<std::path::PathBuf> {
    let mut v: Vec<u8> = (0..size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    v[..12].copy_from_slice(&[0, 0, 0, 20, b'f', b't', b'y', b'p', b'i', b's', b'o', b'm']);
    let path = dir.join(name);
    std::fs::write(&path, v)?;
    Ok(path)
}
