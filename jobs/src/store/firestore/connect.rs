//! Opening the store: on Google with Application Default Credentials or an explicit token
//! provider, or on the emulator, named directly or by a `firestore://` URL.

use super::FirestoreStore;
use super::rest::{Auth, Rest};
use crate::store::{Store, StoreError};
use gcp_auth::TokenProvider;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Google's production endpoint.
pub const GOOGLE_ENDPOINT: &str = "https://firestore.googleapis.com/v1";
/// The id of a project's default database.
pub const DEFAULT_DATABASE: &str = "(default)";

impl FirestoreStore {
    /// Opens `database` of `project` and checks that it answers. With `emulator_host`
    /// (`host:port`, what `FIRESTORE_EMULATOR_HOST` holds) it talks plain HTTP to the emulator;
    /// otherwise to Google, authenticated with Application Default Credentials
    /// (`GOOGLE_APPLICATION_CREDENTIALS`, the gcloud ADC file, or the metadata server).
    pub async fn connect(
        project: &str,
        database: &str,
        emulator_host: Option<&str>,
    ) -> Result<Self, StoreError> {
        let store = match emulator_host {
            Some(host) => Self::open(
                &format!("http://{host}/v1"),
                project,
                database,
                Auth::Emulator,
            )?,
            None => {
                let provider = gcp_auth::provider().await.map_err(|e| {
                    StoreError::Backend(format!(
                        "firestore: no Google credentials (Application Default Credentials): {e}"
                    ))
                })?;
                Self::open(GOOGLE_ENDPOINT, project, database, Auth::Google(provider))?
            }
        };
        store.ping().await?;
        Ok(store)
    }

    /// Opens the store named by a URL: `firestore://<project>[/<database>]`, with
    /// `?emulator_host=<host:port>` to use the emulator. The database defaults to `(default)`.
    pub async fn connect_url(url: &str) -> Result<Self, StoreError> {
        let target = FirestoreUrl::parse(url)?;
        Self::connect(
            &target.project,
            &target.database,
            target.emulator_host.as_deref(),
        )
        .await
    }

    /// Talks to `endpoint` (normally [`GOOGLE_ENDPOINT`]) with tokens from `provider`: an
    /// explicit service-account key (`gcp_auth::CustomServiceAccount::from_file`),
    /// impersonation, or a test double. Checks that the database answers.
    pub async fn with_token_provider(
        endpoint: &str,
        project: &str,
        database: &str,
        provider: Arc<dyn TokenProvider>,
    ) -> Result<Self, StoreError> {
        let store = Self::open(endpoint, project, database, Auth::Google(provider))?;
        store.ping().await?;
        Ok(store)
    }

    fn open(root: &str, project: &str, database: &str, auth: Auth) -> Result<Self, StoreError> {
        for (what, id) in [("project", project), ("database", database)] {
            if id.is_empty() || id.contains(['/', '?', '#', ' ']) {
                return Err(StoreError::Backend(format!(
                    "firestore: invalid {what} id {id:?}"
                )));
            }
        }
        Ok(Self {
            rest: Rest::new(root, project, database, auth)?,
            aborted_retries: Arc::new(AtomicU64::new(0)),
        })
    }

    /// How many attempts ended in `ABORTED` (lock contention) and were retried, since open.
    pub fn aborted_retries(&self) -> u64 {
        self.aborted_retries.load(Ordering::Relaxed)
    }
}

/// A parsed `firestore://<project>[/<database>][?emulator_host=<host:port>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirestoreUrl {
    pub project: String,
    pub database: String,
    pub emulator_host: Option<String>,
}

impl FirestoreUrl {
    /// The URL scheme that selects this backend in `store::connect`.
    pub const SCHEME: &'static str = "firestore://";

    /// Parses the URL; errors never echo it (DATABASE_URL values are treated as secrets).
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let bad = |why: &str| {
            StoreError::Backend(format!(
                "firestore URL: {why} (expected firestore://<project>[/<database>][?emulator_host=<host:port>])"
            ))
        };
        let rest = url
            .strip_prefix(Self::SCHEME)
            .ok_or_else(|| bad("wrong scheme"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (project, database) = path.split_once('/').unwrap_or((path, ""));
        if project.is_empty() {
            return Err(bad("no project"));
        }
        if database.contains('/') {
            return Err(bad("too many path segments"));
        }
        let database = if database.is_empty() {
            DEFAULT_DATABASE
        } else {
            database
        };
        let mut emulator_host = None;
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*k {
                "emulator_host" if !v.is_empty() => emulator_host = Some(v.into_owned()),
                "emulator_host" => {}
                _ => return Err(bad("unknown parameter")),
            }
        }
        Ok(Self {
            project: project.to_owned(),
            database: database.to_owned(),
            emulator_host,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_project_database_and_emulator() {
        assert_eq!(
            FirestoreUrl::parse("firestore://mktpost-prod").expect("url"),
            FirestoreUrl {
                project: "mktpost-prod".into(),
                database: DEFAULT_DATABASE.into(),
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
}
