//! Which state backend, and its URL: `DATABASE_URL`, `STORE` and the `FIRESTORE_*` variables.
//! The URL types live here, not in `store/`, so the store depends on its configuration and not
//! the other way round.

use super::vars::{Vars, err};
use super::{ConfigError, Mode, Secret};
use std::path::Path;

/// Which state backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// `sqlite://path` (the embedded default).
    Sqlite,
    /// `postgres://…`.
    Postgres,
    /// `firestore://<project>[/<database>][?emulator_host=<host:port>]`, or `STORE=firestore`
    /// with `FIRESTORE_PROJECT_ID`, `FIRESTORE_DATABASE`, `FIRESTORE_EMULATOR_HOST`.
    Firestore,
}

impl StoreKind {
    /// The name `STORE` takes.
    pub fn name(&self) -> &'static str {
        match self {
            StoreKind::Sqlite => "sqlite",
            StoreKind::Postgres => "postgres",
            StoreKind::Firestore => "firestore",
        }
    }
}

/// The state backend.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `DATABASE_URL`, default `sqlite://<DATA_DIR>/mktpost.db`; `postgres://…` selects
    /// PostgreSQL, `firestore://<project>[/<database>]` Firestore. `STORE=firestore` builds the
    /// Firestore URL from `FIRESTORE_PROJECT_ID`, `FIRESTORE_DATABASE` (default `(default)`) and
    /// `FIRESTORE_EMULATOR_HOST` (unset: Google, with Application Default Credentials).
    pub database_url: Secret,
    /// `STORE` = `sqlite` | `postgres` | `firestore`; default: what `DATABASE_URL` names.
    pub kind: StoreKind,
}

/// A parsed `firestore://<project>[/<database>][?emulator_host=<host:port>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirestoreUrl {
    pub project: String,
    pub database: String,
    pub emulator_host: Option<String>,
}

/// Why a `firestore://` URL was refused. Never echoes the URL (DATABASE_URL values are treated
/// as secrets).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "firestore URL: {0} (expected firestore://<project>[/<database>][?emulator_host=<host:port>])"
)]
pub struct FirestoreUrlError(&'static str);

impl FirestoreUrl {
    /// The URL scheme that selects this backend in `store::connect`.
    pub const SCHEME: &'static str = "firestore://";
    /// The id of a project's default database.
    pub const DEFAULT_DATABASE: &'static str = "(default)";

    /// Parses the URL.
    pub fn parse(url: &str) -> Result<Self, FirestoreUrlError> {
        let rest = url
            .strip_prefix(Self::SCHEME)
            .ok_or(FirestoreUrlError("wrong scheme"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (project, database) = path.split_once('/').unwrap_or((path, ""));
        if project.is_empty() {
            return Err(FirestoreUrlError("no project"));
        }
        if database.contains('/') {
            return Err(FirestoreUrlError("too many path segments"));
        }
        let database = if database.is_empty() {
            Self::DEFAULT_DATABASE
        } else {
            database
        };
        let mut emulator_host = None;
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*k {
                "emulator_host" if !v.is_empty() => emulator_host = Some(v.into_owned()),
                "emulator_host" => {}
                _ => return Err(FirestoreUrlError("unknown parameter")),
            }
        }
        Ok(Self {
            project: project.to_owned(),
            database: database.to_owned(),
            emulator_host,
        })
    }

    /// The URL again, in its one spelling.
    fn to_url(&self) -> String {
        let mut url = format!("{}{}/{}", Self::SCHEME, self.project, self.database);
        if let Some(host) = &self.emulator_host {
            url.push_str("?emulator_host=");
            url.push_str(host);
        }
        url
    }
}

impl StoreConfig {
    /// `DATABASE_URL` and `STORE` (with the `FIRESTORE_*` variables) into one URL and its kind.
    pub(super) fn from_vars(
        v: &Vars<'_>,
        data_dir: &Path,
        mode: Mode,
    ) -> Result<Self, ConfigError> {
        let asked = asked_kind(v)?;
        let url = match (v.get("DATABASE_URL").filter(|s| !s.is_empty()), &asked) {
            (Some(url), _) => url,
            (None, Some(StoreKind::Firestore)) => firestore_from_parts(v)?,
            (None, Some(StoreKind::Postgres)) => {
                return Err(err(
                    "DATABASE_URL",
                    "is required with STORE=postgres (postgres://user@host/db)".into(),
                ));
            }
            (None, _) => format!("sqlite://{}/mktpost.db", data_dir.display()),
        };
        let kind = kind_of(&url)?;
        if let Some(asked) = asked
            && asked != kind
        {
            return Err(err(
                "STORE",
                format!(
                    "is {} but DATABASE_URL names a {} database",
                    asked.name(),
                    kind.name()
                ),
            ));
        }
        let url = if kind == StoreKind::Firestore {
            firestore(v, &url, mode)?.to_url()
        } else {
            url
        };
        Ok(Self {
            database_url: Secret::new(url),
            kind,
        })
    }
}

/// `STORE`, when set.
fn asked_kind(v: &Vars<'_>) -> Result<Option<StoreKind>, ConfigError> {
    Ok(match v.get("STORE").filter(|s| !s.is_empty()).as_deref() {
        None => None,
        Some("sqlite") => Some(StoreKind::Sqlite),
        Some("postgres" | "postgresql") => Some(StoreKind::Postgres),
        Some("firestore") => Some(StoreKind::Firestore),
        Some(other) => {
            return Err(err(
                "STORE",
                format!("{other:?} is not sqlite, postgres or firestore"),
            ));
        }
    })
}

fn kind_of(url: &str) -> Result<StoreKind, ConfigError> {
    if url.starts_with("sqlite:") {
        Ok(StoreKind::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(StoreKind::Postgres)
    } else if url.starts_with(FirestoreUrl::SCHEME) {
        Ok(StoreKind::Firestore)
    } else {
        // Never echo the URL: it may carry a password.
        Err(err(
            "DATABASE_URL",
            "must start with sqlite://, postgres:// or firestore://".into(),
        ))
    }
}

fn firestore_project(v: &Vars<'_>) -> Option<String> {
    v.get("FIRESTORE_PROJECT_ID").filter(|s| !s.is_empty())
}

/// `STORE=firestore` without a `DATABASE_URL`: the URL from `FIRESTORE_PROJECT_ID` and
/// `FIRESTORE_DATABASE`.
fn firestore_from_parts(v: &Vars<'_>) -> Result<String, ConfigError> {
    let project = firestore_project(v).ok_or_else(|| {
        err(
            "FIRESTORE_PROJECT_ID",
            "is required with STORE=firestore".into(),
        )
    })?;
    let database = v
        .get("FIRESTORE_DATABASE")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| FirestoreUrl::DEFAULT_DATABASE.into());
    Ok(format!("{}{project}/{database}", FirestoreUrl::SCHEME))
}

/// A Firestore URL checked against `FIRESTORE_PROJECT_ID` and `FIRESTORE_EMULATOR_HOST`.
fn firestore(v: &Vars<'_>, url: &str, mode: Mode) -> Result<FirestoreUrl, ConfigError> {
    // The wording `FirestoreUrl` errors have always had here, when they came from the store.
    let mut parsed =
        FirestoreUrl::parse(url).map_err(|e| err("DATABASE_URL", format!("store error: {e}")))?;
    if let Some(p) = firestore_project(v)
        && p != parsed.project
    {
        return Err(err(
            "FIRESTORE_PROJECT_ID",
            format!(
                "is {p:?} but DATABASE_URL names project {:?}",
                parsed.project
            ),
        ));
    }
    // Google's client libraries honour FIRESTORE_EMULATOR_HOST; so do we.
    let emulator = v.get("FIRESTORE_EMULATOR_HOST").filter(|s| !s.is_empty());
    match (&parsed.emulator_host, emulator) {
        (Some(a), Some(b)) if *a != b => {
            return Err(err(
                "FIRESTORE_EMULATOR_HOST",
                format!("is {b:?} but DATABASE_URL names emulator {a:?}"),
            ));
        }
        (None, Some(b)) => parsed.emulator_host = Some(b),
        _ => {}
    }
    if mode == Mode::Production && parsed.emulator_host.is_some() {
        return Err(err(
            "FIRESTORE_EMULATOR_HOST",
            "the emulator is not allowed in production (unset it; the store then uses Google \
             with Application Default Credentials)"
                .into(),
        ));
    }
    Ok(parsed)
}
