//! Reading one variable: a default when unset, a parse error naming the variable otherwise.

use super::ConfigError;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

pub(super) fn err(var: &'static str, message: String) -> ConfigError {
    ConfigError { var, message }
}

pub(super) fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

pub(super) struct Vars<'a>(pub(super) &'a HashMap<String, String>);

impl Vars<'_> {
    pub(super) fn get(&self, k: &str) -> Option<String> {
        self.0.get(k).cloned()
    }

    /// The variable, or `default` when it is unset.
    pub(super) fn get_or(&self, k: &str, default: &str) -> String {
        self.get(k).unwrap_or_else(|| default.to_owned())
    }

    pub(super) fn parse<T: std::str::FromStr>(
        &self,
        k: &'static str,
        default: &str,
    ) -> Result<T, ConfigError>
    where
        T::Err: fmt::Display,
    {
        let raw = self.get(k).unwrap_or_else(|| default.to_owned());
        raw.trim()
            .parse()
            .map_err(|e| err(k, format!("cannot parse {raw:?}: {e}")))
    }

    /// A whole number of seconds.
    pub(super) fn secs(&self, k: &'static str, default: &str) -> Result<Duration, ConfigError> {
        self.parse(k, default).map(Duration::from_secs)
    }

    /// A whole number of hours, at most ten years (a typo must not overflow into a panic).
    pub(super) fn hours(&self, k: &'static str, default: &str) -> Result<Duration, ConfigError> {
        let h: u64 = self.parse(k, default)?;
        if h > 24 * 366 * 10 {
            return Err(err(k, format!("{h} hours is more than ten years")));
        }
        Ok(Duration::from_secs(h * 3600))
    }

    /// A whole number of days, from one to ten years (zero would refuse or expire everything).
    pub(super) fn days(&self, k: &'static str, default: &str) -> Result<Duration, ConfigError> {
        let d: u64 = self.parse(k, default)?;
        if d == 0 || d > 366 * 10 {
            return Err(err(k, format!("{d} days: must be between 1 and 3660")));
        }
        Ok(Duration::from_secs(d * 24 * 3600))
    }

    pub(super) fn url(&self, k: &'static str, default: &str) -> Result<Url, ConfigError> {
        let raw = self.get(k).unwrap_or_else(|| default.to_owned());
        Url::parse(&raw).map_err(|e| err(k, format!("not a URL ({raw:?}): {e}")))
    }
}
