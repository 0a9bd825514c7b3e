//! Technical access logs, kept 90 days (`LOG_RETENTION_DAYS`) and then deleted: a privacy
//! promise, so both what a line may hold and how long it lives are decided here.
//!
//! A line ([`AccessLine`]) holds the time, client IP, user agent, method, matched route, status
//! and latency. By construction it cannot hold cookies, query strings, tokens, authorization
//! codes, captions or a user id: there is no field for them, and the route is the router's
//! pattern (`/api/posts/{id}`), never the raw URI. Without a user id the log is not a profile.
//!
//! Layout: one file per UTC day, `<dir>/access-YYYY-MM-DD.log` (the web tier uses
//! `<DATA_DIR>/logs`), one JSON object per line. Daily files make retention a file deletion
//! (no rewriting, no partial files), give it day granularity, and JSON lines stay greppable and
//! load into any log tool. Lines are appended with `O_APPEND` in a single write each, so several
//! web processes on one machine may share the directory without interleaving lines.
//!
//! Retention: a day's file is deleted once that day is `days` days old (on day 90 after, with
//! the default), so no line outlives the retention by more than the interval between sweeps.
//! Time is always passed in (`now`), so tests inject the clock.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The longest user agent kept; longer ones are cut (they can be arbitrarily long).
pub const MAX_USER_AGENT: usize = 256;

/// One request, as logged. Every field is listed in the module docs' privacy promise; adding one
/// is a change to that promise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessLine {
    /// When the response was sent (UTC); also picks the day's file.
    pub time: DateTime<Utc>,
    /// The client IP: the socket peer, or the configured trusted proxy header.
    pub ip: Option<String>,
    /// The `User-Agent` header, cut to [`MAX_USER_AGENT`] characters.
    pub user_agent: Option<String>,
    pub method: String,
    /// The matched route pattern (`/api/posts/{id}`), or `unmatched`. Never the raw URI.
    pub route: String,
    pub status: u16,
    /// Time to the response head, in milliseconds.
    pub latency_ms: f64,
}

/// Appends access lines to daily files and deletes files past retention.
#[derive(Debug)]
pub struct AccessLog {
    dir: PathBuf,
    /// The file of the day last written, kept open between lines.
    open: Mutex<Option<(NaiveDate, File)>>,
}

impl AccessLog {
    /// A log in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            open: Mutex::new(None),
        }
    }

    /// The directory `web` writes to and the retention sweep cleans: `<data_dir>/logs`.
    pub fn dir_for(data_dir: &Path) -> PathBuf {
        data_dir.join("logs")
    }

    /// This log's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file holding the lines of `day`.
    pub fn path_for(&self, day: NaiveDate) -> PathBuf {
        self.dir
            .join(format!("access-{}.log", day.format("%Y-%m-%d")))
    }

    /// Appends one line to the file of its UTC day (opening the next day's file at midnight).
    pub fn append(&self, line: &AccessLine) -> io::Result<()> {
        let mut text = serde_json::to_vec(line).map_err(io::Error::other)?;
        text.push(b'\n');
        let day = line.time.date_naive();
        // A poisoned lock only means another writer panicked mid-line; the file is still fine.
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let file = match open.as_mut() {
            Some((d, file)) if *d == day => file,
            _ => {
                std::fs::create_dir_all(&self.dir)?;
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.path_for(day))?;
                &mut open.insert((day, file)).1
            }
        };
        // One write per line: with O_APPEND, lines of concurrent writers never interleave.
        file.write_all(&text)
    }

    /// Deletes the files of days that are `days` or more days before `now`'s UTC day, and
    /// returns how many were deleted. Files that are not access logs are left alone.
    pub fn delete_older_than(&self, now: DateTime<Utc>, days: u32) -> io::Result<usize> {
        let today = now.date_naive();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut deleted = 0;
        for entry in entries {
            let entry = entry?;
            let Some(day) = entry.file_name().to_str().and_then(day_of_file) else {
                continue;
            };
            if (today - day).num_days() >= i64::from(days) {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => deleted += 1,
                    // Another process's sweep got there first.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(deleted)
    }
}

/// The day of an `access-YYYY-MM-DD.log` file name.
fn day_of_file(name: &str) -> Option<NaiveDate> {
    let date = name.strip_prefix("access-")?.strip_suffix(".log")?;
    NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()
}

/// Cuts a user agent to [`MAX_USER_AGENT`] characters.
pub fn clip_user_agent(ua: &str) -> String {
    ua.chars().take(MAX_USER_AGENT).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn line(time: DateTime<Utc>, route: &str) -> AccessLine {
        AccessLine {
            time,
            ip: Some("203.0.113.7".into()),
            user_agent: Some("test-agent/1.0".into()),
            method: "GET".into(),
            route: route.into(),
            status: 200,
            latency_ms: 1.5,
        }
    }

    #[test]
    fn lines_go_to_the_file_of_their_utc_day() {
        let dir = tempfile::tempdir().unwrap();
        let log = AccessLog::new(dir.path().join("logs"));
        let before_midnight = Utc.with_ymd_and_hms(2026, 5, 1, 23, 59, 59).unwrap();
        log.append(&line(before_midnight, "/a")).unwrap();
        log.append(&line(before_midnight + Duration::seconds(2), "/b"))
            .unwrap();
        log.append(&line(before_midnight, "/c")).unwrap();
        let may1 = std::fs::read_to_string(log.path_for(before_midnight.date_naive())).unwrap();
        let may2 =
            std::fs::read_to_string(log.path_for(NaiveDate::from_ymd_opt(2026, 5, 2).unwrap()))
                .unwrap();
        assert_eq!(may1.lines().count(), 2);
        assert_eq!(may2.lines().count(), 1);
        let parsed: AccessLine = serde_json::from_str(may2.lines().next().unwrap()).unwrap();
        assert_eq!(parsed.route, "/b");
        assert!(
            log.path_for(before_midnight.date_naive())
                .ends_with("access-2026-05-01.log")
        );
    }

    #[test]
    fn retention_deletes_day_91_and_keeps_day_89() {
        let dir = tempfile::tempdir().unwrap();
        let log = AccessLog::new(dir.path());
        let now = Utc.with_ymd_and_hms(2026, 9, 1, 3, 17, 0).unwrap();
        for age in [0, 1, 89, 90, 91, 400] {
            log.append(&line(now - Duration::days(age), "/x")).unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), "keep me").unwrap();
        std::fs::write(dir.path().join("access-garbage.log"), "keep me too").unwrap();

        assert_eq!(log.delete_older_than(now, 90).unwrap(), 3);
        let exists = |age: i64| {
            log.path_for((now - Duration::days(age)).date_naive())
                .exists()
        };
        assert!(exists(0) && exists(1) && exists(89), "recent days are kept");
        assert!(
            !exists(90) && !exists(91) && !exists(400),
            "day 90 and older are gone"
        );
        assert!(dir.path().join("notes.txt").exists());
        assert!(dir.path().join("access-garbage.log").exists());
        assert_eq!(log.delete_older_than(now, 90).unwrap(), 0, "idempotent");
    }

    #[test]
    fn a_missing_directory_has_nothing_to_delete() {
        let dir = tempfile::tempdir().unwrap();
        let log = AccessLog::new(dir.path().join("never-written"));
        assert_eq!(log.delete_older_than(Utc::now(), 90).unwrap(), 0);
    }

    #[test]
    fn user_agents_are_clipped() {
        assert_eq!(clip_user_agent(&"x".repeat(1000)).len(), MAX_USER_AGENT);
        assert_eq!(clip_user_agent("curl/8"), "curl/8");
    }
}
