//! Google's Firestore emulator for tests: the store's own suite (`jobs/tests/store_firestore.rs`)
//! and the end-to-end tests (`tests/`, `Backend::Firestore`) run on it.
//!
//! A test binary starts ONE emulator (the jar from the Debian package
//! `google-cloud-cli-firestore-emulator`, or `FIRESTORE_EMULATOR_JAR`) on a free port the first
//! time a test needs it ([`shared`]), and every test gets a project id of its own
//! ([`fresh_project`]; the emulator keeps projects apart). Statics are never dropped, so the
//! emulator cannot be stopped from a `Drop`; instead it runs under a small `sh` watchdog in a
//! process group of its own, which polls the test process's pid every second and, once it is
//! gone (normal exit, panic or SIGKILL), kills the whole group: the java process too, which
//! would survive the death of a mere wrapper.
//!
//! Without Java or the jar, [`shared`] prints `SKIPPED` and answers `None`, and the tests
//! return early, unless `MKTPOST_REQUIRE_FIRESTORE=1` (CI and `scripts/test.sh`): then it
//! panics, so a green run never claims Firestore coverage it did not have.
//!
//! Only `std` (and the crate's `uuid`) is used, so this module costs normal builds nothing.

use std::ffi::OsStr;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const MAIN_CLASS: &str = "com.google.cloud.datastore.emulator.firestore.CloudFirestore";
const KNOWN_JAR: &str =
    "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar";
const READY_LINE: &str = "Dev App Server is now running";
/// The JVM starts in about 1.5 s on an idle machine; builds running beside the tests slow it.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs a command (`$3…`) in the background and outlives the process `$1` by at most a
/// second: it waits while both `$1` and the command live, then kills the command and its own
/// process group (dash's `kill` takes `-pgid`, not `-- -pgid`). The command's log (`$2`) is
/// removed when `$1` is gone; it stays when the command died early, for the error message.
const WATCHDOG: &str = r#"
parent=$1; log=$2; shift 2
"$@" >"$log" 2>&1 &
child=$!
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 1; done
kill -0 "$parent" 2>/dev/null || rm -f "$log"
kill -TERM "$child" 2>/dev/null
kill -TERM -$$
"#;

/// Starts `command` under the watchdog for the process `parent`, in a process group of its
/// own, with its output in `log`. The command (and its whole group) dies at most a second
/// after `parent` does.
pub fn watchdog(parent: u32, log: &Path, command: &[&OsStr]) -> std::io::Result<Child> {
    Command::new("sh")
        .args(["-c", WATCHDOG, "sh"])
        .arg(parent.to_string())
        .arg(log)
        .args(command)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// A running emulator, shared by the whole test binary.
#[derive(Debug)]
pub struct Emulator {
    host: String,
    /// The watchdog (kept so it is reaped if it exits while we run).
    _watchdog: Mutex<Child>,
}

impl Emulator {
    /// `127.0.0.1:<port>`: what `FIRESTORE_EMULATOR_HOST` or `?emulator_host=` holds.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The store URL of `project`'s default database on this emulator.
    pub fn database_url(&self, project: &str) -> String {
        format!(
            "firestore://{project}/{}?emulator_host={}",
            super::DEFAULT_DATABASE,
            self.host
        )
    }
}

static EMULATOR: OnceLock<Result<Emulator, String>> = OnceLock::new();

/// Whether the Firestore tests must run (`MKTPOST_REQUIRE_FIRESTORE=1`) rather than skip.
pub fn required() -> bool {
    std::env::var("MKTPOST_REQUIRE_FIRESTORE").is_ok_and(|v| v == "1")
}

/// The shared emulator, started on first use; or `None` (after printing a `SKIPPED:` line)
/// when this machine cannot run it.
///
/// # Panics
///
/// When the emulator cannot run and [`required`] is true.
pub fn shared() -> Option<&'static Emulator> {
    match EMULATOR.get_or_init(start) {
        Ok(e) => Some(e),
        Err(why) if required() => {
            panic!("MKTPOST_REQUIRE_FIRESTORE=1 but the Firestore emulator cannot run: {why}")
        }
        Err(why) => {
            eprintln!(
                "SKIPPED: firestore emulator not available ({why}); \
                 set MKTPOST_REQUIRE_FIRESTORE=1 to fail instead"
            );
            None
        }
    }
}

/// A project id no other test uses: lowercase letters, digits and hyphens, starting with a
/// letter, 29 characters (Google allows 6 to 30).
pub fn fresh_project() -> String {
    format!(
        "mktpost-test-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    )
}

fn find_jar() -> Result<PathBuf, String> {
    let given = std::env::var_os("FIRESTORE_EMULATOR_JAR").map(PathBuf::from);
    let listed = || {
        Command::new("dpkg")
            .args(["-L", "google-cloud-cli-firestore-emulator"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .find(|l| l.ends_with(".jar"))
                    .map(PathBuf::from)
            })
    };
    let jar = given
        .or_else(listed)
        .unwrap_or_else(|| PathBuf::from(KNOWN_JAR));
    if jar.is_file() {
        Ok(jar)
    } else {
        Err(format!(
            "no emulator jar (package google-cloud-cli-firestore-emulator, or set \
             FIRESTORE_EMULATOR_JAR); looked at {}",
            jar.display()
        ))
    }
}

fn start() -> Result<Emulator, String> {
    let java = Command::new("java")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !java.is_ok_and(|s| s.success()) {
        return Err("`java` is not installed".into());
    }
    let jar = find_jar()?;
    // The port is free when we look; another process may take it before java binds, so a
    // failed start is tried again on a new port.
    let mut last = String::new();
    for _ in 0..3 {
        match start_on_free_port(&jar) {
            Ok(e) => return Ok(e),
            Err(why) => last = why,
        }
    }
    Err(last)
}

fn start_on_free_port(jar: &Path) -> Result<Emulator, String> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let log = std::env::temp_dir().join(format!(
        "mktpost-firestore-emulator-{}-{port}.log",
        std::process::id()
    ));
    let port_arg = format!("--port={port}");
    // The quick (C1-only) JIT and the serial collector leave the cores to the tests: on a
    // 2-core machine they took the store's suite from about 37 s to about 25 s.
    let command = [
        "java".as_ref(),
        "-XX:TieredStopAtLevel=1".as_ref(),
        "-XX:+UseSerialGC".as_ref(),
        "-cp".as_ref(),
        jar.as_os_str(),
        MAIN_CLASS.as_ref(),
        "start".as_ref(),
        "--host=127.0.0.1".as_ref(),
        port_arg.as_ref(),
    ];
    let mut watchdog = watchdog(std::process::id(), &log, &command)
        .map_err(|e| format!("cannot spawn sh: {e}"))?;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains(READY_LINE) {
            return Ok(Emulator {
                host: format!("127.0.0.1:{port}"),
                _watchdog: Mutex::new(watchdog),
            });
        }
        if let Ok(Some(status)) = watchdog.try_wait() {
            let _ = std::fs::remove_file(&log);
            let tail: String = text.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
            return Err(format!("the emulator exited ({status}): {tail}"));
        }
        if Instant::now() > deadline {
            // Take the group down now rather than at exit: this one will not be used.
            let _ = Command::new("kill")
                .args(["-s", "TERM", "--", &format!("-{}", watchdog.id())])
                .status();
            return Err(format!(
                "the emulator was not ready after {READY_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
