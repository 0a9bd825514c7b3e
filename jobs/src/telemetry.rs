//! The one tracing subscriber set-up shared by every binary: pretty locally, JSON with
//! `LOG_FORMAT=json`, filtered by `RUST_LOG` (default `info`).
//!
//! Log ids, never values: tokens, cookies, ID tokens, auth codes, upload URLs, captions, emails
//! and names never reach a log line (types holding them redact their `Debug`).

use crate::config::LogFormat;
use std::io::Write;
use std::sync::{Arc, Mutex};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the global subscriber writing to stderr. Safe to call more than once (later calls
/// are ignored), so tests can call it freely.
pub fn init(format: LogFormat) {
    init_with_writer(format, std::io::stderr);
}

/// Installs the global subscriber with a custom writer (tests capture output with [`Capture`]).
pub fn init_with_writer<W>(format: LogFormat, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    init_with(format, writer, filter);
}

/// Installs the global subscriber with explicit filter directives (tests that capture
/// everything use `"debug"` without touching the process environment).
pub fn init_with_filter<W>(format: LogFormat, writer: W, directives: &str)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    init_with(format, writer, EnvFilter::new(directives));
}

fn init_with<W>(format: LogFormat, writer: W, filter: EnvFilter)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Pretty => builder.with_target(false).try_init(),
    };
}

/// An in-memory log sink, for tests that assert what was (not) logged.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// Everything written so far, as text.
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
