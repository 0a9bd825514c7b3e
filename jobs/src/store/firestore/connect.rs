//! Opening the store: on Google with Application Default Credentials or an explicit token
//! provider, or on the emulator, named directly or by a `firestore://` URL.

use super::FirestoreStore;
use super::rest::{Auth, Rest};
pub use crate::config::FirestoreUrl;
use crate::store::{Store, StoreError};
use gcp_auth::TokenProvider;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Google's production endpoint.
pub const GOOGLE_ENDPOINT: &str = "https://firestore.googleapis.com/v1";
/// The id of a project's default database.
pub const DEFAULT_DATABASE: &str = FirestoreUrl::DEFAULT_DATABASE;

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
        let target = FirestoreUrl::parse(url).map_err(|e| StoreError::Backend(e.to_string()))?;
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
