//! The real `mktpost web` process under test, and what curl asks of it.

use super::setup::{Setup, proc_status_kib};
use super::{CURL, WEB_START_DEADLINE};
use anyhow::{Context, Result, bail, ensure};
use jobs::model::{AccountId, PostId};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub struct Web {
    child: tokio::process::Child,
    pid: u32,
    /// `http://127.0.0.1:<port>`.
    base_url: String,
    /// Resident set once it answered `/healthz`.
    pub rss_start_kib: u64,
}

impl Web {
    /// Starts `mktpost web` on the setup's store, queue and sandbox, allowing `slots`
    /// pass-through uploads at once; waits until it answers `/healthz`. Logs go to
    /// `<dir>/web.log`.
    pub async fn spawn(setup: &Setup, bin: &Path, slots: usize) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let base_url = format!("http://127.0.0.1:{port}");
        let c = &setup.ctx.config;
        let log = std::fs::File::create(setup.dir.join("web.log"))?;
        let mut cmd = tokio::process::Command::new(bin);
        cmd.arg("web")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("MKTPOST_ENV", "development")
            .env("DATA_DIR", &c.server.data_dir)
            .env("DATABASE_URL", c.store.database_url.expose())
            .env("QUEUE_NAMESPACE", &c.queue.namespace)
            .env("TIKTOK_AUTH_URL", c.tiktok.auth_url.to_string())
            .env("TIKTOK_API_URL", c.tiktok.api_url.to_string())
            .env("TIKTOK_CHUNK_SIZE", c.tiktok.chunk_size.to_string())
            .env(
                "TIKTOK_SINGLE_CHUNK_MAX",
                c.tiktok.single_chunk_max.to_string(),
            )
            .env("PASSTHROUGH_MAX_CONCURRENT", slots.to_string())
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("PUBLIC_URL", &base_url)
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        if let Some(redis) = &c.queue.redis_url {
            cmd.env("REDIS_URL", redis.expose());
        }
        let mut child = cmd.spawn().context("cannot start mktpost web")?;
        let pid = child.id().context("mktpost web has no pid")?;
        let started = Instant::now();
        while curl_status(&format!("{base_url}/healthz")).await? != 200 {
            if let Some(status) = child.try_wait()? {
                bail!("mktpost web exited with {status}; see its log in the temp dir");
            }
            ensure!(
                started.elapsed() < WEB_START_DEADLINE,
                "mktpost web did not answer /healthz within {WEB_START_DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let rss_start_kib = proc_status_kib(pid, "VmRSS");
        println!(
            "web: mktpost web (pid {pid}) at {base_url} up in {:.2} s, VmRSS {:.1} MiB, {slots} pass-through slots",
            started.elapsed().as_secs_f64(),
            rss_start_kib as f64 / 1024.0
        );
        Ok(Self {
            child,
            pid,
            base_url,
            rss_start_kib,
        })
    }

    /// Its peak resident set (`VmHWM`) since start or the last [`Web::reset_hwm`].
    pub fn hwm_kib(&self) -> u64 {
        proc_status_kib(self.pid, "VmHWM")
    }

    /// CPU time it has used so far, `(user, system)` in seconds (`/proc/<pid>/stat`, at the
    /// usual 100 ticks a second); zeros when unreadable.
    pub fn cpu_secs(&self) -> (f64, f64) {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        // Fields after the command name (which may hold spaces) start at `state` (field 3).
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let field = |n: usize| -> f64 {
            rest.split_whitespace()
                .nth(n - 3)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
                / 100.0
        };
        (field(14), field(15))
    }

    /// Resets `VmHWM` to the current RSS (`clear_refs` 5), so the next phase's peak is its own.
    pub fn reset_hwm(&self) {
        if let Err(e) = std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5") {
            println!("note: cannot reset the web process's VmHWM ({e}); peaks are since start");
        }
    }

    /// Samples its `VmRSS` every `every` until [`Sampler::stop`].
    pub fn sample_rss(&self, every: Duration) -> Sampler {
        let stop = CancellationToken::new();
        let (pid, until) = (self.pid, stop.clone());
        let task = tokio::spawn(async move {
            let mut max = 0;
            while !until.is_cancelled() {
                max = u64::max(max, proc_status_kib(pid, "VmRSS"));
                tokio::time::sleep(every).await;
            }
            max
        });
        Sampler { stop, task }
    }

    /// `POST /api/posts` with `"upload": "stream"`: `(id, upload_path)`.
    pub async fn create_stream_post(
        &self,
        setup: &Setup,
        account: AccountId,
    ) -> Result<(PostId, String)> {
        let body = json!({
            "account_id": account.to_string(),
            "upload": "stream",
            "title": setup.settings.title,
            "privacy_level": "PUBLIC_TO_EVERYONE",
            "disable_stitch": false,
        });
        let (status, post) = self
            .curl_json(
                setup,
                "/api/posts",
                &[
                    "-X",
                    "POST",
                    "-H",
                    "Content-Type: application/json",
                    "--data-binary",
                    &body.to_string(),
                ],
            )
            .await?;
        ensure!(status == 201, "POST /api/posts answered {status}: {post}");
        let id = PostId::parse(post["id"].as_str().context("a post without an id")?)?;
        let path = post["upload_path"]
            .as_str()
            .context("a stream post without an upload_path")?;
        Ok((id, path.to_owned()))
    }

    /// `curl -T file` (`Content-Type: video/mp4`) to `path`; the post it answers with.
    pub async fn put_video(&self, setup: &Setup, path: &str, file: &Path) -> Result<Value> {
        let file = file.to_str().context("a temp path that is not UTF-8")?;
        let (status, post) = self
            .curl_json(
                setup,
                path,
                &["-T", file, "-H", "Content-Type: video/mp4", "-H", "Expect:"],
            )
            .await?;
        ensure!(status == 200, "PUT {path} answered {status}: {post}");
        Ok(post)
    }

    /// One curl request to the web process with the API key; `(status, JSON body)`.
    async fn curl_json(&self, setup: &Setup, path: &str, args: &[&str]) -> Result<(u16, Value)> {
        let out = tokio::process::Command::new(CURL)
            .args(["--silent", "--show-error", "--write-out", "\n%{http_code}"])
            .arg("-H")
            .arg(format!("Authorization: Bearer {}", setup.api_key))
            .args(args)
            .arg(format!("{}{path}", self.base_url))
            .stdin(Stdio::null())
            .output()
            .await?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        ensure!(
            out.status.success(),
            "curl failed: {} {stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (body, status) = stdout.rsplit_once('\n').context("no status from curl")?;
        let body = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()));
        Ok((status.trim().parse()?, body))
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// HTTP status of a GET (0 when nothing answers yet).
async fn curl_status(url: &str) -> Result<u16> {
    let out = tokio::process::Command::new(CURL)
        .args([
            "--silent",
            "--output",
            "/dev/null",
            "--write-out",
            "%{http_code}",
        ])
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .await?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0))
}

/// A running `VmRSS` sampler.
pub struct Sampler {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<u64>,
}

impl Sampler {
    /// Stops sampling; the largest `VmRSS` seen, in KiB.
    pub async fn stop(self) -> u64 {
        self.stop.cancel();
        self.task.await.unwrap_or(0)
    }
}
