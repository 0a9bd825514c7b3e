//! A headless Chromium driven over WebDriver: starts its own chromedriver on a free port with a
//! fresh profile, and offers the few helpers the flows need (wait with a deadline, run a
//! script, take a screenshot at a given viewport, throttle the network, read the console).

use anyhow::{Context, Result, bail};
use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a page element may take to appear before a test fails.
pub const WAIT: Duration = Duration::from_secs(15);

/// A viewport: desktop and phone width, as the screenshots are taken.
#[derive(Debug, Clone, Copy)]
pub struct Viewport {
    pub name: &'static str,
    pub width: u32,
    pub height: u32,
    pub mobile: bool,
}

pub const DESKTOP: Viewport = Viewport {
    name: "desktop",
    width: 1280,
    height: 900,
    mobile: false,
};
pub const PHONE: Viewport = Viewport {
    name: "phone",
    width: 390,
    height: 844,
    mobile: true,
};

fn find_binary(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// Where the screenshots go: `target/screenshots/` of the workspace.
pub fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("screenshots")
}

/// A chromedriver-specific command (`/goog/cdp/execute`, `/se/log`), which fantoccini does not
/// wrap.
#[derive(Debug)]
struct SessionCommand {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for SessionCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

/// One browser for one test. Call [`Browser::close`] at the end; `Drop` only kills the driver's
/// process group (chromedriver and the Chromium it started) if a test failed before that.
pub struct Browser {
    pub client: Client,
    pub base_url: String,
    driver: Option<Child>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session.
    pub async fn start(base_url: &str) -> Result<Self> {
        let Some(chromedriver) = find_binary(
            "CHROMEDRIVER",
            &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
        ) else {
            bail!(
                "chromedriver is missing: the browser tests need Chromium and its driver. \
                 Install them with `apt-get install -y chromium chromium-driver` \
                 (scripts/test.sh does), or set CHROMEDRIVER and CHROME_BIN"
            );
        };
        let Some(chromium) = find_binary(
            "CHROME_BIN",
            &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
        ) else {
            bail!(
                "Chromium is missing: install it with `apt-get install -y chromium chromium-driver` \
                 (scripts/test.sh does), or set CHROME_BIN"
            );
        };
        let profile = tempfile::tempdir()?;
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            l.local_addr()?.port()
        };
        let log = std::fs::File::create(profile.path().join("chromedriver.log"))?;
        let mut cmd = Command::new(&chromedriver);
        cmd.arg(format!("--port={port}"))
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log));
        // Its own process group, so a failed test can stop the driver and every Chromium
        // process it started, and nothing else.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let driver = cmd
            .spawn()
            .with_context(|| format!("could not start {}", chromedriver.display()))?;
        let webdriver = format!("http://127.0.0.1:{port}");
        if let Err(e) = wait_ready(&webdriver).await {
            stop_group(driver);
            return Err(e);
        }
        let user_data = profile.path().join("profile");
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--hide-scrollbars",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", user_data.display()),
                ],
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let caps = match caps {
            Value::Object(m) => m,
            _ => bail!("capabilities are an object"),
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&webdriver)
            .await;
        let client = match client {
            Ok(c) => c,
            Err(e) => {
                stop_group(driver);
                let log = std::fs::read_to_string(profile.path().join("chromedriver.log"))
                    .unwrap_or_default();
                bail!("could not open a Chromium session: {e}\nchromedriver log:\n{log}");
            }
        };
        Ok(Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            driver: Some(driver),
            _profile: profile,
        })
    }

    /// Ends the session (Chromium exits) and stops chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        if let Some(d) = self.driver.take() {
            stop_group(d);
        }
    }

    /// The absolute URL of an app path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Opens an app path.
    pub async fn goto(&self, path: &str) -> Result<()> {
        self.client.goto(&self.url(path)).await?;
        Ok(())
    }

    /// The current URL's path and query (`/history?sent=now`).
    pub async fn path(&self) -> Result<String> {
        let u = self.client.current_url().await?;
        Ok(match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        })
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) and returns its value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        Ok(self.client.execute(script, args).await?)
    }

    /// Polls `check` every 100 ms until it returns `Some`, failing after `timeout` with `what`
    /// and the last thing it saw.
    pub async fn wait_until<T, F, Fut>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last_err = None;
        loop {
            match check().await {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => {}
                Err(e) => last_err = Some(e),
            }
            if tokio::time::Instant::now() >= deadline {
                let path = self.path().await.unwrap_or_default();
                match last_err {
                    Some(e) => bail!("timed out waiting for {what} (on {path}); last error: {e:#}"),
                    None => bail!("timed out waiting for {what} (on {path})"),
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether the element `id` is hidden (itself or by an ancestor).
    pub async fn hidden(&self, id: &str) -> Result<bool> {
        let v = self
            .js(
                "const e = document.getElementById(arguments[0]);
                 return !e || e.closest('[hidden]') !== null;",
                vec![json!(id)],
            )
            .await?;
        Ok(v == true)
    }

    /// `GET path` from the page, with the signed-in person's session: the JSON answer.
    pub async fn api_get(&self, path: &str) -> Result<Value> {
        let v = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 fetch(arguments[0], { headers: { Accept: 'application/json' } })
                   .then(r => r.json()).then(done, e => done({ fetch_error: String(e) }));",
                vec![json!(path)],
            )
            .await?;
        if v.get("fetch_error").is_some() {
            bail!("GET {path}: {v}");
        }
        Ok(v)
    }

    /// The post with `caption` as `GET /api/posts` shows it to the signed-in person.
    pub async fn api_post(&self, caption: &str) -> Result<Value> {
        let list = self.api_get("/api/posts?limit=50").await?;
        list["posts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["title"] == caption)
            .cloned()
            .with_context(|| format!("no post {caption:?} in {list}"))
    }

    /// Picks `value` in the select `css` once it is visible.
    pub async fn select(&self, css: &str, value: &str) -> Result<()> {
        self.visible(css).await?.select_by_value(value).await?;
        Ok(())
    }

    /// Waits until `css` matches a displayed element and returns it.
    pub async fn visible(&self, css: &str) -> Result<Element> {
        self.wait_until(&format!("`{css}` to be visible"), WAIT, || async {
            match self.client.find(Locator::Css(css)).await {
                Ok(e) if e.is_displayed().await? => Ok(Some(e)),
                _ => Ok(None),
            }
        })
        .await
    }

    /// Waits until the displayed text of `css` contains `needle`; returns the whole text.
    pub async fn text_contains(&self, css: &str, needle: &str) -> Result<String> {
        let last = std::sync::Mutex::new(String::new());
        let r = self
            .wait_until(&format!("`{css}` to show {needle:?}"), WAIT, || {
                let last = &last;
                async move {
                    let Ok(e) = self.client.find(Locator::Css(css)).await else {
                        return Ok(None);
                    };
                    let text = e.text().await?;
                    let found = text.contains(needle).then(|| text.clone());
                    if let Ok(mut l) = last.lock() {
                        *l = text;
                    }
                    Ok(found)
                }
            })
            .await;
        let seen = last.lock().map(|l| l.clone()).unwrap_or_default();
        r.with_context(|| format!("last text of `{css}`: {seen:?}"))
    }

    /// Waits until the page's path starts with `prefix`.
    pub async fn at(&self, prefix: &str) -> Result<String> {
        self.wait_until(&format!("the page {prefix}"), WAIT, || async {
            let p = self.path().await?;
            Ok(p.starts_with(prefix).then_some(p))
        })
        .await
    }

    /// Clicks the element matching `css` once it is visible.
    pub async fn click(&self, css: &str) -> Result<()> {
        self.visible(css).await?.click().await?;
        Ok(())
    }

    /// Runs a Chrome DevTools Protocol command through chromedriver.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Result<Value> {
        Ok(self
            .client
            .issue_cmd(SessionCommand {
                path: "goog/cdp/execute",
                body: json!({ "cmd": cmd, "params": params }),
            })
            .await?)
    }

    /// Limits upload bandwidth (bytes per second), or lifts the limit with `None`.
    pub async fn throttle_upload(&self, bytes_per_sec: Option<u64>) -> Result<()> {
        self.cdp("Network.enable", json!({})).await?;
        self.cdp(
            "Network.emulateNetworkConditions",
            json!({
                "offline": false,
                "latency": 0,
                "downloadThroughput": -1,
                "uploadThroughput": bytes_per_sec.map(|b| b as i64).unwrap_or(-1),
            }),
        )
        .await?;
        Ok(())
    }

    /// Sets the viewport exactly (CSS pixels, device scale 1 so PNGs stay small).
    pub async fn viewport(&self, v: Viewport) -> Result<()> {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({
                "width": v.width,
                "height": v.height,
                "deviceScaleFactor": 1,
                "mobile": v.mobile,
            }),
        )
        .await?;
        Ok(())
    }

    /// Saves a PNG of the viewport as `<dir>/<name>-<viewport>.png`, then restores the desktop
    /// viewport.
    pub async fn screenshot(&self, name: &str, v: Viewport) -> Result<PathBuf> {
        self.viewport(v).await?;
        // Let layout settle at the new width (two animation frames), then capture.
        self.client
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                vec![],
            )
            .await?;
        let png = self.client.screenshot().await?;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}-{}.png", v.name));
        std::fs::write(&path, png)?;
        self.viewport(DESKTOP).await?;
        Ok(path)
    }

    /// Console lines that mean a broken page: a blocked resource or inline code (CSP), or an
    /// uncaught script error. Expected API refusals (4xx answers to fetch) are not included.
    pub async fn console_problems(&self) -> Result<Vec<String>> {
        let logs = self
            .client
            .issue_cmd(SessionCommand {
                path: "se/log",
                body: json!({ "type": "browser" }),
            })
            .await?;
        Ok(logs
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["message"].as_str())
            .filter(|m| {
                m.contains("Content Security Policy")
                    || m.contains("Uncaught")
                    || m.contains("TypeError")
                    || m.contains("ReferenceError")
            })
            .map(str::to_owned)
            .collect())
    }

    /// Every URL this page loaded or references as a resource (not `<a href>` navigation)
    /// whose origin is not ours: scripts, styles, images, media, icons, fetches.
    pub async fn foreign_resources(&self) -> Result<Vec<String>> {
        let v = self
            .js(
                "const here = location.origin; const out = []; \
                 const check = (what, url) => { if (!url) return; \
                   let u; try { u = new URL(url, location.href); } catch (_) { out.push(what + ' ' + url); return; } \
                   if (u.protocol === 'blob:' || u.protocol === 'data:' && what === 'favicon') return; \
                   if (u.origin !== here) out.push(what + ' ' + u.href); }; \
                 document.querySelectorAll('[src]').forEach(e => check(e.tagName + '[src]', e.getAttribute('src'))); \
                 document.querySelectorAll('link[href]').forEach(e => check('link[href]', e.getAttribute('href'))); \
                 document.querySelectorAll('form[action]').forEach(e => check('form[action]', e.getAttribute('action'))); \
                 performance.getEntriesByType('resource').forEach(r => check('loaded', r.name)); \
                 return out;",
                vec![],
            )
            .await?;
        Ok(serde_json::from_value(v)?)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Only finds a live driver when `close` was not called (a failed test).
        if let Some(d) = self.driver.take() {
            stop_group(d);
        }
    }
}

/// Stops chromedriver and the Chromium processes it started (its process group, which this
/// test created), then reaps it.
fn stop_group(mut driver: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", "--", &format!("-{}", driver.id())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = driver.kill();
    let _ = driver.wait();
}

async fn wait_ready(webdriver: &str) -> Result<()> {
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = http.get(format!("{webdriver}/status")).send().await
            && let Ok(v) = r.json::<Value>().await
            && v["value"]["ready"] == true
        {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("chromedriver did not become ready on {webdriver} within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
